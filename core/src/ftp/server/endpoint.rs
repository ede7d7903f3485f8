//! A whole FTP server as one sans-IO machine: the control listener, every
//! session, their data connections and their files.
//!
//! [`Endpoint`] owns the [`ServerSession`]s and makes every decision their
//! driver used to make:
//!
//! * which connections to take: at most [`EndpointConfig::max_sessions`] in
//!   all and [`EndpointConfig::max_sessions_per_ip`] from one address; the
//!   rest are refused with [`TOO_MANY_SESSIONS`] (RFC 959 §4.2: 421);
//! * which event needs which action: password checks go to the driver
//!   ([`EndpointEvent::VerifyLogin`], answered with
//!   [`Endpoint::login_verified`]); a login opens the user's store through
//!   [`Accounts`]; storage operations are performed on it; `STAT path` is
//!   listed;
//! * the data connection's life: a passive listener on the control
//!   connection's local address, on a port of
//!   [`EndpointConfig::passive_ports`] tried from a random start (the next
//!   one when it is taken), accepting only the control peer's address and
//!   only once (RFC 2577 §3; a connection from elsewhere is closed and
//!   reported); an active connection to the address the session checked
//!   against the bounce rules;
//! * the transfer: a download or listing is read from the store straight
//!   into the caller's buffer and leaves through
//!   [`Endpoint::poll_transmit`]; an upload arrives through
//!   [`StreamEvent::Data`] and is written (converted in `TYPE A`), and is
//!   committed when the client closes the data connection cleanly;
//!   anything else (ABOR, a timeout, a lost connection) discards it;
//! * the fast paths a driver may offer ([`FastPaths`]): a `TYPE I`
//!   download handed to the driver to `sendfile(2)`
//!   ([`EndpointEvent::SendFile`]), a `TYPE I` upload other than `APPE` to
//!   `splice(2)` ([`EndpointEvent::Splice`]); the driver moves the bytes
//!   and reports with [`Endpoint::fast_path_progress`] and
//!   [`Endpoint::fast_path_done`], and the endpoint still decides the rest
//!   (the commit, the reply, the record);
//! * fairness: one download yields after [`DATA_BUDGET`] bytes per turn,
//!   so that a fast client never starves the others;
//! * one [`TransferRecord`] per transfer, and session events for the log.
//!
//! The driver accepts connections and offers them to
//! [`Endpoint::handle_accept`], opens and closes sockets when asked, hands
//! bytes and stream events to [`Endpoint::handle_stream`], writes what
//! [`Endpoint::poll_transmit`] gives it (handing back what a stream did not
//! take with [`StreamEvent::Unsent`]), and runs the password checks.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::fmt;
use core::net::{IpAddr, SocketAddr};

use super::pump::{self, Opened, Outgoing, ReceivePump};
use super::{
    Event, MAX_PASSWORD, MAX_USER, ServerConfig, ServerSession, StorageOp, TOO_MANY_SESSIONS,
    TransferKind, TransferOutcome,
};
use crate::Transmit;
use crate::deadline::Deadlines;
use crate::machine::Machine;
use crate::path::PathBuf;
use crate::rng::Rng;
use crate::socket::{Accept, OpenError, Output, SocketId, SocketRequest, StreamEvent};
use crate::storage::{Storage, StoreError, WriteMode};
use crate::time::Instant;

/// Bytes one download may send per turn before the others get theirs.
pub const DATA_BUDGET: usize = 1 << 20;
/// Unread control input a session may hold; a client sending more without
/// reading the replies is disconnected.
pub const MAX_CONTROL_INPUT: usize = 64 * 1024;
/// Upload bytes that may arrive before the upload has started (a client
/// that sends before the `150`); more resets the data connection.
pub const MAX_EARLY_DATA: usize = 256 * 1024;

/// What a refused connection is told while the server stops.
const CLOSING: &[u8] = b"421 Service not available, closing control connection.\r\n";

const KIND_SHIFT: u32 = 56;
const KIND_LISTENER: u64 = 0;
const KIND_CONTROL: u64 = 1;
const KIND_PASSIVE: u64 = 2;
const KIND_DATA: u64 = 3;

/// Where each user's files are, and what they may do with them.
///
/// ```
/// use netboot_core::ftp::server::Accounts;
/// use netboot_core::storage::MemStore;
///
/// /// Everyone reads one in-memory store; nobody writes.
/// struct ReadOnly(MemStore);
///
/// impl Accounts for ReadOnly {
///     type Store = MemStore;
///     fn open_store(&mut self, _user: &str, _anonymous: bool) -> Option<MemStore> {
///         Some(self.0.clone())
///     }
///     fn writable(&self, _user: &str) -> bool {
///         false
///     }
/// }
/// ```
pub trait Accounts {
    /// The store type every session is served from.
    type Store: Storage;
    /// The store a logged-in user is served from (their root); `None`
    /// leaves the session without one (every operation is refused).
    fn open_store(&mut self, user: &str, anonymous: bool) -> Option<Self::Store>;
    /// True when `user`, whose password was verified, may modify their
    /// store.
    fn writable(&self, user: &str) -> bool;
}

/// The fast paths a driver offers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FastPaths {
    /// The driver sends a reader's bytes to a stream itself
    /// ([`EndpointEvent::SendFile`]).
    pub sendfile: bool,
    /// The driver moves a stream's bytes into a writer itself
    /// ([`EndpointEvent::Splice`]).
    pub splice: bool,
}

/// How an FTP endpoint runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// Every session's policy.
    pub session: ServerConfig,
    /// The control listener's address (port 0: any free port).
    pub listen: SocketAddr,
    /// Most sessions at once.
    pub max_sessions: usize,
    /// Most sessions from one address.
    pub max_sessions_per_ip: usize,
    /// The passive ports, first and last (`None`: any free port).
    pub passive_ports: Option<(u16, u16)>,
    /// What the driver can do itself.
    pub fast_paths: FastPaths,
    /// Seed of the passive-port choice (give it real randomness: passive
    /// ports should not be predictable).
    pub seed: u64,
    /// The Unix time at [`Instant::ZERO`], for listing dates (`None`: no
    /// wall clock; dates are shown as the epoch).
    pub epoch_unix: Option<u64>,
}

impl EndpointConfig {
    /// Listens on `listen` with `session`'s policy, 4,096 sessions, 64 per
    /// address, any passive port, no fast paths.
    pub fn new(listen: SocketAddr, session: ServerConfig) -> Self {
        EndpointConfig {
            session,
            listen,
            max_sessions: 4096,
            max_sessions_per_ip: 64,
            passive_ports: None,
            fast_paths: FastPaths::default(),
            seed: 0,
            epoch_unix: None,
        }
    }
}

/// A password that prints as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub heapless::String<MAX_PASSWORD>);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How a data transfer ended, for the record.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything went through (an upload was committed).
    Complete,
    /// `ABOR`, or the data time-out.
    Aborted,
    /// The data connection failed.
    ConnectionLost,
    /// Reading, writing or committing the file failed.
    Storage(StoreError),
    /// The control connection closed while the transfer ran.
    ConnectionClosed,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Complete => "complete",
            Outcome::Aborted => "aborted",
            Outcome::ConnectionLost => "data connection lost",
            Outcome::Storage(_) => "storage error",
            Outcome::ConnectionClosed => "connection closed",
        })
    }
}

/// A finished (or abandoned) data transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferRecord {
    /// The client's control-connection address.
    pub peer: SocketAddr,
    /// The logged-in user, if any.
    pub user: Option<heapless::String<MAX_USER>>,
    /// The file or directory, as a path in the session's root.
    pub path: PathBuf,
    /// `RETR`, `STOR` or `LIST`.
    pub direction: &'static str,
    /// Bytes that crossed the data connection.
    pub bytes: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// When the transfer started.
    pub started: Instant,
    /// When it ended.
    pub finished: Instant,
}

/// `127.0.0.1:40000 anonymous RETR /boot.img complete, 1440 bytes`.
impl fmt::Display for TransferRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} /{} {}, {} bytes",
            self.peer,
            self.user.as_deref().unwrap_or("-"),
            self.direction,
            self.path,
            self.outcome,
            self.bytes
        )
    }
}

/// What a fast path ([`EndpointEvent::SendFile`], [`EndpointEvent::Splice`])
/// ran into.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FastPathError {
    /// The data connection failed.
    Lost,
    /// The file could not be read or written.
    Storage(StoreError),
}

/// What an [`Endpoint`] reports or needs.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointEvent {
    /// Open or close a socket (see [`SocketRequest`]).
    Socket(SocketRequest),
    /// The control listener could not be opened.
    ListenFailed {
        /// Its address.
        local: SocketAddr,
        /// Why.
        error: OpenError,
    },
    /// Check this password, then call [`Endpoint::login_verified`].
    VerifyLogin {
        /// The session's control connection.
        socket: SocketId,
        /// The user name.
        user: heapless::String<MAX_USER>,
        /// The password sent.
        password: Secret,
    },
    /// Fast path: send the file of [`Endpoint::reader`] from `offset` to
    /// the end to the data stream `socket`, then call
    /// [`Endpoint::fast_path_done`].
    SendFile {
        /// The data connection.
        socket: SocketId,
        /// Where to start in the file.
        offset: u64,
    },
    /// Fast path: move every byte the data stream `socket` delivers into
    /// the file of [`Endpoint::writer`] until the stream ends, then call
    /// [`Endpoint::fast_path_done`].
    Splice {
        /// The data connection.
        socket: SocketId,
    },
    /// A session started.
    Opened {
        /// Its control connection.
        socket: SocketId,
        /// The client.
        peer: SocketAddr,
    },
    /// A session ended.
    Closed {
        /// The client.
        peer: SocketAddr,
    },
    /// A connection was refused: too many sessions.
    Refused {
        /// The client.
        peer: SocketAddr,
    },
    /// A login succeeded.
    Login {
        /// The client.
        peer: SocketAddr,
        /// The user (`anonymous` for anonymous logins).
        user: heapless::String<MAX_USER>,
        /// True for an anonymous login.
        anonymous: bool,
    },
    /// A password was wrong, or the account does not exist.
    LoginRefused {
        /// The client.
        peer: SocketAddr,
    },
    /// A data connection from another address than the control peer's was
    /// closed.
    ForeignDataConnection {
        /// The control peer.
        peer: SocketAddr,
        /// Who connected.
        from: SocketAddr,
    },
    /// No passive listener could be opened.
    PassiveFailed {
        /// The client.
        peer: SocketAddr,
        /// Why.
        error: OpenError,
    },
    /// A data transfer ended.
    Transfer(Box<TransferRecord>),
}

/// One line for logs.
impl fmt::Display for EndpointEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointEvent::Socket(r) => write!(f, "{r:?}"),
            EndpointEvent::ListenFailed { local, error } => {
                write!(f, "cannot listen on {local}: {error}")
            }
            EndpointEvent::VerifyLogin { user, .. } => write!(f, "checking the password of {user}"),
            EndpointEvent::SendFile { socket, offset } => {
                write!(f, "{socket}: sendfile from {offset}")
            }
            EndpointEvent::Splice { socket } => write!(f, "{socket}: splice"),
            EndpointEvent::Opened { peer, .. } => write!(f, "{peer} session opened"),
            EndpointEvent::Closed { peer } => write!(f, "{peer} session closed"),
            EndpointEvent::Refused { peer } => write!(f, "{peer} refused: too many sessions"),
            EndpointEvent::Login {
                peer,
                user,
                anonymous,
            } => {
                write!(f, "{peer} login {user}")?;
                if *anonymous {
                    f.write_str(" (anonymous)")?;
                }
                Ok(())
            }
            EndpointEvent::LoginRefused { peer } => write!(f, "{peer} login refused"),
            EndpointEvent::ForeignDataConnection { peer, from } => {
                write!(f, "{peer} refused a data connection from {from}")
            }
            EndpointEvent::PassiveFailed { peer, error } => {
                write!(f, "{peer} cannot open a passive listener: {error}")
            }
            EndpointEvent::Transfer(r) => r.fmt(f),
        }
    }
}

enum Mover {
    /// A download or listing through the caller's buffer; `unsent` holds
    /// what the stream did not take yet.
    Send { out: Box<Outgoing>, unsent: Vec<u8> },
    /// An upload through [`ReceivePump`].
    Receive(ReceivePump),
    /// A download the driver sends itself.
    SendFile,
    /// An upload the driver splices itself.
    Splice,
}

struct Running {
    mover: Mover,
    path: PathBuf,
    kind: TransferKind,
    started: Instant,
    bytes: u64,
}

struct Data {
    socket: SocketId,
    connected: bool,
    blocked: bool,
    /// The peer finished sending.
    eof: bool,
}

struct Passive {
    socket: SocketId,
    ip: IpAddr,
    /// Ports tried so far in the configured range.
    tried: u32,
    first: u32,
}

struct Conn<S: Storage> {
    session: ServerSession,
    control: SocketId,
    peer: SocketAddr,
    local: SocketAddr,
    input: Vec<u8>,
    read_closed: bool,
    /// The user whose password the driver is checking.
    verifying: Option<heapless::String<MAX_USER>>,
    unsent: Vec<u8>,
    blocked: bool,
    store: Option<S>,
    passive: Option<Passive>,
    data: Option<Data>,
    early: Vec<u8>,
    reader: Option<S::Reader>,
    writer: Option<S::Writer>,
    write_mode: Option<WriteMode>,
    transfer: Option<Running>,
    /// Download bytes left this turn, and the turn they belong to.
    budget: (u64, usize),
}

struct Slot<S: Storage> {
    generation: u32,
    conn: Option<Box<Conn<S>>>,
    queued: bool,
}

/// An FTP server (see the [module docs](self)).
///
/// ```
/// use netboot_core::ftp::server::{Accounts, Endpoint, EndpointConfig, EndpointEvent, ServerConfig};
/// use netboot_core::socket::{Accept, SocketRequest, StreamEvent};
/// use netboot_core::storage::MemStore;
/// use netboot_core::time::Instant;
///
/// struct Anyone(MemStore);
/// impl Accounts for Anyone {
///     type Store = MemStore;
///     fn open_store(&mut self, _: &str, _: bool) -> Option<MemStore> { Some(self.0.clone()) }
///     fn writable(&self, _: &str) -> bool { false }
/// }
///
/// let session = ServerConfig { anonymous: true, ..ServerConfig::default() };
/// let listen = "192.0.2.1:21".parse().unwrap();
/// let mut ftp = Endpoint::new(EndpointConfig::new(listen, session), Anyone(MemStore::new()));
/// let now = Instant::ZERO;
/// let Some(EndpointEvent::Socket(SocketRequest::Listen { socket: listener, .. })) = ftp.poll_event() else { panic!() };
/// ftp.handle_opened(now, listener, Ok(listen));
///
/// let client = "192.0.2.9:40000".parse().unwrap();
/// let Accept::Stream(control) = ftp.handle_accept(now, listener, client, listen) else { panic!() };
/// let mut buf = [0u8; 1024];
/// let out = ftp.poll_transmit(now, &mut buf).unwrap();
/// assert_eq!(out.socket, control);
/// assert!(buf[..out.transmit.len].starts_with(b"220 "));
///
/// ftp.handle_stream(now, control, StreamEvent::Data(b"USER anonymous\r\nPASS x\r\nPWD\r\n"));
/// let out = ftp.poll_transmit(now, &mut buf).unwrap();
/// assert!(buf[..out.transmit.len].ends_with(b"230 Login successful.\r\n257 \"/\" is the current directory.\r\n"));
/// ```
pub struct Endpoint<A: Accounts> {
    config: EndpointConfig,
    accounts: A,
    rng: Rng,
    slots: Vec<Slot<A::Store>>,
    free: Vec<usize>,
    per_ip: BTreeMap<IpAddr, usize>,
    live: usize,
    deadlines: Deadlines,
    ready: VecDeque<usize>,
    parked: Vec<usize>,
    events: VecDeque<EndpointEvent>,
    bound: Option<SocketAddr>,
    serial: u32,
    scratch: Vec<u8>,
    turn: usize,
    turn_at: Instant,
    closing: bool,
}

impl<A: Accounts> fmt::Debug for Endpoint<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("listen", &self.config.listen)
            .field("sessions", &self.live)
            .finish_non_exhaustive()
    }
}

fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

fn direction(kind: TransferKind) -> &'static str {
    match kind {
        TransferKind::Retr => "RETR",
        TransferKind::Stor => "STOR",
        TransferKind::List(..) => "LIST",
    }
}

fn id(kind: u64, slot: usize, low: u32) -> SocketId {
    SocketId::from_raw(kind << KIND_SHIFT | (slot as u64 & 0xff_ffff) << 32 | u64::from(low))
}

impl<A: Accounts> Endpoint<A> {
    /// An endpoint serving `accounts`. Its first event asks for the control
    /// listener.
    pub fn new(config: EndpointConfig, accounts: A) -> Self {
        let mut events = VecDeque::new();
        events.push_back(EndpointEvent::Socket(SocketRequest::Listen {
            socket: id(KIND_LISTENER, 0, 0),
            local: config.listen,
            backlog: 4096,
        }));
        Endpoint {
            rng: Rng::new(config.seed),
            config,
            accounts,
            slots: Vec::new(),
            free: Vec::new(),
            per_ip: BTreeMap::new(),
            live: 0,
            deadlines: Deadlines::new(),
            ready: VecDeque::new(),
            parked: Vec::new(),
            events,
            bound: None,
            serial: 0,
            scratch: Vec::new(),
            turn: 0,
            turn_at: Instant::ZERO,
            closing: false,
        }
    }

    /// Takes a new configuration and accounts while running (a
    /// configuration reload): logins, session limits, passive ports and
    /// the session policy from now on follow `config`, and `accounts`
    /// answers new logins. Open sessions keep their policy, their store
    /// and their transfers. The control listener stays where it is; the
    /// return value is `false` when `config.listen` named another address.
    pub fn reconfigure(&mut self, config: EndpointConfig, accounts: A) -> bool {
        let same = config.listen == self.config.listen || Some(config.listen) == self.bound;
        let listen = self.config.listen;
        self.config = EndpointConfig { listen, ..config };
        self.accounts = accounts;
        same
    }

    // ---- getters ----

    /// The control listener.
    pub fn listener(&self) -> SocketId {
        id(KIND_LISTENER, 0, 0)
    }

    /// The address the control listener is bound to (once open).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.bound
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.live
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// The accounts.
    pub fn accounts(&self) -> &A {
        &self.accounts
    }

    /// The accounts, mutably.
    pub fn accounts_mut(&mut self) -> &mut A {
        &mut self.accounts
    }

    /// True when `socket` is one of this endpoint's.
    pub fn owns(&self, socket: SocketId) -> bool {
        socket == self.listener() || self.find(socket).is_some()
    }

    /// The session whose control connection is `socket`.
    pub fn session(&self, socket: SocketId) -> Option<&ServerSession> {
        let (index, kind) = self.find(socket)?;
        (kind == KIND_CONTROL).then(|| &self.conn(index).session)
    }

    /// The file a [`EndpointEvent::SendFile`] sends, by its data
    /// connection.
    pub fn reader(&mut self, socket: SocketId) -> Option<&mut <A::Store as Storage>::Reader> {
        let (index, kind) = self.find(socket)?;
        (kind == KIND_DATA).then_some(())?;
        self.conn_mut(index).reader.as_mut()
    }

    /// The file a [`EndpointEvent::Splice`] writes, by its data connection.
    pub fn writer(&mut self, socket: SocketId) -> Option<&mut <A::Store as Storage>::Writer> {
        let (index, kind) = self.find(socket)?;
        (kind == KIND_DATA).then_some(())?;
        self.conn_mut(index).writer.as_mut()
    }

    // ---- socket ids ----

    fn find(&self, socket: SocketId) -> Option<(usize, u64)> {
        let raw = socket.raw();
        if raw >= 1 << 60 {
            return None;
        }
        let kind = raw >> KIND_SHIFT;
        let index = (raw >> 32 & 0xff_ffff) as usize;
        let conn = self.slots.get(index)?.conn.as_deref()?;
        let matches = match kind {
            KIND_CONTROL => conn.control == socket,
            KIND_PASSIVE => conn.passive.as_ref().is_some_and(|p| p.socket == socket),
            KIND_DATA => conn.data.as_ref().is_some_and(|d| d.socket == socket),
            _ => false,
        };
        matches.then_some((index, kind))
    }

    fn conn(&self, index: usize) -> &Conn<A::Store> {
        self.slots[index].conn.as_deref().expect("a live slot")
    }

    fn conn_mut(&mut self, index: usize) -> &mut Conn<A::Store> {
        self.slots[index].conn.as_deref_mut().expect("a live slot")
    }

    fn next_serial(&mut self) -> u32 {
        self.serial = self.serial.wrapping_add(1);
        self.serial
    }

    fn new_turn(&mut self, now: Instant) {
        self.turn = self.turn.wrapping_add(1);
        self.turn_at = now;
        for index in core::mem::take(&mut self.parked) {
            self.make_ready(index);
        }
    }

    fn make_ready(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        if slot.conn.is_some() && !slot.queued {
            slot.queued = true;
            self.ready.push_back(index);
        }
    }

    // ---- input ----

    /// A connection arrived on `listener` (the control listener or a
    /// session's passive listener).
    pub fn handle_accept(
        &mut self,
        now: Instant,
        listener: SocketId,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Accept {
        self.new_turn(now);
        if listener == self.listener() {
            return self.accept_session(now, peer, local);
        }
        let Some((index, KIND_PASSIVE)) = self.find(listener) else {
            return Accept::Refuse { reply: b"" };
        };
        let conn = self.conn_mut(index);
        if !conn.session.accept_data_connection(now, peer) {
            let event = EndpointEvent::ForeignDataConnection {
                peer: canonical(conn.peer),
                from: canonical(peer),
            };
            self.events.push_back(event);
            return Accept::Refuse { reply: b"" };
        }
        let socket = id(KIND_DATA, index, self.next_serial());
        let conn = self.conn_mut(index);
        conn.data = Some(Data {
            socket,
            connected: true,
            blocked: false,
            eof: false,
        });
        if let Some(p) = conn.passive.take() {
            self.events
                .push_back(EndpointEvent::Socket(SocketRequest::Close {
                    socket: p.socket,
                }));
        }
        self.service(index, now);
        Accept::Stream(socket)
    }

    fn accept_session(&mut self, now: Instant, peer: SocketAddr, local: SocketAddr) -> Accept {
        if self.closing {
            return Accept::Refuse { reply: CLOSING };
        }
        let ip = peer.ip().to_canonical();
        let from_ip = self.per_ip.get(&ip).copied().unwrap_or(0);
        if self.live >= self.config.max_sessions.max(1)
            || from_ip >= self.config.max_sessions_per_ip.max(1)
        {
            self.events.push_back(EndpointEvent::Refused {
                peer: canonical(peer),
            });
            return Accept::Refuse {
                reply: TOO_MANY_SESSIONS.as_bytes(),
            };
        }
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot {
                generation: 0,
                conn: None,
                queued: false,
            });
            self.slots.len() - 1
        });
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1);
        let control = id(KIND_CONTROL, index, slot.generation);
        slot.conn = Some(Box::new(Conn {
            session: ServerSession::new(now, self.config.session, peer, local),
            control,
            peer,
            local,
            input: Vec::new(),
            read_closed: false,
            verifying: None,
            unsent: Vec::new(),
            blocked: false,
            store: None,
            passive: None,
            data: None,
            early: Vec::new(),
            reader: None,
            writer: None,
            write_mode: None,
            transfer: None,
            budget: (0, 0),
        }));
        self.live += 1;
        *self.per_ip.entry(ip).or_insert(0) += 1;
        self.events.push_back(EndpointEvent::Opened {
            socket: control,
            peer: canonical(peer),
        });
        self.service(index, now);
        Accept::Stream(control)
    }

    /// A socket asked for is open, or could not be opened.
    pub fn handle_opened(
        &mut self,
        now: Instant,
        socket: SocketId,
        result: Result<SocketAddr, OpenError>,
    ) {
        self.new_turn(now);
        if socket == self.listener() {
            match result {
                Ok(addr) => self.bound = Some(addr),
                Err(error) => self.events.push_back(EndpointEvent::ListenFailed {
                    local: self.config.listen,
                    error,
                }),
            }
            return;
        }
        let Some((index, KIND_PASSIVE)) = self.find(socket) else {
            if result.is_ok() {
                self.events
                    .push_back(EndpointEvent::Socket(SocketRequest::Close { socket }));
            }
            return;
        };
        match result {
            Ok(addr) => {
                let _ = self
                    .conn_mut(index)
                    .session
                    .passive_listening(now, addr.port());
            }
            Err(OpenError::AddrInUse) if self.retry_passive(index) => return,
            Err(error) => {
                let conn = self.conn_mut(index);
                conn.passive = None;
                let _ = conn.session.passive_failed(now);
                let peer = canonical(conn.peer);
                self.events
                    .push_back(EndpointEvent::PassiveFailed { peer, error });
            }
        }
        self.service(index, now);
    }

    /// A password check asked for by [`EndpointEvent::VerifyLogin`] ended.
    pub fn login_verified(&mut self, now: Instant, socket: SocketId, ok: bool) {
        self.new_turn(now);
        let Some((index, KIND_CONTROL)) = self.find(socket) else {
            return;
        };
        let conn = self.slots[index].conn.as_deref_mut().expect("a live slot");
        let Some(user) = conn.verifying.take() else {
            return;
        };
        let verdict = ok.then(|| self.accounts.writable(&user));
        let _ = conn.session.login_verified(now, verdict);
        if !ok {
            let peer = canonical(conn.peer);
            self.events.push_back(EndpointEvent::LoginRefused { peer });
        }
        self.service(index, now);
    }

    /// Something happened on a stream of this endpoint's.
    pub fn handle_stream(&mut self, now: Instant, socket: SocketId, event: StreamEvent<'_>) {
        self.new_turn(now);
        let Some((index, kind)) = self.find(socket) else {
            return;
        };
        match kind {
            KIND_CONTROL => self.control_event(index, now, event),
            KIND_DATA => self.data_event(index, now, event),
            _ => {}
        }
    }

    fn control_event(&mut self, index: usize, now: Instant, event: StreamEvent<'_>) {
        let conn = self.conn_mut(index);
        match event {
            StreamEvent::Data(bytes) => {
                if conn.input.len() + bytes.len() > MAX_CONTROL_INPUT {
                    return self.close_session(index, now);
                }
                conn.input.extend_from_slice(bytes);
            }
            StreamEvent::Eof => conn.read_closed = true,
            StreamEvent::Reset => return self.close_session(index, now),
            StreamEvent::Writable => conn.blocked = false,
            StreamEvent::Unsent(rest) => {
                conn.unsent.splice(0..0, rest.iter().copied());
                conn.blocked = true;
            }
            StreamEvent::Connected => {}
        }
        self.service(index, now);
    }

    fn data_event(&mut self, index: usize, now: Instant, event: StreamEvent<'_>) {
        let conn = self.conn_mut(index);
        let Some(data) = conn.data.as_mut() else {
            return;
        };
        match event {
            StreamEvent::Connected => {
                data.connected = true;
                let _ = conn.session.data_connected(now);
            }
            StreamEvent::Reset => {
                let connected = data.connected;
                conn.data = None;
                if conn.transfer.is_some() {
                    return self.end_transfer(index, now, Err(FastPathError::Lost));
                }
                if !connected {
                    let _ = conn.session.data_connect_failed(now);
                }
            }
            StreamEvent::Writable => data.blocked = false,
            StreamEvent::Unsent(rest) => {
                data.blocked = true;
                if let Some(Running {
                    mover: Mover::Send { unsent, .. },
                    bytes,
                    ..
                }) = conn.transfer.as_mut()
                {
                    unsent.splice(0..0, rest.iter().copied());
                    *bytes -= rest.len() as u64;
                }
            }
            StreamEvent::Data(bytes) => match conn.transfer.as_ref().map(|t| &t.mover) {
                Some(Mover::Receive(_)) => {
                    if let Err(e) = self.absorb(index, bytes) {
                        return self.end_transfer(index, now, Err(FastPathError::Storage(e)));
                    }
                    let conn = self.conn_mut(index);
                    if let Some(t) = conn.transfer.as_ref() {
                        conn.session.transfer_progress(now, t.bytes);
                    }
                }
                Some(_) => {}
                None => {
                    if conn.early.len() + bytes.len() > MAX_EARLY_DATA {
                        let socket = data.socket;
                        conn.data = None;
                        self.events
                            .push_back(EndpointEvent::Socket(SocketRequest::Close { socket }));
                    } else {
                        conn.early.extend_from_slice(bytes);
                    }
                }
            },
            StreamEvent::Eof => {
                data.eof = true;
                if let Some(Mover::Receive(_)) = conn.transfer.as_ref().map(|t| &t.mover) {
                    return self.end_transfer(index, now, Ok(()));
                }
            }
        }
        self.service(index, now);
    }

    /// Writes upload bytes through the pump.
    fn absorb(&mut self, index: usize, bytes: &[u8]) -> Result<(), StoreError> {
        self.scratch.clear();
        self.scratch.extend_from_slice(bytes);
        let conn = self.slots[index].conn.as_deref_mut().expect("a live slot");
        let (Some(store), Some(writer), Some(t)) = (
            conn.store.as_mut(),
            conn.writer.as_mut(),
            conn.transfer.as_mut(),
        ) else {
            return Err(StoreError::Io);
        };
        let Mover::Receive(pump) = &mut t.mover else {
            return Ok(());
        };
        t.bytes += bytes.len() as u64;
        pump.absorb(store, writer, &mut self.scratch)
    }

    /// The fast path of `socket` moved `bytes` in all so far.
    pub fn fast_path_progress(&mut self, now: Instant, socket: SocketId, bytes: u64) {
        let Some((index, KIND_DATA)) = self.find(socket) else {
            return;
        };
        let conn = self.conn_mut(index);
        if let Some(t) = conn.transfer.as_mut() {
            t.bytes = bytes;
            conn.session.transfer_progress(now, bytes);
        }
    }

    /// The fast path of `socket` ended: the whole file was sent, or the
    /// stream ended and every byte is in the file; or it failed.
    pub fn fast_path_done(
        &mut self,
        now: Instant,
        socket: SocketId,
        result: Result<(), FastPathError>,
    ) {
        self.new_turn(now);
        let Some((index, KIND_DATA)) = self.find(socket) else {
            return;
        };
        if matches!(
            self.conn(index).transfer.as_ref().map(|t| &t.mover),
            Some(Mover::SendFile | Mover::Splice)
        ) {
            self.end_transfer(index, now, result);
        }
    }

    /// Time has passed: login delays, idle sessions, stalled transfers, and
    /// the next turn of downloads that used up their budget.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.new_turn(now);
        while let Some(index) = self.deadlines.pop_due(now) {
            if self.slots[index].conn.is_none() {
                continue;
            }
            self.conn_mut(index).session.handle_timeout(now);
            self.service(index, now);
        }
    }

    /// The server is stopping: every session is told (`421`) and closed
    /// once its last reply is out; running transfers are abandoned and
    /// uploads discarded; nothing new is accepted.
    pub fn close(&mut self, now: Instant) {
        self.new_turn(now);
        if !self.closing {
            self.closing = true;
            self.events
                .push_back(EndpointEvent::Socket(SocketRequest::Close {
                    socket: self.listener(),
                }));
        }
        for index in 0..self.slots.len() {
            if self.slots[index].conn.is_some() {
                self.conn_mut(index).session.shutdown(now);
                self.service(index, now);
            }
        }
    }

    // ---- the session's events ----

    /// Feeds buffered input and answers events until the session settles.
    fn service(&mut self, index: usize, now: Instant) {
        for _ in 0..64 {
            let Some(conn) = self.slots[index].conn.as_deref_mut() else {
                return;
            };
            let used = conn.session.handle_bytes(now, &conn.input);
            conn.input.drain(..used);
            let progressed = self.session_events(index, now);
            if self.slots[index].conn.is_none() {
                return;
            }
            if !progressed && used == 0 {
                break;
            }
        }
        let conn = self.conn(index);
        let close = (conn.read_closed && conn.input.is_empty() && conn.verifying.is_none())
            || (conn.session.is_closed() && (conn.blocked || conn.read_closed));
        if close {
            return self.close_session(index, now);
        }
        self.deadlines.set(index, conn.session.poll_timeout());
        self.make_ready(index);
    }

    fn session_events(&mut self, index: usize, now: Instant) -> bool {
        let mut progressed = false;
        loop {
            let conn = self.slots[index].conn.as_deref_mut().expect("a live slot");
            let Some(event) = conn.session.poll_event() else {
                return progressed;
            };
            progressed = true;
            match event {
                Event::VerifyLogin { user, password } => {
                    let mut u = heapless::String::new();
                    let _ = u.push_str(user);
                    let mut p = heapless::String::new();
                    let _ = p.push_str(password);
                    conn.verifying = Some(u.clone());
                    let socket = conn.control;
                    self.events.push_back(EndpointEvent::VerifyLogin {
                        socket,
                        user: u,
                        password: Secret(p),
                    });
                }
                Event::LoggedIn {
                    user, anonymous, ..
                } => {
                    conn.store = self.accounts.open_store(user, anonymous);
                    let mut u = heapless::String::new();
                    let _ = u.push_str(user);
                    self.events.push_back(EndpointEvent::Login {
                        peer: canonical(conn.peer),
                        user: u,
                        anonymous,
                    });
                }
                Event::Storage(op) => {
                    if let StorageOp::OpenWrite(_, mode) = op {
                        conn.write_mode = Some(mode);
                    }
                    let answer = match conn.store.as_mut() {
                        Some(store) => {
                            let (answer, opened) = pump::perform(store, &op);
                            match opened {
                                Opened::Reader(r) => conn.reader = Some(r),
                                Opened::Writer(w) => {
                                    if let Some(old) = conn.writer.replace(w) {
                                        store.discard(old);
                                    }
                                }
                                Opened::Nothing => {}
                            }
                            answer
                        }
                        None => Err(StoreError::PermissionDenied),
                    };
                    let _ = conn.session.storage_done(now, answer);
                }
                Event::Listen => {
                    let ip = conn.local.ip();
                    let socket = id(KIND_PASSIVE, index, self.next_serial());
                    let first = match self.config.passive_ports {
                        Some((lo, hi)) => self.rng.below(u64::from(hi - lo) + 1) as u32,
                        None => 0,
                    };
                    let conn = self.conn_mut(index);
                    if let Some(old) = conn.passive.replace(Passive {
                        socket,
                        ip,
                        tried: 0,
                        first,
                    }) {
                        self.events
                            .push_back(EndpointEvent::Socket(SocketRequest::Close {
                                socket: old.socket,
                            }));
                    }
                    self.request_passive(index);
                }
                Event::Connect(remote) => {
                    let socket = id(KIND_DATA, index, self.next_serial());
                    let conn = self.conn_mut(index);
                    conn.data = Some(Data {
                        socket,
                        connected: false,
                        blocked: false,
                        eof: false,
                    });
                    let local = conn.local.ip();
                    self.events
                        .push_back(EndpointEvent::Socket(SocketRequest::Connect {
                            socket,
                            local,
                            remote,
                        }));
                }
                Event::Transfer(t) => {
                    let (kind, offset, ascii) = (t.kind, t.offset, t.ascii);
                    let mut path = PathBuf::new();
                    let _ = path.push_str(t.path);
                    let now_unix = self
                        .config
                        .epoch_unix
                        .map(|e| e + now.since_epoch().as_secs());
                    let fast = self.config.fast_paths;
                    // Bytes the driver already delivered (the client sent
                    // before the `150`) are in `early`, where only the pump
                    // takes them; a splice would start after them.
                    let splice_ok = !matches!(conn.write_mode, None | Some(WriteMode::Append))
                        && conn.early.is_empty()
                        && !conn.data.as_ref().is_some_and(|d| d.eof);
                    let mover = match kind {
                        TransferKind::Retr if fast.sendfile && !ascii => Mover::SendFile,
                        TransferKind::Stor if fast.splice && !ascii && splice_ok => Mover::Splice,
                        TransferKind::Stor => Mover::Receive(ReceivePump::new(ascii)),
                        _ => Mover::Send {
                            out: Box::new(
                                Outgoing::for_transfer(&t, now_unix).unwrap_or(Outgoing::Nothing),
                            ),
                            unsent: Vec::new(),
                        },
                    };
                    let socket = conn.data.as_ref().map(|d| d.socket);
                    match (&mover, socket) {
                        (Mover::SendFile, Some(socket)) => self
                            .events
                            .push_back(EndpointEvent::SendFile { socket, offset }),
                        (Mover::Splice, Some(socket)) => {
                            self.events.push_back(EndpointEvent::Splice { socket })
                        }
                        _ => {}
                    }
                    let conn = self.conn_mut(index);
                    conn.transfer = Some(Running {
                        mover,
                        path,
                        kind,
                        started: now,
                        bytes: 0,
                    });
                    if let Some(Mover::Receive(_)) = conn.transfer.as_ref().map(|t| &t.mover) {
                        let early = core::mem::take(&mut conn.early);
                        let eof = conn.data.as_ref().is_some_and(|d| d.eof);
                        let fed = if early.is_empty() {
                            Ok(())
                        } else {
                            self.absorb(index, &early)
                        };
                        match fed {
                            Err(e) => self.end_transfer(index, now, Err(FastPathError::Storage(e))),
                            Ok(()) if eof => self.end_transfer(index, now, Ok(())),
                            Ok(()) => {}
                        }
                    }
                }
                Event::Abort => {
                    let conn = self.conn_mut(index);
                    if let Some(t) = conn.transfer.take() {
                        self.record(index, now, &t, Outcome::Aborted);
                    }
                    self.close_data(index);
                    let _ = self
                        .conn_mut(index)
                        .session
                        .transfer_done(now, TransferOutcome::Aborted);
                }
                Event::CloseData => self.close_data(index),
                Event::StatListing => {
                    let now_unix = self
                        .config
                        .epoch_unix
                        .map(|e| e + now.since_epoch().as_secs());
                    let _ = match conn.store.as_mut() {
                        Some(store) => pump::stat_listing(&mut conn.session, store, now, now_unix),
                        None => conn
                            .session
                            .stat_listing(now, |_, _| Err(StoreError::PermissionDenied)),
                    };
                }
            }
            if self.slots[index].conn.is_none() {
                return true;
            }
        }
    }

    fn request_passive(&mut self, index: usize) {
        let range = self.config.passive_ports;
        let conn = self.conn_mut(index);
        let Some(p) = conn.passive.as_ref() else {
            return;
        };
        let port = match range {
            Some((lo, hi)) => {
                let span = u32::from(hi - lo) + 1;
                lo + ((p.first + p.tried) % span) as u16
            }
            None => 0,
        };
        let request = SocketRequest::Listen {
            socket: p.socket,
            local: SocketAddr::new(p.ip, port),
            backlog: 1,
        };
        self.events.push_back(EndpointEvent::Socket(request));
    }

    /// The passive port was taken: tries the next one of the range, if any
    /// is left. Returns false when there is none.
    fn retry_passive(&mut self, index: usize) -> bool {
        let Some((lo, hi)) = self.config.passive_ports else {
            return false;
        };
        let span = u32::from(hi - lo) + 1;
        let Some(p) = self.conn_mut(index).passive.as_mut() else {
            return false;
        };
        p.tried += 1;
        if p.tried >= span {
            return false;
        }
        self.request_passive(index);
        true
    }

    /// Ends the running transfer: commits an upload that ended cleanly,
    /// records it, closes the data connection and tells the session.
    fn end_transfer(&mut self, index: usize, now: Instant, result: Result<(), FastPathError>) {
        let conn = self.slots[index].conn.as_deref_mut().expect("a live slot");
        let Some(mut t) = conn.transfer.take() else {
            return;
        };
        let outcome = match result {
            Err(FastPathError::Lost) => TransferOutcome::ConnectionLost,
            Err(FastPathError::Storage(e)) => TransferOutcome::Storage(e),
            Ok(()) => {
                let committed = match (&mut t.mover, conn.store.as_mut(), conn.writer.take()) {
                    (Mover::Receive(pump), Some(store), Some(writer)) => {
                        pump.finish(store, writer).map(|_| ())
                    }
                    (_, Some(store), Some(writer)) => store.commit(writer),
                    _ => Ok(()),
                };
                match committed {
                    Ok(()) => TransferOutcome::Complete { bytes: t.bytes },
                    Err(e) => TransferOutcome::Storage(e),
                }
            }
        };
        let label = match outcome {
            TransferOutcome::Complete { .. } => Outcome::Complete,
            TransferOutcome::ConnectionLost => Outcome::ConnectionLost,
            TransferOutcome::Storage(e) => Outcome::Storage(e),
            _ => Outcome::Aborted,
        };
        self.record(index, now, &t, label);
        self.close_data(index);
        let _ = self.conn_mut(index).session.transfer_done(now, outcome);
        self.service(index, now);
    }

    fn record(&mut self, index: usize, now: Instant, t: &Running, outcome: Outcome) {
        let conn = self.conn(index);
        let user = conn.session.user().map(|u| {
            let mut s = heapless::String::new();
            let _ = s.push_str(u);
            s
        });
        let record = TransferRecord {
            peer: canonical(conn.peer),
            user,
            path: t.path.clone(),
            direction: direction(t.kind),
            bytes: t.bytes,
            outcome,
            started: t.started,
            finished: now,
        };
        self.events
            .push_back(EndpointEvent::Transfer(Box::new(record)));
    }

    /// Closes the passive listener and data connection, forgets the files
    /// opened for a transfer (discarding an unfinished upload).
    fn close_data(&mut self, index: usize) {
        let conn = self.slots[index].conn.as_deref_mut().expect("a live slot");
        conn.write_mode = None;
        conn.early.clear();
        conn.reader = None;
        conn.transfer = None;
        if let (Some(w), Some(store)) = (conn.writer.take(), conn.store.as_mut()) {
            store.discard(w);
        }
        let sockets = [
            conn.passive.take().map(|p| p.socket),
            conn.data.take().map(|d| d.socket),
        ];
        for socket in sockets.into_iter().flatten() {
            self.events
                .push_back(EndpointEvent::Socket(SocketRequest::Close { socket }));
        }
    }

    fn close_session(&mut self, index: usize, now: Instant) {
        if let Some(t) = self
            .slots
            .get_mut(index)
            .and_then(|s| s.conn.as_deref_mut())
            .and_then(|c| c.transfer.take())
        {
            self.record(index, now, &t, Outcome::ConnectionClosed);
        }
        if self.slots[index].conn.is_none() {
            return;
        }
        self.close_data(index);
        let conn = self.slots[index].conn.take().expect("a live slot");
        self.events
            .push_back(EndpointEvent::Socket(SocketRequest::Close {
                socket: conn.control,
            }));
        self.events.push_back(EndpointEvent::Closed {
            peer: canonical(conn.peer),
        });
        self.deadlines.set(index, None);
        self.live -= 1;
        let ip = conn.peer.ip().to_canonical();
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
        self.free.push(index);
    }

    // ---- output ----

    /// Writes the next control reply or data bytes into `buf` (at least
    /// 1 KiB; a larger buffer moves downloads in larger pieces).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Output> {
        while let Some(&index) = self.ready.front() {
            if let Some(out) = self.poll_conn(index, now, buf) {
                return Some(out);
            }
            self.ready.pop_front();
            self.slots[index].queued = false;
            // A session that said its last word closes once it is out.
            if let Some(conn) = self.slots[index].conn.as_deref()
                && conn.session.is_closed()
                && conn.unsent.is_empty()
                && conn.session.output().is_empty()
            {
                self.close_session(index, now);
            }
        }
        None
    }

    fn poll_conn(&mut self, index: usize, now: Instant, buf: &mut [u8]) -> Option<Output> {
        let mut fed = false;
        loop {
            let turn = self.turn;
            let conn = self.slots[index].conn.as_deref_mut()?;
            if !conn.blocked {
                let n = if conn.unsent.is_empty() {
                    conn.session.poll_transmit(now, buf).unwrap_or(0)
                } else {
                    let n = conn.unsent.len().min(buf.len());
                    buf[..n].copy_from_slice(&conn.unsent[..n]);
                    conn.unsent.drain(..n);
                    n
                };
                if n > 0 {
                    return Some(Output::new(conn.control, Transmit::to(conn.peer, n)));
                }
                // The replies are out: pipelined commands the session held
                // back for want of room in its output go on (once a call,
                // so that a session waiting for something else is left).
                if !fed && !conn.input.is_empty() {
                    fed = true;
                    self.service(index, now);
                    continue;
                }
            }
            let data = conn.data.as_ref()?;
            if !data.connected || data.blocked {
                return None;
            }
            let socket = data.socket;
            let Some(Running {
                mover: Mover::Send { out, unsent },
                bytes,
                ..
            }) = conn.transfer.as_mut()
            else {
                return None;
            };
            if conn.budget.1 != turn {
                conn.budget = (DATA_BUDGET as u64, turn);
            }
            if conn.budget.0 == 0 {
                self.parked.push(index);
                return None;
            }
            let n = if unsent.is_empty() {
                match out.fill(conn.store.as_mut()?, conn.reader.as_mut(), buf) {
                    Ok(n) => n,
                    Err(e) => {
                        self.end_transfer(index, now, Err(FastPathError::Storage(e)));
                        continue;
                    }
                }
            } else {
                let n = unsent.len().min(buf.len());
                buf[..n].copy_from_slice(&unsent[..n]);
                unsent.drain(..n);
                n
            };
            if n == 0 {
                self.end_transfer(index, now, Ok(()));
                continue;
            }
            *bytes += n as u64;
            let total = *bytes;
            conn.budget.0 = conn.budget.0.saturating_sub(n as u64);
            conn.session.transfer_progress(now, total);
            return Some(Output::new(socket, Transmit::to(conn.peer, n)));
        }
    }

    /// When [`Endpoint::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let next = self.deadlines.next();
        if self.parked.is_empty() {
            next
        } else {
            Some(next.map_or(self.turn_at, |n| n.min(self.turn_at)))
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<EndpointEvent> {
        self.events.pop_front()
    }
}

impl<A: Accounts> Machine for Endpoint<A> {
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

impl<A: Accounts> crate::machine::Endpoint for Endpoint<A> {
    fn handle_datagram(&mut self, _: Instant, _: SocketId, _: SocketAddr, _: &[u8]) {}
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
        now: Instant,
        listener: SocketId,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Accept {
        Endpoint::handle_accept(self, now, listener, peer, local)
    }
    fn handle_stream(&mut self, now: Instant, socket: SocketId, event: StreamEvent<'_>) {
        Endpoint::handle_stream(self, now, socket, event)
    }
}

#[cfg(test)]
mod tests;
