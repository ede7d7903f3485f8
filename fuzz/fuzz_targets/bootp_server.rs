//! The BOOTP/DHCP server machine fed arbitrary datagrams.
//!
//! The input is a sequence of records: one byte of time step (seconds), one
//! byte choosing the source, two bytes of length, then that many bytes of
//! datagram. After each, every reply must parse, be a BOOTREPLY and fit the
//! buffer; leases must stay inside the pool and never exceed its size.
//!
//! The harness lives in `netboot_core::fuzzing::bootp_server`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::bootp_server::run(data));
