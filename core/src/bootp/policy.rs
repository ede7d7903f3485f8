//! The per-client boot decision: which server and file a client is told to
//! boot, or whether to answer it at all.
//!
//! The server works out the address and the default boot assignment (the
//! host entry's `file` and `next_server`, else the server-wide defaults, with
//! RFC 951 §4 generic-name mapping) and then asks its [`BootPolicy`]. The
//! provisioning plan implements this trait to hand out each client's current
//! stage and to fall silent after the last one; the server itself never
//! changes for that.

use core::net::Ipv4Addr;

use super::HwAddr;
use super::extra::ExtraOptions;
use super::hosts::FileName;
use crate::plan::rules::Client;
use crate::time::Instant;

/// Which kind of request a decision is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    /// A plain BOOTP BOOTREQUEST (no option 53).
    Bootp,
    /// DHCPDISCOVER: the answer is an offer.
    Discover,
    /// DHCPREQUEST: the answer is an acknowledgement.
    Request,
    /// DHCPINFORM: configuration only, no address.
    Inform,
}

/// What the server is about to answer, for the policy to decide on.
#[derive(Clone, Copy, Debug)]
pub struct BootRequest<'a> {
    /// The client's hardware address.
    pub hw: HwAddr,
    /// The address the client gets (or has, for INFORM).
    pub ip: Ipv4Addr,
    /// The kind of request.
    pub kind: RequestKind,
    /// The `xid` of the request: retransmissions repeat it.
    pub xid: u32,
    /// The file name the client put in `file` (often empty).
    pub requested_file: &'a [u8],
    /// Option 60, if sent.
    pub vendor_class: Option<&'a [u8]>,
    /// Option 93, if sent.
    pub arch: Option<u16>,
    /// Option 61, if sent.
    pub client_id: Option<&'a [u8]>,
    /// Option 77, if sent.
    pub user_class: Option<&'a [u8]>,
    /// True when the request carried option 175 (iPXE).
    pub ipxe_options: bool,
    /// The client's network: `giaddr` of a relayed request, else the
    /// server's address on the link.
    pub network: Ipv4Addr,
    /// The server's default assignment for this client.
    pub default: Boot<'a>,
}

impl<'a> BootRequest<'a> {
    /// A plain BOOTP request from `hw` for address `ip`, with no options and
    /// the default assignment `default` (a starting point for tests and
    /// policies; the server fills in what the client sent).
    pub fn bootp(hw: HwAddr, ip: Ipv4Addr, xid: u32, default: Boot<'a>) -> Self {
        BootRequest {
            hw,
            ip,
            kind: RequestKind::Bootp,
            xid,
            requested_file: b"",
            vendor_class: None,
            arch: None,
            client_id: None,
            user_class: None,
            ipxe_options: false,
            network: Ipv4Addr::UNSPECIFIED,
            default,
        }
    }

    /// What the request says about the client, for match rules.
    pub fn client(&self) -> Client<'_> {
        Client {
            hw: self.hw.as_bytes(),
            client_id: self.client_id,
            arch: self.arch,
            vendor_class: self.vendor_class,
            user_class: self.user_class,
            ipxe_options: self.ipxe_options,
            network: self.network,
        }
    }
}

/// A boot assignment: the server to boot from and the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Boot<'a> {
    /// `siaddr`.
    pub next_server: Ipv4Addr,
    /// `file` (empty: none).
    pub file: &'a str,
}

/// The policy's answer.
// `Boot` is large (a file name and the options, inline: no allocation in
// core); one is made per request and moved, never stored.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootDecision {
    /// Use the server's default assignment.
    Default,
    /// Boot this instead.
    Boot {
        /// `siaddr`.
        next_server: Ipv4Addr,
        /// `file`.
        file: FileName,
        /// Extra options for this client, written after the server's own
        /// (a code the server sets too takes this value instead; see
        /// [`super::extra`]).
        options: ExtraOptions,
    },
    /// Answer with the address but no boot file.
    NoBoot,
    /// Do not answer this client at all.
    Silent,
}

/// Decides each client's boot assignment.
///
/// ```
/// use netboot_core::bootp::policy::{BootDecision, BootPolicy, BootRequest};
/// use netboot_core::time::Instant;
///
/// /// Boots nobody twice: answers each client once, then stays silent.
/// struct Once(std::collections::HashSet<netboot_core::bootp::HwAddr>);
///
/// impl BootPolicy for Once {
///     fn decide(&mut self, _now: Instant, request: &BootRequest<'_>) -> BootDecision {
///         if self.0.insert(request.hw) { BootDecision::Default } else { BootDecision::Silent }
///     }
/// }
/// ```
pub trait BootPolicy {
    /// Called for every reply the server is about to send that carries an
    /// address (BOOTREPLY, DHCPOFFER, DHCPACK). Retransmitted requests call
    /// it again; a policy must answer them the same way (compare `xid`).
    fn decide(&mut self, now: Instant, request: &BootRequest<'_>) -> BootDecision;

    /// Another DHCP server is giving client `hw` the address `ip` (a
    /// proxyDHCP server sees the client's broadcast DHCPREQUEST for it):
    /// what a policy that attributes downloads by address needs to know.
    /// Nothing by default.
    fn observe(&mut self, _now: Instant, _hw: HwAddr, _ip: Ipv4Addr) {}
}

/// The policy that always takes the server's default.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultPolicy;

impl BootPolicy for DefaultPolicy {
    fn decide(&mut self, _now: Instant, _request: &BootRequest<'_>) -> BootDecision {
        BootDecision::Default
    }
}

impl<P: BootPolicy + ?Sized> BootPolicy for &mut P {
    fn decide(&mut self, now: Instant, request: &BootRequest<'_>) -> BootDecision {
        (**self).decide(now, request)
    }

    fn observe(&mut self, now: Instant, hw: HwAddr, ip: Ipv4Addr) {
        (**self).observe(now, hw, ip)
    }
}
