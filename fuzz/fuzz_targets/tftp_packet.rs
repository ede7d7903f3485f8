//! TFTP packet parser: parse, emit, parse again; the two parses must agree
//! and the emitted length must be what `buffer_len` promised.
//!
//! The harness lives in `netboot_core::fuzzing::tftp_packet`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::tftp_packet::run(data));
