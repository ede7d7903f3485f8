//! The fuzz harnesses, one module per cargo-fuzz target: harnesses shared
//! by the cargo-fuzz targets and the regression test that replays the
//! committed corpora on stable; not part of the API.
//!
//! Compiled only with the `fuzzing` feature (which implies `std`). Each
//! `run(data)` is the whole body of a target in `fuzz/fuzz_targets/`: the
//! target calls it under libFuzzer on nightly, and the regression test
//! (`tests/tests/fuzz_regressions.rs`) calls the same function on every
//! committed corpus and regression input on stable, so a crash found once
//! stays fixed. A harness panics when an invariant breaks. The harnesses
//! drive the machines only through the public API, as an adapter would.

pub mod bootp_client;
pub mod bootp_leasefile;
pub mod bootp_message;
pub mod bootp_server;
pub mod ftp_client_session;
pub mod ftp_command;
pub mod ftp_reply;
pub mod ftp_server_session;
pub mod manifest;
pub mod netboot_server;
pub mod plan_policy;
pub mod plan_rules;
pub mod provision_flow;
pub mod tftp_client_transfer;
pub mod tftp_packet;
pub mod tftp_server_transfer;

/// A harness: runs one input, panics when an invariant breaks.
pub type Harness = fn(&[u8]);

/// Every harness by target name.
pub const TARGETS: &[(&str, Harness)] = &[
    ("bootp_client", bootp_client::run),
    ("bootp_leasefile", bootp_leasefile::run),
    ("bootp_message", bootp_message::run),
    ("bootp_server", bootp_server::run),
    ("ftp_client_session", ftp_client_session::run),
    ("ftp_command", ftp_command::run),
    ("ftp_reply", ftp_reply::run),
    ("ftp_server_session", ftp_server_session::run),
    ("manifest", manifest::run),
    ("netboot_server", netboot_server::run),
    ("plan_policy", plan_policy::run),
    ("plan_rules", plan_rules::run),
    ("provision_flow", provision_flow::run),
    ("tftp_client_transfer", tftp_client_transfer::run),
    ("tftp_packet", tftp_packet::run),
    ("tftp_server_transfer", tftp_server_transfer::run),
];
