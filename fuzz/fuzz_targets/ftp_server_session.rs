//! The FTP server session machine fed arbitrary bytes and time steps, with
//! an in-memory store answering its events through `ftp::server::pump` and
//! data transfers completing, failing or being aborted as the input says.
//! Invariants: no panic, output bounded, consumed ≤ offered, every answer
//! the machine asked for is accepted.
//!
//! The harness lives in `netboot_core::fuzzing::ftp_server_session`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::ftp_server_session::run(data));
