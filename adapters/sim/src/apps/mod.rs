//! The programs simulated hosts run: one per protocol role, the combined
//! netboot server and the provisioning client.
//!
//! Each moves bytes between the simulated sockets and a core machine and
//! answers the machine's storage events from the host's disk through the
//! core's generic glue ([`netboot_core::tftp::glue`],
//! [`netboot_core::ftp::server::glue`]). None holds protocol logic: that
//! lives in the machines. What an app adds is bookkeeping a test can read:
//! outcomes, timings, counters.
pub mod bootp;
pub mod ftp;
pub mod netboot;
pub mod provision;
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
