//! What a BOOTP/DHCP client is on any std runtime: the options of a
//! request, the bound socket and core client they prepare, and what the
//! client's events mean for the caller. The mio client waits on the
//! socket blocking, the async one as a future.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::client::{Client, ClientConfig, Event};
use netboot_core::rng::Rng;
use netboot_core::wire::bootp::{CLIENT_PORT, SERVER_PORT};

use crate::clock::Clock;
use crate::net::{UdpOptions, bind_udp};

/// What to ask for and how.
#[derive(Clone, Debug)]
pub struct RequestOptions {
    /// Our hardware address.
    pub hw: HwAddr,
    /// DHCP instead of plain BOOTP.
    pub dhcp: bool,
    /// A server to unicast to; `None` broadcasts to 255.255.255.255:67.
    pub server: Option<SocketAddr>,
    /// The local port (68 by default).
    pub client_port: u16,
    /// Bind to this interface (and broadcast through it).
    pub interface: Option<String>,
    /// Requests per exchange before giving up.
    pub attempts: u32,
    /// First retransmission timeout.
    pub initial_timeout: Duration,
    /// Longest retransmission timeout.
    pub max_timeout: Duration,
    /// Generic boot file name to ask for.
    pub file: String,
    /// Option 60.
    pub vendor_class: Vec<u8>,
    /// PRNG seed for the `xid` and jitter (`None`: from the OS).
    pub seed: Option<u64>,
}

impl RequestOptions {
    /// Broadcast a plain BOOTP request from port 68, 4 attempts starting at
    /// 2 s.
    pub fn new(hw: HwAddr) -> Self {
        RequestOptions {
            hw,
            dhcp: false,
            server: None,
            client_port: CLIENT_PORT,
            interface: None,
            attempts: 4,
            initial_timeout: Duration::from_secs(2),
            max_timeout: Duration::from_secs(16),
            file: String::new(),
            vendor_class: Vec::new(),
            seed: None,
        }
    }
}

/// An assignment, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// Our address.
    pub ip: Ipv4Addr,
    /// Subnet mask.
    pub netmask: Option<Ipv4Addr>,
    /// Default router.
    pub router: Option<Ipv4Addr>,
    /// The server to boot from.
    pub server: Option<Ipv4Addr>,
    /// The boot file.
    pub file: Option<String>,
    /// Lease time in seconds.
    pub lease_time: Option<u32>,
    /// DHCP (true) or plain BOOTP (false).
    pub dhcp: bool,
    /// The exchange's `xid`.
    pub xid: u32,
    /// Every option of the reply, joined, in order of first appearance.
    pub options: Vec<(u8, Vec<u8>)>,
}

/// Why no assignment came.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A socket error.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// No answer after every attempt.
    #[error("no BOOTP/DHCP answer after {attempts} requests")]
    TimedOut {
        /// Requests sent.
        attempts: u32,
    },
    /// The server refused (DHCPNAK) every time.
    #[error("the DHCP server refused every request (DHCPNAK)")]
    Refused,
}

/// A client ready to run: its socket (blocking) and the [`Exchange`] a
/// runtime takes the steps of. Other runtimes drive what [`prepare`]
/// returns.
#[derive(Debug)]
pub struct Prepared {
    /// The bound socket (`SO_BROADCAST`, port `client_port`).
    pub socket: std::net::UdpSocket,
    /// The exchange to run on it.
    pub exchange: Exchange,
}

/// One step a runtime takes for [`Exchange::step`].
#[derive(Debug)]
pub enum Step<'a> {
    /// Send this datagram.
    Send(&'a [u8], SocketAddr),
    /// Wait this long for a datagram; hand it to [`Exchange::received`],
    /// or call [`Exchange::timed_out`] if none came.
    Wait(Duration),
    /// The request is over.
    Done(Result<Assigned, RequestError>),
}

/// The core client with the clock whose epoch it started at: what the
/// blocking and the async request run, step by step. A runtime only sends,
/// receives and waits.
#[derive(Debug)]
pub struct Exchange {
    client: Client,
    clock: Clock,
    attempts: u32,
    buf: Vec<u8>,
}

impl Exchange {
    /// What the runtime does next.
    pub fn step(&mut self) -> Step<'_> {
        loop {
            let now = self.clock.now();
            if let Some(t) = self.client.poll_transmit(now, &mut self.buf) {
                return Step::Send(&self.buf[..t.len], t.destination);
            }
            while let Some(event) = self.client.poll_event() {
                if let Some(done) = outcome(&event) {
                    return Step::Done(done);
                }
            }
            let Some(deadline) = self.client.poll_timeout() else {
                let attempts = self.attempts;
                return Step::Done(Err(RequestError::TimedOut { attempts }));
            };
            let wait = self.clock.until(self.clock.now(), deadline);
            if !wait.is_zero() {
                return Step::Wait(wait);
            }
            self.client.handle_timeout(self.clock.now());
        }
    }

    /// A datagram arrived during a [`Step::Wait`].
    pub fn received(&mut self, from: SocketAddr, bytes: &[u8]) {
        self.client.handle_datagram(self.clock.now(), from, bytes);
    }

    /// A [`Step::Wait`] ended without a datagram.
    pub fn timed_out(&mut self) {
        self.client.handle_timeout(self.clock.now());
    }
}

/// Binds the client socket and builds the core client for `options`.
pub fn prepare(options: &RequestOptions) -> Result<Prepared, RequestError> {
    let socket = bind_udp(
        SocketAddr::from((Ipv4Addr::UNSPECIFIED, options.client_port)),
        &UdpOptions {
            broadcast: true,
            reuse_address: true,
            interface: options.interface.as_deref(),
            ..UdpOptions::default()
        },
    )?;
    let mut config = ClientConfig::new(
        options.hw,
        Rng::new(options.seed.unwrap_or_else(crate::os::os_seed)),
    );
    config.dhcp = options.dhcp;
    config.attempts = options.attempts;
    config.initial_timeout = options.initial_timeout;
    config.max_timeout = options.max_timeout;
    config.server = match options.server {
        Some(SocketAddr::V4(a)) => a,
        Some(SocketAddr::V6(_)) => {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "BOOTP is IPv4 only").into());
        }
        None => SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
    };
    config.broadcast_flag = options.server.is_none();
    config.file = netboot_core::bootp::hosts::bounded(&options.file, "file", 127)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    config.vendor_class = heapless::Vec::from_slice(&options.vendor_class).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "vendor class longer than 64 bytes",
        )
    })?;
    let clock = Clock::new();
    let client = Client::new(config, clock.now())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    Ok(Prepared {
        socket,
        exchange: Exchange {
            client,
            clock,
            attempts: options.attempts,
            buf: vec![0; 1500],
        },
    })
}

/// What a client event means for the caller: `Some` when the request is
/// over (assigned, timed out or refused), `None` while it goes on.
pub fn outcome(event: &Event<'_>) -> Option<Result<Assigned, RequestError>> {
    match event {
        Event::Assigned(a) => Some(Ok(owned(a))),
        Event::TimedOut { attempts } => Some(Err(RequestError::TimedOut {
            attempts: *attempts,
        })),
        Event::Refused => Some(Err(RequestError::Refused)),
        Event::Offered { ip, server } => {
            tracing::info!("DHCPOFFER of {ip} from {server}");
            None
        }
        Event::Nak { server } => {
            tracing::info!("DHCPNAK from {server:?}");
            None
        }
        _ => None,
    }
}

fn owned(a: &netboot_core::bootp::client::Assignment<'_>) -> Assigned {
    let mut options: Vec<(u8, Vec<u8>)> = Vec::new();
    for o in a.message.options().map_while(Result::ok) {
        if options.iter().any(|(c, _)| *c == o.code) {
            continue;
        }
        if let Some(v) = a.message.get(o.code) {
            options.push((o.code, v.to_vec()));
        }
    }
    Assigned {
        ip: a.ip,
        netmask: a.netmask,
        router: a.router,
        server: a.server,
        file: a
            .file
            .as_deref()
            .map(|f| String::from_utf8_lossy(f).into_owned()),
        lease_time: a.lease_time,
        dhcp: a.dhcp,
        xid: a.xid,
        options,
    }
}
