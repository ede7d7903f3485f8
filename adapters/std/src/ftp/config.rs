//! Configuration of the FTP server: the `[ftp]` table of the TOML file.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// One account. The password is stored only as a PHC string (argon2 by
/// default, see [`super::auth`]); a plain password never appears in the file.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct FtpUser {
    /// Login name.
    pub name: String,
    /// The password hash as a PHC string (`$argon2id$v=19$m=...`).
    pub password_hash: String,
    /// The user's root: absolute, or relative to the server root; the
    /// server root when absent. The user can never leave it.
    #[serde(default)]
    pub root: Option<PathBuf>,
    /// May the user modify files? Defaults to the server's `writable`.
    #[serde(default)]
    pub writable: Option<bool>,
}

/// Everything the FTP server needs.
///
/// ```
/// use netboot_std::ftp::FtpConfig;
///
/// let config: FtpConfig = toml::from_str(r#"
///     root = "/srv/netboot"
///     listen = "127.0.0.1:2121"
///     anonymous = true
///     passive_ports = "50000-50100"
/// "#).unwrap();
/// assert_eq!(config.passive_ports().unwrap(), Some(50000..=50100));
/// ```
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FtpConfig {
    /// The served directory.
    pub root: PathBuf,
    /// Control-connection address.
    pub listen: SocketAddr,
    /// Allow anonymous, read-only logins (`USER anonymous` or `ftp`).
    pub anonymous: bool,
    /// Accounts.
    pub users: Vec<FtpUser>,
    /// Default write permission of accounts (anonymous is never writable).
    pub writable: bool,
    /// Passive ports, `"A-B"`; any free port when absent.
    pub passive_ports: Option<String>,
    /// Address announced in `227` replies (NAT).
    pub masquerade: Option<IpAddr>,
    /// Accept `PORT`/`EPRT`.
    pub active: bool,
    /// Most concurrent sessions; more get `421`.
    pub max_sessions: usize,
    /// Most concurrent sessions from one address; more get `421`.
    pub max_sessions_per_ip: usize,
    /// Milliseconds a failed login is held before `530`.
    pub login_delay_ms: u64,
    /// Failed logins before the session is closed.
    pub max_login_attempts: u8,
    /// Seconds without a command before a session is closed.
    pub idle_timeout_secs: u64,
    /// Seconds to wait for a data connection or for progress on it.
    pub data_timeout_secs: u64,
}

impl Default for FtpConfig {
    fn default() -> Self {
        FtpConfig {
            root: PathBuf::from("."),
            listen: SocketAddr::from(([0, 0, 0, 0], 21)),
            anonymous: false,
            users: Vec::new(),
            writable: false,
            passive_ports: None,
            masquerade: None,
            active: true,
            max_sessions: 4096,
            max_sessions_per_ip: 64,
            login_delay_ms: 1000,
            max_login_attempts: 3,
            idle_timeout_secs: 300,
            data_timeout_secs: 60,
        }
    }
}

/// A configuration value that makes no sense.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl FtpConfig {
    /// The passive port range, if one is configured.
    pub fn passive_ports(&self) -> Result<Option<RangeInclusive<u16>>, ConfigError> {
        let Some(text) = &self.passive_ports else {
            return Ok(None);
        };
        parse_port_range(text).map(Some)
    }

    /// The core's session policy.
    pub fn session_config(&self) -> netboot_core::ftp::server::ServerConfig {
        netboot_core::ftp::server::ServerConfig {
            anonymous: self.anonymous,
            login_delay: Duration::from_millis(self.login_delay_ms),
            max_login_attempts: self.max_login_attempts.max(1),
            idle_timeout: Duration::from_secs(self.idle_timeout_secs.max(1)),
            data_timeout: Duration::from_secs(self.data_timeout_secs.max(1)),
            masquerade: self.masquerade,
            active: self.active,
            ..Default::default()
        }
    }
}

/// Parses `"A-B"` (A ≤ B, both ≥ 1024).
///
/// ```
/// use netboot_std::ftp::config::parse_port_range;
/// assert_eq!(parse_port_range("50000-50010").unwrap(), 50000..=50010);
/// assert!(parse_port_range("10-20").is_err());
/// assert!(parse_port_range("6000-5000").is_err());
/// ```
pub fn parse_port_range(text: &str) -> Result<RangeInclusive<u16>, ConfigError> {
    let bad = || {
        ConfigError(format!(
            "passive ports {text:?}: expected A-B with 1024 <= A <= B <= 65535"
        ))
    };
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if a < 1024 || a > b {
        return Err(bad());
    }
    Ok(a..=b)
}
