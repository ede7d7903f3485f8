//! TFTP on OS sockets: an embeddable server ([`TftpServer`] →
//! [`ServerHandle`], a [`Server`](crate::server::Server) serving TFTP only)
//! and a blocking [`Client`].
//!
//! Every protocol decision is made by [`netboot_core::tftp`] (the server's
//! [`Endpoint`](netboot_core::tftp::Endpoint)); this module binds sockets
//! and moves datagrams, from a jailed [`FsStore`](netboot_std::fs::FsStore).
//!
//! # The server
//!
//! * Requests arrive on the listening sockets (one per `bind` address;
//!   `[::]` is dual-stack). Each accepted transfer gets its own ephemeral UDP
//!   socket, bound to the listener's address with port 0: that port is the
//!   transfer's TID. A repeated request from a peer address whose transfer
//!   is still running is a retransmission and is dropped.
//! * The served root is a jail: names are normalised by the core (`..`,
//!   NUL and control characters refused) and resolved beneath a cap-std
//!   directory handle (absolute paths stay inside, symbolic links that leave
//!   the root are refused). The server is read-only unless `writable`;
//!   uploads create new files only unless `overwrite` (ERROR 6 otherwise),
//!   are written to a hidden temporary file and appear under their name only
//!   when complete.
//! * At most `max_transfers` transfers run at once (default 1024); a request
//!   beyond that gets ERROR 0 "server busy".
//! * Memory: all transfers share the loop's transmit and receive buffers;
//!   file data is read from the file straight into the transmit buffer just
//!   before each send and written from the receive buffer straight to the
//!   file. Per transfer the core endpoint holds the machine
//!   ([`Transfer`](netboot_core::tftp::Transfer), under 3 KiB), an open
//!   file and table entries, at most [`TRANSFER_MEMORY`] (4 KiB, checked by
//!   a core test); the loop adds a socket and a slab entry, plus what the
//!   kernel queues on the socket. A thousand transfers cost about 3 MiB.
//! * Windows of equal DATA blocks leave as one segmented send (GSO) where
//!   the kernel offers it, the first block after each ACK on its own.
//! * Each finished transfer is reported to an optional completion callback
//!   with the core's [`Completion`] (peer, path, direction, bytes,
//!   outcome).

mod client;
mod server;
pub(crate) mod udp;

pub use client::{Client, ClientError, Prepared, Progress, Settings, Stats};
pub use netboot_core::tftp::{Completion, TRANSFER_MEMORY};
pub use server::{OnComplete, ServerHandle, TftpServer, address_for, reachable};
