//! The std layer of netboot: the pieces every std runtime (the mio adapter
//! `netboot-mio`, the async one `netboot-async-std`) shares that do not
//! depend on an event loop.
//!
//! Nothing here waits for a socket or spawns a task on a reactor; the
//! runtimes drive the protocol machines of [`netboot_core`] and come here
//! for the files they read and write.
//!
//! * [`fs`]: [`fs::FsStore`], the directory store jailed with cap-std, and
//!   atomic and write-aside file helpers.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod fs;
