//! What an FTP client is on any std runtime: the [`Control`] side that
//! drives the core session through each operation, the error type of the
//! mio and async clients, and how the core session's failures read as one.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use netboot_core::ftp::client::{ClientSession, Event, Failure, Request};

use crate::clock::Clock;

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

/// The addresses a client tries in turn, as `to_socket_addrs` resolved
/// them, or the connect error that says the name did not resolve.
pub fn resolved<I: IntoIterator<Item = SocketAddr>>(
    addrs: io::Result<I>,
) -> Result<Vec<SocketAddr>, FtpError> {
    match addrs {
        Ok(a) => Ok(a.into_iter().collect()),
        Err(source) => Err(FtpError::Connect {
            addr: "?".into(),
            source,
        }),
    }
}

/// The error when no address in `addrs` took the control connection;
/// `last` is what the last attempt failed with.
///
/// ```
/// use netboot_std::client::ftp::connect_error;
///
/// let e = connect_error(&[], None);
/// assert_eq!(e.to_string(), "cannot connect to ?: no address");
/// ```
pub fn connect_error(addrs: &[SocketAddr], last: Option<io::Error>) -> FtpError {
    FtpError::Connect {
        addr: addrs.first().map_or("?".into(), ToString::to_string),
        source: last.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address")),
    }
}

/// Takes the data connection for a [`Step::Transfer`]; it is an error
/// when none is open.
///
/// ```
/// let mut data: Option<std::net::TcpStream> = None;
/// assert!(netboot_std::client::ftp::take_data(&mut data).is_err());
/// ```
pub fn take_data<T>(data: &mut Option<T>) -> Result<T, FtpError> {
    data.take()
        .ok_or_else(|| FtpError::DataConnection("not connected".into()))
}

/// One step a runtime takes for [`Control::step`].
#[derive(Debug)]
pub enum Step<'a> {
    /// Write these bytes on the control connection.
    Write(&'a [u8]),
    /// Open the data connection to this address, then tell
    /// [`Control::connected`].
    Connect(SocketAddr),
    /// Move the operation's data over the data connection (the server
    /// announced `size` bytes, when it did), then tell
    /// [`Control::transferred`].
    Transfer {
        /// The size in the server's reply, if any.
        size: Option<u64>,
    },
    /// Read the control connection, waiting at most this long, and hand
    /// what came to [`Control::received`].
    Read(Duration),
    /// The operation ended: the bytes moved over the data connection, or
    /// why it failed.
    Done(Result<u64, FtpError>),
}

/// The control side of an FTP client, written once for the blocking and
/// the async client: the core [`ClientSession`] with its clock and input
/// buffer, and what the running operation has come to. A runtime starts
/// an operation with [`Control::start`] and takes [`Control::step`]'s
/// steps until [`Step::Done`]; it only moves bytes and waits.
///
/// ```
/// use netboot_core::ftp::client::Request;
/// use netboot_std::client::ftp::{Control, Step};
///
/// let mut c = Control::new("192.0.2.1:21".parse().unwrap(), std::time::Duration::from_secs(5));
/// // The greeting first: nothing to send, so read.
/// assert!(matches!(c.step(), Step::Read(_)));
/// c.received(Ok(b"220 hi\r\n")).unwrap();
/// assert!(matches!(c.step(), Step::Done(Ok(0))));
/// c.start(Request::Size("a.txt")).unwrap();
/// assert!(matches!(c.step(), Step::Write(b"SIZE a.txt\r\n")));
/// assert!(matches!(c.step(), Step::Read(_)));
/// c.received(Ok(b"213 42\r\n")).unwrap();
/// assert!(matches!(c.step(), Step::Done(Ok(0))));
/// assert_eq!(c.last_number(), Some(42));
/// ```
#[derive(Debug)]
pub struct Control {
    session: ClientSession,
    clock: Clock,
    input: Vec<u8>,
    out: Vec<u8>,
    timeout: Duration,
    moved: u64,
    data_error: Option<String>,
    local_error: Option<io::Error>,
    last_number: Option<u64>,
}

impl Control {
    /// A session with the server at `peer`, whose greeting is the first
    /// operation; every reply is awaited at most `timeout`.
    pub fn new(peer: SocketAddr, timeout: Duration) -> Self {
        let clock = Clock::new();
        let mut session = ClientSession::new(clock.now(), peer);
        session.set_reply_timeout(timeout);
        Control {
            session,
            clock,
            input: Vec::new(),
            out: vec![0; 2048],
            timeout,
            moved: 0,
            data_error: None,
            local_error: None,
            last_number: None,
        }
    }

    /// The reply timeout, which also bounds the runtime's waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// True when the server refused `EPSV` and `PASV` is used instead.
    pub fn uses_pasv(&self) -> bool {
        self.session.uses_pasv()
    }

    /// The number in the last successful reply (the `SIZE`).
    pub fn last_number(&self) -> Option<u64> {
        self.last_number
    }

    /// Starts an operation.
    pub fn start(&mut self, request: Request<'_>) -> Result<(), FtpError> {
        self.moved = 0;
        self.data_error = None;
        self.local_error = None;
        self.session
            .start(self.clock.now(), request)
            .map_err(start_error)
    }

    /// What the runtime does next.
    pub fn step(&mut self) -> Step<'_> {
        // Bounded: every pass sends, consumes input, reports, or waits.
        loop {
            let now = self.clock.now();
            if let Some(n) = self.session.poll_transmit(now, &mut self.out) {
                return Step::Write(&self.out[..n]);
            }
            match self.session.poll_event() {
                Some(Event::OpenData(addr)) => return Step::Connect(addr),
                Some(Event::TransferStarted { .. }) if self.local_error.is_some() => {
                    let _ = self.session.data_finished(now, false);
                    continue;
                }
                Some(Event::TransferStarted { size }) => return Step::Transfer { size },
                Some(Event::Done(result)) => {
                    let result = match result {
                        Ok(reply) => {
                            self.last_number = reply.size();
                            Ok(self.moved)
                        }
                        Err(f) => Err(failure_error(f, self.data_error.take())),
                    };
                    return Step::Done(match self.local_error.take() {
                        Some(e) => Err(FtpError::Local(e)),
                        None => result,
                    });
                }
                Some(_) => continue,
                None => {}
            }
            if !self.session.output().is_empty() {
                continue;
            }
            let used = self.session.handle_bytes(now, &self.input);
            self.input.drain(..used);
            if used > 0 || !self.session.output().is_empty() {
                continue;
            }
            // Wait no longer than the session's own reply deadline, which a
            // server trickling bytes does not push back.
            match self.session.poll_timeout() {
                Some(deadline) if deadline <= now => self.session.handle_timeout(now),
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(now);
                    return Step::Read(wait.max(Duration::from_millis(1)));
                }
                None => return Step::Read(self.timeout),
            }
        }
    }

    /// How [`Step::Connect`] went.
    pub fn connected(&mut self, result: io::Result<()>) {
        let now = self.clock.now();
        match result {
            Ok(()) => drop(self.session.data_connected(now)),
            Err(e) => {
                self.data_error = Some(e.to_string());
                let _ = self.session.data_connect_failed(now);
            }
        }
    }

    /// How [`Step::Transfer`] went: the bytes moved, or the failure. A
    /// local failure aborts the transfer; the operation then ends with it.
    pub fn transferred(&mut self, result: Result<u64, FtpError>) {
        let now = self.clock.now();
        match result {
            Ok(n) => {
                self.moved = n;
                let _ = self.session.data_finished(now, true);
            }
            Err(FtpError::Local(e)) => {
                self.local_error = Some(e);
                let _ = self.session.abort(now);
            }
            Err(e) => {
                self.data_error = Some(e.to_string());
                let _ = self.session.data_finished(now, false);
            }
        }
    }

    /// What a [`Step::Read`] read: bytes (none at the end of the stream)
    /// or an error (a timeout is one the session handles).
    pub fn received(&mut self, read: io::Result<&[u8]>) -> Result<(), FtpError> {
        let now = self.clock.now();
        match read {
            Ok([]) => self.session.handle_close(now),
            Ok(bytes) => self.input.extend_from_slice(bytes),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.session.handle_timeout(now);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(match self.local_error.take() {
                    Some(local) => FtpError::Local(local),
                    None => FtpError::Io(e),
                });
            }
        }
        Ok(())
    }
}
