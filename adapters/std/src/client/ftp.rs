//! What an FTP client's operations end in on any std runtime: the error
//! type of the mio and async clients, and how the core session's failures
//! read as one.

use std::io;

use netboot_core::ftp::client::Failure;

/// Why an FTP operation failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    /// The control connection could not be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// Where we tried to connect.
        addr: String,
        /// The OS error.
        source: io::Error,
    },
    /// The server refused; its reply.
    #[error("server replied {code} {text}")]
    Refused {
        /// Reply code.
        code: u16,
        /// Reply text.
        text: String,
    },
    /// The server's replies made no sense.
    #[error("the server broke the FTP protocol")]
    Protocol,
    /// No reply in time.
    #[error("timed out waiting for the server")]
    Timeout,
    /// The data connection could not be made or broke.
    #[error("data connection failed: {0}")]
    DataConnection(String),
    /// The transfer was aborted.
    #[error("transfer aborted")]
    Aborted,
    /// The server closed the session.
    #[error("the server closed the connection")]
    Closed,
    /// A local read or write failed (the file being sent or received).
    #[error("local file: {0}")]
    Local(io::Error),
    /// The control connection failed.
    #[error("control connection: {0}")]
    Io(io::Error),
    /// A path or name cannot be sent (CR, LF or NUL, or too long).
    #[error("argument cannot be sent on the control connection")]
    BadArgument,
}

/// The error for an operation that ended in `failure`; `data_error` says
/// what went wrong on the data connection, when that is known.
pub fn failure_error(failure: Failure<'_>, data_error: Option<String>) -> FtpError {
    match failure {
        Failure::Refused(r) => FtpError::Refused {
            code: r.code,
            text: r.text.to_string(),
        },
        Failure::Timeout => FtpError::Timeout,
        Failure::Aborted => FtpError::Aborted,
        Failure::Closed => FtpError::Closed,
        Failure::DataConnection => {
            FtpError::DataConnection(data_error.unwrap_or_else(|| "broken".into()))
        }
        _ => FtpError::Protocol,
    }
}

/// The error for a request the session refused to start.
pub fn start_error(e: netboot_core::ftp::client::ClientError) -> FtpError {
    match e {
        netboot_core::ftp::client::ClientError::BadArgument => FtpError::BadArgument,
        netboot_core::ftp::client::ClientError::Closed => FtpError::Closed,
        _ => FtpError::Protocol,
    }
}
