//! The embeddable TFTP server: a builder of a [`Server`] that serves TFTP
//! only, and a handle to it running on its own thread.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use netboot_core::time::Duration;
pub use netboot_std::net::{address_for_listener as address_for, reachable};
pub use netboot_std::tftp_server::OnComplete;
use netboot_std::tftp_server::TftpServerSetup;

use super::client::Client;
use crate::server::{DEFAULT_BUSY_POLL, NetbootHandle, Server, Stopper};

/// Builds a TFTP server: where it serves from, where it listens, what it
/// allows. The core's [`Endpoint`](netboot_core::tftp::Endpoint) decides
/// everything; see [`netboot_core::tftp`] for the rules.
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
    setup: TftpServerSetup,
    busy_poll: Duration,
}

impl TftpServer {
    /// A read-only server of `root`, to listen on `0.0.0.0:69` unless
    /// [`TftpServer::bind`] says otherwise.
    pub fn new(root: impl AsRef<Path>) -> Self {
        TftpServer {
            setup: TftpServerSetup::new(root),
            busy_poll: DEFAULT_BUSY_POLL,
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

    netboot_std::tftp_server_setters!(setup);

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
    ///
    /// [`TftpServer::on_complete`]'s callback runs on the server's thread:
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use netboot_mio::tftp::TftpServer;
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// std::fs::write(root.path().join("stage1"), b"x").unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// let server = TftpServer::new(root.path())
    ///     .on_complete(move |c| { let _ = tx.send(c.clone()); })
    ///     .listen("127.0.0.1".parse().unwrap(), 0)
    ///     .unwrap();
    /// server.client().get("stage1", root.path().join("out")).unwrap();
    /// let done = rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    /// assert_eq!((done.path.as_str(), done.bytes, done.is_success()), ("stage1", 1, true));
    /// ```
    pub fn listen(self, ip: IpAddr, port: u16) -> io::Result<ServerHandle> {
        self.bind(SocketAddr::new(ip, port)).spawn()
    }

    /// How long the server's loop keeps polling without sleeping after
    /// traffic ([`DEFAULT_BUSY_POLL`]; zero: sleep at once); see
    /// [`Server::busy_poll`].
    pub fn busy_poll(mut self, spin: Duration) -> Self {
        self.busy_poll = spin;
        self
    }

    /// Opens the root and binds the listening sockets, without running
    /// anything: a [`Server`] serving TFTP only.
    pub fn build(self) -> io::Result<Server> {
        let (setup, hook) = self.setup.finish();
        let server = Server::bind(setup)?.busy_poll(self.busy_poll);
        Ok(match hook {
            Some(hook) => server.on_event(hook),
            None => server,
        })
    }

    /// Binds and runs the server on its own thread.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let server = self.build()?;
        let addrs = server.tftp_addrs();
        let root = server
            .core()
            .tftp()
            .map(|t| t.store().root_path().to_path_buf())
            .unwrap_or_default();
        Ok(ServerHandle {
            handle: server.spawn()?,
            addrs,
            root,
        })
    }
}

/// A TFTP server running in the background. Dropping it stops it.
pub struct ServerHandle {
    handle: NetbootHandle,
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
