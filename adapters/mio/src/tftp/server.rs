//! The embeddable TFTP server: a builder that binds, and a handle to the
//! server running on its own event-loop thread.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use netboot_core::tftp::rto::RtoConfig;
use netboot_core::tftp::{Server, ServerConfig};
use netboot_core::time::Duration;

use super::client::Client;
use super::service::{Completion, OnComplete, TftpService};
use crate::fs::FsStore;
use crate::net::{UdpOptions, bind_udp, explain_bind_error};
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
    config: ServerConfig,
    max_transfers: usize,
    on_complete: Option<OnComplete>,
}

impl TftpServer {
    /// A read-only server of `root`, to listen on `0.0.0.0:69` unless
    /// [`TftpServer::bind`] says otherwise.
    pub fn new(root: impl AsRef<Path>) -> Self {
        TftpServer {
            root: root.as_ref().to_path_buf(),
            binds: Vec::new(),
            config: ServerConfig::default(),
            max_transfers: 1024,
            on_complete: None,
        }
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
        let store = FsStore::open(&self.root, self.config.writable).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot open root {}: {e}", self.root.display()),
            )
        })?;
        let binds = if self.binds.is_empty() {
            vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 69)]
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
        TftpService::new(
            listeners,
            Server::new(self.config),
            store,
            self.max_transfers,
            self.on_complete,
        )
    }

    /// Binds and runs the server on its own thread.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let service = self.build()?;
        let addrs = service.local_addrs().to_vec();
        let mut ev = EventLoop::new()?;
        ev.add(Box::new(service));
        let handle = ev.spawn("netboot-tftp")?;
        Ok(ServerHandle { handle, addrs })
    }
}

/// A TFTP server running in the background. Dropping it stops it.
pub struct ServerHandle {
    handle: LoopHandle,
    addrs: Vec<SocketAddr>,
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
        let listen = self
            .addrs
            .iter()
            .find(|a| a.is_ipv4() == host.is_ipv4() || a.ip().is_unspecified())
            .unwrap_or(&self.addrs[0]);
        if !listen.ip().is_unspecified() {
            return Ok(*listen);
        }
        Ok(SocketAddr::new(
            crate::net::address_for(host)?,
            listen.port(),
        ))
    }

    /// A blocking client aimed at this server (through loopback when it
    /// listens on a wildcard address).
    pub fn client(&self) -> Client {
        let a = self.local_addr();
        let ip = match a.ip() {
            IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        Client::new(SocketAddr::new(ip, a.port()))
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
