//! Drives the TFTP request acceptor and the server transfer machine with
//! arbitrary datagrams (from the peer or from strangers) and arbitrary time
//! steps, answering storage events from an in-memory store.
//!
//! Invariants: nothing panics; every datagram fits the buffer and parses;
//! time never makes the machine loop; once closed it stays silent; an upload
//! that did not finish leaves nothing in the store.
//!
//! The harness lives in `netboot_core::fuzzing::tftp_server_transfer`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::tftp_server_transfer::run(data));
