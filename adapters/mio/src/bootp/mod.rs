//! BOOTP/DHCP on OS sockets: the server as a [`runtime::Service`] and a
//! blocking client.
//!
//! * [`server::BootpService`] runs the core's
//!   [`Server`](netboot_core::bootp::server::Server) on one UDP socket (port
//!   67 by default; any port for tests), with `SO_BROADCAST`, optionally
//!   bound to one interface (`SO_BINDTODEVICE`). Leases are saved to a
//!   lease file, atomically, at most once a second and at shutdown, and
//!   restored at start ([`netboot_std::leasefile`]).
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
//!
//! [`runtime::Service`]: crate::runtime::Service

pub mod client;
pub mod server;
