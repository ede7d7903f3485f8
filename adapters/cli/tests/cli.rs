//! The command line itself: help, version and usage errors.

use std::process::Command;

fn netboot() -> Command {
    Command::new(env!("CARGO_BIN_EXE_netboot"))
}

#[test]
fn help_and_version_succeed() {
    let out = netboot().arg("--help").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: netboot"));
    let out = netboot().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("netboot "));
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let out = netboot().arg("no-such-command").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}
