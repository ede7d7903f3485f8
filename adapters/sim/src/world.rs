//! The simulated world: hosts on one Ethernet segment, a virtual clock
//! that jumps from one event to the next, UDP datagrams (unicast and
//! broadcast), reliable byte streams, and the faults of [`crate::faults`].
//!
//! Everything is ordered by `(time, sequence number)` in one queue, and
//! every random decision comes from generators seeded by the run's seed, so
//! a run is a pure function of its seed and its scenario.
//!
//! Each host runs an [`App`]: a small program that moves bytes between the
//! simulated sockets and a core machine, answering the machine's storage
//! questions from the host's [`SimStore`] through the core's generic glue.
//! Apps hold no protocol logic of their own; [`crate::apps`] has one per
//! protocol role.
//!
//! Time: [`Sim::now`] is global. Each host sees `global + offset`, where the
//! offset grows when its clock jumps ([`Fault::ClockJump`]); a host's clock
//! never runs backwards, as the monotonic clocks the real adapters read never
//! do.

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::rc::Rc;

use netboot_core::rng::Rng;
use netboot_core::time::{Duration, Instant};

use crate::faults::{Fault, LinkFaults, Loss, PacketRule, PacketView, Verdict, chance, up_to};
use crate::store::SimStore;
use crate::trace::{Trace, hash_bytes};

/// A host's index in the simulation.
pub type HostId = usize;

/// A byte stream's identity.
pub type StreamId = u64;

/// Window of a stream: bytes written and not yet acknowledged above which
/// the writer is told to wait for [`StreamEvent::Writable`].
pub const STREAM_WINDOW: usize = 64 * 1024;

/// First ephemeral port.
const EPHEMERAL: u16 = 49152;

/// A timer that fires this many times at one instant is a busy loop.
const BUSY_LIMIT: u32 = 10_000;

/// What happened on a byte stream, as its end sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// A connection arrived on a listening port.
    Accepted {
        /// Our address.
        local: SocketAddr,
        /// The connecting end's address.
        peer: SocketAddr,
    },
    /// Our connection attempt succeeded.
    Connected,
    /// Our connection attempt failed (nobody listening, or no route).
    Refused,
    /// Bytes arrived, in order.
    Data(&'a [u8]),
    /// Bytes we wrote were acknowledged and there is room to write again.
    Writable,
    /// The peer will send nothing more.
    Eof,
    /// The connection was reset; nothing more will arrive or leave.
    Reset,
}

/// A program running on a simulated host.
///
/// Every callback gets a [`Cx`] for the host's sockets, clock, storage and
/// random generator. After each callback the simulator asks
/// [`App::deadline`] when to call [`App::timeout`] next.
pub trait App: Any {
    /// The host (re)booted.
    fn start(&mut self, cx: &mut Cx<'_>);
    /// A datagram arrived on a bound port. `bytes` may be changed in place.
    fn datagram(
        &mut self,
        cx: &mut Cx<'_>,
        local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        let _ = (cx, local, from, bytes);
    }
    /// Something happened on one of the host's streams.
    fn stream(&mut self, cx: &mut Cx<'_>, id: StreamId, event: StreamEvent<'_>) {
        let _ = (cx, id, event);
    }
    /// The deadline from [`App::deadline`] has passed.
    fn timeout(&mut self, cx: &mut Cx<'_>) {
        let _ = cx;
    }
    /// When [`App::timeout`] is due next, in the host's time.
    fn deadline(&mut self) -> Option<Instant> {
        None
    }
}

/// Builds a host's program at each boot.
pub type Boot = Box<dyn FnMut() -> Box<dyn App>>;

/// Something the simulator shows an observer, in order.
#[derive(Debug)]
pub enum Observed<'a> {
    /// A host sent a datagram (before faults).
    Sent {
        /// The sender.
        host: HostId,
        /// Source address.
        from: SocketAddrV4,
        /// Destination.
        to: SocketAddrV4,
        /// Content.
        bytes: &'a [u8],
    },
    /// A datagram is about to be handed to a host.
    Delivered {
        /// The receiver.
        host: HostId,
        /// Source address.
        from: SocketAddrV4,
        /// Destination as sent.
        to: SocketAddrV4,
        /// Content.
        bytes: &'a [u8],
    },
    /// A host's timer is about to fire.
    Timer {
        /// The host.
        host: HostId,
    },
}

/// An observer of every datagram and timer.
pub type Observer = Box<dyn FnMut(Instant, &Observed<'_>)>;

/// Counters of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams sent by hosts (a broadcast counts once).
    pub sent: u64,
    /// Datagrams the sender (or an observer of its bytes) knows were sent
    /// before: see [`Cx::retransmitted`] and the exact-repeat detector.
    pub retransmitted: u64,
    /// Datagrams handed to a program.
    pub delivered: u64,
    /// Datagrams lost to link faults, rules, partitions or links down.
    pub dropped: u64,
    /// Extra copies made by duplication.
    pub duplicated: u64,
    /// Datagrams for a port nobody listened on.
    pub unreachable: u64,
    /// Stream connections opened.
    pub connections: u64,
    /// Stream bytes delivered.
    pub stream_bytes: u64,
    /// Stream resets, injected or not.
    pub resets: u64,
    /// Events processed.
    pub events: u64,
}

#[derive(Clone, Debug)]
enum Item {
    Boot(HostId),
    Datagram {
        to: HostId,
        from: SocketAddrV4,
        dst: SocketAddrV4,
        bytes: Rc<[u8]>,
    },
    Broadcast {
        from_host: HostId,
        from: SocketAddrV4,
        dst: SocketAddrV4,
        bytes: Rc<[u8]>,
    },
    Timer {
        host: HostId,
        generation: u64,
    },
    Syn(StreamId),
    SynAck(StreamId),
    Refuse(StreamId),
    Segment {
        stream: StreamId,
        to_end: usize,
        bytes: Vec<u8>,
    },
    Ack {
        stream: StreamId,
        to_end: usize,
        bytes: usize,
    },
    Fin {
        stream: StreamId,
        to_end: usize,
    },
    Rst {
        stream: StreamId,
        to_end: usize,
    },
    GiveUp {
        stream: StreamId,
        generation: u64,
    },
    Fault(Fault),
}

#[derive(Debug)]
struct Queued {
    at: Instant,
    seq: u64,
    item: Item,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StreamState {
    Connecting,
    Open,
    Dead,
}

#[derive(Debug)]
struct End {
    host: HostId,
    boot: u32,
    local: SocketAddrV4,
    /// When the last segment towards this end arrives (keeps order).
    last_arrival: Instant,
    /// Bytes this end wrote that are not acknowledged yet.
    in_flight: usize,
    blocked: bool,
    /// This end sent FIN.
    write_closed: bool,
    /// This end's program closed it: incoming data resets the stream.
    closed: bool,
}

#[derive(Debug)]
struct Stream {
    state: StreamState,
    ends: [End; 2],
    /// Segments held back while the path is broken: (to_end, bytes, fin).
    stalled: Vec<(usize, Vec<u8>, bool)>,
    stall_generation: u64,
}

/// A host's network state, kept apart from its program so both can be
/// borrowed at once.
struct Node {
    name: String,
    ip: Ipv4Addr,
    boot_ip: Ipv4Addr,
    powered: bool,
    link_up: bool,
    boot: u32,
    ports: BTreeSet<u16>,
    listeners: BTreeSet<u16>,
    next_port: u16,
    offset: Duration,
    deadline: Option<Instant>,
    timer_generation: u64,
    strict_timers: bool,
    busy_at: Instant,
    busy_count: u32,
}

struct Host {
    app: Option<Box<dyn App>>,
    boot_fn: Boot,
    store: SimStore,
    rng: Rng,
}

/// The network: clock, queue, links, streams, trace. Apps reach it through
/// [`Cx`].
pub(crate) struct Net {
    now: Instant,
    queue: BinaryHeap<Reverse<Queued>>,
    seq: u64,
    rng: Rng,
    weather: LinkFaults,
    links: HashMap<(HostId, HostId), LinkFaults>,
    bad_state: HashMap<(HostId, HostId), bool>,
    rules: Vec<PacketRule>,
    group: Vec<u32>,
    nodes: Vec<Node>,
    by_ip: HashMap<Ipv4Addr, HostId>,
    conflicts: Vec<(Ipv4Addr, HostId, HostId)>,
    streams: HashMap<StreamId, Stream>,
    next_stream: StreamId,
    trace: Trace,
    stats: Stats,
    observers: Vec<Observer>,
    /// Recently sent datagrams per sender and flow, for the exact-repeat
    /// detector (several hosts send from 0.0.0.0:68 before BOOTP answers).
    flows: HashMap<(HostId, SocketAddrV4, SocketAddrV4), FlowMemory>,
    datagrams: u64,
}

#[derive(Default)]
struct FlowMemory {
    recent: [u64; 16],
    next: usize,
}

impl FlowMemory {
    fn seen(&mut self, h: u64) -> bool {
        if self.recent.contains(&h) {
            return true;
        }
        self.recent[self.next] = h;
        self.next = (self.next + 1) % self.recent.len();
        false
    }
}

/// What a program may do on its host, during one callback.
pub struct Cx<'a> {
    net: &'a mut Net,
    host: HostId,
    /// The host's disk.
    pub store: &'a mut SimStore,
    /// The host's random generator (seeded from the run's seed).
    pub rng: &'a mut Rng,
}

impl Net {
    fn push(&mut self, at: Instant, item: Item) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at: at.max(self.now),
            seq: self.seq,
            item,
        }));
    }

    fn local_now(&self, host: HostId) -> Instant {
        self.now + self.nodes[host].offset
    }

    fn link(&self, a: HostId, b: HostId) -> LinkFaults {
        self.links.get(&(a, b)).copied().unwrap_or(self.weather)
    }

    /// True when a packet from `a` can reach `b` now.
    fn path_up(&self, a: HostId, b: HostId) -> bool {
        let (na, nb) = (&self.nodes[a], &self.nodes[b]);
        na.link_up && nb.link_up && self.group[a] == self.group[b]
    }

    fn lost(&mut self, a: HostId, b: HostId, loss: Loss) -> bool {
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

    fn observe(&mut self, ev: &Observed<'_>) {
        let now = self.now;
        for o in &mut self.observers {
            o(now, ev);
        }
    }

    fn record(&mut self, kind: u8, parts: &[&[u8]], describe: impl FnOnce() -> String) {
        self.trace.record(self.now, kind, parts, describe);
    }

    /// The faults a datagram from `a` to `b` meets: how many copies arrive
    /// and when.
    fn datagram_fate(&mut self, a: HostId, b: HostId, extra: Duration, copies: u8) -> Vec<Instant> {
        let mut out = Vec::new();
        if !self.path_up(a, b) {
            return out;
        }
        let link = self.link(a, b);
        for _ in 0..copies {
            if self.lost(a, b, link.loss) {
                continue;
            }
            let n = if chance(&mut self.rng, link.duplicate) {
                2
            } else {
                1
            };
            for _ in 0..n {
                let mut at = self.now + link.latency + up_to(&mut self.rng, link.jitter) + extra;
                if chance(&mut self.rng, link.reorder) {
                    at += up_to(&mut self.rng, link.reorder_window);
                }
                out.push(at);
            }
        }
        out
    }

    fn send_datagram(&mut self, host: HostId, from: SocketAddrV4, to: SocketAddrV4, bytes: &[u8]) {
        self.stats.sent += 1;
        self.datagrams += 1;
        self.observe(&Observed::Sent {
            host,
            from,
            to,
            bytes,
        });
        let fingerprint = hash_bytes(bytes);
        if self
            .flows
            .entry((host, from, to))
            .or_default()
            .seen(fingerprint)
        {
            self.stats.retransmitted += 1;
        }
        self.record(
            1,
            &[
                &from.to_string().into_bytes(),
                &to.to_string().into_bytes(),
                bytes,
            ],
            || {
                format!(
                    "send {from} -> {to} {} bytes ({:016x})",
                    bytes.len(),
                    fingerprint
                )
            },
        );
        if !self.nodes[host].link_up {
            self.stats.dropped += 1;
            return;
        }
        let view = PacketView {
            from,
            to,
            bytes,
            index: self.datagrams - 1,
        };
        let mut extra = Duration::ZERO;
        let mut copies = 1u8;
        for rule in &mut self.rules {
            match rule(&view, &mut self.rng) {
                Verdict::Pass => {}
                Verdict::Drop => copies = 0,
                Verdict::Delay(d) => extra += d,
                Verdict::Duplicate(n) => copies = copies.saturating_add(n),
            }
        }
        if copies == 0 {
            self.stats.dropped += 1;
            self.record(2, &[], || "  dropped by rule".to_string());
            return;
        }
        let bytes: Rc<[u8]> = Rc::from(bytes);
        let broadcast = to.ip().is_broadcast() || self.is_subnet_broadcast(*to.ip());
        if broadcast {
            // Fanned out when it arrives (each receiver meets its own
            // link's faults then), to keep the queue small.
            let at = self.now + self.weather.latency + extra;
            for _ in 0..copies {
                self.push(
                    at,
                    Item::Broadcast {
                        from_host: host,
                        from,
                        dst: to,
                        bytes: bytes.clone(),
                    },
                );
            }
            return;
        }
        let Some(&dest) = self.by_ip.get(to.ip()) else {
            self.stats.dropped += 1;
            self.record(2, &[], || "  no such host".to_string());
            return;
        };
        let arrivals = self.datagram_fate(host, dest, extra, copies);
        if arrivals.is_empty() {
            self.stats.dropped += 1;
            self.record(2, &[], || "  lost".to_string());
        }
        if arrivals.len() > usize::from(copies) {
            self.stats.duplicated += (arrivals.len() - usize::from(copies)) as u64;
        }
        for at in arrivals {
            self.push(
                at,
                Item::Datagram {
                    to: dest,
                    from,
                    dst: to,
                    bytes: bytes.clone(),
                },
            );
        }
    }

    fn is_subnet_broadcast(&self, ip: Ipv4Addr) -> bool {
        // A directed broadcast: an all-ones host part (taken as the last
        // octet) that no host has as its address (the segment may be wider
        // than a /24).
        ip.octets()[3] == 255 && !self.by_ip.contains_key(&ip)
    }

    fn ephemeral(&mut self, host: HostId) -> u16 {
        let node = &mut self.nodes[host];
        loop {
            let p = node.next_port;
            node.next_port = if p == u16::MAX { EPHEMERAL } else { p + 1 };
            if !node.ports.contains(&p) && !node.listeners.contains(&p) {
                return p;
            }
        }
    }

    // ---- streams ------------------------------------------------------

    fn stream_delay(&mut self, a: HostId, b: HostId) -> Duration {
        let link = self.link(a, b);
        let mut d = link.latency + up_to(&mut self.rng, link.jitter);
        // A segment the link would lose is retransmitted: it only costs time.
        let mut rto = link.stream_rto;
        for _ in 0..8 {
            if !self.lost(a, b, link.loss) {
                break;
            }
            d += rto;
            rto = rto.saturating_mul(2);
        }
        d
    }

    fn connect(&mut self, host: HostId, to: SocketAddrV4) -> StreamId {
        let id = self.next_stream;
        self.next_stream += 1;
        let port = self.ephemeral(host);
        let local = SocketAddrV4::new(self.nodes[host].ip, port);
        self.nodes[host].listeners.insert(port);
        let end = |host, boot, local| End {
            host,
            boot,
            local,
            last_arrival: Instant::ZERO,
            in_flight: 0,
            blocked: false,
            write_closed: false,
            closed: false,
        };
        let boot = self.nodes[host].boot;
        let dest = self.by_ip.get(to.ip()).copied();
        self.streams.insert(
            id,
            Stream {
                state: StreamState::Connecting,
                ends: [
                    end(host, boot, local),
                    end(dest.unwrap_or(usize::MAX), 0, to),
                ],
                stalled: Vec::new(),
                stall_generation: 0,
            },
        );
        self.stats.connections += 1;
        self.record(
            10,
            &[&id.to_le_bytes(), &to.to_string().into_bytes()],
            || format!("connect #{id} {local} -> {to}"),
        );
        match dest {
            Some(d) if self.path_up(host, d) => {
                let delay = self.stream_delay(host, d);
                self.push(self.now + delay, Item::Syn(id));
            }
            Some(_) => {
                // No route now: the attempt times out.
                let give_up = self.link(host, host).stream_give_up;
                self.push(self.now + give_up, Item::Refuse(id));
            }
            None => {
                let give_up = self.weather.stream_give_up;
                self.push(self.now + give_up, Item::Refuse(id));
            }
        }
        id
    }

    /// Sends `bytes` (or a FIN) from end `from_end`, segmenting them.
    fn stream_send(&mut self, id: StreamId, from_end: usize, bytes: &[u8], fin: bool) {
        let Some(s) = self.streams.get(&id) else {
            return;
        };
        if s.state != StreamState::Open {
            return;
        }
        let (a, b) = (s.ends[from_end].host, s.ends[1 - from_end].host);
        let to_end = 1 - from_end;
        if !self.path_up(a, b) {
            let s = self.streams.get_mut(&id).expect("stream exists");
            if s.stalled.is_empty() {
                s.stall_generation += 1;
                let generation = s.stall_generation;
                let give_up = self.link(a, b).stream_give_up;
                self.push(
                    self.now + give_up,
                    Item::GiveUp {
                        stream: id,
                        generation,
                    },
                );
            }
            let s = self.streams.get_mut(&id).expect("stream exists");
            if !bytes.is_empty() {
                s.stalled.push((to_end, bytes.to_vec(), false));
            }
            if fin {
                s.stalled.push((to_end, Vec::new(), true));
            }
            return;
        }
        let link = self.link(a, b);
        let mut rest = bytes;
        while !rest.is_empty() {
            let max = link.max_segment.max(1);
            let min = link.min_segment.clamp(1, max);
            let size = (self.rng.range_inclusive(min as u64, max as u64) as usize).min(rest.len());
            let (seg, tail) = rest.split_at(size);
            rest = tail;
            if chance(&mut self.rng, link.stream_reset) {
                self.record(12, &[&id.to_le_bytes()], || {
                    format!("stream #{id}: reset injected")
                });
                self.reset_stream(id, None);
                return;
            }
            let delay = self.stream_delay(a, b);
            let s = self.streams.get_mut(&id).expect("stream exists");
            let at = (self.now + delay).max(s.ends[to_end].last_arrival);
            s.ends[to_end].last_arrival = at;
            s.ends[from_end].in_flight += seg.len();
            if s.ends[from_end].in_flight >= STREAM_WINDOW {
                s.ends[from_end].blocked = true;
            }
            self.push(
                at,
                Item::Segment {
                    stream: id,
                    to_end,
                    bytes: seg.to_vec(),
                },
            );
        }
        if fin {
            let delay = self.stream_delay(a, b);
            let s = self.streams.get_mut(&id).expect("stream exists");
            let at = (self.now + delay).max(s.ends[to_end].last_arrival);
            s.ends[to_end].last_arrival = at;
            self.push(at, Item::Fin { stream: id, to_end });
        }
    }

    /// Resets a stream: both ends (except `quiet_end`, whose program asked
    /// for it) hear of it, and nothing in flight arrives any more.
    fn reset_stream(&mut self, id: StreamId, quiet_end: Option<usize>) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.state == StreamState::Dead {
            return;
        }
        s.state = StreamState::Dead;
        s.stalled.clear();
        self.stats.resets += 1;
        let hosts = [s.ends[0].host, s.ends[1].host];
        for (end, &host) in hosts.iter().enumerate() {
            if Some(end) == quiet_end || host == usize::MAX {
                continue;
            }
            let delay = if Some(1 - end) == quiet_end {
                self.weather.latency
            } else {
                Duration::ZERO
            };
            self.push(
                self.now + delay,
                Item::Rst {
                    stream: id,
                    to_end: end,
                },
            );
        }
    }

    fn end_of(&self, id: StreamId, host: HostId) -> Option<usize> {
        let s = self.streams.get(&id)?;
        (0..2).find(|&e| s.ends[e].host == host && s.ends[e].boot == self.nodes[host].boot)
    }

    fn release_port(&mut self, id: StreamId) {
        // The connecting end's ephemeral port is free again once the
        // stream is gone from its side.
        if let Some(s) = self.streams.get(&id) {
            let e = &s.ends[0];
            if e.host != usize::MAX && e.boot == self.nodes[e.host].boot {
                let port = e.local.port();
                self.nodes[e.host].listeners.remove(&port);
            }
        }
    }
}

impl Cx<'_> {
    /// The host's clock.
    pub fn now(&self) -> Instant {
        self.net.local_now(self.host)
    }

    /// Which host this is.
    pub fn host(&self) -> HostId {
        self.host
    }

    /// The host's address (0.0.0.0 before it has one).
    pub fn ip(&self) -> Ipv4Addr {
        self.net.nodes[self.host].ip
    }

    /// Gives the host an address (a client configured by BOOTP). Two hosts
    /// claiming one address is recorded as a conflict ([`Sim::conflicts`]).
    pub fn set_ip(&mut self, ip: Ipv4Addr) {
        let h = self.host;
        let old = self.net.nodes[h].ip;
        if old == ip {
            return;
        }
        if self.net.by_ip.get(&old) == Some(&h) {
            self.net.by_ip.remove(&old);
        }
        if !ip.is_unspecified() {
            if let Some(&other) = self.net.by_ip.get(&ip)
                && other != h
            {
                self.net.conflicts.push((ip, other, h));
            }
            self.net.by_ip.insert(ip, h);
        }
        self.net.nodes[h].ip = ip;
        self.net.record(20, &[&ip.octets()], || {
            format!("host {h} takes address {ip}")
        });
    }

    /// Binds a UDP port; `false` if it is taken.
    pub fn bind(&mut self, port: u16) -> bool {
        self.net.nodes[self.host].ports.insert(port)
    }

    /// Binds a fresh ephemeral UDP port.
    pub fn bind_ephemeral(&mut self) -> u16 {
        let p = self.net.ephemeral(self.host);
        self.net.nodes[self.host].ports.insert(p);
        p
    }

    /// Closes a UDP port.
    pub fn unbind(&mut self, port: u16) {
        self.net.nodes[self.host].ports.remove(&port);
    }

    /// Sends a datagram from one of the host's ports.
    pub fn send(&mut self, from_port: u16, to: SocketAddrV4, bytes: &[u8]) {
        let from = SocketAddrV4::new(self.ip(), from_port);
        self.net.send_datagram(self.host, from, to, bytes);
    }

    /// Counts a retransmission the exact-repeat detector cannot see (a
    /// resent request whose bytes changed, such as BOOTP's `secs`).
    pub fn retransmitted(&mut self) {
        self.net.stats.retransmitted += 1;
    }

    /// Accepts stream connections on `port`.
    pub fn listen(&mut self, port: u16) -> bool {
        self.net.nodes[self.host].listeners.insert(port)
    }

    /// Accepts a fresh ephemeral port for stream connections.
    pub fn listen_ephemeral(&mut self) -> u16 {
        let p = self.net.ephemeral(self.host);
        self.net.nodes[self.host].listeners.insert(p);
        p
    }

    /// Stops accepting connections on `port`.
    pub fn unlisten(&mut self, port: u16) {
        self.net.nodes[self.host].listeners.remove(&port);
    }

    /// Opens a stream to `to`; [`StreamEvent::Connected`] or
    /// [`StreamEvent::Refused`] follows.
    pub fn connect(&mut self, to: SocketAddrV4) -> StreamId {
        self.net.connect(self.host, to)
    }

    /// Writes bytes on a stream (buffered without limit; pace yourself with
    /// [`Cx::room`] and [`StreamEvent::Writable`]).
    pub fn write(&mut self, id: StreamId, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if let Some(end) = self.net.end_of(id, self.host) {
            let s = &self.net.streams[&id];
            if s.ends[end].write_closed {
                return;
            }
            let n = bytes.len() as u64;
            self.net
                .record(13, &[&id.to_le_bytes(), &n.to_le_bytes()], || {
                    format!("stream #{id}: write {n} bytes")
                });
            self.net.stream_send(id, end, bytes, false);
        }
    }

    /// Bytes that may be written before the window is full.
    pub fn room(&self, id: StreamId) -> usize {
        match self.net.end_of(id, self.host) {
            Some(end) => STREAM_WINDOW.saturating_sub(self.net.streams[&id].ends[end].in_flight),
            None => 0,
        }
    }

    /// Sends FIN after the bytes written: the peer sees [`StreamEvent::Eof`].
    pub fn shutdown(&mut self, id: StreamId) {
        if let Some(end) = self.net.end_of(id, self.host) {
            let s = self.net.streams.get_mut(&id).expect("stream exists");
            if s.ends[end].write_closed {
                return;
            }
            s.ends[end].write_closed = true;
            self.net.stream_send(id, end, &[], true);
        }
    }

    /// Closes the stream: FIN after the bytes written, and anything that
    /// still arrives resets the connection.
    pub fn close(&mut self, id: StreamId) {
        self.shutdown(id);
        if let Some(end) = self.net.end_of(id, self.host)
            && let Some(s) = self.net.streams.get_mut(&id)
        {
            s.ends[end].closed = true;
            if s.state == StreamState::Connecting {
                self.net.reset_stream(id, Some(end));
            }
        }
    }

    /// Resets the stream (an abortive close): the peer sees
    /// [`StreamEvent::Reset`].
    pub fn reset(&mut self, id: StreamId) {
        if let Some(end) = self.net.end_of(id, self.host) {
            self.net.record(14, &[&id.to_le_bytes()], || {
                format!("stream #{id}: reset by program")
            });
            self.net.reset_stream(id, Some(end));
            self.net.release_port(id);
        }
    }

    /// The stream's remote address.
    pub fn peer(&self, id: StreamId) -> Option<SocketAddrV4> {
        let end = self.net.end_of(id, self.host)?;
        Some(self.net.streams[&id].ends[1 - end].local)
    }

    /// The stream's local address.
    pub fn local(&self, id: StreamId) -> Option<SocketAddrV4> {
        let end = self.net.end_of(id, self.host)?;
        Some(self.net.streams[&id].ends[end].local)
    }

    /// Adds a line to the trace (it goes into the hash too).
    pub fn note(&mut self, text: &str) {
        let h = self.host;
        self.net
            .record(30, &[text.as_bytes()], || format!("host {h}: {text}"));
    }
}

/// A deterministic simulation.
///
/// ```
/// use std::net::{Ipv4Addr, SocketAddrV4};
/// use netboot_sim::world::{App, Cx, Sim};
///
/// /// Answers every datagram on port 7 with the same bytes.
/// struct Echo;
/// impl App for Echo {
///     fn start(&mut self, cx: &mut Cx<'_>) { cx.bind(7); }
///     fn datagram(&mut self, cx: &mut Cx<'_>, local: SocketAddrV4, from: SocketAddrV4, bytes: &mut [u8]) {
///         cx.send(local.port(), from, bytes);
///     }
/// }
///
/// /// Sends one datagram and keeps the answer.
/// #[derive(Default)]
/// struct Ping(Option<Vec<u8>>);
/// impl App for Ping {
///     fn start(&mut self, cx: &mut Cx<'_>) {
///         cx.bind(1000);
///         cx.send(1000, SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 7), b"hi");
///     }
///     fn datagram(&mut self, _: &mut Cx<'_>, _: SocketAddrV4, _: SocketAddrV4, bytes: &mut [u8]) {
///         self.0 = Some(bytes.to_vec());
///     }
/// }
///
/// let mut sim = Sim::new(7);
/// sim.add_host("echo", Ipv4Addr::new(10, 0, 0, 1), || Box::new(Echo));
/// let ping = sim.add_host("ping", Ipv4Addr::new(10, 0, 0, 2), || Box::new(Ping::default()));
/// sim.run();
/// assert_eq!(sim.app::<Ping>(ping).unwrap().0.as_deref(), Some(&b"hi"[..]));
/// ```
pub struct Sim {
    seed: u64,
    net: Net,
    hosts: Vec<Host>,
    host_rng: Rng,
    invariants: Vec<(String, Invariant)>,
    end: Option<Instant>,
}

/// A check run after every event; `host` is the host the event touched.
pub type Invariant = Box<dyn FnMut(&Sim, Option<HostId>) -> Result<(), String>>;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing is left to happen.
    Quiet,
    /// The condition held.
    Done,
    /// The time limit was reached.
    TimeLimit,
}

impl Sim {
    /// An empty world whose every decision derives from `seed`.
    pub fn new(seed: u64) -> Self {
        let echo = std::env::var("SIM_TRACE").is_ok_and(|v| !v.is_empty() && v != "0");
        Sim {
            seed,
            net: Net {
                now: Instant::ZERO,
                queue: BinaryHeap::new(),
                seq: 0,
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
            },
            hosts: Vec::new(),
            host_rng: Rng::new(seed ^ 0x9e37_79b9_7f4a_7c15),
            invariants: Vec::new(),
            end: None,
        }
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The global clock.
    pub fn now(&self) -> Instant {
        self.net.now
    }

    /// A host's clock (the global one plus its jumps).
    pub fn host_now(&self, host: HostId) -> Instant {
        self.net.local_now(host)
    }

    /// Adds a host with address `ip` (0.0.0.0 for a host that gets one by
    /// BOOTP) whose program `boot` builds; it boots at time zero.
    pub fn add_host(
        &mut self,
        name: &str,
        ip: Ipv4Addr,
        boot: impl FnMut() -> Box<dyn App> + 'static,
    ) -> HostId {
        self.add_host_at(name, ip, Instant::ZERO, boot)
    }

    /// [`Sim::add_host`], booting at `at`.
    pub fn add_host_at(
        &mut self,
        name: &str,
        ip: Ipv4Addr,
        at: Instant,
        boot: impl FnMut() -> Box<dyn App> + 'static,
    ) -> HostId {
        let id = self.hosts.len();
        let mut rng = self.host_rng.fork();
        let store = SimStore::new(rng.next_u64());
        self.hosts.push(Host {
            app: None,
            boot_fn: Box::new(boot),
            store,
            rng,
        });
        self.net.nodes.push(Node {
            name: name.to_string(),
            ip,
            boot_ip: ip,
            powered: false,
            link_up: true,
            boot: 0,
            ports: BTreeSet::new(),
            listeners: BTreeSet::new(),
            next_port: EPHEMERAL,
            offset: Duration::ZERO,
            deadline: None,
            timer_generation: 0,
            strict_timers: false,
            busy_at: Instant::ZERO,
            busy_count: 0,
        });
        self.net.group.push(0);
        if !ip.is_unspecified() {
            self.net.by_ip.insert(ip, id);
        }
        self.net.push(at, Item::Boot(id));
        id
    }

    /// A host's name.
    pub fn name(&self, host: HostId) -> &str {
        &self.net.nodes[host].name
    }

    /// How many hosts there are.
    pub fn host_count(&self) -> usize {
        self.hosts.len()
    }

    /// A host's current address.
    pub fn ip(&self, host: HostId) -> Ipv4Addr {
        self.net.nodes[host].ip
    }

    /// True while the host is powered and running its program.
    pub fn is_up(&self, host: HostId) -> bool {
        self.net.nodes[host].powered
    }

    /// How many times the host has booted.
    pub fn boots(&self, host: HostId) -> u32 {
        self.net.nodes[host].boot
    }

    /// The host's program, if the host exists, runs, and runs a `T`.
    pub fn app<T: App>(&self, host: HostId) -> Option<&T> {
        let app: &dyn Any = self.hosts.get(host)?.app.as_deref()?;
        app.downcast_ref()
    }

    /// The host's program, mutably.
    pub fn app_mut<T: App>(&mut self, host: HostId) -> Option<&mut T> {
        let app: &mut dyn Any = self.hosts.get_mut(host)?.app.as_deref_mut()?;
        app.downcast_mut()
    }

    /// Runs `f` on the host's program (if it is running and of type `T`)
    /// with a [`Cx`], as if the program had decided it itself: how a test
    /// hands a running client its next command.
    pub fn command<T: App>(&mut self, host: HostId, f: impl FnOnce(&mut T, &mut Cx<'_>)) {
        self.with_app(host, |app, cx| {
            let app: &mut dyn Any = app;
            if let Some(app) = app.downcast_mut::<T>() {
                f(app, cx);
            }
        });
    }

    /// The host's disk.
    pub fn store(&self, host: HostId) -> &SimStore {
        &self.hosts[host].store
    }

    /// The host's disk, mutably (for setting up files).
    pub fn store_mut(&mut self, host: HostId) -> &mut SimStore {
        &mut self.hosts[host].store
    }

    /// The weather on every link without its own.
    pub fn set_weather(&mut self, faults: LinkFaults) {
        self.net.weather = faults;
    }

    /// The weather on the link from `a` to `b`.
    pub fn set_link(&mut self, a: HostId, b: HostId, faults: LinkFaults) {
        self.net.links.insert((a, b), faults);
    }

    /// Adds a rule every datagram meets.
    pub fn add_rule(&mut self, rule: impl FnMut(&PacketView<'_>, &mut Rng) -> Verdict + 'static) {
        self.net.rules.push(Box::new(rule));
    }

    /// Shows every datagram and timer to `observer`.
    pub fn observe(&mut self, observer: impl FnMut(Instant, &Observed<'_>) + 'static) {
        self.net.observers.push(Box::new(observer));
    }

    /// Checks `check` after every event; a failure panics with the seed.
    pub fn invariant(
        &mut self,
        name: &str,
        check: impl FnMut(&Sim, Option<HostId>) -> Result<(), String> + 'static,
    ) {
        self.invariants.push((name.to_string(), Box::new(check)));
    }

    /// Fails the run if the host's program ever reports a deadline at or
    /// before the time of the timer it just handled (no busy loops).
    pub fn strict_timers(&mut self, host: HostId) {
        self.net.nodes[host].strict_timers = true;
    }

    /// Schedules a fault.
    pub fn schedule(&mut self, at: Instant, fault: Fault) {
        self.net.push(at, Item::Fault(fault));
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.net.stats
    }

    /// The trace hash so far.
    pub fn trace_hash(&self) -> u64 {
        self.net.trace.hash()
    }

    /// The trace.
    pub fn trace(&self) -> &Trace {
        &self.net.trace
    }

    /// Two hosts that held the same address at once: (address, first,
    /// second).
    pub fn conflicts(&self) -> &[(Ipv4Addr, HostId, HostId)] {
        &self.net.conflicts
    }

    /// Stops every run at `limit` from now on (a guard against scenarios
    /// that never settle).
    pub fn set_time_limit(&mut self, limit: Instant) {
        self.end = Some(limit);
    }

    /// Runs until nothing is left to happen (or the time limit).
    pub fn run(&mut self) -> Outcome {
        self.run_until(|_| false)
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) -> Outcome {
        let until = self.net.now + d;
        let saved = self.end;
        self.end = Some(saved.map_or(until, |e| e.min(until)));
        let o = self.run_until(|_| false);
        self.end = saved;
        if o == Outcome::TimeLimit {
            self.net.now = self.net.now.max(until);
        }
        o
    }

    /// Runs until `done` holds (checked after every event), nothing is left
    /// to happen, or the time limit.
    pub fn run_until(&mut self, mut done: impl FnMut(&Sim) -> bool) -> Outcome {
        loop {
            if done(self) {
                return Outcome::Done;
            }
            let Some(Reverse(next)) = self.net.queue.peek() else {
                return Outcome::Quiet;
            };
            if self.end.is_some_and(|e| next.at > e) {
                return Outcome::TimeLimit;
            }
            self.step();
        }
    }

    /// Processes the next event; `false` when there is none.
    pub fn step(&mut self) -> bool {
        let Some(Reverse(q)) = self.net.queue.pop() else {
            return false;
        };
        self.net.now = self.net.now.max(q.at);
        self.net.stats.events += 1;
        let touched = self.process(q.item);
        if !self.invariants.is_empty() {
            let mut checks = std::mem::take(&mut self.invariants);
            for (name, check) in &mut checks {
                if let Err(why) = check(self, touched) {
                    self.fail(&format!("invariant {name:?} violated: {why}"));
                }
            }
            self.invariants = checks;
        }
        true
    }

    /// Panics with the seed, the replay command and the end of the trace.
    pub fn fail(&self, why: &str) -> ! {
        let mut report = format!(
            "simulation failed at {:?}: {why}\n  seed {:#x}\n",
            self.net.now, self.seed
        );
        report += &format!(
            "  replay: {}\n  last events:\n",
            crate::seed::replay_command(self.seed)
        );
        for line in self.net.trace.recent() {
            report += "    ";
            report += line;
            report += "\n";
        }
        panic!("{report}");
    }

    fn with_app(&mut self, host: HostId, f: impl FnOnce(&mut dyn App, &mut Cx<'_>)) {
        let Host {
            app, store, rng, ..
        } = &mut self.hosts[host];
        let Some(app) = app.as_deref_mut() else {
            return;
        };
        let mut cx = Cx {
            net: &mut self.net,
            host,
            store,
            rng,
        };
        f(app, &mut cx);
        self.reschedule(host, false);
    }

    /// Asks the host's program for its deadline and queues its timer.
    fn reschedule(&mut self, host: HostId, after_timer: bool) {
        let deadline = match self.hosts[host].app.as_deref_mut() {
            Some(app) => app.deadline(),
            None => None,
        };
        let node = &mut self.net.nodes[host];
        let local_now = self.net.now + node.offset;
        if after_timer
            && node.strict_timers
            && let Some(d) = deadline
            && d <= local_now
        {
            let name = node.name.clone();
            self.fail(&format!(
                "{name}: the deadline {d:?} did not advance past {local_now:?} after its timer"
            ));
        }
        if deadline == node.deadline {
            return;
        }
        node.deadline = deadline;
        node.timer_generation += 1;
        let generation = node.timer_generation;
        if let Some(d) = deadline {
            // Host time to global time.
            let global =
                Instant::from_micros(d.as_micros().saturating_sub(node.offset.as_micros() as u64));
            self.net.push(global, Item::Timer { host, generation });
        }
    }

    fn boot(&mut self, host: HostId) {
        let node = &mut self.net.nodes[host];
        if node.powered {
            return;
        }
        node.powered = true;
        node.boot += 1;
        node.next_port = EPHEMERAL;
        let boots = node.boot;
        let h = &mut self.hosts[host];
        h.app = Some((h.boot_fn)());
        self.net.record(40, &[&(host as u64).to_le_bytes()], || {
            format!("host {host} boots (#{boots})")
        });
        self.with_app(host, |app, cx| app.start(cx));
    }

    fn crash(&mut self, host: HostId) {
        let node = &mut self.net.nodes[host];
        if !node.powered {
            return;
        }
        node.powered = false;
        node.ports.clear();
        node.listeners.clear();
        node.deadline = None;
        node.timer_generation += 1;
        let boot = node.boot;
        let old_ip = node.ip;
        let boot_ip = node.boot_ip;
        self.hosts[host].app = None;
        if old_ip != boot_ip {
            if self.net.by_ip.get(&old_ip) == Some(&host) {
                self.net.by_ip.remove(&old_ip);
            }
            if !boot_ip.is_unspecified() {
                self.net.by_ip.insert(boot_ip, host);
            }
            self.net.nodes[host].ip = boot_ip;
        }
        let mut ids: Vec<StreamId> = self
            .net
            .streams
            .iter()
            .filter(|(_, s)| s.ends.iter().any(|e| e.host == host && e.boot == boot))
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let end = (0..2).find(|&e| self.net.streams[&id].ends[e].host == host);
            self.net.reset_stream(id, end);
        }
        self.net.record(41, &[&(host as u64).to_le_bytes()], || {
            format!("host {host} crashes")
        });
    }

    fn apply(&mut self, fault: Fault) -> Option<HostId> {
        let text = format!("{fault:?}");
        self.net
            .record(42, &[text.as_bytes()], || format!("fault: {text}"));
        match fault {
            Fault::Crash(h) => {
                self.crash(h);
                Some(h)
            }
            Fault::Restart(h) => {
                self.boot(h);
                Some(h)
            }
            Fault::LinkDown(h) => {
                self.net.nodes[h].link_up = false;
                Some(h)
            }
            Fault::LinkUp(h) => {
                self.net.nodes[h].link_up = true;
                self.unstall();
                Some(h)
            }
            Fault::Partition(hosts) => {
                self.net.group.iter_mut().for_each(|g| *g = 0);
                for h in hosts {
                    self.net.group[h] = 1;
                }
                None
            }
            Fault::Heal => {
                self.net.group.iter_mut().for_each(|g| *g = 0);
                self.unstall();
                None
            }
            Fault::ClockJump(h, by) => {
                self.net.nodes[h].offset += by;
                // Its timer now falls due earlier in global time.
                self.net.nodes[h].deadline = None;
                self.reschedule(h, false);
                Some(h)
            }
            Fault::Store(h, faults) => {
                self.hosts[h].store.set_faults(faults);
                Some(h)
            }
            Fault::Weather(w) => {
                self.net.weather = w;
                None
            }
        }
    }

    /// Sends what streams held back while their path was broken.
    fn unstall(&mut self) {
        let mut ids: Vec<StreamId> = self
            .net
            .streams
            .iter()
            .filter(|(_, s)| !s.stalled.is_empty())
            .map(|(id, _)| *id)
            .collect();
        ids.sort_unstable();
        for id in ids {
            let s = &self.net.streams[&id];
            let (a, b) = (s.ends[0].host, s.ends[1].host);
            if !self.net.path_up(a, b) {
                continue;
            }
            let s = self.net.streams.get_mut(&id).expect("stream exists");
            let held = std::mem::take(&mut s.stalled);
            for (to_end, bytes, fin) in held {
                self.net.stream_send(id, 1 - to_end, &bytes, fin);
            }
        }
    }

    fn deliver_datagram(
        &mut self,
        to: HostId,
        from: SocketAddrV4,
        dst: SocketAddrV4,
        bytes: &[u8],
    ) -> bool {
        let node = &self.net.nodes[to];
        if !node.powered || !node.link_up {
            self.net.stats.dropped += 1;
            return false;
        }
        if !node.ports.contains(&dst.port()) {
            self.net.stats.unreachable += 1;
            return false;
        }
        self.net.observe(&Observed::Delivered {
            host: to,
            from,
            to: dst,
            bytes,
        });
        self.net.stats.delivered += 1;
        self.net.record(
            3,
            &[
                &(to as u64).to_le_bytes(),
                &from.to_string().into_bytes(),
                bytes,
            ],
            || {
                format!(
                    "deliver to host {to}: {from} -> {dst} {} bytes",
                    bytes.len()
                )
            },
        );
        let own_ip = self.net.nodes[to].ip;
        let local = SocketAddrV4::new(
            if dst.ip().is_broadcast() {
                own_ip
            } else {
                *dst.ip()
            },
            dst.port(),
        );
        let mut buf = bytes.to_vec();
        self.with_app(to, |app, cx| app.datagram(cx, local, from, &mut buf));
        true
    }

    fn process(&mut self, item: Item) -> Option<HostId> {
        match item {
            Item::Boot(h) => {
                self.boot(h);
                Some(h)
            }
            Item::Fault(f) => self.apply(f),
            Item::Timer { host, generation } => {
                let node = &mut self.net.nodes[host];
                if generation != node.timer_generation || !node.powered {
                    return None;
                }
                node.deadline = None;
                let now = self.net.now;
                if node.busy_at == now {
                    node.busy_count += 1;
                    if node.busy_count > BUSY_LIMIT {
                        let name = node.name.clone();
                        self.fail(&format!(
                            "{name}: busy loop, its timer fired {BUSY_LIMIT} times at one instant"
                        ));
                    }
                } else {
                    node.busy_at = now;
                    node.busy_count = 0;
                }
                self.net.observe(&Observed::Timer { host });
                self.net.record(4, &[&(host as u64).to_le_bytes()], || {
                    format!("timer of host {host}")
                });
                let Host {
                    app, store, rng, ..
                } = &mut self.hosts[host];
                if let Some(app) = app.as_deref_mut() {
                    let mut cx = Cx {
                        net: &mut self.net,
                        host,
                        store,
                        rng,
                    };
                    app.timeout(&mut cx);
                }
                self.reschedule(host, true);
                Some(host)
            }
            Item::Datagram {
                to,
                from,
                dst,
                bytes,
            } => {
                self.deliver_datagram(to, from, dst, &bytes);
                Some(to)
            }
            Item::Broadcast {
                from_host,
                from,
                dst,
                bytes,
            } => {
                for to in 0..self.hosts.len() {
                    if to == from_host {
                        continue;
                    }
                    let node = &self.net.nodes[to];
                    if !node.powered || !node.ports.contains(&dst.port()) {
                        continue;
                    }
                    let arrivals = self.net.datagram_fate(from_host, to, Duration::ZERO, 1);
                    if arrivals.is_empty() {
                        self.net.stats.dropped += 1;
                    }
                    self.net.stats.duplicated += arrivals.len().saturating_sub(1) as u64;
                    for at in arrivals {
                        // Already paid the base latency on the way here.
                        // Each copy is an event of its own, so that the
                        // invariants run after every delivery.
                        let at = at - self.net.weather.latency;
                        self.net.push(
                            at,
                            Item::Datagram {
                                to,
                                from,
                                dst,
                                bytes: bytes.clone(),
                            },
                        );
                    }
                }
                None
            }
            Item::Syn(id) => self.syn(id),
            Item::SynAck(id) => {
                let s = self.net.streams.get_mut(&id)?;
                if s.state != StreamState::Open {
                    return None;
                }
                let host = s.ends[0].host;
                self.stream_event(id, 0, StreamEvent::Connected)
                    .or(Some(host))
            }
            Item::Refuse(id) => {
                let s = self.net.streams.get_mut(&id)?;
                if s.state != StreamState::Connecting {
                    return None;
                }
                s.state = StreamState::Dead;
                self.net.release_port(id);
                self.stream_event(id, 0, StreamEvent::Refused)
            }
            Item::Segment {
                stream,
                to_end,
                bytes,
            } => {
                let s = self.net.streams.get_mut(&stream)?;
                if s.state != StreamState::Open {
                    return None;
                }
                if s.ends[to_end].closed {
                    self.net.reset_stream(stream, Some(to_end));
                    return None;
                }
                let n = bytes.len();
                self.net.stats.stream_bytes += n as u64;
                // The acknowledgement travels back.
                let back = self.net.weather.latency;
                self.net.push(
                    self.net.now + back,
                    Item::Ack {
                        stream,
                        to_end: 1 - to_end,
                        bytes: n,
                    },
                );
                self.net.record(15, &[&stream.to_le_bytes(), &bytes], || {
                    format!("stream #{stream}: {n} bytes arrive at end {to_end}")
                });
                self.stream_event(stream, to_end, StreamEvent::Data(&bytes))
            }
            Item::Ack {
                stream,
                to_end,
                bytes,
            } => {
                let s = self.net.streams.get_mut(&stream)?;
                let e = &mut s.ends[to_end];
                e.in_flight = e.in_flight.saturating_sub(bytes);
                if s.state == StreamState::Open && e.blocked && e.in_flight < STREAM_WINDOW {
                    e.blocked = false;
                    return self.stream_event(stream, to_end, StreamEvent::Writable);
                }
                None
            }
            Item::Fin { stream, to_end } => {
                let s = self.net.streams.get_mut(&stream)?;
                if s.state != StreamState::Open {
                    return None;
                }
                let both = s.ends[0].write_closed && s.ends[1].write_closed;
                self.net.record(16, &[&stream.to_le_bytes()], || {
                    format!("stream #{stream}: EOF at end {to_end}")
                });
                let r = self.stream_event(stream, to_end, StreamEvent::Eof);
                if both {
                    self.net.release_port(stream);
                    if let Some(s) = self.net.streams.get_mut(&stream) {
                        s.state = StreamState::Dead;
                    }
                }
                r
            }
            Item::Rst { stream, to_end } => {
                self.net.record(17, &[&stream.to_le_bytes()], || {
                    format!("stream #{stream}: reset at end {to_end}")
                });
                let r = self.stream_event(stream, to_end, StreamEvent::Reset);
                if to_end == 0 {
                    self.net.release_port(stream);
                }
                r
            }
            Item::GiveUp { stream, generation } => {
                let s = self.net.streams.get(&stream)?;
                if s.stall_generation != generation || s.stalled.is_empty() {
                    return None;
                }
                self.net.record(18, &[&stream.to_le_bytes()], || {
                    format!("stream #{stream}: path broken too long")
                });
                self.net.reset_stream(stream, None);
                None
            }
        }
    }

    fn syn(&mut self, id: StreamId) -> Option<HostId> {
        let s = self.net.streams.get(&id)?;
        if s.state != StreamState::Connecting {
            return None;
        }
        let (client, server) = (s.ends[0].host, s.ends[1].host);
        let to = s.ends[1].local;
        let from = s.ends[0].local;
        let node = &self.net.nodes[server];
        let listening = node.powered && node.link_up && node.listeners.contains(&to.port());
        let back = self.net.weather.latency;
        if !listening {
            self.net.push(self.net.now + back, Item::Refuse(id));
            return Some(server);
        }
        let boot = node.boot;
        let s = self.net.streams.get_mut(&id)?;
        s.ends[1].boot = boot;
        // Open from the acceptor's side at once: it may write straight
        // away, and its bytes arrive after the connecting end hears of it.
        s.state = StreamState::Open;
        self.net.push(self.net.now + back, Item::SynAck(id));
        let _ = client;
        self.stream_event(
            id,
            1,
            StreamEvent::Accepted {
                local: SocketAddr::V4(to),
                peer: SocketAddr::V4(from),
            },
        )
    }

    fn stream_event(&mut self, id: StreamId, end: usize, event: StreamEvent<'_>) -> Option<HostId> {
        let s = self.net.streams.get(&id)?;
        let e = &s.ends[end];
        let host = e.host;
        if host == usize::MAX {
            return None;
        }
        let node = &self.net.nodes[host];
        if !node.powered || e.boot != node.boot {
            return None;
        }
        let Host {
            app, store, rng, ..
        } = &mut self.hosts[host];
        if let Some(app) = app.as_deref_mut() {
            let mut cx = Cx {
                net: &mut self.net,
                host,
                store,
                rng,
            };
            app.stream(&mut cx, id, event);
        }
        self.reschedule(host, false);
        Some(host)
    }
}
