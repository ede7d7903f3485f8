//! FTP as async APIs: the server ([`FtpService`], [`FtpServer`]) and the
//! client ([`FtpClient`]).
//!
//! The server is the core's FTP endpoint
//! ([`netboot_core::ftp::server::Endpoint`]) run by this crate's one
//! driver ([`NetbootService`] with FTP alone), configured by the same
//! [`FtpConfig`] as the mio server and checked by the same
//! [`Site`](netboot_std::ftp::site::Site) (roots opened as jailed
//! [`FsStore`](netboot_std::fs::FsStore)s, argon2 password hashes checked
//! on the std layer's worker thread). Data moves through the driver's
//! buffer (no `sendfile`/`splice`).

mod client;

pub use client::FtpClient;
pub use netboot_std::client::ftp::FtpError;
pub use netboot_std::ftp::{FtpConfig, FtpUser};

use std::io;
use std::net::SocketAddr;

use netboot_std::setup::ServerSetup;

use crate::Stopper;
use crate::netboot::{NetbootHandle, NetbootService};

/// The server `config` describes, FTP alone.
fn setup(config: &FtpConfig) -> ServerSetup {
    ServerSetup::new(&config.root).no_tftp().ftp(config.clone())
}

/// A bound FTP server, ready to [`run`](FtpService::run) on any executor.
///
/// ```
/// use netboot_async_std::ftp::{FtpClient, FtpConfig, FtpService};
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("hello.txt"), b"hello over FTP").unwrap();
/// let service = FtpService::bind(&FtpConfig {
///     root: root.path().into(),
///     listen: "127.0.0.1:0".parse().unwrap(),
///     anonymous: true,
///     ..FtpConfig::default()
/// }).unwrap();
/// let (addr, stopper) = (service.local_addr(), service.stopper());
/// smol::block_on(async {
///     let server = smol::spawn(service.run());
///     let mut ftp = FtpClient::connect(addr).await.unwrap();
///     ftp.login("anonymous", "guest@").await.unwrap();
///     let mut data = Vec::new();
///     ftp.get("hello.txt", 6, &mut data).await.unwrap();
///     assert_eq!(data, b"over FTP");
///     ftp.quit().await.unwrap();
///     stopper.stop();
///     server.await.unwrap();
/// });
/// ```
pub struct FtpService(NetbootService);

impl FtpService {
    /// Opens the stores, checks the accounts and binds the control
    /// listener; errors (an address in use, a missing root, a malformed
    /// hash) come back here.
    pub fn bind(config: &FtpConfig) -> io::Result<FtpService> {
        NetbootService::build(setup(config)).map(FtpService)
    }

    /// The address the control listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.0.ftp_addr().expect("an FTP service listens")
    }

    /// A handle that stops [`FtpService::run`].
    pub fn stopper(&self) -> Stopper {
        self.0.stopper()
    }

    /// Serves until stopped. On stop every session gets `421`, running
    /// transfers end, partial uploads are discarded, and the future
    /// resolves once every session has closed.
    pub async fn run(self) -> io::Result<()> {
        self.0.run().await
    }
}

/// An FTP server running as an async-std task.
///
/// ```
/// use netboot_async_std::ftp::{FtpConfig, FtpServer};
///
/// let root = tempfile::tempdir().unwrap();
/// async_std::task::block_on(async {
///     let server = FtpServer::start(&FtpConfig {
///         root: root.path().into(),
///         listen: "127.0.0.1:0".parse().unwrap(),
///         anonymous: true,
///         ..FtpConfig::default()
///     }).unwrap();
///     assert_ne!(server.addr().port(), 0);
///     server.shutdown().await.unwrap();
/// });
/// ```
pub struct FtpServer(NetbootHandle);

impl FtpServer {
    /// Binds, then runs the server as an async-std task.
    pub fn start(config: &FtpConfig) -> io::Result<FtpServer> {
        Ok(FtpServer(FtpService::bind(config)?.0.spawn()))
    }

    /// The control listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.0.ftp_addr().expect("an FTP service listens")
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        self.0.stopper()
    }

    /// Stops the server: sessions get `421`, partial uploads are discarded.
    pub async fn shutdown(self) -> io::Result<()> {
        self.0.shutdown().await
    }

    /// Waits until the server stops.
    pub async fn join(self) -> io::Result<()> {
        self.0.join().await
    }
}
