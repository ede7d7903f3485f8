//! The run's trace: a hash of everything that happened, and the last lines
//! of it in words for a failure report.
//!
//! Every datagram sent, delivered or dropped, every stream segment, every
//! timer and every fault is folded into one 64-bit FNV-1a hash, in order.
//! Two runs from the same seed must produce the same hash; a test checks it.
//! The hash is only ever compared within one build, so FNV's simplicity
//! matters more here than its quality.

use std::collections::VecDeque;
use std::fmt::Write;

use netboot_core::time::Instant;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// How many trace lines are kept for a failure report.
pub const KEPT_LINES: usize = 64;

/// A running FNV-1a hash.
///
/// ```
/// use netboot_sim::trace::Fnv;
///
/// let mut a = Fnv::new();
/// a.write(b"hello");
/// let mut b = Fnv::new();
/// b.write(b"hel");
/// b.write(b"lo");
/// assert_eq!(a.finish(), b.finish());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}

impl Fnv {
    /// The empty hash.
    pub const fn new() -> Self {
        Fnv(FNV_OFFSET)
    }

    /// Folds bytes in.
    pub fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }

    /// Folds a number in.
    pub fn write_u64(&mut self, n: u64) {
        self.write(&n.to_le_bytes());
    }

    /// The hash so far.
    pub const fn finish(&self) -> u64 {
        self.0
    }
}

/// The hash of a byte string.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = Fnv::new();
    h.write(bytes);
    h.finish()
}

/// The trace of one run.
#[derive(Debug, Default)]
pub struct Trace {
    hash: Fnv,
    records: u64,
    lines: VecDeque<String>,
    echo: bool,
}

impl Trace {
    /// An empty trace; with `echo`, every line is also printed to stderr
    /// (set `SIM_TRACE=1` to get this from the simulator).
    pub fn new(echo: bool) -> Self {
        Trace {
            hash: Fnv::new(),
            records: 0,
            lines: VecDeque::with_capacity(KEPT_LINES),
            echo,
        }
    }

    /// Records one thing that happened: `kind` and `parts` go into the hash,
    /// `describe` is called only when the line is kept in words.
    pub fn record(
        &mut self,
        at: Instant,
        kind: u8,
        parts: &[&[u8]],
        describe: impl FnOnce() -> String,
    ) {
        self.hash.write_u64(at.as_micros());
        self.hash.write(&[kind]);
        for p in parts {
            self.hash.write_u64(p.len() as u64);
            self.hash.write(p);
        }
        self.records += 1;
        let mut line = String::new();
        let _ = write!(
            line,
            "{:>12.6}s  {}",
            at.as_micros() as f64 / 1e6,
            describe()
        );
        if self.echo {
            eprintln!("{line}");
        }
        if self.lines.len() == KEPT_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(line);
    }

    /// The hash of everything recorded.
    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }

    /// How many records went in.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// The last [`KEPT_LINES`] lines, oldest first.
    pub fn recent(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }
}
