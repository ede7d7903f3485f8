//! Drives a TFTP client transfer (RRQ or WRQ, octet or netascii, with
//! options) with arbitrary datagrams from the server's address, from
//! strangers and from other ports, and arbitrary time steps, answering its
//! storage events from an in-memory store through `tftp::file`.
//!
//! Invariants: nothing panics; every datagram it sends parses; one outcome
//! per transfer; time never makes it loop; once closed it stays silent; a
//! download that did not finish leaves no file.
//!
//! The harness lives in `netboot_core::fuzzing::tftp_client_transfer`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::tftp_client_transfer::run(data));
