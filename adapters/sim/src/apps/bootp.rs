//! The BOOTP/DHCP client on a simulated host: a core [`Client`] on port
//! 68, which takes the address it is given. (The server is the shipped
//! one: [`SimServer::bootp`](crate::apps::server::SimServer::bootp).)

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::client::{Client, ClientConfig, Event as ClientEvent};
use netboot_core::time::Instant;
use netboot_core::wire::bootp::CLIENT_PORT;

use crate::trace::hash_bytes;
use crate::world::{App, Cx};

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
