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
use crate::bootp::extra::ExtraOptions;
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
    /// A boot ROM finished downloading the iPXE build its profile chains
    /// to; iPXE asks next, for stage `index`.
    Chainloaded {
        /// The client.
        hw: HwAddr,
        /// The address it fetched from.
        ip: Ipv4Addr,
        /// The stage iPXE will be given (0-based).
        index: usize,
        /// How many stages the client has.
        of: usize,
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
/// use netboot_core::bootp::policy::{Boot, BootDecision, BootPolicy, BootRequest};
/// use netboot_core::plan::{Fixed, PlanEvent, PlanPolicy, Reset, StaticProfiles};
/// use netboot_core::time::Instant;
///
/// let profiles = StaticProfiles { clients: &[], rules: &[], default: Some(&["stage1", "manifest"]) };
/// let mut policy: PlanPolicy<_, Fixed<16>> = PlanPolicy::new(profiles, Reset::Never);
/// let hw = HwAddr::ethernet([2, 0, 0, 0, 0, 1]);
/// let ip = Ipv4Addr::new(10, 0, 0, 100);
/// let request = |xid| {
///     BootRequest::bootp(hw, ip, xid, Boot { next_server: Ipv4Addr::new(10, 0, 0, 1), file: "" })
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

    /// Takes a new stage table and reset rule while running, keeping each
    /// client's progress and the addresses learnt (see
    /// [`Plan::reconfigure`]).
    pub fn reconfigure(&mut self, profiles: P, reset: Reset) {
        self.plan.reconfigure(profiles, reset);
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
        if self.plan.may_include(hw.as_bytes()) {
            self.record(now, ip, hw);
        }
    }

    fn record(&mut self, now: Instant, ip: Ipv4Addr, hw: HwAddr) {
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
        let of = self.plan.stage_count_of(hw.as_bytes())?;
        let index = match self.plan.transfer_complete(now, hw.as_bytes(), path) {
            Advance::Next { next } => next - 1,
            Advance::Finished => of - 1,
            Advance::Ignored => {
                let profiles = self.plan.profiles();
                let chain = self
                    .plan
                    .profile_of(hw.as_bytes())
                    .and_then(|p| profiles.chain(p));
                let index = self.plan.stage_of(hw.as_bytes())?;
                if !chain.is_some_and(|c| super::stages::same_path(c, path)) || index >= of {
                    return None;
                }
                let event = PlanEvent::Chainloaded { hw, ip, index, of };
                self.push(event);
                return Some(event);
            }
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
    fn observe(&mut self, now: Instant, hw: HwAddr, ip: Ipv4Addr) {
        self.learn(now, ip, hw);
    }

    fn decide(&mut self, now: Instant, request: &BootRequest<'_>) -> BootDecision {
        let hw = request.hw;
        let client = request.client();
        let before = self.plan.stage_of(hw.as_bytes());
        let before_profile = self.plan.profile_of(hw.as_bytes());
        // The profile is selected once; an HTTP-boot client is not
        // tracked, so its progress would not say which one.
        let (profile, decision) = self.plan.boot_with_profile(now, &client);
        let (file, restarted) = match decision {
            Decision::Stage { index, of, file } | Decision::Chain { index, of, file } => {
                (file, index == 0 && before.is_some_and(|b| b >= of))
            }
            Decision::Url { url } => (url, false),
            Decision::Silent => return BootDecision::Silent,
            Decision::NotInPlan => return BootDecision::Default,
        };
        let mut name = FileName::new();
        if name.push_str(file).is_err() {
            // Longer than BOOTP's `file` field: the configuration should
            // have refused it; boot nothing rather than a truncated name.
            return BootDecision::NoBoot;
        }
        let profiles = self.plan.profiles();
        let next_server = profile
            .and_then(|p| profiles.next_server(p))
            .unwrap_or(request.default.next_server);
        let options = profile
            .and_then(|p| ExtraOptions::from_slice(profiles.options(p)).ok())
            .unwrap_or_default();
        if !request.ip.is_unspecified() {
            self.record(now, request.ip, hw);
        }
        let after_profile = self.plan.profile_of(hw.as_bytes());
        if restarted || (before_profile.is_some() && before_profile != after_profile) {
            self.dirty = true;
        }
        if restarted {
            self.push(PlanEvent::Restarted { hw });
        }
        BootDecision::Boot {
            next_server,
            file: name,
            options,
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
            rules: &[],
            default: Some(&["one", "two", "manifest"]),
        }
    }

    fn request(hw: [u8; 6], ip: [u8; 4]) -> BootRequest<'static> {
        BootRequest {
            kind: RequestKind::Discover,
            ..BootRequest::bootp(
                HwAddr::ethernet(hw),
                Ipv4Addr::from(ip),
                1,
                Boot {
                    next_server: Ipv4Addr::new(10, 0, 0, 2),
                    file: "default.img",
                },
            )
        }
    }

    fn file(d: BootDecision) -> String {
        match d {
            BootDecision::Boot {
                next_server, file, ..
            } => {
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
            rules: &[],
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
            rules: &[],
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

    /// The fleet of the configuration guide: BIOS and UEFI ROMs chainload
    /// iPXE, iPXE gets its architecture's script, an HTTP-boot client a URL.
    fn fleet() -> crate::plan::ProfileTable {
        use crate::plan::rules::{Arch, Match};
        use crate::plan::{Profile, ProfileTable};
        let mut t = ProfileTable::new();
        let arch = |a: &[Arch]| Match {
            arch: Match::archs(a),
            ..Match::ANY
        };
        t.add_rule(
            arch(&[Arch::BIOS]),
            Profile::new("bios", &["bios/boot.ipxe", "manifest"])
                .unwrap()
                .chain("bios/undionly.kpxe")
                .unwrap(),
        )
        .unwrap();
        t.add_rule(
            arch(&[Arch::EFI_X64]),
            Profile::new("uefi", &["efi/boot.ipxe", "manifest"])
                .unwrap()
                .chain("efi/ipxe.efi")
                .unwrap()
                .next_server(Ipv4Addr::new(10, 0, 0, 9)),
        )
        .unwrap();
        t.add_rule(
            arch(&[Arch::EFI_X64_HTTP]),
            Profile::new("http", &["efi/boot.ipxe"])
                .unwrap()
                .url("http://10.0.0.2/efi/ipxe.efi")
                .unwrap(),
        )
        .unwrap();
        t
    }

    fn boot(d: BootDecision) -> (Ipv4Addr, String) {
        match d {
            BootDecision::Boot {
                next_server, file, ..
            } => (next_server, file.to_string()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_rom_chainloads_ipxe_which_gets_the_script_with_no_loop() {
        let mut p: PlanPolicy<_, Fixed<8>> = PlanPolicy::new(fleet(), Reset::Never);
        let t = Instant::ZERO;
        let ip = [10, 0, 0, 10];
        let rom = BootRequest {
            arch: Some(7),
            vendor_class: Some(b"PXEClient:Arch:00007:UNDI:003000"),
            ..request(A, ip)
        };
        let ipxe = BootRequest {
            ipxe_options: true,
            user_class: Some(b"iPXE"),
            ..rom
        };
        let uefi_server = Ipv4Addr::new(10, 0, 0, 9);
        // Round one: the ROM gets iPXE, every time it asks, from the
        // profile's server.
        assert_eq!(
            boot(p.decide(t, &rom)),
            (uefi_server, "efi/ipxe.efi".into())
        );
        assert_eq!(
            boot(p.decide(t, &rom)),
            (uefi_server, "efi/ipxe.efi".into())
        );
        assert_eq!(
            p.transfer_complete(t, [10, 0, 0, 10].into(), "efi/ipxe.efi"),
            Some(PlanEvent::Chainloaded {
                hw: HwAddr::ethernet(A),
                ip: Ipv4Addr::from(ip),
                index: 0,
                of: 2
            })
        );
        // Round two: iPXE gets the script, not the ROM a second time.
        assert_eq!(
            boot(p.decide(t, &ipxe)),
            (uefi_server, "efi/boot.ipxe".into())
        );
        p.transfer_complete(t, [10, 0, 0, 10].into(), "efi/boot.ipxe");
        assert_eq!(boot(p.decide(t, &ipxe)).1, "manifest");
        // A reboot in the middle: the ROM gets iPXE again, and iPXE resumes.
        assert_eq!(boot(p.decide(t, &rom)).1, "efi/ipxe.efi");
        assert_eq!(boot(p.decide(t, &ipxe)).1, "manifest");
        p.transfer_complete(t, [10, 0, 0, 10].into(), "manifest");
        // Done: silent to the ROM and to iPXE alike.
        assert_eq!(p.decide(t, &rom), BootDecision::Silent);
        assert_eq!(p.decide(t, &ipxe), BootDecision::Silent);
    }

    #[test]
    fn architectures_get_their_own_files_and_http_boot_a_url() {
        let mut p: PlanPolicy<_, Fixed<8>> = PlanPolicy::new(fleet(), Reset::Never);
        let t = Instant::ZERO;
        // No option 93 at all: a legacy PXE ROM, counted as BIOS.
        let old_rom = BootRequest {
            vendor_class: Some(b"PXEClient:Arch:00000:UNDI:002001"),
            ..request(B, [10, 0, 0, 11])
        };
        assert_eq!(
            boot(p.decide(t, &old_rom)),
            (Ipv4Addr::new(10, 0, 0, 2), "bios/undionly.kpxe".into())
        );
        // A BIOS iPXE ROM (QEMU's) is iPXE already: straight to its script.
        let bios_ipxe = BootRequest {
            arch: Some(0),
            ipxe_options: true,
            ..request([2, 0, 0, 0, 0, 0xc], [10, 0, 0, 12])
        };
        assert_eq!(boot(p.decide(t, &bios_ipxe)).1, "bios/boot.ipxe");
        let http = BootRequest {
            arch: Some(16),
            vendor_class: Some(b"HTTPClient:Arch:00016:UNDI:003001"),
            ..request([2, 0, 0, 0, 0, 0xd], [10, 0, 0, 13])
        };
        assert_eq!(
            boot(p.decide(t, &http)),
            (
                Ipv4Addr::new(10, 0, 0, 2),
                "http://10.0.0.2/efi/ipxe.efi".into()
            )
        );
        // The same machine, asked before as a UEFI ROM (whose profile has
        // its own next server), now HTTP-booting: the HTTP profile's answer.
        let rom = BootRequest {
            arch: Some(7),
            ..request([2, 0, 0, 0, 0, 0xd], [10, 0, 0, 13])
        };
        assert_eq!(boot(p.decide(t, &rom)).0, Ipv4Addr::new(10, 0, 0, 9));
        p.take_dirty();
        assert_eq!(
            boot(p.decide(t, &http)),
            (
                Ipv4Addr::new(10, 0, 0, 2),
                "http://10.0.0.2/efi/ipxe.efi".into()
            )
        );
        assert!(!p.take_dirty(), "an HTTP answer changes no progress");
        // An architecture no rule names is outside the plan.
        let arm = BootRequest {
            arch: Some(11),
            ..request([2, 0, 0, 0, 0, 0xe], [10, 0, 0, 14])
        };
        assert_eq!(p.decide(t, &arm), BootDecision::Default);
    }

    #[test]
    fn restored_progress_keeps_its_stage_under_the_profile_the_request_selects() {
        let mut p: PlanPolicy<_, Fixed<8>> = PlanPolicy::new(fleet(), Reset::Never);
        let t = Instant::ZERO;
        // Saved: A had done stage 1 of 2 (the file does not say which
        // profile; A's address alone selects the BIOS one).
        assert!(p.plan_mut().restore(t, &A, 1));
        let ipxe = BootRequest {
            arch: Some(7),
            ipxe_options: true,
            ..request(A, [10, 0, 0, 10])
        };
        assert_eq!(boot(p.decide(t, &ipxe)).1, "manifest");
        // A client that moves to another profile starts that one afresh.
        let bios = BootRequest {
            arch: Some(0),
            ipxe_options: true,
            ..request(A, [10, 0, 0, 10])
        };
        assert_eq!(boot(p.decide(t, &bios)).1, "bios/boot.ipxe");
        assert!(p.take_dirty());
    }

    #[test]
    fn an_address_another_server_gives_attributes_downloads() {
        let mut p: PlanPolicy<_, Fixed<8>> = PlanPolicy::new(profiles(), Reset::Never);
        let t = Instant::ZERO;
        // A proxy's offer carries no address.
        assert_eq!(file(p.decide(t, &request(A, [0, 0, 0, 0]))), "a/one");
        assert_eq!(p.transfer_complete(t, [10, 0, 0, 50].into(), "a/one"), None);
        p.observe(t, HwAddr::ethernet(A), Ipv4Addr::new(10, 0, 0, 50));
        assert!(
            p.transfer_complete(t, [10, 0, 0, 50].into(), "a/one")
                .is_some()
        );
    }

    #[test]
    fn the_selected_profiles_options_ride_with_every_answer() {
        use crate::plan::rules::{Arch, Match};
        use crate::plan::{Profile, ProfileTable};
        let mut t = ProfileTable::new();
        t.add_rule(
            Match {
                arch: Match::archs(&[Arch::EFI_X64]),
                ..Match::ANY
            },
            Profile::new("uefi", &["efi/boot.ipxe"])
                .unwrap()
                .chain("efi/ipxe.efi")
                .unwrap()
                .url("http://10.0.0.2/efi/ipxe.efi")
                .unwrap()
                .option(252, b"http://10.0.0.1/wpad.dat")
                .unwrap()
                .option(3, &[10, 0, 0, 254])
                .unwrap(),
        )
        .unwrap();
        t.set_default(&["one"]).unwrap();
        let mut p: PlanPolicy<_, Fixed<8>> = PlanPolicy::new(t, Reset::Never);
        let now = Instant::ZERO;
        let options = |d: BootDecision| match d {
            BootDecision::Boot { file, options, .. } => (file.to_string(), options.to_vec()),
            other => panic!("{other:?}"),
        };
        let want = [
            &[252, 24][..],
            b"http://10.0.0.1/wpad.dat",
            &[3, 4, 10, 0, 0, 254],
        ]
        .concat();
        let rom = BootRequest {
            arch: Some(7),
            ..request(A, [10, 0, 0, 10])
        };
        // The ROM's chainloader, iPXE's stage and an HTTP-boot client's URL
        // all carry the profile's options; the default profile has none.
        assert_eq!(
            options(p.decide(now, &rom)),
            ("efi/ipxe.efi".into(), want.clone())
        );
        let ipxe = BootRequest {
            ipxe_options: true,
            ..rom
        };
        assert_eq!(
            options(p.decide(now, &ipxe)),
            ("efi/boot.ipxe".into(), want.clone())
        );
        let http = BootRequest {
            vendor_class: Some(b"HTTPClient:Arch:00007"),
            ..request(B, [10, 0, 0, 11])
        };
        let http = BootRequest {
            arch: Some(7),
            ..http
        };
        assert_eq!(
            options(p.decide(now, &http)),
            ("http://10.0.0.2/efi/ipxe.efi".into(), want)
        );
        let other = request([2, 0, 0, 0, 0, 0xc], [10, 0, 0, 12]);
        assert_eq!(options(p.decide(now, &other)), ("one".into(), Vec::new()));
    }
}
