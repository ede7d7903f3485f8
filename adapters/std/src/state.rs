//! The server's saved state on a host: the lease and progress files, read
//! at start and written whenever the server asks
//! ([`Event::Save`](netboot_core::server::Event::Save)).
//!
//! A save is taken in two steps, so that the slow part can leave the event
//! loop: [`StateFiles::snapshot`] renders the state as it is when the
//! request is handled (on the loop, a copy of a few bytes per lease), and
//! [`Snapshot::write`] writes each file atomically (temporary file,
//! `fsync`, rename) on whatever thread the runtime likes. A crash leaves
//! either the old or the new file, never a torn one.

use std::io;
use std::path::PathBuf;

use netboot_core::bootp::leasefile;
use netboot_core::ftp::server::Accounts;
use netboot_core::plan::progressfile;
use netboot_core::server::{NetbootServer, Restored, SaveRequest};
use netboot_core::storage::Storage;
use netboot_core::time::Instant;

use crate::fs::write_atomically;

/// Where the server keeps its state (`None`: that part is not kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StateFiles {
    /// The lease file.
    pub leases: Option<PathBuf>,
    /// The plan-progress file.
    pub progress: Option<PathBuf>,
}

/// The state a save writes, rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The state version it covers.
    pub version: u64,
    files: Vec<(PathBuf, String)>,
}

impl StateFiles {
    /// Reads what an earlier run saved (a missing file is nothing saved);
    /// returns it with one `path:line: why` warning per line that could
    /// not be read.
    pub fn load(&self, now: Instant) -> io::Result<(Restored, Vec<String>)> {
        let mut restored = Restored::default();
        let mut warnings = Vec::new();
        let named = |path: &PathBuf, e: io::Error| {
            io::Error::new(e.kind(), format!("{}: {e}", path.display()))
        };
        if let Some(path) = &self.leases {
            let (leases, bad) = crate::leasefile::load(path, now).map_err(|e| named(path, e))?;
            warnings.extend(
                bad.iter()
                    .map(|b| format!("{}:{}: ignored lease: {}", path.display(), b.line, b.error)),
            );
            restored.leases = leases;
        }
        if let Some(path) = &self.progress {
            let (entries, bad) = crate::progress::load(path).map_err(|e| named(path, e))?;
            warnings.extend(
                bad.iter()
                    .map(|b| format!("{}:{}: ignored: {}", path.display(), b.line, b.error)),
            );
            restored.progress = entries;
        }
        Ok((restored, warnings))
    }

    /// Renders what `request` asks to save, from `server` as it is now.
    pub fn snapshot<S, A>(
        &self,
        request: SaveRequest,
        server: &NetbootServer<S, A>,
        now: Instant,
    ) -> Snapshot
    where
        S: Storage,
        A: Accounts<Store = S>,
    {
        let mut files = Vec::new();
        if let (true, Some(path)) = (request.leases, &self.leases) {
            let text = leasefile::render(server.leases(), now, crate::os::unix_now());
            files.push((path.clone(), text));
        }
        if let (true, Some(path)) = (request.progress, &self.progress) {
            files.push((path.clone(), progressfile::render(server.progress())));
        }
        Snapshot {
            version: request.version,
            files,
        }
    }
}

impl Snapshot {
    /// Writes every file atomically; the first failure names its file.
    pub fn write(&self) -> io::Result<()> {
        for (path, text) in &self.files {
            write_atomically(path, text.as_bytes()).map_err(|e| {
                io::Error::new(e.kind(), format!("cannot save {}: {e}", path.display()))
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::setup::ServerSetup;
    use netboot_core::bootp::server::ServerConfig;
    use netboot_core::plan::{ProfileTable, Reset};
    use std::net::Ipv4Addr;

    #[test]
    fn a_snapshot_writes_what_the_server_holds_and_load_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = ProfileTable::new();
        plan.set_default(&["one", "two"]).unwrap();
        let mut bootp = ServerConfig::new(Ipv4Addr::LOCALHOST, Ipv4Addr::new(255, 0, 0, 0));
        bootp.net.pool = Some((Ipv4Addr::new(127, 0, 9, 1), Ipv4Addr::new(127, 0, 9, 20)));
        let setup = ServerSetup::new(dir.path())
            .bootp(bootp)
            .plan(plan, Reset::Never)
            .lease_file(dir.path().join("leases"))
            .progress_file(dir.path().join("progress"));
        let prepared = setup.clone().prepare(&crate::clock::Clock::new()).unwrap();
        let request = SaveRequest {
            version: 3,
            leases: true,
            progress: true,
        };
        let snap = prepared
            .files
            .snapshot(request, &prepared.server, Instant::ZERO);
        assert_eq!(snap.version, 3);
        snap.write().unwrap();
        let leases = std::fs::read_to_string(dir.path().join("leases")).unwrap();
        assert_eq!(leases, format!("{}\n", leasefile::HEADER));
        std::fs::write(
            dir.path().join("progress"),
            "# netboot plan progress v1\n02:00:00:00:00:01 1\nbad\n",
        )
        .unwrap();
        let again = setup.prepare(&crate::clock::Clock::new()).unwrap();
        assert_eq!(again.warnings.len(), 1, "{:?}", again.warnings);
        assert!(
            again.warnings[0].ends_with("progress:3: ignored: expected 2 fields: hwaddr stage"),
            "{:?}",
            again.warnings
        );
        let hw = netboot_core::bootp::HwAddr::ethernet([2, 0, 0, 0, 0, 1]);
        assert_eq!(again.server.stage_of(&hw), Some(1));
        // A failed write names its file.
        let bad = StateFiles {
            leases: Some(dir.path().join("no/such/dir/leases")),
            progress: None,
        };
        let err = bad
            .snapshot(request, &again.server, Instant::ZERO)
            .write()
            .unwrap_err();
        assert!(err.to_string().contains("no/such/dir/leases"), "{err}");
    }
}
