//! The FTP client session machine running every kind of operation against
//! arbitrary reply bytes cut at arbitrary points, with data connections
//! that connect, fail, finish or break as the input says, and time steps.
//!
//! Invariants: no panic; consumed ≤ offered; every answer the machine
//! asked for is accepted; one `Done` per started operation; the command
//! output stays bounded.
//!
//! The harness lives in `netboot_core::fuzzing::ftp_client_session`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::ftp_client_session::run(data));
