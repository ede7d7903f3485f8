//! Saving and restoring provisioning-plan progress in a file, so that a
//! server restart does not send clients back to their first stage.
//!
//! The format is the core's ([`netboot_core::plan::progressfile`]). Saving
//! is atomic, like the lease file's ([`crate::fs::write_atomically`]): a
//! crash leaves either the old or the new file, never a torn one.

use std::io;
use std::path::Path;

use netboot_core::plan::progressfile::{self, Entry, ProgressLineError};

use crate::BadLine;

/// Writes `entries` (hardware address, stages completed) to `path`
/// atomically.
pub fn save<'a>(path: &Path, entries: impl Iterator<Item = (&'a [u8], usize)>) -> io::Result<()> {
    crate::fs::write_atomically(path, progressfile::render(entries).as_bytes())
}

/// Reads the entries in `path`; a missing file is no progress. Lines that
/// do not parse are returned separately so the caller can warn about them.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("progress");
/// netboot_std::progress::save(&path, [(&[0x52, 0x54, 0, 1, 2, 3][..], 2)].into_iter()).unwrap();
/// let (entries, bad) = netboot_std::progress::load(&path).unwrap();
/// assert_eq!((entries[0].0.as_slice(), entries[0].1), (&[0x52, 0x54, 0, 1, 2, 3][..], 2));
/// assert!(bad.is_empty());
/// ```
pub fn load(path: &Path) -> io::Result<(Vec<Entry>, Vec<BadLine<ProgressLineError>>)> {
    let (entries, bad) = progressfile::parse(&crate::read_saved(path)?);
    Ok((entries, BadLine::numbered(bad)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_no_progress_and_bad_lines_are_numbered() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("progress");
        assert_eq!(load(&path).unwrap(), (Vec::new(), Vec::new()));
        save(&path, [(&[1, 2][..], 1), (&[3][..], 4)].into_iter()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, "# netboot plan progress v1\n01:02 1\n03 4\n");
        std::fs::write(&path, format!("{text}01:02\n")).unwrap();
        let (entries, bad) = load(&path).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            bad,
            [BadLine {
                line: 4,
                error: ProgressLineError::Fields
            }]
        );
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file is left: {names:?}");
    }
}
