//! BOOTP/DHCP as async APIs: the server ([`BootpServer`]) and the client
//! ([`request`]).
//!
//! Both drive the same pieces as [`netboot_mio::bootp`]: the server is a
//! [`BootpDriver`](netboot_mio::legacy::bootp::BootpDriver) (the core
//! server, the lease file and the event observer) on an async socket bound
//! by [`netboot_mio::legacy::bootp::bind`] (`SO_BROADCAST`, optionally
//! `SO_BINDTODEVICE`); the client runs the core client prepared by
//! [`netboot_mio::bootp::client::prepare`] from the same
//! [`RequestOptions`] and returns the same [`Assigned`].

mod client;
mod server;

pub use client::request;
pub use netboot_mio::bootp::client::{Assigned, RequestError, RequestOptions};
pub use netboot_mio::legacy::bootp::{CoreServer, Observer, bind};
pub use server::{BootpHandle, BootpServer};
