//! The netboot server on one mio event loop: a thin driver of the core's
//! [`NetbootServer`](netboot_core::server::NetbootServer).
//!
//! Everything the server decides (what to answer, when to retransmit,
//! whether to accept, what to save) is decided by the core composition,
//! built from a [`ServerSetup`] by the std layer. [`Server`] only:
//!
//! * binds the sockets the core asks for (the listening ones before
//!   anything runs, so that a port that cannot be bound is reported at once,
//!   with its cause and the way out; or takes the ones handed over bound,
//!   [`ServerSetup::inherited`]), and the transfer, passive and data
//!   sockets as it goes;
//! * reads every socket until the kernel has nothing more, hands each
//!   datagram, connection and chunk to the core and drains it after each
//!   one through the core's [`drive`] (TFTP windows leave as GSO runs);
//! * runs the FTP fast paths (`sendfile(2)`, `splice(2)`) on Linux;
//! * hands password checks and saves to one worker thread
//!   ([`Services`](netboot_std::host::Services)), except at the very end, when the final save is
//!   written before the thread exits;
//! * reads the clock, sleeps until the core's next deadline, and spins
//!   briefly after traffic ([`Server::busy_poll`]) so that a lockstep peer's
//!   answer does not wait for a scheduler wake-up.
//!
//! Stopping (a [`Stopper`]) ends the loop cleanly: running TFTP transfers
//! are cancelled (their clients get ERROR 0), FTP sessions get `421`,
//! partial uploads are discarded, and the state is saved. The loop waits
//! until the core is idle, or [`GRACE`] at most.

mod fast;
mod input;
mod io;

use std::net::SocketAddr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::{Events, Poll, Token, Waker};
use netboot_core::bootp::HwAddr;
use netboot_core::server::{Event, drive};
use netboot_core::time::Instant;
use netboot_core::wire::tftp::MAX_PACKET_LEN;
use netboot_std::clock::Clock;
use netboot_std::setup::{HostServer, ServerSetup};

pub use crate::runtime::{LoopHandle, Stopper};
use crate::runtime::{Spin, thread_cpu_time};
use crate::tftp::udp::Batcher;
use io::Io;

/// How long the loop of a server with TFTP keeps polling without sleeping
/// after traffic, by default (see [`Server::busy_poll`]).
pub const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(200);

/// How long a stopping server waits for its transfers, sessions and the
/// final save to end.
pub const GRACE: Duration = Duration::from_secs(2);

/// The loop's wake-up for a [`Stopper`] (and questions from a handle).
const WAKER: Token = Token(usize::MAX);
/// The worker's wake-up: a password check or a save ended.
const SERVICES: Token = Token(usize::MAX - 1);

/// Bytes the core writes one output into: a TFTP window of equal blocks
/// as one GSO run (a UDP datagram, and so a segmented run, holds at most
/// this much), or a piece of an FTP download.
const SEND_BUFFER: usize = MAX_PACKET_LEN;
/// One datagram (one byte more than TFTP allows, so an oversized one is
/// seen as such), or a chunk of a stream.
const RECV_BUFFER: usize = 64 * 1024;

/// A listening socket [`Server::bind`] could not bind, with the cause and
/// the way out named (the error's kind is the socket's). Tells a bind
/// failure apart from a bad setup:
///
/// ```
/// use netboot_mio::server::{BindError, Server};
/// use netboot_std::setup::ServerSetup;
///
/// let root = tempfile::tempdir().unwrap();
/// let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let setup = ServerSetup::new(root.path()).no_tftp().ftp_listen(taken.local_addr().unwrap());
/// let e = Server::bind(setup).unwrap_err();
/// assert!(BindError::is(&e));
/// assert!(e.to_string().contains("address already in use"), "{e}");
/// assert!(!BindError::is(&Server::bind(ServerSetup::new("/no/such/root")).unwrap_err()));
/// ```
#[derive(Debug)]
pub struct BindError(String);

impl BindError {
    /// True when `e` is a bind failure of [`Server::bind`].
    pub fn is(e: &std::io::Error) -> bool {
        e.get_ref().is_some_and(|inner| inner.is::<BindError>())
    }
}

impl std::fmt::Display for BindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BindError {}

/// What a reload answers: the settings that need a restart, or why the
/// new setup was refused.
type ReloadReply = mpsc::Sender<std::io::Result<Vec<&'static str>>>;

/// Questions a [`NetbootHandle`] asks the loop, answered on its thread.
#[derive(Default)]
struct Asks {
    stage_of: Vec<(HwAddr, mpsc::Sender<Option<usize>>)>,
    /// New setups to apply, each with where the answer goes.
    reload: Vec<(ServerSetup, ReloadReply)>,
    /// The loop has ended.
    gone: bool,
}

/// The server, bound, ready to [`run`](Server::run) here or
/// [`spawn`](Server::spawn) on its own thread (see the [module
/// docs](self)).
///
/// ```
/// use std::net::Ipv4Addr;
/// use netboot_core::bootp::server::ServerConfig;
/// use netboot_core::plan::{ProfileTable, Reset};
/// use netboot_mio::server::Server;
/// use netboot_std::setup::ServerSetup;
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("stage1"), b"first").unwrap();
/// std::fs::write(root.path().join("manifest"), b"notes: notes.txt\n").unwrap();
/// std::fs::write(root.path().join("notes.txt"), b"hello").unwrap();
/// let mut plan = ProfileTable::new();
/// plan.set_default(&["stage1", "manifest"]).unwrap();
///
/// let mut bootp = ServerConfig::new(Ipv4Addr::LOCALHOST, Ipv4Addr::new(255, 0, 0, 0));
/// bootp.net.pool = Some((Ipv4Addr::new(127, 0, 9, 1), Ipv4Addr::new(127, 0, 9, 20)));
/// bootp.bootp_dynamic = true;
/// let setup = ServerSetup::new(root.path())
///     .bootp(bootp)
///     .bootp_listen("127.0.0.1:0".parse().unwrap())
///     .tftp_listen("127.0.0.1:0".parse().unwrap())
///     .ftp_listen("127.0.0.1:0".parse().unwrap())
///     .plan(plan, Reset::Never);
/// // Every socket is bound once `bind` returns.
/// let server = Server::bind(setup)
///     .unwrap()
///     .on_event(|event| if event.is_step() { println!("{event}") });
/// assert_ne!(server.bootp_addr().unwrap().port(), 0);
/// let tftp = server.tftp_addrs()[0];
///
/// let handle = server.spawn().unwrap();
/// let got = root.path().join("got");
/// netboot_mio::tftp::Client::new(tftp).get("stage1", &got).unwrap();
/// assert_eq!(std::fs::read(&got).unwrap(), b"first");
/// handle.shutdown().unwrap();
/// ```
pub struct Server {
    server: HostServer,
    io: Io,
    buf: Box<[u8]>,
    rx: Box<[u8]>,
    spin: Duration,
    stopper: Stopper,
    asks: Arc<Mutex<Asks>>,
    /// The setup the server was started from (as this runtime adjusted
    /// it), which a reload is compared with.
    running: ServerSetup,
    segments: usize,
}

/// This runtime's part of every setup: TFTP windows leave as runs of as
/// many datagrams as the kernel segments in one send, downloads go out
/// with sendfile(2) and uploads come in with splice(2) where the kernel
/// has them.
fn for_runtime(setup: ServerSetup, segments: usize) -> ServerSetup {
    let linux = cfg!(target_os = "linux");
    setup.tftp_config(|t| t.max_segments = segments).fast_paths(
        netboot_core::ftp::server::FastPaths {
            sendfile: linux,
            splice: linux,
        },
    )
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("server", &self.server)
            .field("busy_poll", &self.spin)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Prepares the core server from `setup` (its root, accounts and saved
    /// state, see [`ServerSetup::prepare`]) and binds every listening
    /// socket it asks for. A socket that cannot be bound fails the call
    /// with the cause and the way out named (a privileged port, an address
    /// in use or absent; a [`BindError`]); so does a bad setup (a missing
    /// root, a malformed hash, an unreadable lease file). Lines of the saved files that could
    /// not be read are logged as warnings.
    pub fn bind(setup: ServerSetup) -> std::io::Result<Server> {
        // TFTP windows leave as runs of as many datagrams as the kernel
        // segments in one send.
        let batcher = Batcher::probe();
        let segments = batcher.max_segments();
        let mut setup = for_runtime(setup, segments);
        let inherited = std::mem::take(&mut setup.inherited);
        let running = setup.clone();
        let clock = Clock::new();
        let (server, services, wake) = setup.start(&clock)?;
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let directed = server.directed_broadcast();
        let spin = if server.tftp().is_some() {
            DEFAULT_BUSY_POLL
        } else {
            Duration::ZERO
        };
        let io = Io::new(poll, batcher, services, wake, clock, directed)?;
        let mut server = Server {
            server,
            io,
            buf: vec![0; SEND_BUFFER].into_boxed_slice(),
            rx: vec![0; RECV_BUFFER].into_boxed_slice(),
            spin,
            stopper: Stopper::new(waker),
            asks: Arc::default(),
            running,
            segments,
        };
        server.io.inherited = inherited;
        server.io.binding = true;
        server.io.services.binding(true);
        server.settle(clock.now());
        server.io.binding = false;
        server.io.services.binding(false);
        // A socket handed over for a listener the server does not run is a
        // mistake of whoever handed it.
        if let Some(left) = server.io.inherited.first()
            && server.io.bind_error.is_none()
        {
            let at = left
                .local_addr()
                .map_or_else(|e| e.to_string(), |a| a.to_string());
            server.io.bind_error = Some(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                BindError(format!(
                    "a socket handed over ({at}) matches no listener of this server"
                )),
            ));
        }
        match server.io.bind_error.take() {
            Some(e) => Err(e),
            None => Ok(server),
        }
    }

    /// After a wake-up that brought traffic, keeps polling without
    /// sleeping for up to `spin` (zero: sleep at once; by default
    /// [`DEFAULT_BUSY_POLL`] when TFTP is served, whose lockstep transfers
    /// it is for, and zero otherwise).
    ///
    /// A lockstep peer (a TFTP client acknowledging each block) answers
    /// within tens of microseconds on a LAN or loopback; a thread that went
    /// to sleep in the meantime pays a scheduler wake-up, on a virtual
    /// machine often longer than the answer took. Spinning briefly keeps
    /// that latency off every round trip, at the price of CPU time while
    /// traffic flows. The spin adapts: a spin that catches nothing halves
    /// it, a peer answering within it brings it back; an idle loop sleeps.
    pub fn busy_poll(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Calls `f` on the loop's thread with every event of the core server
    /// from now on, after it is logged (steps at `info`, problems at `warn`
    /// and `error`, details at `debug`); [`Event::is_step`] picks the one
    /// line per client step a server prints.
    pub fn on_event(mut self, f: impl FnMut(&Event) + Send + 'static) -> Self {
        self.io.services.on_event(Box::new(f));
        self
    }

    /// The core server.
    pub fn core(&self) -> &HostServer {
        &self.server
    }

    /// Where BOOTP listens, if it runs.
    pub fn bootp_addr(&self) -> Option<SocketAddr> {
        self.server.bootp_addr()
    }

    /// Where TFTP listens (empty if it does not run).
    pub fn tftp_addrs(&self) -> Vec<SocketAddr> {
        self.server.tftp_addrs()
    }

    /// Where FTP listens, if it runs.
    pub fn ftp_addr(&self) -> Option<SocketAddr> {
        self.server.ftp_addr()
    }

    /// The stage client `hw` gets next (its stage count once finished), if
    /// the plan tracks it.
    pub fn stage_of(&self, hw: &HwAddr) -> Option<usize> {
        self.server.stage_of(hw)
    }

    /// A handle that stops [`Server::run`] from another thread.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// A handle that reloads this server's configuration while it runs
    /// (from another thread, as a signal handler's).
    pub fn reloader(&self) -> Reloader {
        Reloader {
            asks: self.asks.clone(),
            stopper: self.stopper.clone(),
        }
    }

    /// Runs the server on a new thread.
    pub fn spawn(self) -> std::io::Result<NetbootHandle> {
        let (bootp, tftp, ftp) = (self.bootp_addr(), self.tftp_addrs(), self.ftp_addr());
        let asks = self.asks.clone();
        let stopper = self.stopper();
        let handle = LoopHandle::spawn("netboot-server", stopper, move || self.run())?;
        Ok(NetbootHandle {
            handle,
            bootp,
            tftp,
            ftp,
            asks,
        })
    }

    /// Runs the server on this thread until a [`Stopper`] stops it, then
    /// stops it cleanly (see the [module docs](self)). Fails when polling
    /// fails, or when the final save did not make it to disk.
    pub fn run(mut self) -> std::io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut spin = Spin::new(self.spin);
        let mut stop_by: Option<Instant> = None;
        loop {
            let now = self.io.clock.now();
            if stop_by.is_none() && self.stopper.is_stopped() {
                self.io.services.set_stopping();
                self.server.close(now);
                self.settle(now);
                stop_by = Some(now + GRACE);
            }
            if let Some(end) = stop_by
                && (self.server.is_idle() || now >= end)
            {
                break;
            }
            let timeout = if !self.io.again.is_empty() || spin.before_poll(now, thread_cpu_time) {
                Some(Duration::ZERO)
            } else {
                [self.server.poll_timeout(), stop_by]
                    .into_iter()
                    .flatten()
                    .min()
                    .map(|deadline| self.io.clock.until(now, deadline))
            };
            match self.io.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = self.io.clock.now();
            spin.after_poll(
                now,
                events
                    .iter()
                    .any(|e| e.token() != WAKER && e.token() != SERVICES),
                thread_cpu_time,
            );
            for token in std::mem::take(&mut self.io.again) {
                self.on_ready(token, true, false);
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => self.answer(),
                    SERVICES => {
                        self.io.drain_wake();
                        let now = self.io.clock.now();
                        self.io.services.deliver(&mut self.server, now);
                        self.settle(now);
                    }
                    token => self.on_ready(
                        token,
                        event.is_readable() || event.is_read_closed() || event.is_error(),
                        event.is_writable() || event.is_write_closed() || event.is_error(),
                    ),
                }
            }
            let now = self.io.clock.now();
            if self.server.poll_timeout().is_some_and(|d| d <= now) {
                self.server.handle_timeout(now);
                self.settle(now);
            }
        }
        self.finish()
    }

    /// Drains the core after an input, then runs the fast paths the drain
    /// asked for (the files they move are the server's), which may give
    /// the core more to say.
    fn settle(&mut self, now: Instant) {
        loop {
            drive(&mut self.server, &mut self.io, now, &mut self.buf);
            let fast = std::mem::take(&mut self.io.fast_ready);
            if fast.is_empty() {
                return;
            }
            for socket in fast {
                self.run_fast(now, socket);
            }
        }
    }

    /// Answers the handles' questions.
    fn answer(&mut self) {
        let (stage_of, reload) = {
            let mut asks = self.asks.lock().unwrap_or_else(|e| e.into_inner());
            (
                std::mem::take(&mut asks.stage_of),
                std::mem::take(&mut asks.reload),
            )
        };
        for (hw, reply) in stage_of {
            let _ = reply.send(self.server.stage_of(&hw));
        }
        for (setup, reply) in reload {
            let _ = reply.send(self.reconfigure(setup));
        }
    }

    /// Applies `setup` to the running server (see
    /// [`ServerSetup::reconfigure`]): the settings that need a restart, or
    /// the error that left the running configuration in place.
    pub fn reconfigure(&mut self, setup: ServerSetup) -> std::io::Result<Vec<&'static str>> {
        let setup = for_runtime(setup, self.segments);
        let now = self.io.clock.now();
        let restart = setup.reconfigure(&self.running, &mut self.server, &self.io.clock)?;
        self.settle(now);
        Ok(restart)
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.answer();
        self.asks.lock().unwrap_or_else(|e| e.into_inner()).gone = true;
        if !self.server.is_idle() {
            tracing::warn!(
                "stopping after {} s with work left: {} TFTP transfers, {} FTP sessions",
                GRACE.as_secs(),
                self.server.tftp().map_or(0, |t| t.active()),
                self.server.ftp().map_or(0, |f| f.sessions()),
            );
        }
        if self.server.is_saved() {
            return Ok(());
        }
        let keep = self.server.persist();
        let what = match (keep.leases, keep.progress) {
            (true, true) => "leases and plan progress",
            (true, false) => "leases",
            _ => "plan progress",
        };
        let cause = self
            .io
            .services
            .save_error()
            .unwrap_or("the final save did not complete")
            .to_string();
        Err(std::io::Error::other(Unsaved { what, cause }))
    }
}

/// The error of [`Server::run`] when the server stopped but its final save
/// did not make it: what is older on disk than in the server, and why.
///
/// ```
/// use netboot_mio::server::Unsaved;
///
/// let e = std::io::Error::other(Unsaved { what: "leases", cause: "cannot save x: denied".into() });
/// assert_eq!(Unsaved::of(&e).unwrap().what, "leases");
/// assert_eq!(e.to_string(), "the final save failed: the leases on disk are older than the server's: cannot save x: denied");
/// assert!(Unsaved::of(&std::io::Error::other("poll failed")).is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsaved {
    /// `leases`, `plan progress`, or `leases and plan progress`.
    pub what: &'static str,
    /// Why the last save failed (the file and the system's reason).
    pub cause: String,
}

impl Unsaved {
    /// The [`Unsaved`] inside `e`, if that is what `e` is.
    pub fn of(e: &std::io::Error) -> Option<&Unsaved> {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<Unsaved>())
    }
}

impl std::fmt::Display for Unsaved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the final save failed: the {} on disk are older than the server's: {}",
            self.what, self.cause
        )
    }
}

impl std::error::Error for Unsaved {}

/// A [`Server`] running on its own thread. Dropping it stops it.
#[derive(Debug)]
pub struct NetbootHandle {
    handle: LoopHandle,
    bootp: Option<SocketAddr>,
    tftp: Vec<SocketAddr>,
    ftp: Option<SocketAddr>,
    asks: Arc<Mutex<Asks>>,
}

impl std::fmt::Debug for Asks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Asks").field("gone", &self.gone).finish()
    }
}

impl NetbootHandle {
    /// Where BOOTP listens, if it runs.
    pub fn bootp_addr(&self) -> Option<SocketAddr> {
        self.bootp
    }

    /// Where TFTP listens (empty if it does not run).
    pub fn tftp_addrs(&self) -> &[SocketAddr] {
        &self.tftp
    }

    /// Where FTP listens, if it runs.
    pub fn ftp_addr(&self) -> Option<SocketAddr> {
        self.ftp
    }

    /// The stage client `hw` gets next (its stage count once finished), if
    /// the plan tracks it; `None` too once the server has stopped. Asked of
    /// the loop, which answers between two wake-ups.
    pub fn stage_of(&self, hw: &HwAddr) -> Option<usize> {
        let (reply, answer) = mpsc::channel();
        {
            let mut asks = self.asks.lock().unwrap_or_else(|e| e.into_inner());
            if asks.gone {
                return None;
            }
            asks.stage_of.push((*hw, reply));
        }
        self.handle.stopper().wake();
        answer.recv_timeout(Duration::from_secs(10)).ok().flatten()
    }

    /// A stopper for a signal handler.
    pub fn stopper(&self) -> Stopper {
        self.handle.stopper()
    }

    /// A handle that reloads the server's configuration (see
    /// [`Server::reloader`]).
    pub fn reloader(&self) -> Reloader {
        Reloader {
            asks: self.asks.clone(),
            stopper: self.handle.stopper(),
        }
    }

    /// True once the loop thread has ended.
    pub fn is_finished(&self) -> bool {
        self.handle.is_finished()
    }

    /// Stops the server cleanly (see the [module docs](self)) and waits;
    /// fails when the loop failed or the final save did not make it.
    pub fn shutdown(self) -> std::io::Result<()> {
        self.handle.shutdown()
    }

    /// Waits until the server stops (after a [`Stopper::stop`]).
    pub fn join(self) -> std::io::Result<()> {
        self.handle.join()
    }
}

/// Sends a new configuration to a running [`Server`]'s loop and waits for
/// its answer (clone it for each thread that needs one).
#[derive(Clone)]
pub struct Reloader {
    asks: Arc<Mutex<Asks>>,
    stopper: Stopper,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader").finish_non_exhaustive()
    }
}

impl Reloader {
    /// Has the loop apply `setup` (see [`ServerSetup::reconfigure`]) and
    /// returns the settings that need a restart, or the error that left
    /// the running configuration in place. Fails too when the loop has
    /// stopped or does not answer within 10 seconds.
    pub fn reload(&self, setup: ServerSetup) -> std::io::Result<Vec<&'static str>> {
        let (reply, answer) = mpsc::channel();
        {
            let mut asks = self.asks.lock().unwrap_or_else(|e| e.into_inner());
            if asks.gone {
                return Err(std::io::Error::other("the server has stopped"));
            }
            asks.reload.push((setup, reply));
        }
        self.stopper.wake();
        answer
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| {
                Err(std::io::Error::other(
                    "the server did not answer the reload",
                ))
            })
    }
}
