//! BOOTP/DHCP on a simulated host: the server on port 67, keeping its
//! leases in a lease file on the host's disk (so they survive a crash, as
//! the mio adapter's do), and the client on port 68, which takes the
//! address it is given.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use netboot_core::bootp::client::{Client, ClientConfig, Event as ClientEvent};
use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::leases::LeaseSlot;
use netboot_core::bootp::policy::{BootPolicy, DefaultPolicy};
use netboot_core::bootp::server::{ConfigError, Event, Server, ServerConfig};
use netboot_core::bootp::{HwAddr, leasefile};
use netboot_core::storage::StoreError;
use netboot_core::time::Instant;
use netboot_core::wire::bootp::{CLIENT_PORT, SERVER_PORT};

use crate::trace::hash_bytes;
use crate::world::{App, Cx};

/// The Unix time the simulation's clock zero stands for in lease files.
pub const UNIX_EPOCH_OF_ZERO: u64 = 1_700_000_000;

fn unix_now(now: Instant) -> u64 {
    UNIX_EPOCH_OF_ZERO + now.as_micros() / 1_000_000
}

/// A BOOTP/DHCP server.
pub struct BootpServer<P: BootPolicy + 'static = DefaultPolicy> {
    server: Server<Vec<Host>, Vec<LeaseSlot>, P>,
    lease_file: Option<String>,
    tx: Vec<u8>,
    /// Everything the server reported, in order (diagnostics left out).
    pub events: Vec<Event>,
    /// Lease-file writes that failed.
    pub save_errors: Vec<StoreError>,
}

impl BootpServer<DefaultPolicy> {
    /// A server with the default boot policy.
    pub fn new(config: ServerConfig, hosts: Vec<Host>) -> Result<Self, ConfigError> {
        BootpServer::with_policy(config, hosts, DefaultPolicy)
    }
}

impl<P: BootPolicy + 'static> BootpServer<P> {
    /// A server whose boot assignments `policy` decides.
    pub fn with_policy(
        config: ServerConfig,
        hosts: Vec<Host>,
        policy: P,
    ) -> Result<Self, ConfigError> {
        let slots = match config.pool {
            Some((a, b)) => (u32::from(b).saturating_sub(u32::from(a)) + 1) as usize,
            None => 0,
        };
        Ok(BootpServer {
            server: Server::with_policy(config, hosts, vec![LeaseSlot::EMPTY; slots], policy)?,
            lease_file: Some("leases".to_string()),
            tx: vec![0; 1500],
            events: Vec::new(),
            save_errors: Vec::new(),
        })
    }

    /// Keeps leases in this file (`None`: in memory only, lost in a crash).
    pub fn lease_file(mut self, path: Option<&str>) -> Self {
        self.lease_file = path.map(str::to_string);
        self
    }

    /// The machine.
    pub fn server(&self) -> &Server<Vec<Host>, Vec<LeaseSlot>, P> {
        &self.server
    }

    /// The machine, mutably (to reach its policy).
    pub fn server_mut(&mut self) -> &mut Server<Vec<Host>, Vec<LeaseSlot>, P> {
        &mut self.server
    }

    fn save(&mut self, cx: &mut Cx<'_>) {
        let Some(path) = &self.lease_file else { return };
        let now = cx.now();
        let text = leasefile::render(self.server.leases(), now, unix_now(now));
        if let Err(e) = cx.store.write_file(path, text.as_bytes()) {
            self.save_errors.push(e);
        }
    }

    fn restore(&mut self, cx: &mut Cx<'_>) {
        let Some(path) = &self.lease_file else { return };
        let Some(bytes) = cx.store.get(path) else {
            return;
        };
        let text = String::from_utf8_lossy(bytes).into_owned();
        let now = cx.now();
        for lease in leasefile::parse(&text, now, unix_now(now)).0 {
            self.server.restore(&lease);
        }
    }

    fn drain(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        while let Some(t) = self.server.poll_transmit(now, &mut self.tx) {
            let SocketAddr::V4(to) = t.destination else {
                continue;
            };
            let bytes = self.tx[..t.len].to_vec();
            cx.send(SERVER_PORT, to, &bytes);
        }
        let mut changed = false;
        while let Some(e) = self.server.poll_event() {
            match e {
                Event::LeasesChanged => changed = true,
                e if e.is_client_step() => self.events.push(e),
                _ => {}
            }
        }
        if changed {
            self.save(cx);
        }
    }
}

impl<P: BootPolicy + 'static> App for BootpServer<P> {
    fn start(&mut self, cx: &mut Cx<'_>) {
        self.restore(cx);
        cx.bind(SERVER_PORT);
    }

    fn datagram(
        &mut self,
        cx: &mut Cx<'_>,
        _local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        self.server
            .handle_datagram(cx.now(), SocketAddr::V4(from), bytes);
        self.drain(cx);
    }
}

/// The address and boot assignment a client got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assigned {
    /// Our address.
    pub ip: Ipv4Addr,
    /// The server to boot from.
    pub server: Option<Ipv4Addr>,
    /// The boot file (empty: none).
    pub file: String,
    /// Lease time in seconds (DHCP).
    pub lease_time: Option<u32>,
    /// When it was assigned (host time).
    pub at: Instant,
}

/// How a client's exchange ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It got an address.
    Assigned(Assigned),
    /// No answer after every attempt.
    TimedOut,
    /// Too many NAKs.
    Refused,
}

/// A BOOTP/DHCP client.
pub struct BootpClient {
    config: ClientConfig,
    client: Option<Client>,
    tx: Vec<u8>,
    last_sent: u64,
    sends: u32,
    /// How the exchange ended, once it has.
    pub outcome: Option<Outcome>,
    /// Offers seen (DHCP).
    pub offers: u32,
    /// NAKs seen (DHCP).
    pub naks: u32,
}

impl BootpClient {
    /// A client asking with this configuration when its host boots.
    pub fn new(config: ClientConfig) -> Self {
        BootpClient {
            config,
            client: None,
            tx: vec![0; 1500],
            last_sent: 0,
            sends: 0,
            outcome: None,
            offers: 0,
            naks: 0,
        }
    }

    /// The client's hardware address.
    pub fn hw(&self) -> HwAddr {
        self.config.hw
    }

    /// Requests sent.
    pub fn sends(&self) -> u32 {
        self.sends
    }

    fn drain(&mut self, cx: &mut Cx<'_>, retransmission: bool) {
        let Some(client) = self.client.as_mut() else {
            return;
        };
        let now = cx.now();
        while let Some(t) = client.poll_transmit(now, &mut self.tx) {
            let SocketAddr::V4(to) = t.destination else {
                continue;
            };
            let bytes = &self.tx[..t.len];
            let h = hash_bytes(bytes);
            // Resent requests differ in `secs`, which the network's exact
            // repeat detector cannot see through.
            if retransmission && h != self.last_sent {
                cx.retransmitted();
            }
            self.last_sent = h;
            self.sends += 1;
            let bytes = bytes.to_vec();
            cx.send(CLIENT_PORT, to, &bytes);
        }
        while let Some(e) = client.poll_event() {
            match e {
                ClientEvent::Assigned(a) => {
                    let file = a
                        .file
                        .as_ref()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .unwrap_or_default();
                    let got = Assigned {
                        ip: a.ip,
                        server: a.server,
                        file,
                        lease_time: a.lease_time,
                        at: now,
                    };
                    cx.set_ip(got.ip);
                    self.outcome = Some(Outcome::Assigned(got));
                }
                ClientEvent::Offered { .. } => self.offers += 1,
                ClientEvent::Nak { .. } => self.naks += 1,
                ClientEvent::TimedOut { .. } => self.outcome = Some(Outcome::TimedOut),
                ClientEvent::Refused => self.outcome = Some(Outcome::Refused),
                _ => {}
            }
        }
        if self.client.as_ref().is_some_and(Client::is_done) {
            cx.unbind(CLIENT_PORT);
        }
    }
}

impl App for BootpClient {
    fn start(&mut self, cx: &mut Cx<'_>) {
        let mut config = self.config.clone();
        config.rng = cx.rng.fork();
        self.client = Client::new(config, cx.now()).ok();
        cx.bind(CLIENT_PORT);
        self.drain(cx, false);
    }

    fn datagram(
        &mut self,
        cx: &mut Cx<'_>,
        _local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        if let Some(c) = self.client.as_mut() {
            c.handle_datagram(cx.now(), SocketAddr::V4(from), bytes);
        }
        self.drain(cx, false);
    }

    fn timeout(&mut self, cx: &mut Cx<'_>) {
        if let Some(c) = self.client.as_mut() {
            c.handle_timeout(cx.now());
        }
        self.drain(cx, true);
    }

    fn deadline(&mut self) -> Option<Instant> {
        self.client.as_ref().and_then(Client::poll_timeout)
    }
}
