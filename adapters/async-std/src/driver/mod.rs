//! The one async driver of the core
//! [`NetbootServer`](netboot_core::server::NetbootServer): BOOTP, TFTP and
//! FTP with their plan and their saved state, inside one future, on any
//! async-io executor.
//!
//! The future owns the server's sockets in a table named by the server's
//! [`SocketId`](netboot_core::socket::SocketId)s. Each socket has one
//! waker, made when it opens ([`ready`]); the reactor wakes it when the
//! socket can be read (or written, after a partial write, or a connection
//! is up), which queues the socket and wakes the future. Besides the
//! queue, the future waits for the worker's wake-up socket
//! ([`Services`](netboot_std::host::Services): password checks and saves),
//! one [`Timer`] at the server's next deadline, and the [`Stopper`].
//!
//! Each turn takes whichever came first and hands it to the server one
//! input at a time (a datagram, a connection, stream bytes, the end of a
//! stream, room to write, a finished check or save, time passing), each
//! followed by [`drive`](netboot_core::server::drive), the drain loop every
//! runtime shares. Sockets are read without blocking into one receive
//! buffer and written without blocking from one transmit buffer, both of
//! 64 KiB: the turn is synchronous, so one of each serves every socket. A
//! socket is served a bounded number of reads per turn, then queued again
//! behind the others. Nothing is spawned per socket or per datagram, and
//! the steady state allocates nothing.
//!
//! Closing a socket drops its table entry, and with it its registration:
//! nothing of it can wake the future again (a late wake-up names an entry
//! generation that is gone, and is ignored).

mod host;
mod ready;

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use async_io::{Async, Timer};
use netboot_core::ftp::server::FastPaths;
use netboot_core::socket::{Accept, StreamEvent};
use netboot_core::time::Instant;
use netboot_std::clock::Clock;
use netboot_std::host::{OnEvent, set_stream_options};
use netboot_std::net::explain_bind_error;
use netboot_std::setup::{HostServer, ServerSetup};

use host::{AsyncHost, Io};
use ready::Key;
pub use ready::Stopper;

/// The transmit and the receive buffer (TFTP batches windows and FTP moves
/// downloads in pieces this large; every datagram fits).
const BUFFER: usize = 64 * 1024;
/// Datagrams or connections one socket gets per turn.
const PER_TURN: usize = 64;
/// Reads one stream gets per turn (a megabyte, as much as one FTP download
/// may send per turn).
const READS_PER_TURN: usize = 16;
/// How long a stopping server waits for its peers.
const GRACE: Duration = Duration::from_secs(2);
/// How long a listener whose accept failed (out of descriptors) rests.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// What woke the future.
enum Wake {
    Stop,
    Worker,
    Timer,
    Sockets,
}

/// The driver (see the module docs); the server it drives is shared with
/// the handles that read it.
pub(crate) struct Driver {
    host: AsyncHost,
    clock: Clock,
    wake: Async<UnixStream>,
    tx: Vec<u8>,
    rx: Vec<u8>,
    woken: Vec<Key>,
    timer: Timer,
    /// When the timer goes off (`None`: not set).
    armed: Option<Instant>,
    /// Listeners resting after a failed accept, and until when.
    resting: Vec<Key>,
    rest_until: Option<Instant>,
    /// When a stopping server gives up on its peers.
    grace_end: Option<Instant>,
}

/// The server, whatever state a panic left it in.
pub(crate) fn lock(server: &Mutex<HostServer>) -> MutexGuard<'_, HostServer> {
    server.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Driver {
    /// Builds the server `setup` describes (with no FTP fast path: this
    /// runtime moves every byte itself) and opens its listening sockets,
    /// so that a port that cannot be bound is an error here, explained.
    pub(crate) fn build(mut setup: ServerSetup) -> io::Result<(Driver, HostServer)> {
        setup.fast_paths = FastPaths::default();
        let clock = Clock::new();
        let (mut server, services, wake) = setup.start(&clock)?;
        let mut driver = Driver {
            host: AsyncHost::new(services, server.directed_broadcast()),
            clock,
            wake: Async::new(wake)?,
            tx: vec![0; BUFFER],
            rx: vec![0; BUFFER],
            woken: Vec::new(),
            timer: Timer::never(),
            armed: None,
            resting: Vec::new(),
            rest_until: None,
            grace_end: None,
        };
        driver.drive(&mut server, clock.now());
        if let Some((local, e)) = driver.host.open_failed.take() {
            // An error that already explains itself (an interface binding
            // without the capability) is kept as it is.
            if e.get_ref().is_some() {
                return Err(e);
            }
            return Err(io::Error::new(e.kind(), explain_bind_error(local, &e)));
        }
        Ok((driver, server))
    }

    /// A handle that stops [`Driver::run`].
    pub(crate) fn stopper(&self) -> Stopper {
        Stopper {
            ready: self.host.sockets.ready.clone(),
        }
    }

    /// Calls `f` with every event from now on.
    pub(crate) fn on_event(&mut self, f: OnEvent) {
        self.host.services.on_event(f);
    }

    /// Serves until stopped, then closes the server and resolves once it
    /// is idle (or after [`GRACE`]).
    pub(crate) async fn run(mut self, shared: Arc<Mutex<HostServer>>) -> io::Result<()> {
        self.arm(&lock(&shared));
        loop {
            let wake = std::future::poll_fn(|cx| self.poll_wake(cx)).await;
            let mut server = lock(&shared);
            let now = self.clock.now();
            match wake {
                Wake::Stop => {
                    self.host.services.set_stopping();
                    self.grace_end = Some(now + GRACE);
                    server.close(now);
                    self.drive(&mut server, now);
                }
                Wake::Worker => {
                    let mut bytes = [0u8; 64];
                    while (&mut self.wake.get_ref())
                        .read(&mut bytes)
                        .is_ok_and(|n| n > 0)
                    {}
                    self.host.services.deliver(&mut server, now);
                    self.drive(&mut server, now);
                }
                Wake::Timer => {
                    self.armed = None;
                    if self.rest_until.is_some_and(|t| t <= now) {
                        self.rest_until = None;
                        for key in self.resting.drain(..) {
                            if let Some(entry) = self.host.sockets.current(key) {
                                entry.requeue();
                            }
                        }
                    }
                    server.handle_timeout(now);
                    self.drive(&mut server, now);
                }
                Wake::Sockets => {
                    let mut woken = std::mem::take(&mut self.woken);
                    self.host.sockets.ready.take(&mut woken);
                    for key in woken.drain(..) {
                        self.serve(&mut server, key);
                    }
                    self.woken = woken;
                }
            }
            if self.host.services.is_stopping()
                && (server.is_idle() || self.grace_end.is_some_and(|end| now >= end))
            {
                return Ok(());
            }
            self.arm(&server);
        }
    }

    fn poll_wake(&mut self, cx: &mut Context<'_>) -> Poll<Wake> {
        let ready = &self.host.sockets.ready;
        ready.register(cx.waker());
        if ready.stopped() && !self.host.services.is_stopping() {
            return Poll::Ready(Wake::Stop);
        }
        if self.wake.poll_readable(cx).is_ready() {
            return Poll::Ready(Wake::Worker);
        }
        if Pin::new(&mut self.timer).poll(cx).is_ready() {
            return Poll::Ready(Wake::Timer);
        }
        if ready.any() {
            return Poll::Ready(Wake::Sockets);
        }
        Poll::Pending
    }

    /// Sets the timer to the earliest deadline, unless it already goes off
    /// sooner (going off early costs a turn that does nothing; moving the
    /// timer on every datagram would cost the reactor a wake-up each).
    fn arm(&mut self, server: &HostServer) {
        let due = [server.poll_timeout(), self.rest_until, self.grace_end]
            .into_iter()
            .flatten()
            .min();
        if let Some(due) = due
            && self.armed.is_none_or(|armed| due < armed)
        {
            self.timer
                .set_after(self.clock.until(self.clock.now(), due));
            self.armed = Some(due);
        }
    }

    /// Drains the server after an input.
    fn drive(&mut self, server: &mut HostServer, now: Instant) {
        let _ = netboot_core::server::drive(server, &mut self.host, now, &mut self.tx);
    }

    /// Serves a socket that woke.
    fn serve(&mut self, server: &mut HostServer, key: Key) {
        let Some(entry) = self.host.sockets.current(key) else {
            return;
        };
        entry.serving();
        match entry.io {
            Io::Udp(_) => self.receive(server, key),
            Io::Listener(_) => self.accept(server, key),
            Io::Stream(_) => self.stream(server, key),
        }
    }

    /// Hands the datagrams that wait on a UDP socket to the server.
    fn receive(&mut self, server: &mut HostServer, key: Key) {
        for _ in 0..PER_TURN {
            let (n, from) = {
                let Some(entry) = self.host.sockets.current(key) else {
                    return;
                };
                let Io::Udp(socket) = &entry.io else {
                    return;
                };
                match socket.get_ref().recv_from(&mut self.rx) {
                    Ok(got) => got,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if entry.readable_again() {
                            continue;
                        }
                        return;
                    }
                    Err(e) => {
                        tracing::debug!("{}: receive failed: {e}", key.0);
                        continue;
                    }
                }
            };
            let now = self.clock.now();
            server.handle_datagram(now, key.0, from, &self.rx[..n]);
            self.drive(server, now);
        }
        self.requeue(key);
    }

    /// Offers the connections that wait on a listener to the server.
    fn accept(&mut self, server: &mut HostServer, key: Key) {
        for _ in 0..PER_TURN {
            let (stream, peer) = {
                let Some(entry) = self.host.sockets.current(key) else {
                    return;
                };
                let Io::Listener(listener) = &entry.io else {
                    return;
                };
                match listener.get_ref().accept() {
                    Ok(got) => got,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if entry.readable_again() {
                            continue;
                        }
                        return;
                    }
                    Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                    Err(e) => {
                        // Out of descriptors, say: rest, and try again.
                        tracing::warn!("{}: accept failed: {e}", key.0);
                        self.resting.push(key);
                        self.rest_until = Some(self.clock.now() + ACCEPT_RETRY);
                        return;
                    }
                }
            };
            let Ok(local) = stream.local_addr() else {
                continue;
            };
            let now = self.clock.now();
            match server.handle_accept(now, key.0, peer, local) {
                Accept::Stream(id) => {
                    set_stream_options(&stream);
                    match Async::new(stream) {
                        Ok(s) => {
                            self.host.sockets.insert(id, Io::Stream(s), false);
                        }
                        Err(_) => server.handle_stream(now, id, StreamEvent::Reset),
                    }
                }
                Accept::Refuse { reply } => refuse(stream, reply),
            }
            self.drive(server, now);
        }
        self.requeue(key);
    }

    /// Tells the server what happened on a stream: its connection is up
    /// (or failed), there is room to write again, bytes or its end
    /// arrived, it broke.
    fn stream(&mut self, server: &mut HostServer, key: Key) {
        let (id, clock) = (key.0, self.clock);
        let Some(entry) = self.host.sockets.current(key) else {
            return;
        };
        if entry.connecting {
            if entry.poll_writable().is_pending() {
                return;
            }
            let Io::Stream(s) = &entry.io else {
                return;
            };
            let s = s.get_ref();
            let up = matches!(s.take_error(), Ok(None)) && s.peer_addr().is_ok();
            let now = clock.now();
            if up {
                set_stream_options(s);
                entry.connecting = false;
                entry.reading = true;
                server.handle_stream(now, id, StreamEvent::Connected);
            } else {
                self.host.sockets.remove(id);
                server.handle_stream(now, id, StreamEvent::Reset);
            }
            self.drive(server, now);
            if !up {
                return;
            }
        }
        if let Some(entry) = self.host.sockets.current(key)
            && entry.blocked
            && entry.poll_writable().is_ready()
        {
            entry.blocked = false;
            let now = clock.now();
            server.handle_stream(now, id, StreamEvent::Writable);
            self.drive(server, now);
        }
        for _ in 0..READS_PER_TURN {
            let read = {
                let Some(entry) = self.host.sockets.current(key) else {
                    return;
                };
                let Io::Stream(s) = &entry.io else {
                    return;
                };
                if !entry.reading {
                    return;
                }
                match (&mut s.get_ref()).read(&mut self.rx) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        if entry.readable_again() {
                            continue;
                        }
                        return;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Ok(0) => {
                        entry.reading = false;
                        Ok(0)
                    }
                    read => read,
                }
            };
            let now = clock.now();
            let more = matches!(read, Ok(n) if n > 0);
            match read {
                Ok(0) => server.handle_stream(now, id, StreamEvent::Eof),
                Ok(n) => server.handle_stream(now, id, StreamEvent::Data(&self.rx[..n])),
                Err(e) => {
                    tracing::debug!("{id}: read failed: {e}");
                    self.host.sockets.remove(id);
                    server.handle_stream(now, id, StreamEvent::Reset);
                }
            }
            self.drive(server, now);
            if !more {
                return;
            }
        }
        self.requeue(key);
    }

    /// A socket that used its turn is served again after the others.
    fn requeue(&mut self, key: Key) {
        if let Some(entry) = self.host.sockets.current(key) {
            entry.requeue();
        }
    }
}

/// A connection the server refused: its reply, best effort, then the end.
fn refuse(stream: TcpStream, reply: &[u8]) {
    if stream.set_nonblocking(true).is_ok() {
        let _ = std::io::Write::write(&mut &stream, reply);
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// Where the server listens, once built.
#[derive(Clone, Debug, Default)]
pub(crate) struct Addrs {
    pub(crate) bootp: Option<SocketAddr>,
    pub(crate) tftp: Vec<SocketAddr>,
    pub(crate) ftp: Option<SocketAddr>,
}

impl Addrs {
    pub(crate) fn of(server: &HostServer) -> Addrs {
        Addrs {
            bootp: server.bootp_addr(),
            tftp: server.tftp_addrs(),
            ftp: server.ftp_addr(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_use_is_an_explained_error_at_build() {
        let root = tempfile::tempdir().unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let setup = ServerSetup::new(root.path())
            .no_tftp()
            .ftp_listen(taken.local_addr().unwrap());
        let Err(e) = Driver::build(setup) else {
            panic!("bound a port in use")
        };
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        assert!(e.to_string().contains("stop the other server"), "{e}");
    }

    #[test]
    fn a_stopped_server_resolves_once_idle_and_every_socket_is_closed() {
        let root = tempfile::tempdir().unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let setup = ServerSetup::new(root.path())
            .tftp_listen(any)
            .ftp_listen(any);
        let (driver, server) = Driver::build(setup).unwrap();
        let ftp = server.ftp_addr().unwrap();
        let stopper = driver.stopper();
        stopper.stop();
        let started = std::time::Instant::now();
        smol::block_on(driver.run(Arc::new(Mutex::new(server)))).unwrap();
        assert!(started.elapsed() < GRACE, "an idle server waits for nobody");
        assert!(std::net::TcpStream::connect(ftp).is_err());
    }
}
