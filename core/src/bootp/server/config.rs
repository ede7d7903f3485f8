//! The server's configuration: [`ServerConfig`], its checks
//! ([`ConfigError`]), and the sizes of the alias names and of the reply and
//! event queues.

use core::net::Ipv4Addr;

use crate::bootp::HwAddr;
use crate::bootp::hosts::FileName;
use crate::bootp::leases::TooSmall;
use crate::socket::Interface;
use crate::wire::bootp::SERVER_PORT;

/// The longest generic boot file name an alias maps.
pub const MAX_ALIAS: usize = 32;
/// Replies waiting for `poll_transmit` (including those held until the
/// state they report is saved, see [`Server::hold_until_saved`](super::Server::hold_until_saved)).
pub const REPLY_QUEUE: usize = 16;
/// Events waiting for `poll_event`; the oldest is dropped past this.
pub const EVENT_QUEUE: usize = 32;

/// Most subnets a server serves, its own included.
pub const MAX_SUBNETS: usize = 8;

/// What every served subnet has, the server's own and each other one: its
/// netmask and the network options, pool and lease time its clients get.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// The netmask (option 1).
    pub netmask: Ipv4Addr,
    /// The router (option 3).
    pub router: Option<Ipv4Addr>,
    /// DNS servers (option 6).
    pub dns: heapless::Vec<Ipv4Addr, 4>,
    /// The domain name (option 15).
    pub domain: heapless::String<63>,
    /// The dynamic pool, first and last address inclusive.
    pub pool: Option<(Ipv4Addr, Ipv4Addr)>,
    /// DHCP lease time in seconds (`u32::MAX`: infinite).
    pub lease_time: u32,
}

impl NetConfig {
    /// A subnet with `netmask`, no router, DNS, domain or pool, and
    /// one-hour leases.
    pub fn new(netmask: Ipv4Addr) -> Self {
        NetConfig {
            netmask,
            router: None,
            dns: heapless::Vec::new(),
            domain: heapless::String::new(),
            pool: None,
            lease_time: 3600,
        }
    }

    /// True when `a` and `b` are on the same subnet.
    fn same(&self, a: Ipv4Addr, b: Ipv4Addr) -> bool {
        let mask = u32::from(self.netmask);
        u32::from(a) & mask == u32::from(b) & mask
    }

    /// The broadcast address (option 28) of the subnet `ip` is on.
    fn broadcast_of(&self, ip: Ipv4Addr) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(ip) | !u32::from(self.netmask))
    }

    /// True when `ip` is a host address of the subnet `on` is on.
    fn usable(&self, on: Ipv4Addr, ip: Ipv4Addr) -> bool {
        self.same(on, ip)
            && ip != self.broadcast_of(on)
            && u32::from(ip) & !u32::from(self.netmask) != 0
    }
}

/// A subnet besides the server's own, with its own [`NetConfig`].
///
/// * Behind DHCP relay agents (RFC 1542 §4): a relayed request selects it
///   by its `giaddr`, the relay's address on the client's subnet.
/// * Local, on an interface of the server's host ([`Subnet::interface`]):
///   the server gets a BOOTP socket bound to that interface, and a request
///   that arrives on it without a relay is served from this subnet, with
///   [`Subnet::server`] as the server identifier, and answered through the
///   same socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subnet {
    /// An address of the subnet (the host bits are ignored).
    pub network: Ipv4Addr,
    /// Its netmask, router (usually the relay), DNS, domain, pool and
    /// lease time.
    pub net: NetConfig,
    /// The interface the subnet is on, when it is local to the server's
    /// host (`None`: behind relays).
    pub interface: Option<Interface>,
    /// The server's own address on the subnet (option 54 and the default
    /// `siaddr` of its clients); needed with `interface`. `None`: the
    /// server's main address.
    pub server: Option<Ipv4Addr>,
}

impl Subnet {
    /// The subnet of `network`/`netmask`, with no pool and one-hour leases.
    ///
    /// ```
    /// use core::net::Ipv4Addr;
    /// use netboot_core::bootp::server::Subnet;
    ///
    /// let s = Subnet::new(Ipv4Addr::new(10, 2, 0, 0), Ipv4Addr::new(255, 255, 255, 0));
    /// assert!(s.contains(Ipv4Addr::new(10, 2, 0, 1)) && !s.contains(Ipv4Addr::new(10, 3, 0, 1)));
    /// assert_eq!(s.broadcast(), Ipv4Addr::new(10, 2, 0, 255));
    /// ```
    pub fn new(network: Ipv4Addr, netmask: Ipv4Addr) -> Self {
        Subnet {
            network,
            net: NetConfig::new(netmask),
            interface: None,
            server: None,
        }
    }

    /// True when `ip` is on the subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.net.same(self.network, ip)
    }

    /// The subnet's broadcast address (option 28).
    pub fn broadcast(&self) -> Ipv4Addr {
        self.net.broadcast_of(self.network)
    }

    pub(super) fn usable(&self, ip: Ipv4Addr) -> bool {
        self.net.usable(self.network, ip)
    }
}

/// Server-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerConfig {
    /// The server's address on the client subnet: option 54, and the default
    /// `siaddr`.
    pub server_ip: Ipv4Addr,
    /// The client subnet's netmask, router, DNS, domain, pool and lease
    /// time.
    pub net: NetConfig,
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
    /// The subnets besides the server's own (whose settings are
    /// [`ServerConfig::net`]), behind relays or local to an interface of
    /// their own: subnet 1, 2, ... in this order.
    pub relayed: heapless::Vec<Subnet, { MAX_SUBNETS - 1 }>,
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
            net: NetConfig::new(netmask),
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
            relayed: heapless::Vec::new(),
        }
    }

    /// The subnet's broadcast address (option 28).
    pub fn broadcast(&self) -> Ipv4Addr {
        self.net.broadcast_of(self.server_ip)
    }

    /// True when `ip` is on the server's subnet.
    pub fn on_subnet(&self, ip: Ipv4Addr) -> bool {
        self.net.same(self.server_ip, ip)
    }

    pub(super) fn usable(&self, ip: Ipv4Addr) -> bool {
        self.net.usable(self.server_ip, ip)
    }

    /// The subnet a request relayed by `giaddr` belongs to: 0 for the
    /// server's own (also for an unrelayed request, or a relay on it), `n`
    /// for `relayed[n - 1]`, `None` for a subnet the server does not serve.
    ///
    /// ```
    /// use core::net::Ipv4Addr;
    /// use netboot_core::bootp::server::{ServerConfig, Subnet};
    ///
    /// let mut c = ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
    /// c.relayed.push(Subnet::new(Ipv4Addr::new(10, 2, 0, 0), Ipv4Addr::new(255, 255, 0, 0))).unwrap();
    /// assert_eq!(c.subnet_of_relay(Ipv4Addr::UNSPECIFIED), Some(0));
    /// assert_eq!(c.subnet_of_relay(Ipv4Addr::new(10, 2, 9, 1)), Some(1));
    /// assert_eq!(c.subnet_of_relay(Ipv4Addr::new(10, 3, 0, 1)), None);
    /// ```
    pub fn subnet_of_relay(&self, giaddr: Ipv4Addr) -> Option<usize> {
        if giaddr.is_unspecified() || self.on_subnet(giaddr) {
            return Some(0);
        }
        self.relayed
            .iter()
            .position(|s| s.contains(giaddr))
            .map(|i| i + 1)
    }

    /// The server's own address on subnet `subnet`: its [`Subnet::server`]
    /// when it has one, else [`ServerConfig::server_ip`].
    pub fn server_of(&self, subnet: usize) -> Ipv4Addr {
        subnet
            .checked_sub(1)
            .and_then(|i| self.relayed.get(i))
            .and_then(|s| s.server)
            .unwrap_or(self.server_ip)
    }

    /// Every local subnet on an interface of its own: its number (`n` for
    /// `relayed[n - 1]`) and the interface.
    pub fn local_subnets(&self) -> impl Iterator<Item = (usize, &Interface)> + '_ {
        self.relayed
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.interface.as_ref().map(|name| (i + 1, name)))
    }

    /// True when `ip` is a usable host address of subnet `subnet`.
    pub(super) fn usable_in(&self, subnet: usize, ip: Ipv4Addr) -> bool {
        match subnet {
            0 => self.usable(ip),
            n => self.relayed.get(n - 1).is_some_and(|s| s.usable(ip)),
        }
    }

    /// True when `ip` is on subnet `subnet`.
    pub(super) fn in_subnet(&self, subnet: usize, ip: Ipv4Addr) -> bool {
        match subnet {
            0 => self.on_subnet(ip),
            n => self.relayed.get(n - 1).is_some_and(|s| s.contains(ip)),
        }
    }

    /// Every subnet's pool, the server's own first (empty ones included,
    /// so that pool `n` is subnet `n`'s).
    pub fn pools(&self) -> impl Iterator<Item = Option<(Ipv4Addr, Ipv4Addr)>> + '_ {
        core::iter::once(self.net.pool).chain(self.relayed.iter().map(|s| s.net.pool))
    }

    /// The settings of subnet `subnet` (the server's own when it does not
    /// exist) and its broadcast address.
    pub(crate) fn net_of(&self, subnet: usize) -> (&NetConfig, Ipv4Addr) {
        match subnet.checked_sub(1).and_then(|i| self.relayed.get(i)) {
            Some(s) => (&s.net, s.broadcast()),
            None => (&self.net, self.broadcast()),
        }
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
    /// Two served subnets overlap (a relayed one includes the server's own
    /// or another).
    #[error("relayed subnet {0} overlaps another served subnet")]
    SubnetOverlaps(Ipv4Addr),
    /// A local subnet (one with an interface) has no server address of
    /// its own on it, or one that is not a host address of the subnet.
    #[error("subnet {0} on an interface needs the server's own address on it")]
    SubnetServer(Ipv4Addr),
    /// A subnet names the interface of an earlier one, or the main one's.
    #[error("subnet {0} is on an interface another subnet is on")]
    InterfaceTwice(Ipv4Addr),
    /// Subnets are on interfaces of their own but the main one is not: its
    /// socket, bound to no interface, would answer their clients too.
    #[error("subnets on interfaces of their own need the main subnet on an interface too")]
    MainInterfaceNeeded,
    /// A proxyDHCP server was given a pool: it hands out no addresses.
    #[error("a proxyDHCP server hands out no addresses: remove the pool")]
    ProxyWithPool,
    /// The lease storage is smaller than the pool.
    #[error(transparent)]
    LeaseStorage(#[from] TooSmall),
}
