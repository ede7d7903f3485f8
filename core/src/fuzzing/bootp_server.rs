//! The BOOTP/DHCP server machine fed arbitrary datagrams.
//!
//! The input is a sequence of records: one byte of time step (seconds), one
//! byte choosing the source, two bytes of length, then that many bytes of
//! datagram. After each, every reply must parse, be a BOOTREPLY and fit the
//! buffer; leases must stay inside the pools (the server's own and a
//! relayed subnet's) and never exceed their size.

use crate::bootp::HwAddr;
use crate::bootp::hosts::Host;
use crate::bootp::leases::LeaseSlot;
use crate::bootp::server::{Server, ServerConfig, Subnet};
use crate::time::{Duration, Instant};
use crate::wire::bootp::{Message, Op};
use core::net::{Ipv4Addr, SocketAddr};

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut config = ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
    config.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 107)));
    config.net.router = Some(Ipv4Addr::new(10, 0, 0, 1));
    config.bootp_dynamic = true;
    config.net.lease_time = 60;
    config
        .vendor_specific
        .extend_from_slice(&[6, 1, 8])
        .unwrap();
    // A subnet behind a relay, so relayed requests (any giaddr the input
    // writes) reach a second pool.
    let mut relayed = Subnet::new(Ipv4Addr::new(10, 1, 0, 0), Ipv4Addr::new(255, 255, 255, 0));
    relayed.net.pool = Some((Ipv4Addr::new(10, 1, 0, 100), Ipv4Addr::new(10, 1, 0, 103)));
    relayed.net.router = Some(Ipv4Addr::new(10, 1, 0, 1));
    config.relayed.push(relayed).unwrap();
    let mut host = Host::new(HwAddr::ethernet([0x52, 0x54, 0, 0, 0, 1]));
    host.ip = Some(Ipv4Addr::new(10, 0, 0, 10));
    host.set_file("host.img").unwrap();
    host.push_option(200, &[1; 40]).unwrap();
    let mut server = Server::new(config, vec![host], vec![LeaseSlot::EMPTY; 12]).unwrap();
    let sources = [
        SocketAddr::from(([0, 0, 0, 0], 68)),
        SocketAddr::from(([10, 0, 0, 100], 68)),
        SocketAddr::from(([10, 0, 0, 254], 67)),
        SocketAddr::from(([127, 0, 0, 1], 40000)),
    ];
    let mut now = Instant::ZERO;
    let mut rest = data;
    let mut buf = [0u8; 1500];
    while rest.len() >= 4 {
        now += Duration::from_secs(u64::from(rest[0]));
        let from = sources[usize::from(rest[1] % 4)];
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]])).min(rest.len() - 4);
        let datagram = &rest[4..4 + len];
        rest = &rest[4 + len..];
        server.handle_datagram(now, from, datagram);
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            assert!(t.len <= buf.len());
            let reply = Message::new_checked(&buf[..t.len]).expect("replies parse");
            assert_eq!(reply.packet().op(), Op::Reply);
            assert!(t.len >= 300);
        }
        while server.poll_event().is_some() {}
        let leases: Vec<_> = server.leases().collect();
        assert!(leases.len() <= 12);
        for l in leases {
            assert!(server.lease_table().contains(l.ip));
            assert_ne!(l.ip, Ipv4Addr::new(10, 0, 0, 10));
        }
    }
}
