//! Building the core [`NetbootServer`] on a host: the served directory, the
//! FTP accounts, and the state saved by an earlier run, from one
//! [`ServerSetup`].
//!
//! A runtime (mio, async-std) takes a setup, calls [`ServerSetup::prepare`]
//! and drives the [`Prepared`] server: everything here is the same for
//! every runtime, and none of it waits on a socket.
//!
//! * The root is opened once as a jailed [`FsStore`]; TFTP serves it, and
//!   so does anonymous FTP (users have their own roots, see [`Site`]).
//! * The lease and progress files, when configured, are read back
//!   ([`Prepared::warnings`] lists the lines that could not be), and the
//!   server is told to keep them: an address is acknowledged only once the
//!   state it reports is written ([`netboot_core::server::persist`]).

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::server::ServerConfig as BootpConfig;
use netboot_core::ftp::server::FastPaths;
use netboot_core::plan::{ProfileTable, Reset};
use netboot_core::server::{BootpSetup, NetbootConfig, NetbootServer, PLAN_CLIENTS, Persist};
use netboot_core::socket::Interface;
use netboot_core::tftp::EndpointConfig;

use crate::clock::Clock;
use crate::fs::FsStore;
use crate::ftp::FtpConfig;
use crate::ftp::site::Site;
use crate::host::Services;
use crate::state::StateFiles;

/// The server a std runtime runs.
pub type HostServer = NetbootServer<FsStore, Site>;

/// Everything a netboot server on a host is made of (a builder).
///
/// ```
/// use std::net::Ipv4Addr;
/// use netboot_core::bootp::server::ServerConfig;
/// use netboot_core::plan::{ProfileTable, Reset};
/// use netboot_std::clock::Clock;
/// use netboot_std::setup::ServerSetup;
///
/// let root = tempfile::tempdir().unwrap();
/// let mut plan = ProfileTable::new();
/// plan.set_default(&["stage1", "manifest"]).unwrap();
/// let mut bootp = ServerConfig::new(Ipv4Addr::LOCALHOST, Ipv4Addr::new(255, 0, 0, 0));
/// bootp.net.pool = Some((Ipv4Addr::new(127, 0, 9, 1), Ipv4Addr::new(127, 0, 9, 20)));
/// let prepared = ServerSetup::new(root.path())
///     .bootp(bootp)
///     .bootp_listen("127.0.0.1:0".parse().unwrap())
///     .tftp_listen("127.0.0.1:0".parse().unwrap())
///     .ftp_listen("127.0.0.1:0".parse().unwrap())
///     .plan(plan, Reset::Never)
///     .lease_file(root.path().join("leases"))
///     .prepare(&Clock::new())
///     .unwrap();
/// assert!(prepared.server.persist().leases);
/// assert!(prepared.warnings.is_empty());
/// ```
#[derive(Clone, Debug)]
pub struct ServerSetup {
    /// The served directory.
    pub root: PathBuf,
    /// BOOTP/DHCP, when served.
    pub bootp: Option<BootpSetup>,
    /// TFTP, when served: the listening addresses, the acceptor's policy,
    /// the transfer limit. An empty `listen` means `0.0.0.0:69`.
    pub tftp: Option<EndpointConfig>,
    /// FTP, when served (its `root` is the setup's).
    pub ftp: Option<FtpConfig>,
    /// Each client's stages.
    pub profiles: ProfileTable,
    /// When a finished client is served again.
    pub reset: Reset,
    /// Clients the plan tracks at once.
    pub plan_clients: usize,
    /// Where leases are kept across restarts.
    pub lease_file: Option<PathBuf>,
    /// Where plan progress is kept across restarts.
    pub progress_file: Option<PathBuf>,
    /// The FTP fast paths the runtime that drives the server takes over
    /// (`sendfile`, `splice`); none by default.
    pub fast_paths: FastPaths,
    /// Listening sockets handed over already bound (socket activation):
    /// the runtime uses one instead of binding a listener whose address is
    /// the socket's own.
    pub inherited: Vec<Inherited>,
}

/// A listening socket a server is given instead of binding it, such as one
/// systemd passed in (socket activation). The runtime takes the one whose
/// local address is the listener's: a BOOTP, proxyDHCP or TFTP listener
/// takes a UDP socket, FTP a TCP listener. Shared so that a
/// [`ServerSetup`] stays cheap to clone; the runtime duplicates the
/// descriptor.
#[derive(Clone, Debug)]
pub enum Inherited {
    /// A bound UDP socket.
    Udp(Arc<std::net::UdpSocket>),
    /// A listening TCP socket.
    Tcp(Arc<std::net::TcpListener>),
}

impl Inherited {
    /// Where the socket is bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Inherited::Udp(s) => s.local_addr(),
            Inherited::Tcp(l) => l.local_addr(),
        }
    }
}

impl ServerSetup {
    /// A server of `root`: TFTP on `0.0.0.0:69` and anonymous read-only FTP
    /// on `0.0.0.0:21`; BOOTP once [`ServerSetup::bootp`] gives it its
    /// subnet. Nobody is in the plan until [`ServerSetup::plan`].
    pub fn new(root: impl AsRef<Path>) -> Self {
        let root = root.as_ref().to_path_buf();
        ServerSetup {
            ftp: Some(FtpConfig {
                root: root.clone(),
                anonymous: true,
                ..FtpConfig::default()
            }),
            root,
            bootp: None,
            tftp: Some(EndpointConfig::new(Vec::new())),
            profiles: ProfileTable::new(),
            reset: Reset::Never,
            plan_clients: PLAN_CLIENTS,
            lease_file: None,
            progress_file: None,
            fast_paths: FastPaths::default(),
            inherited: Vec::new(),
        }
    }

    /// Runs BOOTP/DHCP with these settings, on `0.0.0.0:67` unless
    /// [`ServerSetup::bootp_listen`] says otherwise.
    pub fn bootp(mut self, config: BootpConfig) -> Self {
        let mut setup = BootpSetup::new(config);
        if let Some(old) = self.bootp.take() {
            setup.listen = old.listen;
            setup.interface = old.interface;
            setup.hosts = old.hosts;
            setup.pxe_listen = old.pxe_listen;
        }
        self.bootp = Some(setup);
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
        if let Some(b) = self.bootp.as_mut() {
            b.listen = addr;
        }
        self
    }

    /// Binds BOOTP to this interface and broadcasts through it.
    pub fn interface(mut self, name: &str) -> io::Result<Self> {
        let mut iface = Interface::new();
        iface.push_str(name).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface name {name:?} is longer than 15 bytes"),
            )
        })?;
        if let Some(b) = self.bootp.as_mut() {
            b.interface = Some(iface);
        }
        Ok(self)
    }

    /// No BOOTP.
    pub fn no_bootp(mut self) -> Self {
        self.bootp = None;
        self
    }

    /// A TFTP listening address (repeatable; replaces the default).
    pub fn tftp_listen(mut self, addr: SocketAddr) -> Self {
        if let Some(t) = self.tftp.as_mut() {
            t.listen.push(addr);
        }
        self
    }

    /// Adjusts the TFTP settings (option caps, uploads, limits, batching).
    pub fn tftp_config(mut self, f: impl FnOnce(&mut EndpointConfig)) -> Self {
        if let Some(t) = self.tftp.as_mut() {
            f(t);
        }
        self
    }

    /// No TFTP.
    pub fn no_tftp(mut self) -> Self {
        self.tftp = None;
        self
    }

    /// The FTP settings (users, passive ports...); the root is the setup's.
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

    /// The FTP fast paths the driving runtime offers (it then answers
    /// [`Event::SendFile`](netboot_core::server::Event::SendFile) and
    /// [`Event::Splice`](netboot_core::server::Event::Splice)).
    pub fn fast_paths(mut self, fast: FastPaths) -> Self {
        self.fast_paths = fast;
        self
    }

    /// Uses `socket` for the listener bound where it is (see [`Inherited`]);
    /// repeatable. Point the listener there too ([`ServerSetup::bootp_listen`],
    /// [`ServerSetup::tftp_listen`], [`ServerSetup::ftp_listen`]) when the
    /// configured address differs.
    pub fn inherited(mut self, socket: Inherited) -> Self {
        self.inherited.push(socket);
        self
    }

    /// Where the proxyDHCP (PXE boot-server) listener binds, when BOOTP runs
    /// as a proxy: by default port 4011 of BOOTP's address.
    pub fn pxe_listen(mut self, addr: SocketAddr) -> Self {
        if let Some(b) = self.bootp.as_mut() {
            b.pxe_listen = Some(addr);
        }
        self
    }

    /// Opens the root and the FTP roots, checks the accounts, reads the
    /// saved state and builds the server. Errors name their cause (a
    /// missing root, a malformed hash, an unreadable lease file, a bad
    /// subnet). Binds nothing: the server's first events ask for its
    /// sockets.
    pub fn prepare(self, clock: &Clock) -> io::Result<Prepared> {
        let now = clock.now();
        let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidInput, e);
        // TFTP serves the root itself: writable when it takes uploads (the
        // acceptor still refuses them unless its policy allows them).
        let writable = self.tftp.as_ref().is_some_and(|t| t.server.writable);
        let store = FsStore::open(&self.root, writable)
            .map_err(|e| io::Error::new(e.kind(), format!("root {}: {e}", self.root.display())))?;
        let (config, site, files) = self.core_config(clock)?;
        let (restored, warnings) = files.load(now)?;
        let server = NetbootServer::new(config, store, site, now, restored)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Prepared {
            server,
            files,
            warnings,
        })
    }

    /// Applies this setup to `server`, running since it was started from
    /// `running` (a configuration reload, see
    /// [`NetbootServer::reconfigure`]): the FTP accounts and roots are
    /// opened and checked again, and the core takes everything else. The
    /// served root, the lease and progress files, and TFTP uploads being
    /// turned on need a restart: they are kept as they are, and named in
    /// the returned list with what the core could not change either
    /// (listening addresses...). Errors (a missing FTP root, a malformed
    /// hash, a bad subnet) change nothing.
    pub fn reconfigure(
        self,
        running: &ServerSetup,
        server: &mut HostServer,
        clock: &Clock,
    ) -> io::Result<Vec<&'static str>> {
        let mut restart = Vec::new();
        if self.root != running.root {
            restart.push("root");
        }
        if self.lease_file != running.lease_file {
            restart.push("lease_file");
        }
        if self.progress_file != running.progress_file {
            restart.push("progress_file");
        }
        let uploads = self.tftp.as_ref().is_some_and(|t| t.server.writable);
        let read_only = server.tftp().is_some_and(|t| !t.store().writable());
        if uploads && read_only {
            restart.push("tftp writable");
        }
        let mut setup = self;
        setup.root = running.root.clone();
        let (mut config, site, _) = setup.core_config(clock)?;
        if let (Some(t), true) = (config.tftp.as_mut(), read_only) {
            // The root was opened read-only: uploads stay refused.
            t.server.writable = false;
        }
        config.persist = server.persist();
        let done = server
            .reconfigure(clock.now(), config, site)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        restart.extend(done.needs_restart);
        Ok(restart)
    }

    /// The core's configuration, the FTP site and the state files this
    /// setup describes (the root itself is not opened).
    fn core_config(self, clock: &Clock) -> io::Result<(NetbootConfig, Site, StateFiles)> {
        let (site, ftp) = match self.ftp {
            Some(mut config) => {
                config.root = self.root.clone();
                let site = Site::open(&config)?;
                let mut endpoint = site.endpoint_config(&config, clock.epoch_unix());
                endpoint.fast_paths = self.fast_paths;
                (site, Some(endpoint))
            }
            None => (Site::empty(), None),
        };
        let files = StateFiles {
            leases: self.lease_file.filter(|_| self.bootp.is_some()),
            progress: self.progress_file.filter(|_| self.bootp.is_some()),
        };
        let tftp = self.tftp.map(|mut t| {
            if t.listen.is_empty() {
                t.listen.push(SocketAddr::from((
                    Ipv4Addr::UNSPECIFIED,
                    netboot_core::tftp::PORT,
                )));
            }
            t
        });
        let config = NetbootConfig {
            bootp: self.bootp,
            tftp,
            ftp,
            profiles: self.profiles,
            reset: self.reset,
            plan_clients: self.plan_clients,
            persist: Persist {
                leases: files.leases.is_some(),
                progress: files.progress.is_some(),
            },
        };
        Ok((config, site, files))
    }
}

impl ServerSetup {
    /// What a std runtime starts from: [`ServerSetup::prepare`], with the
    /// unreadable lines of the state files logged as warnings, and the
    /// worker thread ([`Services`]) that saves those files and checks
    /// passwords, with the socket it writes to when an answer is ready.
    pub fn start(self, clock: &Clock) -> io::Result<(HostServer, Services, UnixStream)> {
        let Prepared {
            server,
            files,
            warnings,
        } = self.prepare(clock)?;
        for warning in &warnings {
            tracing::warn!("{warning}");
        }
        let (services, wake) = Services::start(files)?;
        Ok((server, services, wake))
    }
}

/// A server ready to run, with where it keeps its state.
#[derive(Debug)]
pub struct Prepared {
    /// The server.
    pub server: HostServer,
    /// Its lease and progress files.
    pub files: StateFiles,
    /// Lines of those files that could not be read (`path:line: why`).
    pub warnings: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tftp_root_is_writable_only_for_uploads_and_fast_paths_are_the_runtimes() {
        let root = tempfile::tempdir().unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let setup = ServerSetup::new(root.path())
            .tftp_listen(any)
            .ftp_listen(any);
        let read_only = setup.clone().prepare(&Clock::new()).unwrap();
        assert!(!read_only.server.tftp().unwrap().store().writable());
        assert_eq!(
            read_only.server.ftp().unwrap().config().fast_paths,
            FastPaths::default()
        );
        let fast = FastPaths {
            sendfile: true,
            splice: false,
        };
        let uploads = setup
            .tftp_config(|t| t.server.writable = true)
            .fast_paths(fast)
            .prepare(&Clock::new())
            .unwrap();
        assert!(uploads.server.tftp().unwrap().store().writable());
        assert_eq!(uploads.server.ftp().unwrap().config().fast_paths, fast);
    }
}
