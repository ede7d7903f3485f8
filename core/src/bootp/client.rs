//! The BOOTP/DHCP client machine.
//!
//! It asks once for an address and a boot file and reports what it got:
//!
//! * plain BOOTP (RFC 951 §7.1, RFC 1497): one BOOTREQUEST with the magic
//!   cookie, retransmitted until a BOOTREPLY with our `xid` and `chaddr`
//!   arrives;
//! * DHCP (RFC 2131 §4.4): DHCPDISCOVER, the first DHCPOFFER, DHCPREQUEST
//!   for it, DHCPACK. A DHCPNAK sends it back to DISCOVER, and so does a
//!   DHCPREQUEST that got neither DHCPACK nor DHCPNAK after every attempt
//!   (RFC 2131 §3.1 step 5, §4.4.1: the client "reverts to INIT state and
//!   restarts the initialization process"); at most [`MAX_RESTARTS`] times
//!   in all. A plain BOOTP reply to the DISCOVER, from a server that only
//!   speaks BOOTP, is accepted as the answer.
//!
//! Retransmission (RFC 951 §7.2, RFC 2131 §4.1): the n-th wait is
//! `initial_timeout · 2ⁿ`, capped at `max_timeout`, plus a uniform jitter
//! of ±`jitter` from the configuration's seeded [`Rng`]. The `xid` stays the
//! same across retransmissions of one exchange (a fresh one after a NAK);
//! `secs` counts whole seconds since the first request. After
//! `attempts` requests without an answer the machine reports
//! [`Event::TimedOut`] and stops (a DHCPREQUEST exchange starts again from
//! DISCOVER first, while restarts are left).
//!
//! The request carries the broadcast flag by default: a client with no
//! address cannot receive a unicast on an ordinary UDP socket.
//!
//! The assignment ([`Assignment`]) borrows the accepted reply, kept in a
//! bounded buffer of [`MAX_REPLY`] bytes (larger replies are ignored).

use core::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use super::HwAddr;
use super::hosts::FileName;
use crate::Transmit;
use crate::rng::Rng;
use crate::time::{Duration, Instant};
use crate::wire::bootp::options::{self, MessageType, OptionsWriter, Value};
use crate::wire::bootp::{FLAG_BROADCAST, Message, Op, Repr, SERVER_PORT, Vend};

/// The largest reply the client keeps (an Ethernet frame's UDP payload).
pub const MAX_REPLY: usize = 1472;
/// How often a NAK or an unanswered DHCPREQUEST may send the client back
/// to DISCOVER.
pub const MAX_RESTARTS: u32 = 3;
/// Most bytes of extra options ([`ClientConfig::options`]) a request
/// carries, encoded.
pub const MAX_OPTIONS: usize = 96;

/// The extra options do not fit in [`MAX_OPTIONS`] bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the extra options exceed {MAX_OPTIONS} bytes")]
pub struct OptionsFull;

/// How the client asks.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Our hardware address (`chaddr`).
    pub hw: HwAddr,
    /// DHCP (DISCOVER/REQUEST) instead of plain BOOTP.
    pub dhcp: bool,
    /// Where requests go: 255.255.255.255:67 by default, or a server.
    pub server: SocketAddrV4,
    /// Set the broadcast flag so that replies come back broadcast.
    pub broadcast_flag: bool,
    /// Our address, if we have one (`ciaddr`).
    pub ciaddr: Ipv4Addr,
    /// The generic boot file name to ask for (RFC 951 §4); empty for none.
    pub file: FileName,
    /// Option 60.
    pub vendor_class: heapless::Vec<u8, 64>,
    /// Option 55 (DHCP only).
    pub parameter_list: heapless::Vec<u8, 32>,
    /// Further options, encoded (code, length, value), appended as they
    /// are to every request: what a firmware says about itself, such as
    /// its architecture (93), user class (77) or iPXE's encapsulated
    /// options (175). Add them with [`ClientConfig::push_option`], which
    /// keeps the encoding well formed.
    pub options: heapless::Vec<u8, MAX_OPTIONS>,
    /// First retransmission timeout.
    pub initial_timeout: Duration,
    /// Longest retransmission timeout.
    pub max_timeout: Duration,
    /// Random spread added to or taken from each timeout.
    pub jitter: Duration,
    /// Requests sent (per exchange) before giving up.
    pub attempts: u32,
    /// Source of the `xid` and the jitter.
    pub rng: Rng,
}

impl ClientConfig {
    /// RFC 2131 defaults: broadcast to port 67, 4 s doubling to 64 s with
    /// ±1 s of jitter, 5 attempts, and a parameter request list for the
    /// network and boot options.
    ///
    /// ```
    /// use netboot_core::bootp::{client::ClientConfig, HwAddr};
    /// use netboot_core::rng::Rng;
    ///
    /// let c = ClientConfig::new(HwAddr::ethernet([2, 0, 0, 0, 0, 1]), Rng::new(7));
    /// assert_eq!(c.server.to_string(), "255.255.255.255:67");
    /// assert!(c.parameter_list.contains(&67));
    /// ```
    pub fn new(hw: HwAddr, rng: Rng) -> Self {
        let mut parameter_list = heapless::Vec::new();
        let _ =
            parameter_list.extend_from_slice(&[1, 3, 6, 12, 15, 28, 43, 51, 54, 58, 59, 66, 67]);
        ClientConfig {
            hw,
            dhcp: false,
            server: SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
            broadcast_flag: true,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            file: FileName::new(),
            vendor_class: heapless::Vec::new(),
            parameter_list,
            options: heapless::Vec::new(),
            initial_timeout: Duration::from_secs(4),
            max_timeout: Duration::from_secs(64),
            jitter: Duration::from_secs(1),
            attempts: 5,
            rng,
        }
    }

    /// Appends option `code` with `value` to [`ClientConfig::options`]
    /// (split into instances of at most 255 bytes, RFC 3396); nothing is
    /// added when it does not fit.
    ///
    /// ```
    /// use netboot_core::bootp::{client::{Client, ClientConfig}, HwAddr};
    /// use netboot_core::rng::Rng;
    /// use netboot_core::time::Instant;
    /// use netboot_core::wire::bootp::{options, Message};
    ///
    /// // A UEFI x64 PXE ROM chainloaded into iPXE describes itself so.
    /// let mut c = ClientConfig::new(HwAddr::ethernet([2, 0, 0, 0, 0, 1]), Rng::new(7));
    /// c.vendor_class.extend_from_slice(b"PXEClient:Arch:00007:UNDI:003000").unwrap();
    /// c.push_option(options::CLIENT_ARCH, &7u16.to_be_bytes()).unwrap();
    /// c.push_option(options::USER_CLASS, b"iPXE").unwrap();
    /// c.push_option(options::IPXE, &[19, 1, 1]).unwrap();
    /// assert!(c.push_option(options::IPXE, &[0; 200]).is_err());
    ///
    /// let mut client = Client::new(c, Instant::ZERO).unwrap();
    /// let mut buf = [0u8; 1500];
    /// let t = client.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    /// let request = Message::new_checked(&buf[..t.len]).unwrap();
    /// assert_eq!(request.client_arch(), Some(7));
    /// assert_eq!(request.get(options::USER_CLASS).as_deref(), Some(&b"iPXE"[..]));
    /// assert!(request.has(options::IPXE));
    /// ```
    pub fn push_option(&mut self, code: u8, value: &[u8]) -> Result<(), OptionsFull> {
        push_option(&mut self.options, code, value)
    }
}

/// Appends option `code` with `value`, encoded, to `options` (see
/// [`ClientConfig::push_option`]); nothing is added when it does not fit.
pub fn push_option(
    options: &mut heapless::Vec<u8, MAX_OPTIONS>,
    code: u8,
    value: &[u8],
) -> Result<(), OptionsFull> {
    let mut encoded = [0u8; MAX_OPTIONS];
    let mut w = OptionsWriter::new(&mut encoded);
    w.push(code, value).map_err(|_| OptionsFull)?;
    let n = w.len();
    options
        .extend_from_slice(&encoded[..n])
        .map_err(|_| OptionsFull)
}

/// A client configuration that cannot work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// `attempts` is zero.
    #[error("at least one attempt is needed")]
    NoAttempts,
    /// `initial_timeout` is zero.
    #[error("the retransmission timeout must be positive")]
    ZeroTimeout,
}

/// What the client got.
#[derive(Clone, Debug)]
pub struct Assignment<'a> {
    /// The accepted reply, for every other option.
    pub message: Message<'a>,
    /// Our address (`yiaddr`).
    pub ip: Ipv4Addr,
    /// Option 1.
    pub netmask: Option<Ipv4Addr>,
    /// The first router of option 3.
    pub router: Option<Ipv4Addr>,
    /// The server to boot from: `siaddr`, else option 66 if it is an
    /// address, else option 54, else the reply's source.
    pub server: Option<Ipv4Addr>,
    /// The boot file: `file`, else option 67.
    pub file: Option<Value<'a>>,
    /// Option 51, in seconds.
    pub lease_time: Option<u32>,
    /// True when the reply was a DHCPACK, false for a BOOTP reply.
    pub dhcp: bool,
    /// The exchange's `xid`.
    pub xid: u32,
}

/// What happened.
// An assignment's boot file may be a joined option held inline: the size is
// bounded and needs no allocator.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// An address was assigned; the machine is done.
    Assigned(Assignment<'a>),
    /// A DHCPOFFER arrived and the client requests it.
    Offered {
        /// The offered address.
        ip: Ipv4Addr,
        /// The offering server (option 54).
        server: Ipv4Addr,
    },
    /// A DHCPNAK sent the client back to DISCOVER.
    Nak {
        /// The server that refused (option 54, if sent).
        server: Option<Ipv4Addr>,
    },
    /// The DHCPREQUEST for `ip` got neither DHCPACK nor DHCPNAK after every
    /// attempt: the client starts again from DISCOVER with a new `xid`
    /// (RFC 2131 §4.4.1).
    Unanswered {
        /// The address requested.
        ip: Ipv4Addr,
    },
    /// No usable answer after every attempt; the machine is done.
    TimedOut {
        /// Requests sent in the last exchange.
        attempts: u32,
    },
    /// Too many NAKs; the machine is done.
    Refused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Bootp,
    Discover,
    Request { ip: Ipv4Addr, server: Ipv4Addr },
    Done,
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Assigned,
    Offered(Ipv4Addr, Ipv4Addr),
    Nak(Option<Ipv4Addr>),
    Unanswered(Ipv4Addr),
    TimedOut(u32),
    Refused,
}

/// The client machine.
///
/// ```
/// use netboot_core::bootp::{client::{Client, ClientConfig, Event}, HwAddr};
/// use netboot_core::rng::Rng;
/// use netboot_core::time::{Duration, Instant};
///
/// let mut config = ClientConfig::new(HwAddr::ethernet([2, 0, 0, 0, 0, 1]), Rng::new(7));
/// config.attempts = 2;
/// let mut client = Client::new(config, Instant::ZERO).unwrap();
/// let mut buf = [0u8; 1500];
/// let t = client.poll_transmit(Instant::ZERO, &mut buf).unwrap();
/// assert!(t.broadcast);
/// // Nobody answers.
/// while let Some(deadline) = client.poll_timeout() {
///     client.handle_timeout(deadline);
///     let _ = client.poll_transmit(deadline, &mut buf);
/// }
/// assert!(matches!(client.poll_event(), Some(Event::TimedOut { attempts: 2 })));
/// ```
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    phase: Phase,
    xid: u32,
    started: Instant,
    sent: u32,
    restarts: u32,
    send_now: bool,
    deadline: Option<Instant>,
    reply: heapless::Vec<u8, MAX_REPLY>,
    reply_from: Option<Ipv4Addr>,
    events: heapless::Deque<Pending, 4>,
}

impl Client {
    /// A client that sends its first request at the next `poll_transmit`.
    pub fn new(mut config: ClientConfig, now: Instant) -> Result<Client, ClientError> {
        if config.attempts == 0 {
            return Err(ClientError::NoAttempts);
        }
        if config.initial_timeout.is_zero() {
            return Err(ClientError::ZeroTimeout);
        }
        let xid = config.rng.next_u32();
        let phase = if config.dhcp {
            Phase::Discover
        } else {
            Phase::Bootp
        };
        Ok(Client {
            config,
            phase,
            xid,
            started: now,
            sent: 0,
            restarts: 0,
            send_now: true,
            deadline: None,
            reply: heapless::Vec::new(),
            reply_from: None,
            events: heapless::Deque::new(),
        })
    }

    /// The current exchange's `xid`.
    pub fn xid(&self) -> u32 {
        self.xid
    }

    /// True once assigned, timed out or refused.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Done | Phase::Failed)
    }

    /// The assignment, once there is one.
    pub fn assignment(&self) -> Option<Assignment<'_>> {
        if self.phase != Phase::Done {
            return None;
        }
        let message = Message::new_checked(&self.reply).ok()?;
        let p = message.packet();
        let siaddr = Some(p.siaddr()).filter(|ip| !ip.is_unspecified());
        let named = message.tftp_server_name().and_then(|v| {
            core::str::from_utf8(&v)
                .ok()?
                .trim_end_matches('\0')
                .parse()
                .ok()
        });
        let file = match message.file() {
            [] => message.bootfile_name().map(|v| match v {
                Value::Borrowed(b) => Value::Borrowed(crate::wire::bootp::until_nul(b)),
                joined => joined,
            }),
            f => Some(Value::Borrowed(f)),
        };
        Some(Assignment {
            ip: p.yiaddr(),
            netmask: message.subnet_mask(),
            router: message.router(),
            server: siaddr.or(named).or(message.server_id()).or(self.reply_from),
            file,
            lease_time: message.lease_time(),
            dhcp: message.message_type().is_some(),
            xid: self.xid,
            message,
        })
    }

    /// Feeds a datagram that arrived on the client port.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.is_done() || bytes.len() > MAX_REPLY {
            return;
        }
        let Ok(msg) = Message::new_checked(bytes) else {
            return;
        };
        let p = msg.packet();
        if p.op() != Op::Reply
            || p.xid() != self.xid
            || p.htype() != self.config.hw.htype
            || p.client_hw_addr() != self.config.hw.as_bytes()
        {
            return;
        }
        let from_ip = match from {
            SocketAddr::V4(a) => Some(*a.ip()).filter(|ip| !ip.is_unspecified()),
            SocketAddr::V6(_) => None,
        };
        match (self.phase, msg.message_type()) {
            // A plain BOOTP reply ends either kind of exchange.
            (Phase::Bootp | Phase::Discover, None) | (Phase::Bootp, Some(MessageType::Ack)) => {
                self.accept(bytes, from_ip)
            }
            (Phase::Discover, Some(MessageType::Offer)) => {
                let ip = p.yiaddr();
                let Some(server) = msg.server_id().or(from_ip) else {
                    return;
                };
                self.phase = Phase::Request { ip, server };
                self.push(Pending::Offered(ip, server));
                self.new_exchange(now, false);
            }
            (Phase::Request { .. }, Some(MessageType::Ack)) => self.accept(bytes, from_ip),
            (Phase::Request { server, .. }, Some(MessageType::Nak)) => {
                if msg.server_id().is_some_and(|id| id != server) {
                    return;
                }
                self.push(Pending::Nak(msg.server_id()));
                self.restarts += 1;
                if self.restarts > MAX_RESTARTS {
                    self.phase = Phase::Failed;
                    self.deadline = None;
                    self.push(Pending::Refused);
                } else {
                    self.phase = Phase::Discover;
                    self.xid = self.config.rng.next_u32();
                    self.new_exchange(now, true);
                }
            }
            _ => {}
        }
    }

    fn new_exchange(&mut self, now: Instant, restart_secs: bool) {
        self.sent = 0;
        self.send_now = true;
        self.deadline = None;
        if restart_secs {
            self.started = now;
        }
    }

    fn accept(&mut self, bytes: &[u8], from: Option<Ipv4Addr>) {
        self.reply.clear();
        // Bounded by the MAX_REPLY check in handle_datagram.
        let _ = self.reply.extend_from_slice(bytes);
        self.reply_from = from;
        self.phase = Phase::Done;
        self.deadline = None;
        self.send_now = false;
        self.push(Pending::Assigned);
    }

    fn push(&mut self, p: Pending) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(p);
    }

    /// Retransmits or gives up once the deadline has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_done() || self.deadline.is_none_or(|d| now < d) {
            return;
        }
        self.deadline = None;
        if self.sent < self.config.attempts {
            self.send_now = true;
        } else if let Phase::Request { ip, .. } = self.phase
            && self.restarts < MAX_RESTARTS
        {
            // RFC 2131 §4.4.1: back to INIT, as after a NAK.
            self.restarts += 1;
            self.phase = Phase::Discover;
            self.xid = self.config.rng.next_u32();
            self.push(Pending::Unanswered(ip));
            self.new_exchange(now, true);
        } else {
            self.phase = Phase::Failed;
            self.push(Pending::TimedOut(self.sent));
        }
    }

    /// When to call `handle_timeout`.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    fn wait(&mut self) -> Duration {
        let shift = self.sent.saturating_sub(1).min(16);
        let base = self
            .config
            .initial_timeout
            .saturating_mul(1 << shift)
            .min(self.config.max_timeout);
        let jitter = u64::try_from(self.config.jitter.as_micros()).unwrap_or(u64::MAX);
        let spread = self.config.rng.range_inclusive(0, jitter.saturating_mul(2));
        let base_us = u64::try_from(base.as_micros()).unwrap_or(u64::MAX);
        // base ± jitter, never below a millisecond.
        Duration::from_micros(
            (base_us.saturating_add(spread))
                .saturating_sub(jitter)
                .max(1000),
        )
    }

    /// Writes the next request into `buf` (300 bytes or more needed).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if !self.send_now || self.is_done() {
            return None;
        }
        let mut opts = [0u8; 256];
        let mut w = OptionsWriter::new(&mut opts);
        let c = &self.config;
        match self.phase {
            Phase::Discover => {
                let _ = w.message_type(MessageType::Discover);
            }
            Phase::Request { ip, server } => {
                let _ = w.message_type(MessageType::Request);
                let _ = w.ip(options::REQUESTED_IP, ip);
                let _ = w.ip(options::SERVER_ID, server);
            }
            _ => {}
        }
        if c.dhcp {
            let _ = w.push(options::PARAMETER_LIST, &c.parameter_list);
            let _ = w.u16(options::MAX_MESSAGE_SIZE, (MAX_REPLY + 28) as u16);
        }
        if !c.vendor_class.is_empty() {
            let _ = w.push(options::VENDOR_CLASS, &c.vendor_class);
        }
        // Fits: at most 53 bytes above, 66 for option 60, MAX_OPTIONS here
        // and the end mark, in 256.
        let _ = w.raw(&c.options);
        let n = w.finish().ok()?;
        let secs = u16::try_from((now - self.started).as_secs()).unwrap_or(u16::MAX);
        let repr = Repr {
            op: Op::Request,
            htype: c.hw.htype,
            hlen: c.hw.hlen(),
            hops: 0,
            xid: self.xid,
            secs,
            flags: if c.broadcast_flag { FLAG_BROADCAST } else { 0 },
            ciaddr: c.ciaddr,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: c.hw.chaddr(),
            sname: &[],
            file: c.file.as_bytes(),
            vend: Vend::Options(&opts[..n]),
        };
        let len = repr.emit(buf).ok()?;
        let destination = SocketAddr::V4(c.server);
        let broadcast = c.server.ip().is_broadcast();
        if self.sent == 0
            && self.restarts == 0
            && matches!(self.phase, Phase::Bootp | Phase::Discover)
        {
            self.started = now;
        }
        self.sent += 1;
        self.send_now = false;
        let wait = self.wait();
        self.deadline = Some(now + wait);
        Some(Transmit {
            destination,
            len,
            source: None,
            broadcast,
        })
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        Some(match self.events.pop_front()? {
            Pending::Assigned => Event::Assigned(self.assignment()?),
            Pending::Offered(ip, server) => Event::Offered { ip, server },
            Pending::Nak(server) => Event::Nak { server },
            Pending::Unanswered(ip) => Event::Unanswered { ip },
            Pending::TimedOut(attempts) => Event::TimedOut { attempts },
            Pending::Refused => Event::Refused,
        })
    }
}

#[cfg(test)]
mod tests;
