//! A host: its network side ([`Node`]: addresses, power, ports, clock
//! offset, timer) and the rest ([`Host`]: its program, disk and random
//! generator); booting, crashing, each callback into the program, and the
//! program's timer.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use netboot_core::rng::Rng;
use netboot_core::time::{Duration, Instant};

use super::net::Net;
use super::queue::Item;
use super::{App, Boot, Cx, HostId, Observed, Sim, StreamId};
use crate::store::Disk;

/// First ephemeral port.
pub(super) const EPHEMERAL: u16 = 49152;

/// A timer that fires this many times at one instant is a busy loop.
const BUSY_LIMIT: u32 = 10_000;

/// A host's network state, kept apart from its program so both can be
/// borrowed at once.
pub(super) struct Node {
    pub(super) name: String,
    pub(super) ip: Ipv4Addr,
    pub(super) boot_ip: Ipv4Addr,
    pub(super) powered: bool,
    pub(super) link_up: bool,
    /// The broadcast segment the host is on (see [`Sim::set_segment`]).
    pub(super) segment: u32,
    pub(super) boot: u32,
    pub(super) ports: BTreeSet<u16>,
    pub(super) listeners: BTreeSet<u16>,
    pub(super) next_port: u16,
    pub(super) offset: Duration,
    pub(super) deadline: Option<Instant>,
    pub(super) timer_generation: u64,
    pub(super) strict_timers: bool,
    pub(super) busy_at: Instant,
    pub(super) busy_count: u32,
}

/// A host's program, disk and generator.
pub(super) struct Host {
    pub(super) app: Option<Box<dyn App>>,
    pub(super) boot_fn: Boot,
    pub(super) store: Disk,
    pub(super) rng: Rng,
}

impl Net {
    pub(super) fn ephemeral(&mut self, host: HostId) -> u16 {
        let node = &mut self.nodes[host];
        loop {
            let p = node.next_port;
            node.next_port = if p == u16::MAX { EPHEMERAL } else { p + 1 };
            if !node.ports.contains(&p) && !node.listeners.contains(&p) {
                return p;
            }
        }
    }
}

impl Sim {
    pub(super) fn with_app(&mut self, host: HostId, f: impl FnOnce(&mut dyn App, &mut Cx<'_>)) {
        if self.call_app(host, f) {
            self.reschedule(host, false);
        }
    }

    /// Runs `f` on the host's program, if it runs one, with a [`Cx`] for
    /// the host; `false` if there was no program. Nothing is rescheduled.
    pub(super) fn call_app(
        &mut self,
        host: HostId,
        f: impl FnOnce(&mut dyn App, &mut Cx<'_>),
    ) -> bool {
        let Host {
            app, store, rng, ..
        } = &mut self.hosts[host];
        let Some(app) = app.as_deref_mut() else {
            return false;
        };
        let mut cx = Cx {
            net: &mut self.net,
            host,
            store,
            rng,
        };
        f(app, &mut cx);
        true
    }

    /// Asks the host's program for its deadline and queues its timer.
    pub(super) fn reschedule(&mut self, host: HostId, after_timer: bool) {
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

    pub(super) fn boot(&mut self, host: HostId) {
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

    pub(super) fn crash(&mut self, host: HostId) {
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

    /// The host's timer fired (if it is still the one queued).
    pub(super) fn timer(&mut self, host: HostId, generation: u64) -> Option<HostId> {
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
        self.call_app(host, |app, cx| app.timeout(cx));
        self.reschedule(host, true);
        Some(host)
    }
}
