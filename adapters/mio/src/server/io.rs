//! The sockets of a [`Server`](super::Server) and the [`Host`] the core
//! server drives them through: a slab of mio sources keyed by the core's
//! [`SocketId`]s, the worker for password checks and saves, and the log.
//!
//! A mio token is a slab index and the slot's generation, so an event for a
//! socket closed in the same batch never reaches the socket that reuses
//! its slot.

use std::collections::HashMap;
use std::io::{self, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use mio::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use mio::{Interest, Poll, Token};
use netboot_core::server::{FastPath, Host, Sent, Worker};
use netboot_core::socket::{OpenError, Output, SocketId, UdpRole};
use netboot_core::time::Instant;
use netboot_std::clock::Clock;
use netboot_std::fs::FsStore;
use netboot_std::ftp::site::Site;
use netboot_std::host::{Services, connect, open_error, send_datagram, write_stream};
use netboot_std::net::explain_bind_error;
use netboot_std::setup::Inherited;

use super::fast::Fast;
use crate::tftp::udp::Batcher;

/// Bits of a token that hold the slot's generation.
const GENERATION_BITS: u32 = 16;
const GENERATION_MASK: usize = (1 << GENERATION_BITS) - 1;

/// One socket the core asked for, or a connection it took.
pub(super) enum Socket {
    Udp(UdpSocket),
    Listener(TcpListener),
    Stream(Stream),
}

/// A TCP connection and what the loop knows about it.
pub(super) struct Stream {
    pub(super) tcp: TcpStream,
    /// `connect` has not completed yet.
    pub(super) connecting: bool,
    /// The last write was short: tell the core when there is room.
    pub(super) blocked: bool,
    /// The peer's end of the stream was read.
    pub(super) read_closed: bool,
    /// A fast path running on it.
    pub(super) fast: Option<Fast>,
}

impl Stream {
    fn new(tcp: TcpStream, connecting: bool) -> Self {
        Stream {
            tcp,
            connecting,
            blocked: false,
            read_closed: false,
            fast: None,
        }
    }
}

struct Entry {
    id: SocketId,
    socket: Socket,
}

#[derive(Default)]
struct Slot {
    generation: usize,
    entry: Option<Entry>,
}

/// What the loop owns besides the core server; the [`Host`] the core
/// drives.
pub(super) struct Io {
    pub(super) poll: Poll,
    slots: Vec<Slot>,
    free: Vec<usize>,
    ids: HashMap<SocketId, usize>,
    batcher: Batcher,
    pub(super) services: Services,
    wake: UnixStream,
    pub(super) clock: Clock,
    /// The subnet broadcast a BOOTP reply falls back to.
    directed: Option<Ipv4Addr>,
    /// The first drain is binding the listening sockets: the first failure
    /// is kept, explained, for [`Server::bind`](super::Server::bind).
    pub(super) binding: bool,
    pub(super) bind_error: Option<io::Error>,
    /// Streams whose fast path is to run (or go on) after the drain.
    pub(super) fast_ready: Vec<SocketId>,
    /// Sources left readable after a bounded turn, served next time round.
    pub(super) again: Vec<Token>,
    /// Listening sockets handed over bound, not yet taken by a listener.
    pub(super) inherited: Vec<Inherited>,
}

impl Io {
    pub(super) fn new(
        poll: Poll,
        batcher: Batcher,
        services: Services,
        wake: std::os::unix::net::UnixStream,
        clock: Clock,
        directed: Option<Ipv4Addr>,
    ) -> io::Result<Self> {
        let mut wake = UnixStream::from_std(wake);
        poll.registry()
            .register(&mut wake, super::SERVICES, Interest::READABLE)?;
        Ok(Io {
            poll,
            slots: Vec::new(),
            free: Vec::new(),
            ids: HashMap::new(),
            batcher,
            services,
            wake,
            clock,
            directed,
            binding: false,
            bind_error: None,
            fast_ready: Vec::new(),
            again: Vec::new(),
            inherited: Vec::new(),
        })
    }

    /// The inherited socket bound at `local` of the kind `udp` says, taken
    /// out of the list (a duplicate of its descriptor, non-blocking).
    fn take_inherited(&mut self, local: SocketAddr, udp: bool) -> Option<io::Result<Socket>> {
        let at = self.inherited.iter().position(|s| {
            matches!(s, Inherited::Udp(_)) == udp && s.local_addr().is_ok_and(|a| a == local)
        })?;
        let socket = match self.inherited.swap_remove(at) {
            Inherited::Udp(s) => s.try_clone().and_then(|s| {
                s.set_nonblocking(true)?;
                Ok(Socket::Udp(UdpSocket::from_std(s)))
            }),
            Inherited::Tcp(l) => l.try_clone().and_then(|l| {
                l.set_nonblocking(true)?;
                Ok(Socket::Listener(TcpListener::from_std(l)))
            }),
        };
        Some(socket)
    }

    /// Empties the worker's wake-up socket.
    pub(super) fn drain_wake(&mut self) {
        let mut buf = [0u8; 256];
        while matches!(self.wake.read(&mut buf), Ok(n) if n > 0) {}
    }

    fn token(&self, index: usize) -> Token {
        Token(index << GENERATION_BITS | self.slots[index].generation & GENERATION_MASK)
    }

    fn slot(&self, token: Token) -> Option<usize> {
        let index = token.0 >> GENERATION_BITS;
        let slot = self.slots.get(index)?;
        (slot.entry.is_some() && slot.generation & GENERATION_MASK == token.0 & GENERATION_MASK)
            .then_some(index)
    }

    /// The socket an event of `token` is for, if it is still open.
    pub(super) fn get(&mut self, token: Token) -> Option<(SocketId, &mut Socket)> {
        let index = self.slot(token)?;
        let entry = self.slots[index].entry.as_mut()?;
        Some((entry.id, &mut entry.socket))
    }

    /// The stream the core calls `id`.
    pub(super) fn stream(&mut self, id: SocketId) -> Option<&mut Stream> {
        let index = *self.ids.get(&id)?;
        match self.slots[index].entry.as_mut()?.socket {
            Socket::Stream(ref mut s) => Some(s),
            _ => None,
        }
    }

    /// Takes `socket` into the slab as `id` and registers it.
    pub(super) fn insert(&mut self, id: SocketId, mut socket: Socket) -> io::Result<()> {
        if self.ids.contains_key(&id) {
            self.remove(id);
        }
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            self.slots.len() - 1
        });
        let token = self.token(index);
        let registry = self.poll.registry();
        let both = Interest::READABLE | Interest::WRITABLE;
        let registered = match &mut socket {
            Socket::Udp(s) => registry.register(s, token, Interest::READABLE),
            Socket::Listener(l) => registry.register(l, token, Interest::READABLE),
            Socket::Stream(s) => registry.register(&mut s.tcp, token, both),
        };
        if let Err(e) = registered {
            self.free.push(index);
            return Err(e);
        }
        self.slots[index].entry = Some(Entry { id, socket });
        self.ids.insert(id, index);
        Ok(())
    }

    /// Takes `id` out of the loop; dropping what is returned closes it.
    pub(super) fn remove(&mut self, id: SocketId) -> Option<Socket> {
        let index = self.ids.remove(&id)?;
        let slot = &mut self.slots[index];
        let mut entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(index);
        let registry = self.poll.registry();
        let _ = match &mut entry.socket {
            Socket::Udp(s) => registry.deregister(s),
            Socket::Listener(l) => registry.deregister(l),
            Socket::Stream(s) => registry.deregister(&mut s.tcp),
        };
        Some(entry.socket)
    }

    /// An accepted connection the core named `id`: no Nagle delay on
    /// replies, and urgent data inline (an `ABOR` sent with `MSG_OOB`, as
    /// Python's ftplib does, must stay in the control stream; nothing else
    /// sends urgent data to a data connection).
    pub(super) fn accepted(&mut self, id: SocketId, tcp: TcpStream) -> io::Result<()> {
        let _ = tcp.set_nodelay(true);
        let _ = socket2::SockRef::from(&tcp).set_out_of_band_inline(true);
        self.insert(id, Socket::Stream(Stream::new(tcp, false)))
    }

    /// Takes a socket opened for `local` into the loop; returns its
    /// address, or what kept it from opening.
    fn opened(
        &mut self,
        id: SocketId,
        local: SocketAddr,
        opened: io::Result<(SocketAddr, Socket)>,
    ) -> Result<SocketAddr, OpenError> {
        match opened.and_then(|(addr, socket)| self.insert(id, socket).map(|()| addr)) {
            Ok(addr) => Ok(addr),
            Err(e) => Err(self.failed(local, e)),
        }
    }

    /// `e` kept `local` from opening: what the core is told, and, while
    /// binding, the first such error explained for the caller.
    fn failed(&mut self, local: SocketAddr, e: io::Error) -> OpenError {
        let error = open_error(&e);
        if self.binding && self.bind_error.is_none() {
            // An OS error is explained; one the std layer already
            // described (an interface binding) is kept as it is.
            let message = match e.get_ref() {
                Some(described) => described.to_string(),
                None => explain_bind_error(local, &e),
            };
            self.bind_error = Some(io::Error::new(e.kind(), super::BindError(message)));
        }
        error
    }
}

impl Host<FsStore, Site> for Io {
    fn open_udp(
        &mut self,
        _: Instant,
        socket: SocketId,
        local: SocketAddr,
        role: &UdpRole,
    ) -> Result<SocketAddr, OpenError> {
        if let Some(taken) = self.take_inherited(local, true) {
            // The handed-over socket gets what binding would have set and
            // the role needs: broadcasts for BOOTP replies.
            let taken = taken.and_then(|s| {
                if let (Socket::Udp(u), UdpRole::Bootp { .. }) = (&s, role) {
                    u.set_broadcast(true)?;
                }
                Ok((local, s))
            });
            return self.opened(socket, local, taken);
        }
        let opened = netboot_std::host::open_udp(local, role)
            .and_then(|s| Ok((s.local_addr()?, Socket::Udp(UdpSocket::from_std(s)))));
        self.opened(socket, local, opened)
    }

    fn listen(
        &mut self,
        _: Instant,
        socket: SocketId,
        local: SocketAddr,
        backlog: u32,
    ) -> Result<SocketAddr, OpenError> {
        if let Some(taken) = self.take_inherited(local, false) {
            let taken = taken.map(|s| (local, s));
            return self.opened(socket, local, taken);
        }
        let opened = netboot_std::host::listen(local, backlog)
            .and_then(|l| Ok((l.local_addr()?, Socket::Listener(TcpListener::from_std(l)))));
        self.opened(socket, local, opened)
    }

    fn connect(
        &mut self,
        _: Instant,
        socket: SocketId,
        local: IpAddr,
        remote: SocketAddr,
    ) -> Result<(), OpenError> {
        connect(local, remote)
            .map(TcpStream::from_std)
            .and_then(|tcp| self.insert(socket, Socket::Stream(Stream::new(tcp, true))))
            .map_err(|e| open_error(&e))
    }

    fn close(&mut self, socket: SocketId) {
        if let Some(Socket::Stream(s)) = self.remove(socket) {
            // Every byte handed out was taken: the peer reads them, then
            // the end of the stream.
            let _ = s.tcp.shutdown(std::net::Shutdown::Write);
        }
    }

    fn send(&mut self, output: &Output, bytes: &[u8]) -> Sent {
        let Some(&index) = self.ids.get(&output.socket) else {
            return Sent::Failed;
        };
        let Some(entry) = self.slots[index].entry.as_mut() else {
            return Sent::Failed;
        };
        match &mut entry.socket {
            Socket::Udp(socket) => {
                match output.segment_size {
                    Some(segment) if segment < bytes.len() => {
                        self.batcher
                            .send(socket, bytes, segment, output.transmit.destination);
                    }
                    _ => send_datagram(socket, bytes, output, self.directed),
                }
                Sent::All
            }
            Socket::Stream(stream) => {
                let sent = write_stream(&mut stream.tcp, bytes, &mut stream.blocked);
                if sent == Sent::Failed {
                    drop(self.remove(output.socket));
                }
                sent
            }
            Socket::Listener(_) => Sent::Failed,
        }
    }

    fn worker(&mut self) -> &mut dyn Worker<FsStore, Site> {
        &mut self.services
    }

    fn fast_path(&mut self, _: Instant, fast: FastPath) {
        let (socket, run) = match fast {
            FastPath::SendFile { socket, offset } => (socket, Fast::send_file(offset)),
            FastPath::Splice { socket } => (socket, Fast::splice()),
        };
        if let Some(stream) = self.stream(socket) {
            stream.fast = Some(run);
        }
        self.fast_ready.push(socket);
    }
}
