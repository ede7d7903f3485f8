//! netboot as async APIs: the TFTP, BOOTP/DHCP and FTP servers and clients,
//! as futures.
//!
//! Every server here is the core's
//! [`NetbootServer`](netboot_core::server::NetbootServer), built by the
//! runtime-neutral [`ServerSetup`](netboot_std::setup::ServerSetup) of
//! `netboot-std` and run by one driver: one future that owns the server's
//! sockets, waits for whichever is ready, hands that input to the server
//! and drains it with [`netboot_core::server::drive`], the drain loop every
//! runtime shares. Every protocol decision is the core's; this crate moves
//! bytes, opens sockets when asked, reads the clock and runs the std
//! layer's worker thread for password checks and saves.
//!
//! * [`netboot`]: the combined server ([`netboot::NetbootService`]), BOOTP,
//!   TFTP and FTP sharing one provisioning plan;
//! * [`tftp`]: [`tftp::TftpServer`] (TFTP alone) and the [`tftp::Client`];
//! * [`bootp`]: [`bootp::BootpServer`] (BOOTP alone) and [`bootp::request`];
//! * [`ftp`]: [`ftp::FtpServer`] (FTP alone) and [`ftp::FtpClient`];
//! * [`Stopper`]: how a running server is told to stop.
//!
//! # async-std is discontinued; smol runs this crate too
//!
//! async-std is discontinued upstream: its maintainers recommend smol in its
//! place, and it receives no new releases beyond fixes. This adapter keeps
//! its name because the design asks for an async-std surface, but nothing in
//! it depends on async-std's own executor. Its sockets are async-io's
//! `Async<T>` and its timers async-io timers, which async-std and smol
//! share. A server is one future that serves every socket *inside itself*
//! (no task is spawned behind the caller's back), and the slow work
//! (password hashing, `fsync`ed saves) runs on one worker thread of the std
//! layer. So every future here runs unchanged under `smol::block_on` or a
//! `smol::Executor`, and the `spawn` conveniences are the only place that
//! uses async-std's executor (`build` + `run` works under any executor).
//! The test `tests/tests/async_smol.rs` proves it.
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
mod driver;
pub mod ftp;
pub mod netboot;
pub mod tftp;
mod time;

pub use driver::Stopper;
