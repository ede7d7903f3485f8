//! The provisioning manifest parser on arbitrary bytes: never panics,
//! every entry it yields names a normalised path inside the root, and
//! every digest it yields is 32 bytes.
//!
//! The harness lives in `netboot_core::fuzzing::manifest`, shared
//! with the regression test that replays the corpus on stable.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| netboot_core::fuzzing::manifest::run(data));
