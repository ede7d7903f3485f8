//! What a TFTP client is on any std runtime: its settings, the core
//! transfer they prepare with its local file, and how the transfer's end
//! reads as a result. The mio and async clients drive the [`Prepared`]
//! transfer that [`Settings::prepare_get`] and [`Settings::prepare_put`]
//! return on their own sockets: they only move datagrams and sleep.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};

use netboot_core::storage::StoreError;
use netboot_core::tftp::client::ClientTransfer;
use netboot_core::tftp::options::{Negotiated, Request};
pub use netboot_core::tftp::rto::RtoConfig;
use netboot_core::tftp::{TransferConfig, TransferError};
use netboot_core::time::Instant;
pub use netboot_core::wire::tftp::Mode;

use crate::fs::FsStore;
use crate::net::{UdpOptions, bind_udp};

/// How far a transfer has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// File bytes transferred so far.
    pub bytes: u64,
    /// The file size, when known (`tsize`, or the local file on a put).
    pub total: Option<u64>,
}

/// What a finished transfer reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// File bytes transferred.
    pub bytes: u64,
    /// Time from the request to the end of the transfer.
    pub elapsed: std::time::Duration,
    /// The option values the transfer ran with.
    pub negotiated: Negotiated,
}

/// Why a get or put failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Local {
        /// The local file.
        path: PathBuf,
        /// What went wrong.
        source: StoreError,
    },
    /// A socket operation failed.
    #[error("network: {0}")]
    Io(#[from] io::Error),
    /// The transfer failed.
    #[error("{}", describe(error, message))]
    Transfer {
        /// The failure.
        error: TransferError,
        /// The server's ERROR message, if any.
        message: String,
    },
}

fn describe(error: &TransferError, message: &str) -> String {
    match error {
        TransferError::Peer { code } if message.is_empty() => format!("server: {code}"),
        TransferError::Peer { code } => format!("server: {message} ({})", code.to_u16()),
        e => e.to_string(),
    }
}

/// A progress callback.
pub type OnProgress = Box<dyn FnMut(Progress) + Send>;

/// What a TFTP client asks for (the seed's `ExternalTftp`, tftpy's
/// `TftpClient`): the server, the options, the mode, the retry policy
/// and a progress callback. A builder.
///
/// ```
/// use netboot_std::client::tftp::Settings;
/// use netboot_core::wire::tftp::Mode;
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("up.txt"), b"text").unwrap();
/// let s = Settings::for_host("192.0.2.7".parse().unwrap()).blksize(1468).mode(Mode::Netascii);
/// assert_eq!(s.server().to_string(), "192.0.2.7:69");
/// let p = s.prepare_put(&root.path().join("up.txt"), "up.txt").unwrap();
/// assert_eq!(p.client.total(), Some(4));
/// ```
pub struct Settings {
    server: SocketAddr,
    request: Request,
    tsize: bool,
    mode: Mode,
    config: TransferConfig,
    progress: Option<OnProgress>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("server", &self.server)
            .field("request", &self.request)
            .field("tsize", &self.tsize)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Settings {
    /// A client of the server at `server` (its request port, usually 69),
    /// with RFC 1350 defaults and `tsize` on.
    pub fn new(server: SocketAddr) -> Self {
        Settings {
            server,
            request: Request::default(),
            tsize: true,
            mode: Mode::Octet,
            config: TransferConfig::default(),
            progress: None,
        }
    }

    /// A client of the TFTP server at `host` on the well-known port 69.
    pub fn for_host(host: IpAddr) -> Self {
        Settings::new(SocketAddr::new(host, netboot_core::tftp::PORT))
    }

    /// The server's request address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Asks for this `blksize` (8..=65464; the server may lower it).
    pub fn blksize(mut self, n: u16) -> Self {
        self.request.blksize = Some(n.clamp(8, 65464));
        self
    }

    /// Asks for this `windowsize` (at least 1; the server may lower it).
    pub fn windowsize(mut self, n: u16) -> Self {
        self.request.windowsize = Some(n.max(1));
        self
    }

    /// Asks for a fixed retransmission `timeout` in seconds (1..=255);
    /// without it the timeout adapts to the measured round trip.
    pub fn timeout(mut self, secs: u8) -> Self {
        self.request.timeout = Some(secs.max(1));
        self
    }

    /// Asks for (get) or announces (put) the transfer size.
    pub fn tsize(mut self, yes: bool) -> Self {
        self.tsize = yes;
        self
    }

    /// Octet (default) or netascii.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Consecutive timeouts before giving up (default 8).
    pub fn retries(mut self, n: u8) -> Self {
        self.config.max_retries = n;
        self
    }

    /// Least time a silent server is retried before giving up (default
    /// 10 s; zero makes [`Settings::retries`] alone decide).
    pub fn give_up_after(mut self, d: std::time::Duration) -> Self {
        self.config.give_up_after = d;
        self
    }

    /// Bounds of the adaptive retransmission timeout.
    pub fn rto(mut self, rto: RtoConfig) -> Self {
        self.config.rto = rto;
        self
    }

    /// Calls `f` as the transfer progresses (a runtime calls it at most
    /// every 20 ms, and at the end).
    pub fn progress(mut self, f: impl FnMut(Progress) + Send + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Tells the progress callback, if any.
    pub fn report(&mut self, progress: Progress) {
        if let Some(f) = self.progress.as_mut() {
            f(progress);
        }
    }

    /// A non-blocking socket for a transfer with the server: any port of
    /// the server's address family, with large buffers (a download
    /// receives whole windows).
    pub fn socket(&self) -> io::Result<UdpSocket> {
        let any: IpAddr = if self.server.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let options = UdpOptions {
            recv_buffer: Some(4 << 20),
            send_buffer: Some(1 << 20),
            ..UdpOptions::default()
        };
        bind_udp(SocketAddr::new(any, 0), &options)
    }

    /// Opens the local file and builds the core transfer of a download of
    /// `remote` into `local` (a file, or a directory to put `remote`'s
    /// file name in), started at `Instant::ZERO` (the epoch of the clock
    /// that will drive it). The file is written aside.
    pub fn prepare_get(&self, remote: &str, local: &Path) -> Result<Prepared, ClientError> {
        let mut local = local.to_path_buf();
        if local.is_dir() {
            local.push(netboot_core::path::file_name(remote));
        }
        let mut request = self.request;
        request.tsize = (self.tsize && self.mode == Mode::Octet).then_some(0);
        self.prepare(local, true, |store, name| {
            let (now, config, server) = (Instant::ZERO, &self.config, self.server);
            ClientTransfer::get(store, now, config, server, remote, name, self.mode, request)
        })
    }

    /// Opens the local file and builds the core transfer of an upload of
    /// `local` as `remote`, started at `Instant::ZERO`.
    pub fn prepare_put(&self, local: &Path, remote: &str) -> Result<Prepared, ClientError> {
        let (mode, request, tsize) = (self.mode, self.request, self.tsize);
        self.prepare(local.to_path_buf(), false, |store, name| {
            let (now, config, server) = (Instant::ZERO, &self.config, self.server);
            ClientTransfer::put(
                store, now, config, server, name, remote, mode, request, tsize,
            )
        })
    }

    fn prepare(
        &self,
        local: PathBuf,
        write: bool,
        start: impl FnOnce(&mut FsStore, &str) -> Result<ClientTransfer<FsStore>, StoreError>,
    ) -> Result<Prepared, ClientError> {
        let (dir, name) = split(&local)?;
        let local_err = |source| ClientError::Local {
            path: local.clone(),
            source,
        };
        let mut store = FsStore::open(&dir, write).map_err(|e| local_err(io_store(&e)))?;
        let client = start(&mut store, &name).map_err(local_err)?;
        Ok(Prepared {
            client,
            store,
            local,
            last_report: std::time::Instant::now(),
        })
    }
}

/// A client transfer running: the core [`ClientTransfer`] with its local
/// file and the store (directory) it lives in. A runtime hands it the
/// datagrams and timeouts, calls [`Prepared::tick`] after each wake-up and
/// [`Prepared::result`] once the transfer has an outcome (it may keep
/// driving it until the transfer is closed, to answer a repeated final
/// DATA).
#[derive(Debug)]
pub struct Prepared {
    /// The transfer, started at `Instant::ZERO`, with its local file.
    pub client: ClientTransfer<FsStore>,
    /// The store the local file lives in (its directory).
    pub store: FsStore,
    local: PathBuf,
    last_report: std::time::Instant,
}

impl Prepared {
    /// Hands the transfer a datagram and drains it, sending through `send`.
    pub fn datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        rx: &mut [u8],
        tx: &mut [u8],
        send: &mut dyn FnMut(&[u8], SocketAddr),
    ) {
        let _ = self
            .client
            .handle_datagram(&mut self.store, now, from, rx, tx, send);
    }

    /// Hands the transfer a timeout and drains it.
    pub fn timeout(
        &mut self,
        now: Instant,
        tx: &mut [u8],
        send: &mut dyn FnMut(&[u8], SocketAddr),
    ) {
        let _ = self.client.handle_timeout(&mut self.store, now, tx, send);
    }

    /// The local file's path.
    pub fn local(&self) -> &Path {
        &self.local
    }

    /// Reports progress to `settings`' callback, at most every 20 ms.
    pub fn tick(&mut self, settings: &mut Settings) {
        if self.last_report.elapsed() >= std::time::Duration::from_millis(20) {
            self.last_report = std::time::Instant::now();
            self.report(settings);
        }
    }

    fn report(&self, settings: &mut Settings) {
        settings.report(Progress {
            bytes: self.client.transfer().bytes(),
            total: self.client.total(),
        });
    }

    /// Reports the last progress, closes the local file and returns the
    /// result of the transfer (`now` is the time of the end when the
    /// transfer never reported one).
    pub fn result(&mut self, settings: &mut Settings, now: Instant) -> Result<Stats, ClientError> {
        self.report(settings);
        self.client.discard(&mut self.store);
        let elapsed = self.client.ended_at().unwrap_or(now).since_epoch();
        let t = self.client.transfer();
        match self.client.result() {
            Some(Ok(bytes)) => Ok(Stats {
                bytes,
                elapsed,
                negotiated: t.negotiated(),
            }),
            Some(Err(TransferError::Storage(source))) => Err(ClientError::Local {
                path: self.local.clone(),
                source,
            }),
            Some(Err(error)) => Err(ClientError::Transfer {
                error,
                message: t.peer_message().to_string(),
            }),
            None => Err(ClientError::Transfer {
                error: TransferError::Cancelled,
                message: String::new(),
            }),
        }
    }
}

fn split(path: &Path) -> Result<(PathBuf, String), ClientError> {
    crate::fs::split_local(path).ok_or_else(|| ClientError::Local {
        path: path.to_path_buf(),
        source: StoreError::IsADirectory,
    })
}

fn io_store(e: &io::Error) -> StoreError {
    crate::fs::store_error(e)
}

/// Writes the builder methods of [`Settings`] (`blksize`, `windowsize`,
/// `timeout`, `tsize`, `mode`, `retries`, `give_up_after`, `rto`,
/// `progress`) on a runtime's client type, which must have a method
/// `fn map(self, f: impl FnOnce(Settings) -> Settings) -> Self`.
///
/// ```
/// use netboot_std::client::tftp::Settings;
///
/// pub struct Client(Settings);
/// impl Client {
///     fn map(self, f: impl FnOnce(Settings) -> Settings) -> Self {
///         Client(f(self.0))
///     }
///     netboot_std::tftp_client_setters!();
/// }
/// let c = Client(Settings::new("192.0.2.7:69".parse().unwrap())).blksize(1);
/// assert_eq!(c.0.server().port(), 69);
/// ```
#[macro_export]
macro_rules! tftp_client_setters {
    () => {
        /// Asks for this `blksize` (8..=65464; the server may lower it).
        pub fn blksize(self, n: u16) -> Self {
            self.map(|s| s.blksize(n))
        }

        /// Asks for this `windowsize` (at least 1; the server may lower it).
        pub fn windowsize(self, n: u16) -> Self {
            self.map(|s| s.windowsize(n))
        }

        /// Asks for a fixed retransmission `timeout` in seconds (1..=255);
        /// without it the timeout adapts to the measured round trip.
        pub fn timeout(self, secs: u8) -> Self {
            self.map(|s| s.timeout(secs))
        }

        /// Asks for (get) or announces (put) the transfer size.
        pub fn tsize(self, yes: bool) -> Self {
            self.map(|s| s.tsize(yes))
        }

        /// Octet (default) or netascii.
        pub fn mode(self, mode: $crate::client::tftp::Mode) -> Self {
            self.map(|s| s.mode(mode))
        }

        /// Consecutive timeouts before giving up (default 8).
        pub fn retries(self, n: u8) -> Self {
            self.map(|s| s.retries(n))
        }

        /// Least time a silent server is retried before giving up (default
        /// 10 s; zero makes `retries` alone decide).
        pub fn give_up_after(self, d: ::std::time::Duration) -> Self {
            self.map(|s| s.give_up_after(d))
        }

        /// Bounds of the adaptive retransmission timeout.
        pub fn rto(self, rto: $crate::client::tftp::RtoConfig) -> Self {
            self.map(|s| s.rto(rto))
        }

        /// Calls `f` as the transfer progresses (at most every 20 ms, and
        /// at the end).
        pub fn progress(
            self,
            f: impl FnMut($crate::client::tftp::Progress) + Send + 'static,
        ) -> Self {
            self.map(|s| s.progress(f))
        }
    };
}
