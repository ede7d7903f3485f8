//! The provisioning client machine under arbitrary replies, datagrams,
//! stream bytes, time jumps and driver calls: no panic, bounded output,
//! nothing stored outside the names a peer may use.
//!
//! The harness lives in `netboot_core::fuzzing::provision_flow`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::provision_flow::run(data));
