//! The TFTP server pieces the async-std adapter still runs on
//! (transitional, see [`crate::legacy`]): its own [`Completion`] record and
//! a builder that binds the listening sockets and hands over what a server
//! is made of ([`TftpServer::into_parts`]), configured through the same
//! settings as [`crate::tftp::TftpServer`].

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use netboot_core::tftp::rto::RtoConfig;
use netboot_core::tftp::{Direction, Server, TransferError};
use netboot_core::wire::tftp::Mode;
use netboot_std::fs::FsStore;
use netboot_std::net::{UdpOptions, bind_udp, explain_bind_error};

/// What the service reports when a transfer ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The client's address (IPv4-mapped addresses are shown as IPv4).
    pub peer: SocketAddr,
    /// The normalised path inside the served root.
    pub path: String,
    /// `Read` for an RRQ (the client downloaded), `Write` for a WRQ.
    pub direction: Direction,
    /// Transfer mode.
    pub mode: Mode,
    /// File bytes sent (acknowledged) or stored.
    pub bytes: u64,
    /// `Ok` when the whole file went through (and, for uploads, was
    /// committed).
    pub result: Result<(), TransferError>,
    /// The client's ERROR message, when it sent one.
    pub peer_message: Option<String>,
    /// Time from the request to the end.
    pub elapsed: Duration,
}

impl Completion {
    /// True when the transfer succeeded.
    pub fn is_success(&self) -> bool {
        self.result.is_ok()
    }
}

/// Logs a finished transfer (one `tracing` line).
pub fn log_completion(c: &Completion) {
    match &c.result {
        Ok(()) => tracing::info!(
            "tftp: {}: {} {} done, {} bytes in {:?}",
            c.peer,
            c.direction,
            c.path,
            c.bytes,
            c.elapsed
        ),
        Err(e) => tracing::info!("tftp: {}: {} {} failed: {e}", c.peer, c.direction, c.path),
    }
}

/// A completion callback.
pub type OnComplete = Box<dyn FnMut(&Completion) + Send>;

/// The async-std adapter's TFTP builder: every setting of
/// [`crate::tftp::TftpServer`], and [`TftpServer::into_parts`].
pub struct TftpServer {
    inner: crate::tftp::TftpServer,
    on_complete: Option<OnComplete>,
}

/// Settings passed through to [`crate::tftp::TftpServer`].
macro_rules! settings {
    ($($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*);)*) => {$(
        $(#[$doc])*
        pub fn $name(self, $($arg: $ty),*) -> Self {
            TftpServer {
                inner: self.inner.$name($($arg),*),
                on_complete: self.on_complete,
            }
        }
    )*};
}

impl TftpServer {
    /// See [`crate::tftp::TftpServer::new`].
    pub fn new(root: impl AsRef<Path>) -> Self {
        TftpServer {
            inner: crate::tftp::TftpServer::new(root),
            on_complete: None,
        }
    }

    /// See [`crate::tftp::TftpServer::embedded`].
    pub fn embedded(root: impl AsRef<Path>) -> Self {
        TftpServer::new(root).port(0)
    }

    settings! {
        /// See [`crate::tftp::TftpServer::address`].
        address(ip: Option<IpAddr>);
        /// See [`crate::tftp::TftpServer::port`].
        port(port: u16);
        /// See [`crate::tftp::TftpServer::verbose`].
        verbose(yes: bool);
        /// See [`crate::tftp::TftpServer::bind`].
        bind(addr: SocketAddr);
        /// See [`crate::tftp::TftpServer::writable`].
        writable(yes: bool);
        /// See [`crate::tftp::TftpServer::overwrite`].
        overwrite(yes: bool);
        /// See [`crate::tftp::TftpServer::max_blksize`].
        max_blksize(n: u16);
        /// See [`crate::tftp::TftpServer::max_windowsize`].
        max_windowsize(n: u16);
        /// See [`crate::tftp::TftpServer::accept_timeout`].
        accept_timeout(yes: bool);
        /// See [`crate::tftp::TftpServer::max_upload`].
        max_upload(bytes: Option<u64>);
        /// See [`crate::tftp::TftpServer::max_transfers`].
        max_transfers(n: usize);
        /// See [`crate::tftp::TftpServer::busy_poll`].
        busy_poll(spin: netboot_core::time::Duration);
        /// See [`crate::tftp::TftpServer::max_retries`].
        max_retries(n: u8);
        /// See [`crate::tftp::TftpServer::give_up_after`].
        give_up_after(d: netboot_core::time::Duration);
        /// See [`crate::tftp::TftpServer::rto`].
        rto(rto: RtoConfig);
        /// See [`crate::tftp::TftpServer::dally`].
        dally(d: netboot_core::time::Duration);
    }

    /// Calls `f` whenever a transfer ends.
    pub fn on_complete(mut self, f: impl FnMut(&Completion) + Send + 'static) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }

    /// Opens the root and binds the listening sockets, and hands over what
    /// a server is made of, for another runtime to drive.
    pub fn into_parts(self) -> io::Result<ServerParts> {
        let settings = self.inner.settings();
        let writable = settings.config.server.writable;
        let store = FsStore::open(settings.root, writable).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open root {}: {e}", settings.root.display()),
            )
        })?;
        let mut listeners = Vec::new();
        for addr in settings.listen {
            let options = UdpOptions {
                recv_buffer: Some(1 << 20),
                ..UdpOptions::default()
            };
            let socket = bind_udp(addr, &options)
                .map_err(|e| io::Error::new(e.kind(), explain_bind_error(addr, &e)))?;
            listeners.push(socket);
        }
        Ok(ServerParts {
            listeners,
            server: Server::new(settings.config.server),
            store,
            max_transfers: settings.config.max_transfers,
            on_complete: verbose_completion(settings.verbose, self.on_complete),
        })
    }
}

/// A TFTP server taken apart by [`TftpServer::into_parts`]: bound,
/// configured, not running.
pub struct ServerParts {
    /// The bound, non-blocking listening sockets.
    pub listeners: Vec<std::net::UdpSocket>,
    /// The core request handler with its policy.
    pub server: Server,
    /// The opened root.
    pub store: FsStore,
    /// Most transfers at once.
    pub max_transfers: usize,
    /// The completion callback (with the verbose line when asked for).
    pub on_complete: Option<OnComplete>,
}

/// The completion callback with the verbose line added in front of it.
fn verbose_completion(verbose: bool, inner: Option<OnComplete>) -> Option<OnComplete> {
    if !verbose {
        return inner;
    }
    let mut inner = inner;
    Some(Box::new(move |c: &Completion| {
        eprintln!("{}", describe_completion(c));
        if let Some(f) = inner.as_mut() {
            f(c);
        }
    }))
}

/// One line describing a finished transfer, as the verbose switch prints it.
pub fn describe_completion(c: &Completion) -> String {
    let request = match c.direction {
        Direction::Read => "RRQ",
        Direction::Write => "WRQ",
    };
    match &c.result {
        Ok(()) => format!(
            "tftp: {} {request} {}: {} bytes in {:?}",
            c.peer, c.path, c.bytes, c.elapsed
        ),
        Err(e) => format!(
            "tftp: {} {request} {} failed after {} bytes: {e}",
            c.peer, c.path, c.bytes
        ),
    }
}
