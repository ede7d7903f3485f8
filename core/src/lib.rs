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
//! firmware over smoltcp, and under cargo-fuzz.
//!
//! # The driving contract
//!
//! Every datagram machine (a TFTP transfer, a BOOTP client or server) has the
//! same shape, the one quinn-proto and str0m use. The methods come in four
//! families:
//!
//! * getters take `&self` and never change state;
//! * `handle_*` methods feed input: `handle_datagram(now, from, bytes)` for a
//!   datagram that arrived, `handle_timeout(now)` when the deadline last
//!   reported by `poll_timeout` has passed (calling it early, or twice, is a
//!   harmless no-op);
//! * commands (`new`, `provide_*`, `close`, ...) take `now` and change state
//!   on the caller's initiative; misuse of the API returns a `Result`;
//! * `poll_*` methods drain output: `poll_transmit(now, buf)` writes one
//!   datagram into the caller's `buf` and returns a [`Transmit`] describing
//!   it, `poll_timeout()` says when `handle_timeout` is due next, and
//!   `poll_event()` reports what happened (address assigned, data needed,
//!   transfer done, transfer failed).
//!
//! **After every input, drain in this order: transmit until `None`, then
//! read the timeout, then events until `None`.** Handling an event may call
//! a command (for example to supply file data); after a command, drain again.
//! A driver therefore looks like this:
//!
//! ```text
//! loop {
//!     wait for a datagram or for the deadline from poll_timeout();
//!     machine.handle_datagram(now, from, bytes) or machine.handle_timeout(now);
//!     loop {
//!         while let Some(t) = machine.poll_transmit(now, &mut buf) { send(&buf[..t.len], t.destination) }
//!         let deadline = machine.poll_timeout();
//!         let mut progressed = false;
//!         while let Some(event) = machine.poll_event() { answer it; progressed = true }
//!         if !progressed { break }
//!     }
//! }
//! ```
//!
//! Errors caused by the peer (a malformed packet, an ERROR packet, a refused
//! login) are never returned from `handle_*`: they arrive as events, and the
//! machine answers the peer itself where the protocol says so.
//!
//! FTP's control channel is a byte stream rather than datagrams, so its
//! session machines take `handle_bytes(now, bytes) -> consumed` and keep a
//! bounded line buffer; everything else is the same.
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
pub mod ftp;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod path;
pub mod plan;
pub mod provision;
pub mod rng;
pub mod storage;
pub mod tftp;
pub mod time;
mod transmit;
pub mod wire;

pub use transmit::Transmit;
