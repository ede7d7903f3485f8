//! The BOOTP/DHCP client machine fed arbitrary replies between its
//! retransmissions: it never panics, never sends more than its attempts
//! allow, and ends assigned or timed out.

use crate::bootp::HwAddr;
use crate::bootp::client::{Client, ClientConfig};
use crate::rng::Rng;
use crate::time::Instant;
use core::net::SocketAddr;

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let mut config = ClientConfig::new(
        HwAddr::ethernet([0x52, 0x54, 0, 0, 0, 1]),
        Rng::new(u64::from(mode)),
    );
    config.dhcp = mode & 1 == 1;
    config.attempts = 3;
    let mut client = Client::new(config, Instant::ZERO).unwrap();
    let mut buf = [0u8; 1500];
    let mut now = Instant::ZERO;
    let mut sent = 0u32;
    for _ in 0..64 {
        while client.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
        while client.poll_event().is_some() {}
        if client.is_done() {
            break;
        }
        if rest.len() >= 2 {
            let len = usize::from(rest[0]) * 8 + usize::from(rest[1] & 7);
            let len = len.min(rest.len() - 2);
            let mut datagram = rest[2..2 + len].to_vec();
            rest = &rest[2 + len..];
            // Steer some inputs at the live exchange.
            if datagram.len() >= 34 && datagram[0] == 2 {
                datagram[4..8].copy_from_slice(&client.xid().to_be_bytes());
                datagram[28..34].copy_from_slice(&[0x52, 0x54, 0, 0, 0, 1]);
            }
            client.handle_datagram(now, SocketAddr::from(([10, 0, 0, 1], 67)), &datagram);
        } else if let Some(deadline) = client.poll_timeout() {
            now = deadline;
            client.handle_timeout(now);
        }
    }
    // Three attempts per exchange, at most four exchanges (three NAKs).
    assert!(sent <= 3 * 2 * 4);
}
