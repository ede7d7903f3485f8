//! The provisioning client in one call: [`Provisioner::run`] drives the
//! core's [`Provision`](netboot_core::provision::Provision) machine over OS
//! sockets and returns its [`Report`].
//!
//! The flow (BOOTP, TFTP each stage, silence, manifest, FTP, digests) and
//! every decision in it belong to the core machine; this module binds the
//! BOOTP socket, opens a fresh TFTP socket per stage (bound to the address
//! BOOTP gave when this host has it, so that the server can tell whose
//! download it is), connects the FTP control and data connections, and
//! stores files under the output directory through a jailed
//! [`FsStore`](netboot_std::fs::FsStore): a stage or manifest file can never be
//! written outside it.

mod driver;

use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use netboot_core::bootp::HwAddr;
use netboot_core::provision::{Config, Event, Progress, Report};
use netboot_core::rng::Rng;
use netboot_core::time::Duration;

/// A callback for every event of the flow.
pub type OnEvent = Box<dyn FnMut(&Event) + Send>;

/// A callback for download progress.
pub type OnProgress = Box<dyn FnMut(Progress) + Send>;

/// The largest manifest accepted by default.
pub const MANIFEST_LIMIT: usize = 1 << 20;

/// Runs the provisioning flow for one machine.
///
/// ```no_run
/// use netboot_core::bootp::HwAddr;
/// use netboot_mio::provision::Provisioner;
///
/// let report = Provisioner::new("52:54:00:12:34:56".parse().unwrap(), "/var/lib/netboot")
///     .interface("eth0")
///     .run()
///     .unwrap();
/// for file in &report.files {
///     println!("{} {} bytes", file.path, file.bytes);
/// }
/// assert!(report.is_success());
/// ```
pub struct Provisioner {
    pub(crate) config: Config,
    pub(crate) out: PathBuf,
    pub(crate) interface: Option<String>,
    pub(crate) configure_address: bool,
    pub(crate) client_port: u16,
    pub(crate) manifest_limit: usize,
    pub(crate) on_event: Option<OnEvent>,
    pub(crate) on_progress: Option<OnProgress>,
    pub(crate) cancel: Option<Arc<AtomicBool>>,
}

impl Provisioner {
    /// A client with hardware address `hw`, storing everything under `out`
    /// (created if missing), with the core's defaults (BOOTP broadcast from
    /// port 68, standard ports, anonymous FTP).
    pub fn new(hw: HwAddr, out: impl AsRef<Path>) -> Self {
        Provisioner {
            config: Config::new(hw, Rng::new(netboot_std::os::os_seed())),
            out: out.as_ref().to_path_buf(),
            interface: None,
            configure_address: false,
            client_port: netboot_core::wire::bootp::CLIENT_PORT,
            manifest_limit: MANIFEST_LIMIT,
            on_event: None,
            on_progress: None,
            cancel: None,
        }
    }

    /// Every setting of the flow (timeouts, retries, TFTP options...).
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Sends BOOTP requests to this server instead of broadcasting.
    pub fn server(mut self, server: SocketAddrV4) -> Self {
        self.config.bootp_server = server;
        self
    }

    /// Broadcasts through (and binds every socket to) this interface.
    pub fn interface(mut self, name: impl Into<String>) -> Self {
        self.interface = Some(name.into());
        self
    }

    /// Gives the interface the address BOOTP assigns, as a DHCP client
    /// does, when the host does not have it yet: `ip addr replace` with the
    /// reply's subnet mask (and a host route to the server when it is
    /// outside that subnet). Needs [`Provisioner::interface`], the `ip`
    /// command (iproute2) and `CAP_NET_ADMIN`. The address is left in place
    /// afterwards, like a lease.
    pub fn configure_address(mut self, yes: bool) -> Self {
        self.configure_address = yes;
        self
    }

    /// The local BOOTP port (68; 0 for any, which only a unicast server
    /// can answer).
    pub fn client_port(mut self, port: u16) -> Self {
        self.client_port = port;
        self
    }

    /// The TFTP port of the boot server.
    pub fn tftp_port(mut self, port: u16) -> Self {
        self.config.tftp_port = port;
        self
    }

    /// The FTP port, when the address comes from BOOTP or the manifest
    /// names none.
    pub fn ftp_port(mut self, port: u16) -> Self {
        self.config.ftp_port = port;
        self
    }

    /// Fetches the manifest's files from this server, whatever the manifest
    /// says.
    pub fn ftp_server(mut self, addr: SocketAddr) -> Self {
        self.config.ftp_server = Some(addr);
        self
    }

    /// Logs in as `user` (anonymous by default); `Err` when too long.
    pub fn login(mut self, user: &str, password: &str) -> io::Result<Self> {
        self.config
            .login(user, password)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(self)
    }

    /// How long BOOTP must stay silent after a stage to end the boot phase.
    pub fn silence(mut self, d: std::time::Duration) -> Self {
        self.config.silence = Duration::from_micros(d.as_micros() as u64);
        self
    }

    /// How long to wait for a first BOOTP answer.
    pub fn first_answer(mut self, d: std::time::Duration) -> Self {
        self.config.first_answer = Duration::from_micros(d.as_micros() as u64);
        self
    }

    /// Asks with DHCP instead of plain BOOTP.
    pub fn dhcp(mut self, yes: bool) -> Self {
        self.config.dhcp = yes;
        self
    }

    /// Seeds the `xid`s and jitter (for reproducible runs).
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.rng = Rng::new(seed);
        self
    }

    /// The largest manifest accepted (1 MiB by default).
    pub fn manifest_limit(mut self, bytes: usize) -> Self {
        self.manifest_limit = bytes.max(1);
        self
    }

    /// Calls `f` with every event of the flow, as it happens.
    pub fn on_event(mut self, f: impl FnMut(&Event) + Send + 'static) -> Self {
        self.on_event = Some(Box::new(f));
        self
    }

    /// Calls `f` with the running download's progress (at most every
    /// 50 ms).
    pub fn on_progress(mut self, f: impl FnMut(Progress) + Send + 'static) -> Self {
        self.on_progress = Some(Box::new(f));
        self
    }

    /// Stops the flow (discarding partial files) when `flag` becomes true.
    pub fn cancel_on(mut self, flag: Arc<AtomicBool>) -> Self {
        self.cancel = Some(flag);
        self
    }

    /// Runs the flow to its end. `Err` only when it cannot start (the
    /// output directory, a socket that cannot be bound); a failure of the
    /// flow itself is in the report ([`Report::error`]).
    pub fn run(self) -> io::Result<Report> {
        driver::run(self)
    }
}
