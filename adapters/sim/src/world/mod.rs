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
//! questions from the host's [`SimStore`] through core's `tftp::file` and `ftp::server::pump`.
//! Apps hold no protocol logic of their own; [`crate::apps`] has one per
//! protocol role.
//!
//! Time: [`Sim::now`] is global. Each host sees `global + offset`, where the
//! offset grows when its clock jumps ([`Fault::ClockJump`]); a host's clock
//! never runs backwards, as the monotonic clocks the real adapters read never
//! do.

// The parts: `app` (what a program sees: `App`, `Cx`), `queue` (the event
// queue), `net` (the network's state and the link model), `host` (booting,
// crashing, callbacks and timers), `datagram` (UDP), `stream` (reliable
// byte streams), `observe` (observers, counters, trace records). `Sim`, the
// runner, is here.
mod app;
mod datagram;
mod host;
mod net;
mod observe;
mod queue;
mod stream;

pub use app::{App, Boot, Cx, HostId, StreamEvent, StreamId};
pub use observe::{Observed, Observer, Stats};
pub use stream::{STREAM_LOW_WATER, STREAM_WINDOW};

use std::any::Any;
use std::cell::{Ref, RefMut};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use netboot_core::rng::Rng;
use netboot_core::time::{Duration, Instant};

use crate::faults::{Fault, LinkFaults, PacketView, Verdict};
use crate::store::{Disk, SimStore};
use crate::trace::Trace;
use host::{EPHEMERAL, Host, Node};
use net::Net;
use queue::Item;

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
            net: Net::new(seed, echo),
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
        let store = Disk::new(SimStore::new(rng.next_u64()));
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
            segment: 0,
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

    /// The host's disk, borrowed for reading (keep the borrow no longer
    /// than a statement or two: the host's programs share the disk).
    pub fn store(&self, host: HostId) -> Ref<'_, SimStore> {
        self.hosts[host].store.borrow()
    }

    /// The host's disk, borrowed for changing (setting up files).
    pub fn store_mut(&mut self, host: HostId) -> RefMut<'_, SimStore> {
        self.hosts[host].store.borrow_mut()
    }

    /// A handle on the host's disk, shared with its programs.
    pub fn disk(&self, host: HostId) -> Disk {
        self.hosts[host].store.clone()
    }

    /// The weather on every link without its own.
    pub fn set_weather(&mut self, faults: LinkFaults) {
        self.net.weather = faults;
    }

    /// The weather on the link from `a` to `b`.
    pub fn set_link(&mut self, a: HostId, b: HostId, faults: LinkFaults) {
        self.net.links.insert((a, b), faults);
    }

    /// Puts `host` on broadcast segment `segment` (every host starts on
    /// segment 0). A broadcast reaches only the hosts on its sender's
    /// segment; a unicast datagram or a stream reaches a host on any
    /// segment, as if a router that adds no faults of its own joined
    /// them. This is what a relay agent needs: the clients behind it are
    /// not heard by the server, only by the relay on their segment.
    ///
    /// ```
    /// use std::net::{Ipv4Addr, SocketAddrV4};
    /// use netboot_core::time::{Duration, Instant};
    /// use netboot_sim::Sim;
    /// use netboot_sim::apps::udp::{Scripted, Send};
    ///
    /// let mut sim = Sim::new(1);
    /// let send = |to: Ipv4Addr| Send { at: Instant::ZERO, from_port: 9, to: SocketAddrV4::new(to, 9), bytes: b"hi".to_vec() };
    /// let script = vec![send(Ipv4Addr::BROADCAST), send(Ipv4Addr::new(10, 0, 0, 2))];
    /// let a = sim.add_host("a", Ipv4Addr::new(10, 0, 0, 1), move || Box::new(Scripted::new(&[9], script.clone())));
    /// let b = sim.add_host("b", Ipv4Addr::new(10, 0, 0, 2), || Box::new(Scripted::new(&[9], vec![])));
    /// let c = sim.add_host("c", Ipv4Addr::new(10, 0, 0, 3), || Box::new(Scripted::new(&[9], vec![])));
    /// sim.set_segment(a, 1);
    /// sim.set_segment(c, 1);
    /// sim.run_for(Duration::from_secs(1));
    /// let got = |h| sim.app::<Scripted>(h).unwrap().received.len();
    /// // b, on segment 0, gets only the unicast; c, on a's segment, the broadcast.
    /// assert_eq!((got(b), got(c)), (1, 1));
    /// ```
    pub fn set_segment(&mut self, host: HostId, segment: u32) {
        self.net.nodes[host].segment = segment;
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
            let Some(next) = self.net.queue.next_at() else {
                return Outcome::Quiet;
            };
            if self.end.is_some_and(|e| next > e) {
                return Outcome::TimeLimit;
            }
            self.step();
        }
    }

    /// Processes the next event; `false` when there is none.
    pub fn step(&mut self) -> bool {
        let Some(q) = self.net.queue.pop() else {
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

    /// Applies a scheduled fault; returns the host it touched, if any.
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
                self.hosts[h].store.borrow_mut().set_faults(faults);
                Some(h)
            }
            Fault::Weather(w) => {
                self.net.weather = w;
                None
            }
        }
    }

    /// Handles one queued item; returns the host it touched, if any.
    fn process(&mut self, item: Item) -> Option<HostId> {
        match item {
            Item::Boot(h) => {
                self.boot(h);
                Some(h)
            }
            Item::Fault(f) => self.apply(f),
            Item::Timer { host, generation } => self.timer(host, generation),
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
                self.fan_out(from_host, from, dst, &bytes);
                None
            }
            Item::Syn(id) => self.syn(id),
            Item::SynAck(id) => self.syn_ack(id),
            Item::Refuse(id) => self.refuse(id),
            Item::Segment {
                stream,
                to_end,
                bytes,
            } => self.segment(stream, to_end, bytes),
            Item::Ack {
                stream,
                to_end,
                bytes,
            } => self.ack(stream, to_end, bytes),
            Item::Fin { stream, to_end } => self.fin(stream, to_end),
            Item::Rst { stream, to_end } => self.rst(stream, to_end),
            Item::GiveUp { stream, generation } => self.give_up(stream, generation),
        }
    }
}
