//! The FTP server on the mio event loop: a [`Service`] hosting any number
//! of [`ServerSession`]s.
//!
//! Everything FTP-specific is decided by the core session machine; this
//! module owns the sockets and files. Per connection it keeps the control
//! stream, a bounded input buffer, at most one passive listener, one data
//! stream and one open file. Tokens: `0` is the control listener, `1` the
//! password verifier's wake-up socket; a session in slot `s` uses
//! `2 + 3s` (control), `3 + 3s` (passive listener) and `4 + 3s` (data).
//!
//! * Passive listeners bind the control connection's local address, on a
//!   port from the configured range (tried from a random start) or any free
//!   port. The core accepts a data connection only from the control peer's
//!   address; others are closed at once.
//! * Downloads in `TYPE I` go through `sendfile(2)` on Linux, uploads in
//!   `TYPE I` (other than `APPE`) through `splice(2)` from the socket into a
//!   pipe and from the pipe into the file (rustix, no `unsafe`); `TYPE A`
//!   transfers, `APPE` and listings go through a buffer and the core's
//!   pumps.
//! * Uploads are written aside by [`FsStore`] and published on a clean end
//!   of the data stream; anything else (ABOR, timeout, a dropped control or
//!   data connection) discards them.
//! * Each transfer ends with one `tracing` line: user, file, bytes, time.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};

use mio::Interest;
use mio::event::Event as MioEvent;
use mio::net::{TcpListener, TcpStream, UnixStream};
use netboot_core::ftp::server::glue::{self, Opened, Outgoing, ReceivePump, SendBuffer};
use netboot_core::ftp::server::{
    Event, ServerConfig, ServerSession, TOO_MANY_SESSIONS, TransferKind, TransferOutcome,
};
use netboot_core::rng::Rng;
use netboot_core::storage::Storage;
use netboot_core::time::Instant;
use netboot_std::fs::{FsStore, FsWriter};
use netboot_std::ftp::FtpConfig;
use netboot_std::ftp::auth::{self, Job, Verifier};
use netboot_std::ftp::site::{Site, listen, listen_passive, unix_now};
use tracing::{debug, info, warn};

use crate::runtime::{Context, Service, TimerQueue};

const LISTENER: usize = 0;
const WAKE: usize = 1;
const INPUT_LIMIT: usize = 8192;
const SEND_BUFFER: usize = 64 * 1024;
const RECV_BUFFER: usize = 128 * 1024;

enum Running {
    /// `TYPE I` download through sendfile.
    SendFile { offset: u64 },
    /// Download or listing through a buffer.
    Send(Box<SendBuffer<Vec<u8>>>),
    /// Upload through a buffer (`TYPE A`, `APPE`).
    Receive { pump: ReceivePump, buf: Vec<u8> },
    /// `TYPE I` upload through `splice(2)`: socket → pipe → file, without
    /// copying through user space. `pending` bytes sit in the pipe.
    #[cfg(target_os = "linux")]
    Splice {
        pipe: (std::os::fd::OwnedFd, std::os::fd::OwnedFd),
        pending: usize,
    },
}

struct Transfer {
    running: Running,
    path: String,
    kind: TransferKind,
    started: std::time::Instant,
    bytes: u64,
}

struct Conn {
    generation: u32,
    session: ServerSession,
    control: TcpStream,
    peer: SocketAddr,
    input: Vec<u8>,
    read_closed: bool,
    store: Option<FsStore>,
    listener: Option<TcpListener>,
    data: Option<TcpStream>,
    connecting: bool,
    reader: Option<std::fs::File>,
    writer: Option<FsWriter>,
    /// How `writer` was opened (splice cannot write to `O_APPEND` files).
    write_mode: Option<netboot_core::storage::WriteMode>,
    transfer: Option<Transfer>,
    /// The user whose password the verifier thread is checking.
    verifying: Option<String>,
}

/// The FTP [`Service`].
pub struct FtpService {
    config: ServerConfig,
    listener: TcpListener,
    local: SocketAddr,
    site: Site,
    max_sessions: usize,
    max_per_ip: usize,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    per_ip: HashMap<IpAddr, usize>,
    timers: TimerQueue<(usize, u32)>,
    generation: u32,
    verifier: Option<Verifier>,
    wake: UnixStream,
    rng: Rng,
    live: usize,
    again: Vec<(usize, u32)>,
    on_transfer: Option<OnTransfer>,
}

/// A finished (or abandoned) data transfer, as the server logs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    /// The client's control-connection address.
    pub peer: SocketAddr,
    /// The logged-in user, if any.
    pub user: Option<String>,
    /// The file or directory, as a path in the session's root.
    pub path: String,
    /// `RETR`, `STOR` or `LIST`.
    pub direction: &'static str,
    /// Bytes moved.
    pub bytes: u64,
    /// `complete`, `aborted`, `data connection lost`, `storage error` or
    /// `connection closed`.
    pub outcome: &'static str,
    /// Time since the transfer started.
    pub elapsed: std::time::Duration,
}

/// A callback for every transfer that ends.
pub type OnTransfer = Box<dyn FnMut(&TransferRecord) + Send>;

impl FtpService {
    /// Binds the control listener and opens the stores; errors (an address
    /// in use, a missing root, a malformed hash) come back here, before the
    /// loop runs.
    pub fn bind(config: &FtpConfig) -> io::Result<FtpService> {
        let site = Site::open(config)?;
        let listener = TcpListener::from_std(listen(config.listen)?);
        let local = listener.local_addr()?;
        let (wake, wake_tx) = UnixStream::pair()?;
        let wake_tx = std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(wake_tx));
        wake_tx.set_nonblocking(true)?;
        let dummy = auth::hash_password("netboot-dummy-password").map_err(io::Error::other)?;
        let verifier = Verifier::start(wake_tx, dummy)?;
        Ok(FtpService {
            config: *site.session_config(),
            listener,
            local,
            site,
            max_sessions: config.max_sessions.max(1),
            max_per_ip: config.max_sessions_per_ip.max(1),
            conns: Vec::new(),
            free: Vec::new(),
            per_ip: HashMap::new(),
            timers: TimerQueue::new(),
            generation: 0,
            verifier: Some(verifier),
            wake,
            rng: Rng::new(Site::seed()),
            live: 0,
            again: Vec::new(),
            on_transfer: None,
        })
    }

    /// The address the control listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Calls `f` on the event-loop thread whenever a data transfer ends
    /// (after it is logged), for a combined server's per-client lines.
    pub fn on_transfer(mut self, f: impl FnMut(&TransferRecord) + Send + 'static) -> Self {
        self.on_transfer = Some(Box::new(f));
        self
    }

    fn accept(&mut self, cx: &mut Context<'_>) {
        loop {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and the like: drop this round, the listener
                    // stays readable and is retried on the next event.
                    warn!(error = %e, "ftp: accept failed");
                    return;
                }
            };
            let ip = peer.ip().to_canonical();
            let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
            if self.live >= self.max_sessions || from_ip >= self.max_per_ip {
                let _ = stream.write(TOO_MANY_SESSIONS.as_bytes());
                info!(%peer, "ftp: refused: too many sessions");
                continue;
            }
            let _ = stream.set_nodelay(true);
            let local = stream.local_addr().unwrap_or(self.local);
            // ABOR sent with MSG_OOB (Python's ftplib) must stay in the stream.
            let _ = socket2::SockRef::from(&stream).set_out_of_band_inline(true);
            let slot = self.free.pop().unwrap_or_else(|| {
                self.conns.push(None);
                self.conns.len() - 1
            });
            if cx
                .register(
                    &mut stream,
                    2 + 3 * slot,
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                self.free.push(slot);
                continue;
            }
            self.generation = self.generation.wrapping_add(1);
            let now = cx.now();
            self.conns[slot] = Some(Conn {
                generation: self.generation,
                session: ServerSession::new(now, self.config, peer, local),
                control: stream,
                peer,
                input: Vec::new(),
                read_closed: false,
                store: None,
                listener: None,
                data: None,
                connecting: false,
                reader: None,
                writer: None,
                write_mode: None,
                transfer: None,
                verifying: None,
            });
            self.live += 1;
            *self.per_ip.entry(ip).or_insert(0) += 1;
            debug!(%peer, slot, "ftp: session opened");
            self.drive(cx, slot);
        }
    }

    fn close(&mut self, cx: &mut Context<'_>, slot: usize) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        let _ = cx.deregister(&mut conn.control);
        if let Some(t) = conn.transfer.take() {
            log_transfer(&conn, &t, "connection closed", &mut self.on_transfer);
        }
        close_data(cx, &mut conn);
        self.timers.forget((slot, conn.generation));
        self.live -= 1;
        let ip = conn.peer.ip().to_canonical();
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
        self.free.push(slot);
        debug!(peer = %conn.peer, slot, "ftp: session closed");
    }

    /// Reads, feeds, writes and answers events until the session settles.
    fn drive(&mut self, cx: &mut Context<'_>, slot: usize) {
        // Bounded so one busy session cannot starve the others; a session
        // that still has work when the bound is reached is driven again on
        // the next turn of the loop (`again`).
        let mut settled = false;
        for _ in 0..64 {
            let now = cx.now();
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            // Read while there is room.
            while !conn.read_closed && conn.input.len() < INPUT_LIMIT {
                let mut buf = [0u8; 4096];
                let room = (INPUT_LIMIT - conn.input.len()).min(buf.len());
                match conn.control.read(&mut buf[..room]) {
                    Ok(0) => conn.read_closed = true,
                    Ok(n) => conn.input.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => conn.read_closed = true,
                }
            }
            let used = conn.session.handle_bytes(now, &conn.input);
            conn.input.drain(..used);
            // Write replies.
            let mut write_failed = false;
            let mut write_blocked = false;
            while !conn.session.output().is_empty() {
                match conn.control.write(conn.session.output()) {
                    Ok(n) => conn.session.advance_output(n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        write_blocked = true;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        write_failed = true;
                        break;
                    }
                }
            }
            let progressed = self.events(cx, slot);
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return;
            };
            let flushed = conn.session.output().is_empty();
            // A closing session whose peer does not read its last reply is
            // not kept waiting for it.
            if write_failed
                || (conn.session.is_closed() && (flushed || write_blocked))
                || (conn.read_closed && conn.input.is_empty() && conn.verifying.is_none())
                || (conn.read_closed && conn.session.is_closed())
            {
                return self.close(cx, slot);
            }
            if !progressed && used == 0 {
                settled = true;
                break;
            }
        }
        if let Some(conn) = self.conns.get(slot).and_then(Option::as_ref) {
            if !settled {
                self.again.push((slot, conn.generation));
            }
            if let Some(at) = conn.session.poll_timeout() {
                self.timers.schedule((slot, conn.generation), at);
            }
        }
    }

    fn events(&mut self, cx: &mut Context<'_>, slot: usize) -> bool {
        let mut progressed = false;
        for _ in 0..16 {
            let mut start_pump = false;
            let now = cx.now();
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                return progressed;
            };
            let Some(event) = conn.session.poll_event() else {
                return progressed;
            };
            progressed = true;
            match event {
                Event::VerifyLogin { user, password } => {
                    let job = Job {
                        key: (slot as u64) << 32 | u64::from(conn.generation),
                        hash: self.site.password_hash(user),
                        password: password.to_string(),
                    };
                    conn.verifying = Some(user.to_string());
                    if let Some(v) = &self.verifier {
                        v.submit(job);
                    }
                }
                Event::LoggedIn {
                    user, anonymous, ..
                } => {
                    conn.store = self.site.store_for(user, anonymous);
                    info!(peer = %conn.peer, user, anonymous, "ftp: login");
                }
                Event::Storage(op) => {
                    if let netboot_core::ftp::server::StorageOp::OpenWrite(_, mode) = op {
                        conn.write_mode = Some(mode);
                    }
                    let answer = match conn.store.as_mut() {
                        Some(store) => {
                            let (answer, opened) = glue::perform(store, &op);
                            match opened {
                                Opened::Reader(r) => conn.reader = Some(r),
                                Opened::Writer(w) => conn.writer = Some(w),
                                Opened::Nothing => {}
                            }
                            answer
                        }
                        None => Err(netboot_core::storage::StoreError::PermissionDenied),
                    };
                    let _ = conn.session.storage_done(now, answer);
                }
                Event::Listen => {
                    let local_ip = conn
                        .control
                        .local_addr()
                        .map_or(self.local.ip(), |a| a.ip());
                    match listen_passive(local_ip, self.site.passive_ports(), &mut self.rng) {
                        Ok(l) => {
                            let mut l = TcpListener::from_std(l);
                            let port = l.local_addr().map_or(0, |a| a.port());
                            if cx
                                .register(&mut l, 3 + 3 * slot, Interest::READABLE)
                                .is_ok()
                            {
                                if let Some(mut old) = conn.listener.replace(l) {
                                    let _ = cx.deregister(&mut old);
                                }
                                let _ = conn.session.passive_listening(now, port);
                            } else {
                                let _ = conn.session.passive_failed(now);
                            }
                        }
                        Err(e) => {
                            warn!(error = %e, "ftp: cannot open a passive listener");
                            let _ = conn.session.passive_failed(now);
                        }
                    }
                }
                Event::Connect(addr) => match TcpStream::connect(addr) {
                    Ok(mut s) => {
                        if cx
                            .register(
                                &mut s,
                                4 + 3 * slot,
                                Interest::READABLE | Interest::WRITABLE,
                            )
                            .is_ok()
                        {
                            conn.data = Some(s);
                            conn.connecting = true;
                        } else {
                            let _ = conn.session.data_connect_failed(now);
                        }
                    }
                    Err(_) => {
                        let _ = conn.session.data_connect_failed(now);
                    }
                },
                Event::Transfer(t) => {
                    let sendfile = matches!(t.kind, TransferKind::Retr)
                        && !t.ascii
                        && cfg!(target_os = "linux");
                    let running = if sendfile {
                        Running::SendFile { offset: t.offset }
                    } else {
                        match Outgoing::for_transfer(&t, unix_now()) {
                            Some(what) => {
                                Running::Send(Box::new(SendBuffer::new(what, vec![0; SEND_BUFFER])))
                            }
                            None => match splice_pipe(t.ascii, conn.write_mode) {
                                #[cfg(target_os = "linux")]
                                Some(pipe) => Running::Splice { pipe, pending: 0 },
                                _ => Running::Receive {
                                    pump: ReceivePump::new(t.ascii),
                                    buf: vec![0; RECV_BUFFER],
                                },
                            },
                        }
                    };
                    conn.transfer = Some(Transfer {
                        running,
                        path: t.path.to_string(),
                        kind: t.kind,
                        started: std::time::Instant::now(),
                        bytes: 0,
                    });
                    start_pump = true;
                }
                Event::Abort => {
                    if let Some(t) = conn.transfer.take() {
                        log_transfer(conn, &t, "aborted", &mut self.on_transfer);
                    }
                    close_data(cx, conn);
                    let _ = conn.session.transfer_done(now, TransferOutcome::Aborted);
                }
                Event::CloseData => close_data(cx, conn),
                Event::StatListing => {
                    let result = match conn.store.as_mut() {
                        Some(store) => {
                            glue::stat_listing(&mut conn.session, store, now, unix_now())
                        }
                        None => conn.session.stat_listing(now, |_, _| {
                            Err(netboot_core::storage::StoreError::PermissionDenied)
                        }),
                    };
                    debug_assert!(result.is_ok());
                }
                _ => {}
            }
            if start_pump {
                self.pump(cx, slot);
            }
        }
        progressed
    }

    /// Moves data on the running transfer until the socket would block.
    fn pump(&mut self, cx: &mut Context<'_>, slot: usize) {
        let now = cx.now();
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        let (Some(t), Some(data)) = (conn.transfer.as_mut(), conn.data.as_mut()) else {
            return;
        };
        let before = t.bytes;
        let result = match &mut t.running {
            Running::SendFile { offset } => match conn.reader.as_ref() {
                Some(file) => send_file(data, file, offset, &mut t.bytes),
                None => Err(Outcome::Storage(netboot_core::storage::StoreError::Io)),
            },
            Running::Send(out) => match conn.store.as_mut() {
                Some(store) => send_buffered(data, store, conn.reader.as_mut(), out, &mut t.bytes),
                None => Err(Outcome::Storage(netboot_core::storage::StoreError::Io)),
            },
            Running::Receive { pump, buf } => match (conn.store.as_mut(), conn.writer.as_mut()) {
                (Some(store), Some(writer)) => {
                    receive(data, store, writer, pump, buf, &mut t.bytes)
                }
                _ => Err(Outcome::Storage(netboot_core::storage::StoreError::Io)),
            },
            #[cfg(target_os = "linux")]
            Running::Splice { pipe, pending } => {
                match conn.writer.as_mut().and_then(FsWriter::file) {
                    Some(file) => splice_in(data, pipe, file, pending, &mut t.bytes),
                    None => Err(Outcome::Storage(netboot_core::storage::StoreError::Io)),
                }
            }
        };
        if t.bytes != before {
            conn.session.transfer_progress(now, t.bytes);
        }
        let outcome = match result {
            Ok(false) => {
                self.reschedule(slot);
                return;
            }
            Ok(true) => {
                // Finished: commit an upload (a spliced one is already all
                // in the file).
                let bytes = t.bytes;
                let committed = match (&mut t.running, conn.store.as_mut(), conn.writer.take()) {
                    (Running::Receive { pump, .. }, Some(store), Some(writer)) => {
                        pump.finish(store, writer).map(|_| ())
                    }
                    (_, Some(store), Some(writer)) => store.commit(writer),
                    _ => Ok(()),
                };
                match committed {
                    Ok(()) => TransferOutcome::Complete { bytes },
                    Err(e) => TransferOutcome::Storage(e),
                }
            }
            Err(Outcome::Lost) => TransferOutcome::ConnectionLost,
            Err(Outcome::Storage(e)) => TransferOutcome::Storage(e),
        };
        if let Some(t) = conn.transfer.take() {
            let label = match outcome {
                TransferOutcome::Complete { .. } => "complete",
                TransferOutcome::ConnectionLost => "data connection lost",
                _ => "storage error",
            };
            log_transfer(conn, &t, label, &mut self.on_transfer);
        }
        if let Some(data) = conn.data.as_mut() {
            let _ = data.flush();
            let _ = data.shutdown(std::net::Shutdown::Write);
        }
        close_data(cx, conn);
        let _ = conn.session.transfer_done(now, outcome);
    }

    fn reschedule(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get(slot).and_then(Option::as_ref)
            && let Some(at) = conn.session.poll_timeout()
        {
            self.timers.schedule((slot, conn.generation), at);
        }
    }

    fn passive_ready(&mut self, cx: &mut Context<'_>, slot: usize) {
        let now = cx.now();
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        loop {
            let Some(listener) = conn.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, from)) => {
                    if !conn.session.accept_data_connection(now, from) {
                        warn!(peer = %conn.peer, %from, "ftp: refused a data connection from another address");
                        continue;
                    }
                    if cx
                        .register(
                            &mut stream,
                            4 + 3 * slot,
                            Interest::READABLE | Interest::WRITABLE,
                        )
                        .is_err()
                    {
                        continue;
                    }
                    conn.data = Some(stream);
                    if let Some(mut l) = conn.listener.take() {
                        let _ = cx.deregister(&mut l);
                    }
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
        self.drive(cx, slot);
    }

    fn data_ready(&mut self, cx: &mut Context<'_>, slot: usize) {
        let now = cx.now();
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return;
        };
        if conn.connecting {
            let Some(data) = conn.data.as_ref() else {
                return;
            };
            match data.take_error() {
                Ok(None) if data.peer_addr().is_ok() => {
                    conn.connecting = false;
                    let _ = conn.session.data_connected(now);
                }
                Ok(None) => return, // still connecting
                _ => {
                    conn.connecting = false;
                    close_data(cx, conn);
                    let _ = conn.session.data_connect_failed(now);
                }
            }
            return self.drive(cx, slot);
        }
        if conn.transfer.is_some() {
            self.pump(cx, slot);
            self.drive(cx, slot);
        }
    }

    fn verified(&mut self, cx: &mut Context<'_>) {
        let mut buf = [0u8; 256];
        while matches!(self.wake.read(&mut buf), Ok(n) if n > 0) {}
        while let Some((key, ok)) = self.verifier.as_ref().and_then(Verifier::try_result) {
            let slot = (key >> 32) as usize;
            let generation = key as u32;
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if conn.generation != generation {
                continue;
            }
            let user = conn.verifying.take().unwrap_or_default();
            let now = cx.now();
            let verdict = ok.then(|| self.site.writable(&user));
            if let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) {
                if !ok {
                    info!(peer = %conn.peer, "ftp: login refused");
                }
                let _ = conn.session.login_verified(now, verdict);
            }
            self.drive(cx, slot);
        }
    }
}

fn log_transfer(
    conn: &Conn,
    t: &Transfer,
    outcome: &'static str,
    on_transfer: &mut Option<OnTransfer>,
) {
    let direction = match t.kind {
        TransferKind::Retr => "RETR",
        TransferKind::Stor => "STOR",
        TransferKind::List(..) => "LIST",
    };
    info!(
        peer = %conn.peer,
        user = conn.session.user().unwrap_or("-"),
        file = %format_args!("/{}", t.path),
        direction,
        bytes = t.bytes,
        duration_ms = t.started.elapsed().as_millis() as u64,
        outcome,
        "ftp: transfer"
    );
    if let Some(f) = on_transfer.as_mut() {
        f(&TransferRecord {
            peer: conn.peer,
            user: conn.session.user().map(str::to_string),
            path: t.path.clone(),
            direction,
            bytes: t.bytes,
            outcome,
            elapsed: t.started.elapsed(),
        });
    }
}

fn close_data(cx: &mut Context<'_>, conn: &mut Conn) {
    conn.write_mode = None;
    if let Some(mut l) = conn.listener.take() {
        let _ = cx.deregister(&mut l);
    }
    if let Some(mut d) = conn.data.take() {
        let _ = cx.deregister(&mut d);
    }
    conn.connecting = false;
    conn.reader = None;
    if let (Some(w), Some(store)) = (conn.writer.take(), conn.store.as_mut()) {
        store.discard(w);
    }
    conn.transfer = None;
}

enum Outcome {
    Lost,
    Storage(netboot_core::storage::StoreError),
}

fn lost_or_block(e: io::Error) -> Result<bool, Outcome> {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(false),
        _ => Err(Outcome::Lost),
    }
}

/// `Ok(true)`: finished; `Ok(false)`: would block.
#[cfg(target_os = "linux")]
fn send_file(
    data: &mut TcpStream,
    file: &std::fs::File,
    offset: &mut u64,
    bytes: &mut u64,
) -> Result<bool, Outcome> {
    loop {
        match rustix::fs::sendfile(&*data, file, Some(offset), 1 << 20) {
            Ok(0) => return Ok(true),
            Ok(n) => *bytes += n as u64,
            Err(rustix::io::Errno::AGAIN) => return Ok(false),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::PIPE | rustix::io::Errno::CONNRESET) => {
                return Err(Outcome::Lost);
            }
            Err(_) => return Err(Outcome::Storage(netboot_core::storage::StoreError::Io)),
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn send_file(
    _: &mut TcpStream,
    _: &std::fs::File,
    _: &mut u64,
    _: &mut u64,
) -> Result<bool, Outcome> {
    Err(Outcome::Storage(
        netboot_core::storage::StoreError::Unsupported,
    ))
}

/// Writes a download or listing until the socket is full or it ends.
/// `Ok(true)`: everything was sent; `Ok(false)`: would block.
fn send_buffered(
    data: &mut TcpStream,
    store: &mut FsStore,
    mut reader: Option<&mut std::fs::File>,
    out: &mut SendBuffer<Vec<u8>>,
    bytes: &mut u64,
) -> Result<bool, Outcome> {
    loop {
        let chunk = out
            .pending(store, reader.as_deref_mut())
            .map_err(Outcome::Storage)?;
        if chunk.is_empty() {
            return Ok(true);
        }
        match data.write(chunk) {
            Ok(0) => return Err(Outcome::Lost),
            Ok(n) => {
                out.advance(n);
                *bytes += n as u64;
            }
            Err(e) => return lost_or_block(e),
        }
    }
}

/// A pipe for a `TYPE I` upload that can be spliced: not `APPE`, whose
/// `O_APPEND` file `splice(2)` refuses.
#[cfg(target_os = "linux")]
fn splice_pipe(
    ascii: bool,
    mode: Option<netboot_core::storage::WriteMode>,
) -> Option<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use rustix::pipe::{PipeFlags, fcntl_setpipe_size, pipe_with};
    if ascii || matches!(mode, None | Some(netboot_core::storage::WriteMode::Append)) {
        return None;
    }
    let pipe = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK).ok()?;
    // A larger pipe means fewer system calls; the kernel may refuse.
    let _ = fcntl_setpipe_size(&pipe.1, 1 << 20);
    Some(pipe)
}

#[cfg(not(target_os = "linux"))]
fn splice_pipe(_: bool, _: Option<netboot_core::storage::WriteMode>) -> Option<()> {
    None
}

/// Moves upload data socket → pipe → file. `Ok(true)`: the sender closed
/// the connection and everything is written; `Ok(false)`: would block.
#[cfg(target_os = "linux")]
fn splice_in(
    data: &TcpStream,
    (pipe_r, pipe_w): &(std::os::fd::OwnedFd, std::os::fd::OwnedFd),
    file: &std::fs::File,
    pending: &mut usize,
    bytes: &mut u64,
) -> Result<bool, Outcome> {
    use rustix::io::Errno;
    use rustix::pipe::{SpliceFlags, splice};
    loop {
        while *pending > 0 {
            match splice(pipe_r, None, file, None, *pending, SpliceFlags::MOVE) {
                Ok(0) => return Err(Outcome::Storage(netboot_core::storage::StoreError::Io)),
                Ok(n) => *pending -= n,
                Err(Errno::INTR) => {}
                Err(e) => return Err(Outcome::Storage(netboot_std::fs::store_error(&e.into()))),
            }
        }
        match splice(
            data,
            None,
            pipe_w,
            None,
            1 << 20,
            SpliceFlags::MOVE | SpliceFlags::NONBLOCK,
        ) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                *pending += n;
                *bytes += n as u64;
            }
            Err(Errno::AGAIN) => return Ok(false),
            Err(Errno::INTR) => {}
            Err(_) => return Err(Outcome::Lost),
        }
    }
}

fn receive(
    data: &mut TcpStream,
    store: &mut FsStore,
    writer: &mut FsWriter,
    pump: &mut ReceivePump,
    buf: &mut [u8],
    bytes: &mut u64,
) -> Result<bool, Outcome> {
    loop {
        match data.read(buf) {
            Ok(0) => return Ok(true),
            Ok(n) => {
                *bytes += n as u64;
                pump.absorb(store, writer, &mut buf[..n])
                    .map_err(Outcome::Storage)?;
            }
            Err(e) => return lost_or_block(e),
        }
    }
}

impl Service for FtpService {
    fn name(&self) -> &'static str {
        "ftp"
    }

    fn start(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        cx.register(&mut self.listener, LISTENER, Interest::READABLE)?;
        cx.register(&mut self.wake, WAKE, Interest::READABLE)?;
        info!(addr = %self.local, "ftp: listening");
        Ok(())
    }

    fn ready(&mut self, cx: &mut Context<'_>, token: usize, _event: &MioEvent) {
        match token {
            LISTENER => self.accept(cx),
            WAKE => self.verified(cx),
            t => {
                let slot = (t - 2) / 3;
                match (t - 2) % 3 {
                    0 => self.drive(cx, slot),
                    1 => self.passive_ready(cx, slot),
                    _ => self.data_ready(cx, slot),
                }
            }
        }
    }

    fn timeout(&mut self, cx: &mut Context<'_>) {
        for (slot, generation) in std::mem::take(&mut self.again) {
            if self
                .conns
                .get(slot)
                .and_then(Option::as_ref)
                .is_some_and(|c| c.generation == generation)
            {
                self.drive(cx, slot);
            }
        }
        let now = cx.now();
        let mut due = Vec::new();
        while let Some(key) = self.timers.pop_due(now) {
            due.push(key);
        }
        for (slot, generation) in due {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if conn.generation != generation {
                continue;
            }
            match conn.session.poll_timeout() {
                Some(at) if at <= now => {
                    conn.session.handle_timeout(now);
                    self.drive(cx, slot);
                }
                // The deadline moved later since it was armed.
                Some(at) => self.timers.schedule((slot, generation), at),
                None => {}
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        if self.again.is_empty() {
            self.timers.next()
        } else {
            Some(Instant::ZERO)
        }
    }

    fn shutdown(&mut self, cx: &mut Context<'_>) {
        for slot in 0..self.conns.len() {
            let now = cx.now();
            if let Some(conn) = self.conns[slot].as_mut() {
                conn.session.shutdown(now);
                let out = conn.session.output().to_vec();
                let _ = conn.control.write(&out);
            }
            self.close(cx, slot);
        }
        self.verifier.take();
    }
}

/// Exposed for the combined server and tests: the core policy in use.
impl FtpService {
    /// The per-session policy handed to the core.
    pub fn session_config(&self) -> &ServerConfig {
        &self.config
    }

    /// Sessions currently open.
    pub fn sessions(&self) -> usize {
        self.live
    }
}
