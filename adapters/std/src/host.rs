//! What every std runtime does the same way while it drives the core
//! server: open the sockets it is asked for, run password checks and saves
//! off its loop, and log the server's events.
//!
//! A runtime implements [`netboot_core::server::Host`] with these pieces
//! and its own sockets: [`open_udp`] and [`listen`] make the sockets a
//! [`SocketRequest`](netboot_core::socket::SocketRequest) names,
//! [`set_stream_options`] sets up its streams, [`open_error`] maps their
//! failures; [`Services`] runs the slow answers
//! (argon2 checks, `fsync`ed saves) on one worker thread and hands the
//! results back to the server when the runtime's wake-up socket says they
//! are ready; [`log`] writes each event once, at its level.

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::thread::JoinHandle;

use netboot_core::server::{Event, Level, SaveRequest, Sent, Worker};
use netboot_core::socket::{OpenError, Output, SocketId, UdpRole};
use netboot_core::time::Instant;

use crate::fs::FsStore;
use crate::ftp::auth;
use crate::ftp::site::Site;
use crate::net::{UdpOptions, bind_udp};
use crate::setup::HostServer;
use crate::state::{Snapshot, StateFiles};

/// Binds the UDP socket a role needs: the BOOTP server's with
/// `SO_BROADCAST`, `SO_REUSEADDR`, 4 MiB buffers and the interface; the
/// TFTP listener dual-stack on `[::]`; a transfer's plain. Non-blocking.
///
/// ```
/// use netboot_core::socket::UdpRole;
/// let s = netboot_std::host::open_udp("127.0.0.1:0".parse().unwrap(), &UdpRole::TftpTransfer).unwrap();
/// assert_ne!(s.local_addr().unwrap().port(), 0);
/// ```
pub fn open_udp(local: SocketAddr, role: &UdpRole) -> io::Result<UdpSocket> {
    let options = match role {
        UdpRole::Bootp { interface } => UdpOptions {
            broadcast: true,
            reuse_address: true,
            interface: interface.as_deref(),
            recv_buffer: Some(4 << 20),
            send_buffer: Some(4 << 20),
        },
        UdpRole::TftpListener => UdpOptions {
            recv_buffer: Some(4 << 20),
            ..UdpOptions::default()
        },
        UdpRole::TftpTransfer => UdpOptions::default(),
    };
    bind_udp(local, &options).map_err(|e| {
        if let UdpRole::Bootp {
            interface: Some(name),
        } = role
            && e.raw_os_error() == Some(libc::ENODEV)
        {
            io::Error::new(
                e.kind(),
                format!("cannot bind {local} to interface {name}: no such interface"),
            )
        } else if matches!(role, UdpRole::Bootp { interface: Some(_) })
            && e.kind() == io::ErrorKind::PermissionDenied
        {
            io::Error::new(
                e.kind(),
                format!(
                    "{} (binding to an interface needs CAP_NET_RAW)",
                    crate::net::explain_bind_error(local, &e)
                ),
            )
        } else {
            e
        }
    })
}

/// A non-blocking TCP listener on `local` with `backlog` (the kernel clamps
/// it to `somaxconn`; a deep one keeps Linux from dropping a client's final
/// ACK when the accept queue overflows). Dual-stack on `[::]`.
pub fn listen(local: SocketAddr, backlog: u32) -> io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(local),
        socket2::Type::STREAM,
        None,
    )?;
    if local.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&local.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// Sets up a TCP stream the server accepted or connected: no Nagle delay
/// (a reply leaves at once), and urgent data kept in the stream (Python's
/// ftplib sends `ABOR` with `MSG_OOB`; the session must read it in order).
///
/// ```
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
/// netboot_std::host::set_stream_options(&stream);
/// assert!(stream.nodelay().unwrap());
/// ```
pub fn set_stream_options(stream: &TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = socket2::SockRef::from(stream).set_out_of_band_inline(true);
}

/// The core's name for an I/O error that kept a socket from opening.
///
/// ```
/// use netboot_core::socket::OpenError;
/// let e = std::io::Error::from(std::io::ErrorKind::AddrInUse);
/// assert_eq!(netboot_std::host::open_error(&e), OpenError::AddrInUse);
/// ```
pub fn open_error(e: &io::Error) -> OpenError {
    match e.kind() {
        io::ErrorKind::AddrInUse => OpenError::AddrInUse,
        io::ErrorKind::PermissionDenied => OpenError::PermissionDenied,
        io::ErrorKind::AddrNotAvailable => OpenError::AddrNotAvailable,
        _ if matches!(
            e.raw_os_error(),
            Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
        ) =>
        {
            OpenError::Exhausted
        }
        _ => OpenError::Other,
    }
}

/// Writes `event` as one `tracing` line at its level: steps at `info`,
/// problems at `warn` and `error`, details at `debug`.
pub fn log(event: &Event) {
    match event.level() {
        Level::Error => tracing::error!("{event}"),
        Level::Warn => tracing::warn!("{event}"),
        Level::Info => tracing::info!("{event}"),
        Level::Debug => tracing::debug!("{event}"),
    }
}

enum Job {
    Verify {
        socket: SocketId,
        hash: Option<String>,
        password: String,
    },
    Save(Snapshot),
}

/// A slow answer that is ready.
#[derive(Debug)]
pub enum Done {
    /// A password check ended.
    Verified {
        /// The session's control connection.
        socket: SocketId,
        /// Whether the password was right.
        ok: bool,
    },
    /// A save ended.
    Saved {
        /// The state version written.
        version: u64,
        /// How it went.
        result: io::Result<()>,
    },
}

/// Sends one datagram of `output` from `socket` (any UDP socket: std,
/// mio, async). A datagram that cannot leave is a loss, which the
/// protocols recover from; a limited broadcast the kernel has no route for
/// (no interface bound, no default route) goes to the subnet's own
/// broadcast address `directed` instead.
pub fn send_datagram<S: AsFd>(
    socket: &S,
    bytes: &[u8],
    output: &Output,
    directed: Option<Ipv4Addr>,
) {
    let socket = socket2::SockRef::from(socket);
    let to = output.transmit.destination;
    let sent = match socket.send_to(bytes, &to.into()) {
        Err(e) if output.transmit.broadcast && e.raw_os_error() == Some(libc::ENETUNREACH) => {
            match directed {
                Some(ip) => socket.send_to(bytes, &SocketAddr::new(ip.into(), to.port()).into()),
                None => Err(e),
            }
        }
        sent => sent,
    };
    if let Err(e) = sent {
        tracing::debug!("send to {to} failed: {e}");
    }
}

/// Writes what [`Host::send`](netboot_core::server::Host::send) hands out
/// for a non-blocking stream: [`Sent::All`], or [`Sent::Partial`] with what
/// the socket took, and `blocked` set (the runtime writes to the stream
/// again only once it is writable), or [`Sent::Failed`] when the connection
/// is gone (close it).
///
/// ```
/// use netboot_core::server::Sent;
///
/// let (mut out, mut blocked) = (Vec::new(), false);
/// let sent = netboot_std::host::write_stream(&mut out, b"220 hi\r\n", &mut blocked);
/// assert_eq!((sent, blocked), (Sent::All, false));
/// assert_eq!(out, b"220 hi\r\n");
/// ```
pub fn write_stream<W: Write>(stream: &mut W, bytes: &[u8], blocked: &mut bool) -> Sent {
    loop {
        match stream.write(bytes) {
            Ok(n) if n == bytes.len() => return Sent::All,
            Ok(n) if n > 0 => {
                *blocked = true;
                return Sent::Partial(n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                *blocked = true;
                return Sent::Partial(0);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Ok(_) => return Sent::Failed,
            Err(e) => {
                tracing::debug!("stream write failed: {e}");
                return Sent::Failed;
            }
        }
    }
}

/// Starts a non-blocking TCP connection from `local` (any port) to
/// `remote`, as [`Host::connect`](netboot_core::server::Host::connect)
/// asks: the runtime learns the outcome when the stream becomes writable.
/// An IPv4-mapped `local` (a control connection accepted on a dual-stack
/// listener) is used as IPv4 when `remote` is.
///
/// ```
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let remote = listener.local_addr().unwrap();
/// let s = netboot_std::host::connect("::ffff:127.0.0.1".parse().unwrap(), remote).unwrap();
/// let (_, from) = listener.accept().unwrap();
/// assert_eq!(from.ip().to_string(), "127.0.0.1");
/// drop(s);
/// ```
pub fn connect(local: IpAddr, remote: SocketAddr) -> io::Result<TcpStream> {
    let local = match (local, remote) {
        (IpAddr::V6(v6), SocketAddr::V4(_)) => v6.to_ipv4_mapped().map_or(local, IpAddr::V4),
        _ => local,
    };
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(remote),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::new(local, 0).into())?;
    match socket.connect(&remote.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
        Err(e) => return Err(e),
    }
    Ok(socket.into())
}

/// A callback for every server event (after it is logged).
pub type OnEvent = Box<dyn FnMut(&Event) + Send>;

/// The slow answers of a std runtime, on one worker thread: argon2 password
/// checks (unknown users are checked against a dummy hash of the same cost,
/// so a refusal's timing does not tell whether the account exists) and
/// saves of the lease and progress files. Each finished job writes a byte
/// to the wake-up socket the runtime polls; the runtime then calls
/// [`Services::deliver`].
pub struct Services {
    files: StateFiles,
    jobs: Option<mpsc::Sender<Job>>,
    results: mpsc::Receiver<Done>,
    thread: Option<JoinHandle<()>>,
    on_event: Option<OnEvent>,
    /// Events reported before a callback was set (binding, at start), for
    /// the callback to see first.
    early: Vec<Event>,
    /// The server is stopping: saves are written at once.
    stopping: bool,
    /// Why the last save failed, until one succeeds.
    save_error: Option<String>,
    /// The runtime is binding its listeners and reports a failure to its
    /// caller: a listener that failed is logged at debug level only.
    binding: bool,
}

/// Events kept for a callback set late; past this they are only logged.
const EARLY_EVENTS: usize = 256;

impl std::fmt::Debug for Services {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Services")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Services {
    /// Starts the worker; it writes to `wake` after each job. Returns the
    /// services and the socket's other end, for the runtime to poll.
    pub fn start(files: StateFiles) -> io::Result<(Services, UnixStream)> {
        let (wake_rx, mut wake) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        wake_rx.set_nonblocking(true)?;
        let dummy = auth::hash_password("netboot-dummy-password").map_err(io::Error::other)?;
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("netboot-worker".into())
            .spawn(move || {
                for job in job_rx {
                    let done = match job {
                        Job::Verify {
                            socket,
                            hash,
                            password,
                        } => {
                            let ok = match &hash {
                                Some(h) => auth::verify_password(h, &password),
                                None => {
                                    let _ = auth::verify_password(&dummy, &password);
                                    false
                                }
                            };
                            Done::Verified { socket, ok }
                        }
                        Job::Save(snapshot) => Done::Saved {
                            version: snapshot.version,
                            result: snapshot.write(),
                        },
                    };
                    if done_tx.send(done).is_err() {
                        break;
                    }
                    // A full socket already holds a pending wake-up.
                    let _ = wake.write(&[1]);
                }
            })?;
        Ok((
            Services {
                files,
                jobs: Some(job_tx),
                results: done_rx,
                save_error: None,
                binding: false,
                thread: Some(thread),
                on_event: None,
                early: Vec::new(),
                stopping: false,
            },
            wake_rx,
        ))
    }

    /// Calls `f` with every event, after it is logged, starting with the
    /// events reported before it was set (at most 256: the sockets bound at
    /// start, the leases dropped while restoring).
    pub fn on_event(&mut self, mut f: OnEvent) {
        for event in self.early.drain(..) {
            f(&event);
        }
        self.on_event = Some(f);
    }

    /// Queues the check of `password` for `user` (answered later).
    pub fn verify(&mut self, site: &Site, socket: SocketId, user: &str, password: &str) {
        let job = Job::Verify {
            socket,
            hash: site.password_hash(user),
            password: password.to_string(),
        };
        if let Some(tx) = &self.jobs {
            let _ = tx.send(job);
        }
    }

    /// The server is stopping: from now on saves are written at once.
    pub fn set_stopping(&mut self) {
        self.stopping = true;
    }

    /// True once [`Services::set_stopping`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping
    }

    /// Renders the state `request` names and queues the write (answered
    /// later).
    pub fn save(&mut self, now: Instant, request: SaveRequest, server: &HostServer) {
        let snapshot = self.files.snapshot(request, server, now);
        if let Some(tx) = &self.jobs {
            let _ = tx.send(Job::Save(snapshot));
        }
    }

    /// Writes the state `request` names now, on this thread (at shutdown).
    pub fn save_now(&mut self, now: Instant, request: SaveRequest, server: &HostServer) -> bool {
        let result = self.files.snapshot(request, server, now).write();
        self.saved(&result)
    }

    /// Logs a failed save (an error line) and keeps its cause for
    /// [`Services::save_error`]; a save that made it clears it.
    fn saved(&mut self, result: &io::Result<()>) -> bool {
        match result {
            Ok(()) => {
                self.save_error = None;
                true
            }
            Err(e) => {
                tracing::error!("{e}");
                self.save_error = Some(e.to_string());
                false
            }
        }
    }

    /// While `on`, the runtime is binding its listening sockets and returns
    /// a failure to its caller, which reports it: a listener that failed
    /// is then logged at debug level, not as an error line of its own.
    pub fn binding(&mut self, on: bool) {
        self.binding = on;
    }

    /// Why the last save failed, when the last one did (the file and the
    /// system's reason).
    pub fn save_error(&self) -> Option<&str> {
        self.save_error.as_deref()
    }

    /// The answers that are ready: hands each to `server`. Call it when the
    /// wake-up socket is readable (after draining it), then drain the
    /// server.
    pub fn deliver(&mut self, server: &mut HostServer, now: Instant) {
        while let Ok(done) = self.results.try_recv() {
            match done {
                Done::Verified { socket, ok } => server.login_verified(now, socket, ok),
                Done::Saved { version, result } => {
                    let ok = self.saved(&result);
                    server.saved(now, version, ok);
                }
            }
        }
    }
}

/// The worker of both std runtimes.
impl Worker<FsStore, Site> for Services {
    /// The check goes to the worker thread, against `server`'s accounts, and
    /// is answered later (a server without FTP asks for none).
    fn verify_login(
        &mut self,
        socket: SocketId,
        user: &str,
        password: &str,
        server: &HostServer,
    ) -> Option<bool> {
        let ftp = server.ftp()?;
        self.verify(ftp.accounts(), socket, user, password);
        None
    }

    /// Queued for the worker thread (answered later) or, once the server is
    /// stopping, written now so that the final state is on disk before the
    /// runtime ends.
    fn save(&mut self, now: Instant, request: SaveRequest, server: &HostServer) -> Option<bool> {
        if self.stopping {
            return Some(self.save_now(now, request, server));
        }
        Services::save(self, now, request, server);
        None
    }

    /// Logs `event` and passes it to the callback.
    fn report(&mut self, event: &Event) {
        match event {
            // The runtime's caller reports it (one line, with the way out).
            Event::ListenFailed { .. } if self.binding => tracing::debug!("{event}"),
            _ => log(event),
        }
        match self.on_event.as_mut() {
            Some(f) => f(event),
            None if self.early.len() < EARLY_EVENTS => self.early.push(event.clone()),
            None => {}
        }
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::time::Duration;

    #[test]
    fn a_bootp_socket_on_a_missing_interface_names_it() {
        let role = UdpRole::Bootp {
            interface: Some("nb-nosuch0".try_into().unwrap()),
        };
        let e = open_udp("127.0.0.1:0".parse().unwrap(), &role).unwrap_err();
        if e.kind() == io::ErrorKind::PermissionDenied {
            eprintln!("skip: binding to an interface needs CAP_NET_RAW here: {e}");
            return;
        }
        assert_eq!(
            e.to_string(),
            "cannot bind 127.0.0.1:0 to interface nb-nosuch0: no such interface"
        );
    }

    #[test]
    fn checks_run_off_the_caller_and_announce_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let hash = auth::hash_with_cost("right", 8, 1).unwrap();
        let config = crate::ftp::FtpConfig {
            root: dir.path().to_path_buf(),
            users: vec![crate::ftp::FtpUser {
                name: "u".into(),
                password_hash: hash,
                root: None,
                writable: None,
            }],
            ..Default::default()
        };
        let site = Site::open(&config).unwrap();
        let (mut services, mut wake) = Services::start(StateFiles::default()).unwrap();
        for (n, (user, password)) in [("u", "right"), ("u", "wrong"), ("nobody", "x")]
            .into_iter()
            .enumerate()
        {
            services.verify(&site, SocketId::from_raw(n as u64), user, password);
        }
        let mut got = Vec::new();
        for _ in 0..500 {
            let mut byte = [0u8; 8];
            let _ = wake.read(&mut byte);
            while let Ok(Done::Verified { socket, ok }) = services.results.try_recv() {
                got.push((socket.raw(), ok));
            }
            if got.len() == 3 {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(got, [(0, true), (1, false), (2, false)]);
    }
}
