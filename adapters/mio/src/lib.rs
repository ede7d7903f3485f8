//! netboot on OS sockets: the server on one mio event loop and blocking
//! clients.
//!
//! Every protocol decision is made by the machines of [`netboot_core`]; the
//! whole server is the core's
//! [`NetbootServer`](netboot_core::server::NetbootServer), built by
//! [`netboot_std::setup::ServerSetup`] and driven here. This crate only
//! moves datagrams and bytes between sockets, files and the core, and tells
//! it the time. What it shares with the other std runtimes lives in
//! [`netboot_std`].
//!
//! * [`server`]: [`server::Server`], the one event loop that drives the
//!   core server (BOOTP, TFTP and FTP, sharing one provisioning plan), and
//!   its [`server::NetbootHandle`];
//! * [`tftp`]: the embeddable TFTP server ([`tftp::TftpServer`], a server
//!   with TFTP only) and the blocking client;
//! * [`ftp`]: [`ftp::FtpServer`] (FTP only) and the blocking client;
//! * [`bootp`]: the blocking BOOTP/DHCP client;
//! * [`provision`]: [`provision::Provisioner`], the provisioning client flow
//!   in one call;
//! * [`runtime`]: the busy poll and the stop handles the loop shares;
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bootp;
pub mod ftp;
pub mod provision;
pub mod runtime;
pub mod server;
pub mod tftp;
