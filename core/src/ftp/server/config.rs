//! Server policy: what a session allows and how long it waits.

use core::net::IpAddr;

use crate::time::Duration;

/// Policy shared by every session of a server.
///
/// ```
/// use netboot_core::ftp::server::ServerConfig;
/// use netboot_core::time::Duration;
///
/// let config = ServerConfig {
///     anonymous: true,
///     login_delay: Duration::from_millis(10),
///     ..ServerConfig::default()
/// };
/// assert_eq!(config.max_login_attempts, 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// Text of the `220` greeting.
    pub greeting: &'static str,
    /// Accept `USER anonymous` (or `ftp`) with any password, read-only.
    pub anonymous: bool,
    /// How long a failed `PASS` is held before its `530` is sent; the session
    /// reads nothing meanwhile.
    pub login_delay: Duration,
    /// Failed logins after which the session is closed with `421`.
    pub max_login_attempts: u8,
    /// A session with no command for this long is closed with `421`
    /// (suspended while a transfer runs).
    pub idle_timeout: Duration,
    /// How long to wait for a data connection, and for progress on one.
    pub data_timeout: Duration,
    /// The address announced in `227` replies instead of the control
    /// connection's local address (a NAT's public address).
    pub masquerade: Option<IpAddr>,
    /// Accept `PORT` and `EPRT` (active mode) at all.
    pub active: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            greeting: "netboot FTP server ready",
            anonymous: false,
            login_delay: Duration::from_secs(1),
            max_login_attempts: 3,
            idle_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(60),
            masquerade: None,
            active: true,
        }
    }
}
