//! The BOOTP/DHCP server machine fed arbitrary datagrams.
//!
//! The input is a sequence of records: one byte of time step (seconds), one
//! byte choosing the source and the receiving socket (the main one, or a
//! local subnet's on an interface of its own), two bytes of length, then
//! that many bytes of datagram. After each, every reply must parse, be a
//! BOOTREPLY, fit the buffer and leave through the socket its request came
//! in on; an address or server identifier of the local subnet goes only to
//! a request that came through its socket or a relay on it; leases must stay
//! inside the pools (the server's own, a relayed subnet's and the local
//! one's) and never exceed their size.

use crate::bootp::HwAddr;
use crate::bootp::hosts::Host;
use crate::bootp::leases::LeaseSlot;
use crate::bootp::server::{Server, ServerConfig, Subnet};
use crate::time::{Duration, Instant};
use crate::wire::bootp::{Message, Op};
use core::net::{Ipv4Addr, SocketAddr};

/// The network of the subnet local to a second interface.
const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 2, 0, 0);

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
    // A subnet local to a second interface: requests through its socket.
    let mut local = Subnet::new(LOCAL, Ipv4Addr::new(255, 255, 255, 0));
    local.net.pool = Some((Ipv4Addr::new(10, 2, 0, 100), Ipv4Addr::new(10, 2, 0, 103)));
    local.interface = Some("eth2".try_into().unwrap());
    local.server = Some(Ipv4Addr::new(10, 2, 0, 1));
    config.relayed.push(local).unwrap();
    let mut host = Host::new(HwAddr::ethernet([0x52, 0x54, 0, 0, 0, 1]));
    host.ip = Some(Ipv4Addr::new(10, 0, 0, 10));
    host.set_file("host.img").unwrap();
    host.push_option(200, &[1; 40]).unwrap();
    let mut server = Server::new(config, vec![host], vec![LeaseSlot::EMPTY; 16]).unwrap();
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
        let via = if rest[1] & 4 != 0 { 2 } else { 0 };
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]])).min(rest.len() - 4);
        let datagram = &rest[4..4 + len];
        rest = &rest[4 + len..];
        server.handle_datagram_on(now, via, from, datagram);
        while let Some((t, _, out)) = server.poll_transmit_via(now, &mut buf) {
            assert!(t.len <= buf.len());
            assert_eq!(out, via, "a reply left through another socket");
            let reply = Message::new_checked(&buf[..t.len]).expect("replies parse");
            assert_eq!(reply.packet().op(), Op::Reply);
            assert!(t.len >= 300);
            let on_local = |ip: Ipv4Addr| u32::from(ip) >> 8 == u32::from(LOCAL) >> 8;
            let local_id = reply.server_id() == Some(Ipv4Addr::new(10, 2, 0, 1));
            if on_local(reply.packet().yiaddr()) || local_id {
                assert!(
                    via == 2 || on_local(reply.packet().giaddr()),
                    "the local subnet served a request from elsewhere"
                );
            }
        }
        while server.poll_event().is_some() {}
        let leases: Vec<_> = server.leases().collect();
        assert!(leases.len() <= 16);
        for l in leases {
            assert!(server.lease_table().contains(l.ip));
            assert_ne!(l.ip, Ipv4Addr::new(10, 0, 0, 10));
        }
    }
}
