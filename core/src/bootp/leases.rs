//! The dynamic pool and its lease table (RFC 2131 §4.2, §4.3).
//!
//! The table lives in caller storage: one [`LeaseSlot`] per pool address
//! (slot *i* is the pool's *i*-th address), so the capacity is the caller's
//! choice and nothing grows. The same slots double as the buckets of a
//! chained hash index from client key to slot, so finding a client's lease,
//! the hot path of every request, is O(1) on average, and a lookup by
//! address is an index computation.
//!
//! Expiry is lazy: no timer runs per lease. A lease whose time has passed is
//! simply available again when the allocator meets it, and keeps its client
//! association until another client takes the address, so a returning
//! client gets its old address back (RFC 2131 §4.3.1, "previous address").
//!
//! Allocation of a new address prefers addresses never handed out, then the
//! expired or released ones, scanning from a rotating cursor.

use core::net::Ipv4Addr;

use super::{ClientKey, HwAddr};
use crate::time::Instant;

const NONE: u32 = u32::MAX;

/// What a pool address is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LeaseState {
    /// Never handed out (or forgotten).
    Free,
    /// Not for the pool: a static host, the server or the router has it.
    Reserved,
    /// Offered to a client (DHCPOFFER), held until `expires`.
    Offered,
    /// Bound to a client (DHCPACK or a BOOTP reply) until `expires`.
    Bound,
    /// Released by its client (DHCPRELEASE); reusable, remembered.
    Released,
    /// Declined by a client (DHCPDECLINE): in use by someone unknown;
    /// quarantined until `expires`.
    Declined,
}

impl LeaseState {
    /// The word used in lease files and logs.
    pub const fn name(self) -> &'static str {
        match self {
            LeaseState::Free => "free",
            LeaseState::Reserved => "reserved",
            LeaseState::Offered => "offered",
            LeaseState::Bound => "bound",
            LeaseState::Released => "released",
            LeaseState::Declined => "declined",
        }
    }
}

/// One pool address's state: storage for [`LeaseTable`]. Create them with
/// [`LeaseSlot::EMPTY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseSlot {
    state: LeaseState,
    key: ClientKey,
    hw: HwAddr,
    expires: Instant,
    head: u32,
    next: u32,
}

impl LeaseSlot {
    /// An unused slot.
    pub const EMPTY: LeaseSlot = LeaseSlot {
        state: LeaseState::Free,
        key: ClientKey {
            kind: 0,
            len: 0,
            bytes: [0; super::MAX_CLIENT_ID],
        },
        hw: HwAddr {
            htype: 0,
            len: 0,
            bytes: [0; 16],
        },
        expires: Instant::ZERO,
        head: NONE,
        next: NONE,
    };
}

impl Default for LeaseSlot {
    fn default() -> Self {
        LeaseSlot::EMPTY
    }
}

/// A lease as the server reports and restores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The address.
    pub ip: Ipv4Addr,
    /// The client's hardware address.
    pub hw: HwAddr,
    /// The key the client is known by.
    pub client: ClientKey,
    /// Offered, bound, released or declined.
    pub state: LeaseState,
    /// When it ends ([`Instant::MAX`]: never, as for BOOTP clients).
    pub expires: Instant,
}

/// Most address ranges (one per subnet) a table holds.
pub const MAX_RANGES: usize = 8;

#[derive(Clone, Copy, Debug)]
struct Range {
    /// First address.
    start: u32,
    /// Addresses in the range.
    len: u32,
    /// Slot of the first address.
    base: u32,
    /// Where the next search for a free address starts (relative).
    cursor: u32,
}

/// The pool's addresses and their leases, in caller storage: one or more
/// address ranges (one per subnet), whose slots follow each other.
#[derive(Debug)]
pub struct LeaseTable<L> {
    slots: L,
    ranges: heapless::Vec<Range, MAX_RANGES>,
    len: u32,
}

/// The lease storage cannot hold the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the pool has {need} addresses but the lease storage only {have} slots")]
pub struct TooSmall {
    /// Addresses in the pool.
    pub need: usize,
    /// Slots in the storage.
    pub have: usize,
}

impl<L: AsRef<[LeaseSlot]> + AsMut<[LeaseSlot]>> LeaseTable<L> {
    /// A table for the addresses `first..=last` (an empty pool when `last <
    /// first`) in `storage`, which needs at least one slot per address.
    ///
    /// ```
    /// use core::net::Ipv4Addr;
    /// use netboot_core::bootp::leases::{LeaseSlot, LeaseTable};
    ///
    /// let table = LeaseTable::new([LeaseSlot::EMPTY; 16], Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 115)).unwrap();
    /// assert_eq!(table.len(), 16);
    /// assert!(LeaseTable::new([LeaseSlot::EMPTY; 4], Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 9)).is_err());
    /// ```
    pub fn new(storage: L, first: Ipv4Addr, last: Ipv4Addr) -> Result<Self, TooSmall> {
        Self::with_ranges(storage, &[(first, last)])
    }

    /// A table for several ranges `first..=last` (range `r` of the table is
    /// `ranges[r]`; an empty one when `last < first`), at most
    /// [`MAX_RANGES`] (the rest are left out). The ranges must not overlap.
    ///
    /// ```
    /// use core::net::Ipv4Addr;
    /// use netboot_core::bootp::leases::{LeaseSlot, LeaseTable};
    ///
    /// let a = (Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 103));
    /// let b = (Ipv4Addr::new(10, 1, 0, 100), Ipv4Addr::new(10, 1, 0, 101));
    /// let table = LeaseTable::with_ranges([LeaseSlot::EMPTY; 6], &[a, b]).unwrap();
    /// assert_eq!(table.ip(4), Ipv4Addr::new(10, 1, 0, 100));
    /// assert_eq!(table.range_of(4), Some(1));
    /// assert_eq!(table.index(Ipv4Addr::new(10, 0, 0, 103)), Some(3));
    /// ```
    pub fn with_ranges(mut storage: L, ranges: &[(Ipv4Addr, Ipv4Addr)]) -> Result<Self, TooSmall> {
        let mut list = heapless::Vec::new();
        let mut total: u64 = 0;
        for &(first, last) in ranges.iter().take(MAX_RANGES) {
            let start = u32::from(first);
            let len = u32::from(last)
                .checked_sub(start)
                .map_or(0, |d| d.saturating_add(1));
            let _ = list.push(Range {
                start,
                len,
                base: total.min(u64::from(u32::MAX)) as u32,
                cursor: 0,
            });
            total += u64::from(len);
        }
        let have = storage.as_ref().len();
        if total > have as u64 || total >= u64::from(NONE) {
            return Err(TooSmall {
                need: total.min(usize::MAX as u64) as usize,
                have,
            });
        }
        for slot in storage.as_mut() {
            *slot = LeaseSlot::EMPTY;
        }
        Ok(LeaseTable {
            slots: storage,
            ranges: list,
            len: total as u32,
        })
    }

    /// Number of addresses in the pool.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// True for an empty pool.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when range `range` has no addresses (or does not exist).
    pub fn range_is_empty(&self, range: usize) -> bool {
        self.ranges.get(range).is_none_or(|r| r.len == 0)
    }

    fn slots(&self) -> &[LeaseSlot] {
        &self.slots.as_ref()[..self.len as usize]
    }

    fn slots_mut(&mut self) -> &mut [LeaseSlot] {
        let n = self.len as usize;
        &mut self.slots.as_mut()[..n]
    }

    /// The address of slot `index`.
    pub fn ip(&self, index: usize) -> Ipv4Addr {
        let index = index as u32;
        let r = self
            .ranges
            .iter()
            .find(|r| index >= r.base && index - r.base < r.len)
            .or(self.ranges.first());
        match r {
            Some(r) => Ipv4Addr::from(r.start.wrapping_add(index.wrapping_sub(r.base))),
            None => Ipv4Addr::UNSPECIFIED,
        }
    }

    /// The slot of a pool address.
    pub fn index(&self, ip: Ipv4Addr) -> Option<usize> {
        let ip = u32::from(ip);
        self.ranges.iter().find_map(|r| {
            let off = ip.checked_sub(r.start)?;
            (off < r.len).then_some((r.base + off) as usize)
        })
    }

    /// The range slot `index` belongs to.
    pub fn range_of(&self, index: usize) -> Option<usize> {
        let index = index as u32;
        self.ranges
            .iter()
            .position(|r| index >= r.base && index - r.base < r.len)
    }

    /// True when `ip` is in the pool.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        self.index(ip).is_some()
    }

    fn bucket(&self, key: &ClientKey) -> usize {
        (key.hash() % self.len) as usize
    }

    /// The slot associated with `key` (whatever its state).
    pub fn find(&self, key: &ClientKey) -> Option<usize> {
        if self.len == 0 || key.is_empty() {
            return None;
        }
        let slots = self.slots();
        let mut at = slots[self.bucket(key)].head;
        // A chain never holds more than every slot.
        for _ in 0..self.len {
            let slot = slots.get(at as usize)?;
            if slot.key == *key {
                return Some(at as usize);
            }
            at = slot.next;
        }
        None
    }

    /// The state and expiry of slot `index`.
    pub fn state(&self, index: usize) -> (LeaseState, Instant) {
        let s = &self.slots()[index];
        (s.state, s.expires)
    }

    /// The client associated with slot `index`, if any.
    pub fn client(&self, index: usize) -> Option<(ClientKey, HwAddr)> {
        let s = &self.slots()[index];
        (!s.key.is_empty()).then_some((s.key, s.hw))
    }

    /// True when slot `index` may be given to a new client at `now`.
    pub fn available(&self, index: usize, now: Instant) -> bool {
        let s = &self.slots()[index];
        match s.state {
            LeaseState::Free | LeaseState::Released => true,
            LeaseState::Reserved => false,
            LeaseState::Offered | LeaseState::Bound | LeaseState::Declined => s.expires <= now,
        }
    }

    /// True when slot `index` is held at `now` (offered, bound or declined
    /// and not expired).
    pub fn held(&self, index: usize, now: Instant) -> bool {
        !self.available(index, now) && self.slots()[index].state != LeaseState::Reserved
    }

    /// Picks an address for a new client in the first range: a never-used
    /// one first, else an expired or released one. Does not change the
    /// table.
    pub fn pick(&self, now: Instant) -> Option<usize> {
        self.pick_in(0, now)
    }

    /// Like [`LeaseTable::pick`], in range `range`.
    pub fn pick_in(&self, range: usize, now: Instant) -> Option<usize> {
        let r = *self.ranges.get(range)?;
        let n = r.len as usize;
        let slots = self.slots();
        let base = r.base as usize;
        let order = (0..n).map(|i| base + (r.cursor as usize + i) % n);
        order
            .clone()
            .find(|&i| slots[i].state == LeaseState::Free && slots[i].key.is_empty())
            .or_else(|| order.clone().find(|&i| self.available(i, now)))
    }

    fn unlink(&mut self, index: usize) {
        let key = self.slots()[index].key;
        if key.is_empty() {
            return;
        }
        let bucket = self.bucket(&key);
        let next = self.slots()[index].next;
        let slots = self.slots_mut();
        if slots[bucket].head == index as u32 {
            slots[bucket].head = next;
        } else {
            let mut at = slots[bucket].head;
            for _ in 0..slots.len() {
                let Some(slot) = slots.get_mut(at as usize) else {
                    break;
                };
                if slot.next == index as u32 {
                    slot.next = next;
                    break;
                }
                at = slot.next;
            }
        }
        slots[index].next = NONE;
        slots[index].key = ClientKey::default();
    }

    /// Associates slot `index` with a client, dropping its previous client
    /// and the client's previous slot.
    fn associate(&mut self, index: usize, key: &ClientKey, hw: &HwAddr) {
        if self.slots()[index].key == *key {
            self.slots_mut()[index].hw = *hw;
            return;
        }
        if let Some(old) = self.find(key) {
            self.unlink(old);
            if !matches!(
                self.slots()[old].state,
                LeaseState::Declined | LeaseState::Reserved
            ) {
                self.slots_mut()[old].state = LeaseState::Free;
            }
        }
        self.unlink(index);
        let bucket = self.bucket(key);
        let slots = self.slots_mut();
        slots[index].key = *key;
        slots[index].hw = *hw;
        slots[index].next = slots[bucket].head;
        slots[bucket].head = index as u32;
    }

    /// Gives slot `index` to a client in `state` until `expires`.
    pub fn assign(
        &mut self,
        index: usize,
        key: &ClientKey,
        hw: &HwAddr,
        state: LeaseState,
        expires: Instant,
    ) {
        self.associate(index, key, hw);
        let slot = &mut self.slots_mut()[index];
        slot.state = state;
        slot.expires = expires;
        if let Some(r) = self.range_of(index)
            && let Some(range) = self.ranges.get_mut(r)
        {
            range.cursor = (index as u32 - range.base + 1) % range.len;
        }
    }

    /// Changes the state of slot `index`, keeping its client.
    pub fn set_state(&mut self, index: usize, state: LeaseState, expires: Instant) {
        let slot = &mut self.slots_mut()[index];
        slot.state = state;
        slot.expires = expires;
    }

    /// Quarantines slot `index` until `until`, forgetting its client.
    pub fn quarantine(&mut self, index: usize, until: Instant) {
        self.unlink(index);
        self.set_state(index, LeaseState::Declined, until);
    }

    /// Takes `ip` out of the pool (a static host, the server, the router).
    pub fn reserve(&mut self, ip: Ipv4Addr) {
        if let Some(i) = self.index(ip) {
            self.unlink(i);
            self.set_state(i, LeaseState::Reserved, Instant::MAX);
        }
    }

    /// The lease of slot `index`, unless it is free or reserved.
    pub fn lease(&self, index: usize) -> Option<Lease> {
        let s = &self.slots()[index];
        match s.state {
            LeaseState::Free | LeaseState::Reserved => None,
            state => Some(Lease {
                ip: self.ip(index),
                hw: s.hw,
                client: s.key,
                state,
                expires: s.expires,
            }),
        }
    }

    /// Every lease that is not free or reserved, in address order.
    pub fn iter(&self) -> impl Iterator<Item = Lease> + '_ {
        (0..self.len as usize).filter_map(|i| self.lease(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> (ClientKey, HwAddr) {
        let hw = HwAddr::ethernet([2, 0, 0, 0, 0, n]);
        (ClientKey::hw(&hw), hw)
    }

    fn table() -> LeaseTable<[LeaseSlot; 8]> {
        LeaseTable::new(
            [LeaseSlot::EMPTY; 8],
            Ipv4Addr::new(10, 0, 0, 10),
            Ipv4Addr::new(10, 0, 0, 17),
        )
        .unwrap()
    }

    #[test]
    fn finds_clients_after_many_assignments() {
        let mut t = table();
        let now = Instant::from_secs(1);
        for n in 0..8u8 {
            let i = t.pick(now).unwrap();
            let (k, hw) = key(n);
            t.assign(i, &k, &hw, LeaseState::Bound, Instant::from_secs(100));
        }
        assert_eq!(t.pick(now), None, "pool is full");
        for n in 0..8u8 {
            let (k, _) = key(n);
            let i = t.find(&k).unwrap();
            assert_eq!(t.client(i).unwrap().0, k);
        }
        assert_eq!(t.iter().count(), 8);
        // After expiry an address goes to a newcomer, and its old client is
        // forgotten for it.
        let later = Instant::from_secs(200);
        let i = t.pick(later).unwrap();
        let (old, _) = t.client(i).unwrap();
        let (k, hw) = key(99);
        t.assign(i, &k, &hw, LeaseState::Offered, Instant::from_secs(230));
        assert_eq!(t.find(&k), Some(i));
        assert_eq!(t.find(&old), None);
    }

    #[test]
    fn a_client_holds_one_address() {
        let mut t = table();
        let (k, hw) = key(1);
        t.assign(0, &k, &hw, LeaseState::Bound, Instant::MAX);
        t.assign(5, &k, &hw, LeaseState::Offered, Instant::MAX);
        assert_eq!(t.find(&k), Some(5));
        assert_eq!(t.state(0).0, LeaseState::Free);
        assert!(t.client(0).is_none());
    }

    #[test]
    fn never_used_addresses_come_before_expired_ones() {
        let mut t = table();
        let (k, hw) = key(1);
        t.assign(0, &k, &hw, LeaseState::Bound, Instant::from_secs(1));
        // Slot 0 has expired but still remembers its client.
        let pick = t.pick(Instant::from_secs(5)).unwrap();
        assert_ne!(pick, 0);
    }

    #[test]
    fn quarantine_and_reserve() {
        let mut t = table();
        let (k, hw) = key(1);
        t.assign(2, &k, &hw, LeaseState::Bound, Instant::MAX);
        t.quarantine(2, Instant::from_secs(60));
        assert_eq!(t.find(&k), None);
        assert!(!t.available(2, Instant::from_secs(59)));
        assert!(t.available(2, Instant::from_secs(60)));
        t.reserve(Ipv4Addr::new(10, 0, 0, 13));
        assert!(!t.available(3, Instant::MAX));
        assert_eq!(t.index(Ipv4Addr::new(10, 0, 0, 18)), None);
        assert_eq!(t.ip(7), Ipv4Addr::new(10, 0, 0, 17));
    }

    #[test]
    fn ranges_pick_their_own_addresses_and_share_the_client_index() {
        let a = (Ipv4Addr::new(10, 0, 0, 10), Ipv4Addr::new(10, 0, 0, 11));
        let empty = (Ipv4Addr::new(10, 5, 0, 1), Ipv4Addr::UNSPECIFIED);
        let b = (Ipv4Addr::new(10, 1, 0, 10), Ipv4Addr::new(10, 1, 0, 12));
        let mut t = LeaseTable::with_ranges([LeaseSlot::EMPTY; 5], &[a, empty, b]).unwrap();
        assert_eq!(t.len(), 5);
        assert!(t.range_is_empty(1) && !t.range_is_empty(2) && t.range_is_empty(7));
        let now = Instant::ZERO;
        assert_eq!(t.pick_in(1, now), None);
        for n in 0..3u8 {
            let i = t.pick_in(2, now).unwrap();
            assert_eq!(t.range_of(i), Some(2));
            let (k, hw) = key(n);
            t.assign(i, &k, &hw, LeaseState::Bound, Instant::MAX);
        }
        assert_eq!(t.pick_in(2, now), None, "range 2 is full");
        assert_eq!(
            t.ip(t.pick_in(0, now).unwrap()),
            Ipv4Addr::new(10, 0, 0, 10)
        );
        // A client known in one range is found from anywhere; moving it to
        // another range frees its old address.
        let (k, hw) = key(1);
        let old = t.find(&k).unwrap();
        assert_eq!(t.range_of(old), Some(2));
        t.assign(0, &k, &hw, LeaseState::Bound, Instant::MAX);
        assert_eq!(t.find(&k), Some(0));
        assert_eq!(t.state(old).0, LeaseState::Free);
        assert_eq!(t.index(Ipv4Addr::new(10, 1, 0, 12)), Some(4));
        assert_eq!(t.index(Ipv4Addr::new(10, 5, 0, 1)), None);
        assert!(LeaseTable::with_ranges([LeaseSlot::EMPTY; 4], &[a, b]).is_err());
    }
}
