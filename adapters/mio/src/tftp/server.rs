//! The embeddable TFTP server: a builder that binds, and a handle to the
//! server running on its own event-loop thread.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use netboot_core::tftp::rto::RtoConfig;
use netboot_core::tftp::{Server, ServerConfig};
use netboot_core::time::Duration;
use netboot_std::fs::FsStore;
use netboot_std::net::{UdpOptions, bind_udp, explain_bind_error};
pub use netboot_std::net::{address_for_listener as address_for, reachable};

use super::client::Client;
use super::service::{Completion, OnComplete, TftpService};
use crate::runtime::{EventLoop, LoopHandle, Stopper};

/// Builds a TFTP server: where it serves from, where it listens, what it
/// allows.
///
/// ```
/// use netboot_mio::tftp::TftpServer;
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("boot.bin"), b"kernel").unwrap();
/// let server = TftpServer::new(root.path())
///     .bind("127.0.0.1:0".parse().unwrap())
///     .max_blksize(1468)
///     .spawn()
///     .unwrap();
/// let addr = server.local_addr();
/// assert_ne!(addr.port(), 0);
/// // The address a host on this machine would use to reach the server.
/// assert_eq!(server.address_for("127.0.0.1".parse().unwrap()).unwrap(), addr);
///
/// let local = root.path().join("copy.bin");
/// server.client().get("boot.bin", &local).unwrap();
/// assert_eq!(std::fs::read(&local).unwrap(), b"kernel");
/// server.shutdown().unwrap();
/// ```
pub struct TftpServer {
    root: PathBuf,
    binds: Vec<SocketAddr>,
    default_bind: SocketAddr,
    config: ServerConfig,
    max_transfers: usize,
    on_complete: Option<OnComplete>,
    verbose: bool,
    busy_poll: Duration,
}

/// How long [`TftpServer::spawn`]'s loop keeps polling without sleeping
/// after traffic, by default (see [`EventLoop::busy_poll`]).
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(200);

impl TftpServer {
    /// A read-only server of `root`, to listen on `0.0.0.0:69` unless
    /// [`TftpServer::bind`] says otherwise.
    pub fn new(root: impl AsRef<Path>) -> Self {
        TftpServer {
            root: root.as_ref().to_path_buf(),
            binds: Vec::new(),
            default_bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 69),
            config: ServerConfig::default(),
            max_transfers: 1024,
            busy_poll: DEFAULT_BUSY_POLL,
            on_complete: None,
            verbose: false,
        }
    }

    /// The embeddable server of the seed documents (`InternalTftp(ip_address
    /// = None, port = 0, verbose = False)`): a read-only server of `root` on
    /// every address, on a port the system picks, unless
    /// [`TftpServer::address`] and [`TftpServer::port`] say otherwise.
    ///
    /// ```
    /// use netboot_mio::tftp::TftpServer;
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// let work = tempfile::tempdir().unwrap();
    /// std::fs::write(work.path().join("kernel"), b"vmlinuz").unwrap();
    /// let server = TftpServer::embedded(root.path()).verbose(true).spawn().unwrap();
    /// assert!(server.local_addr().ip().is_unspecified());
    /// assert_ne!(server.local_addr().port(), 0);
    /// // The address a host would use: loopback, from this machine.
    /// let seen = server.address_for("127.0.0.1".parse().unwrap()).unwrap();
    /// assert_eq!(seen.to_string(), format!("127.0.0.1:{}", server.local_addr().port()));
    ///
    /// // Copy a file into the served directory, fetch it over TFTP, copy it out.
    /// server.put_file(work.path().join("kernel"), "boot/kernel").unwrap();
    /// server.client().get("boot/kernel", work.path().join("via-tftp")).unwrap();
    /// server.get_file("boot/kernel", work.path().join("copied")).unwrap();
    /// assert_eq!(std::fs::read(work.path().join("via-tftp")).unwrap(), b"vmlinuz");
    /// assert_eq!(std::fs::read(work.path().join("copied")).unwrap(), b"vmlinuz");
    /// server.shutdown().unwrap();
    /// ```
    pub fn embedded(root: impl AsRef<Path>) -> Self {
        TftpServer::new(root).port(0)
    }

    /// The address to listen on when no [`TftpServer::bind`] is given
    /// (`None`: every IPv4 address).
    pub fn address(mut self, ip: Option<IpAddr>) -> Self {
        self.default_bind
            .set_ip(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        self
    }

    /// The port to listen on when no [`TftpServer::bind`] is given (69 for
    /// [`TftpServer::new`], 0, any free port, for
    /// [`TftpServer::embedded`]).
    pub fn port(mut self, port: u16) -> Self {
        self.default_bind.set_port(port);
        self
    }

    /// Prints one line per finished transfer on standard error (peer,
    /// request, file, bytes, time or failure), besides the `tracing` logs.
    pub fn verbose(mut self, yes: bool) -> Self {
        self.verbose = yes;
        self
    }

    /// tftpy's `TftpServer(root).listen(address, port)`: binds `ip:port`
    /// and serves on a background thread; [`ServerHandle::join`] then waits
    /// as tftpy's `listen` does, [`ServerHandle::shutdown`] stops it.
    ///
    /// ```
    /// use netboot_mio::tftp::TftpServer;
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// let server = TftpServer::new(root.path()).listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    /// assert_eq!(server.local_addr().ip().to_string(), "127.0.0.1");
    /// server.shutdown().unwrap();
    /// ```
    pub fn listen(self, ip: IpAddr, port: u16) -> io::Result<ServerHandle> {
        self.bind(SocketAddr::new(ip, port)).spawn()
    }

    /// Listens on `addr` (may be given several times; port 0 picks a free
    /// port; `[::]` accepts IPv4 too).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.binds.push(addr);
        self
    }

    /// Accepts uploads (new files only, unless [`TftpServer::overwrite`]).
    pub fn writable(mut self, yes: bool) -> Self {
        self.config.writable = yes;
        self
    }

    /// Lets uploads replace existing files.
    pub fn overwrite(mut self, yes: bool) -> Self {
        self.config.overwrite = yes;
        self
    }

    /// Caps the negotiated `blksize` (8..=65464).
    pub fn max_blksize(mut self, n: u16) -> Self {
        self.config.limits.max_blksize = n.clamp(8, 65464);
        self
    }

    /// Caps the negotiated `windowsize` (at least 1).
    pub fn max_windowsize(mut self, n: u16) -> Self {
        self.config.limits.max_windowsize = n.max(1);
        self
    }

    /// Acknowledges a client's `timeout` option and then retransmits exactly
    /// that often, instead of declining it and adapting to the measured
    /// round trip (the default).
    pub fn accept_timeout(mut self, yes: bool) -> Self {
        self.config.limits.accept_timeout = yes;
        self
    }

    /// Refuses uploads larger than `bytes` (ERROR 3).
    pub fn max_upload(mut self, bytes: Option<u64>) -> Self {
        self.config.limits.max_upload = bytes;
        self
    }

    /// Limits how many transfers run at once (default 1024).
    pub fn max_transfers(mut self, n: usize) -> Self {
        self.max_transfers = n.max(1);
        self
    }

    /// How long the server's loop keeps polling without sleeping after
    /// traffic ([`DEFAULT_BUSY_POLL`]; zero: sleep at once). It takes a
    /// scheduler wake-up off each lockstep round trip at the price of CPU
    /// time while transfers run; see [`EventLoop::busy_poll`].
    pub fn busy_poll(mut self, spin: Duration) -> Self {
        self.busy_poll = spin;
        self
    }

    /// The loop's spin after traffic, as set by [`TftpServer::busy_poll`].
    pub(crate) fn spin(&self) -> Duration {
        self.busy_poll
    }

    /// Consecutive timeouts before a transfer is abandoned (default 8).
    pub fn max_retries(mut self, n: u8) -> Self {
        self.config.transfer.max_retries = n;
        self
    }

    /// Least time a silent peer is retried before its transfer is abandoned
    /// (default 10 s; see `TransferConfig::give_up_after`).
    pub fn give_up_after(mut self, d: Duration) -> Self {
        self.config.transfer.give_up_after = d;
        self
    }

    /// Bounds of the adaptive retransmission timeout.
    pub fn rto(mut self, rto: RtoConfig) -> Self {
        self.config.transfer.rto = rto;
        self
    }

    /// Least time to linger after the final ACK of an upload.
    pub fn dally(mut self, d: Duration) -> Self {
        self.config.transfer.dally = d;
        self
    }

    /// Calls `f` on the event-loop thread whenever a transfer ends.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use netboot_mio::tftp::TftpServer;
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// std::fs::write(root.path().join("stage1"), b"x").unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// let server = TftpServer::new(root.path())
    ///     .bind("127.0.0.1:0".parse().unwrap())
    ///     .on_complete(move |c| { let _ = tx.send(c.clone()); })
    ///     .spawn()
    ///     .unwrap();
    /// server.client().get("stage1", root.path().join("out")).unwrap();
    /// let done = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    /// assert_eq!((done.path.as_str(), done.bytes, done.is_success()), ("stage1", 1, true));
    /// ```
    pub fn on_complete(mut self, f: impl FnMut(&Completion) + Send + 'static) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }

    /// Opens the root and binds the listening sockets, for adding the
    /// service to an [`EventLoop`] of your own.
    pub fn build(self) -> io::Result<TftpService> {
        Ok(self.build_with_root()?.0)
    }

    fn build_with_root(self) -> io::Result<(TftpService, PathBuf)> {
        let parts = self.into_parts()?;
        let root = parts.store.root_path().to_path_buf();
        let service = TftpService::new(
            parts.listeners,
            parts.server,
            parts.store,
            parts.max_transfers,
            parts.on_complete,
        )?;
        Ok((service, root))
    }

    /// Opens the root and binds the listening sockets, and hands over what
    /// a server is made of, for another runtime to drive (the async
    /// adapter does).
    pub fn into_parts(self) -> io::Result<ServerParts> {
        let store = FsStore::open(&self.root, self.config.writable).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open root {}: {e}", self.root.display()),
            )
        })?;
        let binds = if self.binds.is_empty() {
            vec![self.default_bind]
        } else {
            self.binds
        };
        let mut listeners = Vec::new();
        for addr in binds {
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
            server: Server::new(self.config),
            store,
            max_transfers: self.max_transfers,
            on_complete: verbose_completion(self.verbose, self.on_complete),
        })
    }

    /// Binds and runs the server on its own thread.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let spin = self.busy_poll;
        let (service, root) = self.build_with_root()?;
        let addrs = service.local_addrs().to_vec();
        let mut ev = EventLoop::new()?;
        ev.busy_poll(spin);
        ev.add(Box::new(service));
        let handle = ev.spawn("netboot-tftp")?;
        Ok(ServerHandle {
            handle,
            addrs,
            root,
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
pub(crate) fn verbose_completion(verbose: bool, inner: Option<OnComplete>) -> Option<OnComplete> {
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
///
/// ```
/// use netboot_core::tftp::{Direction, TransferError};
/// use netboot_core::wire::tftp::Mode;
/// use netboot_mio::tftp::{Completion, describe_completion};
///
/// let mut c = Completion {
///     peer: "192.0.2.9:1069".parse().unwrap(),
///     path: "boot.bin".into(),
///     direction: Direction::Read,
///     mode: Mode::Octet,
///     bytes: 1024,
///     result: Ok(()),
///     peer_message: None,
///     elapsed: std::time::Duration::from_millis(12),
/// };
/// assert_eq!(describe_completion(&c), "tftp: 192.0.2.9:1069 RRQ boot.bin: 1024 bytes in 12ms");
/// c.result = Err(TransferError::Cancelled);
/// assert_eq!(describe_completion(&c), "tftp: 192.0.2.9:1069 RRQ boot.bin failed after 1024 bytes: transfer cancelled");
/// ```
pub fn describe_completion(c: &Completion) -> String {
    let request = match c.direction {
        netboot_core::tftp::Direction::Read => "RRQ",
        netboot_core::tftp::Direction::Write => "WRQ",
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

/// A TFTP server running in the background. Dropping it stops it.
pub struct ServerHandle {
    handle: LoopHandle,
    addrs: Vec<SocketAddr>,
    root: PathBuf,
}

impl ServerHandle {
    /// The (first) address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every address the server listens on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The server's address as seen from `host`: the local address that
    /// routes to `host`, with the server's port. For a server bound to a
    /// specific address that address is returned as it is.
    pub fn address_for(&self, host: IpAddr) -> io::Result<SocketAddr> {
        address_for(&self.addrs, host)
    }

    /// A blocking client aimed at this server (through loopback when it
    /// listens on a wildcard address).
    pub fn client(&self) -> Client {
        Client::new(reachable(self.local_addr()))
    }

    /// The canonical path of the served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Copies the host file `local` into the served directory as `remote`
    /// (the seed's `put_file(src, dest)`), whatever the server's own upload
    /// policy: the file appears whole or not at all. Returns its size.
    pub fn put_file(&self, local: impl AsRef<Path>, remote: &str) -> io::Result<u64> {
        netboot_std::fs::put_file(&self.root, local.as_ref(), remote)
    }

    /// Copies `remote` out of the served directory into the host file
    /// `local` (the seed's `get_file(src, dest)`). Returns its size.
    pub fn get_file(&self, remote: &str, local: impl AsRef<Path>) -> io::Result<u64> {
        netboot_std::fs::get_file(&self.root, remote, local.as_ref())
    }

    /// A handle that stops the server from another thread (or a signal
    /// handler).
    pub fn stopper(&self) -> Stopper {
        self.handle.stopper()
    }

    /// True once the server thread has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Stops the server: running transfers are cancelled (their peers get
    /// ERROR 0, partial uploads are discarded) and the thread is joined.
    pub fn shutdown(self) -> io::Result<()> {
        self.handle.shutdown()
    }

    /// Waits until the server stops (after a [`Stopper::stop`]).
    pub fn join(self) -> io::Result<()> {
        self.handle.join()
    }
}
