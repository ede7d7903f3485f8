//! FTP as async APIs: the server ([`FtpService`], [`FtpServer`]) and the
//! client ([`FtpClient`]).
//!
//! Configured by the same [`FtpConfig`] as [`netboot_mio::ftp`] and checked
//! by the same [`Site`](netboot_std::ftp::site::Site) (roots opened as
//! jailed [`FsStore`](netboot_std::fs::FsStore)s, argon2 password hashes);
//! every FTP decision is the core session machine's, storage operations go
//! through [`netboot_core::ftp::server::glue`], and file data through the
//! core's send and receive pumps.
//!
//! Where it differs from the mio service: data moves through a buffer
//! (no `sendfile`/`splice`), and password checks run on the `blocking`
//! thread pool instead of a dedicated verifier thread.

mod client;
mod server;
mod session;

pub use client::FtpClient;
pub use netboot_mio::ftp::FtpError;
pub use netboot_mio::legacy::ftp::{OnTransfer, TransferRecord};
pub use netboot_std::ftp::{FtpConfig, FtpUser};
pub use server::{FtpServer, FtpService};
