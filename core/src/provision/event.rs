//! What a [`Provision`](super::Provision) tells its driver: output on which
//! channel, requests for sockets and connections, progress, and the error
//! that ended it.

use core::net::{Ipv4Addr, SocketAddr};

use crate::Transmit;
use crate::path::PathBuf;
use crate::plan::{Hex, ManifestError};
use crate::storage::StoreError;
use crate::tftp::TransferError;
use crate::time::Duration;

/// Longest server message kept in an error.
pub const MAX_MESSAGE: usize = 128;

/// A short message from a server, cut at [`MAX_MESSAGE`] bytes.
pub type Message = heapless::String<MAX_MESSAGE>;

/// Which socket a datagram or byte run belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// The BOOTP client socket (port 68, broadcast allowed).
    Bootp,
    /// The socket of the current TFTP download (its TID).
    Tftp,
    /// The FTP control connection.
    FtpControl,
}

/// Bytes the driver must send.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outgoing {
    /// Where they go.
    pub channel: Channel,
    /// The bytes (in the caller's buffer) and their destination. For
    /// [`Channel::FtpControl`] the destination is the control connection's
    /// peer: write the bytes to the stream.
    pub transmit: Transmit,
}

/// Something the driver must do, or may show.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// Replace the TFTP socket with a fresh one (a new transfer identifier)
    /// bound to `local` port 0 (or to the unspecified address when `local`
    /// is not an address of this host), then call
    /// [`Provision::tftp_opened`](super::Provision::tftp_opened).
    OpenTftp {
        /// The address BOOTP gave us: the source the server attributes the
        /// download to.
        local: Ipv4Addr,
    },
    /// The boot phase is over: the BOOTP and TFTP sockets may be closed.
    BootDone,
    /// Open a TCP connection to the FTP server, then call
    /// [`Provision::ftp_connected`](super::Provision::ftp_connected) or
    /// [`Provision::ftp_connect_failed`](super::Provision::ftp_connect_failed).
    ConnectFtp(SocketAddr),
    /// Open the passive data connection, then call
    /// [`Provision::data_connected`](super::Provision::data_connected) or
    /// [`Provision::data_connect_failed`](super::Provision::data_connect_failed).
    OpenData(SocketAddr),
    /// Read the data connection to its end, handing every byte to
    /// [`Provision::handle_data`](super::Provision::handle_data), then call
    /// [`Provision::data_end`](super::Provision::data_end).
    ReadData,
    /// Close the FTP control and data connections.
    CloseFtp,

    /// BOOTP answered.
    Assigned {
        /// Our address.
        ip: Ipv4Addr,
        /// Our subnet mask (option 1), when the reply gives one.
        netmask: Option<Ipv4Addr>,
        /// The server to fetch the stage from.
        server: Ipv4Addr,
        /// The stage file.
        file: PathBuf,
    },
    /// A stage download started.
    StageStarted {
        /// 0-based stage number (counting every download).
        index: u16,
        /// The file.
        file: PathBuf,
    },
    /// A stage arrived whole and is stored under its name.
    StageDone {
        /// 0-based stage number.
        index: u16,
        /// The file.
        file: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// A boot ROM's download of the program it chainloads
    /// ([`Config::chain`](super::Config::chain)) started.
    ChainStarted {
        /// The file.
        file: PathBuf,
    },
    /// The chainloaded program arrived whole and is stored under its name;
    /// it runs now and asks BOOTP again, as itself.
    Chainloaded {
        /// The file.
        file: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// A stage download (or the chainloaded program's) failed and will be
    /// tried again after BOOTP.
    StageRetry {
        /// The file.
        file: PathBuf,
        /// Why it failed.
        error: TransferError,
    },
    /// BOOTP was silent for the configured time after a stage: the boot
    /// phase is over and the last stage was read as the manifest.
    ManifestRead {
        /// The manifest (the last stage).
        file: PathBuf,
        /// How many files it names.
        files: usize,
        /// The FTP server they will be fetched from.
        server: SocketAddr,
    },
    /// Logged in to the FTP server.
    LoggedIn {
        /// The server.
        server: SocketAddr,
    },
    /// A file's data started to flow.
    FileStarted {
        /// 0-based position in the manifest's file list.
        index: usize,
        /// Number of files in the manifest.
        of: usize,
        /// The file.
        path: PathBuf,
        /// The size the server announced.
        size: Option<u64>,
    },
    /// A file arrived whole, was verified when the manifest gives a digest,
    /// and is stored under its name.
    FileDone {
        /// 0-based position in the manifest's file list.
        index: usize,
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
        /// Its SHA-256.
        sha256: [u8; 32],
        /// True when the manifest gave a digest (and it matched).
        verified: bool,
    },
    /// An FTP attempt failed; the client reconnects and tries again.
    FtpRetry {
        /// The file being fetched, if any.
        path: Option<PathBuf>,
        /// Why.
        reason: FtpFailure,
    },
    /// Every file arrived: the flow succeeded.
    Finished,
    /// The flow failed; [`Provision::error`](super::Provision::error) says
    /// why.
    Failed,
}

/// How far the current download has come (for progress bars).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// True for a boot stage (TFTP), false for a manifest file (FTP).
    pub stage: bool,
    /// Bytes received so far.
    pub bytes: u64,
    /// The size, when the server announced it.
    pub total: Option<u64>,
}

/// Why an FTP attempt failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FtpFailure {
    /// The control connection could not be made.
    #[error("cannot connect")]
    Connect,
    /// The data connection could not be made or broke.
    #[error("data connection failed")]
    DataConnection,
    /// No reply, connection or data in time.
    #[error("timed out")]
    Timeout,
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The server's replies made no sense.
    #[error("the server broke the FTP protocol")]
    Protocol,
    /// The server refused for now (a 4xx reply).
    #[error("temporary refusal {0}")]
    Busy(u16),
    /// Fewer bytes arrived than the server announced.
    #[error("transfer ended after {got} of {announced} bytes")]
    Short {
        /// Bytes received.
        got: u64,
        /// Bytes announced in the 150 reply.
        announced: u64,
    },
}

/// Which part of the flow failed: what the exit codes of a command-line
/// client distinguish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailedStep {
    /// No usable BOOTP answer.
    Bootp,
    /// A boot stage could not be fetched.
    Tftp,
    /// The manifest could not be read or parsed.
    Manifest,
    /// A manifest file could not be fetched.
    Ftp,
    /// A file's content does not match the manifest's digest.
    Digest,
    /// Local storage failed, or the flow was cancelled.
    Local,
}

/// Why the flow failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlowError {
    /// No BOOTP answer at all.
    #[error("no BOOTP answer in {}s", waited.as_secs())]
    NoBootpAnswer {
        /// How long the client asked.
        waited: Duration,
    },
    /// The DHCP server refused (NAK) every request.
    #[error("the DHCP server refused every request")]
    BootpRefused,
    /// The BOOTP answer names no boot file.
    #[error("the BOOTP answer from {server} names no boot file")]
    NoBootFile {
        /// Who answered.
        server: Ipv4Addr,
    },
    /// The boot file named is not a usable path.
    #[error("the BOOTP answer names an unusable boot file")]
    BadStageName,
    /// A stage could not be downloaded.
    #[error("TFTP download of {file} failed: {}", TftpReason(error, message))]
    Tftp {
        /// The stage.
        file: PathBuf,
        /// What went wrong.
        error: TransferError,
        /// The server's ERROR message, if any.
        message: Message,
    },
    /// The server kept handing out the stage just fetched.
    #[error(
        "the server keeps handing out {file} after it was fetched: does it see downloads from the address it gave?"
    )]
    NotAdvancing {
        /// The stage.
        file: PathBuf,
    },
    /// More stages than allowed.
    #[error("more than {max} boot stages: the server never fell silent")]
    TooManyStages {
        /// The limit.
        max: u16,
    },
    /// The manifest is larger than the buffer lent for it.
    #[error("manifest {file} is larger than {limit} bytes")]
    ManifestTooLarge {
        /// The last stage.
        file: PathBuf,
        /// The buffer size.
        limit: usize,
    },
    /// A manifest line is bad.
    #[error("{file}: {error}")]
    Manifest {
        /// The last stage.
        file: PathBuf,
        /// The first bad line.
        error: ManifestError,
    },
    /// The FTP server could not be reached or kept failing.
    #[error("FTP server {server}: {reason}")]
    Ftp {
        /// The server.
        server: SocketAddr,
        /// The file being fetched, if any.
        path: Option<PathBuf>,
        /// The last failure.
        reason: FtpFailure,
    },
    /// The FTP server refused the login.
    #[error("FTP login refused: {code} {text}")]
    FtpLogin {
        /// Reply code.
        code: u16,
        /// Reply text.
        text: Message,
    },
    /// The FTP server refused a file.
    #[error("FTP server refused {path}: {code} {text}")]
    FtpRefused {
        /// The file.
        path: PathBuf,
        /// Reply code.
        code: u16,
        /// Reply text.
        text: Message,
    },
    /// A file's SHA-256 differs from the manifest's; it was not kept.
    #[error(
        "{path}: SHA-256 mismatch: manifest says {}, received {}",
        Hex(expected),
        Hex(actual)
    )]
    Digest {
        /// The file.
        path: PathBuf,
        /// The manifest's digest.
        expected: [u8; 32],
        /// The digest of what arrived.
        actual: [u8; 32],
    },
    /// A local file could not be written or read.
    #[error("local file {path}: {error}")]
    Local {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: StoreError,
    },
    /// [`Provision::cancel`](super::Provision::cancel) was called.
    #[error("cancelled")]
    Cancelled,
}

impl FlowError {
    /// Which part of the flow failed.
    ///
    /// ```
    /// use netboot_core::provision::{FailedStep, FlowError};
    /// use netboot_core::time::Duration;
    ///
    /// let e = FlowError::NoBootpAnswer { waited: Duration::from_secs(30) };
    /// assert_eq!(e.step(), FailedStep::Bootp);
    /// assert_eq!(e.to_string(), "no BOOTP answer in 30s");
    /// ```
    pub fn step(&self) -> FailedStep {
        match self {
            FlowError::NoBootpAnswer { .. }
            | FlowError::BootpRefused
            | FlowError::NoBootFile { .. } => FailedStep::Bootp,
            FlowError::BadStageName
            | FlowError::Tftp { .. }
            | FlowError::NotAdvancing { .. }
            | FlowError::TooManyStages { .. } => FailedStep::Tftp,
            FlowError::ManifestTooLarge { .. } | FlowError::Manifest { .. } => FailedStep::Manifest,
            FlowError::Ftp { .. } | FlowError::FtpLogin { .. } | FlowError::FtpRefused { .. } => {
                FailedStep::Ftp
            }
            FlowError::Digest { .. } => FailedStep::Digest,
            FlowError::Local { .. } | FlowError::Cancelled => FailedStep::Local,
        }
    }
}

/// A TFTP failure with the server's own words when it sent an ERROR.
struct TftpReason<'a>(&'a TransferError, &'a str);

impl core::fmt::Display for TftpReason<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (self.0, self.1) {
            (TransferError::Peer { code }, "") => write!(f, "server: {code}"),
            (TransferError::Peer { code }, m) => write!(f, "server: {m} ({})", code.to_u16()),
            (e, _) => write!(f, "{e}"),
        }
    }
}
