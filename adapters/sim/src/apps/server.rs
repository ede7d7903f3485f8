//! The netboot server on a simulated host: exactly the server that ships.
//!
//! [`SimServer`] runs the core's [`NetbootServer`] (BOOTP/DHCP with the
//! provisioning plan, the TFTP endpoint, the FTP endpoint and the
//! persistence policy, whichever of them its [`NetbootConfig`] has) through
//! [`netboot_core::server::drive`], the drain loop every runtime uses, with
//! a [`Host`] over the host's [`Cx`]. What it does is what the mio and
//! async-std runtimes do with real sockets and files, and nothing more:
//!
//! * it binds the simulated ports it is asked to bind (an ephemeral one for
//!   port 0), remembers which [`SocketId`] each port, listener and stream
//!   is, and moves datagrams and stream events between them and the
//!   server;
//! * it writes what the server sends: a run of datagrams of
//!   `segment_size` one by one, stream bytes up to the stream's window
//!   (the rest goes back to the server as unsent, and the world's
//!   [`StreamEvent::Writable`] says when to go on);
//! * it answers password checks at once from its [`User`]s and saves at
//!   once: the leases and the plan progress, rendered with the core's
//!   [`leasefile`] and [`progressfile`], are written to the host's disk,
//!   and a disk fault ([`StoreFaults`](crate::StoreFaults)) fails the save;
//! * it records every event the server reports ([`SimServer::events`]),
//!   from which tests read what they need ([`SimServer::completions`],
//!   [`SimServer::ftp_transfers`], [`SimServer::peak_transfers`]...).
//!
//! At boot it reads the lease and progress files from the host's disk, as
//! the std layer does for a real host, so a restarted server knows what the
//! crashed one had saved. Every part of the server shares the host's
//! [`Disk`]: TFTP serves it, every FTP user's root is it ([`SimAccounts`]),
//! the state files are on it.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use netboot_core::tftp::options::Request;
//! use netboot_core::tftp::{ServerConfig, TransferConfig};
//! use netboot_sim::Sim;
//! use netboot_sim::apps::server::SimServer;
//! use netboot_sim::apps::tftp::{Job, TftpClient};
//!
//! let mut sim = Sim::new(1);
//! let server = sim.add_host("server", Ipv4Addr::new(10, 0, 0, 1), || {
//!     Box::new(SimServer::tftp(ServerConfig::default()))
//! });
//! sim.store_mut(server).insert("boot.bin", vec![7; 3000]);
//! let client = sim.add_host("client", Ipv4Addr::new(10, 0, 0, 2), || {
//!     let job = Job::get("boot.bin", "boot.bin", Request::default());
//!     Box::new(TftpClient::new(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 69), TransferConfig::default(), [job]))
//! });
//! sim.run();
//! assert_eq!(sim.store(client).get("boot.bin"), Some(&[7; 3000][..]));
//! let done: Vec<_> = sim.app::<SimServer>(server).unwrap().completions().collect();
//! assert_eq!((done.len(), done[0].bytes), (1, 3000));
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use netboot_core::bootp::hosts::Host as BootpHost;
use netboot_core::bootp::leasefile;
use netboot_core::bootp::server::ServerConfig as BootpConfig;
use netboot_core::ftp::server::{
    Accounts, EndpointConfig as FtpEndpointConfig, EndpointEvent as FtpEvent,
    ServerConfig as FtpConfig, TransferRecord,
};
use netboot_core::plan::{ProfileTable, progressfile};
use netboot_core::server::{
    BootpSetup, Event, FastPath, Host, NetbootConfig, NetbootServer, Persist, Restored,
    SaveRequest, Sent, Worker, drive,
};
use netboot_core::socket::{
    Accept, OpenError, Output, SocketId, StreamEvent as CoreStream, UdpRole,
};
use netboot_core::tftp::{
    Completion, EndpointConfig as TftpEndpointConfig, EndpointEvent as TftpEvent,
    ServerConfig as TftpConfig,
};
use netboot_core::time::Instant;

use crate::apps::v4;
use crate::store::Disk;
use crate::world::{App, Cx, StreamEvent, StreamId};

/// The Unix time the simulation's clock zero stands for (in lease files
/// and FTP listings).
pub const UNIX_EPOCH_OF_ZERO: u64 = 1_700_000_000;

/// The Unix time of `now` on a simulated host.
pub fn unix_now(now: Instant) -> u64 {
    UNIX_EPOCH_OF_ZERO + now.as_micros() / 1_000_000
}

/// The lease file a [`SimServer`] keeps by default.
pub const LEASE_FILE: &str = "leases";

/// The plan-progress file a [`SimServer`] keeps by default.
pub const PROGRESS_FILE: &str = "progress";

/// The server the simulator runs: the core's, over the host's disk.
pub type Core = NetbootServer<Disk, SimAccounts>;

/// An FTP user the server knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Name.
    pub name: String,
    /// Password (plain: nothing is hashed in the simulator).
    pub password: String,
    /// May modify the store.
    pub writable: bool,
}

/// The FTP accounts of a simulated host: every user, anonymous or named,
/// is served the host's disk; anonymous sessions are read-only (the
/// session decides that), a named user is writable as configured.
///
/// ```
/// use netboot_core::ftp::server::Accounts;
/// use netboot_core::storage::Shared;
/// use netboot_sim::SimStore;
/// use netboot_sim::apps::server::{SimAccounts, User};
///
/// let user = User { name: "boot".into(), password: "secret".into(), writable: true };
/// let accounts = SimAccounts::new(Shared::new(SimStore::new(1)), vec![user]);
/// assert!(accounts.verify("boot", "secret") && !accounts.verify("boot", "guess"));
/// assert!(accounts.writable("boot") && !accounts.writable("anonymous"));
/// ```
#[derive(Clone, Debug)]
pub struct SimAccounts {
    disk: Disk,
    users: Vec<User>,
}

impl SimAccounts {
    /// `users` on `disk`.
    pub fn new(disk: Disk, users: Vec<User>) -> Self {
        SimAccounts { disk, users }
    }

    /// The users.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// True when `user` exists and `password` is theirs.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        check(&self.users, user, password)
    }
}

fn check(users: &[User], user: &str, password: &str) -> bool {
    users
        .iter()
        .any(|u| u.name == user && u.password == password)
}

impl Accounts for SimAccounts {
    type Store = Disk;

    fn open_store(&mut self, _user: &str, _anonymous: bool) -> Option<Disk> {
        Some(self.disk.clone())
    }

    fn writable(&self, user: &str) -> bool {
        self.users.iter().any(|u| u.name == user && u.writable)
    }
}

/// What a simulated socket of the server is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sock {
    Udp(u16),
    Listener(u16),
    Stream(StreamId),
}

/// The server's sockets: which [`SocketId`] each port, listener and
/// stream is.
#[derive(Debug, Default)]
struct Sockets {
    by_id: BTreeMap<SocketId, Sock>,
    udp: BTreeMap<u16, SocketId>,
    listeners: BTreeMap<u16, SocketId>,
    streams: BTreeMap<StreamId, SocketId>,
}

impl Sockets {
    fn add(&mut self, socket: SocketId, sock: Sock) {
        match sock {
            Sock::Udp(port) => self.udp.insert(port, socket),
            Sock::Listener(port) => self.listeners.insert(port, socket),
            Sock::Stream(id) => self.streams.insert(id, socket),
        };
        self.by_id.insert(socket, sock);
    }

    fn remove(&mut self, socket: SocketId) -> Option<Sock> {
        let sock = self.by_id.remove(&socket)?;
        match sock {
            Sock::Udp(port) => self.udp.remove(&port),
            Sock::Listener(port) => self.listeners.remove(&port),
            Sock::Stream(id) => self.streams.remove(&id),
        };
        Some(sock)
    }
}

/// The netboot server on a simulated host (see the [module docs](self)).
///
/// The configuration says what is served; the files say what is kept: the
/// leases in [`SimServer::lease_file`], the plan progress in
/// [`SimServer::progress_file`] (the configuration's
/// [`persist`](NetbootConfig::persist) is set from them at boot). The core
/// server is built when the host boots, from the files an earlier run
/// left; a configuration the core refuses stops the run at that boot.
pub struct SimServer {
    config: NetbootConfig,
    users: Vec<User>,
    lease_file: Option<String>,
    progress_file: Option<String>,
    server: Option<Core>,
    sockets: Sockets,
    deadline: Option<Instant>,
    buf: Vec<u8>,
    /// Every event the server reported since this boot, in order.
    pub events: Vec<Event>,
}

impl SimServer {
    /// The server `config` describes, with no FTP users besides anonymous
    /// (if the FTP session allows it), keeping leases in [`LEASE_FILE`]
    /// and progress in [`PROGRESS_FILE`].
    pub fn new(config: NetbootConfig) -> Self {
        SimServer {
            config,
            users: Vec::new(),
            lease_file: Some(LEASE_FILE.to_string()),
            progress_file: Some(PROGRESS_FILE.to_string()),
            server: None,
            sockets: Sockets::default(),
            deadline: None,
            buf: vec![0; 64 * 1024],
            events: Vec::new(),
        }
    }

    /// A TFTP server on port 69 with the policy `config` (nothing to keep).
    pub fn tftp(config: TftpConfig) -> Self {
        let mut c = NetbootConfig::new();
        c.tftp = Some(tftp_endpoint(config));
        SimServer::new(c).lease_file(None).progress_file(None)
    }

    /// An FTP server on port 21 with the session policy `config` and these
    /// users (nothing to keep).
    pub fn ftp(config: FtpConfig, users: Vec<User>) -> Self {
        let mut c = NetbootConfig::new();
        c.ftp = Some(ftp_endpoint(config));
        SimServer::new(c)
            .users(users)
            .lease_file(None)
            .progress_file(None)
    }

    /// A BOOTP/DHCP server on port 67 with this configuration and host
    /// table, and no plan, keeping its leases in [`LEASE_FILE`].
    pub fn bootp(config: BootpConfig, hosts: Vec<BootpHost>) -> Self {
        let mut c = NetbootConfig::new();
        c.bootp = Some(bootp_setup(config, hosts));
        SimServer::new(c).progress_file(None)
    }

    /// The whole netboot server: BOOTP/DHCP with `bootp` and the plan
    /// `profiles`, TFTP with the default policy, anonymous read-only FTP;
    /// leases and progress kept in their files.
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use netboot_core::bootp::server::ServerConfig;
    /// use netboot_core::plan::ProfileTable;
    /// use netboot_sim::Sim;
    /// use netboot_sim::apps::server::SimServer;
    ///
    /// let mut plan = ProfileTable::new();
    /// plan.set_default(&["stage1", "manifest"]).unwrap();
    /// let mut bootp = ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
    /// bootp.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 200)));
    /// let mut sim = Sim::new(1);
    /// let server = sim.add_host("server", Ipv4Addr::new(10, 0, 0, 1), move || {
    ///     Box::new(SimServer::netboot(bootp.clone(), plan.clone()))
    /// });
    /// sim.run();
    /// let s = sim.app::<SimServer>(server).unwrap().server().unwrap();
    /// assert_eq!(s.bootp_addr().map(|a| a.port()), Some(67));
    /// assert_eq!(s.tftp_addrs()[0].port(), 69);
    /// assert_eq!(s.ftp_addr().map(|a| a.port()), Some(21));
    /// ```
    pub fn netboot(bootp: BootpConfig, profiles: ProfileTable) -> Self {
        let mut c = NetbootConfig::new();
        c.bootp = Some(bootp_setup(bootp, Vec::new()));
        c.tftp = Some(tftp_endpoint(TftpConfig::default()));
        c.ftp = Some(ftp_endpoint(FtpConfig {
            anonymous: true,
            ..FtpConfig::default()
        }));
        c.profiles = profiles;
        SimServer::new(c)
    }

    /// These FTP users (besides anonymous).
    pub fn users(mut self, users: Vec<User>) -> Self {
        self.users = users;
        self
    }

    /// Keeps leases in this file (`None`: they die with the program).
    pub fn lease_file(mut self, path: Option<&str>) -> Self {
        self.lease_file = path.map(str::to_string);
        self
    }

    /// Keeps plan progress in this file (`None`: it dies with the
    /// program).
    pub fn progress_file(mut self, path: Option<&str>) -> Self {
        self.progress_file = path.map(str::to_string);
        self
    }

    /// Stops the server cleanly, as a runtime does on a stop signal
    /// ([`NetbootServer::close`]): transfers and sessions end, whatever
    /// changed is saved once more. Run the simulation until
    /// [`SimServer::is_idle`], then crash the host to take it away.
    pub fn close(&mut self, cx: &mut Cx<'_>) {
        if let Some(server) = self.server.as_mut() {
            server.close(cx.now());
        }
        self.drive(cx);
    }

    /// True once a [`SimServer::close`]d server has nothing left to do.
    pub fn is_idle(&self) -> bool {
        self.server.as_ref().is_none_or(Core::is_idle)
    }

    /// The core server, once the host has booted.
    pub fn server(&self) -> Option<&Core> {
        self.server.as_ref()
    }

    /// Every TFTP transfer that ended, in order.
    pub fn completions(&self) -> impl Iterator<Item = &Completion> {
        self.events.iter().filter_map(|e| match e {
            Event::Tftp(t) => match &**t {
                TftpEvent::Finished(c) => Some(c),
                _ => None,
            },
            _ => None,
        })
    }

    /// TFTP requests answered with an ERROR from the listening port.
    pub fn refused(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Tftp(t) if matches!(**t, TftpEvent::Refused { .. })))
            .count()
    }

    /// Most TFTP transfers running at once (from their `Started` and
    /// `Finished` events).
    pub fn peak_transfers(&self) -> usize {
        let (mut running, mut peak) = (0usize, 0);
        for e in &self.events {
            if let Event::Tftp(t) = e {
                match **t {
                    TftpEvent::Started { .. } => running += 1,
                    TftpEvent::Finished(_) => running = running.saturating_sub(1),
                    _ => {}
                }
                peak = peak.max(running);
            }
        }
        peak
    }

    /// Every FTP data transfer that ended, in order.
    pub fn ftp_transfers(&self) -> impl Iterator<Item = &TransferRecord> {
        self.events.iter().filter_map(|e| match e {
            Event::Ftp(f) => match &**f {
                FtpEvent::Transfer(r) => Some(&**r),
                _ => None,
            },
            _ => None,
        })
    }

    /// FTP control connections accepted.
    pub fn ftp_sessions(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::Ftp(f) if matches!(**f, FtpEvent::Opened { .. })))
            .count()
    }

    /// Saves that failed (a disk fault).
    pub fn save_failures(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, Event::SaveFailed(_)))
            .count()
    }

    /// What an earlier run left in the state files.
    fn restore(&self, disk: &Disk, now: Instant) -> Restored {
        let disk = disk.borrow();
        let read = |path: &Option<String>| {
            let bytes = disk.get(path.as_deref()?)?;
            Some(String::from_utf8_lossy(bytes).into_owned())
        };
        Restored {
            leases: read(&self.lease_file)
                .map(|t| leasefile::parse(&t, now, unix_now(now)).0)
                .unwrap_or_default(),
            progress: read(&self.progress_file)
                .map(|t| progressfile::parse(&t).0)
                .unwrap_or_default(),
        }
    }

    /// Drains the server after an input.
    fn drive(&mut self, cx: &mut Cx<'_>) {
        let Some(server) = self.server.as_mut() else {
            return;
        };
        let now = cx.now();
        let mut host = Driver {
            cx,
            sockets: &mut self.sockets,
            lease_file: self.lease_file.as_deref(),
            progress_file: self.progress_file.as_deref(),
            events: &mut self.events,
        };
        self.deadline = drive(server, &mut host, now, &mut self.buf);
    }
}

/// The BOOTP/DHCP part of a [`NetbootConfig`]: `config` and `hosts` on
/// port 67 of any address.
pub fn bootp_setup(config: BootpConfig, hosts: Vec<BootpHost>) -> BootpSetup {
    let mut setup = BootpSetup::new(config);
    setup.hosts = hosts;
    setup
}

/// The TFTP part of a [`NetbootConfig`]: the policy `config` on port 69
/// of any address, the endpoint's defaults otherwise.
pub fn tftp_endpoint(config: TftpConfig) -> TftpEndpointConfig {
    let listen = SocketAddr::from((Ipv4Addr::UNSPECIFIED, netboot_core::tftp::PORT));
    let mut endpoint = TftpEndpointConfig::new(vec![listen]);
    endpoint.server = config;
    endpoint
}

/// The FTP part of a [`NetbootConfig`]: the session policy `session` on
/// port 21 of any address, any passive port, listing dates from
/// [`UNIX_EPOCH_OF_ZERO`].
pub fn ftp_endpoint(session: FtpConfig) -> FtpEndpointConfig {
    let listen = SocketAddr::from((Ipv4Addr::UNSPECIFIED, crate::apps::ftp::PORT));
    let mut endpoint = FtpEndpointConfig::new(listen, session);
    endpoint.epoch_unix = Some(UNIX_EPOCH_OF_ZERO);
    endpoint
}

impl App for SimServer {
    fn start(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        let restored = self.restore(cx.store, now);
        let mut config = std::mem::take(&mut self.config);
        config.persist = Persist {
            leases: self.lease_file.is_some(),
            progress: self.progress_file.is_some(),
        };
        let accounts = SimAccounts::new(cx.store.clone(), self.users.clone());
        let server = NetbootServer::new(config, cx.store.clone(), accounts, now, restored)
            .unwrap_or_else(|e| panic!("the simulated server's configuration: {e}"));
        self.server = Some(server);
        self.drive(cx);
    }

    fn datagram(
        &mut self,
        cx: &mut Cx<'_>,
        local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        let (Some(server), Some(&socket)) =
            (self.server.as_mut(), self.sockets.udp.get(&local.port()))
        else {
            return;
        };
        server.handle_datagram(cx.now(), socket, SocketAddr::V4(from), bytes);
        self.drive(cx);
    }

    fn stream(&mut self, cx: &mut Cx<'_>, id: StreamId, event: StreamEvent<'_>) {
        let Some(server) = self.server.as_mut() else {
            return;
        };
        let now = cx.now();
        if let StreamEvent::Accepted { local, peer } = event {
            let Some(&listener) = self.sockets.listeners.get(&local.port()) else {
                cx.reset(id);
                return;
            };
            match server.handle_accept(now, listener, peer, local) {
                Accept::Stream(socket) => self.sockets.add(socket, Sock::Stream(id)),
                Accept::Refuse { reply } => {
                    cx.write(id, reply);
                    cx.close(id);
                }
            }
            return self.drive(cx);
        }
        let Some(&socket) = self.sockets.streams.get(&id) else {
            return;
        };
        let event = match event {
            StreamEvent::Connected => CoreStream::Connected,
            StreamEvent::Data(bytes) => CoreStream::Data(bytes),
            StreamEvent::Writable => CoreStream::Writable,
            StreamEvent::Eof => CoreStream::Eof,
            StreamEvent::Refused | StreamEvent::Reset | StreamEvent::Accepted { .. } => {
                // Gone: the server hears of it as a reset, and the
                // stream is forgotten.
                self.sockets.remove(socket);
                CoreStream::Reset
            }
        };
        server.handle_stream(now, socket, event);
        self.drive(cx);
    }

    fn timeout(&mut self, cx: &mut Cx<'_>) {
        if let Some(server) = self.server.as_mut() {
            server.handle_timeout(cx.now());
        }
        self.drive(cx);
    }

    fn deadline(&mut self) -> Option<Instant> {
        self.deadline
    }
}

/// The [`Host`] a [`SimServer`] offers its core server during one
/// callback: the host's [`Cx`] and the program's bookkeeping.
struct Driver<'a, 'x> {
    cx: &'a mut Cx<'x>,
    sockets: &'a mut Sockets,
    lease_file: Option<&'a str>,
    progress_file: Option<&'a str>,
    events: &'a mut Vec<Event>,
}

impl Driver<'_, '_> {
    /// Binds a UDP port (or, for a `listener`, starts listening) at
    /// `local`, which must be one of the host's addresses or any; port 0
    /// is a fresh ephemeral port.
    fn open(
        &mut self,
        socket: SocketId,
        local: SocketAddr,
        listener: bool,
    ) -> Result<SocketAddr, OpenError> {
        let ip = *v4(local).ip();
        if !ip.is_unspecified() && ip != self.cx.ip() {
            return Err(OpenError::AddrNotAvailable);
        }
        let cx = &mut *self.cx;
        let port = match (local.port(), listener) {
            (0, false) => cx.bind_ephemeral(),
            (0, true) => cx.listen_ephemeral(),
            (p, false) if cx.bind(p) => p,
            (p, true) if cx.listen(p) => p,
            _ => return Err(OpenError::AddrInUse),
        };
        let sock = if listener {
            Sock::Listener(port)
        } else {
            Sock::Udp(port)
        };
        self.sockets.add(socket, sock);
        Ok(SocketAddr::V4(SocketAddrV4::new(ip, port)))
    }

    /// Writes `text` to `path` on the host's disk.
    fn write(&mut self, path: Option<&str>, text: impl FnOnce() -> String) -> bool {
        let Some(path) = path else {
            return true;
        };
        let text = text();
        self.cx
            .store
            .borrow_mut()
            .write_file(path, text.as_bytes())
            .is_ok()
    }
}

impl Host<Disk, SimAccounts> for Driver<'_, '_> {
    fn open_udp(
        &mut self,
        _now: Instant,
        socket: SocketId,
        local: SocketAddr,
        _role: &UdpRole,
    ) -> Result<SocketAddr, OpenError> {
        self.open(socket, local, false)
    }

    fn listen(
        &mut self,
        _now: Instant,
        socket: SocketId,
        local: SocketAddr,
        _backlog: u32,
    ) -> Result<SocketAddr, OpenError> {
        self.open(socket, local, true)
    }

    fn connect(
        &mut self,
        _now: Instant,
        socket: SocketId,
        _local: IpAddr,
        remote: SocketAddr,
    ) -> Result<(), OpenError> {
        let id = self.cx.connect(v4(remote));
        self.sockets.add(socket, Sock::Stream(id));
        Ok(())
    }

    fn close(&mut self, socket: SocketId) {
        match self.sockets.remove(socket) {
            Some(Sock::Udp(port)) => self.cx.unbind(port),
            Some(Sock::Listener(port)) => self.cx.unlisten(port),
            Some(Sock::Stream(id)) => self.cx.close(id),
            None => {}
        }
    }

    fn send(&mut self, output: &Output, bytes: &[u8]) -> Sent {
        match self.sockets.by_id.get(&output.socket) {
            Some(&Sock::Udp(port)) => {
                let to = v4(output.transmit.destination);
                for (at, len) in output.segments() {
                    self.cx.send(port, to, &bytes[at..at + len]);
                }
                Sent::All
            }
            Some(&Sock::Stream(id)) => {
                let n = self.cx.room(id).min(bytes.len());
                self.cx.write(id, &bytes[..n]);
                if n < bytes.len() {
                    Sent::Partial(n)
                } else {
                    Sent::All
                }
            }
            // Not a socket bytes can leave by (a listener, or one already
            // gone): nothing to send to.
            _ => Sent::All,
        }
    }

    fn fast_path(&mut self, _now: Instant, _fast: FastPath) {
        // Never offered: the server's FTP endpoint has no fast paths here,
        // so every byte goes through `send` and `StreamEvent::Data`.
    }

    fn worker(&mut self) -> &mut dyn Worker<Disk, SimAccounts> {
        self
    }
}

impl Worker<Disk, SimAccounts> for Driver<'_, '_> {
    fn verify_login(
        &mut self,
        _socket: SocketId,
        user: &str,
        password: &str,
        server: &Core,
    ) -> Option<bool> {
        Some(
            server
                .ftp()
                .is_some_and(|f| f.accounts().verify(user, password)),
        )
    }

    fn save(&mut self, now: Instant, request: SaveRequest, server: &Core) -> Option<bool> {
        let leases = !request.leases
            || self.write(self.lease_file, || {
                leasefile::render(server.leases(), now, unix_now(now))
            });
        let progress = leases
            && (!request.progress
                || self.write(self.progress_file, || {
                    progressfile::render(server.progress())
                }));
        Some(progress)
    }

    fn report(&mut self, event: &Event) {
        self.events.push(event.clone());
    }
}
