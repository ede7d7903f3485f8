//! Saving and restoring the server's leases in a file.
//!
//! The format is the core's ([`netboot_core::bootp::leasefile`]). Saving
//! writes a temporary file beside the lease file, flushes it to disk and
//! renames it over the old one, so a crash leaves either the old or the new
//! file, never a torn one.

use std::io;
use std::path::Path;

use netboot_core::bootp::leasefile::{self, LeaseLineError};
use netboot_core::bootp::leases::Lease;
use netboot_core::time::Instant;

use crate::BadLine;

/// Writes `leases` to `path` atomically (temporary file, `fsync`, rename).
pub fn save(path: &Path, leases: impl Iterator<Item = Lease>, now: Instant) -> io::Result<()> {
    let text = leasefile::render(leases, now, crate::os::unix_now());
    crate::fs::write_atomically(path, text.as_bytes())
}

/// Reads the leases in `path`; a missing file is no leases. Lines that do
/// not parse are returned separately so the caller can warn about them.
pub fn load(path: &Path, now: Instant) -> io::Result<(Vec<Lease>, Vec<BadLine<LeaseLineError>>)> {
    load_at(path, now, crate::os::unix_now())
}

/// [`load`], with the Unix time `unix_now` that `now` stands for (the
/// file holds Unix times; a lease expiring at Unix time `t` then expires
/// at `now + (t - unix_now)`).
pub fn load_at(
    path: &Path,
    now: Instant,
    unix_now: u64,
) -> io::Result<(Vec<Lease>, Vec<BadLine<LeaseLineError>>)> {
    let text = crate::read_saved(path)?;
    let (leases, bad) = leasefile::parse(&text, now, unix_now);
    Ok((leases, BadLine::numbered(bad)))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use netboot_core::bootp::leasefile::HEADER;
    use netboot_core::bootp::leases::LeaseState;
    use netboot_core::bootp::{ClientKey, HwAddr};

    #[test]
    fn save_then_load_round_trips_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("leases");
        let hw = HwAddr::ethernet([2, 0, 0, 0, 0, 1]);
        let lease = Lease {
            ip: "10.0.0.100".parse().unwrap(),
            hw,
            client: ClientKey::hw(&hw),
            state: LeaseState::Bound,
            expires: Instant::MAX,
        };
        save(&path, [lease].into_iter(), Instant::ZERO).unwrap();
        fs::write(dir.path().join("junk"), "").unwrap();
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
        let (leases, bad) = load(&path, Instant::ZERO).unwrap();
        assert_eq!(leases, [lease]);
        assert!(bad.is_empty());
        fs::write(&path, format!("{HEADER}\nnonsense\n")).unwrap();
        let (leases, bad) = load(&path, Instant::ZERO).unwrap();
        assert!(leases.is_empty());
        assert_eq!(bad[0].line, 2);
        assert!(
            load(&dir.path().join("missing"), Instant::ZERO)
                .unwrap()
                .0
                .is_empty()
        );
    }
}
