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
//! * [`leasefile`]: the BOOTP server's leases saved to and restored from a
//!   file;
//! * [`progress`]: the provisioning plan's progress saved to and restored
//!   from a file;
//! * [`ftp`]: FTP accounts and password hashing ([`ftp::auth`]), the
//!   configuration ([`ftp::FtpConfig`]) and the checked site ([`ftp::site`]);
//! * [`clock`]: [`clock::Clock`], the bridge from the OS clock to the core's
//!   instants;
//! * [`setup`]: [`setup::ServerSetup`], the builder of the core
//!   [`NetbootServer`](netboot_core::server::NetbootServer) a std runtime
//!   drives, from a root, accounts and the files of an earlier run;
//! * [`tftp_server`]: the embeddable TFTP server's settings, which the
//!   mio and async `TftpServer` builders share;
//! * [`state`]: the lease and progress files the server saves into;
//! * [`host`]: what a runtime driving that server does the same way as
//!   every other: sockets by role, password checks and saves on a worker
//!   thread, logging;
//! * [`client`]: the TFTP, BOOTP and FTP clients' settings, preparation
//!   and results, which the blocking and the async clients share.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod clock;
pub mod fs;
pub mod ftp;
pub mod host;
pub mod leasefile;
pub mod net;
pub mod os;
pub mod progress;
pub mod setup;
pub mod state;
pub mod tftp_server;

use std::io;
use std::path::Path;

/// A line of a saved file ([`leasefile`], [`progress`]) that could not be
/// read; the rest of the file still is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLine<E> {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub error: E,
}

impl<E> BadLine<E> {
    /// The core parsers' `(line, error)` pairs.
    fn numbered(bad: Vec<(usize, E)>) -> Vec<Self> {
        bad.into_iter()
            .map(|(line, error)| BadLine { line, error })
            .collect()
    }
}

/// The text of a saved file; a file that does not exist (yet) is empty.
fn read_saved(path: &Path) -> io::Result<String> {
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(String::new()),
        read => read,
    }
}
