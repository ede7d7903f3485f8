//! FTP over OS sockets: [`FtpServer`], a [`Server`] serving FTP only, and
//! the blocking [`FtpClient`].
//!
//! Both drive the core machines of [`netboot_core::ftp`] (the server, the
//! core's [`Endpoint`](netboot_core::ftp::server::Endpoint), which decides
//! which connections to take, every reply and every transfer); this module
//! only moves bytes between sockets, files and those machines. On Linux a
//! `TYPE I` download leaves through `sendfile(2)` and a `TYPE I` upload
//! (other than `APPE`) arrives through `splice(2)`.
//!
//! What the server is configured with and checks its logins against is
//! shared with the async server and lives in [`netboot_std::ftp`]:
//! [`FtpConfig`], the password hashes ([`netboot_std::ftp::auth`]), and the
//! checked roots and accounts ([`netboot_std::ftp::site`]).

pub mod client;

pub use client::{FtpClient, FtpError};

use std::io;
use std::net::SocketAddr;

use netboot_std::ftp::FtpConfig;
use netboot_std::setup::ServerSetup;

use crate::server::{NetbootHandle, Server, Stopper};

/// An FTP server running on its own thread.
///
/// ```
/// use netboot_mio::ftp::FtpServer;
/// use netboot_std::ftp::FtpConfig;
///
/// let root = tempfile::tempdir().unwrap();
/// let config = FtpConfig {
///     root: root.path().into(),
///     listen: "127.0.0.1:0".parse().unwrap(),
///     anonymous: true,
///     ..FtpConfig::default()
/// };
/// let server = FtpServer::start(&config).unwrap();
/// assert_ne!(server.addr().port(), 0);
/// server.shutdown().unwrap();
/// ```
#[derive(Debug)]
pub struct FtpServer {
    addr: SocketAddr,
    handle: NetbootHandle,
}

impl FtpServer {
    /// The server `config` describes, serving FTP only, bound.
    pub fn bind(config: &FtpConfig) -> io::Result<Server> {
        Server::bind(
            ServerSetup::new(&config.root)
                .no_bootp()
                .no_tftp()
                .ftp(config.clone()),
        )
    }

    /// Binds (errors name their cause), then runs the server on a new
    /// thread.
    pub fn start(config: &FtpConfig) -> io::Result<FtpServer> {
        let server = FtpServer::bind(config)?;
        let addr = server.ftp_addr().unwrap_or(config.listen);
        Ok(FtpServer {
            addr,
            handle: server.spawn()?,
        })
    }

    /// The control listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server (from a signal handler).
    pub fn stopper(&self) -> Stopper {
        self.handle.stopper()
    }

    /// Stops the server: sessions get `421`, partial uploads are discarded.
    pub fn shutdown(self) -> io::Result<()> {
        self.handle.shutdown()
    }

    /// Waits until the server stops.
    pub fn join(self) -> io::Result<()> {
        self.handle.join()
    }
}
