//! The whole netboot server on one simulated host: BOOTP/DHCP, TFTP and
//! FTP sharing one provisioning plan, as `netboot_mio::netboot` runs them
//! on one event loop.
//!
//! [`NetbootServer`] is the three protocol programs of this module's
//! siblings ([`BootpServer`], [`TftpServer`], [`FtpServer`]) on one host and
//! one disk, wired together with the core's plan glue exactly as the mio
//! adapter wires its services:
//!
//! * the BOOTP server's boot policy is a [`PlanPolicy`]: a client gets its
//!   current stage, and silence once it has every stage;
//! * every successful read the TFTP server completes is handed to
//!   [`PlanPolicy::transfer_complete`], which attributes it to a client by
//!   its source address and advances that client;
//! * the FTP server serves the same disk (anonymous read-only by default)
//!   for the manifest's files.
//!
//! What survives a crash is what the mio adapter keeps on disk: leases (the
//! lease file is written whenever they change, before the reply that
//! depends on them leaves, so a restart never hands out an address twice)
//! and plan progress (written at most once per [`SAVE_INTERVAL`], as the
//! mio adapter does: a crash forgets up to that much progress, and the
//! clients concerned are handed a stage they already have, which the
//! client flow fetches again). At boot the plan learns the restored
//! leases' addresses, so a download by a client that got its address
//! before the restart is attributed before it asks again.
//!
//! The program holds no protocol logic: it routes datagrams by port and
//! streams to the FTP server, and moves TFTP completions into the plan.

use std::net::{IpAddr, SocketAddrV4};

use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::leases::LeaseState;
use netboot_core::bootp::policy::{BootDecision, BootPolicy, BootRequest};
use netboot_core::bootp::server::{ConfigError, ServerConfig as BootpConfig};
use netboot_core::ftp::server::ServerConfig as FtpConfig;
use netboot_core::plan::progressfile;
use netboot_core::plan::{PlanEvent, PlanPolicy, ProfileTable, Reset};
use netboot_core::storage::StoreError;
use netboot_core::tftp::{Direction, ServerConfig as TftpConfig};
use netboot_core::time::{Duration, Instant};
use netboot_core::wire::bootp::SERVER_PORT;

use crate::apps::bootp::BootpServer;
use crate::apps::ftp::{FtpServer, User};
use crate::apps::tftp::TftpServer;
use crate::world::{App, Cx, StreamEvent, StreamId};

/// Clients whose progress the plan tracks at once (enough for the
/// 10,000-client fleet); past this the client seen least recently is
/// forgotten.
pub const PLAN_CLIENTS: usize = 16_384;

/// How often, at most, plan progress is written to disk (the mio
/// adapter's interval).
pub const SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// The stack of the thread [`Plan::new`] builds the table on.
const BUILD_STACK: usize = 64 << 20;

/// The core plan the server runs.
pub type CorePlan = PlanPolicy<ProfileTable, netboot_core::plan::Fixed<PLAN_CLIENTS>>;

/// The plan on the heap (it holds a table of [`PLAN_CLIENTS`] entries),
/// as the BOOTP server's boot policy.
pub struct Plan(Box<CorePlan>);

impl Plan {
    /// A plan over `profiles` in which nobody has started.
    ///
    /// The table (about 1.4 MB) is built on a helper thread with a large
    /// stack: in a debug build the value is copied on the stack several
    /// times on its way into the box, more than the 2 MiB a test thread
    /// has.
    pub fn new(profiles: ProfileTable, reset: Reset) -> Self {
        let build = move || Box::new(PlanPolicy::new(profiles, reset));
        let plan = std::thread::Builder::new()
            .name("netboot-sim-plan".into())
            .stack_size(BUILD_STACK)
            .spawn(build)
            .and_then(|t| {
                t.join()
                    .map_err(|_| std::io::Error::other("building the plan panicked"))
            })
            .expect("a thread to build the plan table on");
        Plan(plan)
    }

    /// The core plan.
    pub fn get(&self) -> &CorePlan {
        &self.0
    }

    /// The core plan, mutably.
    pub fn get_mut(&mut self) -> &mut CorePlan {
        &mut self.0
    }
}

impl BootPolicy for Plan {
    fn decide(&mut self, now: Instant, request: &BootRequest<'_>) -> BootDecision {
        self.0.decide(now, request)
    }
}

/// What a [`NetbootServer`] serves and how.
#[derive(Clone, Debug)]
pub struct NetbootConfig {
    /// The BOOTP/DHCP server: its address, subnet, pool.
    pub bootp: BootpConfig,
    /// The BOOTP host table.
    pub hosts: Vec<Host>,
    /// The TFTP server.
    pub tftp: TftpConfig,
    /// The FTP server.
    pub ftp: FtpConfig,
    /// FTP users besides `anonymous`.
    pub users: Vec<User>,
    /// Each client's stages.
    pub profiles: ProfileTable,
    /// When a client that finished is served again.
    pub reset: Reset,
    /// The lease file on the host's disk (`None`: leases die with the
    /// program).
    pub lease_file: Option<String>,
    /// The plan-progress file on the host's disk (`None`: progress dies
    /// with the program).
    pub progress_file: Option<String>,
}

impl NetbootConfig {
    /// Serves `profiles` with this BOOTP configuration, the TFTP and FTP
    /// defaults (FTP anonymous, read-only), leases in `leases` and progress
    /// in `progress`.
    ///
    /// ```
    /// use std::net::Ipv4Addr;
    /// use netboot_core::bootp::server::ServerConfig;
    /// use netboot_core::plan::ProfileTable;
    /// use netboot_sim::apps::netboot::NetbootConfig;
    ///
    /// let mut plan = ProfileTable::new();
    /// plan.set_default(&["stage1", "manifest"]).unwrap();
    /// let c = NetbootConfig::new(ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 255, 255, 0)), plan);
    /// assert!(c.ftp.anonymous);
    /// assert_eq!(c.progress_file.as_deref(), Some("progress"));
    /// ```
    pub fn new(bootp: BootpConfig, profiles: ProfileTable) -> Self {
        NetbootConfig {
            bootp,
            hosts: Vec::new(),
            tftp: TftpConfig::default(),
            ftp: FtpConfig {
                anonymous: true,
                ..FtpConfig::default()
            },
            users: Vec::new(),
            profiles,
            reset: Reset::Never,
            lease_file: Some("leases".to_string()),
            progress_file: Some("progress".to_string()),
        }
    }
}

/// BOOTP/DHCP, TFTP and FTP on one host, sharing one plan.
///
/// ```
/// use std::net::Ipv4Addr;
/// use netboot_core::bootp::server::ServerConfig;
/// use netboot_core::plan::ProfileTable;
/// use netboot_sim::Sim;
/// use netboot_sim::apps::netboot::{NetbootConfig, NetbootServer};
///
/// let mut plan = ProfileTable::new();
/// plan.set_default(&["stage1", "manifest"]).unwrap();
/// let mut bootp = ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
/// bootp.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 200)));
/// bootp.bootp_dynamic = true;
/// let config = NetbootConfig::new(bootp, plan);
/// let mut sim = Sim::new(1);
/// let server = sim.add_host("server", Ipv4Addr::new(10, 0, 0, 1), move || {
///     Box::new(NetbootServer::new(config.clone()).unwrap())
/// });
/// sim.run();
/// assert!(sim.app::<NetbootServer>(server).unwrap().plan().plan().progress().next().is_none());
/// ```
pub struct NetbootServer {
    bootp: BootpServer<Plan>,
    tftp: TftpServer,
    ftp: FtpServer,
    progress_file: Option<String>,
    saved_at: Option<Instant>,
    /// TFTP completions already handed to the plan.
    completions_seen: usize,
    /// What the plan did, in order.
    pub plan_events: Vec<PlanEvent>,
    /// Progress-file writes that failed.
    pub save_errors: Vec<StoreError>,
}

impl NetbootServer {
    /// The server `config` describes (its BOOTP part is checked here).
    pub fn new(config: NetbootConfig) -> Result<Self, ConfigError> {
        let plan = Plan::new(config.profiles, config.reset);
        let bootp = BootpServer::with_policy(config.bootp, config.hosts, plan)?
            .lease_file(config.lease_file.as_deref());
        Ok(NetbootServer {
            bootp,
            tftp: TftpServer::new(config.tftp),
            ftp: FtpServer::new(config.ftp, config.users),
            progress_file: config.progress_file,
            saved_at: None,
            completions_seen: 0,
            plan_events: Vec::new(),
            save_errors: Vec::new(),
        })
    }

    /// The BOOTP/DHCP program.
    pub fn bootp(&self) -> &BootpServer<Plan> {
        &self.bootp
    }

    /// The TFTP program.
    pub fn tftp(&self) -> &TftpServer {
        &self.tftp
    }

    /// The FTP program.
    pub fn ftp(&self) -> &FtpServer {
        &self.ftp
    }

    /// The plan.
    pub fn plan(&self) -> &CorePlan {
        self.bootp.server().policy().get()
    }

    fn plan_mut(&mut self) -> &mut CorePlan {
        self.bootp.server_mut().policy_mut().get_mut()
    }

    /// Hands the TFTP server's new completions to the plan.
    fn advance_plan(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        while let Some(c) = self.tftp.completions.get(self.completions_seen) {
            self.completions_seen += 1;
            if c.direction == Direction::Read && c.result.is_ok() {
                let (peer, path) = (IpAddr::V4(*c.peer.ip()), c.path.clone());
                self.plan_mut().transfer_complete(now, peer, &path);
            }
        }
        self.drain_plan();
    }

    fn drain_plan(&mut self) {
        while let Some(e) = self.plan_mut().poll_event() {
            self.plan_events.push(e);
        }
    }

    fn restore_progress(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        let Some(text) = self
            .progress_file
            .as_deref()
            .and_then(|p| cx.store.get(p))
            .map(|b| String::from_utf8_lossy(b).into_owned())
        else {
            return;
        };
        let plan = self.plan_mut();
        for (hw, stage) in progressfile::parse(&text).0 {
            plan.plan_mut().restore(now, &hw, stage);
        }
        plan.take_dirty();
    }

    /// Downloads by clients that got their address before a restart are
    /// attributed before they ask again (the mio adapter does the same).
    fn learn_leases(&mut self, now: Instant) {
        let bound: Vec<_> = self
            .bootp
            .server()
            .leases()
            .filter(|l| l.state == LeaseState::Bound)
            .map(|l| (l.ip, l.hw))
            .collect();
        let hosts: Vec<_> = self
            .bootp
            .server()
            .hosts()
            .iter()
            .filter_map(|h| h.ip.map(|ip| (ip, h.hw)))
            .collect();
        let plan = self.plan_mut();
        for (ip, hw) in bound.into_iter().chain(hosts) {
            plan.learn(now, ip, hw);
        }
    }

    fn save_deadline(&self) -> Option<Instant> {
        self.progress_file.as_ref()?;
        if !self.plan().is_dirty() {
            return None;
        }
        Some(self.saved_at.map_or(Instant::ZERO, |at| at + SAVE_INTERVAL))
    }

    fn save_progress(&mut self, cx: &mut Cx<'_>) {
        self.saved_at = Some(cx.now());
        self.plan_mut().take_dirty();
        let Some(path) = self.progress_file.as_deref() else {
            return;
        };
        let text = progressfile::render(self.plan().plan().progress().filter(|(_, s)| *s > 0));
        if let Err(e) = cx.store.write_file(path, text.as_bytes()) {
            self.save_errors.push(e);
        }
    }
}

impl App for NetbootServer {
    fn start(&mut self, cx: &mut Cx<'_>) {
        // The BOOTP program restores its leases as it starts.
        self.bootp.start(cx);
        self.restore_progress(cx);
        self.learn_leases(cx.now());
        self.tftp.start(cx);
        self.ftp.start(cx);
    }

    fn datagram(
        &mut self,
        cx: &mut Cx<'_>,
        local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        if local.port() == SERVER_PORT {
            self.bootp.datagram(cx, local, from, bytes);
            self.drain_plan();
        } else {
            self.tftp.datagram(cx, local, from, bytes);
            self.advance_plan(cx);
        }
    }

    fn stream(&mut self, cx: &mut Cx<'_>, id: StreamId, event: StreamEvent<'_>) {
        self.ftp.stream(cx, id, event);
    }

    fn timeout(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        if self.bootp.deadline().is_some_and(|d| d <= now) {
            self.bootp.timeout(cx);
        }
        if self.tftp.deadline().is_some_and(|d| d <= now) {
            self.tftp.timeout(cx);
            self.advance_plan(cx);
        }
        if self.ftp.deadline().is_some_and(|d| d <= now) {
            self.ftp.timeout(cx);
        }
        if self.save_deadline().is_some_and(|d| d <= now) {
            self.save_progress(cx);
        }
    }

    fn deadline(&mut self) -> Option<Instant> {
        [
            self.bootp.deadline(),
            self.tftp.deadline(),
            self.ftp.deadline(),
            self.save_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
