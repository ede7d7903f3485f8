//! The whole netboot server through the one drain loop: datagrams,
//! connections, stream bytes and events, time, saves and password checks
//! answered late or badly, a stop. Invariants: outputs only from open
//! sockets and well formed, an address acknowledged only once saved, the
//! limits kept, idle after a stop.
//!
//! The harness lives in `netboot_core::fuzzing::netboot_server`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::netboot_server::run(data));
