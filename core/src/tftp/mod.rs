//! TFTP: server and client transfer machines (RFC 1350, with RFC 2347
//! option negotiation, RFC 2348 `blksize`, RFC 2349 `timeout` and `tsize`,
//! and RFC 7440 `windowsize`).
//!
//! # Pieces
//!
//! * [`Server`] accepts requests arriving on the well-known port: it parses
//!   the RRQ or WRQ, resolves the file name with
//!   [`path::resolve`](crate::path::resolve) (`..` refused), applies the
//!   policy (read-only unless writable, create-only unless overwrite, upload
//!   limit, option caps) and negotiates options. It keeps no state.
//! * [`Transfer`] is one transfer, on the server or the client side, sending
//!   or receiving. The driver gives each transfer its own socket (its TID).
//! * [`file`](mod@file) answers a transfer's storage events from any
//!   [`Storage`](crate::storage::Storage), so every adapter shares one
//!   implementation of "read the block, write the block, commit the upload".
//! * [`options`], [`netascii`] and [`rto`] are the negotiation rules, the
//!   text translation and the retransmission timer.
//!
//! # Driving a transfer
//!
//! A [`Transfer`] follows the crate's driving contract: `handle_datagram`
//! and `handle_timeout` feed it; `poll_transmit`, `poll_timeout` and
//! `poll_event` drain it. Storage is reached through events, without copies:
//!
//! * [`Event::Read`] asks for the file bytes at `offset`; the driver reads
//!   them straight into its transmit buffer at `buf[start..start + len]`
//!   and calls [`Transfer::read_done`] with that buffer. The next
//!   `poll_transmit` must get the same buffer: it writes the DATA header in
//!   front of the payload already there (netascii is encoded in place).
//! * [`Event::Write`] says the DATA just handled carries file bytes; the
//!   driver takes them out of its receive buffer with [`Transfer::payload`]
//!   (netascii is decoded in place), stores them and calls
//!   [`Transfer::write_done`]. A block is acknowledged only after that; on
//!   the last block (`last: true`) the driver commits the file first.
//! * [`Event::Done`] and [`Event::Failed`] end the transfer. A receiver then
//!   keeps answering a retransmitted final DATA for a dally period; the
//!   driver drops the transfer once [`Transfer::is_closed`].
//!
//! # Behaviour on the wire
//!
//! * Windowed sending (RFC 7440): up to `windowsize` blocks go out before an
//!   ACK is needed. An ACK for a block inside the window means the blocks
//!   after it were lost: sending restarts right after the acknowledged
//!   block. On a timeout, sending restarts from the first unacknowledged
//!   block. A duplicate ACK (of a block already acknowledged) never causes a
//!   resend, which rules out the Sorcerer's Apprentice syndrome (RFC 1123
//!   section 4.2.3.1).
//! * The receiver acknowledges every `windowsize` blocks and the last block.
//!   A block from the future (a gap) is answered once with an ACK of the
//!   last block received in order; a repeat of the last acknowledged block
//!   is answered with that ACK again (the sender lost it).
//! * Block numbers roll over from 65,535 to 0 (as tftp-hpa, atftp, curl and
//!   dnsmasq do), so files of any size transfer; internally blocks are
//!   counted in 64 bits.
//! * A datagram from any address other than the peer's (an unknown TID) is
//!   answered with ERROR 5 and otherwise ignored (RFC 1350 section 4); an
//!   ERROR is never answered.
//! * Retransmission follows [`rto`]: adaptive unless the peer negotiated
//!   `timeout`, which is then honoured exactly. After `max_retries`
//!   consecutive timeouts the transfer fails with
//!   [`TransferError::TimedOut`].
//! * Malformed datagrams from the peer are dropped (reported as
//!   [`Event::Ignored`]); a well-formed packet that makes no sense in the
//!   transfer (an RRQ on a transfer's port, DATA sent to a sender) ends it
//!   with ERROR 4.

pub mod client;
#[cfg(feature = "alloc")]
pub mod endpoint;
pub mod file;
pub mod netascii;
pub mod options;
mod recv;
pub mod rto;
mod send;
mod server;
mod transfer;

#[cfg(test)]
mod tests;

#[cfg(feature = "alloc")]
pub use endpoint::{
    Completion, Dropped, Endpoint, EndpointConfig, EndpointEvent, MAX_PEER_MESSAGE, TRANSFER_MEMORY,
};
pub use options::Direction;
pub use server::{Refusal, Request, Server, ServerConfig};
pub use transfer::{Payload, Role, Transfer, TransferConfig};

use crate::storage::StoreError;
use crate::wire::tftp::{ErrorCode, ParseError};

/// Well-known TFTP server port.
pub const PORT: u16 = 69;

/// Something a [`Transfer`] reports to its driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Options are settled (after the OACK, or without one); the values the
    /// transfer runs with, including the announced `tsize`.
    Negotiated(options::Negotiated),
    /// Read up to `len` file bytes at `offset` into the transmit buffer at
    /// `start`, then call [`Transfer::read_done`].
    Read {
        /// File offset.
        offset: u64,
        /// Where the bytes go in the transmit buffer.
        start: usize,
        /// How many bytes are wanted (fewer only at the end of the file).
        len: usize,
    },
    /// The DATA just handled carries file bytes for `offset`: take them with
    /// [`Transfer::payload`], store them and call [`Transfer::write_done`].
    Write {
        /// Bytes of the file already written before these.
        offset: u64,
        /// This is the last block: commit the file before confirming.
        last: bool,
    },
    /// The transfer succeeded; `bytes` file bytes went through.
    Done {
        /// File bytes sent or stored.
        bytes: u64,
    },
    /// The transfer failed; the peer has been told where the protocol says
    /// so.
    Failed(TransferError),
    /// A datagram was dropped without effect on the transfer.
    Ignored(Ignored),
}

/// Why a transfer failed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TransferError {
    /// The peer sent an ERROR packet (its text: [`Transfer::peer_message`]).
    #[error("peer reported error: {code}")]
    Peer {
        /// The peer's error code.
        code: ErrorCode,
    },
    /// No answer after this many retransmissions.
    #[error("timed out after {retries} retries")]
    TimedOut {
        /// Retransmissions made before giving up.
        retries: u8,
    },
    /// Local storage failed; the peer got the matching ERROR.
    #[error("storage: {0}")]
    Storage(StoreError),
    /// The server's OACK was unacceptable; it got ERROR 8.
    #[error("option negotiation: {0}")]
    Options(options::OptionError),
    /// The upload grew past the configured limit; the peer got ERROR 3.
    #[error("upload exceeds the size limit")]
    TooLarge,
    /// The peer broke the protocol; it got ERROR 4.
    #[error("protocol violation: {0}")]
    Protocol(&'static str),
    /// The driver closed the transfer; the peer got ERROR 0.
    #[error("transfer cancelled")]
    Cancelled,
}

/// Why a datagram was dropped.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// It did not parse.
    #[error("malformed packet: {0}")]
    Malformed(ParseError),
    /// It came from another address than the peer's (answered with ERROR 5
    /// when it was not itself an ERROR).
    #[error("packet from an unknown transfer ID")]
    UnknownTid,
    /// A duplicate or stale packet of this transfer.
    #[error("duplicate or stale packet")]
    Stale,
    /// It arrived while the driver still owed an answer to a storage event.
    #[error("packet arrived while storage was busy")]
    Busy,
}

/// Misuse of a [`Transfer`]'s commands.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No storage request of that kind is outstanding.
    #[error("no storage request outstanding")]
    NotExpected,
    /// The buffer is smaller than the block needs.
    #[error("buffer too small")]
    BufferTooSmall,
    /// A file name longer than [`crate::path::MAX_PATH_LEN`].
    #[error("file name too long")]
    NameTooLong,
    /// The read reported more bytes than were asked for.
    #[error("read returned more bytes than requested")]
    TooMuchData,
}

/// The TFTP error code that reports a storage failure to the peer.
///
/// ```
/// use netboot_core::storage::StoreError;
/// use netboot_core::tftp::error_code_for;
/// use netboot_core::wire::tftp::ErrorCode;
///
/// assert_eq!(error_code_for(StoreError::NotFound), ErrorCode::FileNotFound);
/// assert_eq!(error_code_for(StoreError::AlreadyExists), ErrorCode::FileExists);
/// ```
pub const fn error_code_for(e: StoreError) -> ErrorCode {
    match e {
        StoreError::NotFound | StoreError::NotADirectory => ErrorCode::FileNotFound,
        StoreError::PermissionDenied | StoreError::IsADirectory => ErrorCode::AccessViolation,
        StoreError::Full => ErrorCode::DiskFull,
        StoreError::AlreadyExists => ErrorCode::FileExists,
        _ => ErrorCode::NotDefined,
    }
}

/// The message sent with [`error_code_for`]'s code.
pub const fn error_message_for(e: StoreError) -> &'static str {
    match e {
        StoreError::NotFound | StoreError::NotADirectory => "file not found",
        StoreError::PermissionDenied => "access violation",
        StoreError::IsADirectory => "is a directory",
        StoreError::Full => "disk full or allocation exceeded",
        StoreError::AlreadyExists => "file already exists",
        _ => "storage error",
    }
}
