//! TFTP as async APIs: the server ([`TftpServer`] → [`TftpService`] or
//! [`ServerHandle`]) and the [`Client`].
//!
//! The semantics are those of [`netboot_mio::tftp`]: each accepted transfer
//! gets its own ephemeral UDP socket (its TID), a repeated request from a
//! peer whose transfer is running is dropped, the served root is a jailed
//! [`FsStore`](netboot_std::fs::FsStore), uploads are written aside and
//! appear only when complete, at most `max_transfers` run at once, and each
//! finished transfer is reported as a [`Completion`]. Datagrams are driven
//! through [`netboot_core::tftp::glue`], so the storage answers are the
//! core's, not this crate's.
//!
//! Where it differs from the mio service: datagrams leave one per system
//! call (no segmentation offload), and a download returns only after the
//! client has lingered for a lost final ACK (a few round trips), instead of
//! lingering on a background thread.

mod client;
mod server;

pub use client::Client;
pub use netboot_mio::legacy::tftp::Completion;
pub use netboot_mio::tftp::{ClientError, Progress, Stats};
pub use server::{ServerHandle, TftpServer, TftpService};

use std::net::SocketAddr;

/// Sends one datagram at once from a non-blocking socket. A send that would
/// block is a loss, which the transfer's retransmission recovers from, as in
/// the mio adapter.
pub(crate) fn send_now(socket: &async_std::net::UdpSocket, bytes: &[u8], to: SocketAddr) {
    if let Err(e) = socket2::SockRef::from(socket).send_to(bytes, &to.into()) {
        tracing::debug!("tftp: send to {to} failed: {e}");
    }
}
