//! The combined server's builder the async-std adapter still runs on
//! (transitional, see [`crate::legacy`]): BOOTP, TFTP and FTP pieces wired
//! to one shared plan ([`NetbootServer::into_parts`]), with client steps
//! reported as [`Step`]s. The mio server runs the core's composition
//! instead ([`crate::server::Server`]).

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::leases::{LeaseSlot, LeaseState};
use netboot_core::bootp::server::{Event as BootpEvent, Server, ServerConfig};
use netboot_core::plan::{PlanEvent, ProfileTable, Profiles, Reset};
use netboot_core::tftp::Direction;
use netboot_std::clock::Clock;
use netboot_std::ftp::FtpConfig;
use netboot_std::net::explain_bind_error;

use super::bootp::{BootpDriver, bind as bind_bootp};
use super::ftp::{OnTransfer, TransferRecord};
use super::plan::{self, ProgressSaver, SharedPlan};
use super::tftp::{Completion, TftpServer};

/// One step of some client's provisioning, as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// A BOOTP/DHCP reply (address and stage handed out), a client the plan
    /// keeps silent, a release...
    Bootp(BootpEvent),
    /// A client fetched its current stage.
    Stage {
        /// The client.
        hw: HwAddr,
        /// Its address.
        ip: Ipv4Addr,
        /// The stage (0-based).
        index: usize,
        /// Its number of stages.
        of: usize,
        /// The stage's file.
        file: String,
    },
    /// A client that had finished is served again from its first stage.
    Restarted {
        /// The client.
        hw: HwAddr,
    },
    /// A TFTP transfer ended.
    Tftp(Completion),
    /// An FTP data transfer ended.
    Ftp(TransferRecord),
}

/// Clients already reported as silenced: a finished client asks about ten
/// times before it concludes that the boot phase is over, and one step
/// line says it all. A client is reported again once it has been answered
/// again (its plan was reset).
#[derive(Default)]
struct QuietClients(std::collections::HashSet<HwAddr>);

impl QuietClients {
    /// Bounds the set (a table of every MAC ever seen would grow without
    /// limit); past it, repeats are reported again.
    const MAX: usize = 65_536;

    /// True when `event` deserves a step line.
    fn report(&mut self, event: &BootpEvent) -> bool {
        match event {
            BootpEvent::Silenced { hw } => {
                if self.0.len() >= Self::MAX {
                    self.0.clear();
                }
                self.0.insert(*hw)
            }
            BootpEvent::Offered { hw, .. }
            | BootpEvent::Acked { hw, .. }
            | BootpEvent::BootpReplied { hw, .. } => {
                self.0.remove(hw);
                true
            }
            _ => true,
        }
    }
}

/// One line per step, for a server's standard output.
impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Bootp(e) => write!(f, "bootp: {e}"),
            Step::Stage {
                hw,
                ip,
                index,
                of,
                file,
            } => {
                write!(
                    f,
                    "plan: {hw} ({ip}) fetched stage {}/{of} {file}",
                    index + 1
                )?;
                if index + 1 == *of {
                    write!(f, "; boot phase complete, BOOTP silent to it")?;
                }
                Ok(())
            }
            Step::Restarted { hw } => write!(f, "plan: {hw} starts again from stage 1"),
            Step::Tftp(c) => {
                let verb = match c.direction {
                    Direction::Read => "RRQ",
                    Direction::Write => "WRQ",
                };
                match &c.result {
                    Ok(()) => write!(
                        f,
                        "tftp: {} {verb} {} done, {} bytes in {} ms",
                        c.peer,
                        c.path,
                        c.bytes,
                        c.elapsed.as_millis()
                    ),
                    Err(e) => write!(f, "tftp: {} {verb} {} failed: {e}", c.peer, c.path),
                }
            }
            Step::Ftp(r) => write!(
                f,
                "ftp: {} {} {} /{} {}, {} bytes",
                r.peer,
                r.user.as_deref().unwrap_or("-"),
                r.direction,
                r.path,
                r.outcome,
                r.bytes
            ),
        }
    }
}

/// A callback for every client step.
pub type StepCallback = Box<dyn FnMut(&Step) + Send>;

type OnStep = Arc<Mutex<Option<StepCallback>>>;

fn emit(on_step: &OnStep, step: Step) {
    let mut f = on_step.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = f.as_mut() {
        f(&step);
    }
}

/// Turns the plan's queued events into steps (after the lock is released,
/// so a callback may look at the plan).
fn drain_plan(plan: &SharedPlan, on_step: &OnStep) {
    let steps: Vec<Step> = {
        let mut p = plan.lock();
        let mut steps = Vec::new();
        while let Some(event) = p.poll_event() {
            steps.push(match event {
                PlanEvent::Advanced { hw, ip, index, of } => Step::Stage {
                    hw,
                    ip,
                    index,
                    of,
                    file: p
                        .plan()
                        .profiles()
                        .stage(hw.as_bytes(), index)
                        .unwrap_or("?")
                        .to_string(),
                },
                PlanEvent::Restarted { hw } => Step::Restarted { hw },
                _ => continue,
            });
        }
        steps
    };
    for step in steps {
        emit(on_step, step);
    }
}

struct BootpSetup {
    listen: SocketAddr,
    config: ServerConfig,
    hosts: Vec<Host>,
}

/// Builds the combined server.
///
/// ```
/// use std::net::Ipv4Addr;
/// use netboot_core::bootp::server::ServerConfig;
/// use netboot_core::plan::{ProfileTable, Reset};
/// use netboot_mio::legacy::netboot::NetbootServer;
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("stage1"), b"first").unwrap();
/// std::fs::write(root.path().join("manifest"), b"notes: notes.txt\n").unwrap();
/// std::fs::write(root.path().join("notes.txt"), b"hello").unwrap();
/// let mut plan = ProfileTable::new();
/// plan.set_default(&["stage1", "manifest"]).unwrap();
///
/// let mut bootp = ServerConfig::new(Ipv4Addr::LOCALHOST, Ipv4Addr::new(255, 0, 0, 0));
/// bootp.pool = Some((Ipv4Addr::new(127, 0, 9, 1), Ipv4Addr::new(127, 0, 9, 20)));
/// bootp.bootp_dynamic = true;
/// let server = NetbootServer::new(root.path())
///     .bootp(bootp)
///     .bootp_listen("127.0.0.1:0".parse().unwrap())
///     .tftp_listen("127.0.0.1:0".parse().unwrap())
///     .ftp_listen("127.0.0.1:0".parse().unwrap())
///     .plan(plan, Reset::Never)
///     .into_parts(netboot_std::clock::Clock::new())
///     .unwrap();
/// assert!(server.bootp.is_some() && server.tftp.is_some() && server.ftp.is_some());
/// ```
pub struct NetbootServer {
    root: PathBuf,
    interface: Option<String>,
    bootp: Option<BootpSetup>,
    bootp_listen: Option<SocketAddr>,
    tftp: Option<Vec<SocketAddr>>,
    tftp_tune: Option<Box<dyn FnOnce(TftpServer) -> TftpServer + Send>>,
    ftp: Option<FtpConfig>,
    profiles: ProfileTable,
    reset: Reset,
    lease_file: Option<PathBuf>,
    progress_file: Option<PathBuf>,
    on_step: Option<StepCallback>,
}

impl NetbootServer {
    /// A server of `root`: TFTP on `0.0.0.0:69` and anonymous read-only FTP
    /// on `0.0.0.0:21`; BOOTP once [`NetbootServer::bootp`] gives it its
    /// subnet. Nobody is in the plan until [`NetbootServer::plan`].
    pub fn new(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref().to_path_buf();
        NetbootServer {
            ftp: Some(FtpConfig {
                root: root.clone(),
                anonymous: true,
                ..FtpConfig::default()
            }),
            root,
            interface: None,
            bootp: None,
            bootp_listen: None,
            tftp: Some(Vec::new()),
            tftp_tune: None,
            profiles: ProfileTable::new(),
            reset: Reset::Never,
            lease_file: None,
            progress_file: None,
            on_step: None,
        }
    }

    /// Runs BOOTP/DHCP with these settings (address, subnet, pool...), on
    /// `0.0.0.0:67` unless [`NetbootServer::bootp_listen`] says otherwise.
    pub fn bootp(mut self, config: ServerConfig) -> Self {
        self.bootp = Some(BootpSetup {
            listen: SocketAddr::from((
                Ipv4Addr::UNSPECIFIED,
                netboot_core::wire::bootp::SERVER_PORT,
            )),
            config,
            hosts: Vec::new(),
        });
        self
    }

    /// The BOOTP host table (fixed addresses, per-host files).
    pub fn hosts(mut self, hosts: Vec<Host>) -> Self {
        if let Some(b) = self.bootp.as_mut() {
            b.hosts = hosts;
        }
        self
    }

    /// Where BOOTP listens.
    pub fn bootp_listen(mut self, addr: SocketAddr) -> Self {
        self.bootp_listen = Some(addr);
        self
    }

    /// No BOOTP.
    pub fn no_bootp(mut self) -> Self {
        self.bootp = None;
        self
    }

    /// A TFTP listening address (repeatable; replaces the default).
    pub fn tftp_listen(mut self, addr: SocketAddr) -> Self {
        if let Some(t) = self.tftp.as_mut() {
            t.push(addr);
        }
        self
    }

    /// Adjusts the TFTP server (block and window caps, limits).
    pub fn tftp_options(
        mut self,
        f: impl FnOnce(TftpServer) -> TftpServer + Send + 'static,
    ) -> Self {
        self.tftp_tune = Some(Box::new(f));
        self
    }

    /// No TFTP.
    pub fn no_tftp(mut self) -> Self {
        self.tftp = None;
        self
    }

    /// The FTP settings (users, passive ports...); the root is the
    /// server's.
    pub fn ftp(mut self, config: FtpConfig) -> Self {
        self.ftp = Some(config);
        self
    }

    /// Where FTP listens.
    pub fn ftp_listen(mut self, addr: SocketAddr) -> Self {
        if let Some(f) = self.ftp.as_mut() {
            f.listen = addr;
        }
        self
    }

    /// No FTP.
    pub fn no_ftp(mut self) -> Self {
        self.ftp = None;
        self
    }

    /// The provisioning plan: each client's stages, and when a finished
    /// client is served again.
    pub fn plan(mut self, profiles: ProfileTable, reset: Reset) -> Self {
        self.profiles = profiles;
        self.reset = reset;
        self
    }

    /// Binds BOOTP to this interface and broadcasts through it.
    pub fn interface(mut self, name: impl Into<String>) -> Self {
        self.interface = Some(name.into());
        self
    }

    /// Keeps BOOTP leases in this file.
    pub fn lease_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.lease_file = Some(path.into());
        self
    }

    /// Keeps plan progress in this file.
    pub fn progress_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.progress_file = Some(path.into());
        self
    }

    /// Calls `f` on the loop thread for every client step.
    pub fn on_step(mut self, f: impl FnMut(&Step) + Send + 'static) -> Self {
        self.on_step = Some(Box::new(f));
        self
    }

    /// Binds BOOTP, restores leases and progress, and wires every piece to
    /// the shared plan, without running anything: what the async adapter
    /// drives. `clock` is the clock that will drive the parts.
    pub fn into_parts(self, clock: Clock) -> io::Result<NetbootParts> {
        let now = clock.now();
        let on_step: OnStep = Arc::new(Mutex::new(self.on_step));
        let plan = SharedPlan::new(self.profiles, self.reset);
        if let Some(path) = &self.progress_file {
            let n = plan::load_progress(&plan, path, now).map_err(|e| {
                io::Error::new(e.kind(), format!("progress file {}: {e}", path.display()))
            })?;
            tracing::info!(
                "restored the progress of {n} clients from {}",
                path.display()
            );
        }

        let mut bootp = None;
        if let Some(setup) = self.bootp {
            let listen = self.bootp_listen.unwrap_or(setup.listen);
            let socket = bind_bootp(listen, self.interface.as_deref()).map_err(|e| {
                let mut msg = explain_bind_error(listen, &e);
                if self.interface.is_some() && e.kind() == io::ErrorKind::PermissionDenied {
                    msg.push_str(" (binding to an interface needs CAP_NET_RAW)");
                }
                io::Error::new(e.kind(), msg)
            })?;
            let slots = setup.config.pool.map_or(0, |(first, last)| {
                (u32::from(last).saturating_sub(u32::from(first)) + 1) as usize
            });
            let server = Server::with_policy(
                setup.config,
                setup.hosts,
                vec![LeaseSlot::EMPTY; slots],
                plan.clone(),
            )
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            let mut driver = BootpDriver::new(server);
            if let Some(path) = &self.lease_file {
                driver = driver.with_lease_file(path, now)?;
            }
            {
                // Downloads by clients that were given an address before a
                // restart are attributed before they ask again.
                let mut p = plan.lock();
                let server = driver.server();
                for lease in server.leases().filter(|l| l.state == LeaseState::Bound) {
                    p.learn(now, lease.ip, lease.hw);
                }
                for host in server.hosts() {
                    if let Some(ip) = host.ip {
                        p.learn(now, ip, host.hw);
                    }
                }
            }
            let (plan, on_step) = (plan.clone(), on_step.clone());
            let mut quiet = QuietClients::default();
            let driver = driver.on_event(Box::new(move |event, _| {
                if event.is_client_step() && quiet.report(event) {
                    emit(&on_step, Step::Bootp(event.clone()));
                }
                drain_plan(&plan, &on_step);
            }));
            bootp = Some((socket, driver));
        }

        let mut tftp = None;
        if let Some(listens) = self.tftp {
            let mut builder = TftpServer::new(&self.root);
            let listens = if listens.is_empty() {
                vec![SocketAddr::from((
                    Ipv4Addr::UNSPECIFIED,
                    netboot_core::tftp::PORT,
                ))]
            } else {
                listens
            };
            for addr in listens {
                builder = builder.bind(addr);
            }
            if let Some(tune) = self.tftp_tune {
                builder = tune(builder);
            }
            let (plan, on_step) = (plan.clone(), on_step.clone());
            tftp = Some(builder.on_complete(move |c: &Completion| {
                emit(&on_step, Step::Tftp(c.clone()));
                if c.direction == Direction::Read && c.is_success() {
                    plan.lock()
                        .transfer_complete(clock.now(), c.peer.ip(), &c.path);
                    drain_plan(&plan, &on_step);
                }
            }));
        }

        let ftp = self.ftp.map(|mut config| {
            config.root = self.root.clone();
            let on_step = on_step.clone();
            let on_transfer: OnTransfer =
                Box::new(move |r: &TransferRecord| emit(&on_step, Step::Ftp(r.clone())));
            (config, on_transfer)
        });

        let progress = self
            .progress_file
            .map(|path| ProgressSaver::new(plan.clone(), path));
        Ok(NetbootParts {
            bootp,
            tftp,
            ftp,
            progress,
            plan,
        })
    }
}

/// An FTP bind error with the cause and the way out named, when it is one
/// of the usual ones (a privileged port, an address in use or absent).
pub fn explain_ftp_bind(listen: SocketAddr, e: io::Error) -> io::Error {
    match e.kind() {
        io::ErrorKind::PermissionDenied
        | io::ErrorKind::AddrInUse
        | io::ErrorKind::AddrNotAvailable => {
            io::Error::new(e.kind(), explain_bind_error(listen, &e))
        }
        _ => e,
    }
}

/// The combined server taken apart by [`NetbootServer::into_parts`]: every
/// piece configured and wired to the shared plan, ready for a runtime.
pub struct NetbootParts {
    /// The bound BOOTP socket and its driver (the plan is its boot policy;
    /// its events feed the plan and the step callback).
    pub bootp: Option<(std::net::UdpSocket, BootpDriver<SharedPlan>)>,
    /// The TFTP server to build; its completions advance the plan.
    pub tftp: Option<TftpServer>,
    /// The FTP settings (root set) and the callback for finished transfers.
    pub ftp: Option<(FtpConfig, OnTransfer)>,
    /// Saves plan progress, when a progress file is configured.
    pub progress: Option<ProgressSaver>,
    /// The shared plan.
    pub plan: SharedPlan,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silenced_client_is_reported_once_until_it_is_answered_again() {
        let hw = HwAddr::ethernet([2, 0, 0, 0, 0, 1]);
        let other = HwAddr::ethernet([2, 0, 0, 0, 0, 2]);
        let mut quiet = QuietClients::default();
        let silenced = |hw| BootpEvent::Silenced { hw };
        assert!(quiet.report(&silenced(hw)));
        assert!(!quiet.report(&silenced(hw)));
        assert!(!quiet.report(&silenced(hw)));
        assert!(quiet.report(&silenced(other)));
        let offered = BootpEvent::Offered {
            hw,
            ip: Ipv4Addr::new(10, 0, 0, 100),
            file: Default::default(),
        };
        assert!(quiet.report(&offered));
        assert!(quiet.report(&silenced(hw)));
        assert!(!quiet.report(&silenced(other)));
    }
}
