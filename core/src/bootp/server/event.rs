//! What the server reports: [`Event`], [`IgnoreReason`], and the one-line log
//! text of each event.

use core::net::{Ipv4Addr, SocketAddr};

use crate::bootp::HwAddr;
use crate::bootp::hosts::FileName;
use crate::wire::bootp::ParseError;

/// Why a request got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IgnoreReason {
    /// A BOOTREPLY, or a DHCP type only servers send.
    NotARequest,
    /// More relay hops than allowed.
    TooManyHops,
    /// No host entry and no pool address for this client.
    UnknownClient,
    /// The pool has no free address.
    PoolExhausted,
    /// A DHCPREQUEST selecting another server's offer.
    OtherServer,
    /// A DHCPREQUEST or DECLINE without the address it is about.
    NoAddress,
    /// A request about an address this server does not manage.
    NotOurs,
    /// Replies are queued faster than they are drained.
    Busy,
    /// A proxyDHCP server answers only PXE clients (option 60 `PXEClient`).
    NotPxe,
    /// A request a proxyDHCP server leaves to the network's DHCP server.
    ForDhcpServer,
    /// Relayed from a subnet the server does not serve.
    UnknownSubnet,
}

/// What the server did.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// DHCPOFFER sent.
    Offered {
        /// Client.
        hw: HwAddr,
        /// Address offered.
        ip: Ipv4Addr,
        /// Boot file in the offer.
        file: FileName,
    },
    /// DHCPACK sent for an address.
    Acked {
        /// Client.
        hw: HwAddr,
        /// Address.
        ip: Ipv4Addr,
        /// Boot file.
        file: FileName,
        /// `siaddr`.
        next_server: Ipv4Addr,
        /// Lease time in seconds.
        lease: u32,
    },
    /// BOOTREPLY sent to a plain BOOTP client.
    BootpReplied {
        /// Client.
        hw: HwAddr,
        /// Address.
        ip: Ipv4Addr,
        /// Boot file.
        file: FileName,
        /// `siaddr`.
        next_server: Ipv4Addr,
    },
    /// proxyDHCP: a DHCPOFFER with boot information and no address.
    ProxyOffered {
        /// Client.
        hw: HwAddr,
        /// Boot file.
        file: FileName,
        /// `siaddr`.
        next_server: Ipv4Addr,
    },
    /// A PXE boot-server request (port 4011) answered with a DHCPACK.
    ProxyAcked {
        /// Client.
        hw: HwAddr,
        /// The client's address (`ciaddr`).
        ip: Ipv4Addr,
        /// Boot file.
        file: FileName,
        /// `siaddr`.
        next_server: Ipv4Addr,
    },
    /// DHCPACK sent for a DHCPINFORM.
    Informed {
        /// Client.
        hw: HwAddr,
        /// Its address.
        ip: Ipv4Addr,
    },
    /// DHCPNAK sent.
    Nak {
        /// Client.
        hw: HwAddr,
        /// The address it asked for.
        requested: Ipv4Addr,
    },
    /// A client released its address.
    Released {
        /// Client.
        hw: HwAddr,
        /// Address.
        ip: Ipv4Addr,
    },
    /// A client declined its address; it is quarantined.
    Declined {
        /// Client.
        hw: HwAddr,
        /// Address.
        ip: Ipv4Addr,
    },
    /// The boot policy kept the server silent towards this client.
    Silenced {
        /// Client.
        hw: HwAddr,
    },
    /// A request got no answer.
    Ignored {
        /// Client.
        hw: HwAddr,
        /// Why.
        reason: IgnoreReason,
    },
    /// A datagram that is not a valid BOOTP message.
    Malformed {
        /// Sender.
        from: SocketAddr,
        /// What is wrong.
        error: ParseError,
    },
    /// A relay forwarded a request from a subnet the server does not serve
    /// (reported once per relay; its requests are ignored).
    UnknownSubnet {
        /// The relay's address (`giaddr`).
        relay: Ipv4Addr,
    },
    /// Leases changed: time to save them.
    LeasesChanged,
}

impl Event {
    /// True for the events that are a step of some client's boot (what a
    /// server prints by default), as opposed to diagnostics.
    pub fn is_client_step(&self) -> bool {
        !matches!(
            self,
            Event::Ignored { .. } | Event::Malformed { .. } | Event::LeasesChanged
        )
    }
}

/// One line for logs: `DHCPACK 10.0.0.100 to 52:54:00:12:34:56 next-server
/// 10.0.0.1 file boot.ipxe lease 3600s`.
impl core::fmt::Display for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Event::Offered { hw, ip, file } => write!(f, "DHCPOFFER {ip} to {hw} file {file}"),
            Event::Acked {
                hw,
                ip,
                file,
                next_server,
                lease,
            } => write!(
                f,
                "DHCPACK {ip} to {hw} next-server {next_server} file {file} lease {lease}s"
            ),
            Event::BootpReplied {
                hw,
                ip,
                file,
                next_server,
            } => write!(
                f,
                "BOOTREPLY {ip} to {hw} next-server {next_server} file {file}"
            ),
            Event::ProxyOffered {
                hw,
                file,
                next_server,
            } => write!(
                f,
                "proxy DHCPOFFER to {hw} next-server {next_server} file {file}"
            ),
            Event::ProxyAcked {
                hw,
                ip,
                file,
                next_server,
            } => write!(
                f,
                "proxy DHCPACK to {hw} at {ip} next-server {next_server} file {file}"
            ),
            Event::Informed { hw, ip } => write!(f, "DHCPACK to {hw} at {ip} (inform)"),
            Event::Nak { hw, requested } => write!(f, "DHCPNAK to {hw} for {requested}"),
            Event::Released { hw, ip } => write!(f, "DHCPRELEASE of {ip} by {hw}"),
            Event::Declined { hw, ip } => {
                write!(f, "DHCPDECLINE of {ip} by {hw}: address quarantined")
            }
            Event::Silenced { hw } => {
                write!(f, "no answer to {hw}: the boot policy says it is done")
            }
            Event::Ignored { hw, reason } => write!(f, "ignored request from {hw}: {reason:?}"),
            Event::Malformed { from, error } => {
                write!(f, "malformed datagram from {from}: {error}")
            }
            Event::UnknownSubnet { relay } => write!(
                f,
                "requests relayed by {relay} are ignored: no subnet configured for it"
            ),
            Event::LeasesChanged => f.write_str("leases changed"),
        }
    }
}
