//! The BOOTP lease-file line parser on arbitrary text: never panics, and a
//! lease it accepts writes back to a line that parses to the same lease.
//!
//! The harness lives in `netboot_core::fuzzing::bootp_leasefile`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::bootp_leasefile::run(data));
