//! One FTP session: the control connection, at most one passive listener
//! or outgoing data connection, one data connection and one open file,
//! driven around the core's [`ServerSession`].
//!
//! The session waits on whichever of these can make progress (a reply to
//! write, a command to read, a data connection to accept or finish
//! connecting, a password check, data to move, the session's deadline, the
//! server's stop signal), applies what happened, and drains the machine's
//! events, until the machine closes or the peer goes away.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_std::io::{ReadExt, WriteExt};
use async_std::net::{Shutdown, TcpListener, TcpStream};
use futures_lite::future;
use netboot_core::ftp::server::glue::{self, Opened, Outgoing, ReceivePump, SendBuffer};
use netboot_core::ftp::server::{Event, ServerSession, TransferKind, TransferOutcome};
use netboot_core::rng::Rng;
use netboot_core::storage::{Storage, StoreError};
use netboot_core::time::Instant;
use netboot_mio::legacy::ftp::TransferRecord;
use netboot_std::clock::Clock;
use netboot_std::fs::{FsStore, FsWriter};
use netboot_std::ftp::auth;
use netboot_std::ftp::site::{Site, listen_passive, unix_now};

use super::server::Shared;
use crate::stop::StopSignal;
use crate::time::sleep_until;

const INPUT_LIMIT: usize = 8192;
const SEND_BUFFER: usize = 64 * 1024;
const RECV_BUFFER: usize = 128 * 1024;
/// How long a closing session waits for its peer to take the last reply.
const LINGER: Duration = Duration::from_secs(2);

type Pending<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Data moving on the data connection.
enum Running {
    /// A download or listing, through a buffer.
    Send(Box<SendBuffer<Vec<u8>>>),
    /// An upload.
    Receive { pump: ReceivePump, buf: Vec<u8> },
}

struct Transfer {
    running: Running,
    path: String,
    kind: TransferKind,
    started: std::time::Instant,
    bytes: u64,
}

/// What a step on the data connection did.
enum Step {
    Moved(u64),
    Finished,
    Lost,
    Storage(StoreError),
}

/// What woke the session.
enum Wake {
    Wrote(io::Result<usize>),
    Read(io::Result<usize>),
    Accepted(io::Result<(TcpStream, SocketAddr)>),
    Connected(io::Result<TcpStream>),
    Verified(bool),
    Data(Step),
    Timeout,
    Stop,
}

pub(super) struct Session {
    shared: Arc<Shared>,
    session: ServerSession,
    control: TcpStream,
    peer: SocketAddr,
    input: Vec<u8>,
    rbuf: Box<[u8]>,
    read_closed: bool,
    store: Option<FsStore>,
    listener: Option<TcpListener>,
    data: Option<TcpStream>,
    connecting: Option<Pending<io::Result<TcpStream>>>,
    reader: Option<std::fs::File>,
    writer: Option<FsWriter>,
    transfer: Option<Transfer>,
    verifying: Option<(String, Pending<bool>)>,
    rng: Rng,
    clock: Clock,
    signal: StopSignal,
}

impl Session {
    pub(super) fn new(
        shared: Arc<Shared>,
        control: TcpStream,
        peer: SocketAddr,
        signal: StopSignal,
    ) -> Session {
        let _ = control.set_nodelay(true);
        let local = control
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        // ABOR sent as urgent data (Python's ftplib) must stay in the stream.
        let _ = socket2::SockRef::from(&control).set_out_of_band_inline(true);
        let clock = Clock::new();
        let session = ServerSession::new(clock.now(), *shared.site.session_config(), peer, local);
        Session {
            shared,
            session,
            control,
            peer,
            input: Vec::new(),
            rbuf: vec![0; 4096].into_boxed_slice(),
            read_closed: false,
            store: None,
            listener: None,
            data: None,
            connecting: None,
            reader: None,
            writer: None,
            transfer: None,
            verifying: None,
            rng: Rng::new(Site::seed()),
            clock,
            signal,
        }
    }

    pub(super) async fn run(mut self) {
        tracing::debug!(peer = %self.peer, "ftp: session opened");
        loop {
            let now = self.clock.now();
            let used = self.session.handle_bytes(now, &self.input);
            self.input.drain(..used);
            let progressed = self.events(now);
            if self.session.is_closed() {
                self.flush_and_close().await;
                break;
            }
            if self.read_closed && self.input.is_empty() && self.verifying.is_none() {
                break;
            }
            if used > 0 || progressed {
                continue;
            }
            let wake = self.wait().await;
            let now = self.clock.now();
            match wake {
                Wake::Wrote(Ok(n)) if n > 0 => self.session.advance_output(n),
                Wake::Wrote(_) => break,
                Wake::Read(Ok(0)) | Wake::Read(Err(_)) => self.read_closed = true,
                Wake::Read(Ok(n)) => self.input.extend_from_slice(&self.rbuf[..n]),
                Wake::Accepted(Ok((stream, from))) => {
                    if self.session.accept_data_connection(now, from) {
                        self.data = Some(stream);
                        self.listener = None;
                    } else {
                        tracing::warn!(peer = %self.peer, %from, "ftp: refused a data connection from another address");
                    }
                }
                Wake::Accepted(Err(_)) => {}
                Wake::Connected(result) => {
                    self.connecting = None;
                    match result {
                        Ok(stream) => {
                            self.data = Some(stream);
                            let _ = self.session.data_connected(now);
                        }
                        Err(_) => {
                            let _ = self.session.data_connect_failed(now);
                        }
                    }
                }
                Wake::Verified(ok) => {
                    let user = self.verifying.take().map(|(u, _)| u).unwrap_or_default();
                    if !ok {
                        tracing::info!(peer = %self.peer, "ftp: login refused");
                    }
                    let verdict = ok.then(|| self.shared.site.writable(&user));
                    let _ = self.session.login_verified(now, verdict);
                }
                Wake::Data(step) => self.data_step(now, step),
                Wake::Timeout => self.session.handle_timeout(now),
                Wake::Stop => {
                    self.session.shutdown(now);
                    self.flush_and_close().await;
                    break;
                }
            }
        }
        if let Some(t) = self.transfer.take() {
            self.log_transfer(&t, "connection closed");
        }
        self.close_data();
        tracing::debug!(peer = %self.peer, "ftp: session closed");
    }

    /// Waits for the first thing that can make progress.
    async fn wait(&mut self) -> Wake {
        let deadline = self.session.poll_timeout();
        let can_read = !self.read_closed && self.input.len() < INPUT_LIMIT;
        let Session {
            session,
            control,
            rbuf,
            listener,
            data,
            connecting,
            verifying,
            transfer,
            store,
            reader,
            writer,
            clock,
            signal,
            ..
        } = self;
        let output = session.output();
        let write = async {
            if output.is_empty() {
                future::pending::<()>().await;
            }
            Wake::Wrote((&*control).write(output).await)
        };
        let read = async {
            if !can_read {
                future::pending::<()>().await;
            }
            Wake::Read((&*control).read(rbuf).await)
        };
        let accept = async {
            match listener {
                Some(l) => Wake::Accepted(l.accept().await),
                None => future::pending().await,
            }
        };
        let connect = async {
            match connecting {
                Some(c) => Wake::Connected(c.await),
                None => future::pending().await,
            }
        };
        let verify = async {
            match verifying {
                Some((_, v)) => Wake::Verified(v.await),
                None => future::pending().await,
            }
        };
        let step = async {
            match (transfer.as_mut(), data.as_ref()) {
                (Some(t), Some(d)) => Wake::Data(step(t, d, store.as_mut(), reader, writer).await),
                _ => future::pending().await,
            }
        };
        let timer = async {
            sleep_until(clock, deadline).await;
            Wake::Timeout
        };
        let stop = async {
            signal.wait().await;
            Wake::Stop
        };
        future::or(
            write,
            future::or(
                read,
                future::or(
                    accept,
                    future::or(
                        connect,
                        future::or(verify, future::or(step, future::or(timer, stop))),
                    ),
                ),
            ),
        )
        .await
    }

    /// Writes what is left of the replies (for a short while), then closes.
    async fn flush_and_close(&mut self) {
        let Session {
            session, control, ..
        } = self;
        let out = session.output().to_vec();
        let _ = future::or(async { (&*control).write_all(&out).await }, async {
            async_io::Timer::after(LINGER).await;
            Ok(())
        })
        .await;
        session.advance_output(out.len());
        let _ = control.shutdown(Shutdown::Both);
    }

    /// Answers the machine's events; true when there were any.
    fn events(&mut self, now: Instant) -> bool {
        let mut progressed = false;
        while let Some(event) = self.session.poll_event() {
            progressed = true;
            match event {
                Event::VerifyLogin { user, password } => {
                    let hash = self.shared.site.password_hash(user);
                    let dummy = self.shared.dummy_hash.clone();
                    let password = password.to_string();
                    let check = blocking::unblock(move || match hash {
                        Some(h) => auth::verify_password(&h, &password),
                        None => {
                            let _ = auth::verify_password(&dummy, &password);
                            false
                        }
                    });
                    self.verifying = Some((user.to_string(), Box::pin(check)));
                }
                Event::LoggedIn {
                    user, anonymous, ..
                } => {
                    self.store = self.shared.site.store_for(user, anonymous);
                    tracing::info!(peer = %self.peer, user, anonymous, "ftp: login");
                }
                Event::Storage(op) => {
                    let answer = match self.store.as_mut() {
                        Some(store) => {
                            let (answer, opened) = glue::perform(store, &op);
                            match opened {
                                Opened::Reader(r) => self.reader = Some(r),
                                Opened::Writer(w) => self.writer = Some(w),
                                Opened::Nothing => {}
                            }
                            answer
                        }
                        None => Err(StoreError::PermissionDenied),
                    };
                    let _ = self.session.storage_done(now, answer);
                }
                Event::Listen => {
                    let ip = self.control.local_addr().map_or(self.peer.ip(), |a| a.ip());
                    match listen_passive(ip, self.shared.site.passive_ports(), &mut self.rng) {
                        Ok(l) => {
                            let port = l.local_addr().map_or(0, |a| a.port());
                            self.listener = Some(TcpListener::from(l));
                            let _ = self.session.passive_listening(now, port);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "ftp: cannot open a passive listener");
                            let _ = self.session.passive_failed(now);
                        }
                    }
                }
                Event::Connect(addr) => {
                    self.connecting = Some(Box::pin(TcpStream::connect(addr)));
                }
                Event::Transfer(t) => {
                    let running = match Outgoing::for_transfer(&t, unix_now()) {
                        Some(what) => {
                            Running::Send(Box::new(SendBuffer::new(what, vec![0; SEND_BUFFER])))
                        }
                        None => Running::Receive {
                            pump: ReceivePump::new(t.ascii),
                            buf: vec![0; RECV_BUFFER],
                        },
                    };
                    self.transfer = Some(Transfer {
                        running,
                        path: t.path.to_string(),
                        kind: t.kind,
                        started: std::time::Instant::now(),
                        bytes: 0,
                    });
                }
                Event::Abort => {
                    if let Some(t) = self.transfer.take() {
                        self.log_transfer(&t, "aborted");
                    }
                    self.close_data();
                    let _ = self.session.transfer_done(now, TransferOutcome::Aborted);
                }
                Event::CloseData => self.close_data(),
                Event::StatListing => {
                    let result = match self.store.as_mut() {
                        Some(store) => {
                            glue::stat_listing(&mut self.session, store, now, unix_now())
                        }
                        None => self
                            .session
                            .stat_listing(now, |_, _| Err(StoreError::PermissionDenied)),
                    };
                    debug_assert!(result.is_ok());
                }
                _ => {}
            }
        }
        progressed
    }

    /// Applies a step of the running transfer.
    fn data_step(&mut self, now: Instant, step: Step) {
        let outcome = match step {
            Step::Moved(bytes) => {
                self.session.transfer_progress(now, bytes);
                return;
            }
            Step::Finished => {
                let Some(t) = self.transfer.as_mut() else {
                    return;
                };
                let bytes = t.bytes;
                // An upload is published only now that the sender has
                // closed the connection cleanly.
                let committed = match (&mut t.running, self.store.as_mut(), self.writer.take()) {
                    (Running::Receive { pump, .. }, Some(store), Some(writer)) => {
                        pump.finish(store, writer).map(|_| ())
                    }
                    _ => Ok(()),
                };
                match committed {
                    Ok(()) => TransferOutcome::Complete { bytes },
                    Err(e) => TransferOutcome::Storage(e),
                }
            }
            Step::Lost => TransferOutcome::ConnectionLost,
            Step::Storage(e) => TransferOutcome::Storage(e),
        };
        if let Some(t) = self.transfer.take() {
            let label = match outcome {
                TransferOutcome::Complete { .. } => "complete",
                TransferOutcome::ConnectionLost => "data connection lost",
                _ => "storage error",
            };
            self.log_transfer(&t, label);
        }
        if let Some(data) = self.data.as_ref() {
            let _ = data.shutdown(Shutdown::Write);
        }
        self.close_data();
        let _ = self.session.transfer_done(now, outcome);
    }

    /// Drops the listener, data connection and files of a transfer;
    /// an unfinished upload is discarded.
    fn close_data(&mut self) {
        self.listener = None;
        self.data = None;
        self.connecting = None;
        self.reader = None;
        if let (Some(w), Some(store)) = (self.writer.take(), self.store.as_mut()) {
            store.discard(w);
        }
        self.transfer = None;
    }

    fn log_transfer(&self, t: &Transfer, outcome: &'static str) {
        let direction = match t.kind {
            TransferKind::Retr => "RETR",
            TransferKind::Stor => "STOR",
            TransferKind::List(..) => "LIST",
        };
        tracing::info!(
            peer = %self.peer,
            user = self.session.user().unwrap_or("-"),
            file = %format_args!("/{}", t.path),
            direction,
            bytes = t.bytes,
            duration_ms = t.started.elapsed().as_millis() as u64,
            outcome,
            "ftp: transfer"
        );
        let mut callback = self
            .shared
            .on_transfer
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(f) = callback.as_mut() {
            f(&TransferRecord {
                peer: self.peer,
                user: self.session.user().map(str::to_string),
                path: t.path.clone(),
                direction,
                bytes: t.bytes,
                outcome,
                elapsed: t.started.elapsed(),
            });
        }
    }
}

/// Moves one buffer of data on the running transfer.
async fn step(
    t: &mut Transfer,
    data: &TcpStream,
    store: Option<&mut FsStore>,
    reader: &mut Option<std::fs::File>,
    writer: &mut Option<FsWriter>,
) -> Step {
    let Some(store) = store else {
        return Step::Storage(StoreError::Io);
    };
    match &mut t.running {
        Running::Send(out) => {
            let chunk = match out.pending(store, reader.as_mut()) {
                Ok([]) => return Step::Finished,
                Ok(chunk) => chunk,
                Err(e) => return Step::Storage(e),
            };
            match (&*data).write(chunk).await {
                Ok(0) | Err(_) => Step::Lost,
                Ok(n) => {
                    out.advance(n);
                    t.bytes += n as u64;
                    Step::Moved(t.bytes)
                }
            }
        }
        Running::Receive { pump, buf } => match (&*data).read(buf).await {
            Ok(0) => Step::Finished,
            Ok(n) => {
                t.bytes += n as u64;
                let Some(w) = writer.as_mut() else {
                    return Step::Storage(StoreError::Io);
                };
                match pump.absorb(store, w, &mut buf[..n]) {
                    Ok(()) => Step::Moved(t.bytes),
                    Err(e) => Step::Storage(e),
                }
            }
            Err(_) => Step::Lost,
        },
    }
}
