//! Per-client progress through an ordered list of boot stages.
//!
//! [`Plan`] answers "which file does this client boot now?" and moves a
//! client on when it has fetched its current stage. It keys on the client's
//! hardware address bytes only, so the same table serves BOOTP, DHCP and
//! whatever a firmware adapter uses.
//!
//! Progress is held in a fixed-capacity table (`N` clients); when it is full
//! the client seen least recently is forgotten (and starts again from its
//! first stage if it comes back). Nothing here allocates.

use core::net::Ipv4Addr;

use super::capacity::{Capacity, Fixed, Table};
use super::rules::{Arch, Client, Match};
use crate::path::{self, DotDot};
use crate::time::{Duration, Instant};

/// Longest hardware address the plan keys on (BOOTP's `chaddr` is 16 bytes).
pub const MAX_HWADDR: usize = 16;

/// A client's hardware address (`chaddr` truncated to `hlen`).
pub type HwAddr = heapless::Vec<u8, MAX_HWADDR>;

/// Identifies one profile of a [`Profiles`] table.
pub type ProfileId = u16;

/// Where each client's boot stages come from: a table of profiles (an
/// ordered list of stages, and what else the client is told) and the rule
/// that picks one for a client.
///
/// Implemented by [`StaticProfiles`] for borrowed tables (firmware, tests)
/// and by [`ProfileTable`](super::ProfileTable) for configurations.
pub trait Profiles {
    /// The profile the client described by `client` follows, or `None`
    /// when the plan has nothing for it.
    fn select(&self, client: &Client<'_>) -> Option<ProfileId>;

    /// The number of stages of `profile`.
    fn stage_count(&self, profile: ProfileId) -> usize;

    /// The file of stage `index` (0-based) of `profile`: a normalised path
    /// relative to the served root.
    fn stage(&self, profile: ProfileId, index: usize) -> Option<&str>;

    /// The iPXE build that a client of `profile` which is not iPXE yet
    /// boots first (see [`Decision::Chain`]).
    fn chain(&self, _profile: ProfileId) -> Option<&str> {
        None
    }

    /// The server a client of `profile` boots from, when not the server's
    /// own default.
    fn next_server(&self, _profile: ProfileId) -> Option<Ipv4Addr> {
        None
    }

    /// The URL an HTTP-boot client of `profile` boots (UEFI HTTP boot).
    fn url(&self, _profile: ProfileId) -> Option<&str> {
        None
    }

    /// The profile's name, for logs (empty when unnamed).
    fn name(&self, _profile: ProfileId) -> &str {
        ""
    }

    /// The extra DHCP options the clients of `profile` get, encoded
    /// (see [`crate::bootp::extra`]); none by default.
    fn options(&self, _profile: ProfileId) -> &[u8] {
        &[]
    }
}

/// A [`Profiles`] table held in borrowed slices: per-client lists, match
/// rules (the most specific matching one wins, see [`Match::precedence`])
/// and a default.
///
/// ```
/// use netboot_core::plan::rules::{Arch, Client, Match};
/// use netboot_core::plan::{Profiles, StaticProfiles};
///
/// let uefi = [(Match { arch: Match::archs(&[Arch::EFI_X64]), ..Match::ANY }, &["efi/stage1"][..])];
/// let profiles = StaticProfiles {
///     clients: &[(&[0x52, 0x54, 0, 0, 0, 1], &["a/stage1", "a/manifest"])],
///     rules: &uefi,
///     default: Some(&["stage1", "manifest"]),
/// };
/// let stage = |client: &Client, i| profiles.stage(profiles.select(client).unwrap(), i);
/// assert_eq!(stage(&Client::hw(&[0x52, 0x54, 0, 0, 0, 1]), 0), Some("a/stage1"));
/// assert_eq!(stage(&Client::hw(&[9, 9, 9, 9, 9, 9]), 1), Some("manifest"));
/// let efi = Client { arch: Some(7), ..Client::hw(&[9, 9, 9, 9, 9, 9]) };
/// assert_eq!(stage(&efi, 0), Some("efi/stage1"));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct StaticProfiles<'a> {
    /// Per-client stage lists, by hardware address.
    pub clients: &'a [(&'a [u8], &'a [&'a str])],
    /// Stage lists chosen by rule.
    pub rules: &'a [(Match, &'a [&'a str])],
    /// Stages for every client nothing else matches.
    pub default: Option<&'a [&'a str]>,
}

impl StaticProfiles<'_> {
    /// The default profile's id.
    pub const DEFAULT: ProfileId = ProfileId::MAX;

    fn stages(&self, profile: ProfileId) -> Option<&[&str]> {
        if profile == Self::DEFAULT {
            return self.default;
        }
        let i = usize::from(profile);
        match self.clients.get(i) {
            Some((_, stages)) => Some(stages),
            None => self
                .rules
                .get(i - self.clients.len())
                .map(|(_, stages)| *stages),
        }
    }
}

impl Profiles for StaticProfiles<'_> {
    fn select(&self, client: &Client<'_>) -> Option<ProfileId> {
        if let Some(i) = self.clients.iter().position(|(mac, _)| *mac == client.hw) {
            return ProfileId::try_from(i).ok();
        }
        let best = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, (rule, _))| rule.matches(client))
            .min_by_key(|(i, (rule, _))| (rule.precedence(), *i));
        match best {
            Some((i, _)) => ProfileId::try_from(self.clients.len() + i).ok(),
            None => self.default.map(|_| Self::DEFAULT),
        }
    }

    fn stage_count(&self, profile: ProfileId) -> usize {
        self.stages(profile).map_or(0, <[&str]>::len)
    }

    fn stage(&self, profile: ProfileId, index: usize) -> Option<&str> {
        self.stages(profile)?.get(index).copied()
    }
}

/// When a client that finished its last stage is served again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reset {
    /// Never: the client stays silent until the server restarts or
    /// [`Plan::reset`] is called.
    Never,
    /// This long after it finished, the client starts again from stage 0.
    After(Duration),
}

/// What BOOTP should do for a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision<'a> {
    /// Hand out this stage's file.
    Stage {
        /// 0-based stage number.
        index: usize,
        /// Total number of stages for this client.
        of: usize,
        /// The file to boot, relative to the served root.
        file: &'a str,
    },
    /// The client is a boot ROM that is not iPXE, and its profile starts
    /// with iPXE: hand out the iPXE build. Fetching it does not advance the
    /// plan; iPXE then asks again, announces itself, and gets stage
    /// `index`. That is what makes chainloading loop-free: the ROM and
    /// iPXE are told different things in the same state.
    Chain {
        /// The stage iPXE will be given (0-based).
        index: usize,
        /// Total number of stages for this client.
        of: usize,
        /// The iPXE build to boot.
        file: &'a str,
    },
    /// The client boots over HTTP (UEFI HTTP boot) and its profile has a
    /// URL: hand it out. The plan cannot see HTTP downloads, so such a
    /// client is not tracked and never falls silent.
    Url {
        /// The URL, for the reply's `file` field.
        url: &'a str,
    },
    /// The client has finished every stage: do not answer.
    Silent,
    /// The plan has nothing for this client; the server falls back to its
    /// ordinary host table (or ignores the client).
    NotInPlan,
}

/// What [`Plan::transfer_complete`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advance {
    /// The client moved on to stage `next` (0-based).
    Next {
        /// The stage the client will be given next.
        next: usize,
    },
    /// That was the last stage: the client is now silent.
    Finished,
    /// The file was not the client's current stage (another file it
    /// fetched, or a repeat); nothing changed.
    Ignored,
}

#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct Progress {
    hwaddr: HwAddr,
    /// The profile the client follows; `None` for a restored client whose
    /// profile only its next request can tell.
    profile: Option<ProfileId>,
    /// Restored from a saved file and not yet confirmed by a request: the
    /// first request adopts its profile and keeps the stage.
    restored: bool,
    /// Next stage to hand out; equal to the stage count once finished.
    stage: usize,
    finished_at: Option<Instant>,
    last_seen: Instant,
}

/// Per-client progress through the plan, for a bounded number of clients
/// at once (the table kind `C`: [`Fixed`] or [`Heap`](super::capacity::Heap)).
///
/// ```
/// use netboot_core::plan::{Advance, Decision, Fixed, Plan, Reset, StaticProfiles};
/// use netboot_core::plan::rules::Client;
/// use netboot_core::time::{Duration, Instant};
///
/// let profiles = StaticProfiles { clients: &[], rules: &[], default: Some(&["stage1.bin", "manifest.txt"]) };
/// let mut plan: Plan<_, Fixed<8>> = Plan::new(profiles, Reset::Never);
/// let mac = [0x52, 0x54, 0, 0, 0, 7];
/// let now = Instant::ZERO;
///
/// assert!(matches!(plan.boot_for(now, &Client::hw(&mac)), Decision::Stage { index: 0, file: "stage1.bin", .. }));
/// // Retransmissions get the same answer until the download completes.
/// assert!(matches!(plan.boot_for(now, &Client::hw(&mac)), Decision::Stage { index: 0, .. }));
/// assert_eq!(plan.transfer_complete(now, &mac, "stage1.bin"), Advance::Next { next: 1 });
/// assert!(matches!(plan.boot_for(now, &Client::hw(&mac)), Decision::Stage { index: 1, file: "manifest.txt", .. }));
/// assert_eq!(plan.transfer_complete(now, &mac, "manifest.txt"), Advance::Finished);
/// assert_eq!(plan.boot_for(now + Duration::from_secs(3600), &Client::hw(&mac)), Decision::Silent);
/// ```
pub struct Plan<P, C: Capacity> {
    profiles: P,
    reset: Reset,
    clients: C::Table<Progress>,
}

impl<P, C: Capacity> core::fmt::Debug for Plan<P, C> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Plan")
            .field("reset", &self.reset)
            .field("clients", &self.clients.as_slice().len())
            .finish_non_exhaustive()
    }
}

impl<P: Profiles, const N: usize> Plan<P, Fixed<N>> {
    /// A plan over `profiles` for up to `N` clients, in which nobody has
    /// started yet.
    pub fn new(profiles: P, reset: Reset) -> Self {
        Plan::with_capacity(profiles, reset, N)
    }
}

impl<P: Profiles, C: Capacity> Plan<P, C> {
    /// A plan over `profiles` for up to `capacity` clients (a [`Fixed`]
    /// table has its own), in which nobody has started yet.
    pub fn with_capacity(profiles: P, reset: Reset, capacity: usize) -> Self {
        Plan {
            profiles,
            reset,
            clients: Table::with_capacity(capacity),
        }
    }

    /// The stage table.
    pub fn profiles(&self) -> &P {
        &self.profiles
    }

    /// Takes a new stage table and reset rule while running (a
    /// configuration reload), keeping every client's progress by its
    /// hardware address: each tracked client keeps its stage number, and
    /// its next request settles which profile of the new table it follows
    /// (as for progress restored after a restart; a stage beyond the new
    /// profile's count means it has finished). A client that is between
    /// two stages is therefore handed the new table's file for its stage.
    pub fn reconfigure(&mut self, profiles: P, reset: Reset) {
        self.profiles = profiles;
        self.reset = reset;
        for progress in self.clients.as_mut_slice() {
            progress.profile = None;
            progress.restored = true;
        }
    }

    /// What to tell `client`, which is asking for a boot file now.
    pub fn boot_for(&mut self, now: Instant, client: &Client<'_>) -> Decision<'_> {
        self.boot_with_profile(now, client).1
    }

    /// [`Plan::boot_for`], with the profile selected for `client` (`None`
    /// when the plan has nothing for it), so that a caller needing the
    /// profile's other settings selects it once.
    pub fn boot_with_profile(
        &mut self,
        now: Instant,
        client: &Client<'_>,
    ) -> (Option<ProfileId>, Decision<'_>) {
        let Some(profile) = self.profiles.select(client) else {
            return (None, Decision::NotInPlan);
        };
        (Some(profile), self.boot_in(now, client, profile))
    }

    fn boot_in(&mut self, now: Instant, client: &Client<'_>, profile: ProfileId) -> Decision<'_> {
        let http = client
            .vendor_class
            .is_some_and(|v| v.starts_with(b"HTTPClient"))
            || client.arch.is_some_and(|a| Arch(a).is_http());
        if http && self.profiles.url(profile).is_some() {
            let url = self.profiles.url(profile).unwrap_or_default();
            return Decision::Url { url };
        }
        let count = self.profiles.stage_count(profile);
        if count == 0 {
            return Decision::NotInPlan;
        }
        let reset = self.reset;
        let Some(slot) = self.slot(now, client.hw) else {
            return Decision::NotInPlan;
        };
        let progress = &mut self.clients.as_mut_slice()[slot];
        progress.last_seen = now;
        if progress.profile != Some(profile) {
            if progress.restored {
                // Saved progress names no profile: the first request says
                // which one, and the stage carries over.
                progress.stage = progress.stage.min(count);
            } else {
                // The client follows another profile than before (its
                // firmware changed, or the configuration did): start it.
                progress.stage = 0;
                progress.finished_at = None;
            }
            progress.profile = Some(profile);
        }
        progress.restored = false;
        if let (Some(done), Reset::After(after)) = (progress.finished_at, reset)
            && now.saturating_duration_since(done) >= after
        {
            progress.stage = 0;
            progress.finished_at = None;
        }
        if progress.stage >= count {
            if progress.finished_at.is_none() {
                progress.finished_at = Some(now);
            }
            return Decision::Silent;
        }
        let index = progress.stage;
        if !client.is_ipxe()
            && let Some(file) = self.profiles.chain(profile)
        {
            return Decision::Chain {
                index,
                of: count,
                file,
            };
        }
        match self.profiles.stage(profile, index) {
            Some(file) => Decision::Stage {
                index,
                of: count,
                file,
            },
            None => Decision::NotInPlan,
        }
    }

    /// Reports that client `hwaddr` finished downloading `file` (a path as
    /// the client named it; it is normalised before comparing).
    pub fn transfer_complete(&mut self, now: Instant, hwaddr: &[u8], file: &str) -> Advance {
        let Some(index) = self.find(hwaddr) else {
            return Advance::Ignored;
        };
        let progress = &self.clients.as_slice()[index];
        let Some(profile) = progress
            .profile
            .or_else(|| self.profiles.select(&Client::hw(hwaddr)))
        else {
            return Advance::Ignored;
        };
        let count = self.profiles.stage_count(profile);
        let Some(current) = self.profiles.stage(profile, progress.stage) else {
            return Advance::Ignored;
        };
        if !same_path(current, file) {
            return Advance::Ignored;
        }
        let progress = &mut self.clients.as_mut_slice()[index];
        progress.profile = Some(profile);
        progress.last_seen = now;
        progress.stage += 1;
        if progress.stage >= count {
            progress.finished_at = Some(now);
            Advance::Finished
        } else {
            Advance::Next {
                next: progress.stage,
            }
        }
    }

    /// The stage client `hwaddr` will be given next, if it is being tracked.
    pub fn stage_of(&self, hwaddr: &[u8]) -> Option<usize> {
        self.find(hwaddr).map(|i| self.clients.as_slice()[i].stage)
    }

    /// The profile client `hwaddr` follows, if it is being tracked and has
    /// asked since it was restored.
    pub fn profile_of(&self, hwaddr: &[u8]) -> Option<ProfileId> {
        self.find(hwaddr)
            .and_then(|i| self.clients.as_slice()[i].profile)
    }

    /// The file of stage `index` of the profile client `hwaddr` follows.
    pub fn stage_file(&self, hwaddr: &[u8], index: usize) -> Option<&str> {
        let profile = self
            .profile_of(hwaddr)
            .or_else(|| self.profiles.select(&Client::hw(hwaddr)))?;
        self.profiles.stage(profile, index)
    }

    /// The number of stages of the profile client `hwaddr` follows (its
    /// own, or the one its address alone selects).
    pub fn stage_count_of(&self, hwaddr: &[u8]) -> Option<usize> {
        let profile = self
            .profile_of(hwaddr)
            .or_else(|| self.profiles.select(&Client::hw(hwaddr)))?;
        Some(self.profiles.stage_count(profile))
    }

    /// True when the plan has something for `hwaddr` before it asks: it is
    /// tracked, or its address alone selects a profile.
    pub fn may_include(&self, hwaddr: &[u8]) -> bool {
        self.find(hwaddr).is_some() || self.profiles.select(&Client::hw(hwaddr)).is_some()
    }

    /// Forgets client `hwaddr`: it starts again from its first stage.
    pub fn reset(&mut self, hwaddr: &[u8]) {
        if let Some(i) = self.find(hwaddr) {
            self.clients.swap_remove(i);
        }
    }

    /// Puts a client at a given stage (restoring saved progress after a
    /// restart). Its profile is settled by its next request. Returns
    /// `false` when the table is full of more recent clients or the address
    /// is too long.
    pub fn restore(&mut self, now: Instant, hwaddr: &[u8], stage: usize) -> bool {
        let Some(i) = self.slot(now, hwaddr) else {
            return false;
        };
        let count = self
            .profiles
            .select(&Client::hw(hwaddr))
            .map(|p| self.profiles.stage_count(p));
        let entry = &mut self.clients.as_mut_slice()[i];
        entry.stage = stage;
        entry.profile = None;
        entry.restored = true;
        entry.finished_at = match count {
            Some(count) if stage >= count => Some(now),
            _ => None,
        };
        true
    }

    /// Every tracked client and the stage it is at (for saving progress).
    pub fn progress(&self) -> impl Iterator<Item = (&[u8], usize)> {
        self.clients
            .as_slice()
            .iter()
            .map(|p| (p.hwaddr.as_slice(), p.stage))
    }

    fn find(&self, hwaddr: &[u8]) -> Option<usize> {
        self.clients
            .as_slice()
            .iter()
            .position(|p| p.hwaddr == hwaddr)
    }

    /// The index of `hwaddr`'s progress, creating it (and evicting the client
    /// seen least recently when full).
    fn slot(&mut self, now: Instant, hwaddr: &[u8]) -> Option<usize> {
        if let Some(i) = self.find(hwaddr) {
            return Some(i);
        }
        let hwaddr = HwAddr::from_slice(hwaddr).ok()?;
        let progress = Progress {
            hwaddr,
            profile: None,
            restored: false,
            stage: 0,
            finished_at: None,
            last_seen: now,
        };
        if self.clients.is_full() {
            let oldest = self
                .clients
                .as_slice()
                .iter()
                .enumerate()
                .min_by_key(|(_, p)| p.last_seen)
                .map(|(i, _)| i)?;
            self.clients.as_mut_slice()[oldest] = progress;
            return Some(oldest);
        }
        self.clients.push(progress).ok()?;
        Some(self.clients.as_slice().len() - 1)
    }
}

/// True when two peer-supplied names denote the same file in the root.
pub(crate) fn same_path(a: &str, b: &str) -> bool {
    match (
        path::resolve("", a, DotDot::Reject),
        path::resolve("", b, DotDot::Reject),
    ) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0xa];
    const B: [u8; 6] = [0x52, 0x54, 0, 0, 0, 0xb];

    fn profiles() -> StaticProfiles<'static> {
        StaticProfiles {
            clients: &[(&A, &["a/one", "a/two", "a/manifest"])],
            rules: &[],
            default: Some(&["one", "manifest"]),
        }
    }

    #[test]
    fn stages_advance_only_on_the_current_file() {
        let mut plan: Plan<_, Fixed<4>> = Plan::new(profiles(), Reset::Never);
        let t = Instant::ZERO;
        assert_eq!(
            plan.boot_for(t, &Client::hw(&A)),
            Decision::Stage {
                index: 0,
                of: 3,
                file: "a/one"
            }
        );
        assert_eq!(plan.transfer_complete(t, &A, "a/two"), Advance::Ignored);
        assert_eq!(
            plan.transfer_complete(t, &A, "/a//one"),
            Advance::Next { next: 1 }
        );
        // A repeat of the stage just finished changes nothing.
        assert_eq!(plan.transfer_complete(t, &A, "a/one"), Advance::Ignored);
        assert_eq!(plan.stage_of(&A), Some(1));
        assert_eq!(plan.stage_of(&B), None);
    }

    #[test]
    fn clients_are_independent_and_default_applies() {
        let mut plan: Plan<_, Fixed<4>> = Plan::new(profiles(), Reset::Never);
        let t = Instant::ZERO;
        plan.boot_for(t, &Client::hw(&A));
        plan.transfer_complete(t, &A, "a/one");
        assert_eq!(
            plan.boot_for(t, &Client::hw(&B)),
            Decision::Stage {
                index: 0,
                of: 2,
                file: "one"
            }
        );
        // B never asked, so its completion of A's file is not attributed.
        assert_eq!(
            plan.transfer_complete(t, &[1, 2, 3], "one"),
            Advance::Ignored
        );
    }

    #[test]
    fn silence_then_reset_after_timeout() {
        let mut plan: Plan<_, Fixed<4>> =
            Plan::new(profiles(), Reset::After(Duration::from_secs(60)));
        let t = Instant::from_secs(100);
        plan.boot_for(t, &Client::hw(&B));
        plan.transfer_complete(t, &B, "one");
        assert_eq!(plan.transfer_complete(t, &B, "manifest"), Advance::Finished);
        assert_eq!(
            plan.boot_for(t + Duration::from_secs(59), &Client::hw(&B)),
            Decision::Silent
        );
        assert!(matches!(
            plan.boot_for(t + Duration::from_secs(60), &Client::hw(&B)),
            Decision::Stage { index: 0, .. }
        ));
    }

    #[test]
    fn not_in_plan_without_profile() {
        let p = StaticProfiles {
            clients: &[],
            rules: &[],
            default: None,
        };
        let mut plan: Plan<_, Fixed<2>> = Plan::new(p, Reset::Never);
        assert_eq!(
            plan.boot_for(Instant::ZERO, &Client::hw(&A)),
            Decision::NotInPlan
        );
        let p = StaticProfiles {
            clients: &[],
            rules: &[],
            default: Some(&[]),
        };
        let mut plan: Plan<_, Fixed<2>> = Plan::new(p, Reset::Never);
        assert_eq!(
            plan.boot_for(Instant::ZERO, &Client::hw(&A)),
            Decision::NotInPlan
        );
    }

    #[test]
    fn full_table_evicts_least_recently_seen() {
        let mut plan: Plan<_, Fixed<2>> = Plan::new(profiles(), Reset::Never);
        plan.boot_for(Instant::from_secs(1), &Client::hw(&[1]));
        plan.boot_for(Instant::from_secs(2), &Client::hw(&[2]));
        plan.transfer_complete(Instant::from_secs(3), &[2], "one");
        plan.boot_for(Instant::from_secs(4), &Client::hw(&[3]));
        assert_eq!(plan.stage_of(&[1]), None);
        assert_eq!(plan.stage_of(&[2]), Some(1));
        assert_eq!(plan.stage_of(&[3]), Some(0));
        // Oversized hardware addresses are never tracked.
        assert_eq!(
            plan.boot_for(Instant::ZERO, &Client::hw(&[0; 17])),
            Decision::NotInPlan
        );
    }

    #[test]
    fn restore_and_reset() {
        let mut plan: Plan<_, Fixed<4>> = Plan::new(profiles(), Reset::Never);
        assert!(plan.restore(Instant::ZERO, &A, 2));
        assert!(matches!(
            plan.boot_for(Instant::ZERO, &Client::hw(&A)),
            Decision::Stage { index: 2, .. }
        ));
        assert!(plan.restore(Instant::ZERO, &A, 3));
        assert_eq!(
            plan.boot_for(Instant::ZERO, &Client::hw(&A)),
            Decision::Silent
        );
        assert_eq!(plan.progress().collect::<Vec<_>>(), [(&A[..], 3)]);
        plan.reset(&A);
        assert!(matches!(
            plan.boot_for(Instant::ZERO, &Client::hw(&A)),
            Decision::Stage { index: 0, .. }
        ));
    }
}
