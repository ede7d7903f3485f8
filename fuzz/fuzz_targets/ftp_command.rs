//! FTP command lines: parse arbitrary bytes; whatever parses must emit and
//! parse back to the same command, and emitting into a short buffer must
//! leave it untouched.
//!
//! The harness lives in `netboot_core::fuzzing::ftp_command`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::ftp_command::run(data));
