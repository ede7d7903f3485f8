//! FTP over OS sockets: the server [`FtpService`] for the mio event loop and
//! the blocking [`FtpClient`].
//!
//! Both drive the core machines of [`netboot_core::ftp`]; this module only
//! moves bytes between sockets, files and those machines.
//!
//! * [`server`][]: [`FtpService`] and [`FtpServer`] (a service on its own loop);
//! * [`client`][]: [`FtpClient`].
//!
//! What the server is configured with and checks its logins against is
//! shared with the async server and lives in [`netboot_std::ftp`]:
//! [`FtpConfig`], the password hashes and verifier thread
//! ([`netboot_std::ftp::auth`]), and the checked roots, accounts and
//! listeners ([`netboot_std::ftp::site`]).

pub mod client;
pub mod server;

pub use client::{FtpClient, FtpError};
pub use server::{FtpService, OnTransfer, TransferRecord};

use std::io;
use std::net::SocketAddr;

use netboot_std::ftp::FtpConfig;

use crate::runtime::{EventLoop, LoopHandle};

/// An FTP server running on its own event-loop thread.
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
pub struct FtpServer {
    addr: SocketAddr,
    handle: LoopHandle,
}

impl FtpServer {
    /// Binds, then runs the server on a new thread.
    pub fn start(config: &FtpConfig) -> io::Result<FtpServer> {
        let service = FtpService::bind(config)?;
        let addr = service.local_addr();
        let mut ev = EventLoop::new()?;
        ev.add(Box::new(service));
        let handle = ev.spawn("ftp-server")?;
        Ok(FtpServer { addr, handle })
    }

    /// The control listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The loop's handle (to stop it from a signal handler).
    pub fn handle(&self) -> &LoopHandle {
        &self.handle
    }

    /// Stops the server: sessions get `421`, partial uploads are discarded.
    pub fn shutdown(self) -> io::Result<()> {
        self.handle.shutdown()
    }

    /// Waits until the loop ends.
    pub fn join(self) -> io::Result<()> {
        self.handle.join()
    }
}
