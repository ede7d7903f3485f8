//! A deadline per key, and the earliest of them, in O(log n): what a host
//! program serving many machines (transfers, sessions) needs to answer
//! "when is my next timer?" without scanning them all.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

use netboot_core::time::Instant;

/// Deadlines by key, with lazy removal of superseded entries.
///
/// ```
/// use netboot_core::time::Instant;
/// use netboot_sim::timers::Timers;
///
/// let mut t = Timers::new();
/// t.set(1u32, Some(Instant::from_millis(50)));
/// t.set(2u32, Some(Instant::from_millis(20)));
/// assert_eq!(t.earliest(), Some(Instant::from_millis(20)));
/// t.set(2, None);
/// assert_eq!(t.earliest(), Some(Instant::from_millis(50)));
/// assert_eq!(t.due(Instant::from_millis(60)), vec![1]);
/// ```
#[derive(Debug)]
pub struct Timers<K: Ord + Hash + Copy> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
    current: HashMap<K, Instant>,
}

impl<K: Ord + Hash + Copy> Default for Timers<K> {
    fn default() -> Self {
        Timers::new()
    }
}

impl<K: Ord + Hash + Copy> Timers<K> {
    /// No deadlines.
    pub fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            current: HashMap::new(),
        }
    }

    /// Sets (or with `None` clears) the deadline of `key`.
    pub fn set(&mut self, key: K, deadline: Option<Instant>) {
        match deadline {
            Some(d) => {
                if self.current.insert(key, d) != Some(d) {
                    self.heap.push(Reverse((d, key)));
                }
            }
            None => {
                self.current.remove(&key);
            }
        }
        if self.heap.len() > 64 && self.heap.len() > 4 * self.current.len() {
            self.compact();
        }
    }

    fn compact(&mut self) {
        self.heap = self
            .current
            .iter()
            .map(|(k, d)| Reverse((*d, *k)))
            .collect();
    }

    fn prune(&mut self) {
        while let Some(Reverse((d, k))) = self.heap.peek() {
            if self.current.get(k) == Some(d) {
                return;
            }
            self.heap.pop();
        }
    }

    /// The earliest deadline.
    pub fn earliest(&mut self) -> Option<Instant> {
        self.prune();
        self.heap.peek().map(|Reverse((d, _))| *d)
    }

    /// Removes and returns every key whose deadline is at or before `now`,
    /// earliest first.
    pub fn due(&mut self, now: Instant) -> Vec<K> {
        let mut out = Vec::new();
        loop {
            self.prune();
            match self.heap.peek() {
                Some(Reverse((d, k))) if *d <= now => {
                    let k = *k;
                    self.heap.pop();
                    self.current.remove(&k);
                    out.push(k);
                }
                _ => return out,
            }
        }
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.heap.clear();
        self.current.clear();
    }

    /// How many keys have a deadline.
    pub fn len(&self) -> usize {
        self.current.len()
    }

    /// True when no key has a deadline.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty()
    }
}
