//! The server side of the plan: a [`BootPolicy`] that hands each client its
//! current stage, and the hook through which the TFTP side advances it.
//!
//! [`PlanPolicy`] is given to the BOOTP/DHCP server
//! ([`Server::with_policy`](crate::bootp::server::Server::with_policy)).
//! For every reply the server is about to send it looks up the client's
//! current stage:
//!
//! * a stage: the reply carries that file, and the `siaddr` the server
//!   would have used anyway (the host entry's `next_server`, else the
//!   server's);
//! * the client has finished every stage: the server stays silent;
//! * the plan has nothing for the client: the server's ordinary assignment
//!   (host table, default file) applies.
//!
//! Retransmissions and the OFFER/ACK pair of one DHCP exchange get the same
//! stage, because the stage moves only when a download completes.
//!
//! When the TFTP side reports that a read request finished successfully,
//! [`PlanPolicy::transfer_complete`] attributes it to a client by the
//! transfer's source address and advances that client if the file was its
//! current stage. The address-to-client table is the one the policy builds
//! from the requests it decides (each carries the client's hardware address
//! and the address the server gives it: exactly the lease table's view of
//! every active client), seeded at start from the server's restored leases
//! and fixed host addresses with [`PlanPolicy::learn`]. Keeping it here
//! means any adapter (mio, async, the simulator, firmware) can wire the two
//! servers together with two calls and no access to the BOOTP server's
//! internals. A client must therefore fetch its stages from the address it
//! was given, as every boot ROM does.

use core::net::{IpAddr, Ipv4Addr};

use super::capacity::{Capacity, Fixed, Table};
use super::stages::{Advance, Decision, Plan, Profiles, Reset};
use crate::bootp::HwAddr;
use crate::bootp::hosts::FileName;
use crate::bootp::policy::{BootDecision, BootPolicy, BootRequest};
use crate::time::Instant;

/// Events waiting for [`PlanPolicy::poll_event`]; the oldest is dropped past
/// this.
pub const PLAN_EVENTS: usize = 32;

/// What the plan did, for the server's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PlanEvent {
    /// A client finished downloading its current stage.
    Advanced {
        /// The client.
        hw: HwAddr,
        /// The address it fetched from.
        ip: Ipv4Addr,
        /// The stage just completed (0-based).
        index: usize,
        /// How many stages the client has.
        of: usize,
    },
    /// A client that had finished every stage is served again from its
    /// first stage (its [`Reset::After`] time-out passed).
    Restarted {
        /// The client.
        hw: HwAddr,
    },
}

impl PlanEvent {
    /// True when the event completed the client's last stage.
    pub fn is_finished(&self) -> bool {
        matches!(self, PlanEvent::Advanced { index, of, .. } if index + 1 == *of)
    }
}

#[derive(Clone, Copy, Debug)]
#[doc(hidden)]
pub struct Seen {
    ip: Ipv4Addr,
    hw: HwAddr,
    at: Instant,
}

/// A provisioning [`Plan`] acting as the BOOTP server's boot policy, for a
/// bounded number of clients (see [`Capacity`]).
///
/// ```
/// use core::net::Ipv4Addr;
/// use netboot_core::bootp::HwAddr;
/// use netboot_core::bootp::policy::{Boot, BootDecision, BootPolicy, BootRequest, RequestKind};
/// use netboot_core::plan::{Fixed, PlanEvent, PlanPolicy, Reset, StaticProfiles};
/// use netboot_core::time::Instant;
///
/// let profiles = StaticProfiles { clients: &[], default: Some(&["stage1", "manifest"]) };
/// let mut policy: PlanPolicy<_, Fixed<16>> = PlanPolicy::new(profiles, Reset::Never);
/// let hw = HwAddr::ethernet([2, 0, 0, 0, 0, 1]);
/// let ip = Ipv4Addr::new(10, 0, 0, 100);
/// let request = |xid| BootRequest {
///     hw, ip, kind: RequestKind::Bootp, xid, requested_file: b"", vendor_class: None, arch: None,
///     default: Boot { next_server: Ipv4Addr::new(10, 0, 0, 1), file: "" },
/// };
/// let now = Instant::ZERO;
/// let file = |d: BootDecision| match d { BootDecision::Boot { file, .. } => file, d => panic!("{d:?}") };
/// assert_eq!(file(policy.decide(now, &request(1))), "stage1");
/// // The TFTP side reports the download from the client's address.
/// policy.transfer_complete(now, ip.into(), "stage1");
/// assert_eq!(policy.poll_event(), Some(PlanEvent::Advanced { hw, ip, index: 0, of: 2 }));
/// assert_eq!(file(policy.decide(now, &request(2))), "manifest");
/// policy.transfer_complete(now, ip.into(), "/manifest");
/// assert!(policy.poll_event().unwrap().is_finished());
/// assert_eq!(policy.decide(now, &request(3)), BootDecision::Silent);
/// ```
pub struct PlanPolicy<P, C: Capacity> {
    plan: Plan<P, C>,
    seen: C::Table<Seen>,
    events: heapless::Deque<PlanEvent, PLAN_EVENTS>,
    dirty: bool,
}

impl<P, C: Capacity> core::fmt::Debug for PlanPolicy<P, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PlanPolicy")
            .field("plan", &self.plan)
            .field("dirty", &self.dirty)
            .finish_non_exhaustive()
    }
}

impl<P: Profiles, const N: usize> PlanPolicy<P, Fixed<N>> {
    /// A policy over `profiles` for up to `N` clients, in which nobody has
    /// started yet.
    pub fn new(profiles: P, reset: Reset) -> Self {
        PlanPolicy::with_capacity(profiles, reset, N)
    }
}

impl<P: Profiles, C: Capacity> PlanPolicy<P, C> {
    /// A policy over `profiles` for up to `capacity` clients (a [`Fixed`]
    /// table has its own), in which nobody has started yet.
    pub fn with_capacity(profiles: P, reset: Reset, capacity: usize) -> Self {
        PlanPolicy {
            plan: Plan::with_capacity(profiles, reset, capacity),
            seen: Table::with_capacity(capacity),
            events: heapless::Deque::new(),
            dirty: false,
        }
    }

    /// The plan.
    pub fn plan(&self) -> &Plan<P, C> {
        &self.plan
    }

    /// The plan, to restore or reset clients.
    pub fn plan_mut(&mut self) -> &mut Plan<P, C> {
        self.dirty = true;
        &mut self.plan
    }

    /// Records that the client `hw` has address `ip` (a restored lease or a
    /// fixed host address), so that its downloads are attributed before it
    /// next asks. A client outside the plan is not recorded: its downloads
    /// advance nothing, and a server handing out addresses to many such
    /// clients must not pay for a table of them on every exchange.
    pub fn learn(&mut self, now: Instant, ip: Ipv4Addr, hw: HwAddr) {
        let stages = self.plan.profiles().stage_count(hw.as_bytes());
        if stages.is_none_or(|n| n == 0) {
            return;
        }
        if let Some(s) = self.seen.as_mut_slice().iter_mut().find(|s| s.ip == ip) {
            s.hw = hw;
            s.at = now;
            return;
        }
        let seen = Seen { ip, hw, at: now };
        if self.seen.is_full() {
            if let Some(oldest) = self.seen.as_mut_slice().iter_mut().min_by_key(|s| s.at) {
                *oldest = seen;
            }
        } else {
            let _ = self.seen.push(seen);
        }
    }

    /// The client that has `ip`, as far as the policy knows.
    pub fn client_at(&self, ip: Ipv4Addr) -> Option<HwAddr> {
        self.seen
            .as_slice()
            .iter()
            .find(|s| s.ip == ip)
            .map(|s| s.hw)
    }

    /// Reports that the client at `peer` finished downloading `path` (as the
    /// TFTP server names it). Advances the client when that was its current
    /// stage and returns the event (also queued for [`Self::poll_event`]).
    pub fn transfer_complete(
        &mut self,
        now: Instant,
        peer: IpAddr,
        path: &str,
    ) -> Option<PlanEvent> {
        let ip = match peer {
            IpAddr::V4(ip) => ip,
            IpAddr::V6(ip) => ip.to_ipv4_mapped()?,
        };
        let hw = self.client_at(ip)?;
        let of = self.plan.profiles().stage_count(hw.as_bytes())?;
        let index = match self.plan.transfer_complete(now, hw.as_bytes(), path) {
            Advance::Next { next } => next - 1,
            Advance::Finished => of - 1,
            Advance::Ignored => return None,
        };
        self.dirty = true;
        let event = PlanEvent::Advanced { hw, ip, index, of };
        self.push(event);
        Some(event)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<PlanEvent> {
        self.events.pop_front()
    }

    /// True when progress changed since [`Self::take_dirty`] was last
    /// called.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// True (once) when progress changed since the last call: time to save
    /// it (see [`super::progressfile`]).
    pub fn take_dirty(&mut self) -> bool {
        core::mem::take(&mut self.dirty)
    }

    fn push(&mut self, event: PlanEvent) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(event);
    }
}

impl<P: Profiles, C: Capacity> BootPolicy for PlanPolicy<P, C> {
    fn decide(&mut self, now: Instant, request: &BootRequest<'_>) -> BootDecision {
        let hw = request.hw;
        if !request.ip.is_unspecified() {
            self.learn(now, request.ip, hw);
        }
        let before = self.plan.stage_of(hw.as_bytes());
        match self.plan.boot_for(now, hw.as_bytes()) {
            Decision::Stage { index, of, file } => {
                let mut name = FileName::new();
                if name.push_str(file).is_err() {
                    // Longer than BOOTP's `file` field: the configuration
                    // should have refused it; boot nothing rather than a
                    // truncated name.
                    return BootDecision::NoBoot;
                }
                let restarted = index == 0 && before.is_some_and(|b| b >= of);
                if restarted {
                    self.dirty = true;
                    self.push(PlanEvent::Restarted { hw });
                }
                BootDecision::Boot {
                    next_server: request.default.next_server,
                    file: name,
                }
            }
            Decision::Silent => BootDecision::Silent,
            Decision::NotInPlan => BootDecision::Default,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootp::policy::{Boot, RequestKind};
    use crate::plan::StaticProfiles;
    use crate::time::Duration;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 0xb];

    fn profiles() -> StaticProfiles<'static> {
        StaticProfiles {
            clients: &[(&A, &["a/one", "a/manifest"])],
            default: Some(&["one", "two", "manifest"]),
        }
    }

    fn request(hw: [u8; 6], ip: [u8; 4]) -> BootRequest<'static> {
        BootRequest {
            hw: HwAddr::ethernet(hw),
            ip: Ipv4Addr::from(ip),
            kind: RequestKind::Discover,
            xid: 1,
            requested_file: b"",
            vendor_class: None,
            arch: None,
            default: Boot {
                next_server: Ipv4Addr::new(10, 0, 0, 2),
                file: "default.img",
            },
        }
    }

    fn file(d: BootDecision) -> String {
        match d {
            BootDecision::Boot { next_server, file } => {
                assert_eq!(next_server, Ipv4Addr::new(10, 0, 0, 2));
                file.to_string()
            }
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn downloads_are_attributed_by_address() {
        let mut p: PlanPolicy<_, Fixed<8>> = PlanPolicy::new(profiles(), Reset::Never);
        let t = Instant::ZERO;
        assert_eq!(file(p.decide(t, &request(A, [10, 0, 0, 10]))), "a/one");
        assert_eq!(file(p.decide(t, &request(B, [10, 0, 0, 11]))), "one");
        // B's address fetching A's stage moves nobody.
        assert_eq!(p.transfer_complete(t, [10, 0, 0, 11].into(), "a/one"), None);
        // An address the server never gave moves nobody either.
        assert_eq!(p.transfer_complete(t, [10, 0, 0, 99].into(), "one"), None);
        assert!(!p.take_dirty());
        let e = p
            .transfer_complete(t, [10, 0, 0, 10].into(), "a/one")
            .unwrap();
        assert_eq!(
            e,
            PlanEvent::Advanced {
                hw: HwAddr::ethernet(A),
                ip: Ipv4Addr::new(10, 0, 0, 10),
                index: 0,
                of: 2
            }
        );
        assert!(p.take_dirty());
        assert!(!p.take_dirty());
        // IPv4-mapped IPv6 sources (a dual-stack TFTP socket) count too.
        let mapped: IpAddr = Ipv4Addr::new(10, 0, 0, 10).to_ipv6_mapped().into();
        assert!(
            p.transfer_complete(t, mapped, "a/manifest")
                .unwrap()
                .is_finished()
        );
        assert_eq!(
            p.decide(t, &request(A, [10, 0, 0, 10])),
            BootDecision::Silent
        );
        assert_eq!(file(p.decide(t, &request(B, [10, 0, 0, 11]))), "one");
    }

    #[test]
    fn restored_addresses_and_progress_survive_a_restart() {
        let mut p: PlanPolicy<_, Fixed<8>> = PlanPolicy::new(profiles(), Reset::Never);
        let t = Instant::from_secs(5);
        p.learn(t, Ipv4Addr::new(10, 0, 0, 11), HwAddr::ethernet(B));
        assert!(p.plan_mut().restore(t, &B, 1));
        // The download that was running when the server restarted completes
        // before the client asks again.
        let e = p
            .transfer_complete(t, [10, 0, 0, 11].into(), "two")
            .unwrap();
        assert!(matches!(
            e,
            PlanEvent::Advanced {
                index: 1,
                of: 3,
                ..
            }
        ));
        assert_eq!(file(p.decide(t, &request(B, [10, 0, 0, 11]))), "manifest");
    }

    #[test]
    fn silence_ends_after_the_reset_time_out() {
        let reset = Reset::After(Duration::from_secs(60));
        let mut p: PlanPolicy<_, Fixed<8>> = PlanPolicy::new(profiles(), reset);
        let t = Instant::from_secs(10);
        p.decide(t, &request(A, [10, 0, 0, 10]));
        p.transfer_complete(t, [10, 0, 0, 10].into(), "a/one");
        p.transfer_complete(t, [10, 0, 0, 10].into(), "a/manifest");
        while p.poll_event().is_some() {}
        let later = t + Duration::from_secs(30);
        assert_eq!(
            p.decide(later, &request(A, [10, 0, 0, 10])),
            BootDecision::Silent
        );
        let much_later = t + Duration::from_secs(61);
        assert_eq!(
            file(p.decide(much_later, &request(A, [10, 0, 0, 10]))),
            "a/one"
        );
        assert_eq!(
            p.poll_event(),
            Some(PlanEvent::Restarted {
                hw: HwAddr::ethernet(A)
            })
        );
    }

    #[test]
    fn clients_outside_the_plan_get_the_default_and_tables_stay_bounded() {
        let p = StaticProfiles {
            clients: &[(&A, &["a/one"])],
            default: None,
        };
        let mut p: PlanPolicy<_, Fixed<2>> = PlanPolicy::new(p, Reset::Never);
        let t = Instant::ZERO;
        assert_eq!(
            p.decide(t, &request(B, [10, 0, 0, 11])),
            BootDecision::Default
        );
        // B is outside the plan: nothing about it is kept.
        assert_eq!(p.client_at(Ipv4Addr::new(10, 0, 0, 11)), None);
        let everyone = StaticProfiles {
            clients: &[],
            default: Some(&["d/one"]),
        };
        let mut p: PlanPolicy<_, Fixed<2>> = PlanPolicy::new(everyone, Reset::Never);
        for i in 0..10u8 {
            p.learn(
                Instant::from_secs(u64::from(i)),
                Ipv4Addr::new(10, 0, 1, i),
                HwAddr::ethernet([2, 0, 0, 0, 1, i]),
            );
        }
        assert_eq!(
            p.client_at(Ipv4Addr::new(10, 0, 1, 9)),
            Some(HwAddr::ethernet([2, 0, 0, 0, 1, 9]))
        );
        assert_eq!(p.client_at(Ipv4Addr::new(10, 0, 1, 0)), None);
    }
}
