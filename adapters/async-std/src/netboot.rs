//! The whole server as one future: BOOTP (with DHCP compatibility), TFTP
//! and FTP sharing one provisioning plan and one store of leases and
//! progress, as the core [`NetbootServer`](netboot_core::server::NetbootServer)
//! composes them, built from the runtime-neutral [`ServerSetup`] of
//! `netboot-std`.
//!
//! [`NetbootService::build`] prepares the server (the root, the accounts,
//! the saved leases and progress) and binds every listening socket, so that
//! a port that cannot be bound is reported there, with the way out named.
//! [`NetbootService::run`] is the one future that serves everything; a
//! [`Stopper`] ends it cleanly: TFTP transfers in flight are cancelled
//! (their clients get ERROR 0), FTP sessions get `421`, partial uploads are
//! discarded, and leases and progress are saved.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use netboot_core::bootp::HwAddr;
use netboot_core::server::Event;
use netboot_std::setup::HostServer;
pub use netboot_std::setup::ServerSetup;

use crate::Stopper;
use crate::driver::{Addrs, Driver, lock};

/// The combined server, bound and ready to [`run`](NetbootService::run)
/// on any executor.
///
/// ```
/// use std::net::Ipv4Addr;
/// use netboot_async_std::netboot::{NetbootService, ServerSetup};
/// use netboot_async_std::tftp::Client;
/// use netboot_core::bootp::server::ServerConfig;
/// use netboot_core::plan::{ProfileTable, Reset};
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("stage1"), b"first").unwrap();
/// let mut plan = ProfileTable::new();
/// plan.set_default(&["stage1"]).unwrap();
/// let mut bootp = ServerConfig::new(Ipv4Addr::LOCALHOST, Ipv4Addr::new(255, 0, 0, 0));
/// bootp.net.pool = Some((Ipv4Addr::new(127, 0, 9, 1), Ipv4Addr::new(127, 0, 9, 20)));
/// let service = NetbootService::build(
///     ServerSetup::new(root.path())
///         .bootp(bootp)
///         .bootp_listen("127.0.0.1:0".parse().unwrap())
///         .tftp_listen("127.0.0.1:0".parse().unwrap())
///         .ftp_listen("127.0.0.1:0".parse().unwrap())
///         .plan(plan, Reset::Never),
/// )
/// .unwrap();
/// let tftp = service.tftp_addrs()[0];
/// assert!(service.bootp_addr().is_some() && service.ftp_addr().is_some());
/// let stopper = service.stopper();
/// smol::block_on(async {
///     let server = smol::spawn(service.run());
///     Client::new(tftp).get("stage1", root.path().join("got")).await.unwrap();
///     stopper.stop();
///     server.await.unwrap();
/// });
/// assert_eq!(std::fs::read(root.path().join("got")).unwrap(), b"first");
/// ```
pub struct NetbootService {
    driver: Driver,
    server: Arc<Mutex<HostServer>>,
    addrs: Addrs,
}

impl NetbootService {
    /// Prepares the server `setup` describes and binds its listening
    /// sockets; errors name the cause (a missing root, a bad subnet, an
    /// unreadable lease file, a port that cannot be bound and why).
    pub fn build(setup: ServerSetup) -> io::Result<NetbootService> {
        let (driver, server) = Driver::build(setup)?;
        Ok(NetbootService {
            driver,
            addrs: Addrs::of(&server),
            server: Arc::new(Mutex::new(server)),
        })
    }

    /// Calls `f` with every event of the server once it runs (after it is
    /// logged): each client step, transfer and session; see
    /// [`Event::is_step`] for the lines a server prints by default. `f`
    /// runs on the server's task while it holds the server, so it must not
    /// call [`NetbootHandle::stage_of`] (which would wait for itself).
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use netboot_async_std::netboot::{NetbootService, ServerSetup};
    /// use netboot_async_std::tftp::Client;
    /// use netboot_core::server::Event;
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// std::fs::write(root.path().join("boot.bin"), b"x").unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// let service = NetbootService::build(
    ///     ServerSetup::new(root.path()).no_ftp().tftp_listen("127.0.0.1:0".parse().unwrap()),
    /// )
    /// .unwrap()
    /// .on_event(move |e| if e.is_step() { let _ = tx.send(e.to_string()); });
    /// let (addr, stopper) = (service.tftp_addrs()[0], service.stopper());
    /// smol::block_on(async {
    ///     let server = smol::spawn(service.run());
    ///     Client::new(addr).get("boot.bin", root.path().join("got")).await.unwrap();
    ///     stopper.stop();
    ///     server.await.unwrap();
    /// });
    /// let line = rx.try_recv().unwrap();
    /// assert!(line.starts_with("tftp: 127.0.0.1:") && line.contains(" RRQ boot.bin done, 1 bytes"), "{line}");
    /// ```
    pub fn on_event(mut self, f: impl FnMut(&Event) + Send + 'static) -> Self {
        self.driver.on_event(Box::new(f));
        self
    }

    /// Where BOOTP listens, if it runs.
    pub fn bootp_addr(&self) -> Option<SocketAddr> {
        self.addrs.bootp
    }

    /// Where TFTP listens (empty if it does not run).
    pub fn tftp_addrs(&self) -> &[SocketAddr] {
        &self.addrs.tftp
    }

    /// Where FTP listens, if it runs.
    pub fn ftp_addr(&self) -> Option<SocketAddr> {
        self.addrs.ftp
    }

    /// The stage client `hw` gets next (its stage count once finished), if
    /// the plan tracks it (restored progress included).
    pub fn stage_of(&self, hw: &HwAddr) -> Option<usize> {
        lock(&self.server).stage_of(hw)
    }

    /// A handle that stops [`NetbootService::run`].
    pub fn stopper(&self) -> Stopper {
        self.driver.stopper()
    }

    /// Serves until stopped; resolves once the server has closed (every
    /// transfer and session ended, or a two-second grace passed) and its
    /// state is saved.
    pub fn run(self) -> impl Future<Output = io::Result<()>> + Send + 'static {
        self.driver.run(self.server)
    }

    /// Runs the server as an async-std task.
    pub fn spawn(self) -> NetbootHandle {
        NetbootHandle {
            addrs: self.addrs.clone(),
            server: self.server.clone(),
            stopper: self.stopper(),
            task: async_std::task::spawn(self.run()),
        }
    }
}

/// The combined server running as an async-std task.
pub struct NetbootHandle {
    addrs: Addrs,
    server: Arc<Mutex<HostServer>>,
    stopper: Stopper,
    task: async_std::task::JoinHandle<io::Result<()>>,
}

impl NetbootHandle {
    /// Where BOOTP listens, if it runs.
    pub fn bootp_addr(&self) -> Option<SocketAddr> {
        self.addrs.bootp
    }

    /// Where TFTP listens (empty if it does not run).
    pub fn tftp_addrs(&self) -> &[SocketAddr] {
        &self.addrs.tftp
    }

    /// Where FTP listens, if it runs.
    pub fn ftp_addr(&self) -> Option<SocketAddr> {
        self.addrs.ftp
    }

    /// The stage client `hw` gets next (its stage count once finished), if
    /// the plan tracks it.
    pub fn stage_of(&self, hw: &HwAddr) -> Option<usize> {
        lock(&self.server).stage_of(hw)
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Stops the server cleanly and waits for it.
    pub async fn shutdown(self) -> io::Result<()> {
        self.stopper.stop();
        self.task.await
    }

    /// Waits until the server stops.
    pub async fn join(self) -> io::Result<()> {
        self.task.await
    }
}
