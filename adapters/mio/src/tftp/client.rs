//! The blocking TFTP client.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token};
use netboot_core::tftp::Role;
use netboot_core::tftp::file::{Batch, ReadAhead, ReadAheadState};
use netboot_core::time::Instant;
use netboot_core::wire::tftp::MAX_PACKET_LEN;
pub use netboot_std::client::tftp::{ClientError, Prepared, Progress, Settings, Stats};
use netboot_std::clock::Clock;

use super::udp::{Batcher, GroReceiver};

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
    settings: Settings,
    dallying: Vec<JoinHandle<()>>,
    cancel: Option<Arc<AtomicBool>>,
}

/// How often a transfer with a cancel flag looks at it.
const CANCEL_CHECK: Duration = Duration::from_millis(100);

impl Client {
    /// A client of the TFTP server at `host` on the well-known port 69 (the
    /// seed's `ExternalTftp(ip_address, port=69)`).
    ///
    /// ```
    /// let c = netboot_mio::tftp::Client::for_host("192.0.2.7".parse().unwrap());
    /// assert_eq!(c.server().to_string(), "192.0.2.7:69");
    /// ```
    pub fn for_host(host: IpAddr) -> Self {
        Client::with_settings(Settings::for_host(host))
    }

    /// A client of the server at `server` (its request port, usually 69),
    /// with RFC 1350 defaults and `tsize` on.
    pub fn new(server: SocketAddr) -> Self {
        Client::with_settings(Settings::new(server))
    }

    /// A client with these settings.
    pub fn with_settings(settings: Settings) -> Self {
        Client {
            settings,
            dallying: Vec::new(),
            cancel: None,
        }
    }

    fn map(mut self, f: impl FnOnce(Settings) -> Settings) -> Self {
        // The client has a Drop (it joins its lingering transfers), so its
        // settings are swapped out rather than moved.
        let placeholder = Settings::new(self.settings.server());
        self.settings = f(std::mem::replace(&mut self.settings, placeholder));
        self
    }

    netboot_std::tftp_client_setters!();

    /// Abandons a running transfer once `flag` is set (a signal handler
    /// sets it): the server gets ERROR 0, a partial download is removed
    /// and the transfer fails with `TransferError::Cancelled`. The flag is
    /// looked at every 100 ms.
    pub fn cancel_on(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Downloads `remote` into `local` (a file, or a directory to put
    /// `remote`'s file name in). The file appears only when complete; on
    /// failure an existing file is left as it was.
    pub fn get(&mut self, remote: &str, local: impl AsRef<Path>) -> Result<Stats, ClientError> {
        let p = self.settings.prepare_get(remote, local.as_ref())?;
        self.run(p)
    }

    /// Uploads `local` as `remote`.
    pub fn put(&mut self, local: impl AsRef<Path>, remote: &str) -> Result<Stats, ClientError> {
        let p = self.settings.prepare_put(local.as_ref(), remote)?;
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
        self.settings.server()
    }

    fn run(&mut self, mut p: Prepared) -> Result<Stats, ClientError> {
        let clock = Clock::new();
        let mut socket = UdpSocket::from_std(self.settings.socket()?);
        let mut poll = Poll::new()?;
        poll.registry()
            .register(&mut socket, Token(0), Interest::READABLE)?;
        // A download's socket only sends ACKs: let it receive in batches.
        let mut gro =
            (p.client.transfer().role() == Role::ClientRead).then(|| GroReceiver::new(&socket));
        let mut io = Io {
            socket: &socket,
            batcher: Batcher::probe(),
            batch: vec![0u8; MAX_PACKET_LEN],
            read_ahead: vec![0u8; 256 * 1024],
            read_ahead_state: ReadAheadState::default(),
        };
        let mut events = Events::with_capacity(4);
        let mut rx = vec![0u8; MAX_PACKET_LEN + 1];
        // The transfer was created at Instant::ZERO, the clock's epoch.
        let mut now = clock.now();
        io.drive(&mut p, now, &mut []);
        while p.client.outcome().is_none() {
            let Some(deadline) = p.client.transfer().poll_timeout() else {
                break;
            };
            let mut wait = clock.until(now, deadline);
            if self.cancel.is_some() {
                wait = wait.min(CANCEL_CHECK);
            }
            match poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
            now = clock.now();
            if self.cancelled() {
                p.client.transfer_mut().close(now);
                io.drive(&mut p, now, &mut []);
                break;
            }
            while p.client.outcome().is_none() {
                let got = match gro.as_mut() {
                    Some(g) => g.recv(&socket, &mut |from, datagram| {
                        if p.client.outcome().is_none() {
                            p.client.transfer_mut().handle_datagram(now, from, datagram);
                            io.drive(&mut p, now, datagram);
                        }
                    }),
                    None => match socket.recv_from(&mut rx) {
                        Ok((n, from)) => {
                            // `rx` holds one byte more than the largest
                            // datagram: an oversized one arrives whole (or
                            // truncated to that) and the core refuses it.
                            p.client.transfer_mut().handle_datagram(now, from, &rx[..n]);
                            io.drive(&mut p, now, &mut rx[..n]);
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
            let due = p.client.transfer().poll_timeout().is_some_and(|d| d <= now);
            if p.client.outcome().is_none() && due {
                p.client.transfer_mut().handle_timeout(now);
                io.drive(&mut p, now, &mut []);
            }
            p.tick(&mut self.settings);
        }
        drop(io);
        let result = p.result(&mut self.settings, now);
        if !p.client.transfer().is_closed() {
            // Linger in the background to answer a repeated final DATA (the
            // server lost our last ACK); dropping the client waits for it.
            self.dallying.retain(|h| !h.is_finished());
            let dally = std::thread::Builder::new()
                .name("netboot-tftp-dally".into())
                .spawn(move || dally(p, socket, poll, clock));
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

/// The client's side of the socket while a transfer runs.
struct Io<'s> {
    socket: &'s UdpSocket,
    batcher: Batcher,
    batch: Vec<u8>,
    read_ahead: Vec<u8>,
    read_ahead_state: ReadAheadState,
}

impl Io<'_> {
    fn drive(&mut self, p: &mut Prepared, now: Instant, rx: &mut [u8]) {
        let (socket, batcher) = (self.socket, &self.batcher);
        let batch = Batch {
            buf: &mut self.batch,
            max_segments: batcher.max_segments(),
            read_ahead: Some(ReadAhead {
                buf: &mut self.read_ahead,
                state: &mut self.read_ahead_state,
                owner: 1,
            }),
        };
        p.client
            .drive_batched(&mut p.store, now, rx, batch, &mut |bytes, segment, to| {
                batcher.send(socket, bytes, segment, to)
            });
    }
}

fn dally(mut p: Prepared, mut socket: UdpSocket, mut poll: Poll, clock: Clock) {
    let mut events = Events::with_capacity(4);
    let mut tx = vec![0u8; 600];
    let mut rx = vec![0u8; MAX_PACKET_LEN + 1];
    let mut now = clock.now();
    let mut send = |b: &[u8], to| drop(socket.send_to(b, to));
    while let Some(deadline) = p.client.transfer().poll_timeout() {
        if poll
            .poll(&mut events, Some(clock.until(now, deadline)))
            .is_err()
        {
            break;
        }
        now = clock.now();
        while let Ok((n, from)) = socket.recv_from(&mut rx) {
            p.datagram(now, from, &mut rx[..n], &mut tx, &mut send);
        }
        p.timeout(now, &mut tx, &mut send);
    }
    let _ = poll.registry().deregister(&mut socket);
}
