//! The async TFTP server: a builder that binds, a service future that runs
//! every transfer inside itself, and a handle to a spawned server.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use async_std::net::UdpSocket;
use futures_lite::future;
use futures_util::stream::{FuturesUnordered, StreamExt};
use netboot_core::tftp::glue::{self, Accepted, Files};
use netboot_core::tftp::rto::RtoConfig;
use netboot_core::tftp::{Direction, Event, Server, Transfer};
use netboot_core::time::{Duration, Instant};
use netboot_core::wire::tftp::{MAX_PACKET_LEN, Packet};
use netboot_mio::legacy::tftp::{Completion, OnComplete};
use netboot_std::clock::Clock;
use netboot_std::fs::FsStore;
use netboot_std::net::{UdpOptions, bind_udp};

use super::{Client, send_now};
use crate::stop::{StopSignal, Stopper};
use crate::time::sleep_until;

/// Builds a TFTP server; the same settings as
/// [`netboot_mio::legacy::tftp::TftpServer`].
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
    inner: netboot_mio::legacy::tftp::TftpServer,
}

impl TftpServer {
    /// A read-only server of `root`, to listen on `0.0.0.0:69` unless
    /// [`TftpServer::bind`] says otherwise.
    pub fn new(root: impl AsRef<Path>) -> Self {
        netboot_mio::legacy::tftp::TftpServer::new(root).into()
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
        netboot_mio::legacy::tftp::TftpServer::embedded(root).into()
    }

    fn map(
        self,
        f: impl FnOnce(netboot_mio::legacy::tftp::TftpServer) -> netboot_mio::legacy::tftp::TftpServer,
    ) -> Self {
        f(self.inner).into()
    }

    /// Listens on `addr` (may be given several times; port 0 picks a free
    /// port; `[::]` accepts IPv4 too).
    pub fn bind(self, addr: SocketAddr) -> Self {
        self.map(|s| s.bind(addr))
    }

    /// The address to listen on when no [`TftpServer::bind`] is given
    /// (`None`: every IPv4 address).
    pub fn address(self, ip: Option<IpAddr>) -> Self {
        self.map(|s| s.address(ip))
    }

    /// The port to listen on when no [`TftpServer::bind`] is given.
    pub fn port(self, port: u16) -> Self {
        self.map(|s| s.port(port))
    }

    /// Prints one line per finished transfer on standard error.
    pub fn verbose(self, yes: bool) -> Self {
        self.map(|s| s.verbose(yes))
    }

    /// Accepts uploads (new files only, unless [`TftpServer::overwrite`]).
    pub fn writable(self, yes: bool) -> Self {
        self.map(|s| s.writable(yes))
    }

    /// Lets uploads replace existing files.
    pub fn overwrite(self, yes: bool) -> Self {
        self.map(|s| s.overwrite(yes))
    }

    /// Caps the negotiated `blksize` (8..=65464).
    pub fn max_blksize(self, n: u16) -> Self {
        self.map(|s| s.max_blksize(n))
    }

    /// Caps the negotiated `windowsize` (at least 1).
    pub fn max_windowsize(self, n: u16) -> Self {
        self.map(|s| s.max_windowsize(n))
    }

    /// Honours a client's `timeout` option instead of declining it.
    pub fn accept_timeout(self, yes: bool) -> Self {
        self.map(|s| s.accept_timeout(yes))
    }

    /// Refuses uploads larger than `bytes` (ERROR 3).
    pub fn max_upload(self, bytes: Option<u64>) -> Self {
        self.map(|s| s.max_upload(bytes))
    }

    /// Limits how many transfers run at once (default 1024).
    pub fn max_transfers(self, n: usize) -> Self {
        self.map(|s| s.max_transfers(n))
    }

    /// Consecutive timeouts before a transfer is abandoned (default 8).
    pub fn max_retries(self, n: u8) -> Self {
        self.map(|s| s.max_retries(n))
    }

    /// Least time a silent peer is retried before its transfer is abandoned.
    pub fn give_up_after(self, d: Duration) -> Self {
        self.map(|s| s.give_up_after(d))
    }

    /// Bounds of the adaptive retransmission timeout.
    pub fn rto(self, rto: RtoConfig) -> Self {
        self.map(|s| s.rto(rto))
    }

    /// Calls `f` whenever a transfer ends (on the task running the server).
    pub fn on_complete(self, f: impl FnMut(&Completion) + Send + 'static) -> Self {
        self.map(|s| s.on_complete(f))
    }

    /// Opens the root and binds the listening sockets (errors come back
    /// here, with their cause); run the result with [`TftpService::run`]
    /// on any executor.
    pub fn build(self) -> io::Result<TftpService> {
        let parts = self.inner.into_parts()?;
        let mut listeners = Vec::new();
        let mut addrs = Vec::new();
        for socket in parts.listeners {
            addrs.push(socket.local_addr()?);
            listeners.push(Arc::new(UdpSocket::from(socket)));
        }
        let (stopper, signal) = Stopper::new();
        Ok(TftpService {
            root: parts.store.root_path().to_path_buf(),
            listeners,
            addrs,
            server: parts.server,
            store: parts.store,
            max_transfers: parts.max_transfers,
            on_complete: parts.on_complete,
            stopper,
            signal,
        })
    }

    /// Binds and runs the server as an async-std task.
    pub fn spawn(self) -> io::Result<ServerHandle> {
        let service = self.build()?;
        let addrs = service.addrs.clone();
        let root = service.root.clone();
        let stopper = service.stopper();
        let task = async_std::task::spawn(service.run());
        Ok(ServerHandle {
            addrs,
            root,
            stopper,
            task,
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

/// The async server takes every setting of the blocking one.
impl From<netboot_mio::legacy::tftp::TftpServer> for TftpServer {
    fn from(inner: netboot_mio::legacy::tftp::TftpServer) -> Self {
        TftpServer { inner }
    }
}

/// A bound TFTP server, ready to [`run`](TftpService::run) on any executor.
pub struct TftpService {
    root: PathBuf,
    listeners: Vec<Arc<UdpSocket>>,
    addrs: Vec<SocketAddr>,
    server: Server,
    store: FsStore,
    max_transfers: usize,
    on_complete: Option<OnComplete>,
    stopper: Stopper,
    signal: StopSignal,
}

/// What woke the server.
enum Wake {
    /// A datagram on listener `index` (its buffer comes back with it).
    Request {
        index: usize,
        buf: Vec<u8>,
        got: io::Result<(usize, SocketAddr)>,
    },
    /// A transfer ended.
    Finished(Completion),
    /// A listener saw the stop signal.
    Stopped,
}

type Task = Pin<Box<dyn Future<Output = Wake> + Send>>;

impl TftpService {
    /// The addresses the listening sockets are bound to.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The (first) listening address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// A handle that stops [`TftpService::run`].
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Stops with `stopper` (one stopper for several servers).
    pub(crate) fn stopped_by(mut self, stopper: &Stopper, signal: &StopSignal) -> Self {
        self.stopper = stopper.clone();
        self.signal = signal.clone();
        self
    }

    /// Serves until stopped. On stop, running transfers are cancelled (the
    /// peer gets ERROR 0, partial uploads are discarded) and the future
    /// resolves once every transfer has ended.
    pub async fn run(mut self) -> io::Result<()> {
        let mut tasks: FuturesUnordered<Task> = FuturesUnordered::new();
        for index in 0..self.listeners.len() {
            tasks.push(self.listen(index, vec![0; MAX_PACKET_LEN + 1]));
        }
        let mut running: HashSet<SocketAddr> = HashSet::new();
        let mut tx = vec![0u8; MAX_PACKET_LEN];
        let clock = Clock::new();
        for addr in &self.addrs {
            tracing::info!("tftp: listening on {addr}");
        }
        while let Some(wake) = tasks.next().await {
            match wake {
                Wake::Stopped => {}
                Wake::Finished(c) => {
                    running.remove(&c.peer);
                    self.report(&c);
                }
                Wake::Request { index, buf, got } => {
                    if let Ok((n, from)) = got
                        && let Some(task) =
                            self.request(index, &buf, n, from, &clock, &mut tx, &running)
                    {
                        running.insert(canonical(from));
                        tasks.push(task);
                    }
                    if !self.signal.is_stopped() {
                        tasks.push(self.listen(index, buf));
                    }
                }
            }
        }
        Ok(())
    }

    fn report(&mut self, c: &Completion) {
        netboot_mio::legacy::tftp::log_completion(c);
        if let Some(f) = self.on_complete.as_mut() {
            f(c);
        }
    }

    /// Waits for the next datagram on listener `index`, or the stop signal.
    fn listen(&self, index: usize, mut buf: Vec<u8>) -> Task {
        let socket = self.listeners[index].clone();
        let signal = self.signal.clone();
        Box::pin(async move {
            future::or(
                async {
                    let got = socket.recv_from(&mut buf).await;
                    Wake::Request { index, buf, got }
                },
                async {
                    signal.wait().await;
                    Wake::Stopped
                },
            )
            .await
        })
    }

    /// Accepts or refuses one request; returns the transfer to run.
    #[allow(clippy::too_many_arguments)]
    fn request(
        &mut self,
        index: usize,
        buf: &[u8],
        n: usize,
        from: SocketAddr,
        clock: &Clock,
        tx: &mut [u8],
        running: &HashSet<SocketAddr>,
    ) -> Option<Task> {
        let listener = &self.listeners[index];
        if running.contains(&canonical(from)) || n > MAX_PACKET_LEN {
            tracing::debug!("tftp: {from}: repeated or oversized request dropped");
            return None;
        }
        let now = clock.now();
        let accepted = if running.len() >= self.max_transfers {
            tracing::debug!("tftp: {from}: {} transfers running", running.len());
            glue::refuse_busy(&self.server, from, &buf[..n], tx)
        } else {
            glue::accept(&self.server, &mut self.store, now, from, &buf[..n], tx)
        };
        match accepted {
            Accepted::Transfer(transfer, files) => {
                let local = SocketAddr::new(self.addrs[index].ip(), 0);
                let socket = match bind_udp(local, &UdpOptions::default()) {
                    Ok(s) => UdpSocket::from(s),
                    Err(e) => {
                        tracing::warn!("tftp: cannot open a transfer socket: {e}");
                        files.finish(&mut self.store);
                        return None;
                    }
                };
                let store = match self.store.try_clone() {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!("tftp: cannot share the root: {e}");
                        files.finish(&mut self.store);
                        return None;
                    }
                };
                tracing::info!(
                    "tftp: {}: {} {} ({})",
                    canonical(from),
                    match transfer.role().direction() {
                        Direction::Read => "RRQ",
                        Direction::Write => "WRQ",
                    },
                    transfer.path(),
                    transfer.mode()
                );
                let run = TransferTask {
                    socket,
                    transfer,
                    files,
                    store,
                    clock: *clock,
                    started: now,
                    signal: self.signal.clone(),
                };
                Some(Box::pin(async move { Wake::Finished(run.run().await) }))
            }
            Accepted::Reply(t) => {
                if let Ok(Packet::Error { code, message }) = Packet::parse(&tx[..t.len]) {
                    tracing::info!("tftp: {from}: refused: {message} ({})", code.to_u16());
                }
                send_now(listener, &tx[..t.len], t.destination);
                None
            }
            Accepted::Dropped(why) => {
                tracing::debug!("tftp: {from}: dropped: {why}");
                None
            }
        }
    }
}

/// One transfer on its own socket.
struct TransferTask {
    socket: UdpSocket,
    transfer: Transfer,
    files: Files<FsStore>,
    store: FsStore,
    clock: Clock,
    started: Instant,
    signal: StopSignal,
}

enum Input {
    Datagram(io::Result<(usize, SocketAddr)>),
    Timeout,
    Stop,
}

impl TransferTask {
    async fn run(mut self) -> Completion {
        let mut tx = vec![0u8; MAX_PACKET_LEN];
        let mut rx = vec![0u8; MAX_PACKET_LEN + 1];
        let mut outcome = None;
        let now = self.clock.now();
        self.drive(now, &mut tx, &mut [], &mut outcome);
        while !self.transfer.is_closed() {
            let deadline = self.transfer.poll_timeout();
            let input = future::or(
                async { Input::Datagram(self.socket.recv_from(&mut rx).await) },
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
                Input::Datagram(Ok((n, from))) if n <= MAX_PACKET_LEN => {
                    self.transfer.handle_datagram(now, from, &rx[..n]);
                    self.drive(now, &mut tx, &mut rx[..n], &mut outcome);
                }
                Input::Datagram(Ok(_)) => {}
                Input::Datagram(Err(e)) => tracing::debug!("tftp: receive failed: {e}"),
                Input::Timeout => {
                    self.transfer.handle_timeout(now);
                    self.drive(now, &mut tx, &mut [], &mut outcome);
                }
                Input::Stop => {
                    self.transfer.close(now);
                    self.drive(now, &mut tx, &mut [], &mut outcome);
                    break;
                }
            }
        }
        self.files.discard(&mut self.store);
        let t = &self.transfer;
        Completion {
            peer: canonical(t.peer()),
            path: t.path().to_string(),
            direction: t.role().direction(),
            mode: t.mode(),
            bytes: t.bytes(),
            result: match outcome {
                Some(Event::Failed(e)) => Err(e),
                Some(_) => Ok(()),
                None => Err(netboot_core::tftp::TransferError::Cancelled),
            },
            peer_message: Some(t.peer_message())
                .filter(|m| !m.is_empty())
                .map(str::to_string),
            elapsed: self.clock.now().saturating_duration_since(self.started),
        }
    }

    fn drive(&mut self, now: Instant, tx: &mut [u8], rx: &mut [u8], outcome: &mut Option<Event>) {
        let socket = &self.socket;
        glue::drive(
            &mut self.transfer,
            &mut self.files,
            &mut self.store,
            now,
            tx,
            rx,
            &mut |bytes, to| send_now(socket, bytes, to),
            &mut |_, event| match event {
                Event::Done { .. } | Event::Failed(_) if outcome.is_none() => {
                    *outcome = Some(event)
                }
                Event::Ignored(why) => tracing::debug!("tftp: ignored: {why}"),
                _ => {}
            },
        );
    }
}

/// Shows an IPv4-mapped IPv6 address as IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// A TFTP server running as an async-std task.
pub struct ServerHandle {
    addrs: Vec<SocketAddr>,
    root: PathBuf,
    stopper: Stopper,
    task: async_std::task::JoinHandle<io::Result<()>>,
}

impl ServerHandle {
    /// The (first) address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Every address the server listens on.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The server's address as seen from `host` (see
    /// [`netboot_mio::tftp::address_for`]).
    pub fn address_for(&self, host: IpAddr) -> io::Result<SocketAddr> {
        netboot_mio::tftp::address_for(&self.addrs, host)
    }

    /// An async client aimed at this server (through loopback when it
    /// listens on a wildcard address).
    pub fn client(&self) -> Client {
        Client::new(netboot_mio::tftp::reachable(self.local_addr()))
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
        self.stopper.clone()
    }

    /// Stops the server: running transfers are cancelled (their peers get
    /// ERROR 0, partial uploads are discarded); resolves when it has ended.
    pub async fn shutdown(self) -> io::Result<()> {
        self.stopper.stop();
        self.task.await
    }

    /// Waits until the server stops (after a [`Stopper::stop`]).
    pub async fn join(self) -> io::Result<()> {
        self.task.await
    }
}
