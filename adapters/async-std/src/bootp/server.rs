//! The async BOOTP/DHCP server: one socket, one future.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use async_std::net::UdpSocket;
use futures_lite::future;
use netboot_core::bootp::policy::{BootPolicy, DefaultPolicy};
use netboot_mio::legacy::bootp::{BootpDriver, CoreServer, Observer, bind};
use netboot_std::clock::Clock;

use crate::stop::{StopSignal, Stopper};
use crate::time::sleep_until;

/// The BOOTP/DHCP server on one UDP socket; run it with
/// [`BootpServer::run`] on any executor or [`BootpServer::spawn`] it on
/// async-std's.
pub struct BootpServer<P: BootPolicy + Send + 'static = DefaultPolicy> {
    socket: UdpSocket,
    local: SocketAddr,
    driver: BootpDriver<P>,
    clock: Clock,
    stopper: Stopper,
    signal: StopSignal,
}

enum Input {
    Datagram(io::Result<(usize, SocketAddr)>),
    Timeout,
    Stop,
}

impl<P: BootPolicy + Send + 'static> BootpServer<P> {
    /// Binds `listen` (`SO_BROADCAST`, and `SO_BINDTODEVICE` to `interface`
    /// when given) for `server`.
    pub fn bind(
        listen: SocketAddr,
        interface: Option<&str>,
        server: CoreServer<P>,
    ) -> io::Result<Self> {
        let socket = bind(listen, interface)?;
        Self::with_driver(socket, BootpDriver::new(server), Clock::new())
    }

    /// A server on a socket bound by [`bind`], with a driver already set
    /// up (lease file, observer) on `clock`.
    pub fn with_driver(
        socket: std::net::UdpSocket,
        driver: BootpDriver<P>,
        clock: Clock,
    ) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let local = socket.local_addr()?;
        let (stopper, signal) = Stopper::new();
        Ok(BootpServer {
            socket: UdpSocket::from(socket),
            local,
            driver,
            clock,
            stopper,
            signal,
        })
    }

    /// Stops with `stopper` (one stopper for several servers).
    pub(crate) fn stopped_by(mut self, stopper: &Stopper, signal: &StopSignal) -> Self {
        self.stopper = stopper.clone();
        self.signal = signal.clone();
        self
    }

    /// The core server.
    pub fn server(&self) -> &CoreServer<P> {
        self.driver.server()
    }

    /// Keeps leases in `path`: restores them now and saves them (atomically,
    /// at most once a second, and when the server stops) as they change.
    pub fn with_lease_file(mut self, path: impl Into<PathBuf>) -> io::Result<Self> {
        self.driver = self.driver.with_lease_file(path, self.clock.now())?;
        Ok(self)
    }

    /// Calls `observer` with every server event.
    pub fn on_event(mut self, observer: Observer<P>) -> Self {
        self.driver = self.driver.on_event(observer);
        self
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A handle that stops [`BootpServer::run`].
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Serves until stopped; saves unsaved leases before it resolves.
    pub async fn run(mut self) -> io::Result<()> {
        let mut recv = vec![0u8; 4096];
        tracing::info!("bootp: listening on {}", self.local);
        loop {
            let deadline = self.driver.deadline();
            let input = future::or(
                async { Input::Datagram(self.socket.recv_from(&mut recv).await) },
                future::or(
                    async {
                        sleep_until(&self.clock, deadline).await;
                        Input::Timeout
                    },
                    async {
                        self.signal.wait().await;
                        Input::Stop
                    },
                ),
            )
            .await;
            let now = self.clock.now();
            match input {
                Input::Datagram(Ok((n, from))) => {
                    let socket = &self.socket;
                    self.driver
                        .handle_datagram(now, from, &recv[..n], &mut |bytes, to| {
                            socket2::SockRef::from(socket)
                                .send_to(bytes, &to.into())
                                .map(|_| ())
                        });
                }
                Input::Datagram(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Input::Datagram(Err(e)) => tracing::warn!("bootp: receive failed: {e}"),
                Input::Timeout => self.driver.handle_timeout(now),
                Input::Stop => {
                    self.driver.shutdown(now);
                    return Ok(());
                }
            }
        }
    }

    /// Runs the server as an async-std task.
    pub fn spawn(self) -> BootpHandle {
        let local = self.local;
        let stopper = self.stopper();
        BootpHandle {
            local,
            stopper,
            task: async_std::task::spawn(self.run()),
        }
    }
}

/// A BOOTP server running as an async-std task.
pub struct BootpHandle {
    local: SocketAddr,
    stopper: Stopper,
    task: async_std::task::JoinHandle<io::Result<()>>,
}

impl BootpHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Stops the server (leases are saved) and waits for it.
    pub async fn shutdown(self) -> io::Result<()> {
        self.stopper.stop();
        self.task.await
    }
}
