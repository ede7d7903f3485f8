//! The netboot server as one sans-IO machine: BOOTP/DHCP, TFTP and FTP on
//! one set of sockets, one provisioning plan, one store of leases and
//! progress, and one persistence policy.
//!
//! [`NetbootServer`] composes the machines of this crate the way
//! quinn-proto's `Endpoint` composes connections:
//!
//! * the BOOTP/DHCP [`Server`](crate::bootp::server::Server), whose boot
//!   policy is the plan ([`PlanPolicy`]): a client gets its current stage,
//!   and silence once it has every stage;
//! * the TFTP [`Endpoint`](crate::tftp::Endpoint): each download it
//!   completes is handed to the plan, which attributes it to a client by
//!   its source address and moves that client on;
//! * the FTP server [`Endpoint`](crate::ftp::server::Endpoint), serving the
//!   manifest's files;
//! * the [`persist`] policy: leases and plan progress are saved by version
//!   as soon as they change, one save at a time, and an address is
//!   acknowledged to a client only once the state it reports is saved;
//! * one [`Event`] stream with a log line per event, a silenced client
//!   reported once.
//!
//! Sockets of the three parts are told apart by the top bits of their
//! [`SocketId`]s; a driver only stores and compares them. Everything the
//! server needs from outside arrives through the [`Endpoint`] trait's
//! inputs and a few answers: [`NetbootServer::saved`],
//! [`NetbootServer::login_verified`] and the FTP fast-path reports.
//!
//! A runtime (the mio or async-std adapter, the simulator) binds what it is
//! asked to bind, moves bytes, reads its clock, answers saves and password
//! checks, and nothing else.
//!
//! [`Endpoint`]: crate::machine::Endpoint

mod event;
pub mod host;
pub mod persist;
mod reconfigure;
#[cfg(test)]
mod tests;

pub use event::{Event, Level, Protocol};
pub use host::{FastPath, Host, Sent, Worker, drive};
pub use persist::{Persist, SaveError, SaveRequest};
pub use reconfigure::Reconfigured;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddr};

use crate::bootp::HwAddr;
use crate::bootp::hosts;
use crate::bootp::leases::{Lease, LeaseSlot, LeaseState};
use crate::bootp::server::{
    ConfigError, Event as BootpEvent, ReplyPort, Server as BootpServer, ServerConfig,
};
use crate::ftp::server::{
    Accounts, Endpoint as FtpEndpoint, EndpointConfig as FtpConfig, EndpointEvent as FtpEvent,
    FastPathError,
};
use crate::machine::{self, Machine};
use crate::path::PathBuf;
use crate::plan::{self, Heap, PlanEvent, PlanPolicy, ProfileTable, Profiles, Reset};
use crate::socket::{
    Accept, Interface, OpenError, Output, SocketId, SocketRequest, StreamEvent, UdpRole,
};
use crate::storage::Storage;
use crate::tftp::{self, Direction, EndpointConfig as TftpConfig, EndpointEvent as TftpEvent};
use crate::time::Instant;
use event::QuietClients;
use persist::Persistence;

/// Clients whose progress the plan tracks by default; past this the client
/// seen least recently is forgotten (and starts again from its first stage
/// if it comes back).
pub const PLAN_CLIENTS: usize = 16_384;

/// The plan the server runs.
pub type NetbootPlan = PlanPolicy<ProfileTable, Heap>;

/// The BOOTP/DHCP server the composition runs.
pub type NetbootBootp = BootpServer<Vec<hosts::Host>, Vec<LeaseSlot>, NetbootPlan>;

const TAG_SHIFT: u32 = 60;
const TAG_BOOTP: u64 = 1;
const TAG_TFTP: u64 = 2;
const TAG_FTP: u64 = 3;

/// The BOOTP/DHCP part of a [`NetbootConfig`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootpSetup {
    /// Address, subnet, pool, options.
    pub config: ServerConfig,
    /// The host table (fixed addresses, per-host files).
    pub hosts: Vec<hosts::Host>,
    /// Where to listen (the standard port is 67).
    pub listen: SocketAddr,
    /// The interface to bind to and broadcast through.
    pub interface: Option<Interface>,
    /// Where a proxyDHCP server takes PXE boot-server requests (`None`:
    /// `listen`'s address, port 4011).
    pub pxe_listen: Option<SocketAddr>,
}

impl BootpSetup {
    /// `config` on `0.0.0.0:67`, no hosts, no interface.
    pub fn new(config: ServerConfig) -> Self {
        BootpSetup {
            config,
            hosts: Vec::new(),
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, crate::wire::bootp::SERVER_PORT)),
            interface: None,
            pxe_listen: None,
        }
    }
}

/// Everything a [`NetbootServer`] runs with.
#[derive(Clone, Debug)]
pub struct NetbootConfig {
    /// BOOTP/DHCP, if served.
    pub bootp: Option<BootpSetup>,
    /// TFTP, if served.
    pub tftp: Option<TftpConfig>,
    /// FTP, if served.
    pub ftp: Option<FtpConfig>,
    /// Each client's stages.
    pub profiles: ProfileTable,
    /// When a client that finished is served again.
    pub reset: Reset,
    /// Clients the plan tracks at once.
    pub plan_clients: usize,
    /// What the driver keeps across restarts.
    pub persist: Persist,
}

impl NetbootConfig {
    /// Nothing served yet; an empty plan; nothing kept.
    pub fn new() -> Self {
        NetbootConfig {
            bootp: None,
            tftp: None,
            ftp: None,
            profiles: ProfileTable::new(),
            reset: Reset::Never,
            plan_clients: PLAN_CLIENTS,
            persist: Persist::default(),
        }
    }
}

impl Default for NetbootConfig {
    fn default() -> Self {
        NetbootConfig::new()
    }
}

/// What a driver read back from where it keeps state, for
/// [`NetbootServer::new`].
#[derive(Clone, Debug, Default)]
pub struct Restored {
    /// Saved leases.
    pub leases: Vec<Lease>,
    /// Saved plan progress: each client's next stage.
    pub progress: Vec<(plan::HwAddr, usize)>,
}

struct Bootp {
    server: NetbootBootp,
    socket: SocketId,
    listen: SocketAddr,
    bound: Option<SocketAddr>,
    interface: Option<Interface>,
    /// The PXE boot-server socket (port 4011), in proxyDHCP mode.
    pxe: Option<(SocketId, SocketAddr)>,
    /// One socket per local subnet on an interface of its own, and the
    /// subnet's number.
    locals: Vec<(SocketId, usize)>,
}

/// The first raw socket number of the local subnets' sockets (0 is the
/// main one, 1 the PXE boot server's).
const LOCAL_SOCKETS: u64 = 16;

/// The whole netboot server (see the [module docs](self)).
///
/// ```
/// use core::net::{Ipv4Addr, SocketAddr};
/// use netboot_core::bootp::server::ServerConfig;
/// use netboot_core::ftp::server::Accounts;
/// use netboot_core::server::{BootpSetup, Event, NetbootConfig, NetbootServer, Restored};
/// use netboot_core::socket::SocketRequest;
/// use netboot_core::storage::MemStore;
/// use netboot_core::tftp::EndpointConfig;
/// use netboot_core::time::Instant;
///
/// struct NoFtp;
/// impl Accounts for NoFtp {
///     type Store = MemStore;
///     fn open_store(&mut self, _: &str, _: bool) -> Option<MemStore> { None }
///     fn writable(&self, _: &str) -> bool { false }
/// }
///
/// let mut bootp = ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
/// bootp.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 199)));
/// let mut config = NetbootConfig::new();
/// config.bootp = Some(BootpSetup::new(bootp));
/// config.tftp = Some(EndpointConfig::new(vec!["0.0.0.0:69".parse().unwrap()]));
/// config.profiles.set_default(&["boot.ipxe", "manifest"]).unwrap();
/// let mut server = NetbootServer::new(config, MemStore::new(), NoFtp, Instant::ZERO, Restored::default()).unwrap();
///
/// // It asks for its sockets first: BOOTP's, then TFTP's.
/// let mut asked = Vec::new();
/// while let Some(Event::Socket(SocketRequest::Udp { local, .. })) = server.poll_event() {
///     asked.push(local.port());
/// }
/// assert_eq!(asked, [67, 69]);
/// ```
pub struct NetbootServer<S: Storage, A: Accounts<Store = S>> {
    bootp: Option<Bootp>,
    tftp: Option<tftp::Endpoint<S>>,
    ftp: Option<FtpEndpoint<A>>,
    persist: Persistence,
    quiet: QuietClients,
    events: VecDeque<Event>,
    now: Instant,
}

impl<S: Storage, A: Accounts<Store = S>> core::fmt::Debug for NetbootServer<S, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("NetbootServer")
            .field("bootp", &self.bootp.is_some())
            .field("tftp", &self.tftp)
            .field("ftp", &self.ftp)
            .finish_non_exhaustive()
    }
}

fn tag(component: u64, socket: SocketId) -> SocketId {
    SocketId::from_raw(component << TAG_SHIFT | socket.raw())
}

fn untag(socket: SocketId) -> (u64, SocketId) {
    let raw = socket.raw();
    (
        raw >> TAG_SHIFT,
        SocketId::from_raw(raw & ((1 << TAG_SHIFT) - 1)),
    )
}

fn tag_request(component: u64, request: SocketRequest) -> SocketRequest {
    match request {
        SocketRequest::Udp {
            socket,
            local,
            role,
        } => SocketRequest::Udp {
            socket: tag(component, socket),
            local,
            role,
        },
        SocketRequest::Listen {
            socket,
            local,
            backlog,
        } => SocketRequest::Listen {
            socket: tag(component, socket),
            local,
            backlog,
        },
        SocketRequest::Connect {
            socket,
            local,
            remote,
        } => SocketRequest::Connect {
            socket: tag(component, socket),
            local,
            remote,
        },
        SocketRequest::Close { socket } => SocketRequest::Close {
            socket: tag(component, socket),
        },
    }
}

fn tag_output(component: u64, mut out: Output) -> Output {
    out.socket = tag(component, out.socket);
    out
}

/// The number of addresses in every subnet's pool.
fn pool_size(config: &ServerConfig) -> usize {
    config
        .pools()
        .flatten()
        .map(|(first, last)| {
            (u32::from(last).saturating_sub(u32::from(first)) as usize).saturating_add(1)
        })
        .sum()
}

impl<S: Storage, A: Accounts<Store = S>> NetbootServer<S, A> {
    /// The server `config` describes, serving `store` over TFTP and each
    /// FTP user's store from `accounts`, with the state a driver restored.
    /// Leases that no longer fit the pool are dropped (and reported); the
    /// plan learns the restored leases and fixed host addresses, so that a
    /// download by a client that got its address before a restart is
    /// attributed before it asks again. The first events ask for the
    /// listening sockets.
    pub fn new(
        config: NetbootConfig,
        store: S,
        accounts: A,
        now: Instant,
        restored: Restored,
    ) -> Result<Self, ConfigError> {
        let mut events = VecDeque::new();
        let bootp = match config.bootp {
            Some(setup) => {
                if setup.config.local_subnets().next().is_some() && setup.interface.is_none() {
                    return Err(ConfigError::MainInterfaceNeeded);
                }
                if let Some(n) = setup
                    .config
                    .local_subnets()
                    .find(|(_, name)| setup.interface.as_ref() == Some(*name))
                    .map(|(n, _)| n)
                {
                    return Err(ConfigError::InterfaceTwice(
                        setup.config.relayed[n - 1].network,
                    ));
                }
                let plan =
                    NetbootPlan::with_capacity(config.profiles, config.reset, config.plan_clients);
                let slots = vec![LeaseSlot::EMPTY; pool_size(&setup.config)];
                let mut server = BootpServer::with_policy(setup.config, setup.hosts, slots, plan)?;
                server.hold_until_saved(config.persist.any());
                for lease in &restored.leases {
                    if !server.restore(lease) {
                        events.push_back(Event::LeaseDropped { ip: lease.ip });
                    }
                }
                let plan = server.policy_mut();
                for (hw, stage) in &restored.progress {
                    plan.plan_mut().restore(now, hw, *stage);
                }
                plan.take_dirty();
                let learned: Vec<(Ipv4Addr, HwAddr)> = server
                    .leases()
                    .filter(|l| l.state == LeaseState::Bound)
                    .map(|l| (l.ip, l.hw))
                    .chain(
                        server
                            .hosts()
                            .iter()
                            .filter_map(|h| h.ip.map(|ip| (ip, h.hw))),
                    )
                    .collect();
                for (ip, hw) in learned {
                    server.policy_mut().learn(now, ip, hw);
                }
                let socket = tag(TAG_BOOTP, SocketId::from_raw(0));
                events.push_back(Event::Socket(SocketRequest::Udp {
                    socket,
                    local: setup.listen,
                    role: UdpRole::Bootp {
                        interface: setup.interface.clone(),
                    },
                }));
                let interface = setup.interface.clone();
                // Each local subnet's socket, bound to its interface on the
                // same port: a request is answered from the subnet of the
                // interface it arrived on, through that socket.
                let locals = server
                    .config()
                    .local_subnets()
                    .map(|(n, name)| {
                        let socket = tag(TAG_BOOTP, SocketId::from_raw(LOCAL_SOCKETS + n as u64));
                        events.push_back(Event::Socket(SocketRequest::Udp {
                            socket,
                            local: setup.listen,
                            role: UdpRole::Bootp {
                                interface: Some(name.clone()),
                            },
                        }));
                        (socket, n)
                    })
                    .collect();
                // A proxyDHCP server is asked for the boot file on the PXE
                // boot-server port too.
                let pxe = server.config().proxy.then(|| {
                    let local = setup.pxe_listen.unwrap_or_else(|| {
                        SocketAddr::new(setup.listen.ip(), crate::wire::bootp::PXE_PORT)
                    });
                    let pxe = tag(TAG_BOOTP, SocketId::from_raw(1));
                    events.push_back(Event::Socket(SocketRequest::Udp {
                        socket: pxe,
                        local,
                        role: UdpRole::Bootp {
                            interface: setup.interface,
                        },
                    }));
                    (pxe, local)
                });
                Some(Bootp {
                    server,
                    socket,
                    listen: setup.listen,
                    bound: None,
                    interface,
                    pxe,
                    locals,
                })
            }
            None => None,
        };
        let mut server = NetbootServer {
            bootp,
            tftp: config.tftp.map(|c| tftp::Endpoint::new(c, store)),
            ftp: config.ftp.map(|c| FtpEndpoint::new(c, accounts)),
            persist: Persistence::new(config.persist),
            quiet: QuietClients::default(),
            events,
            now,
        };
        server.pump(now);
        Ok(server)
    }

    // ---- getters ----

    /// The BOOTP/DHCP server, if BOOTP is served.
    pub fn bootp(&self) -> Option<&NetbootBootp> {
        self.bootp.as_ref().map(|b| &b.server)
    }

    /// The TFTP endpoint, if TFTP is served.
    pub fn tftp(&self) -> Option<&tftp::Endpoint<S>> {
        self.tftp.as_ref()
    }

    /// The FTP endpoint, if FTP is served.
    pub fn ftp(&self) -> Option<&FtpEndpoint<A>> {
        self.ftp.as_ref()
    }

    /// The FTP endpoint, mutably (its accounts).
    pub fn ftp_mut(&mut self) -> Option<&mut FtpEndpoint<A>> {
        self.ftp.as_mut()
    }

    /// The plan, if BOOTP is served (it is BOOTP's boot policy).
    pub fn plan(&self) -> Option<&NetbootPlan> {
        self.bootp().map(BootpServer::policy)
    }

    /// The stage client `hw` gets next (its stage count once finished), if
    /// the plan tracks it.
    pub fn stage_of(&self, hw: &HwAddr) -> Option<usize> {
        self.plan()?.plan().stage_of(hw.as_bytes())
    }

    /// Where BOOTP listens, once its socket is open.
    pub fn bootp_addr(&self) -> Option<SocketAddr> {
        self.bootp.as_ref().and_then(|b| b.bound)
    }

    /// Where TFTP listens, once open.
    pub fn tftp_addrs(&self) -> Vec<SocketAddr> {
        self.tftp
            .as_ref()
            .map_or_else(Vec::new, |t| t.local_addrs().collect())
    }

    /// Where FTP listens, once open.
    pub fn ftp_addr(&self) -> Option<SocketAddr> {
        self.ftp.as_ref().and_then(FtpEndpoint::local_addr)
    }

    /// What the driver keeps.
    pub fn persist(&self) -> Persist {
        self.persist.keeps()
    }

    /// True when everything kept is saved: nothing changed since the last
    /// successful save and no save runs (always, when nothing is kept). A
    /// runtime stopping checks it last, to say whether the state on disk
    /// is the final one.
    pub fn is_saved(&self) -> bool {
        !self.persist.unsaved()
    }

    /// Every lease worth keeping, for a save.
    pub fn leases(&self) -> impl Iterator<Item = Lease> + '_ {
        self.bootp().into_iter().flat_map(BootpServer::leases)
    }

    /// Every client past its first stage and its next stage, for a save.
    pub fn progress(&self) -> impl Iterator<Item = (&[u8], usize)> + '_ {
        self.plan()
            .into_iter()
            .flat_map(|p| p.plan().progress())
            .filter(|(_, stage)| *stage > 0)
    }

    /// True once [`NetbootServer::close`] has run its course: no transfer,
    /// session or save left.
    pub fn is_idle(&self) -> bool {
        self.tftp.as_ref().is_none_or(|t| t.active() == 0)
            && self.ftp.as_ref().is_none_or(|f| f.sessions() == 0)
            && !self.persist.busy()
    }

    /// The subnet's own broadcast address, where a driver whose limited
    /// broadcast (255.255.255.255) has no route sends a BOOTP reply
    /// instead.
    pub fn directed_broadcast(&self) -> Option<Ipv4Addr> {
        self.bootp().map(|b| b.config().broadcast())
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
        self.now = now;
        match untag(socket) {
            (TAG_BOOTP, _) => {
                if let Some(b) = self.bootp.as_mut() {
                    if b.socket == socket {
                        b.server.handle_datagram(now, from, bytes);
                    } else if b.pxe.is_some_and(|(pxe, _)| pxe == socket) {
                        b.server.handle_pxe_datagram(now, from, bytes);
                    } else if let Some(&(_, n)) = b.locals.iter().find(|(s, _)| *s == socket) {
                        b.server.handle_datagram_on(now, n, from, bytes);
                    }
                }
            }
            (TAG_TFTP, inner) => {
                if let Some(t) = self.tftp.as_mut() {
                    t.handle_datagram(now, inner, from, bytes);
                }
            }
            _ => {}
        }
        self.pump(now);
    }

    /// A socket asked for is open, or could not be opened.
    pub fn handle_opened(
        &mut self,
        now: Instant,
        socket: SocketId,
        result: Result<SocketAddr, OpenError>,
    ) {
        self.now = now;
        match untag(socket) {
            (TAG_BOOTP, _) => {
                if let Some(b) = self.bootp.as_mut() {
                    let pxe = b.pxe.filter(|(pxe, _)| *pxe == socket);
                    let local = b.locals.iter().any(|(s, _)| *s == socket);
                    match (result, pxe) {
                        (Ok(addr), None) if !local => b.bound = Some(addr),
                        (Ok(_), _) => {}
                        (Err(error), pxe) => self.events.push_back(Event::ListenFailed {
                            protocol: Protocol::Bootp,
                            local: pxe.map_or(b.listen, |(_, local)| local),
                            error,
                        }),
                    }
                }
            }
            (TAG_TFTP, inner) => {
                if let Some(t) = self.tftp.as_mut() {
                    t.handle_opened(now, inner, result);
                }
            }
            (TAG_FTP, inner) => {
                if let Some(f) = self.ftp.as_mut() {
                    f.handle_opened(now, inner, result);
                }
            }
            _ => {}
        }
        self.pump(now);
    }

    /// A connection arrived on a listening socket.
    pub fn handle_accept(
        &mut self,
        now: Instant,
        listener: SocketId,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Accept {
        self.now = now;
        let accept = match (untag(listener), self.ftp.as_mut()) {
            ((TAG_FTP, inner), Some(f)) => match f.handle_accept(now, inner, peer, local) {
                Accept::Stream(s) => Accept::Stream(tag(TAG_FTP, s)),
                refuse => refuse,
            },
            _ => Accept::Refuse { reply: b"" },
        };
        self.pump(now);
        accept
    }

    /// Something happened on a stream.
    pub fn handle_stream(&mut self, now: Instant, socket: SocketId, event: StreamEvent<'_>) {
        self.now = now;
        if let ((TAG_FTP, inner), Some(f)) = (untag(socket), self.ftp.as_mut()) {
            f.handle_stream(now, inner, event);
        }
        self.pump(now);
    }

    /// The password check asked for by [`Event::VerifyLogin`] ended.
    pub fn login_verified(&mut self, now: Instant, socket: SocketId, ok: bool) {
        self.now = now;
        if let ((TAG_FTP, inner), Some(f)) = (untag(socket), self.ftp.as_mut()) {
            f.login_verified(now, inner, ok);
        }
        self.pump(now);
    }

    /// An FTP fast path moved `bytes` in all so far.
    pub fn fast_path_progress(&mut self, now: Instant, socket: SocketId, bytes: u64) {
        if let ((TAG_FTP, inner), Some(f)) = (untag(socket), self.ftp.as_mut()) {
            f.fast_path_progress(now, inner, bytes);
        }
    }

    /// An FTP fast path ended.
    pub fn fast_path_done(
        &mut self,
        now: Instant,
        socket: SocketId,
        result: Result<(), FastPathError>,
    ) {
        self.now = now;
        if let ((TAG_FTP, inner), Some(f)) = (untag(socket), self.ftp.as_mut()) {
            f.fast_path_done(now, inner, result);
        }
        self.pump(now);
    }

    /// The file an [`Event::SendFile`] sends.
    pub fn reader(&mut self, socket: SocketId) -> Option<&mut S::Reader> {
        match (untag(socket), self.ftp.as_mut()) {
            ((TAG_FTP, inner), Some(f)) => f.reader(inner),
            _ => None,
        }
    }

    /// The file an [`Event::Splice`] writes.
    pub fn writer(&mut self, socket: SocketId) -> Option<&mut S::Writer> {
        match (untag(socket), self.ftp.as_mut()) {
            ((TAG_FTP, inner), Some(f)) => f.writer(inner),
            _ => None,
        }
    }

    /// The save asked for by [`Event::Save`] for `version` ended.
    pub fn saved(&mut self, now: Instant, version: u64, ok: bool) {
        self.now = now;
        match self.persist.saved(now, version, ok) {
            Some(Ok(request)) => {
                if let Some(b) = self.bootp.as_mut() {
                    b.server.saved_through(request.version);
                }
            }
            Some(Err(error)) => self.events.push_back(Event::SaveFailed(error)),
            None => {}
        }
        self.pump(now);
    }

    /// Time has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if let Some(t) = self.tftp.as_mut()
            && t.poll_timeout().is_some_and(|d| d <= now)
        {
            t.handle_timeout(now);
        }
        if let Some(f) = self.ftp.as_mut()
            && f.poll_timeout().is_some_and(|d| d <= now)
        {
            f.handle_timeout(now);
        }
        self.pump(now);
    }

    /// The server is stopping: TFTP transfers are cancelled (their clients
    /// get ERROR 0), FTP sessions get `421`, unfinished uploads are
    /// discarded, nothing new is accepted, and whatever changed is saved
    /// once more, at once (see [`persist`]). Drain as after any input until
    /// [`NetbootServer::is_idle`]; [`NetbootServer::is_saved`] then says
    /// whether the state kept is the final one.
    pub fn close(&mut self, now: Instant) {
        self.now = now;
        self.persist.close();
        if let Some(t) = self.tftp.as_mut() {
            t.close(now);
        }
        if let Some(f) = self.ftp.as_mut() {
            f.close(now);
        }
        self.pump(now);
    }

    // ---- composition ----

    /// Moves every part's events into the server's, acting on those that
    /// concern another part (a finished download advances the plan, a
    /// lease change asks for a save).
    fn pump(&mut self, now: Instant) {
        self.pump_bootp();
        while let Some(event) = self.tftp.as_mut().and_then(tftp::Endpoint::poll_event) {
            self.on_tftp(event);
        }
        while let Some(event) = self.ftp.as_mut().and_then(FtpEndpoint::poll_event) {
            self.on_ftp(event);
        }
        self.pump_bootp();
        let version = self.bootp.as_ref().map_or(0, |b| b.server.state_version());
        if let Some(request) = self.persist.poll(now, version) {
            self.events.push_back(Event::Save(request));
        }
    }

    fn pump_bootp(&mut self) {
        let Some(b) = self.bootp.as_mut() else {
            return;
        };
        let mut leases = false;
        while let Some(event) = b.server.poll_event() {
            if event == BootpEvent::LeasesChanged {
                leases = true;
            } else if self.quiet.report(&event) {
                self.events.push_back(Event::Bootp(event));
            }
        }
        let plan = b.server.policy_mut();
        while let Some(event) = plan.poll_event() {
            self.events.push_back(match event {
                PlanEvent::Advanced { hw, ip, index, of } => {
                    let mut file = PathBuf::new();
                    let _ =
                        file.push_str(plan.plan().stage_file(hw.as_bytes(), index).unwrap_or("?"));
                    Event::Stage {
                        hw,
                        ip,
                        index,
                        of,
                        file,
                    }
                }
                PlanEvent::Chainloaded { hw, ip, index, of } => {
                    let plan = plan.plan();
                    let chain = plan
                        .profile_of(hw.as_bytes())
                        .and_then(|p| plan.profiles().chain(p));
                    let mut file = PathBuf::new();
                    let _ = file.push_str(chain.unwrap_or("?"));
                    Event::Chainloaded {
                        hw,
                        ip,
                        index,
                        of,
                        file,
                    }
                }
                PlanEvent::Restarted { hw } => Event::Restarted { hw },
            });
        }
        let progress = plan.take_dirty();
        if progress {
            b.server.note_state_change();
        }
        self.persist.changed(leases, progress);
    }

    fn on_tftp(&mut self, event: TftpEvent) {
        match event {
            TftpEvent::Socket(request) => {
                self.events
                    .push_back(Event::Socket(tag_request(TAG_TFTP, request)));
            }
            TftpEvent::ListenFailed { local, error } => {
                self.events.push_back(Event::ListenFailed {
                    protocol: Protocol::Tftp,
                    local,
                    error,
                });
            }
            TftpEvent::Finished(c) => {
                if c.direction == Direction::Read
                    && c.is_success()
                    && let Some(b) = self.bootp.as_mut()
                {
                    b.server
                        .policy_mut()
                        .transfer_complete(c.finished, c.peer.ip(), &c.path);
                }
                self.events
                    .push_back(Event::Tftp(Box::new(TftpEvent::Finished(c))));
                self.pump_bootp();
            }
            other => self.events.push_back(Event::Tftp(Box::new(other))),
        }
    }

    fn on_ftp(&mut self, event: FtpEvent) {
        self.events.push_back(match event {
            FtpEvent::Socket(request) => Event::Socket(tag_request(TAG_FTP, request)),
            FtpEvent::ListenFailed { local, error } => Event::ListenFailed {
                protocol: Protocol::Ftp,
                local,
                error,
            },
            FtpEvent::VerifyLogin {
                socket,
                user,
                password,
            } => Event::VerifyLogin {
                socket: tag(TAG_FTP, socket),
                user,
                password,
            },
            FtpEvent::SendFile { socket, offset } => Event::SendFile {
                socket: tag(TAG_FTP, socket),
                offset,
            },
            FtpEvent::Splice { socket } => Event::Splice {
                socket: tag(TAG_FTP, socket),
            },
            other => Event::Ftp(Box::new(other)),
        });
    }

    // ---- output ----

    /// Writes the next output into `buf` (64 KiB lets TFTP batch windows
    /// and FTP move downloads in large pieces; 1,500 bytes is the least).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Output> {
        self.now = now;
        if let Some(b) = self.bootp.as_mut()
            && let Some((t, port, via)) = b.server.poll_transmit_via(now, buf)
        {
            let local = b.locals.iter().find(|(_, n)| *n == via);
            let socket = match (port, b.pxe, local) {
                (ReplyPort::BootServer, Some((pxe, _)), _) => pxe,
                (ReplyPort::Server, _, Some(&(socket, _))) => socket,
                _ => b.socket,
            };
            return Some(Output::new(socket, t));
        }
        if let Some(out) = self.tftp.as_mut().and_then(|t| t.poll_transmit(now, buf)) {
            return Some(tag_output(TAG_TFTP, out));
        }
        if let Some(out) = self.ftp.as_mut().and_then(|f| f.poll_transmit(now, buf)) {
            return Some(tag_output(TAG_FTP, out));
        }
        None
    }

    /// When [`NetbootServer::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.tftp.as_ref().and_then(tftp::Endpoint::poll_timeout),
            self.ftp.as_ref().and_then(FtpEndpoint::poll_timeout),
            self.persist.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events.is_empty() {
            self.pump(self.now);
        }
        self.events.pop_front()
    }
}

impl<S: Storage, A: Accounts<Store = S>> Machine for NetbootServer<S, A> {
    type Output = Output;
    type Event<'a>
        = Event
    where
        Self: 'a;

    fn handle_timeout(&mut self, now: Instant) {
        NetbootServer::handle_timeout(self, now)
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Output> {
        NetbootServer::poll_transmit(self, now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        NetbootServer::poll_timeout(self)
    }
    fn poll_event(&mut self) -> Option<Event> {
        NetbootServer::poll_event(self)
    }
}

impl<S: Storage, A: Accounts<Store = S>> machine::Endpoint for NetbootServer<S, A> {
    fn handle_datagram(&mut self, now: Instant, socket: SocketId, from: SocketAddr, bytes: &[u8]) {
        NetbootServer::handle_datagram(self, now, socket, from, bytes)
    }
    fn handle_opened(
        &mut self,
        now: Instant,
        socket: SocketId,
        result: Result<SocketAddr, OpenError>,
    ) {
        NetbootServer::handle_opened(self, now, socket, result)
    }
    fn handle_accept(
        &mut self,
        now: Instant,
        listener: SocketId,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> Accept {
        NetbootServer::handle_accept(self, now, listener, peer, local)
    }
    fn handle_stream(&mut self, now: Instant, socket: SocketId, event: StreamEvent<'_>) {
        NetbootServer::handle_stream(self, now, socket, event)
    }
}
