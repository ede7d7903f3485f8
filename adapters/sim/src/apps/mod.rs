//! The programs simulated hosts run: the netboot server, and a client per
//! protocol role and the provisioning client flow.
//!
//! * [`server`]: [`SimServer`](server::SimServer), the server that ships
//!   (the core's `NetbootServer` through the core's `drive` loop), in any
//!   configuration: BOOTP/DHCP, TFTP, FTP, or all three with the plan.
//! * [`bootp`], [`tftp`], [`ftp`]: a client of each protocol, driving a
//!   core client machine against the host's disk.
//! * [`provision`]: the core's provisioning flow (BOOTP → TFTP stages →
//!   manifest → FTP files).
//! * [`relay`]: a BOOTP/DHCP relay agent, for clients on another
//!   broadcast segment.
//! * [`udp`]: a scripted sender, to play a peer no machine models.
//!
//! None holds protocol logic: that lives in the machines. What a program
//! adds is bookkeeping a test can read: outcomes, timings, counters, the
//! server's events.
pub mod bootp;
pub mod ftp;
pub mod provision;
pub mod relay;
pub mod server;
pub mod tftp;
pub mod udp;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

/// The IPv4 form of an address a core machine handed out (the simulated
/// segment is IPv4 only; an IPv4-mapped IPv6 address is unwrapped).
pub fn v4(a: SocketAddr) -> SocketAddrV4 {
    match a {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => SocketAddrV4::new(
            a.ip().to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
            a.port(),
        ),
    }
}
