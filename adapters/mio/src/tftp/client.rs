//! The blocking TFTP client.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use netboot_core::storage::{Storage, StoreError};
use netboot_core::tftp::glue::{self, CLIENT_DOWNLOAD_MODE, Files, ReadAhead, ReadAheadState};
use netboot_core::tftp::options::{Negotiated, Request};
use netboot_core::tftp::rto::RtoConfig;
use netboot_core::tftp::{Event, Role, Transfer, TransferConfig, TransferError};
use netboot_core::time::Instant;
use netboot_core::wire::tftp::{MAX_PACKET_LEN, Mode};
use netboot_std::clock::Clock;
use netboot_std::fs::FsStore;
use netboot_std::net::{UdpOptions, bind_udp};

use super::udp::{Batcher, GroReceiver};

/// How far a transfer has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// File bytes transferred so far.
    pub bytes: u64,
    /// The file size, when known (`tsize`, or the local file on a put).
    pub total: Option<u64>,
}

/// What a finished transfer reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stats {
    /// File bytes transferred.
    pub bytes: u64,
    /// Time from the request to the end of the transfer.
    pub elapsed: std::time::Duration,
    /// The option values the transfer ran with.
    pub negotiated: Negotiated,
}

/// Why a get or put failed.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The local file could not be read or written.
    #[error("{}: {source}", path.display())]
    Local {
        /// The local file.
        path: PathBuf,
        /// What went wrong.
        source: StoreError,
    },
    /// A socket operation failed.
    #[error("network: {0}")]
    Io(#[from] io::Error),
    /// The transfer failed.
    #[error("{}", describe(error, message))]
    Transfer {
        /// The failure.
        error: TransferError,
        /// The server's ERROR message, if any.
        message: String,
    },
}

fn describe(error: &TransferError, message: &str) -> String {
    match error {
        TransferError::Peer { code } if message.is_empty() => format!("server: {code}"),
        TransferError::Peer { code } => format!("server: {message} ({})", code.to_u16()),
        e => e.to_string(),
    }
}

/// A blocking TFTP client (the seed's `ExternalTftp`, tftpy's
/// `TftpClient`).
///
/// ```
/// use netboot_mio::tftp::{Client, TftpServer};
/// use netboot_core::wire::tftp::Mode;
///
/// let root = tempfile::tempdir().unwrap();
/// let server = TftpServer::new(root.path())
///     .bind("127.0.0.1:0".parse().unwrap())
///     .writable(true)
///     .spawn()
///     .unwrap();
/// let work = tempfile::tempdir().unwrap();
/// std::fs::write(work.path().join("notes.txt"), b"line one\nline two\n").unwrap();
///
/// let mut seen = 0;
/// let mut client = Client::new(server.local_addr())
///     .blksize(1468)
///     .windowsize(16)
///     .mode(Mode::Netascii)
///     .progress(move |p| seen = p.bytes);
/// client.put(work.path().join("notes.txt"), "notes.txt").unwrap();
/// let stats = client.get("notes.txt", work.path().join("back.txt")).unwrap();
/// assert_eq!(stats.bytes, 18);
/// assert_eq!(std::fs::read(work.path().join("back.txt")).unwrap(), b"line one\nline two\n");
/// // Netascii travelled as CR LF on the wire but the server stores it with LF.
/// assert_eq!(std::fs::read(root.path().join("notes.txt")).unwrap(), b"line one\nline two\n");
/// ```
pub struct Client {
    server: SocketAddr,
    request: Request,
    tsize: bool,
    mode: Mode,
    config: TransferConfig,
    progress: Option<Box<dyn FnMut(Progress) + Send>>,
    dallying: Vec<JoinHandle<()>>,
}

impl Client {
    /// A client of the TFTP server at `host` on the well-known port 69 (the
    /// seed's `ExternalTftp(ip_address, port=69)`).
    ///
    /// ```
    /// let c = netboot_mio::tftp::Client::for_host("192.0.2.7".parse().unwrap());
    /// assert_eq!(c.server().to_string(), "192.0.2.7:69");
    /// ```
    pub fn for_host(host: IpAddr) -> Self {
        Client::new(SocketAddr::new(host, netboot_core::tftp::PORT))
    }

    /// A client of the server at `server` (its request port, usually 69),
    /// with RFC 1350 defaults and `tsize` on.
    pub fn new(server: SocketAddr) -> Self {
        Client {
            server,
            request: Request::default(),
            tsize: true,
            mode: Mode::Octet,
            config: TransferConfig::default(),
            progress: None,
            dallying: Vec::new(),
        }
    }

    /// Asks for this `blksize` (8..=65464; the server may lower it).
    pub fn blksize(mut self, n: u16) -> Self {
        self.request.blksize = Some(n.clamp(8, 65464));
        self
    }

    /// Asks for this `windowsize` (at least 1; the server may lower it).
    pub fn windowsize(mut self, n: u16) -> Self {
        self.request.windowsize = Some(n.max(1));
        self
    }

    /// Asks for a fixed retransmission `timeout` in seconds (1..=255);
    /// without it the timeout adapts to the measured round trip.
    pub fn timeout(mut self, secs: u8) -> Self {
        self.request.timeout = Some(secs.max(1));
        self
    }

    /// Asks for (get) or announces (put) the transfer size.
    pub fn tsize(mut self, yes: bool) -> Self {
        self.tsize = yes;
        self
    }

    /// Octet (default) or netascii.
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Consecutive timeouts before giving up (default 8).
    pub fn retries(mut self, n: u8) -> Self {
        self.config.max_retries = n;
        self
    }

    /// Least time a silent server is retried before giving up (default
    /// 10 s; zero makes [`Client::retries`] alone decide).
    pub fn give_up_after(mut self, d: std::time::Duration) -> Self {
        self.config.give_up_after = d;
        self
    }

    /// Bounds of the adaptive retransmission timeout.
    pub fn rto(mut self, rto: RtoConfig) -> Self {
        self.config.rto = rto;
        self
    }

    /// Calls `f` as the transfer progresses (at most every 20 ms, and at the
    /// end).
    pub fn progress(mut self, f: impl FnMut(Progress) + Send + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Downloads `remote` into `local` (a file, or a directory to put
    /// `remote`'s file name in). The file appears only when complete; on
    /// failure an existing file is left as it was.
    pub fn get(&mut self, remote: &str, local: impl AsRef<Path>) -> Result<Stats, ClientError> {
        let p = self.prepare_get(remote, local.as_ref())?;
        self.run(p)
    }

    /// Uploads `local` as `remote`.
    pub fn put(&mut self, local: impl AsRef<Path>, remote: &str) -> Result<Stats, ClientError> {
        let p = self.prepare_put(local.as_ref(), remote)?;
        self.run(p)
    }

    /// tftpy's `download(remote, local)`: the same as [`Client::get`].
    ///
    /// ```
    /// use netboot_mio::tftp::{Client, TftpServer};
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// std::fs::write(root.path().join("remote-filename"), b"payload").unwrap();
    /// let server = TftpServer::new(root.path()).listen("127.0.0.1".parse().unwrap(), 0).unwrap();
    /// let local = root.path().join("local-filename");
    /// // tftpy: TftpClient(host, port).download('remote-filename', 'local-filename')
    /// Client::new(server.local_addr()).download("remote-filename", &local).unwrap();
    /// assert_eq!(std::fs::read(&local).unwrap(), b"payload");
    /// ```
    pub fn download(
        &mut self,
        remote: &str,
        local: impl AsRef<Path>,
    ) -> Result<Stats, ClientError> {
        self.get(remote, local)
    }

    /// tftpy's `upload`, with the arguments in `put`'s order: sends the
    /// local file `local` to be stored as `remote`.
    ///
    /// ```
    /// use netboot_mio::tftp::{Client, TftpServer};
    ///
    /// let root = tempfile::tempdir().unwrap();
    /// let server = TftpServer::new(root.path())
    ///     .writable(true)
    ///     .listen("127.0.0.1".parse().unwrap(), 0)
    ///     .unwrap();
    /// let work = tempfile::tempdir().unwrap();
    /// std::fs::write(work.path().join("log.txt"), b"uploaded").unwrap();
    /// Client::new(server.local_addr()).upload(work.path().join("log.txt"), "log.txt").unwrap();
    /// assert_eq!(std::fs::read(root.path().join("log.txt")).unwrap(), b"uploaded");
    /// ```
    pub fn upload(&mut self, local: impl AsRef<Path>, remote: &str) -> Result<Stats, ClientError> {
        self.put(local, remote)
    }

    /// The server's request address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Opens the local file and builds the core transfer of a download,
    /// started at `Instant::ZERO` (the epoch of the clock that will drive
    /// it). Other adapters (the async client) drive what this returns.
    pub fn prepare_get(&self, remote: &str, local: &Path) -> Result<Prepared, ClientError> {
        let mut local = local.to_path_buf();
        if local.is_dir() {
            local.push(netboot_core::path::file_name(remote));
        }
        let (dir, name) = split(&local)?;
        let local_err = |source| ClientError::Local {
            path: local.clone(),
            source,
        };
        let mut store = FsStore::open(&dir, true).map_err(|e| local_err(io_store(&e)))?;
        let writer = store
            .open_write(&name, CLIENT_DOWNLOAD_MODE)
            .map_err(local_err)?;
        let mut request = self.request;
        request.tsize = (self.tsize && self.mode == Mode::Octet).then_some(0);
        let now = Instant::ZERO;
        let transfer =
            Transfer::client_read(now, &self.config, self.server, remote, self.mode, request)
                .map_err(|_| local_err(StoreError::PermissionDenied))?;
        Ok(Prepared {
            transfer,
            files: Files::writing(writer),
            store,
            total: None,
            local,
        })
    }

    /// Opens the local file and builds the core transfer of an upload,
    /// started at `Instant::ZERO`.
    pub fn prepare_put(&self, local: &Path, remote: &str) -> Result<Prepared, ClientError> {
        let local = local.to_path_buf();
        let (dir, name) = split(&local)?;
        let local_err = |source| ClientError::Local {
            path: local.clone(),
            source,
        };
        let mut store = FsStore::open(&dir, false).map_err(|e| local_err(io_store(&e)))?;
        let (reader, meta) = store.open_read(&name).map_err(local_err)?;
        let mut request = self.request;
        request.tsize = self.tsize.then_some(meta.len);
        let transfer = Transfer::client_write(
            Instant::ZERO,
            &self.config,
            self.server,
            remote,
            self.mode,
            request,
        )
        .map_err(|_| local_err(StoreError::PermissionDenied))?;
        Ok(Prepared {
            transfer,
            files: Files::reading(reader),
            store,
            total: Some(meta.len),
            local,
        })
    }

    fn run(&mut self, p: Prepared) -> Result<Stats, ClientError> {
        let Prepared {
            transfer: mut t,
            mut files,
            mut store,
            total,
            local,
        } = p;
        let clock = Clock::new();
        let bind: IpAddr = if self.server.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let options = UdpOptions {
            recv_buffer: Some(4 << 20),
            send_buffer: Some(1 << 20),
            ..UdpOptions::default()
        };
        let mut socket = UdpSocket::from_std(bind_udp(SocketAddr::new(bind, 0), &options)?);
        let mut poll = Poll::new()?;
        poll.registry()
            .register(&mut socket, Token(0), Interest::READABLE)?;
        // A download's socket only sends ACKs: let it receive in batches.
        let mut gro = (t.role() == Role::ClientRead).then(|| GroReceiver::new(&socket));
        let mut io = Io {
            socket: &socket,
            batcher: Batcher::probe(),
            batch: vec![0u8; MAX_PACKET_LEN],
            read_ahead: vec![0u8; 256 * 1024],
            read_ahead_state: ReadAheadState::default(),
            outcome: None,
            total,
        };
        let mut events = Events::with_capacity(4);
        let mut rx = vec![0u8; MAX_PACKET_LEN + 1];
        let mut last_report = std::time::Instant::now();
        // The transfer was created at Instant::ZERO, the clock's epoch.
        let mut now = clock.now();
        io.drive(&mut t, &mut files, &mut store, now, &mut []);
        while io.outcome.is_none() {
            let Some(deadline) = t.poll_timeout() else {
                break;
            };
            match poll.poll(&mut events, Some(clock.until(now, deadline))) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
            now = clock.now();
            while io.outcome.is_none() {
                let got = match gro.as_mut() {
                    Some(g) => g.recv(&socket, &mut |from, datagram| {
                        if io.outcome.is_none() {
                            t.handle_datagram(now, from, datagram);
                            io.drive(&mut t, &mut files, &mut store, now, datagram);
                        }
                    }),
                    None => match socket.recv_from(&mut rx) {
                        Ok((n, from)) => {
                            // `rx` holds one byte more than the largest
                            // datagram: an oversized one arrives whole (or
                            // truncated to that) and the core refuses it.
                            t.handle_datagram(now, from, &rx[..n]);
                            io.drive(&mut t, &mut files, &mut store, now, &mut rx[..n]);
                            Ok(1)
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                        Err(e) => Err(e),
                    },
                };
                match got {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if io.outcome.is_none() && t.poll_timeout().is_some_and(|d| d <= now) {
                t.handle_timeout(now);
                io.drive(&mut t, &mut files, &mut store, now, &mut []);
            }
            if let Some(cb) = self.progress.as_mut()
                && last_report.elapsed() >= std::time::Duration::from_millis(20)
            {
                last_report = std::time::Instant::now();
                cb(Progress {
                    bytes: t.bytes(),
                    total: io.total,
                });
            }
        }
        let (outcome, total) = (io.outcome, io.total);
        drop(io);
        let elapsed = now.since_epoch();
        if let Some(cb) = self.progress.as_mut() {
            cb(Progress {
                bytes: t.bytes(),
                total,
            });
        }
        let result = result_of(outcome, &t, elapsed, &local);
        files.discard(&mut store);
        if !t.is_closed() {
            // Linger in the background to answer a repeated final DATA (the
            // server lost our last ACK); dropping the client waits for it.
            self.dallying.retain(|h| !h.is_finished());
            let dally = std::thread::Builder::new()
                .name("netboot-tftp-dally".into())
                .spawn(move || dally(t, socket, poll, clock, store, files));
            if let Ok(h) = dally {
                self.dallying.push(h);
            }
        }
        result
    }

    /// Waits until the transfers that finished are done lingering for a
    /// lost final ACK (dropping the client does the same).
    pub fn finish(&mut self) {
        for h in self.dallying.drain(..) {
            let _ = h.join();
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A client transfer ready to run: the core machine, the local file it
/// reads or writes, and where that file is.
#[derive(Debug)]
pub struct Prepared {
    /// The transfer, started at `Instant::ZERO`.
    pub transfer: Transfer,
    /// The local file.
    pub files: Files<FsStore>,
    /// The store the local file lives in (its directory).
    pub store: FsStore,
    /// The file size, when known before the transfer (uploads).
    pub total: Option<u64>,
    /// The local file's path.
    pub local: PathBuf,
}

/// The result of a client transfer that ended with `outcome` (the
/// transfer's `Done` or `Failed` event; `None` when it never ended),
/// `elapsed` after its start.
pub fn result_of(
    outcome: Option<Event>,
    t: &Transfer,
    elapsed: std::time::Duration,
    local: &Path,
) -> Result<Stats, ClientError> {
    match outcome {
        Some(Event::Done { bytes }) => Ok(Stats {
            bytes,
            elapsed,
            negotiated: t.negotiated(),
        }),
        Some(Event::Failed(TransferError::Storage(source))) => Err(ClientError::Local {
            path: local.to_path_buf(),
            source,
        }),
        Some(Event::Failed(error)) => Err(ClientError::Transfer {
            error,
            message: t.peer_message().to_string(),
        }),
        _ => Err(ClientError::Transfer {
            error: TransferError::Cancelled,
            message: String::new(),
        }),
    }
}

/// The client's side of the socket while a transfer runs.
struct Io<'s> {
    socket: &'s UdpSocket,
    batcher: Batcher,
    batch: Vec<u8>,
    read_ahead: Vec<u8>,
    read_ahead_state: ReadAheadState,
    outcome: Option<Event>,
    total: Option<u64>,
}

impl Io<'_> {
    fn drive(
        &mut self,
        t: &mut Transfer,
        files: &mut Files<FsStore>,
        store: &mut FsStore,
        now: Instant,
        rx: &mut [u8],
    ) {
        let (socket, batcher) = (self.socket, &self.batcher);
        let (outcome, total) = (&mut self.outcome, &mut self.total);
        glue::drive_batched(
            t,
            files,
            store,
            now,
            &mut self.batch,
            batcher.max_segments(),
            rx,
            Some(ReadAhead {
                buf: &mut self.read_ahead,
                state: &mut self.read_ahead_state,
                owner: 1,
            }),
            &mut |bytes, segment, to| batcher.send(socket, bytes, segment, to),
            &mut |_, event| match event {
                Event::Done { .. } | Event::Failed(_) => *outcome = Some(event),
                Event::Negotiated(n) => {
                    if let Some(size) = n.tsize {
                        *total = Some(size);
                    }
                }
                _ => {}
            },
        );
    }
}

fn dally(
    mut t: Transfer,
    mut socket: UdpSocket,
    mut poll: Poll,
    clock: Clock,
    mut store: FsStore,
    mut files: Files<FsStore>,
) {
    let mut events = Events::with_capacity(4);
    let mut tx = vec![0u8; 600];
    let mut rx = vec![0u8; MAX_PACKET_LEN + 1];
    let mut now = clock.now();
    while !t.is_closed() {
        while let Some(out) = t.poll_transmit(now, &mut tx) {
            let _ = socket.send_to(&tx[..out.len], out.destination);
        }
        while t.poll_event().is_some() {}
        let Some(deadline) = t.poll_timeout() else {
            break;
        };
        if poll
            .poll(&mut events, Some(clock.until(now, deadline)))
            .is_err()
        {
            break;
        }
        now = clock.now();
        while let Ok((n, from)) = socket.recv_from(&mut rx) {
            t.handle_datagram(now, from, &rx[..n]);
        }
        t.handle_timeout(now);
    }
    let _ = poll.registry().deregister(&mut socket);
    files.discard(&mut store);
}

fn split(path: &Path) -> Result<(PathBuf, String), ClientError> {
    netboot_std::fs::split_local(path).ok_or_else(|| ClientError::Local {
        path: path.to_path_buf(),
        source: StoreError::IsADirectory,
    })
}

fn io_store(e: &io::Error) -> StoreError {
    netboot_std::fs::store_error(e)
}
