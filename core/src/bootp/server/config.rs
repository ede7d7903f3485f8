//! The server's configuration: [`ServerConfig`], its checks
//! ([`ConfigError`]), and the sizes of the alias names and of the reply and
//! event queues.

use core::net::Ipv4Addr;

use crate::bootp::HwAddr;
use crate::bootp::hosts::FileName;
use crate::bootp::leases::TooSmall;
use crate::wire::bootp::SERVER_PORT;

/// The longest generic boot file name an alias maps.
pub const MAX_ALIAS: usize = 32;
/// Replies waiting for `poll_transmit` (including those held until the
/// state they report is saved, see [`Server::hold_until_saved`](super::Server::hold_until_saved)).
pub const REPLY_QUEUE: usize = 16;
/// Events waiting for `poll_event`; the oldest is dropped past this.
pub const EVENT_QUEUE: usize = 32;

/// Server-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The server's address on the client subnet: option 54, and the default
    /// `siaddr`.
    pub server_ip: Ipv4Addr,
    /// The subnet mask of the client subnet (option 1).
    pub netmask: Ipv4Addr,
    /// The default router (option 3).
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns: heapless::Vec<Ipv4Addr, 4>,
    /// Domain name (option 15).
    pub domain: heapless::String<63>,
    /// The dynamic pool, first and last address inclusive.
    pub pool: Option<(Ipv4Addr, Ipv4Addr)>,
    /// DHCP lease time in seconds (`u32::MAX`: infinite).
    pub lease_time: u32,
    /// How long an offered address stays reserved for the client, seconds.
    pub offer_hold: u32,
    /// How long a declined address stays out of the pool, seconds.
    pub decline_hold: u32,
    /// Give BOOTP clients without a fixed address a permanent pool address.
    pub bootp_dynamic: bool,
    /// Acknowledge requests for free addresses the server has no record of.
    pub authoritative: bool,
    /// Default `siaddr` (`None`: the server itself).
    pub next_server: Option<Ipv4Addr>,
    /// Default boot file.
    pub file: FileName,
    /// Option 43, sent when not empty.
    pub vendor_specific: heapless::Vec<u8, 255>,
    /// RFC 951 §4 generic names: a client asking for the first gets the
    /// second.
    pub aliases: heapless::Vec<(heapless::String<MAX_ALIAS>, FileName), 8>,
    /// Requests that crossed more relays than this are dropped.
    pub max_hops: u8,
    /// Port replies to relay agents go to.
    pub relay_port: u16,
    /// proxyDHCP (PXE 2.1 §2.2.3): answer only PXE clients (option 60
    /// `PXEClient`), with boot information and no address, and leave
    /// addresses to the network's own DHCP server. Needs no pool (and takes
    /// none).
    pub proxy: bool,
}

impl ServerConfig {
    /// Defaults for a server at `server_ip` on a subnet with `netmask`: no
    /// pool, one-hour leases, one-minute offer hold, ten-minute quarantine,
    /// at most 16 hops.
    ///
    /// ```
    /// use core::net::Ipv4Addr;
    /// use netboot_core::bootp::server::ServerConfig;
    ///
    /// let c = ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
    /// assert_eq!(c.broadcast(), Ipv4Addr::new(10, 0, 0, 255));
    /// assert!(c.on_subnet(Ipv4Addr::new(10, 0, 0, 77)));
    /// ```
    pub fn new(server_ip: Ipv4Addr, netmask: Ipv4Addr) -> Self {
        ServerConfig {
            server_ip,
            netmask,
            router: None,
            dns: heapless::Vec::new(),
            domain: heapless::String::new(),
            pool: None,
            lease_time: 3600,
            offer_hold: 60,
            decline_hold: 600,
            bootp_dynamic: false,
            authoritative: true,
            next_server: None,
            file: heapless::String::new(),
            vendor_specific: heapless::Vec::new(),
            aliases: heapless::Vec::new(),
            max_hops: 16,
            relay_port: SERVER_PORT,
            proxy: false,
        }
    }

    /// The subnet's broadcast address (option 28).
    pub fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.server_ip) | !u32::from(self.netmask))
    }

    /// True when `ip` is on the server's subnet.
    pub fn on_subnet(&self, ip: Ipv4Addr) -> bool {
        let mask = u32::from(self.netmask);
        u32::from(ip) & mask == u32::from(self.server_ip) & mask
    }

    pub(super) fn usable(&self, ip: Ipv4Addr) -> bool {
        self.on_subnet(ip)
            && ip != self.broadcast()
            && u32::from(ip) & !u32::from(self.netmask) != 0
    }
}

/// A configuration the server cannot run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The netmask is not a run of ones followed by zeros.
    #[error("netmask {0} is not contiguous")]
    BadNetmask(Ipv4Addr),
    /// A pool bound is outside the subnet (or is its network or broadcast
    /// address).
    #[error("pool address {0} is outside the server's subnet")]
    PoolOutsideSubnet(Ipv4Addr),
    /// The pool's last address comes before its first.
    #[error("pool ends at {last} before it starts at {first}")]
    PoolReversed {
        /// First address.
        first: Ipv4Addr,
        /// Last address.
        last: Ipv4Addr,
    },
    /// A host's fixed address is outside the subnet.
    #[error("host {index}: address {ip} is outside the server's subnet")]
    HostOutsideSubnet {
        /// The host's position in the table as given.
        index: usize,
        /// Its address.
        ip: Ipv4Addr,
    },
    /// Two hosts have the same hardware address.
    #[error("hosts {first} and {second} have the same hardware address {hw}")]
    DuplicateHw {
        /// The earlier host.
        first: usize,
        /// The later host.
        second: usize,
        /// The address.
        hw: HwAddr,
    },
    /// Two hosts have the same fixed address, or a host has the server's.
    #[error("hosts {first} and {second} have the same address {ip}")]
    DuplicateIp {
        /// The earlier host (`usize::MAX`: the server itself).
        first: usize,
        /// The later host.
        second: usize,
        /// The address.
        ip: Ipv4Addr,
    },
    /// A proxyDHCP server was given a pool: it hands out no addresses.
    #[error("a proxyDHCP server hands out no addresses: remove the pool")]
    ProxyWithPool,
    /// The lease storage is smaller than the pool.
    #[error(transparent)]
    LeaseStorage(#[from] TooSmall),
}
