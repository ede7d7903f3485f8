//! The BOOTP/DHCP client machine fed arbitrary replies between its
//! retransmissions: it never panics, never sends more than its attempts
//! allow, and ends assigned or timed out.
//!
//! The harness lives in `netboot_core::fuzzing::bootp_client`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::bootp_client::run(data));
