//! The event queue: everything that is due to happen, ordered by time
//! and, at one instant, by the order it was scheduled in.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddrV4;
use std::rc::Rc;

use netboot_core::time::Instant;

use super::net::Net;
use super::{HostId, StreamId};
use crate::faults::Fault;

/// Something that is due to happen.
#[derive(Clone, Debug)]
pub(super) enum Item {
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

/// An [`Item`] with its time and sequence number.
#[derive(Debug)]
pub(super) struct Queued {
    pub(super) at: Instant,
    seq: u64,
    pub(super) item: Item,
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

/// The queue: a heap of [`Queued`] items, least `(at, seq)` first.
#[derive(Debug, Default)]
pub(super) struct Queue {
    heap: BinaryHeap<Reverse<Queued>>,
    seq: u64,
}

impl Queue {
    /// Adds `item` at `at`, after everything already queued at `at`.
    pub(super) fn push(&mut self, at: Instant, item: Item) {
        self.seq += 1;
        self.heap.push(Reverse(Queued {
            at,
            seq: self.seq,
            item,
        }));
    }

    /// Takes the next item out.
    pub(super) fn pop(&mut self) -> Option<Queued> {
        self.heap.pop().map(|Reverse(q)| q)
    }

    /// When the next item is due.
    pub(super) fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(q)| q.at)
    }
}

impl Net {
    /// Queues `item` at `at`, or now if `at` has passed.
    pub(super) fn push(&mut self, at: Instant, item: Item) {
        self.queue.push(at.max(self.now), item);
    }
}
