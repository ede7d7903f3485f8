//! FTP over OS sockets: the server [`FtpService`] for the mio event loop and
//! the blocking [`FtpClient`].
//!
//! Both drive the core machines of [`netboot_core::ftp`]; this module only
//! moves bytes between sockets, files and those machines.
//!
//! * [`config`][]: [`FtpConfig`], the `[ftp]` table of the configuration file;
//! * [`auth`][]: argon2 password hashes and the verifier thread;
//! * [`server`][]: [`FtpService`] and [`FtpServer`] (a service on its own loop);
//! * [`site`][]: [`site::Site`], the checked roots and accounts, and the
//!   listeners;
//! * [`client`][]: [`FtpClient`].

pub mod auth;
pub mod client;
pub mod config;
pub mod server;
pub mod site;

pub use client::{FtpClient, FtpError};
pub use config::{FtpConfig, FtpUser};
pub use server::{FtpService, OnTransfer, TransferRecord};

use std::io;
use std::net::SocketAddr;

use crate::runtime::{EventLoop, LoopHandle};

/// An FTP server running on its own event-loop thread.
///
/// ```
/// use netboot_mio::ftp::{FtpConfig, FtpServer};
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
