//! What a run shows of itself: the [`Observed`] events an observer is
//! shown (every datagram sent and delivered, every timer), the [`Stats`]
//! counters, and the trace records every part of the world writes.

use std::net::SocketAddrV4;

use netboot_core::time::Instant;

use super::HostId;
use super::net::Net;

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
    /// before: see [`Cx::retransmitted`](super::Cx::retransmitted) and the exact-repeat detector.
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

impl Net {
    pub(super) fn observe(&mut self, ev: &Observed<'_>) {
        let now = self.now;
        for o in &mut self.observers {
            o(now, ev);
        }
    }

    pub(super) fn record(&mut self, kind: u8, parts: &[&[u8]], describe: impl FnOnce() -> String) {
        self.trace.record(self.now, kind, parts, describe);
    }
}
