//! The BOOTP/DHCP server machine.
//!
//! One host table and one optional pool serve both protocols:
//!
//! * **BOOTP** (RFC 951, RFC 1497): a BOOTREQUEST without option 53 gets a
//!   BOOTREPLY with the host's fixed address (or, with
//!   [`ServerConfig::bootp_dynamic`], a permanent pool address as dnsmasq's
//!   `--bootp-dynamic` does). A request whose vendor area starts with the
//!   magic cookie gets RFC 1497 options; any other vendor area has its first
//!   four bytes echoed and no options. A generic boot file name in the
//!   request's `file` is mapped to a full path through
//!   [`ServerConfig::aliases`] (RFC 951 §4).
//! * **DHCP** (RFC 2131): DISCOVER→OFFER; REQUEST→ACK or NAK in the
//!   selecting, init-reboot, renewing and rebinding states (§4.3.2);
//!   RELEASE; DECLINE, which quarantines the address for
//!   [`ServerConfig::decline_hold`]; INFORM, answered with configuration and
//!   no lease (§4.3.5). Offers and ACKs carry the lease time, T1 (½) and T2
//!   (⅞) and the server identifier.
//! * Every reply with an address carries `siaddr` and `file`. Options 66 and
//!   67 are added only when the client lists them in option 55 (dnsmasq's
//!   rule: some PXE ROMs break on them otherwise). Option 60 "PXEClient" is
//!   echoed only when option 43 is configured.
//! * Relay agents (RFC 1542): requests with more than
//!   [`ServerConfig::max_hops`] hops are dropped; replies to relayed
//!   requests go to `giaddr` on [`ServerConfig::relay_port`]. Pool addresses
//!   go only to clients on the server's own subnet (a relayed request from
//!   another subnet can still get a host's fixed address).
//! * Local subnets ([`Subnet::interface`]): a datagram the driver received
//!   on a local subnet's socket ([`Server::handle_datagram_on`]) without a
//!   relay is served from that subnet, with its [`Subnet::server`] as
//!   server identifier and default `siaddr`, and its reply leaves through
//!   the same socket ([`Server::poll_transmit_via`]).
//! * A boot policy's extra options ([`BootDecision::Boot`]) follow the
//!   server's own in every reply but a NAK; each replaces the server's
//!   option of the same code (see [`super::extra`]).
//! * Destinations (RFC 2131 §4.1, RFC 1542 §5.4): a client with `ciaddr`
//!   gets a unicast; a NAK without relay, and every reply to a client with
//!   no address yet, is broadcast to 255.255.255.255. RFC 2131 allows a
//!   unicast to `yiaddr` when the B flag is clear, but on a plain UDP socket
//!   that needs an ARP entry the adapter would have to install with
//!   privileges; broadcasting is what every client accepts, so this server
//!   always broadcasts there (a deliberate departure in favour of
//!   portability). Replies go to the port the request came from (68 for
//!   real clients), which lets tests run on high ports. A request that
//!   comes from a real source address (a client that already has one, or
//!   one on loopback) is answered by unicast to that address: the client
//!   can evidently receive there, and nothing is broadcast needlessly.
//!
//! The server is authoritative for its subnet (`ServerConfig::authoritative`,
//! on by default, as dnsmasq's `--dhcp-authoritative`): a REQUEST for an
//! address it has no record of but could give is acknowledged, so clients
//! keep their addresses across a server restart that lost its lease file;
//! an address that is wrong for the subnet or taken is NAKed.
//!
//! Leases live in a [`LeaseTable`] in caller storage. The server reports
//! [`Event::LeasesChanged`] whenever a lease worth keeping changed; the
//! adapter then saves [`Server::leases`] (see [`super::leasefile`]) and
//! gives them back with [`Server::restore`] at start.
//!
//! Which server and file a client boots is decided by a
//! [`BootPolicy`], which may also keep the server
//! silent towards a client; [`Server::hw_for_ip`] and [`Server::ip_for_hw`]
//! map between the two kinds of address for callers that only know one.

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use heapless::Deque;

use super::extra::ExtraOptions;
use super::hosts::{self, FileName, Host};
use super::leases::{Lease, LeaseSlot, LeaseState, LeaseTable};
use super::policy::{Boot, BootDecision, BootPolicy, BootRequest, DefaultPolicy, RequestKind};
use super::reply::{Reply, destination};
use super::{ClientKey, HwAddr};
use crate::Transmit;
use crate::time::{Duration, Instant};
use crate::wire::bootp::options::{self, MessageType};
use crate::wire::bootp::{Message, Op};

mod config;
mod event;

pub use config::{
    ConfigError, EVENT_QUEUE, MAX_ALIAS, MAX_SUBNETS, NetConfig, REPLY_QUEUE, ServerConfig, Subnet,
};
pub use event::{Event, IgnoreReason};

/// The port a reply leaves from: the one its request arrived on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyPort {
    /// The server port, 67 ([`Server::handle_datagram`]).
    Server,
    /// The PXE boot-server port, 4011 ([`Server::handle_pxe_datagram`]).
    BootServer,
}

/// Where a client's address comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Addr {
    Fixed(Ipv4Addr),
    Pool(usize),
}

/// The result of checking a DHCPREQUEST.
enum Verdict {
    Ack(Addr),
    Nak(&'static str),
    Silent(IgnoreReason),
}

struct Ctx {
    hw: HwAddr,
    key: ClientKey,
    host: Option<usize>,
    source: SocketAddrV4,
    /// The subnet the request came from (0: the server's own).
    subnet: usize,
    /// The local subnet whose socket received it (0: the main socket).
    via: usize,
}

/// The BOOTP/DHCP server machine.
///
/// `H` holds the host table, `L` the lease slots (one per pool address), `P`
/// decides boot assignments.
///
/// ```
/// use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
/// use netboot_core::bootp::hosts::Host;
/// use netboot_core::bootp::leases::LeaseSlot;
/// use netboot_core::bootp::server::{Event, Server, ServerConfig};
/// use netboot_core::time::Instant;
/// use netboot_core::wire::bootp::{options::OptionsWriter, Message, MessageType, Op, Repr, Vend};
///
/// let mut config = ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
/// config.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 109)));
/// config.file.push_str("boot.ipxe").unwrap();
/// let hosts: [Host; 0] = [];
/// let mut server = Server::new(config, hosts, [LeaseSlot::EMPTY; 10]).unwrap();
///
/// // A DHCPDISCOVER from a client on port 68.
/// let mut opts = [0u8; 16];
/// let mut w = OptionsWriter::new(&mut opts);
/// w.message_type(MessageType::Discover).unwrap();
/// let n = w.finish().unwrap();
/// let mut repr = Repr::new(Op::Request, 7, [2, 0, 0, 0, 0, 1]);
/// repr.vend = Vend::Options(&opts[..n]);
/// let mut request = [0u8; 300];
/// repr.emit(&mut request).unwrap();
///
/// let now = Instant::ZERO;
/// server.handle_datagram(now, SocketAddr::from(([0, 0, 0, 0], 68)), &request);
/// let mut buf = [0u8; 1500];
/// let t = server.poll_transmit(now, &mut buf).unwrap();
/// assert!(t.broadcast);
/// let offer = Message::new_checked(&buf[..t.len]).unwrap();
/// assert_eq!(offer.message_type(), Some(MessageType::Offer));
/// assert_eq!(offer.packet().yiaddr(), Ipv4Addr::new(10, 0, 0, 100));
/// assert_eq!(offer.file(), b"boot.ipxe");
/// assert!(matches!(server.poll_event(), Some(Event::Offered { .. })));
/// ```
pub struct Server<H, L, P = DefaultPolicy> {
    config: ServerConfig,
    hosts: H,
    leases: LeaseTable<L>,
    policy: P,
    /// Each reply with the state version that must be saved before it
    /// leaves (0: none).
    replies: Deque<(Reply, u64), REPLY_QUEUE>,
    events: Deque<Event, EVENT_QUEUE>,
    hold: bool,
    version: u64,
    saved: u64,
    /// Relays of subnets the server does not serve, each reported once.
    unknown_relays: heapless::Vec<Ipv4Addr, 16>,
}

impl<H, L> Server<H, L, DefaultPolicy>
where
    H: AsRef<[Host]> + AsMut<[Host]>,
    L: AsRef<[LeaseSlot]> + AsMut<[LeaseSlot]>,
{
    /// A server with the default boot policy. Checks the configuration and
    /// the host table (addresses on the subnet, no duplicate hardware or IP
    /// address) and sorts the table.
    pub fn new(config: ServerConfig, hosts: H, leases: L) -> Result<Self, ConfigError> {
        Self::with_policy(config, hosts, leases, DefaultPolicy)
    }
}

impl<H, L, P> Server<H, L, P>
where
    H: AsRef<[Host]> + AsMut<[Host]>,
    L: AsRef<[LeaseSlot]> + AsMut<[LeaseSlot]>,
    P: BootPolicy,
{
    /// A server whose boot assignments `policy` decides.
    pub fn with_policy(
        config: ServerConfig,
        hosts: H,
        leases: L,
        policy: P,
    ) -> Result<Self, ConfigError> {
        let (config, hosts, leases) = Self::checked(config, hosts, leases)?;
        Ok(Server {
            config,
            hosts,
            leases,
            policy,
            replies: Deque::new(),
            events: Deque::new(),
            hold: false,
            version: 0,
            saved: 0,
            unknown_relays: heapless::Vec::new(),
        })
    }

    /// Takes a new configuration, host table and lease storage while
    /// running (a configuration reload), keeping the boot policy, the
    /// queued replies and every lease that still fits: bound, released
    /// and declined leases are carried into the new table when their
    /// address is still in a pool and not now reserved (a new fixed host
    /// address, the server's or a router's); each one that is not is
    /// passed to `dropped` and forgotten (its client gets a new address
    /// when it next asks). Outstanding offers are forgotten too: the
    /// client's REQUEST for one is answered from the new pool. On an error
    /// nothing changes.
    pub fn reconfigure(
        &mut self,
        config: ServerConfig,
        hosts: H,
        leases: L,
        mut dropped: impl FnMut(&Lease),
    ) -> Result<(), ConfigError> {
        let (config, hosts, mut table) = Self::checked(config, hosts, leases)?;
        let mut changed = false;
        for lease in self.leases() {
            if !restore_into(&mut table, &lease) {
                dropped(&lease);
                changed = true;
            }
        }
        self.config = config;
        self.hosts = hosts;
        self.leases = table;
        self.unknown_relays.clear();
        if changed {
            self.note_state_change();
            let _ = self.events.push_back(Event::LeasesChanged);
        }
        Ok(())
    }

    /// Checks a configuration and host table (see [`Server::new`]) and
    /// lays out the lease table over `leases`.
    fn checked(
        config: ServerConfig,
        mut hosts: H,
        leases: L,
    ) -> Result<(ServerConfig, H, LeaseTable<L>), ConfigError> {
        let mask = u32::from(config.net.netmask);
        if mask.leading_ones() + mask.trailing_zeros() != 32 {
            return Err(ConfigError::BadNetmask(config.net.netmask));
        }
        for (i, sub) in config.relayed.iter().enumerate() {
            if let Some(name) = &sub.interface {
                let server_ok = sub.server.is_some_and(|ip| sub.usable(ip));
                if !server_ok {
                    return Err(ConfigError::SubnetServer(sub.network));
                }
                if config.relayed[..i]
                    .iter()
                    .any(|o| o.interface.as_ref() == Some(name))
                {
                    return Err(ConfigError::InterfaceTwice(sub.network));
                }
            }
            let mask = u32::from(sub.net.netmask);
            if mask.leading_ones() + mask.trailing_zeros() != 32 || mask == 0 {
                return Err(ConfigError::BadNetmask(sub.net.netmask));
            }
            let overlaps = |net: Ipv4Addr, other: Ipv4Addr| {
                let m = mask & u32::from(other);
                u32::from(net) & m == u32::from(sub.network) & m
            };
            if overlaps(config.server_ip, config.net.netmask)
                || config.relayed[..i]
                    .iter()
                    .any(|o| overlaps(o.network, o.net.netmask))
            {
                return Err(ConfigError::SubnetOverlaps(sub.network));
            }
            if let Some((first, last)) = sub.net.pool {
                for ip in [first, last] {
                    if !sub.contains(ip) || !config.usable_in(i + 1, ip) {
                        return Err(ConfigError::PoolOutsideSubnet(ip));
                    }
                }
                if u32::from(last) < u32::from(first) {
                    return Err(ConfigError::PoolReversed { first, last });
                }
            }
        }
        let served = |ip: Ipv4Addr| (0..=config.relayed.len()).any(|n| config.usable_in(n, ip));
        let list = hosts.as_ref();
        for (i, h) in list.iter().enumerate() {
            if let Some(ip) = h.ip {
                if !served(ip) {
                    return Err(ConfigError::HostOutsideSubnet { index: i, ip });
                }
                let mut servers = core::iter::once(config.server_ip)
                    .chain(config.relayed.iter().filter_map(|s| s.server));
                if servers.any(|server| server == ip) {
                    return Err(ConfigError::DuplicateIp {
                        first: usize::MAX,
                        second: i,
                        ip,
                    });
                }
            }
            for (j, g) in list[..i].iter().enumerate() {
                if g.hw == h.hw {
                    return Err(ConfigError::DuplicateHw {
                        first: j,
                        second: i,
                        hw: h.hw,
                    });
                }
                if let (Some(a), Some(b)) = (g.ip, h.ip)
                    && a == b
                {
                    return Err(ConfigError::DuplicateIp {
                        first: j,
                        second: i,
                        ip: a,
                    });
                }
            }
        }
        let (first, last) = match config.net.pool {
            Some((first, last)) => {
                for ip in [first, last] {
                    if !config.usable(ip) {
                        return Err(ConfigError::PoolOutsideSubnet(ip));
                    }
                }
                if u32::from(last) < u32::from(first) {
                    return Err(ConfigError::PoolReversed { first, last });
                }
                (first, last)
            }
            None => (Ipv4Addr::new(0, 0, 0, 1), Ipv4Addr::UNSPECIFIED),
        };
        if config.proxy && config.pools().any(|p| p.is_some()) {
            return Err(ConfigError::ProxyWithPool);
        }
        let empty = (Ipv4Addr::new(0, 0, 0, 1), Ipv4Addr::UNSPECIFIED);
        let mut ranges: heapless::Vec<(Ipv4Addr, Ipv4Addr), MAX_SUBNETS> = heapless::Vec::new();
        let _ = ranges.push((first, last));
        for sub in &config.relayed {
            let _ = ranges.push(sub.net.pool.unwrap_or(empty));
        }
        let mut leases = LeaseTable::with_ranges(leases, &ranges)?;
        hosts.as_mut().sort_unstable_by_key(|h| h.hw);
        for ip in hosts.as_ref().iter().filter_map(|h| h.ip) {
            leases.reserve(ip);
        }
        leases.reserve(config.server_ip);
        for ip in config.relayed.iter().filter_map(|s| s.server) {
            leases.reserve(ip);
        }
        let routers =
            core::iter::once(config.net.router).chain(config.relayed.iter().map(|s| s.net.router));
        for router in routers.flatten() {
            leases.reserve(router);
        }
        Ok((config, hosts, leases))
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The host table, sorted by hardware address.
    pub fn hosts(&self) -> &[Host] {
        self.hosts.as_ref()
    }

    /// The boot policy.
    pub fn policy(&self) -> &P {
        &self.policy
    }

    /// The boot policy, to change its state (advance a client's stage).
    pub fn policy_mut(&mut self) -> &mut P {
        &mut self.policy
    }

    /// The lease table.
    pub fn lease_table(&self) -> &LeaseTable<L> {
        &self.leases
    }

    /// Every lease worth keeping: bound, released and declined ones.
    pub fn leases(&self) -> impl Iterator<Item = Lease> + '_ {
        self.leases
            .iter()
            .filter(|l| l.state != LeaseState::Offered)
    }

    /// Restores a saved lease (at start-up). Leases for addresses that are
    /// no longer in the pool, or reserved, are refused with `false`.
    pub fn restore(&mut self, lease: &Lease) -> bool {
        restore_into(&mut self.leases, lease)
    }

    /// The hardware address of the client that has `ip` (fixed or leased),
    /// for attributing a transfer from `ip` to a machine.
    pub fn hw_for_ip(&self, ip: Ipv4Addr) -> Option<HwAddr> {
        if let Some(h) = self.hosts.as_ref().iter().find(|h| h.ip == Some(ip)) {
            return Some(h.hw);
        }
        let i = self.leases.index(ip)?;
        match self.leases.state(i).0 {
            LeaseState::Bound | LeaseState::Offered => self.leases.client(i).map(|(_, hw)| hw),
            _ => None,
        }
    }

    /// The address the client `hw` has (fixed, or its current lease).
    pub fn ip_for_hw(&self, hw: &HwAddr) -> Option<Ipv4Addr> {
        if let Some(ip) = hosts::find(self.hosts.as_ref(), hw).and_then(|h| h.ip) {
            return Some(ip);
        }
        let by_hw = self.leases.find(&ClientKey::hw(hw));
        let index = by_hw.or_else(|| {
            (0..self.leases.len()).find(|&i| self.leases.client(i).is_some_and(|(_, h)| h == *hw))
        })?;
        matches!(
            self.leases.state(index).0,
            LeaseState::Bound | LeaseState::Offered
        )
        .then(|| self.leases.ip(index))
    }

    /// Feeds one datagram received on the server port (67) from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.handle(now, from, bytes, false, 0);
    }

    /// Feeds one datagram received on the server port by the socket of
    /// local subnet `subnet` (`n` for `relayed[n - 1]`, one with an
    /// [`interface`](Subnet::interface)): a request without a relay is
    /// served from that subnet, and its reply leaves through the same
    /// socket ([`Server::poll_transmit_via`]). 0, or a subnet that is not
    /// local, is the main socket, as [`Server::handle_datagram`].
    pub fn handle_datagram_on(
        &mut self,
        now: Instant,
        subnet: usize,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        let local = if self.config.local_subnets().any(|(n, _)| n == subnet) {
            subnet
        } else {
            0
        };
        self.handle(now, from, bytes, false, local);
    }

    /// Feeds one datagram received on the PXE boot-server port
    /// ([`PXE_PORT`](crate::wire::bootp::PXE_PORT), 4011) from `from`: a
    /// PXE client that has its address asks where to boot from (PXE 2.1
    /// §2.2.4), and gets a DHCPACK with the boot file and no address,
    /// unicast back. Answered in every mode; a proxyDHCP server needs it.
    pub fn handle_pxe_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.handle(now, from, bytes, true, 0);
    }

    fn handle(
        &mut self,
        now: Instant,
        from: SocketAddr,
        bytes: &[u8],
        boot_server: bool,
        via: usize,
    ) {
        let msg = match Message::new_checked(bytes) {
            Ok(m) => m,
            Err(error) => return self.event(Event::Malformed { from, error }),
        };
        let hw = HwAddr::of(&msg);
        let p = msg.packet();
        if p.op() != Op::Request {
            return self.ignore(hw, IgnoreReason::NotARequest);
        }
        if p.hops() > self.config.max_hops {
            return self.ignore(hw, IgnoreReason::TooManyHops);
        }
        if self.replies.is_full() {
            return self.ignore(hw, IgnoreReason::Busy);
        }
        let relayed = if p.giaddr().is_unspecified() {
            Some(via)
        } else {
            self.config.subnet_of_relay(p.giaddr())
        };
        let subnet = match relayed {
            Some(n) => n,
            None if self.config.proxy || boot_server => 0,
            None => {
                let relay = p.giaddr();
                if !self.unknown_relays.contains(&relay) {
                    if self.unknown_relays.is_full() {
                        self.unknown_relays.remove(0);
                    }
                    let _ = self.unknown_relays.push(relay);
                    self.event(Event::UnknownSubnet { relay });
                }
                return self.ignore(hw, IgnoreReason::UnknownSubnet);
            }
        };
        let ctx = Ctx {
            subnet,
            via,
            hw,
            key: ClientKey::of(&msg),
            host: self.hosts.as_ref().binary_search_by(|h| h.hw.cmp(&hw)).ok(),
            source: match from {
                SocketAddr::V4(a) => a,
                SocketAddr::V6(a) => match a.ip().to_ipv4_mapped() {
                    Some(ip) => SocketAddrV4::new(ip, a.port()),
                    None => SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, a.port()),
                },
            },
        };
        let queued = self.replies.len();
        if boot_server || self.config.proxy {
            self.proxy(now, &msg, &ctx, boot_server);
            return;
        }
        match msg.message_type() {
            None => self.bootp(now, &msg, &ctx),
            Some(MessageType::Discover) => self.discover(now, &msg, &ctx),
            Some(MessageType::Request) => self.request(now, &msg, &ctx),
            Some(MessageType::Release) => self.release(&msg, &ctx),
            Some(MessageType::Decline) => self.decline(now, &msg, &ctx),
            Some(MessageType::Inform) => self.inform(now, &msg, &ctx),
            Some(_) => self.ignore(hw, IgnoreReason::NotARequest),
        }
        // An answer that hands out an address leaves only once the state
        // it reports (as changed by this request) is saved.
        let version = self.version;
        for (reply, needs) in self.replies.iter_mut().skip(queued) {
            let binds = match reply.kind {
                None => true,
                Some(MessageType::Ack) => !reply.yiaddr.is_unspecified(),
                Some(_) => false,
            };
            *needs = if binds { version } else { 0 };
        }
    }

    /// Holds every reply that hands out an address (DHCPACK, BOOTREPLY)
    /// until the state it reports has been saved, as
    /// [`Server::saved_through`] confirms: a client is never told of a
    /// lease a crash could lose. Off by default (nothing is saved).
    ///
    /// The state version moves on with every [`Event::LeasesChanged`] and
    /// every [`Server::note_state_change`]; a reply needs the version
    /// current when its request was handled.
    pub fn hold_until_saved(&mut self, hold: bool) {
        self.hold = hold;
    }

    /// The current state version (see [`Server::hold_until_saved`]).
    pub fn state_version(&self) -> u64 {
        self.version
    }

    /// Something else the replies report changed (a plan's progress):
    /// replies from now on wait for the next save.
    pub fn note_state_change(&mut self) {
        self.version += 1;
    }

    /// The state up to `version` is saved: the replies waiting for it may
    /// leave.
    pub fn saved_through(&mut self, version: u64) {
        self.saved = self.saved.max(version.min(self.version));
    }

    /// Replies waiting for a save.
    pub fn held(&self) -> usize {
        if !self.hold {
            return 0;
        }
        self.replies
            .iter()
            .filter(|(_, needs)| *needs > self.saved)
            .count()
    }

    /// The server has no timers (leases expire lazily); this is a no-op
    /// kept for the driving contract.
    pub fn handle_timeout(&mut self, _now: Instant) {}

    /// Always `None`: see [`Server::handle_timeout`].
    pub fn poll_timeout(&self) -> Option<Instant> {
        None
    }

    /// Writes the next reply into `buf` (1500 bytes is always enough).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.poll_transmit_from(now, buf).map(|(t, _)| t)
    }

    /// Like [`Server::poll_transmit`], with the port the reply leaves from:
    /// the one its request came in on.
    pub fn poll_transmit_from(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(Transmit, ReplyPort)> {
        self.poll_transmit_via(now, buf)
            .map(|(t, port, _)| (t, port))
    }

    /// Like [`Server::poll_transmit_from`], with the local subnet whose
    /// socket the request came in on (0: the main socket; see
    /// [`Server::handle_datagram_on`]): the reply leaves through it.
    pub fn poll_transmit_via(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
    ) -> Option<(Transmit, ReplyPort, usize)> {
        // Held replies are passed over; the others leave in order.
        for _ in 0..self.replies.len() {
            let Some((reply, needs)) = self.replies.pop_front() else {
                break;
            };
            if self.hold && needs > self.saved {
                let _ = self.replies.push_back((reply, needs));
                continue;
            }
            if let Some(len) = reply.emit(&self.config, self.hosts.as_ref(), buf) {
                let port = if reply.boot_server {
                    ReplyPort::BootServer
                } else {
                    ReplyPort::Server
                };
                let t = Transmit {
                    destination: SocketAddr::V4(reply.dest),
                    len,
                    source: None,
                    broadcast: reply.broadcast,
                };
                return Some((t, port, reply.via));
            }
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn event(&mut self, event: Event) {
        if event == Event::LeasesChanged {
            self.version += 1;
        }
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(event);
    }

    fn ignore(&mut self, hw: HwAddr, reason: IgnoreReason) {
        self.event(Event::Ignored { hw, reason });
    }

    fn host(&self, ctx: &Ctx) -> Option<&Host> {
        ctx.host.and_then(|i| self.hosts.as_ref().get(i))
    }

    /// True when pool addresses may go to this request's client: it is on
    /// our subnet (directly or through a relay on it).
    fn pool_serves(&self, ctx: &Ctx) -> bool {
        !self.leases.range_is_empty(ctx.subnet)
    }

    /// The client's pool slot, if it is in the subnet of this request.
    fn lease_here(&self, ctx: &Ctx) -> Option<usize> {
        self.leases
            .find(&ctx.key)
            .filter(|&i| self.leases.range_of(i) == Some(ctx.subnet))
    }

    /// The host entry's fixed address, when it is on this request's subnet.
    fn fixed(&self, ctx: &Ctx) -> Option<Ipv4Addr> {
        self.host(ctx)
            .and_then(|h| h.ip)
            .filter(|&ip| self.config.in_subnet(ctx.subnet, ip))
    }

    fn ip_of(&self, addr: Addr) -> Ipv4Addr {
        match addr {
            Addr::Fixed(ip) => ip,
            Addr::Pool(i) => self.leases.ip(i),
        }
    }

    /// The address to offer (RFC 2131 §4.3.1): the fixed one; else the
    /// client's current or previous lease; else the one it asks for, if
    /// free; else a new one.
    fn choose(&self, now: Instant, msg: &Message<'_>, ctx: &Ctx) -> Result<Addr, IgnoreReason> {
        if let Some(ip) = self.fixed(ctx) {
            return Ok(Addr::Fixed(ip));
        }
        if !self.pool_serves(ctx) {
            return Err(IgnoreReason::UnknownClient);
        }
        if let Some(i) = self.lease_here(ctx) {
            return Ok(Addr::Pool(i));
        }
        if let Some(i) = msg.requested_ip().and_then(|ip| self.leases.index(ip))
            && self.leases.range_of(i) == Some(ctx.subnet)
            && self.leases.available(i, now)
        {
            return Ok(Addr::Pool(i));
        }
        self.leases
            .pick_in(ctx.subnet, now)
            .map(Addr::Pool)
            .ok_or(IgnoreReason::PoolExhausted)
    }

    /// Checks the address a DHCPREQUEST asks for (RFC 2131 §4.3.2).
    fn verdict(&self, now: Instant, msg: &Message<'_>, ctx: &Ctx, requested: Ipv4Addr) -> Verdict {
        if let Some(ip) = self.fixed(ctx) {
            return if ip == requested {
                Verdict::Ack(Addr::Fixed(ip))
            } else {
                Verdict::Nak("wrong address for this client")
            };
        }
        if !self.config.in_subnet(ctx.subnet, requested)
            && (msg.packet().giaddr().is_unspecified() || ctx.subnet > 0)
        {
            return Verdict::Nak("wrong network");
        }
        if !self.pool_serves(ctx) {
            return Verdict::Silent(IgnoreReason::UnknownClient);
        }
        if let Some(i) = self.lease_here(ctx) {
            return if self.leases.ip(i) == requested {
                Verdict::Ack(Addr::Pool(i))
            } else {
                Verdict::Nak("address not leased to this client")
            };
        }
        match self.leases.index(requested) {
            Some(i) if self.leases.available(i, now) => {
                if self.config.authoritative {
                    Verdict::Ack(Addr::Pool(i))
                } else {
                    Verdict::Silent(IgnoreReason::NotOurs)
                }
            }
            Some(_) => Verdict::Nak("address in use"),
            None if self.config.authoritative => Verdict::Nak("address not in the pool"),
            None => Verdict::Silent(IgnoreReason::NotOurs),
        }
    }

    /// Works out the boot assignment and asks the policy. `None` means stay
    /// silent.
    fn boot(
        &mut self,
        now: Instant,
        msg: &Message<'_>,
        ctx: &Ctx,
        ip: Ipv4Addr,
        kind: RequestKind,
    ) -> Option<(Ipv4Addr, FileName, ExtraOptions)> {
        let host = ctx.host.and_then(|i| self.hosts.as_ref().get(i));
        let requested = msg.file();
        let alias = self
            .config
            .aliases
            .iter()
            .find(|(generic, _)| !requested.is_empty() && generic.as_bytes() == requested)
            .map(|(_, path)| path);
        let file = match (alias, host) {
            (Some(path), _) => path,
            (None, Some(h)) if !h.file.is_empty() => &h.file,
            _ => &self.config.file,
        };
        let next_server = host
            .and_then(|h| h.next_server)
            .or(self.config.next_server)
            .unwrap_or(self.config.server_of(ctx.subnet));
        let vendor_class = msg.vendor_class();
        let client_id = msg.client_id();
        let user_class = msg.get(options::USER_CLASS);
        let request = BootRequest {
            hw: ctx.hw,
            ip,
            kind,
            xid: msg.packet().xid(),
            requested_file: requested,
            vendor_class: vendor_class.as_deref(),
            arch: msg.client_arch(),
            client_id: client_id.as_deref(),
            user_class: user_class.as_deref(),
            ipxe_options: msg.has(options::IPXE),
            network: match msg.packet().giaddr() {
                Ipv4Addr::UNSPECIFIED => self.config.server_of(ctx.subnet),
                relay => relay,
            },
            default: Boot {
                next_server,
                file: file.as_str(),
            },
        };
        match self.policy.decide(now, &request) {
            BootDecision::Default => Some((next_server, file.clone(), ExtraOptions::new())),
            BootDecision::Boot {
                next_server,
                file,
                options,
            } => Some((next_server, file, options)),
            BootDecision::NoBoot => Some((next_server, FileName::new(), ExtraOptions::new())),
            BootDecision::Silent => None,
        }
    }

    fn reply(&mut self, msg: &Message<'_>, ctx: &Ctx, kind: Option<MessageType>) -> Reply {
        let p = msg.packet();
        let ciaddr = match kind {
            Some(MessageType::Offer | MessageType::Nak) => Ipv4Addr::UNSPECIFIED,
            _ => p.ciaddr(),
        };
        let (dest, broadcast) =
            destination(p.giaddr(), ciaddr, kind, ctx.source, self.config.relay_port);
        let mut vend_magic = [0u8; 4];
        let vend = p.vend();
        let n = vend.len().min(4);
        vend_magic[..n].copy_from_slice(&vend[..n]);
        // Every client takes a 576-byte datagram (RFC 1542 §2.1, RFC 2131
        // §2); a DHCP client may announce more with option 57. The limit
        // counts the IP and UDP headers.
        let max_len = match (kind, msg.max_message_size()) {
            (Some(_), Some(size)) => usize::from(size).max(576),
            _ => 576,
        } - 28;
        Reply {
            dest,
            broadcast,
            kind,
            cookie: p.has_cookie(),
            vend_magic,
            xid: p.xid(),
            flags: p.flags(),
            ciaddr,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: p.giaddr(),
            hw: ctx.hw,
            file: FileName::new(),
            host: ctx.host,
            lease: None,
            boot_options: msg.requests(crate::wire::bootp::options::TFTP_SERVER_NAME)
                || msg.requests(crate::wire::bootp::options::BOOTFILE_NAME),
            pxe: msg
                .vendor_class()
                .is_some_and(|v| v.starts_with(b"PXEClient")),
            http: msg
                .vendor_class()
                .is_some_and(|v| v.starts_with(b"HTTPClient")),
            proxy: false,
            boot_server: false,
            subnet: ctx.subnet,
            via: ctx.via,
            extra: ExtraOptions::new(),
            nak_message: "",
            max_len,
        }
    }

    fn send(&mut self, reply: Reply) {
        // Checked for room before any state changed.
        let _ = self.replies.push_back((reply, 0));
    }

    fn lease_for(&self, ctx: &Ctx) -> u32 {
        self.config.net_of(ctx.subnet).0.lease_time
    }

    fn expiry(now: Instant, secs: u32) -> Instant {
        if secs == u32::MAX {
            Instant::MAX
        } else {
            now + Duration::from_secs(u64::from(secs))
        }
    }

    fn bootp(&mut self, now: Instant, msg: &Message<'_>, ctx: &Ctx) {
        let addr = if let Some(ip) = self.fixed(ctx) {
            Addr::Fixed(ip)
        } else if self.config.bootp_dynamic && self.pool_serves(ctx) {
            match self
                .lease_here(ctx)
                .or_else(|| self.leases.pick_in(ctx.subnet, now))
            {
                Some(i) => Addr::Pool(i),
                None => return self.ignore(ctx.hw, IgnoreReason::PoolExhausted),
            }
        } else {
            return self.ignore(ctx.hw, IgnoreReason::UnknownClient);
        };
        let ip = self.ip_of(addr);
        let Some((next_server, file, extra)) = self.boot(now, msg, ctx, ip, RequestKind::Bootp)
        else {
            return self.event(Event::Silenced { hw: ctx.hw });
        };
        if let Addr::Pool(i) = addr {
            self.leases
                .assign(i, &ctx.key, &ctx.hw, LeaseState::Bound, Instant::MAX);
            self.event(Event::LeasesChanged);
        }
        let mut reply = self.reply(msg, ctx, None);
        reply.yiaddr = ip;
        reply.siaddr = next_server;
        reply.file = file.clone();
        reply.extra = extra;
        self.send(reply);
        self.event(Event::BootpReplied {
            hw: ctx.hw,
            ip,
            file,
            next_server,
        });
    }

    fn discover(&mut self, now: Instant, msg: &Message<'_>, ctx: &Ctx) {
        let addr = match self.choose(now, msg, ctx) {
            Ok(a) => a,
            Err(reason) => return self.ignore(ctx.hw, reason),
        };
        let ip = self.ip_of(addr);
        let Some((next_server, file, extra)) = self.boot(now, msg, ctx, ip, RequestKind::Discover)
        else {
            return self.event(Event::Silenced { hw: ctx.hw });
        };
        if let Addr::Pool(i) = addr {
            let (state, expires) = self.leases.state(i);
            let hold = now + Duration::from_secs(u64::from(self.config.offer_hold));
            if state == LeaseState::Bound
                && expires > now
                && self.leases.client(i).map(|c| c.0) == Some(ctx.key)
            {
                // Already bound to this client: keep the binding.
            } else {
                self.leases
                    .assign(i, &ctx.key, &ctx.hw, LeaseState::Offered, hold);
            }
        }
        let mut reply = self.reply(msg, ctx, Some(MessageType::Offer));
        reply.yiaddr = ip;
        reply.siaddr = next_server;
        reply.file = file.clone();
        reply.extra = extra;
        reply.lease = Some(self.lease_for(ctx));
        self.send(reply);
        self.event(Event::Offered {
            hw: ctx.hw,
            ip,
            file,
        });
    }

    fn request(&mut self, now: Instant, msg: &Message<'_>, ctx: &Ctx) {
        let p = msg.packet();
        if let Some(server_id) = msg.server_id()
            && server_id != self.config.server_of(ctx.subnet)
        {
            // The client took another server's offer: release ours.
            if let Some(i) = self.leases.find(&ctx.key)
                && self.leases.state(i).0 == LeaseState::Offered
            {
                self.leases.set_state(i, LeaseState::Released, now);
            }
            return self.ignore(ctx.hw, IgnoreReason::OtherServer);
        }
        let requested = match (msg.requested_ip(), p.ciaddr()) {
            (Some(ip), _) => ip,
            (None, ciaddr) if !ciaddr.is_unspecified() => ciaddr,
            _ => return self.ignore(ctx.hw, IgnoreReason::NoAddress),
        };
        match self.verdict(now, msg, ctx, requested) {
            Verdict::Silent(reason) => self.ignore(ctx.hw, reason),
            Verdict::Nak(message) => {
                let mut reply = self.reply(msg, ctx, Some(MessageType::Nak));
                reply.nak_message = message;
                self.send(reply);
                self.event(Event::Nak {
                    hw: ctx.hw,
                    requested,
                });
            }
            Verdict::Ack(addr) => {
                let ip = self.ip_of(addr);
                let Some((next_server, file, extra)) =
                    self.boot(now, msg, ctx, ip, RequestKind::Request)
                else {
                    return self.event(Event::Silenced { hw: ctx.hw });
                };
                let lease = self.lease_for(ctx);
                if let Addr::Pool(i) = addr {
                    self.leases.assign(
                        i,
                        &ctx.key,
                        &ctx.hw,
                        LeaseState::Bound,
                        Self::expiry(now, lease),
                    );
                    self.event(Event::LeasesChanged);
                }
                let mut reply = self.reply(msg, ctx, Some(MessageType::Ack));
                reply.yiaddr = ip;
                reply.siaddr = next_server;
                reply.file = file.clone();
                reply.extra = extra;
                reply.lease = Some(lease);
                self.send(reply);
                self.event(Event::Acked {
                    hw: ctx.hw,
                    ip,
                    file,
                    next_server,
                    lease,
                });
            }
        }
    }

    fn ours(&self, msg: &Message<'_>, ctx: &Ctx) -> bool {
        msg.server_id()
            .is_none_or(|id| id == self.config.server_of(ctx.subnet))
    }

    fn release(&mut self, msg: &Message<'_>, ctx: &Ctx) {
        let ip = msg.packet().ciaddr();
        if !self.ours(msg, ctx) {
            return self.ignore(ctx.hw, IgnoreReason::OtherServer);
        }
        match self.leases.find(&ctx.key) {
            Some(i) if self.leases.ip(i) == ip => {
                // Remembered, so the client gets the same address next time.
                self.leases
                    .set_state(i, LeaseState::Released, Instant::ZERO);
                self.event(Event::Released { hw: ctx.hw, ip });
                self.event(Event::LeasesChanged);
            }
            _ => self.ignore(ctx.hw, IgnoreReason::NotOurs),
        }
    }

    fn decline(&mut self, now: Instant, msg: &Message<'_>, ctx: &Ctx) {
        let Some(ip) = msg.requested_ip() else {
            return self.ignore(ctx.hw, IgnoreReason::NoAddress);
        };
        if !self.ours(msg, ctx) {
            return self.ignore(ctx.hw, IgnoreReason::OtherServer);
        }
        match self.leases.find(&ctx.key) {
            Some(i) if self.leases.ip(i) == ip => {
                let until = now + Duration::from_secs(u64::from(self.config.decline_hold));
                self.leases.quarantine(i, until);
                self.event(Event::Declined { hw: ctx.hw, ip });
                self.event(Event::LeasesChanged);
            }
            _ => self.ignore(ctx.hw, IgnoreReason::NotOurs),
        }
    }

    /// proxyDHCP and the PXE boot server: boot information for PXE
    /// clients, never an address. On port 67 a DHCPDISCOVER gets an OFFER
    /// without `yiaddr`; on port 4011 a DHCPREQUEST (or INFORM) from a
    /// client that has its address gets an ACK. Everything else is the
    /// network's DHCP server's.
    fn proxy(&mut self, now: Instant, msg: &Message<'_>, ctx: &Ctx, boot_server: bool) {
        let pxe = msg
            .vendor_class()
            .is_some_and(|v| v.starts_with(b"PXEClient"));
        if !pxe {
            return self.ignore(ctx.hw, IgnoreReason::NotPxe);
        }
        let kind = msg.message_type();
        if !boot_server
            && kind == Some(MessageType::Request)
            && let Some(ip) = msg.requested_ip()
        {
            // The client takes this address from the network's DHCP
            // server: downloads from it are this client's.
            self.policy.observe(now, ctx.hw, ip);
        }
        let (answer, request) = match (boot_server, kind) {
            (false, Some(MessageType::Discover)) => (MessageType::Offer, RequestKind::Discover),
            (true, Some(MessageType::Request)) => (MessageType::Ack, RequestKind::Request),
            (true, Some(MessageType::Inform)) => (MessageType::Ack, RequestKind::Inform),
            (true, Some(MessageType::Discover)) => (MessageType::Offer, RequestKind::Discover),
            _ => return self.ignore(ctx.hw, IgnoreReason::ForDhcpServer),
        };
        if boot_server
            && let Some(id) = msg.server_id()
            && id != self.config.server_of(ctx.subnet)
        {
            return self.ignore(ctx.hw, IgnoreReason::OtherServer);
        }
        let ip = msg.packet().ciaddr();
        let Some((next_server, file, extra)) = self.boot(now, msg, ctx, ip, request) else {
            return self.event(Event::Silenced { hw: ctx.hw });
        };
        if file.is_empty() {
            // Nothing to boot: a proxy with nothing to say stays silent.
            return self.ignore(ctx.hw, IgnoreReason::UnknownClient);
        }
        let mut reply = self.reply(msg, ctx, Some(answer));
        reply.proxy = true;
        reply.boot_server = boot_server;
        reply.siaddr = next_server;
        reply.file = file.clone();
        reply.extra = extra;
        self.send(reply);
        self.event(if answer == MessageType::Ack {
            Event::ProxyAcked {
                hw: ctx.hw,
                ip,
                file,
                next_server,
            }
        } else {
            Event::ProxyOffered {
                hw: ctx.hw,
                file,
                next_server,
            }
        });
    }

    fn inform(&mut self, now: Instant, msg: &Message<'_>, ctx: &Ctx) {
        let ip = msg.packet().ciaddr();
        if ip.is_unspecified() {
            return self.ignore(ctx.hw, IgnoreReason::NoAddress);
        }
        let Some((next_server, file, extra)) = self.boot(now, msg, ctx, ip, RequestKind::Inform)
        else {
            return self.event(Event::Silenced { hw: ctx.hw });
        };
        let mut reply = self.reply(msg, ctx, Some(MessageType::Ack));
        reply.siaddr = next_server;
        reply.file = file;
        reply.extra = extra;
        self.send(reply);
        self.event(Event::Informed { hw: ctx.hw, ip });
    }
}

/// Puts a saved (or carried-over) lease into `table`: `false` when its
/// address is not in the table's pools, is reserved, or the lease is not
/// one worth keeping.
fn restore_into<L>(table: &mut LeaseTable<L>, lease: &Lease) -> bool
where
    L: AsRef<[LeaseSlot]> + AsMut<[LeaseSlot]>,
{
    let Some(i) = table.index(lease.ip) else {
        return false;
    };
    if table.state(i).0 == LeaseState::Reserved {
        return false;
    }
    match lease.state {
        LeaseState::Bound | LeaseState::Released if !lease.client.is_empty() => {
            table.assign(i, &lease.client, &lease.hw, lease.state, lease.expires);
            true
        }
        LeaseState::Declined => {
            table.quarantine(i, lease.expires);
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests;
