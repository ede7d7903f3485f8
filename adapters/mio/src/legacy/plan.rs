//! The provisioning plan the async-std adapter's servers still share
//! (transitional, see [`crate::legacy`]): one [`PlanPolicy`] shared by the
//! BOOTP server (as its boot policy) and the TFTP completion callback, and
//! a saver of its progress.

use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use netboot_core::bootp::policy::{BootDecision, BootPolicy, BootRequest};
use netboot_core::plan::progressfile::Entry;
use netboot_core::plan::{PlanPolicy, ProfileTable, Reset};
use netboot_core::time::Instant;
use netboot_std::progress;

/// Clients whose progress a server tracks at once; past this the client
/// seen least recently is forgotten (and starts again from its first stage
/// if it comes back).
pub const MAX_CLIENTS: usize = 2048;

/// How often, at most, the progress file is rewritten.
pub const SAVE_INTERVAL: Duration = Duration::from_secs(1);

/// The core plan the server runs.
pub type CorePlan = PlanPolicy<ProfileTable, netboot_core::plan::Fixed<MAX_CLIENTS>>;

/// The plan, shared between the services of one loop.
#[derive(Clone)]
pub struct SharedPlan(Arc<Mutex<CorePlan>>);

impl SharedPlan {
    /// A plan over `profiles` in which nobody has started.
    pub fn new(profiles: ProfileTable, reset: Reset) -> Self {
        SharedPlan(Arc::new(Mutex::new(PlanPolicy::new(profiles, reset))))
    }

    /// Locks the plan (a panic elsewhere never makes it unusable).
    pub fn lock(&self) -> MutexGuard<'_, CorePlan> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl BootPolicy for SharedPlan {
    fn decide(&mut self, now: Instant, request: &BootRequest<'_>) -> BootDecision {
        self.lock().decide(now, request)
    }
}

/// Restores the progress saved in `path` (a missing file is no progress);
/// returns how many clients were restored, and warns about unreadable
/// lines.
pub fn load_progress(plan: &SharedPlan, path: &std::path::Path, now: Instant) -> io::Result<usize> {
    let (entries, bad) = progress::load(path)?;
    for b in bad {
        tracing::warn!("{}:{}: ignored: {}", path.display(), b.line, b.error);
    }
    let mut plan = plan.lock();
    let mut restored = 0;
    for (hw, stage) in entries {
        if plan.plan_mut().restore(now, &hw, stage) {
            restored += 1;
        }
    }
    plan.take_dirty();
    Ok(restored)
}

/// Writes every client past its first stage to `path`, atomically.
pub fn save_progress(plan: &SharedPlan, path: &std::path::Path) -> io::Result<()> {
    // Copied out, so the plan is not locked while the file is written.
    let entries: Vec<Entry> = plan
        .lock()
        .plan()
        .progress()
        .filter(|(_, s)| *s > 0)
        .map(|(hw, s)| (hw.iter().copied().collect(), s))
        .collect();
    progress::save(path, entries.iter().map(|(hw, s)| (hw.as_slice(), *s)))
}

/// Saves plan progress to a file when it changes (at most once every
/// [`SAVE_INTERVAL`]) and at shutdown, for a runtime to drive.
pub struct ProgressSaver {
    plan: SharedPlan,
    path: PathBuf,
    saved_at: Option<Instant>,
}

impl ProgressSaver {
    /// Saves `plan`'s progress to `path`.
    pub fn new(plan: SharedPlan, path: PathBuf) -> Self {
        ProgressSaver {
            plan,
            path,
            saved_at: None,
        }
    }

    fn save(&mut self, now: Instant) {
        self.saved_at = Some(now);
        self.plan.lock().take_dirty();
        if let Err(e) = save_progress(&self.plan, &self.path) {
            tracing::error!("cannot save plan progress to {}: {e}", self.path.display());
        }
    }

    /// When progress is next due to be saved (`None`: nothing to save).
    pub fn deadline(&self) -> Option<Instant> {
        if !self.plan.lock().is_dirty() {
            return None;
        }
        Some(self.saved_at.map_or(Instant::ZERO, |at| at + SAVE_INTERVAL))
    }

    /// Saves if that is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline().is_some_and(|d| d <= now) {
            self.save(now);
        }
    }

    /// Saves unsaved progress before the server stops.
    pub fn shutdown(&mut self, now: Instant) {
        if self.plan.lock().is_dirty() {
            self.save(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_tables_are_of_modest_size() {
        // Built on the stack before it moves to the heap.
        let size = std::mem::size_of::<CorePlan>();
        assert!(size < 256 * 1024, "{size} bytes");
    }

    #[test]
    fn progress_survives_a_save_and_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("progress");
        let mut table = ProfileTable::new();
        table.set_default(&["one", "two", "three"]).unwrap();
        let plan = SharedPlan::new(table.clone(), Reset::Never);
        assert!(
            plan.lock()
                .plan_mut()
                .restore(Instant::ZERO, &[1, 2, 3, 4, 5, 6], 2)
        );
        assert!(plan.lock().plan_mut().restore(Instant::ZERO, &[9; 6], 0));
        save_progress(&plan, &path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "# netboot plan progress v1\n01:02:03:04:05:06 2\n");
        std::fs::write(&path, format!("{text}garbage line here\n")).unwrap();
        let back = SharedPlan::new(table, Reset::Never);
        assert_eq!(load_progress(&back, &path, Instant::ZERO).unwrap(), 1);
        assert_eq!(back.lock().plan().stage_of(&[1, 2, 3, 4, 5, 6]), Some(2));
        assert!(!back.lock().is_dirty());
        let missing = SharedPlan::new(ProfileTable::new(), Reset::Never);
        assert_eq!(
            load_progress(&missing, &dir.path().join("none"), Instant::ZERO).unwrap(),
            0
        );
    }
}
