//! FTP replies: arbitrary bytes through the line assembler and the
//! multi-line reply parser, and through the client session machine; single
//! lines that parse must emit and parse back unchanged.
//!
//! The harness lives in `netboot_core::fuzzing::ftp_reply`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::ftp_reply::run(data));
