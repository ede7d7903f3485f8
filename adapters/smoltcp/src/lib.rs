//! Netboot for firmware: the core BOOTP/DHCP client and TFTP client over
//! [smoltcp](https://docs.rs/smoltcp) UDP sockets, `#![no_std]` and without
//! an allocator.
//!
//! This is what a board's boot loader links to fetch its boot file from a
//! netboot server: ask for an address and a file name with [`Bootp`],
//! configure the interface with [`configure`], then download the file with
//! [`TftpGet`] into any [`Storage`](netboot_core::storage::Storage), for
//! instance a RAM (or flash) region wrapped in a [`SliceStore`].
//!
//! Every protocol decision is the core machines'; this crate moves their
//! datagrams between smoltcp's socket buffers and them, converts smoltcp's
//! clock, and answers the transfer's storage events through the core's
//! [`file`](netboot_core::tftp::file), exactly as the std adapters do.
//!
//! # Driving
//!
//! Each driver has a `poll(now, socket, ...)` that takes every datagram
//! waiting in the socket, fires the machine's timer when it is due, and
//! queues what the machine wants to send; and a `poll_at()` giving the next
//! deadline. A superloop polls the interface, then the driver, then sleeps
//! until the earlier of `iface.poll_at(...)` and the driver's `poll_at()`
//! (or until the NIC interrupts). Under an executor such as embassy, the
//! same two calls go in a task that awaits "socket readable or timer at
//! `poll_at()`". `docs/embedding.md` shows both and lists the memory
//! needed.
//!
//! No function here allocates: every buffer is the caller's (smoltcp's
//! socket buffers, the transfer's transmit and receive buffers, the store),
//! and the machines' state has a fixed size.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

mod bootp;
pub mod memory;
mod store;
mod tftp;
pub mod time;

pub use bootp::{Bootp, BootpError, Lease, configure};
pub use store::{SliceReader, SliceStore, SliceWriter};
pub use tftp::{StartError, TftpGet};

use core::net::{SocketAddr, SocketAddrV4};

/// smoltcp's endpoint for an address (IPv4 only: the firmware adapter is
/// built without IPv6, which netboot's BOOTP does not use).
fn endpoint(addr: SocketAddr) -> Option<smoltcp::wire::IpEndpoint> {
    match addr {
        SocketAddr::V4(a) => Some(a.into()),
        SocketAddr::V6(_) => None,
    }
}

/// The address of a smoltcp endpoint.
fn socket_addr(e: smoltcp::wire::IpEndpoint) -> SocketAddr {
    let smoltcp::wire::IpAddress::Ipv4(ip) = e.addr;
    SocketAddr::V4(SocketAddrV4::new(ip, e.port))
}
