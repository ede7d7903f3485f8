//! Sans-IO protocol machines for network boot: BOOTP/DHCP, TFTP and FTP.
//!
//! `netboot-core` performs no I/O whatsoever. It never opens a socket, never
//! touches a file, never reads a clock, never spawns a thread and never
//! allocates per packet. It is `#![no_std]` unless the `std` feature is on,
//! and it builds for bare-metal targets such as `thumbv7em-none-eabihf`.
//! Everything it needs from the outside world arrives as an argument: bytes
//! that came off the wire, the current time, buffers to write into, and the
//! answers to the storage questions it asks.
//!
//! The same machines run under the mio adapter (`netboot-mio`), under
//! async-std, inside a deterministic network simulator (`netboot-sim`), inside
//! firmware over smoltcp, and under cargo-fuzz. The compositions (the
//! endpoints and the whole server) need the `alloc` feature for their
//! tables; every protocol machine works without it.
//!
//! # The driving contract
//!
//! Every machine has the same shape, the one quinn-proto and str0m use,
//! and the traits of [`machine`] give it to code: [`machine::Machine`] for
//! the output half every machine shares, [`machine::DatagramMachine`] and
//! [`machine::StreamMachine`] for a machine on one socket, and
//! [`machine::Endpoint`] for one on many sockets that it names itself
//! ([`socket::SocketId`]) and asks its driver to open and close. The
//! methods come in four families:
//!
//! * getters take `&self` and never change state;
//! * `handle_*` methods feed input: `handle_datagram(now, from, bytes)` for
//!   a datagram that arrived, `handle_bytes(now, bytes) -> consumed` for a
//!   stream, and for an endpoint the socket each input concerns
//!   (`handle_opened`, `handle_accept`, `handle_stream`);
//!   `handle_timeout(now)` when the deadline last reported by
//!   `poll_timeout` has passed (calling it early, or twice, is a harmless
//!   no-op);
//! * commands (`new`, `close`, the answers a machine asked for such as
//!   `read_done` or `saved`) take `now` and change state on the caller's
//!   initiative; misuse of the API returns a `Result`;
//! * `poll_*` methods drain output: `poll_transmit(now, buf)` writes into
//!   the caller's `buf` and describes what it wrote (a [`Transmit`], a byte
//!   count, or an [`socket::Output`] naming the socket), `poll_timeout()`
//!   says when `handle_timeout` is due next, and `poll_event()` reports
//!   what happened and what the machine needs.
//!
//! **After every input or command, drain in this order: transmit until
//! `None`, then read the timeout, then events until `None`. If an event
//! was handled (it may have called a command), drain again.** One driver,
//! written once, runs any machine; here it runs a BOOTP client against a
//! BOOTP server in memory:
//!
//! ```
//! use core::net::{Ipv4Addr, SocketAddr};
//! use netboot_core::bootp::client::{Client, ClientConfig, Event};
//! use netboot_core::bootp::leases::LeaseSlot;
//! use netboot_core::bootp::server::{Server, ServerConfig};
//! use netboot_core::bootp::{hosts::Host, HwAddr};
//! use netboot_core::machine::{DatagramMachine, Machine};
//! use netboot_core::rng::Rng;
//! use netboot_core::time::Instant;
//!
//! /// Drains `m` after an input: its datagrams go to `wire` (from `me`),
//! /// its events to `on_event`; returns when `handle_timeout` is due.
//! fn drain<M: DatagramMachine>(
//!     m: &mut M,
//!     now: Instant,
//!     me: SocketAddr,
//!     wire: &mut Vec<(SocketAddr, Vec<u8>)>,
//!     mut on_event: impl FnMut(M::Event<'_>),
//! ) -> Option<Instant> {
//!     let mut buf = [0u8; 1500];
//!     loop {
//!         while let Some(t) = m.poll_transmit(now, &mut buf) {
//!             wire.push((me, buf[..t.len].to_vec()));
//!         }
//!         let deadline = m.poll_timeout();
//!         let mut handled = false;
//!         while let Some(event) = m.poll_event() {
//!             handled = true;
//!             on_event(event);
//!         }
//!         if !handled {
//!             return deadline;
//!         }
//!     }
//! }
//!
//! let mut config = ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
//! config.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 109)));
//! let hosts: [Host; 0] = [];
//! let mut server = Server::new(config, hosts, [LeaseSlot::EMPTY; 10]).unwrap();
//! let mut client_config = ClientConfig::new(HwAddr::ethernet([2, 0, 0, 0, 0, 1]), Rng::new(7));
//! client_config.dhcp = true; // DISCOVER, OFFER, REQUEST, ACK
//! let now = Instant::ZERO;
//! let mut client = Client::new(client_config, now).unwrap();
//! let (at_client, at_server): (SocketAddr, SocketAddr) =
//!     ("0.0.0.0:68".parse().unwrap(), "10.0.0.1:67".parse().unwrap());
//!
//! let mut wire = Vec::new();
//! let mut assigned = None;
//! drain(&mut client, now, at_client, &mut wire, |_| {});
//! // Deliver datagrams until the wire is quiet: each goes to the other side.
//! while let Some((from, bytes)) = wire.pop() {
//!     if from == at_client {
//!         server.handle_datagram(now, from, &bytes);
//!         drain(&mut server, now, at_server, &mut wire, |_| {});
//!     } else {
//!         client.handle_datagram(now, from, &bytes);
//!         drain(&mut client, now, at_client, &mut wire, |e| {
//!             if let Event::Assigned(a) = e {
//!                 assigned = Some(a.ip);
//!             }
//!         });
//!     }
//! }
//! assert_eq!(assigned, Some(Ipv4Addr::new(10, 0, 0, 100)));
//! ```
//!
//! Errors caused by the peer (a malformed packet, an ERROR packet, a refused
//! login) are never returned from `handle_*`: they arrive as events, and the
//! machine answers the peer itself where the protocol says so.
//!
//! # Composition
//!
//! The machines that combine others live here too, written once for every
//! runtime: the TFTP [`tftp::Endpoint`] (the transfer table, repeated
//! requests, capacity), the FTP server [`ftp::server::Endpoint`] (sessions,
//! data connections, limits), and the whole [`server::NetbootServer`]
//! (BOOTP, TFTP, FTP, the plan, leases and the persistence policy). A
//! runtime drives one of them and decides nothing.
//!
//! # Time and randomness
//!
//! Time is an argument: [`time::Instant`] is a plain number of microseconds
//! since an epoch the caller chooses. Randomness (BOOTP `xid`, TFTP transfer
//! identifiers, retransmission jitter) comes from a seeded [`rng::Rng`] held in
//! each machine's configuration, so the same inputs always give the same
//! outputs. That is what makes the simulator's runs replayable from one seed.
//!
//! # Storage
//!
//! Files live outside the core. A machine asks for data through an event
//! ("need the bytes at offset O") and takes the answer through a method call;
//! an uploaded block is acknowledged only after the driver has confirmed the
//! write. The [`storage::Storage`] trait is the one interface every adapter
//! implements for its file store (a jailed directory, an in-memory map, a
//! flash partition), and paths reaching it have already been validated and
//! normalised by [`path`].
//!
//! # Memory
//!
//! Callers lend the buffers datagrams are written into. Fixed-size state uses
//! [`heapless`]. Every buffer a peer can influence has a bound, and a peer can
//! make a machine neither allocate nor loop without bound.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![deny(unsafe_code)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod bootp;
#[cfg(feature = "alloc")]
pub mod deadline;
pub mod ftp;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod machine;
pub mod path;
pub mod plan;
pub mod provision;
pub mod rng;
#[cfg(feature = "alloc")]
pub mod server;
pub mod socket;
pub mod storage;
#[cfg(feature = "alloc")]
mod textfile;
pub mod tftp;
pub mod time;
mod transmit;
pub mod wire;

pub use transmit::Transmit;
