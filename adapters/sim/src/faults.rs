//! Faults: rules applied to each packet and to each link, and events
//! scheduled at a time (partitions, link down and up, crashes, clock jumps,
//! storage trouble).
//!
//! Probabilities are in parts per million so that every decision is an
//! integer draw from the run's seeded generator: the same seed makes the
//! same decisions on every machine.
//!
//! * [`LinkFaults`] is the weather on a link (one direction between two
//!   hosts, or every link by default): [`Loss`] (independent, or bursty
//!   after Gilbert and Elliott's two-state channel), duplication,
//!   reordering, latency with jitter, and for byte streams the segment
//!   sizes and the odds of a connection reset.
//! * A [`PacketRule`] sees each datagram and may pass, drop, delay or
//!   duplicate it: "drop the third ACK", "delay everything to port 69".
//! * [`Fault`] is something that happens at one instant; the simulator
//!   applies it when the clock reaches it.
//!
//! Byte streams are reliable, as TCP is: a segment that the link would
//! lose arrives late (after a retransmission delay) instead; duplication
//! and reordering never show; a link that is down holds segments back, and
//! a connection whose path stays broken longer than
//! [`LinkFaults::stream_give_up`] is reset.

use std::net::SocketAddrV4;

use netboot_core::rng::Rng;
use netboot_core::time::Duration;

use crate::store::StoreFaults;

/// One in a million: the unit of every probability here.
pub const MILLION: u64 = 1_000_000;

/// Converts a percentage to parts per million.
///
/// ```
/// assert_eq!(netboot_sim::faults::percent(10.0), 100_000);
/// ```
pub fn percent(p: f64) -> u32 {
    (p * 10_000.0).round().clamp(0.0, MILLION as f64) as u32
}

/// How a link loses datagrams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Loss {
    /// Nothing is lost.
    #[default]
    None,
    /// Each datagram is lost independently with this probability (ppm).
    Random(u32),
    /// Gilbert-Elliott: a good state that loses `good` ppm and a bad state
    /// that loses `bad` ppm; each datagram first moves good→bad with
    /// probability `enter` and bad→good with probability `leave`. Losses
    /// come in bursts whose mean length is about `1 / leave` datagrams.
    Bursty {
        /// Loss in the good state (ppm).
        good: u32,
        /// Loss in the bad state (ppm).
        bad: u32,
        /// Chance per datagram of entering the bad state (ppm).
        enter: u32,
        /// Chance per datagram of leaving the bad state (ppm).
        leave: u32,
    },
}

/// The weather on a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkFaults {
    /// Datagram loss.
    pub loss: Loss,
    /// Chance that a datagram arrives twice (ppm).
    pub duplicate: u32,
    /// Chance that a datagram is held back by up to `reorder_window` (ppm),
    /// letting later ones overtake it.
    pub reorder: u32,
    /// How far a reordered datagram may be held back.
    pub reorder_window: Duration,
    /// One-way delay of every datagram and segment.
    pub latency: Duration,
    /// A uniform extra delay of up to this much (datagrams may overtake
    /// each other by it; stream segments stay in order).
    pub jitter: Duration,
    /// Smallest stream segment, in bytes.
    pub min_segment: usize,
    /// Largest stream segment, in bytes.
    pub max_segment: usize,
    /// Chance per stream segment that the connection is reset (ppm).
    pub stream_reset: u32,
    /// What a stream segment "lost" on the link costs: the retransmission
    /// delay added instead.
    pub stream_rto: Duration,
    /// A stream whose path is broken this long is reset.
    pub stream_give_up: Duration,
}

impl Default for LinkFaults {
    fn default() -> Self {
        LinkFaults::PERFECT
    }
}

impl LinkFaults {
    /// A LAN with no trouble: 100 µs one way, no jitter, no loss.
    pub const PERFECT: LinkFaults = LinkFaults {
        loss: Loss::None,
        duplicate: 0,
        reorder: 0,
        reorder_window: Duration::from_millis(5),
        latency: Duration::from_micros(100),
        jitter: Duration::ZERO,
        min_segment: 1,
        max_segment: 1460,
        stream_reset: 0,
        stream_rto: Duration::from_millis(200),
        stream_give_up: Duration::from_secs(30),
    };

    /// Random loss, duplication and reordering of the given percentages,
    /// with 1 ms of latency and 500 µs of jitter.
    ///
    /// ```
    /// use netboot_sim::faults::{LinkFaults, Loss};
    ///
    /// let f = LinkFaults::lossy(10.0, 2.0, 5.0);
    /// assert_eq!(f.loss, Loss::Random(100_000));
    /// assert_eq!(f.duplicate, 20_000);
    /// ```
    pub fn lossy(loss: f64, duplicate: f64, reorder: f64) -> Self {
        LinkFaults {
            loss: Loss::Random(percent(loss)),
            duplicate: percent(duplicate),
            reorder: percent(reorder),
            latency: Duration::from_millis(1),
            jitter: Duration::from_micros(500),
            ..LinkFaults::PERFECT
        }
    }
}

/// What a [`PacketRule`] does to a datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Leave it to the link's faults.
    Pass,
    /// Lose it.
    Drop,
    /// Add this much delay (then the link's faults apply).
    Delay(Duration),
    /// Deliver this many extra copies (then the link's faults apply to
    /// each).
    Duplicate(u8),
}

/// A datagram as a rule sees it.
#[derive(Clone, Copy, Debug)]
pub struct PacketView<'a> {
    /// Sender.
    pub from: SocketAddrV4,
    /// Destination (possibly a broadcast address).
    pub to: SocketAddrV4,
    /// The bytes.
    pub bytes: &'a [u8],
    /// How many datagrams the simulation carried before this one.
    pub index: u64,
}

/// A rule applied to every datagram before the link's faults.
pub type PacketRule = Box<dyn FnMut(&PacketView<'_>, &mut Rng) -> Verdict>;

/// Something that happens at one instant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The host loses power: its program and all its state (sockets,
    /// connections, timers) are gone; its storage is kept.
    Crash(usize),
    /// The host boots again: a fresh program on the kept storage.
    Restart(usize),
    /// The host's network link goes down: it neither sends nor receives.
    LinkDown(usize),
    /// The host's network link comes back.
    LinkUp(usize),
    /// These hosts are cut off from all the others (a second partition
    /// replaces the first).
    Partition(Vec<usize>),
    /// Every partition heals.
    Heal,
    /// The host's clock jumps forward (a suspended VM resuming, an NTP
    /// step): its timers fire early relative to everyone else's.
    ClockJump(usize, Duration),
    /// The host's storage starts failing (or stops: pass the default).
    Store(usize, StoreFaults),
    /// The weather on every link changes.
    Weather(LinkFaults),
}

/// Draws `true` with probability `ppm` / 1,000,000.
pub fn chance(rng: &mut Rng, ppm: u32) -> bool {
    ppm > 0 && rng.below(MILLION) < u64::from(ppm)
}

/// A uniform duration in `0..=max`.
pub fn up_to(rng: &mut Rng, max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    let us = u64::try_from(max.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(rng.range_inclusive(0, us))
}
