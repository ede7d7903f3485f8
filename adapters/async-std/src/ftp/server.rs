//! The async FTP server: a control listener and every session, in one
//! future.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_std::io::WriteExt;
use async_std::net::{TcpListener, TcpStream};
use futures_lite::future;
use futures_util::stream::{FuturesUnordered, StreamExt};
use netboot_core::ftp::server::TOO_MANY_SESSIONS;
use netboot_mio::legacy::ftp::{OnTransfer, TransferRecord};
use netboot_std::ftp::site::{Site, listen};
use netboot_std::ftp::{FtpConfig, auth};

use super::session::Session;
use crate::stop::{StopSignal, Stopper};

/// What every session of one server shares.
pub(super) struct Shared {
    pub(super) site: Site,
    /// Checked for unknown users, so a refusal takes as long either way.
    pub(super) dummy_hash: String,
    /// Told about every transfer that ends.
    pub(super) on_transfer: Mutex<Option<OnTransfer>>,
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
pub struct FtpService {
    listener: TcpListener,
    local: SocketAddr,
    shared: Arc<Shared>,
    max_sessions: usize,
    max_per_ip: usize,
    stopper: Stopper,
    signal: StopSignal,
}

type SessionTask = Pin<Box<dyn Future<Output = IpAddr> + Send>>;

enum Wake {
    Accepted(io::Result<(TcpStream, SocketAddr)>),
    Ended(Option<IpAddr>),
    Stop,
}

impl FtpService {
    /// Binds the control listener and opens the stores; errors (an address
    /// in use, a missing root, a malformed hash) come back here.
    pub fn bind(config: &FtpConfig) -> io::Result<FtpService> {
        let site = Site::open(config)?;
        let listener = listen(config.listen)?;
        let local = listener.local_addr()?;
        let dummy_hash = auth::hash_password("netboot-dummy-password").map_err(io::Error::other)?;
        let (stopper, signal) = Stopper::new();
        Ok(FtpService {
            listener: TcpListener::from(listener),
            local,
            shared: Arc::new(Shared {
                site,
                dummy_hash,
                on_transfer: Mutex::new(None),
            }),
            max_sessions: config.max_sessions.max(1),
            max_per_ip: config.max_sessions_per_ip.max(1),
            stopper,
            signal,
        })
    }

    /// The address the control listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A handle that stops [`FtpService::run`].
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Calls `f` whenever a data transfer ends (a combined server's
    /// per-client lines), as the mio service does.
    pub fn on_transfer(self, f: impl FnMut(&TransferRecord) + Send + 'static) -> Self {
        *self
            .shared
            .on_transfer
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Box::new(f));
        self
    }

    /// Stops with `stopper` (one stopper for several servers).
    pub(crate) fn stopped_by(mut self, stopper: &Stopper, signal: &StopSignal) -> Self {
        self.stopper = stopper.clone();
        self.signal = signal.clone();
        self
    }

    /// Serves until stopped. On stop every session gets `421`, running
    /// transfers end, partial uploads are discarded, and the future resolves
    /// once every session has closed.
    pub async fn run(self) -> io::Result<()> {
        let mut sessions: FuturesUnordered<SessionTask> = FuturesUnordered::new();
        let mut per_ip: HashMap<IpAddr, usize> = HashMap::new();
        tracing::info!(addr = %self.local, "ftp: listening");
        loop {
            let wake = future::or(
                async { Wake::Accepted(self.listener.accept().await) },
                future::or(
                    async {
                        if sessions.is_empty() {
                            future::pending::<()>().await;
                        }
                        Wake::Ended(sessions.next().await)
                    },
                    async {
                        self.signal.wait().await;
                        Wake::Stop
                    },
                ),
            )
            .await;
            match wake {
                Wake::Accepted(Ok((mut stream, peer))) => {
                    let ip = peer.ip().to_canonical();
                    let from_ip = per_ip.get(&ip).copied().unwrap_or(0);
                    if sessions.len() >= self.max_sessions || from_ip >= self.max_per_ip {
                        let _ = future::or(
                            async { stream.write_all(TOO_MANY_SESSIONS.as_bytes()).await },
                            async {
                                async_io::Timer::after(std::time::Duration::from_secs(1)).await;
                                Ok(())
                            },
                        )
                        .await;
                        tracing::info!(%peer, "ftp: refused: too many sessions");
                        continue;
                    }
                    *per_ip.entry(ip).or_insert(0) += 1;
                    let session =
                        Session::new(self.shared.clone(), stream, peer, self.signal.clone());
                    sessions.push(Box::pin(async move {
                        session.run().await;
                        ip
                    }));
                }
                Wake::Accepted(Err(e)) => {
                    // EMFILE and the like: wait a little before retrying.
                    tracing::warn!(error = %e, "ftp: accept failed");
                    async_io::Timer::after(std::time::Duration::from_millis(50)).await;
                }
                Wake::Ended(Some(ip)) => {
                    if let Some(n) = per_ip.get_mut(&ip) {
                        *n -= 1;
                        if *n == 0 {
                            per_ip.remove(&ip);
                        }
                    }
                }
                Wake::Ended(None) => {}
                Wake::Stop => break,
            }
        }
        while sessions.next().await.is_some() {}
        Ok(())
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
pub struct FtpServer {
    addr: SocketAddr,
    stopper: Stopper,
    task: async_std::task::JoinHandle<io::Result<()>>,
}

impl FtpServer {
    /// Binds, then runs the server as an async-std task.
    pub fn start(config: &FtpConfig) -> io::Result<FtpServer> {
        let service = FtpService::bind(config)?;
        Ok(FtpServer {
            addr: service.local_addr(),
            stopper: service.stopper(),
            task: async_std::task::spawn(service.run()),
        })
    }

    /// The control listener's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Stops the server: sessions get `421`, partial uploads are discarded.
    pub async fn shutdown(self) -> io::Result<()> {
        self.stopper.stop();
        self.task.await
    }

    /// Waits until the server stops.
    pub async fn join(self) -> io::Result<()> {
        self.task.await
    }
}
