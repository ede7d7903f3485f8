//! The BOOTP/DHCP server driver the async-std adapter still runs on
//! (transitional, see [`crate::legacy`]): the core server, its lease file
//! saved at most once a second, and its observer.

use std::io;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::leases::LeaseSlot;
use netboot_core::bootp::policy::{BootPolicy, DefaultPolicy};
use netboot_core::bootp::server::{Event, Server};
use netboot_core::time::Instant;
use netboot_std::leasefile;
use netboot_std::net::{UdpOptions, bind_udp};

/// The core server with the storage this adapter gives it.
pub type CoreServer<P = DefaultPolicy> = Server<Vec<Host>, Vec<LeaseSlot>, P>;

/// Called with every server event (after the service has logged it).
pub type Observer<P> = Box<dyn FnMut(&Event, &CoreServer<P>) + Send>;

/// How often, at most, the lease file is rewritten.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// Binds the server socket: `SO_BROADCAST`, `SO_REUSEADDR`, and
/// `SO_BINDTODEVICE` when `interface` is given.
///
/// ```
/// let s = netboot_mio::legacy::bootp::bind("127.0.0.1:0".parse().unwrap(), None).unwrap();
/// assert_ne!(s.local_addr().unwrap().port(), 0);
/// ```
pub fn bind(listen: SocketAddr, interface: Option<&str>) -> io::Result<UdpSocket> {
    bind_udp(
        listen,
        &UdpOptions {
            broadcast: true,
            reuse_address: true,
            interface,
            recv_buffer: Some(4 << 20),
            send_buffer: Some(4 << 20),
        },
    )
}

/// Everything the BOOTP server does besides owning a socket: the core
/// server, its lease file and its observer. The mio service and the async
/// server of `netboot-async-std` both drive one.
pub struct BootpDriver<P: BootPolicy + Send + 'static = DefaultPolicy> {
    server: CoreServer<P>,
    lease_file: Option<PathBuf>,
    dirty: bool,
    saved_at: Option<Instant>,
    observer: Option<Observer<P>>,
    send: Box<[u8]>,
}

impl<P: BootPolicy + Send + 'static> BootpDriver<P> {
    /// A driver for `server`, without a lease file.
    pub fn new(server: CoreServer<P>) -> Self {
        BootpDriver {
            server,
            lease_file: None,
            dirty: false,
            saved_at: None,
            observer: None,
            send: vec![0; 1500].into_boxed_slice(),
        }
    }

    /// Keeps leases in `path`: restores those it holds now (warning about
    /// lines it cannot read) and saves them whenever they change.
    pub fn with_lease_file(mut self, path: impl Into<PathBuf>, now: Instant) -> io::Result<Self> {
        let path = path.into();
        let (leases, bad) = leasefile::load(&path, now)?;
        for b in bad {
            tracing::warn!("{}:{}: ignored lease: {}", path.display(), b.line, b.error);
        }
        for lease in &leases {
            if !self.server.restore(lease) {
                tracing::warn!(
                    "{}: lease for {} no longer fits the pool; dropped",
                    path.display(),
                    lease.ip
                );
            }
        }
        tracing::info!("restored {} leases from {}", leases.len(), path.display());
        self.lease_file = Some(path);
        Ok(self)
    }

    /// Calls `observer` with every event.
    pub fn on_event(mut self, observer: Observer<P>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The core server.
    pub fn server(&self) -> &CoreServer<P> {
        &self.server
    }

    /// The core server, mutably.
    pub fn server_mut(&mut self) -> &mut CoreServer<P> {
        &mut self.server
    }

    /// Feeds one datagram and sends the answers through `send` (a
    /// broadcast the kernel cannot route is retried to the subnet's own
    /// broadcast address).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        send: &mut dyn FnMut(&[u8], SocketAddr) -> io::Result<()>,
    ) {
        self.server.handle_datagram(now, from, bytes);
        while let Some(t) = self.server.poll_transmit(now, &mut self.send) {
            let bytes = &self.send[..t.len];
            match send(bytes, t.destination) {
                Ok(()) => {}
                Err(e) if t.broadcast && e.raw_os_error() == Some(libc::ENETUNREACH) => {
                    // No route for the limited broadcast (no interface bound,
                    // no default route): use the subnet's own broadcast.
                    let directed =
                        SocketAddrV4::new(self.server.config().broadcast(), t.destination.port());
                    if let Err(e) = send(bytes, directed.into()) {
                        tracing::warn!("bootp: cannot send to {directed}: {e}");
                    }
                }
                Err(e) => tracing::warn!("bootp: cannot send to {}: {e}", t.destination),
            }
        }
        while let Some(event) = self.server.poll_event() {
            log(&event);
            if event == Event::LeasesChanged {
                self.dirty = true;
            }
            if let Some(observer) = self.observer.as_mut() {
                observer(&event, &self.server);
            }
        }
    }

    /// When the lease file is next due to be saved.
    pub fn deadline(&self) -> Option<Instant> {
        if !self.dirty || self.lease_file.is_none() {
            return None;
        }
        Some(self.saved_at.map_or(Instant::ZERO, |at| at + SAVE_INTERVAL))
    }

    /// Saves the leases if that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.dirty && self.deadline().is_some_and(|d| d <= now) {
            self.save(now);
        }
    }

    /// Saves unsaved leases before the server stops.
    pub fn shutdown(&mut self, now: Instant) {
        if self.dirty {
            self.save(now);
        }
    }

    fn save(&mut self, now: Instant) {
        self.dirty = false;
        self.saved_at = Some(now);
        if let Some(path) = &self.lease_file
            && let Err(e) = leasefile::save(path, self.server.leases(), now)
        {
            tracing::error!("cannot save leases to {}: {e}", path.display());
        }
    }
}

fn log(event: &Event) {
    match event {
        Event::LeasesChanged => {}
        Event::Declined { .. } => tracing::warn!("{event}"),
        e if e.is_client_step() => tracing::info!("{event}"),
        _ => tracing::debug!("{event}"),
    }
}
