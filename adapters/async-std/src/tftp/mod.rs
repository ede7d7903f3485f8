//! TFTP as async APIs: the server ([`TftpServer`] → [`TftpService`] or
//! [`ServerHandle`]) and the [`Client`].
//!
//! The server is the core's TFTP endpoint
//! ([`netboot_core::tftp::Endpoint`]) run by this crate's one driver
//! ([`NetbootService`] with TFTP alone): each accepted transfer gets its
//! own ephemeral UDP socket (its TID), a repeated request from a peer whose
//! transfer is running is dropped, the served root is a jailed
//! [`FsStore`](netboot_std::fs::FsStore), uploads are written aside and
//! appear only when complete, at most `max_transfers` run at once, and each
//! finished transfer is reported as a [`Completion`]. Datagrams leave one
//! per system call (no segmentation offload).

mod client;

pub use client::Client;
pub use netboot_core::tftp::Completion;
pub use netboot_std::client::tftp::{ClientError, Progress, Settings, Stats};

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub use netboot_std::tftp_server::OnComplete;
use netboot_std::tftp_server::TftpServerSetup;

use crate::Stopper;
use crate::netboot::{NetbootHandle, NetbootService};

/// Builds a TFTP server: where it serves from, where it listens, what it
/// allows.
///
/// ```
/// use netboot_async_std::tftp::TftpServer;
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("boot.bin"), b"kernel").unwrap();
/// async_std::task::block_on(async {
///     let server = TftpServer::new(root.path())
///         .bind("127.0.0.1:0".parse().unwrap())
///         .max_blksize(1468)
///         .spawn()
///         .unwrap();
///     let local = root.path().join("copy.bin");
///     server.client().get("boot.bin", &local).await.unwrap();
///     assert_eq!(std::fs::read(&local).unwrap(), b"kernel");
///     server.shutdown().await.unwrap();
/// });
/// ```
pub struct TftpServer {
    root: PathBuf,
    setup: TftpServerSetup,
}

impl TftpServer {
    /// A read-only server of `root`, to listen on `0.0.0.0:69` unless
    /// [`TftpServer::bind`] says otherwise.
    pub fn new(root: impl AsRef<Path>) -> Self {
        TftpServer {
            root: root.as_ref().to_path_buf(),
            setup: TftpServerSetup::new(root),
        }
    }

    /// The seed's embeddable server (`InternalTftp(ip_address = None, port =
    /// 0, verbose = False)`): every address, a port the system picks.
    ///
    /// ```
    /// use netboot_async_std::tftp::TftpServer;
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// let work = tempfile::tempdir().unwrap();
    /// std::fs::write(work.path().join("kernel"), b"vmlinuz").unwrap();
    /// async_std::task::block_on(async {
    ///     let server = TftpServer::embedded(root.path()).verbose(true).spawn().unwrap();
    ///     assert!(server.local_addr().ip().is_unspecified());
    ///     assert_ne!(server.local_addr().port(), 0);
    ///     let seen = server.address_for("127.0.0.1".parse().unwrap()).unwrap();
    ///     assert_eq!(seen.port(), server.local_addr().port());
    ///
    ///     server.put_file(work.path().join("kernel"), "boot/kernel").await.unwrap();
    ///     server.client().get("boot/kernel", work.path().join("via-tftp")).await.unwrap();
    ///     server.get_file("boot/kernel", work.path().join("copied")).await.unwrap();
    ///     server.shutdown().await.unwrap();
    /// });
    /// assert_eq!(std::fs::read(work.path().join("via-tftp")).unwrap(), b"vmlinuz");
    /// assert_eq!(std::fs::read(work.path().join("copied")).unwrap(), b"vmlinuz");
    /// ```
    pub fn embedded(root: impl AsRef<Path>) -> Self {
        TftpServer::new(root).port(0)
    }

    netboot_std::tftp_server_setters!(setup);

    /// Opens the root and binds the listening sockets (errors come back
    /// here, with their cause); run the result with [`TftpService::run`]
    /// on any executor.
    pub fn build(self) -> io::Result<TftpService> {
        let (setup, hook) = self.setup.finish();
        let mut service = NetbootService::build(setup)?;
        if let Some(hook) = hook {
            service = service.on_event(hook);
        }
        Ok(TftpService {
            root: std::fs::canonicalize(&self.root)?,
            service,
        })
    }

    /// Binds and runs the server as an async-std task.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let service = self.build()?;
        Ok(ServerHandle {
            root: service.root,
            handle: service.service.spawn(),
        })
    }

    /// tftpy's `TftpServer(root).listen(address, port)`: binds `ip:port` and
    /// serves as an async-std task.
    ///
    /// ```
    /// use netboot_async_std::tftp::TftpServer;
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// async_std::task::block_on(async {
    ///     let server = TftpServer::new(root.path()).listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    ///     assert_eq!(server.local_addr().ip().to_string(), "127.0.0.1");
    ///     server.shutdown().await.unwrap();
    /// });
    /// ```
    pub fn listen(self, ip: IpAddr, port: u16) -> io::Result<ServerHandle> {
        self.bind(SocketAddr::new(ip, port)).spawn()
    }
}

/// A bound TFTP server, ready to [`run`](TftpService::run) on any executor.
pub struct TftpService {
    root: PathBuf,
    service: NetbootService,
}

impl TftpService {
    /// The addresses the listening sockets are bound to.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.service.tftp_addrs()
    }

    /// The (first) listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs()[0]
    }

    /// A handle that stops [`TftpService::run`].
    pub fn stopper(&self) -> Stopper {
        self.service.stopper()
    }

    /// Serves until stopped. On stop, running transfers are cancelled (the
    /// peer gets ERROR 0, partial uploads are discarded) and the future
    /// resolves once every transfer has ended.
    pub async fn run(self) -> io::Result<()> {
        self.service.run().await
    }
}

/// A TFTP server running as an async-std task.
pub struct ServerHandle {
    root: PathBuf,
    handle: NetbootHandle,
}

impl ServerHandle {
    /// The (first) address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs()[0]
    }

    /// Every address the server listens on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        self.handle.tftp_addrs()
    }

    /// The server's address as seen from `host`: the local address that
    /// routes to `host`, with the server's port (see
    /// [`netboot_std::net::address_for_listener`]).
    pub fn address_for(&self, host: IpAddr) -> io::Result<SocketAddr> {
        netboot_std::net::address_for_listener(self.local_addrs(), host)
    }

    /// An async client aimed at this server (through loopback when it
    /// listens on a wildcard address).
    pub fn client(&self) -> Client {
        Client::new(netboot_std::net::reachable(self.local_addr()))
    }

    /// The canonical path of the served directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Copies the host file `local` into the served directory as `remote`,
    /// whole or not at all (the seed's `put_file`). Returns its size.
    pub async fn put_file(&self, local: impl AsRef<Path>, remote: &str) -> io::Result<u64> {
        let (root, local, remote) = (
            self.root.clone(),
            local.as_ref().to_path_buf(),
            remote.to_string(),
        );
        blocking::unblock(move || netboot_std::fs::put_file(&root, &local, &remote)).await
    }

    /// Copies `remote` out of the served directory into the host file
    /// `local` (the seed's `get_file`). Returns its size.
    pub async fn get_file(&self, remote: &str, local: impl AsRef<Path>) -> io::Result<u64> {
        let (root, local, remote) = (
            self.root.clone(),
            local.as_ref().to_path_buf(),
            remote.to_string(),
        );
        blocking::unblock(move || netboot_std::fs::get_file(&root, &remote, &local)).await
    }

    /// A handle that stops the server from anywhere.
    pub fn stopper(&self) -> Stopper {
        self.handle.stopper()
    }

    /// Stops the server: running transfers are cancelled (their peers get
    /// ERROR 0, partial uploads are discarded); resolves when it has ended.
    pub async fn shutdown(self) -> io::Result<()> {
        self.handle.shutdown().await
    }

    /// Waits until the server stops (after a [`Stopper::stop`]).
    pub async fn join(self) -> io::Result<()> {
        self.handle.join().await
    }
}
