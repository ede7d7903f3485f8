//! The one drain loop every runtime runs: what to do with each of the
//! server's outputs and events, written once, over the few things a
//! runtime can do ([`Host`]).
//!
//! A runtime implements [`Host`] (bind a socket, write bytes, close, run a
//! password check, write a save, start a fast path) and calls [`drive`]
//! after every input it hands the server. Everything else (which socket to
//! open, what to send, when to save, whether to accept) the server decides.
//! The mio and async-std adapters and the simulator all go through this
//! function, so the simulator tests the dispatch that ships.

use core::net::{IpAddr, SocketAddr};

use super::{Event, NetbootServer, SaveRequest};
use crate::ftp::server::Accounts;
use crate::socket::{OpenError, Output, SocketId, SocketRequest, StreamEvent, UdpRole};
use crate::storage::Storage;
use crate::time::Instant;

/// What writing one [`Output`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Every byte was sent or written (a datagram the network lost counts:
    /// the protocols recover).
    All,
    /// A stream took only this many bytes; the rest go back to the server.
    Partial(usize),
    /// The stream is broken; the runtime has closed it.
    Failed,
}

/// A fast path the runtime takes over (see [`Event::SendFile`] and
/// [`Event::Splice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastPath {
    /// Send the file of [`NetbootServer::reader`] from `offset` to the
    /// stream.
    SendFile {
        /// The data connection.
        socket: SocketId,
        /// Where to start.
        offset: u64,
    },
    /// Move the stream's bytes into the file of [`NetbootServer::writer`].
    Splice {
        /// The data connection.
        socket: SocketId,
    },
}

/// What a runtime offers the server: its sockets and fast paths, and its
/// [`Worker`].
pub trait Host<S: Storage, A: Accounts<Store = S>> {
    /// Binds a UDP socket for `role` (see [`UdpRole`]); returns its
    /// address.
    fn open_udp(
        &mut self,
        now: Instant,
        socket: SocketId,
        local: SocketAddr,
        role: &UdpRole,
    ) -> Result<SocketAddr, OpenError>;
    /// Starts listening for TCP connections; returns the address.
    fn listen(
        &mut self,
        now: Instant,
        socket: SocketId,
        local: SocketAddr,
        backlog: u32,
    ) -> Result<SocketAddr, OpenError>;
    /// Starts a TCP connection; its end is reported later with
    /// [`StreamEvent::Connected`] or [`StreamEvent::Reset`]. An error here
    /// is reported as a reset at once.
    fn connect(
        &mut self,
        now: Instant,
        socket: SocketId,
        local: IpAddr,
        remote: SocketAddr,
    ) -> Result<(), OpenError>;
    /// Closes a socket (a stream after shutting it down for writing).
    fn close(&mut self, socket: SocketId);
    /// Sends `bytes` as `output` describes (a datagram, a run of datagrams
    /// of `output.segment_size`, or stream bytes).
    fn send(&mut self, output: &Output, bytes: &[u8]) -> Sent;
    /// Where the server's password checks, saves and events go.
    fn worker(&mut self) -> &mut dyn Worker<S, A>;
    /// Takes over a fast path; the runtime reports with
    /// [`NetbootServer::fast_path_progress`] and
    /// [`NetbootServer::fast_path_done`].
    fn fast_path(&mut self, now: Instant, fast: FastPath);
}

/// The slow answers a runtime gives the server, and where its events go:
/// the part of a [`Host`] that is not about sockets, so that one worker
/// (a std runtime's worker thread, say) serves every runtime built on it.
pub trait Worker<S: Storage, A: Accounts<Store = S>> {
    /// Checks a password against `server`'s accounts. `Some` answers now;
    /// `None` means the runtime answers later with
    /// [`NetbootServer::login_verified`] (a worker thread, say).
    fn verify_login(
        &mut self,
        socket: SocketId,
        user: &str,
        password: &str,
        server: &NetbootServer<S, A>,
    ) -> Option<bool>;
    /// Saves what `request` names, from `server` as it is now. `Some`
    /// answers now; `None` means the runtime answers later with
    /// [`NetbootServer::saved`].
    fn save(
        &mut self,
        now: Instant,
        request: SaveRequest,
        server: &NetbootServer<S, A>,
    ) -> Option<bool>;
    /// Every event, after it was acted on, for the log and for observers.
    fn report(&mut self, event: &Event);
}

/// Drains `server` after an input: every output through
/// [`Host::send`], every event through the [`Host`], until the server has
/// nothing more to say. Returns when [`NetbootServer::handle_timeout`] is
/// due next. `buf` must hold at least 1,500 bytes (64 KiB lets TFTP batch
/// windows and FTP move downloads in large pieces).
pub fn drive<S, A, H>(
    server: &mut NetbootServer<S, A>,
    host: &mut H,
    now: Instant,
    buf: &mut [u8],
) -> Option<Instant>
where
    S: Storage,
    A: Accounts<Store = S>,
    H: Host<S, A> + ?Sized,
{
    loop {
        while let Some(out) = server.poll_transmit(now, buf) {
            let len = out.transmit.len;
            match host.send(&out, &buf[..len]) {
                Sent::All => {}
                Sent::Partial(n) => server.handle_stream(
                    now,
                    out.socket,
                    StreamEvent::Unsent(&buf[n.min(len)..len]),
                ),
                Sent::Failed => server.handle_stream(now, out.socket, StreamEvent::Reset),
            }
        }
        let mut progressed = false;
        while let Some(event) = server.poll_event() {
            progressed = true;
            act(server, host, now, &event);
            host.worker().report(&event);
        }
        if !progressed {
            return server.poll_timeout();
        }
    }
}

fn act<S, A, H>(server: &mut NetbootServer<S, A>, host: &mut H, now: Instant, event: &Event)
where
    S: Storage,
    A: Accounts<Store = S>,
    H: Host<S, A> + ?Sized,
{
    match event {
        Event::Socket(SocketRequest::Udp {
            socket,
            local,
            role,
        }) => {
            let result = host.open_udp(now, *socket, *local, role);
            server.handle_opened(now, *socket, result);
        }
        Event::Socket(SocketRequest::Listen {
            socket,
            local,
            backlog,
        }) => {
            let result = host.listen(now, *socket, *local, *backlog);
            server.handle_opened(now, *socket, result);
        }
        Event::Socket(SocketRequest::Connect {
            socket,
            local,
            remote,
        }) if host.connect(now, *socket, *local, *remote).is_err() => {
            server.handle_stream(now, *socket, StreamEvent::Reset);
        }
        Event::Socket(SocketRequest::Close { socket }) => host.close(*socket),
        Event::Save(request) => {
            if let Some(ok) = host.worker().save(now, *request, server) {
                server.saved(now, request.version, ok);
            }
        }
        Event::VerifyLogin {
            socket,
            user,
            password,
        } => {
            if let Some(ok) = host
                .worker()
                .verify_login(*socket, user, &password.0, server)
            {
                server.login_verified(now, *socket, ok);
            }
        }
        Event::SendFile { socket, offset } => host.fast_path(
            now,
            FastPath::SendFile {
                socket: *socket,
                offset: *offset,
            },
        ),
        Event::Splice { socket } => host.fast_path(now, FastPath::Splice { socket: *socket }),
        _ => {}
    }
}
