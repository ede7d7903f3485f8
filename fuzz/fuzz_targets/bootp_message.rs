//! BOOTP/DHCP message and options parser: parse, read every option, emit,
//! re-parse, and check the round trip.
//!
//! The harness lives in `netboot_core::fuzzing::bootp_message`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::bootp_message::run(data));
