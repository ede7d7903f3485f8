//! A BOOTP/DHCP relay agent (RFC 1542 §4): the host that lets clients on
//! another broadcast segment ([`Sim::set_segment`](crate::world::Sim::set_segment))
//! reach a server.
//!
//! [`Relay`] listens on port 67 of its own address, on the clients'
//! segment:
//!
//! * a BOOTREQUEST (the clients' broadcasts) gets `giaddr` set to the
//!   relay's address, if it was zero, and `hops` one higher (one with more
//!   than [`Relay::max_hops`] is dropped), and goes unicast to the server's
//!   port 67;
//! * a BOOTREPLY (the server answers a relayed request at `giaddr`:67) goes
//!   on to the client, port 68: unicast to `ciaddr` when the client has
//!   an address, else broadcast on the relay's segment (§5.4 allows a
//!   unicast to `yiaddr` when the broadcast flag is clear, which needs an
//!   ARP entry the simulator has no model of; every client here asks for
//!   broadcast replies anyway).
//!
//! Nothing else is changed: the relay does not add option 82.
//!
//! A request the relay forwards again with the same `xid` and message type
//! and different bytes (a client's resend, whose `secs` grew) is counted
//! as a retransmission, as the client's own resend is: see
//! [`Stats::retransmitted`](crate::world::Stats::retransmitted).

use std::net::{Ipv4Addr, SocketAddrV4};

use netboot_core::wire::bootp::{CLIENT_PORT, Message, Op, Packet, SERVER_PORT};

use crate::apps::provision::{RequestId, request_id};
use crate::trace::hash_bytes;
use crate::world::{App, Cx};

/// A relay agent in front of one server.
///
/// ```
/// use std::net::Ipv4Addr;
/// use netboot_sim::apps::relay::Relay;
///
/// let relay = Relay::new(Ipv4Addr::new(10, 0, 0, 1));
/// assert_eq!((relay.requests, relay.replies), (0, 0));
/// ```
#[derive(Clone, Debug)]
pub struct Relay {
    server: Ipv4Addr,
    /// Requests that crossed more relays than this are dropped.
    pub max_hops: u8,
    /// The last request forwarded, and the fingerprints of the last 16
    /// (the network's exact-repeat detector's memory of that flow).
    last: Option<RequestId>,
    recent: [u64; 16],
    next: usize,
    /// Requests forwarded to the server.
    pub requests: u64,
    /// Replies forwarded to clients.
    pub replies: u64,
    /// Datagrams dropped (not BOOTP, or too many hops).
    pub dropped: u64,
}

impl Relay {
    /// A relay forwarding to `server`.
    pub fn new(server: Ipv4Addr) -> Self {
        Relay {
            server,
            max_hops: 4,
            last: None,
            recent: [0; 16],
            next: 0,
            requests: 0,
            replies: 0,
            dropped: 0,
        }
    }

    fn forward_request(&mut self, cx: &mut Cx<'_>, bytes: &mut [u8]) {
        // Parsed as a message already.
        let Ok(mut p) = Packet::new_checked(&mut *bytes) else {
            return;
        };
        let hops = p.hops();
        if hops >= self.max_hops {
            self.dropped += 1;
            return;
        }
        p.set_hops(hops + 1);
        if p.giaddr().is_unspecified() {
            p.set_giaddr(cx.ip());
        }
        let h = hash_bytes(bytes);
        let exact = self.recent.contains(&h);
        if !exact {
            self.recent[self.next] = h;
            self.next = (self.next + 1) % self.recent.len();
        }
        let id = request_id(bytes);
        if id.is_some() && id == self.last && !exact {
            cx.retransmitted();
        }
        self.last = id;
        self.requests += 1;
        cx.send(
            SERVER_PORT,
            SocketAddrV4::new(self.server, SERVER_PORT),
            bytes,
        );
    }

    fn forward_reply(&mut self, cx: &mut Cx<'_>, bytes: &[u8], ciaddr: Ipv4Addr) {
        let to = if ciaddr.is_unspecified() {
            Ipv4Addr::BROADCAST
        } else {
            ciaddr
        };
        self.replies += 1;
        cx.send(SERVER_PORT, SocketAddrV4::new(to, CLIENT_PORT), bytes);
    }
}

impl App for Relay {
    fn start(&mut self, cx: &mut Cx<'_>) {
        cx.bind(SERVER_PORT);
    }

    fn datagram(
        &mut self,
        cx: &mut Cx<'_>,
        _local: SocketAddrV4,
        _from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        let Ok(msg) = Message::new_checked(&*bytes) else {
            self.dropped += 1;
            return;
        };
        let (op, ciaddr) = (msg.packet().op(), msg.packet().ciaddr());
        match op {
            Op::Request => self.forward_request(cx, bytes),
            Op::Reply => self.forward_reply(cx, bytes, ciaddr),
        }
    }
}
