//! netboot on OS sockets: servers on one mio event loop and blocking
//! clients.
//!
//! Every protocol decision is made by the machines of [`netboot_core`]; this
//! crate only moves their datagrams and bytes between sockets and files and
//! tells them the time. What it shares with the other std runtimes lives in
//! [`netboot_std`]: the jailed file store ([`netboot_std::fs::FsStore`]), the
//! socket helpers ([`netboot_std::net`]) and the clock
//! ([`netboot_std::clock::Clock`]) among them.
//!
//! * [`runtime`]: the event loop and the [`runtime::Service`] trait that
//!   lets BOOTP, TFTP and FTP share one thread;
//! * [`bootp`]: the BOOTP/DHCP server service and the blocking client;
//! * [`tftp`]: the TFTP server service, the embeddable server and the
//!   blocking client;
//! * [`ftp`]: the FTP server service and the blocking client;
//! * [`netboot`]: [`netboot::NetbootServer`], all three servers on one loop
//!   sharing a provisioning plan;
//! * [`provision`]: [`provision::Provisioner`], the provisioning client flow
//!   in one call.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bootp;
pub mod ftp;
pub mod netboot;
pub mod provision;
pub mod runtime;
pub mod tftp;
