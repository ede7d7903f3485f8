//! The provisioning plan as a boot policy, with its progress file: stages
//! handed out in order, downloads attributed only to the stage they name,
//! progress written and read back unchanged.
//!
//! The harness lives in `netboot_core::fuzzing::plan_policy`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::plan_policy::run(data));
