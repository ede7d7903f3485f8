//! What a server session asks of its driver, and how the driver answers.

use core::net::SocketAddr;

use crate::ftp::listing::{Facts, ListFormat};
use crate::storage::{Metadata, StoreError, WriteMode};

/// A storage operation the driver performs and answers with
/// [`ServerSession::storage_done`](super::ServerSession::storage_done).
///
/// Paths are normalised (see [`crate::path`]). [`pump::perform`](super::pump::perform)
/// performs any of these on any [`Storage`](crate::storage::Storage).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageOp<'a> {
    /// What is at this path? Answer with its metadata.
    Metadata(&'a str),
    /// Open this file for reading and keep the reader for the coming
    /// transfer; answer with its metadata.
    OpenRead(&'a str),
    /// Open this file for writing in this mode and keep the writer for the
    /// coming transfer.
    OpenWrite(&'a str, WriteMode),
    /// Create a directory.
    CreateDir(&'a str),
    /// Remove an empty directory.
    RemoveDir(&'a str),
    /// Remove a file.
    RemoveFile(&'a str),
    /// Rename `from` to `to`.
    Rename {
        /// The existing name.
        from: &'a str,
        /// The new name.
        to: &'a str,
    },
}

/// The answer to a [`StorageOp`]: the metadata for `Metadata` and
/// `OpenRead`, `None` for the others.
pub type StorageAnswer = Result<Option<Metadata>, StoreError>;

/// What a data transfer carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferKind {
    /// Send the file opened by the last [`StorageOp::OpenRead`].
    Retr,
    /// Receive into the file opened by the last [`StorageOp::OpenWrite`].
    Stor,
    /// Send a listing of `path` ([`crate::ftp::listing::Listing`]).
    List(ListFormat, Facts),
}

/// A data transfer to run now: the data connection is established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataTransfer<'a> {
    /// What to move.
    pub kind: TransferKind,
    /// The virtual path involved (for logs, and the listing's directory).
    pub path: &'a str,
    /// Where to start reading the file (`REST`); 0 otherwise.
    pub offset: u64,
    /// `TYPE A`: convert line ends ([`crate::ftp::ascii`]).
    pub ascii: bool,
}

/// How a transfer ended, as the driver reports it with
/// [`ServerSession::transfer_done`](super::ServerSession::transfer_done).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransferOutcome {
    /// Everything was sent, or the client closed the connection after
    /// sending and the upload was committed.
    Complete {
        /// Bytes that crossed the data connection.
        bytes: u64,
    },
    /// Stopped after an [`Event::Abort`].
    Aborted,
    /// The data connection failed (reset, or closed early while sending).
    ConnectionLost,
    /// Reading or writing (or committing) the file failed.
    Storage(StoreError),
}

/// What the session needs from the outside.
#[non_exhaustive]
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Check a password; answer with
    /// [`ServerSession::login_verified`](super::ServerSession::login_verified).
    VerifyLogin {
        /// The name from `USER`.
        user: &'a str,
        /// The password from `PASS`.
        password: &'a str,
    },
    /// A login succeeded: from now on serve this user's store (their root).
    LoggedIn {
        /// The user name (`anonymous` for anonymous logins).
        user: &'a str,
        /// True for an anonymous login.
        anonymous: bool,
        /// True when the user may modify the store.
        writable: bool,
    },
    /// Perform a storage operation.
    Storage(StorageOp<'a>),
    /// Open a passive listener (on any local address the control
    /// connection's peer can reach); answer with
    /// [`ServerSession::passive_listening`](super::ServerSession::passive_listening)
    /// or [`ServerSession::passive_failed`](super::ServerSession::passive_failed).
    /// Offer each accepted connection to
    /// [`ServerSession::accept_data_connection`](super::ServerSession::accept_data_connection).
    Listen,
    /// Connect to the client for an active-mode transfer; answer with
    /// [`ServerSession::data_connected`](super::ServerSession::data_connected)
    /// or [`ServerSession::data_connect_failed`](super::ServerSession::data_connect_failed).
    /// The address has been checked against RFC 2577.
    Connect(SocketAddr),
    /// The data connection is ready: move the data, report progress with
    /// [`ServerSession::transfer_progress`](super::ServerSession::transfer_progress)
    /// and the end with [`ServerSession::transfer_done`](super::ServerSession::transfer_done).
    Transfer(DataTransfer<'a>),
    /// Stop the running transfer (client `ABOR` or data timeout), discard
    /// an unfinished upload, then report [`TransferOutcome::Aborted`].
    Abort,
    /// `STAT path`: list the path on the control connection by calling
    /// [`ServerSession::stat_listing`](super::ServerSession::stat_listing)
    /// (or [`pump::stat_listing`](super::pump::stat_listing)).
    StatListing,
    /// Drop any passive listener, data connection and file opened for a
    /// transfer that will not run (discarding uploads).
    CloseData,
}
