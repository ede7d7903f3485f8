//! The plan's match rules under requests with arbitrary options: every
//! answer is a file of the profile the rules select, iPXE never gets the
//! chainloader, the most specific rule wins.
//!
//! The harness lives in `netboot_core::fuzzing::plan_rules`, shared with
//! the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::plan_rules::run(data));
