//! Helpers for tests that drive real DHCP clients (ISC dhclient, busybox
//! udhcpc): the hook script each client runs when it binds.

use std::path::{Path, PathBuf};

/// Writes an executable shell script `dir/name` that runs `body` and exits
/// 0 (a client takes a failing hook as a failed configuration): the `-sf`
/// of dhclient, the `-s` of udhcpc.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = netboot_tests::dhcp::script(dir.path(), "hook.sh", "echo \"$1\"");
/// let out = std::process::Command::new(&path).arg("bound").output().unwrap();
/// assert_eq!(out.stdout, b"bound\n");
/// ```
pub fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\nexit 0\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}
