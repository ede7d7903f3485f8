//! The network's state, which programs reach through their
//! [`Cx`](super::Cx): the clock, the event queue, every host's network
//! side, the weather and faults of links, partitions, streams, the trace
//! and the counters; and the link model every datagram and stream segment
//! meets (whether a path is up, what a link loses).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use netboot_core::rng::Rng;
use netboot_core::time::Instant;

use super::datagram::FlowMemory;
use super::host::Node;
use super::observe::{Observer, Stats};
use super::queue::Queue;
use super::stream::Stream;
use super::{HostId, StreamId};
use crate::faults::{LinkFaults, Loss, PacketRule, chance};
use crate::trace::Trace;

/// The network: clock, queue, links, streams, trace. Apps reach it through
/// [`Cx`](super::Cx).
pub(super) struct Net {
    pub(super) now: Instant,
    pub(super) queue: Queue,
    pub(super) rng: Rng,
    pub(super) weather: LinkFaults,
    pub(super) links: HashMap<(HostId, HostId), LinkFaults>,
    pub(super) bad_state: HashMap<(HostId, HostId), bool>,
    pub(super) rules: Vec<PacketRule>,
    pub(super) group: Vec<u32>,
    pub(super) nodes: Vec<Node>,
    pub(super) by_ip: HashMap<Ipv4Addr, HostId>,
    pub(super) conflicts: Vec<(Ipv4Addr, HostId, HostId)>,
    pub(super) streams: HashMap<StreamId, Stream>,
    pub(super) next_stream: StreamId,
    pub(super) trace: Trace,
    pub(super) stats: Stats,
    pub(super) observers: Vec<Observer>,
    /// Recently sent datagrams per sender and flow, for the exact-repeat
    /// detector (several hosts send from 0.0.0.0:68 before BOOTP answers).
    pub(super) flows: HashMap<(HostId, SocketAddrV4, SocketAddrV4), FlowMemory>,
    pub(super) datagrams: u64,
}

impl Net {
    /// A network with no hosts whose decisions derive from `seed`; with
    /// `echo`, trace lines are also printed.
    pub(super) fn new(seed: u64, echo: bool) -> Self {
        Net {
            now: Instant::ZERO,
            queue: Queue::default(),
            rng: Rng::new(seed),
            weather: LinkFaults::PERFECT,
            links: HashMap::new(),
            bad_state: HashMap::new(),
            rules: Vec::new(),
            group: Vec::new(),
            nodes: Vec::new(),
            by_ip: HashMap::new(),
            conflicts: Vec::new(),
            streams: HashMap::new(),
            next_stream: 1,
            trace: Trace::new(echo),
            stats: Stats::default(),
            observers: Vec::new(),
            flows: HashMap::new(),
            datagrams: 0,
        }
    }

    pub(super) fn local_now(&self, host: HostId) -> Instant {
        self.now + self.nodes[host].offset
    }

    pub(super) fn link(&self, a: HostId, b: HostId) -> LinkFaults {
        self.links.get(&(a, b)).copied().unwrap_or(self.weather)
    }

    /// True when a packet from `a` can reach `b` now.
    pub(super) fn path_up(&self, a: HostId, b: HostId) -> bool {
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        na.link_up && nb.link_up && self.group[a] == self.group[b]
    }

    pub(super) fn lost(&mut self, a: HostId, b: HostId, loss: Loss) -> bool {
        match loss {
            Loss::None => false,
            Loss::Random(p) => chance(&mut self.rng, p),
            Loss::Bursty {
                good,
                bad,
                enter,
                leave,
            } => {
                let state = self.bad_state.entry((a, b)).or_insert(false);
                let was_bad = *state;
                let flip = if was_bad { leave } else { enter };
                let now_bad = if chance(&mut self.rng, flip) {
                    !was_bad
                } else {
                    was_bad
                };
                self.bad_state.insert((a, b), now_bad);
                chance(&mut self.rng, if now_bad { bad } else { good })
            }
        }
    }
}
