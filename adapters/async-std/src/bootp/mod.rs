//! BOOTP/DHCP as async APIs: the server ([`BootpServer`] → [`BootpService`]
//! or [`BootpHandle`]) and the client ([`request`]).
//!
//! The server is the core's BOOTP/DHCP server as the core composition runs
//! it ([`NetbootService`] with BOOTP alone): its socket has `SO_BROADCAST`
//! and, when an interface is named, `SO_BINDTODEVICE`; leases are saved
//! before the address they hand out is acknowledged, and restored at
//! start. The client runs the core client prepared by
//! [`netboot_std::client::bootp::prepare`] and returns an [`Assigned`].

mod client;

pub use client::request;
pub use netboot_std::client::bootp::{Assigned, RequestError, RequestOptions};

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::server::ServerConfig;
use netboot_std::setup::ServerSetup;

use crate::Stopper;
use crate::netboot::{NetbootHandle, NetbootService};

/// Builds a BOOTP/DHCP server: its subnet and pool, its host table, where
/// it listens, where it keeps its leases.
///
/// ```
/// use netboot_async_std::bootp::{request, BootpServer, RequestOptions};
/// use netboot_core::bootp::{HwAddr, hosts::Host, server::ServerConfig};
///
/// let mut config = ServerConfig::new("127.0.0.1".parse().unwrap(), "255.0.0.0".parse().unwrap());
/// config.file = netboot_core::bootp::hosts::bounded("boot.img", "file", 127).unwrap();
/// let hw = HwAddr::ethernet([2, 0, 0, 0, 0, 7]);
/// let mut host = Host::new(hw);
/// host.ip = Some("127.0.0.10".parse().unwrap());
/// async_std::task::block_on(async {
///     let server = BootpServer::new(config)
///         .hosts(vec![host])
///         .listen("127.0.0.1:0".parse().unwrap())
///         .spawn()
///         .unwrap();
///     let mut options = RequestOptions::new(hw);
///     options.server = Some(server.local_addr());
///     options.client_port = 0;
///     let got = request(&options).await.unwrap();
///     assert_eq!(got.ip.to_string(), "127.0.0.10");
///     assert_eq!(got.file.as_deref(), Some("boot.img"));
///     server.shutdown().await.unwrap();
/// });
/// ```
#[derive(Clone, Debug)]
pub struct BootpServer {
    setup: ServerSetup,
}

impl BootpServer {
    /// A server with these settings, on `0.0.0.0:67` unless
    /// [`BootpServer::listen`] says otherwise.
    pub fn new(config: ServerConfig) -> Self {
        // BOOTP serves no file: the setup's root is never read.
        let setup = ServerSetup::new("/").no_tftp().no_ftp().bootp(config);
        BootpServer { setup }
    }

    /// The host table (fixed addresses, per-host files).
    pub fn hosts(mut self, hosts: Vec<Host>) -> Self {
        self.setup = self.setup.hosts(hosts);
        self
    }

    /// Where to listen.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.setup = self.setup.bootp_listen(addr);
        self
    }

    /// Binds to this interface (`SO_BINDTODEVICE`, which needs
    /// `CAP_NET_RAW`) and broadcasts through it.
    pub fn interface(mut self, name: &str) -> io::Result<Self> {
        self.setup = self.setup.interface(name)?;
        Ok(self)
    }

    /// Keeps leases in `path`: restored at start, saved as they change
    /// (before the address is acknowledged) and when the server stops.
    pub fn lease_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.setup = self.setup.lease_file(path);
        self
    }

    /// Restores the leases and binds the socket (errors come back here,
    /// with their cause); run the result on any executor.
    pub fn build(self) -> io::Result<BootpService> {
        NetbootService::build(self.setup).map(BootpService)
    }

    /// Binds and runs the server as an async-std task.
    pub fn spawn(self) -> io::Result<BootpHandle> {
        Ok(BootpHandle(self.build()?.0.spawn()))
    }
}

/// A bound BOOTP/DHCP server, ready to [`run`](BootpService::run).
pub struct BootpService(NetbootService);

impl BootpService {
    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.0.bootp_addr().expect("a BOOTP service listens")
    }

    /// A handle that stops [`BootpService::run`].
    pub fn stopper(&self) -> Stopper {
        self.0.stopper()
    }

    /// Serves until stopped; saves the leases before it resolves.
    pub async fn run(self) -> io::Result<()> {
        self.0.run().await
    }
}

/// A BOOTP/DHCP server running as an async-std task.
pub struct BootpHandle(NetbootHandle);

impl BootpHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.0.bootp_addr().expect("a BOOTP service listens")
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        self.0.stopper()
    }

    /// Stops the server (leases are saved) and waits for it.
    pub async fn shutdown(self) -> io::Result<()> {
        self.0.shutdown().await
    }
}
