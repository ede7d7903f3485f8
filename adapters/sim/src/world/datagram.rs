//! UDP datagrams: sending one (the packet rules, then the link's loss,
//! duplication, jitter and reordering), the broadcast fan-out to every
//! listening host, delivery to a program, and the exact-repeat detector
//! that counts retransmissions.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use netboot_core::time::{Duration, Instant};

use super::net::Net;
use super::queue::Item;
use super::{HostId, Observed, Sim};
use crate::faults::{PacketView, Verdict, chance, up_to};
use crate::trace::hash_bytes;

/// The fingerprints of the last datagrams sent on one flow.
#[derive(Default)]
pub(super) struct FlowMemory {
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

impl Net {
    /// The faults a datagram from `a` to `b` meets: how many copies arrive
    /// and when.
    pub(super) fn datagram_fate(
        &mut self,
        a: HostId,
        b: HostId,
        extra: Duration,
        copies: u8,
    ) -> Vec<Instant> {
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

    pub(super) fn send_datagram(
        &mut self,
        host: HostId,
        from: SocketAddrV4,
        to: SocketAddrV4,
        bytes: &[u8],
    ) {
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

    pub(super) fn is_subnet_broadcast(&self, ip: Ipv4Addr) -> bool {
        // A directed broadcast: an all-ones host part (taken as the last
        // octet) that no host has as its address (the segment may be wider
        // than a /24).
        ip.octets()[3] == 255 && !self.by_ip.contains_key(&ip)
    }
}

impl Sim {
    pub(super) fn deliver_datagram(
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

    /// A broadcast reaches the segment: a copy for every other powered
    /// host on the sender's segment listening on its port, each meeting
    /// its own link's faults.
    pub(super) fn fan_out(
        &mut self,
        from_host: HostId,
        from: SocketAddrV4,
        dst: SocketAddrV4,
        bytes: &Rc<[u8]>,
    ) {
        for to in 0..self.hosts.len() {
            if to == from_host {
                continue;
            }
            let node = &self.net.nodes[to];
            if !node.powered
                || !node.ports.contains(&dst.port())
                || node.segment != self.net.nodes[from_host].segment
            {
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
    }
}
