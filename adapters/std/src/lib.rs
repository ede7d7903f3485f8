//! The std layer of netboot: the pieces every std runtime (the mio adapter
//! `netboot-mio`, the async one `netboot-async-std`) shares that do not
//! depend on an event loop.
//!
//! Nothing here waits for a socket or spawns a task on a reactor: the
//! runtimes drive the protocol machines of [`netboot_core`] on their own
//! loops, and come here for everything else they have in common.
//!
//! * [`fs`]: [`fs::FsStore`], the directory store jailed with cap-std, and
//!   atomic and write-aside file helpers;
//! * [`net`]: UDP sockets with the options the protocols need, bind errors
//!   explained, and "which of my addresses does that host reach?";
//! * [`os`]: a random seed and an interface's hardware address from the OS;
//! * [`clock`]: [`clock::Clock`], the bridge from the OS clock to the core's
//!   instants.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod clock;
pub mod fs;
pub mod net;
pub mod os;
