//! The deadlines of many machines at once: an indexed binary heap with one
//! deadline per key (a slot index), so that moving a deadline costs
//! `O(log n)` and the earliest is always at hand.
//!
//! The endpoints keep one entry per running transfer or session; a machine
//! whose deadline moves on every packet (a TFTP transfer's retransmission
//! timer) updates its entry in place instead of piling up stale ones.

use alloc::vec::Vec;

use crate::time::Instant;

const NONE: usize = usize::MAX;

/// Deadlines keyed by small integers.
///
/// ```
/// use netboot_core::deadline::Deadlines;
/// use netboot_core::time::Instant;
///
/// let mut d = Deadlines::new();
/// d.set(3, Some(Instant::from_secs(5)));
/// d.set(1, Some(Instant::from_secs(2)));
/// d.set(3, Some(Instant::from_secs(1))); // moved earlier
/// assert_eq!(d.next(), Some(Instant::from_secs(1)));
/// assert_eq!(d.pop_due(Instant::from_secs(1)), Some(3));
/// assert_eq!(d.pop_due(Instant::from_secs(1)), None);
/// d.set(1, None);
/// assert_eq!(d.next(), None);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Deadlines {
    /// The heap: (deadline, key).
    heap: Vec<(Instant, usize)>,
    /// Where each key sits in `heap` (`NONE`: no deadline).
    position: Vec<usize>,
}

impl Deadlines {
    /// No deadlines.
    pub const fn new() -> Self {
        Deadlines {
            heap: Vec::new(),
            position: Vec::new(),
        }
    }

    /// How many keys have a deadline.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when no key has a deadline.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The earliest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.first().map(|&(at, _)| at)
    }

    /// The deadline of `key`.
    pub fn get(&self, key: usize) -> Option<Instant> {
        let &pos = self.position.get(key)?;
        (pos != NONE).then(|| self.heap[pos].0)
    }

    /// Sets (or, with `None`, clears) the deadline of `key`.
    pub fn set(&mut self, key: usize, at: Option<Instant>) {
        if key >= self.position.len() {
            if at.is_none() {
                return;
            }
            self.position.resize(key + 1, NONE);
        }
        let pos = self.position[key];
        match (pos, at) {
            (NONE, None) => {}
            (NONE, Some(at)) => {
                self.heap.push((at, key));
                self.position[key] = self.heap.len() - 1;
                self.up(self.heap.len() - 1);
            }
            (pos, None) => self.remove_at(pos),
            (pos, Some(at)) => {
                let old = self.heap[pos].0;
                self.heap[pos].0 = at;
                if at < old {
                    self.up(pos);
                } else {
                    self.down(pos);
                }
            }
        }
    }

    /// Removes and returns a key whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: Instant) -> Option<usize> {
        let &(at, key) = self.heap.first()?;
        if at > now {
            return None;
        }
        self.remove_at(0);
        Some(key)
    }

    fn remove_at(&mut self, pos: usize) {
        let key = self.heap[pos].1;
        self.position[key] = NONE;
        let last = self.heap.len() - 1;
        if pos != last {
            self.heap.swap(pos, last);
            self.position[self.heap[pos].1] = pos;
        }
        self.heap.pop();
        if pos < self.heap.len() {
            self.down(pos);
            self.up(pos);
        }
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.position[self.heap[a].1] = a;
        self.position[self.heap[b].1] = b;
    }

    fn up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.heap[parent].0 <= self.heap[pos].0 {
                break;
            }
            self.swap(parent, pos);
            pos = parent;
        }
    }

    fn down(&mut self, mut pos: usize) {
        loop {
            let (l, r) = (2 * pos + 1, 2 * pos + 2);
            let mut least = pos;
            if l < self.heap.len() && self.heap[l].0 < self.heap[least].0 {
                least = l;
            }
            if r < self.heap.len() && self.heap[r].0 < self.heap[least].0 {
                least = r;
            }
            if least == pos {
                return;
            }
            self.swap(pos, least);
            pos = least;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any sequence of sets and pops agrees with a naive model.
        #[test]
        fn agrees_with_a_naive_model(ops in proptest::collection::vec((0usize..32, proptest::option::of(0u64..1000), any::<bool>()), 0..400)) {
            let mut d = Deadlines::new();
            let mut model: [Option<u64>; 32] = [None; 32];
            for (key, at, pop) in ops {
                if pop {
                    let now = at.unwrap_or(500);
                    let got = d.pop_due(Instant::from_micros(now));
                    let earliest = model.iter().enumerate().filter_map(|(k, a)| a.map(|a| (a, k))).min();
                    match earliest {
                        Some((a, _)) if a <= now => {
                            let k = got.expect("a due key");
                            prop_assert_eq!(model[k], Some(a));
                            model[k] = None;
                        }
                        _ => prop_assert_eq!(got, None),
                    }
                } else {
                    d.set(key, at.map(Instant::from_micros));
                    model[key] = at;
                }
                let earliest = model.iter().filter_map(|a| *a).min();
                prop_assert_eq!(d.next(), earliest.map(Instant::from_micros));
                prop_assert_eq!(d.len(), model.iter().filter(|a| a.is_some()).count());
                for (k, a) in model.iter().enumerate() {
                    prop_assert_eq!(d.get(k), a.map(Instant::from_micros));
                }
            }
        }
    }
}
