//! What an FTP server serves and to whom: the opened roots, the accounts
//! with their password hashes, the passive port range and the session
//! policy, checked once from an [`FtpConfig`]. The mio service and the
//! async server of `netboot-async-std` are both built on one.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use netboot_core::ftp::server::{Accounts, EndpointConfig, FastPaths, ServerConfig};
use netboot_core::rng::Rng;

use super::auth;
use super::config::{ConfigError, FtpConfig};
use crate::fs::FsStore;

struct Account {
    hash: String,
    store: FsStore,
    writable: bool,
}

/// An FTP server's checked configuration (see the module docs).
pub struct Site {
    config: ServerConfig,
    anonymous_store: Option<FsStore>,
    accounts: HashMap<String, Account>,
    passive_ports: Option<RangeInclusive<u16>>,
}

impl Site {
    /// A site with no accounts and no anonymous access (a server without
    /// FTP).
    pub fn empty() -> Site {
        Site {
            config: ServerConfig::default(),
            anonymous_store: None,
            accounts: HashMap::new(),
            passive_ports: None,
        }
    }

    /// The core endpoint's configuration for `config`: its listener, the
    /// session policy, the limits, the passive ports, a passive-port seed
    /// from the OS and the wall clock for listings; no fast paths (the
    /// runtime says which it offers, see
    /// [`ServerSetup::fast_paths`](crate::setup::ServerSetup::fast_paths)).
    /// `epoch_unix` is the Unix time of the driving clock's epoch
    /// ([`Clock::epoch_unix`](crate::clock::Clock::epoch_unix)).
    pub fn endpoint_config(&self, config: &FtpConfig, epoch_unix: u64) -> EndpointConfig {
        let mut c = EndpointConfig::new(config.listen, self.config);
        c.max_sessions = config.max_sessions.max(1);
        c.max_sessions_per_ip = config.max_sessions_per_ip.max(1);
        c.passive_ports = self.passive_ports.as_ref().map(|r| (*r.start(), *r.end()));
        c.seed = Site::seed();
        c.epoch_unix = Some(epoch_unix);
        c.fast_paths = FastPaths {
            sendfile: cfg!(target_os = "linux"),
            splice: cfg!(target_os = "linux"),
        };
        c
    }

    /// Opens the roots and checks the accounts; errors (a missing root, a
    /// malformed hash, a bad port range) name their cause.
    pub fn open(config: &FtpConfig) -> io::Result<Site> {
        let invalid = |e: ConfigError| io::Error::new(io::ErrorKind::InvalidInput, e.0);
        let passive_ports = config.passive_ports().map_err(invalid)?;
        let root = FsStore::open(&config.root, false).map_err(|e| {
            io::Error::new(e.kind(), format!("FTP root {}: {e}", config.root.display()))
        })?;
        let mut accounts = HashMap::new();
        for user in &config.users {
            auth::check_hash(&user.password_hash).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("user {}: {e}", user.name),
                )
            })?;
            let writable = user.writable.unwrap_or(config.writable);
            let path = match user.root.as_deref() {
                None => config.root.clone(),
                Some(p) if p.is_absolute() => p.to_path_buf(),
                Some(p) => config.root.join(p),
            };
            let store = FsStore::open(&path, writable).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("root of user {} ({}): {e}", user.name, path.display()),
                )
            })?;
            accounts.insert(
                user.name.clone(),
                Account {
                    hash: user.password_hash.clone(),
                    store,
                    writable,
                },
            );
        }
        Ok(Site {
            config: config.session_config(),
            anonymous_store: config.anonymous.then_some(root),
            accounts,
            passive_ports,
        })
    }

    /// The per-session policy handed to the core.
    pub fn session_config(&self) -> &ServerConfig {
        &self.config
    }

    /// The stored password hash of `user` (`None`: no such account; check
    /// against a dummy hash anyway, so timing does not tell).
    pub fn password_hash(&self, user: &str) -> Option<String> {
        self.accounts.get(user).map(|a| a.hash.clone())
    }

    /// True when `user` may modify their store.
    pub fn writable(&self, user: &str) -> bool {
        self.accounts.get(user).is_some_and(|a| a.writable)
    }

    /// A handle on the store a logged-in session serves from.
    pub fn store_for(&self, user: &str, anonymous: bool) -> Option<FsStore> {
        let store = if anonymous {
            self.anonymous_store.as_ref()
        } else {
            self.accounts.get(user).map(|a| &a.store)
        };
        store.and_then(|s| s.try_clone().ok())
    }

    /// The configured passive port range.
    pub fn passive_ports(&self) -> Option<RangeInclusive<u16>> {
        self.passive_ports.clone()
    }

    /// A seed for the passive-port PRNG, from the operating system's
    /// random source: passive ports must not be predictable.
    pub fn seed() -> u64 {
        crate::os::os_seed()
    }
}

/// A bound TCP listener for `addr` with a deep backlog (the kernel clamps
/// it to `somaxconn`): when the accept queue overflows, Linux drops the
/// client's final ACK and the client waits for a greeting that never comes.
/// Non-blocking.
pub fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    if addr.is_ipv6() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

/// A passive listener on `ip`: a port from `range` (tried from a random
/// start) or any free port. Non-blocking.
pub fn listen_passive(
    ip: IpAddr,
    range: Option<RangeInclusive<u16>>,
    rng: &mut Rng,
) -> io::Result<std::net::TcpListener> {
    let bind = |port| {
        let l = std::net::TcpListener::bind(SocketAddr::new(ip, port))?;
        l.set_nonblocking(true)?;
        Ok(l)
    };
    let Some(range) = range else {
        return bind(0);
    };
    let (lo, hi) = (*range.start(), *range.end());
    let span = u64::from(hi - lo) + 1;
    let first = rng.below(span);
    let mut last = io::Error::new(io::ErrorKind::AddrInUse, "no free passive port");
    for i in 0..span {
        let port = lo + ((first + i) % span) as u16;
        match bind(port) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// Wall-clock seconds for listing dates.
pub fn unix_now() -> Option<u64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// The core FTP endpoint serves each user from their own jailed root.
impl Accounts for Site {
    type Store = FsStore;

    fn open_store(&mut self, user: &str, anonymous: bool) -> Option<FsStore> {
        self.store_for(user, anonymous)
    }

    fn writable(&self, user: &str) -> bool {
        Site::writable(self, user)
    }
}
