//! BOOTP/DHCP on OS sockets.
//!
//! * The server is a [`Server`](crate::server::Server) whose setup serves
//!   BOOTP only (`ServerSetup::new(dir).no_tftp().no_ftp().bootp(config)`):
//!   the core's [`Server`](netboot_core::bootp::server::Server) on one UDP
//!   socket (port 67 by default; any port for tests), with `SO_BROADCAST`,
//!   optionally bound to one interface (`SO_BINDTODEVICE`). With a lease
//!   file, an address is acknowledged only once the lease is saved, and the
//!   leases are restored at start ([`netboot_core::server::persist`]).
//! * [`client::request`] runs the core's
//!   [`Client`](netboot_core::bootp::client::Client) on a blocking socket
//!   (port 68 by default) and returns what it was assigned.
//!
//! Replies to a client that has no address yet are broadcast (see the core
//! server's documentation): this avoids installing ARP entries, which needs
//! privileges and raw access this adapter does not otherwise need. A
//! limited broadcast (255.255.255.255) leaves through the bound interface,
//! so a server on a host with several interfaces (or with no default route)
//! should be given `--interface`; without it, a broadcast the kernel cannot
//! route is retried to the subnet's directed broadcast address.

pub mod client;
