//! A whole TFTP server as one sans-IO machine: the listening sockets, the
//! table of running transfers, and every decision about them.
//!
//! [`Endpoint`] is to [`Transfer`] what quinn-proto's `Endpoint` is to a
//! connection. It owns the served [`Storage`] and:
//!
//! * asks its driver for its listening sockets at start, and for one fresh
//!   socket per accepted transfer (its TID, RFC 1350 §4), bound to the
//!   listener's address; it asks for the socket to be closed when the
//!   transfer is over;
//! * accepts requests through the [`Server`] acceptor (policy, path rules,
//!   option negotiation) and opens the file, write-aside for uploads;
//! * drops a repeated request from a peer whose transfer still runs (a
//!   retransmitted RRQ or WRQ, which would otherwise start a second
//!   transfer);
//! * runs at most [`EndpointConfig::max_transfers`] transfers; a valid
//!   request beyond that is refused with ERROR 0 ([`file::BUSY`]), while an
//!   ERROR or junk sent to the port is still never answered;
//! * demultiplexes every datagram to its transfer by socket, answers the
//!   transfers' storage events (a read straight into the transmit buffer,
//!   a write straight from the received datagram, the commit before the
//!   last ACK), and keeps their retransmission deadlines in one
//!   [`Deadlines`] heap;
//! * lays consecutive DATA blocks of one transfer out back to back in the
//!   caller's buffer when [`EndpointConfig::max_segments`] allows it (UDP
//!   segmentation offload), the first datagram after each input on its
//!   own so that a peer asleep after its ACK starts waking up while the
//!   rest of the window is segmented, and reads a whole window from
//!   storage at once through a shared read-ahead buffer;
//! * reports each transfer's start and end ([`EndpointEvent`]).
//!
//! The driver moves datagrams between its sockets and
//! [`Endpoint::handle_datagram`] / [`Endpoint::poll_transmit`], opens and
//! closes sockets when asked, and calls [`Endpoint::handle_timeout`]; it
//! decides nothing.
//!
//! Memory: one slot per running transfer (the machine, under 3 KiB, its open
//! file and a few words), one receive buffer of
//! [`MAX_PACKET_LEN`] bytes, and the
//! read-ahead buffer. Nothing is allocated per datagram.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::net::SocketAddr;

use super::file::{self, Driven, ReadAhead, ReadAheadState, TransferFile};
use super::{Direction, Event, Refusal, Server, ServerConfig, Transfer, TransferError};
use crate::Transmit;
use crate::deadline::Deadlines;
use crate::machine::Machine;
use crate::path::PathBuf;
use crate::socket::{OpenError, Output, SocketId, SocketRequest, UdpRole};
use crate::storage::Storage;
use crate::time::Instant;
use crate::wire::tftp::{ErrorCode, MAX_PACKET_LEN, Mode};

/// Longest ERROR message from a peer kept in a [`Completion`].
pub const MAX_PEER_MESSAGE: usize = 128;

/// User-space memory one running transfer costs the endpoint, in bytes:
/// its slot (the machine, the open file, bookkeeping), its table and
/// deadline entries (checked by a test; the file handle's own memory and
/// the kernel's socket buffers come on top).
pub const TRANSFER_MEMORY: usize = 4 * 1024;

/// Bit set in the raw [`SocketId`] of a transfer's socket (listeners have
/// it clear). Ids stay below `1 << 60`, so a composition may tag them.
const TRANSFER_BIT: u64 = 1 << 59;

/// How a TFTP endpoint runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// The acceptor's policy: options, uploads, timers.
    pub server: ServerConfig,
    /// The listening addresses (port 0: any free port).
    pub listen: Vec<SocketAddr>,
    /// Most transfers at once.
    pub max_transfers: usize,
    /// Most datagrams one [`Output`] may hold (1: no batching).
    pub max_segments: usize,
    /// Bytes of the read-ahead buffer shared by windowed transfers (0:
    /// none).
    pub read_ahead: usize,
}

impl EndpointConfig {
    /// Listens on `listen` with the default policy: read-only, 1,024
    /// transfers, no batching, a 256 KiB read-ahead buffer.
    pub fn new(listen: Vec<SocketAddr>) -> Self {
        EndpointConfig {
            server: ServerConfig::default(),
            listen,
            max_transfers: 1024,
            max_segments: 1,
            read_ahead: 256 * 1024,
        }
    }
}

/// A transfer that ended, as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The transfer's socket.
    pub socket: SocketId,
    /// The client (an IPv4-mapped address is shown as IPv4).
    pub peer: SocketAddr,
    /// The normalised path inside the served root.
    pub path: PathBuf,
    /// `Read` for an RRQ (the client downloaded), `Write` for a WRQ.
    pub direction: Direction,
    /// The transfer mode.
    pub mode: Mode,
    /// File bytes sent (acknowledged) or stored.
    pub bytes: u64,
    /// `Ok` when the whole file went through (an upload was committed).
    pub result: Result<(), TransferError>,
    /// The client's ERROR message, when it sent one.
    pub peer_message: heapless::String<MAX_PEER_MESSAGE>,
    /// When the request arrived.
    pub started: Instant,
    /// When the transfer ended.
    pub finished: Instant,
}

impl Completion {
    /// True when the transfer succeeded.
    pub fn is_success(&self) -> bool {
        self.result.is_ok()
    }
}

const fn verb(direction: Direction) -> &'static str {
    match direction {
        Direction::Read => "RRQ",
        Direction::Write => "WRQ",
    }
}

/// `192.0.2.9:2000 RRQ boot.img done, 1440 bytes in 12 ms`.
impl fmt::Display for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = verb(self.direction);
        match &self.result {
            Ok(()) => write!(
                f,
                "{} {verb} {} done, {} bytes in {} ms",
                self.peer,
                self.path,
                self.bytes,
                (self.finished - self.started).as_millis()
            ),
            Err(e) => write!(f, "{} {verb} {} failed: {e}", self.peer, self.path),
        }
    }
}

/// Why a datagram on a listening port started nothing and got no answer.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dropped {
    /// A request from a peer whose transfer is still running.
    Repeated,
    /// Larger than any TFTP packet.
    Oversized,
    /// Not a request worth answering (an ERROR, too short to parse).
    Ignored(super::Ignored),
}

/// What an [`Endpoint`] reports or needs.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Open or close a socket (see [`SocketRequest`]).
    Socket(SocketRequest),
    /// A listening socket could not be opened.
    ListenFailed {
        /// The address it was to listen on.
        local: SocketAddr,
        /// Why.
        error: OpenError,
    },
    /// A transfer was accepted (its socket is being opened).
    Started {
        /// Its socket.
        socket: SocketId,
        /// The client.
        peer: SocketAddr,
        /// The normalised path.
        path: PathBuf,
        /// RRQ or WRQ.
        direction: Direction,
        /// The transfer mode.
        mode: Mode,
    },
    /// A transfer ended.
    Finished(Completion),
    /// A request was answered with an ERROR from the listening port.
    Refused {
        /// The client.
        peer: SocketAddr,
        /// The code sent.
        code: ErrorCode,
        /// The message sent.
        message: &'static str,
    },
    /// A datagram on a listening port was dropped.
    Dropped {
        /// The sender.
        peer: SocketAddr,
        /// Why.
        why: Dropped,
    },
}

/// One line for logs.
impl fmt::Display for EndpointEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointEvent::Socket(r) => write!(f, "{r:?}"),
            EndpointEvent::ListenFailed { local, error } => {
                write!(f, "cannot listen on {local}: {error}")
            }
            EndpointEvent::Started {
                peer,
                path,
                direction,
                mode,
                ..
            } => write!(f, "{peer} {} {path} ({mode})", verb(*direction)),
            EndpointEvent::Finished(c) => c.fmt(f),
            EndpointEvent::Refused {
                peer,
                code,
                message,
            } => write!(f, "{peer} refused: {message} ({})", code.to_u16()),
            EndpointEvent::Dropped { peer, why } => write!(f, "{peer} dropped: {why:?}"),
        }
    }
}

struct Listener {
    local: SocketAddr,
    bound: Option<SocketAddr>,
}

struct Running<S: Storage> {
    transfer: Transfer,
    files: TransferFile<S>,
    listener: usize,
    /// The transfer's socket is open.
    opened: bool,
    /// The next datagram is the first after an input: it leaves alone.
    lead: bool,
    started: Instant,
    /// Owner id of read-ahead data.
    id: u64,
    reported: bool,
}

struct Slot<S: Storage> {
    generation: u32,
    running: Option<Running<S>>,
    /// In the ready queue.
    queued: bool,
}

/// A datagram already written that did not fit the run being returned.
struct Carry {
    bytes: Vec<u8>,
    output: Output,
}

/// A TFTP server (see the [module docs](self)).
///
/// ```
/// use netboot_core::socket::{SocketId, SocketRequest};
/// use netboot_core::storage::MemStore;
/// use netboot_core::tftp::{Endpoint, EndpointConfig, EndpointEvent};
/// use netboot_core::time::Instant;
/// use netboot_core::wire::tftp::Packet;
///
/// let mut store = MemStore::new();
/// store.insert("boot.bin", b"hello".to_vec());
/// let listen = "192.0.2.1:69".parse().unwrap();
/// let mut tftp = Endpoint::new(EndpointConfig::new(vec![listen]), store);
/// let now = Instant::ZERO;
///
/// // It asks for its listening socket first.
/// let Some(EndpointEvent::Socket(SocketRequest::Udp { socket: port69, .. })) = tftp.poll_event() else { panic!() };
/// tftp.handle_opened(now, port69, Ok(listen));
///
/// // A request: the endpoint asks for the transfer's own socket...
/// let client = "192.0.2.9:2000".parse().unwrap();
/// tftp.handle_datagram(now, port69, client, b"\x00\x01boot.bin\x00octet\x00");
/// assert!(matches!(tftp.poll_event(), Some(EndpointEvent::Started { .. })));
/// let Some(EndpointEvent::Socket(SocketRequest::Udp { socket: tid, .. })) = tftp.poll_event() else { panic!() };
/// tftp.handle_opened(now, tid, Ok("192.0.2.1:50000".parse().unwrap()));
///
/// // ...and sends DATA 1 from it.
/// let mut buf = [0u8; 1024];
/// let out = tftp.poll_transmit(now, &mut buf).unwrap();
/// assert_eq!((out.socket, out.transmit.destination), (tid, client));
/// assert_eq!(Packet::parse(&buf[..out.transmit.len]).unwrap(), Packet::Data { block: 1, data: b"hello" });
///
/// // The ACK ends it; the endpoint reports it and closes the socket.
/// tftp.handle_datagram(now, tid, client, b"\x00\x04\x00\x01");
/// assert!(tftp.poll_transmit(now, &mut buf).is_none());
/// let Some(EndpointEvent::Finished(done)) = tftp.poll_event() else { panic!() };
/// assert_eq!((done.bytes, done.is_success()), (5, true));
/// assert_eq!(tftp.poll_event(), Some(EndpointEvent::Socket(SocketRequest::Close { socket: tid })));
/// ```
pub struct Endpoint<S: Storage> {
    acceptor: Server,
    store: S,
    listeners: Vec<Listener>,
    slots: Vec<Slot<S>>,
    free: Vec<usize>,
    by_peer: BTreeMap<SocketAddr, usize>,
    deadlines: Deadlines,
    ready: VecDeque<usize>,
    replies: VecDeque<(usize, SocketAddr, Refusal)>,
    events: VecDeque<EndpointEvent>,
    carry: Option<Carry>,
    rx: Vec<u8>,
    read_ahead: Vec<u8>,
    read_ahead_state: ReadAheadState,
    max_transfers: usize,
    max_segments: usize,
    active: usize,
    started: u64,
    closing: bool,
}

impl<S: Storage> fmt::Debug for Endpoint<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("listeners", &self.listeners.len())
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> Endpoint<S> {
    /// An endpoint serving `store`. Its first events ask for the listening
    /// sockets.
    pub fn new(config: EndpointConfig, store: S) -> Self {
        let mut events = VecDeque::new();
        let listeners = config
            .listen
            .iter()
            .enumerate()
            .map(|(i, &local)| {
                events.push_back(EndpointEvent::Socket(SocketRequest::Udp {
                    socket: SocketId::from_raw(i as u64),
                    local,
                    role: UdpRole::TftpListener,
                }));
                Listener { local, bound: None }
            })
            .collect();
        Endpoint {
            acceptor: Server::new(config.server),
            store,
            listeners,
            slots: Vec::new(),
            free: Vec::new(),
            by_peer: BTreeMap::new(),
            deadlines: Deadlines::new(),
            ready: VecDeque::new(),
            replies: VecDeque::new(),
            events,
            carry: None,
            rx: vec![0; MAX_PACKET_LEN],
            read_ahead: vec![0; config.read_ahead],
            read_ahead_state: ReadAheadState::default(),
            max_transfers: config.max_transfers.max(1),
            max_segments: config.max_segments.max(1),
            active: 0,
            started: 0,
            closing: false,
        }
    }

    /// Takes a new policy while running (a configuration reload): requests
    /// from now on are accepted or refused by `config.server` (options
    /// caps, uploads, timers), and `max_transfers` bounds new transfers.
    /// Running transfers finish as they started. The listening addresses,
    /// the batching and the read-ahead buffer stay as they are (a listener
    /// is not moved while running); the return value is `false` when
    /// `config.listen` asked for other addresses.
    pub fn reconfigure(&mut self, config: EndpointConfig) -> bool {
        self.acceptor = Server::new(config.server);
        self.max_transfers = config.max_transfers.max(1);
        config.listen.len() == self.listeners.len()
            && config
                .listen
                .iter()
                .zip(&self.listeners)
                .all(|(a, l)| *a == l.local || l.bound == Some(*a))
    }

    // ---- getters ----

    /// The acceptor's policy.
    pub fn config(&self) -> &ServerConfig {
        self.acceptor.config()
    }

    /// The served store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The served store, mutably.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// The addresses the listening sockets are bound to (once opened).
    pub fn local_addrs(&self) -> impl Iterator<Item = SocketAddr> + '_ {
        self.listeners.iter().filter_map(|l| l.bound)
    }

    /// The listening socket of each configured address, in order.
    pub fn listeners(&self) -> impl Iterator<Item = SocketId> + '_ {
        (0..self.listeners.len()).map(|i| SocketId::from_raw(i as u64))
    }

    /// Transfers running now (including those whose socket is not open
    /// yet).
    pub fn active(&self) -> usize {
        self.active
    }

    /// The machines of the running transfers.
    pub fn transfers(&self) -> impl Iterator<Item = &Transfer> {
        self.slots
            .iter()
            .filter_map(|s| s.running.as_ref().map(|r| &r.transfer))
    }

    /// True when `socket` is one of this endpoint's.
    pub fn owns(&self, socket: SocketId) -> bool {
        self.listener(socket).is_some() || self.slot(socket).is_some()
    }

    // ---- socket ids ----

    fn transfer_socket(&self, index: usize) -> SocketId {
        let generation = u64::from(self.slots[index].generation & 0x07ff_ffff);
        SocketId::from_raw(TRANSFER_BIT | generation << 32 | index as u64)
    }

    fn listener(&self, socket: SocketId) -> Option<usize> {
        let raw = socket.raw();
        (raw & TRANSFER_BIT == 0 && (raw as usize) < self.listeners.len()).then_some(raw as usize)
    }

    fn slot(&self, socket: SocketId) -> Option<usize> {
        let raw = socket.raw();
        if raw & TRANSFER_BIT == 0 || raw >= 1 << 60 {
            return None;
        }
        let index = (raw & 0xffff_ffff) as usize;
        let slot = self.slots.get(index)?;
        (slot.running.is_some() && self.transfer_socket(index) == socket).then_some(index)
    }

    // ---- input ----

    /// A datagram arrived on `socket` from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        socket: SocketId,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        if let Some(listener) = self.listener(socket) {
            return self.on_request(now, listener, from, bytes);
        }
        let Some(index) = self.slot(socket) else {
            return;
        };
        if bytes.len() > MAX_PACKET_LEN {
            return;
        }
        let n = bytes.len();
        self.rx[..n].copy_from_slice(bytes);
        let Some(r) = self.slots[index].running.as_mut() else {
            return;
        };
        if !r.opened {
            return;
        }
        r.transfer.handle_datagram(now, from, &self.rx[..n]);
        r.lead = true;
        if r.transfer.role().direction() == Direction::Write {
            // A receiver's events never need the transmit buffer: answer
            // the write now, from the datagram just copied.
            while let Some(event) = r.transfer.poll_event() {
                let handled = Driven {
                    transfer: &mut r.transfer,
                    file: &mut r.files,
                    store: &mut self.store,
                    received: &mut self.rx[..n],
                }
                .answer(now, &event, &mut [], None);
                if !handled {
                    Self::outcome(&mut self.events, socket, r, now, event);
                }
            }
        }
        self.make_ready(index);
    }

    fn on_request(&mut self, now: Instant, listener: usize, from: SocketAddr, bytes: &[u8]) {
        let peer = canonical(from);
        if self.closing {
            return;
        }
        if self.by_peer.contains_key(&from) {
            return self.events.push_back(EndpointEvent::Dropped {
                peer,
                why: Dropped::Repeated,
            });
        }
        if bytes.len() > MAX_PACKET_LEN {
            return self.events.push_back(EndpointEvent::Dropped {
                peer,
                why: Dropped::Oversized,
            });
        }
        let opened = if self.active >= self.max_transfers {
            Err(file::busy_refusal(&self.acceptor, from, bytes))
        } else {
            file::open(&self.acceptor, &mut self.store, now, from, bytes)
        };
        match opened {
            Ok((transfer, files)) => self.start(now, listener, transfer, files),
            Err(refusal) => self.refuse(listener, from, refusal),
        }
    }

    fn refuse(&mut self, listener: usize, to: SocketAddr, refusal: Refusal) {
        let peer = canonical(to);
        match refusal {
            Refusal::Error { code, message } => {
                self.replies.push_back((listener, to, refusal));
                self.events.push_back(EndpointEvent::Refused {
                    peer,
                    code,
                    message,
                });
            }
            Refusal::Drop(why) => self.events.push_back(EndpointEvent::Dropped {
                peer,
                why: Dropped::Ignored(why),
            }),
        }
    }

    fn start(&mut self, now: Instant, listener: usize, transfer: Transfer, files: TransferFile<S>) {
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                generation: 0,
                running: None,
                queued: false,
            });
            self.slots.len() - 1
        });
        self.started += 1;
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1);
        let peer = transfer.peer();
        let socket = self.transfer_socket(index);
        let mut path = PathBuf::new();
        let _ = path.push_str(transfer.path());
        self.events.push_back(EndpointEvent::Started {
            socket,
            peer: canonical(peer),
            path,
            direction: transfer.role().direction(),
            mode: transfer.mode(),
        });
        self.events
            .push_back(EndpointEvent::Socket(SocketRequest::Udp {
                socket,
                local: SocketAddr::new(self.listeners[listener].local.ip(), 0),
                role: UdpRole::TftpTransfer,
            }));
        self.slots[index].running = Some(Running {
            transfer,
            files,
            listener,
            opened: false,
            lead: true,
            started: now,
            id: self.started,
            reported: false,
        });
        self.by_peer.insert(peer, index);
        self.active += 1;
    }

    /// A socket asked for is open, or could not be opened.
    pub fn handle_opened(
        &mut self,
        _now: Instant,
        socket: SocketId,
        result: Result<SocketAddr, OpenError>,
    ) {
        if let Some(i) = self.listener(socket) {
            match result {
                Ok(addr) => self.listeners[i].bound = Some(addr),
                Err(error) => self.events.push_back(EndpointEvent::ListenFailed {
                    local: self.listeners[i].local,
                    error,
                }),
            }
            return;
        }
        let Some(index) = self.slot(socket) else {
            // A transfer that ended while its socket was being opened.
            if result.is_ok() {
                self.events
                    .push_back(EndpointEvent::Socket(SocketRequest::Close { socket }));
            }
            return;
        };
        match result {
            Ok(_) => {
                if let Some(r) = self.slots[index].running.as_mut() {
                    r.opened = true;
                }
                self.make_ready(index);
            }
            Err(_) => {
                let Some(r) = self.slots[index].running.take() else {
                    return;
                };
                let (listener, peer) = (r.listener, r.transfer.peer());
                r.files.finish(&mut self.store);
                self.release(index, peer);
                self.refuse(
                    listener,
                    peer,
                    Refusal::Error {
                        code: ErrorCode::NotDefined,
                        message: "cannot open a transfer socket, try again later",
                    },
                );
            }
        }
    }

    /// Time has passed: retransmissions and time-outs of the transfers
    /// that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(index) = self.deadlines.pop_due(now) {
            let Some(r) = self.slots[index].running.as_mut() else {
                continue;
            };
            r.transfer.handle_timeout(now);
            r.lead = true;
            self.make_ready(index);
        }
    }

    /// Cancels every transfer (the clients get ERROR 0, uploads are
    /// discarded) and refuses nothing more: the server is stopping. Drain
    /// as after any input; once [`Endpoint::active`] is 0 every transfer
    /// socket has been asked closed.
    pub fn close(&mut self, now: Instant) {
        self.closing = true;
        for index in 0..self.slots.len() {
            let Some(r) = self.slots[index].running.as_mut() else {
                continue;
            };
            if r.opened {
                r.transfer.close(now);
                self.make_ready(index);
            } else {
                let peer = r.transfer.peer();
                if let Some(r) = self.slots[index].running.take() {
                    r.files.finish(&mut self.store);
                }
                self.release(index, peer);
            }
        }
    }

    fn make_ready(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if !slot.queued {
            slot.queued = true;
            self.ready.push_back(index);
        }
    }

    // ---- output ----

    /// Writes the next datagram (or run of datagrams, see
    /// [`EndpointConfig::max_segments`]) into `buf`, which must hold at
    /// least [`MAX_PACKET_LEN`] bytes (a batching driver lends 64 KiB).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Output> {
        if let Some(carry) = self.carry.take() {
            let n = carry.bytes.len();
            buf[..n].copy_from_slice(&carry.bytes);
            return Some(carry.output);
        }
        while let Some(&(listener, to, refusal)) = self.replies.front() {
            self.replies.pop_front();
            if let Some(t) = refusal.emit(to, buf) {
                return Some(Output::new(SocketId::from_raw(listener as u64), t));
            }
        }
        while let Some(&index) = self.ready.front() {
            if let Some(out) = self.poll_slot(index, now, buf) {
                return Some(out);
            }
            self.ready.pop_front();
            self.slots[index].queued = false;
            self.settle(index);
        }
        None
    }

    /// Produces the next run of slot `index`, or `None` when it has nothing
    /// more to send now.
    fn poll_slot(&mut self, index: usize, now: Instant, buf: &mut [u8]) -> Option<Output> {
        let socket = self.transfer_socket(index);
        let max_segments = self.max_segments;
        let limit = file::MAX_BATCH_BYTES.min(buf.len());
        let r = self.slots[index].running.as_mut()?;
        if !r.opened {
            return None;
        }
        let mut run = Run::default();
        loop {
            let slot_len = r.transfer.buffer_len();
            if run.used > 0 && run.used + slot_len > limit {
                return run.output(socket);
            }
            if let Some(t) = r.transfer.poll_transmit(now, &mut buf[run.used..]) {
                let joins = run.count > 0
                    && run.destination == Some(t.destination)
                    && t.len <= run.segment
                    && run.count < max_segments;
                if run.count > 0 && !joins {
                    let start = run.used;
                    self.carry = Some(Carry {
                        bytes: buf[start..start + t.len].to_vec(),
                        output: Output::new(socket, t),
                    });
                    return run.output(socket);
                }
                if run.count == 0 {
                    run.segment = t.len;
                    run.destination = Some(t.destination);
                }
                run.used += t.len;
                run.count += 1;
                if core::mem::take(&mut r.lead) || t.len < run.segment || run.count == max_segments
                {
                    return run.output(socket);
                }
                continue;
            }
            let Some(event) = r.transfer.poll_event() else {
                return run.output(socket);
            };
            let mut read_ahead = ReadAhead {
                buf: &mut self.read_ahead,
                state: &mut self.read_ahead_state,
                owner: r.id,
            };
            let read_ahead = (!read_ahead.buf.is_empty()).then_some(&mut read_ahead);
            let handled = Driven {
                transfer: &mut r.transfer,
                file: &mut r.files,
                store: &mut self.store,
                received: &mut [],
            }
            .answer(now, &event, &mut buf[run.used..], read_ahead);
            if !handled {
                Self::outcome(&mut self.events, socket, r, now, event);
            }
        }
    }

    /// Reports a transfer's end, once.
    fn outcome(
        events: &mut VecDeque<EndpointEvent>,
        socket: SocketId,
        r: &mut Running<S>,
        now: Instant,
        event: Event,
    ) {
        let result = match event {
            Event::Done { .. } => Ok(()),
            Event::Failed(e) => Err(e),
            _ => return,
        };
        if core::mem::replace(&mut r.reported, true) {
            return;
        }
        let t = &r.transfer;
        let mut path = PathBuf::new();
        let _ = path.push_str(t.path());
        let mut peer_message = heapless::String::new();
        let message = t.peer_message();
        let mut end = message.len().min(MAX_PEER_MESSAGE);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let _ = peer_message.push_str(&message[..end]);
        events.push_back(EndpointEvent::Finished(Completion {
            socket,
            peer: canonical(t.peer()),
            path,
            direction: t.role().direction(),
            mode: t.mode(),
            bytes: t.bytes(),
            result,
            peer_message,
            started: r.started,
            finished: now,
        }));
    }

    /// After a slot has said everything: arm its deadline, or close it.
    fn settle(&mut self, index: usize) {
        let Some(r) = self.slots[index].running.as_ref() else {
            return;
        };
        if !r.transfer.is_closed() {
            self.deadlines.set(index, r.transfer.poll_timeout());
            return;
        }
        let socket = self.transfer_socket(index);
        if let Some(r) = self.slots[index].running.take() {
            let peer = r.transfer.peer();
            r.files.finish(&mut self.store);
            self.release(index, peer);
        }
        self.events
            .push_back(EndpointEvent::Socket(SocketRequest::Close { socket }));
    }

    fn release(&mut self, index: usize, peer: SocketAddr) {
        if self.by_peer.get(&peer) == Some(&index) {
            self.by_peer.remove(&peer);
        }
        self.deadlines.set(index, None);
        self.free.push(index);
        self.active -= 1;
    }

    /// When [`Endpoint::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }
}

/// The run of datagrams [`Endpoint::poll_transmit`] is collecting.
#[derive(Default)]
struct Run {
    used: usize,
    segment: usize,
    count: usize,
    destination: Option<SocketAddr>,
}

impl Run {
    fn output(&self, socket: SocketId) -> Option<Output> {
        let destination = self.destination?;
        Some(Output {
            socket,
            transmit: Transmit::to(destination, self.used),
            segment_size: (self.count > 1).then_some(self.segment),
        })
    }
}

/// Shows an IPv4-mapped IPv6 address as IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

impl<S: Storage> Machine for Endpoint<S> {
    type Output = Output;
    type Event<'a>
        = EndpointEvent
    where
        Self: 'a;

    fn handle_timeout(&mut self, now: Instant) {
        Endpoint::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Output> {
        Endpoint::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Endpoint::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<EndpointEvent> {
        Endpoint::poll_event(self)
    }
}

impl<S: Storage> crate::machine::Endpoint for Endpoint<S> {
    fn handle_datagram(&mut self, now: Instant, socket: SocketId, from: SocketAddr, bytes: &[u8]) {
        Endpoint::handle_datagram(self, now, socket, from, bytes)
    }
    fn handle_opened(
        &mut self,
        now: Instant,
        socket: SocketId,
        result: Result<SocketAddr, OpenError>,
    ) {
        Endpoint::handle_opened(self, now, socket, result)
    }
    fn handle_accept(
        &mut self,
        _now: Instant,
        _listener: SocketId,
        _peer: SocketAddr,
        _local: SocketAddr,
    ) -> crate::socket::Accept {
        crate::socket::Accept::Refuse { reply: b"" }
    }
    fn handle_stream(
        &mut self,
        _now: Instant,
        _socket: SocketId,
        _event: crate::socket::StreamEvent<'_>,
    ) {
    }
}

#[cfg(test)]
mod tests;
