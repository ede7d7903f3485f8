//! TFTP on OS sockets: a server [`TftpService`] for the shared event loop,
//! an embeddable server ([`TftpServer`] → [`ServerHandle`]) and a blocking
//! [`Client`].
//!
//! Every protocol decision is made by [`netboot_core::tftp`]; this module
//! binds sockets, moves datagrams, and answers storage events through
//! [`netboot_core::tftp::glue`] from a jailed [`FsStore`](netboot_std::fs::FsStore).
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
//! * Memory: all transfers share one transmit and one receive buffer of
//!   [`MAX_PACKET_LEN`](netboot_core::wire::tftp::MAX_PACKET_LEN) bytes each;
//!   file data is read from the file straight into the transmit buffer just
//!   before each send and written from the receive buffer straight to the
//!   file. Per transfer the service holds the core machine
//!   ([`Transfer`](netboot_core::tftp::Transfer), under 3 KiB), an open
//!   file, a socket and table entries: about 3 KiB of user memory, at most
//!   [`TRANSFER_MEMORY`] (4 KiB, checked by a test), plus what the kernel
//!   queues on the socket. A thousand transfers cost about 3 MiB.
//! * Each finished transfer is reported to an optional completion callback
//!   ([`Completion`]: peer, path, direction, bytes, outcome), which is how a
//!   combined server learns that a client finished a boot stage.

mod client;
mod server;
mod service;
mod udp;

pub use client::{Client, ClientError, Prepared, Progress, Settings, Stats, result_of};
pub use server::{
    DEFAULT_BUSY_POLL, ServerHandle, ServerParts, TftpServer, address_for, describe_completion,
    reachable,
};
pub use service::{Completion, OnComplete, TRANSFER_MEMORY, TftpService, log_completion};
