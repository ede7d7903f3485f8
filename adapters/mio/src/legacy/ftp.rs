//! The FTP transfer record the async-std adapter's server still reports
//! (transitional, see [`crate::legacy`]); the mio server reports the core's
//! [`TransferRecord`](netboot_core::ftp::server::TransferRecord).

use std::net::SocketAddr;

/// A finished (or abandoned) data transfer, as the server logs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    /// The client's control-connection address.
    pub peer: SocketAddr,
    /// The logged-in user, if any.
    pub user: Option<String>,
    /// The file or directory, as a path in the session's root.
    pub path: String,
    /// `RETR`, `STOR` or `LIST`.
    pub direction: &'static str,
    /// Bytes moved.
    pub bytes: u64,
    /// `complete`, `aborted`, `data connection lost`, `storage error` or
    /// `connection closed`.
    pub outcome: &'static str,
    /// Time since the transfer started.
    pub elapsed: std::time::Duration,
}

/// A callback for every transfer that ends.
pub type OnTransfer = Box<dyn FnMut(&TransferRecord) + Send>;
