//! BOOTP/DHCP on OS sockets: the server as a [`runtime::Service`] and a
//! blocking client.
//!
//! * [`server::BootpService`] runs the core's
//!   [`Server`](netboot_core::bootp::server::Server) on one UDP socket (port
//!   67 by default; any port for tests), with `SO_BROADCAST`, optionally
//!   bound to one interface (`SO_BINDTODEVICE`). Leases are saved to a
//!   lease file, atomically, at most once a second and at shutdown, and
//!   restored at start ([`leasefile`]).
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
pub mod leasefile;
pub mod server;

use std::io;

use netboot_core::bootp::HwAddr;

/// The hardware address of a network interface (Linux: from sysfs).
///
/// ```
/// let lo = netboot_mio::bootp::interface_hw_addr("lo").unwrap();
/// assert_eq!(lo.to_string(), "00:00:00:00:00:00");
/// ```
pub fn interface_hw_addr(interface: &str) -> io::Result<HwAddr> {
    if interface.contains('/') || interface.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not an interface name",
        ));
    }
    let text = std::fs::read_to_string(format!("/sys/class/net/{interface}/address"))
        .map_err(|e| io::Error::new(e.kind(), format!("interface {interface}: {e}")))?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("interface {interface} has no hardware address"),
        )
    })
}

/// A seed for the core's PRNG from the OS (`/dev/urandom`), falling back to
/// the clock and process id.
pub fn os_seed() -> u64 {
    use std::io::Read;
    let mut bytes = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u64::from_le_bytes(bytes);
    }
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    t ^ (u64::from(std::process::id()) << 32)
}
