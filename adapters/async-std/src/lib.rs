//! netboot as async APIs: the TFTP, BOOTP/DHCP and FTP servers and clients
//! of [`netboot_mio`], with the same semantics and the same configuration
//! types, as futures.
//!
//! Every protocol decision is made by the machines of [`netboot_core`], and
//! every storage event is answered by the core's generic glue from the same
//! jailed [`FsStore`](netboot_std::fs::FsStore) the mio adapter uses; this
//! crate only moves bytes between async sockets, files and those machines,
//! and sleeps until the deadline each machine reports from `poll_timeout`.
//!
//! * [`tftp`]: [`tftp::TftpServer`] → [`tftp::ServerHandle`] and the
//!   [`tftp::Client`];
//! * [`bootp`]: [`bootp::BootpServer`] and [`bootp::request`];
//! * [`ftp`]: [`ftp::FtpServer`] and [`ftp::FtpClient`];
//! * [`netboot`]: the combined server ([`netboot::NetbootService`]), BOOTP,
//!   TFTP and FTP sharing one provisioning plan, configured by the mio
//!   adapter's [`netboot::NetbootServer`] builder;
//! * [`Stopper`]: how a running server is told to stop.
//!
//! # async-std is discontinued; smol runs this crate too
//!
//! async-std is discontinued upstream: its maintainers recommend smol in its
//! place, and it receives no new releases beyond fixes. This adapter keeps
//! its name because the design asks for an async-std surface, but nothing in
//! it depends on async-std's own executor. Its sockets are async-std's,
//! which are async-io's `Async<T>` underneath, and its timers are async-io
//! timers. A server is one future that runs every transfer and session
//! it accepts concurrently *inside itself* (no task is spawned behind the
//! caller's back), and the blocking work (password hashing) runs on the
//! `blocking` thread pool that async-std and smol share. So every future
//! here runs unchanged under `smol::block_on` or a `smol::Executor`, and
//! the servers' `spawn` conveniences are the only place that uses
//! async-std's executor (`build` + `run` works under any executor). The
//! test `tests/tests/async_smol.rs` proves it.
//!
//! ```
//! use netboot_async_std::tftp::{Client, TftpServer};
//!
//! let root = tempfile::tempdir().unwrap();
//! std::fs::write(root.path().join("boot.bin"), b"kernel").unwrap();
//! // The same code under smol's executor: no async-std runtime involved.
//! smol::block_on(async {
//!     let service = TftpServer::new(root.path()).bind("127.0.0.1:0".parse().unwrap()).build().unwrap();
//!     let (addr, stopper) = (service.local_addr(), service.stopper());
//!     let server = smol::spawn(service.run());
//!     Client::new(addr).get("boot.bin", root.path().join("copy.bin")).await.unwrap();
//!     stopper.stop();
//!     server.await.unwrap();
//! });
//! assert_eq!(std::fs::read(root.path().join("copy.bin")).unwrap(), b"kernel");
//! ```
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bootp;
pub mod ftp;
pub mod netboot;
mod stop;
pub mod tftp;
mod time;

pub use stop::{StopSignal, Stopper};
