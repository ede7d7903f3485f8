//! Building a server reply: which fields and options it carries (RFC 2131
//! §4.3.1 table 3, RFC 1497, RFC 2132) and where it goes (RFC 1542 §5.4,
//! RFC 2131 §4.1).

use core::net::{Ipv4Addr, SocketAddrV4};

use super::HwAddr;
use super::extra::{self, ExtraOptions};
use super::hosts::{FileName, Host};
use super::server::ServerConfig;
use crate::wire::bootp::options::{self, MessageType, OptionsWriter};
use crate::wire::bootp::{FLAG_BROADCAST, HEADER_LEN, MIN_LEN, Op, Repr, Vend};

/// A reply decided by `handle_datagram`, written out by `poll_transmit`.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub dest: SocketAddrV4,
    pub broadcast: bool,
    /// `None` for a plain BOOTP reply.
    pub kind: Option<MessageType>,
    /// Plain BOOTP: reply with options (the request had the cookie), or
    /// echo these four bytes of the request's vendor area.
    pub cookie: bool,
    pub vend_magic: [u8; 4],
    pub xid: u32,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub giaddr: Ipv4Addr,
    pub hw: HwAddr,
    pub file: FileName,
    pub host: Option<usize>,
    /// Lease time in seconds, for OFFER and ACK of an address.
    pub lease: Option<u32>,
    /// The client listed 66 or 67 in its parameter request list.
    pub boot_options: bool,
    /// The client's option 60 starts with "PXEClient".
    pub pxe: bool,
    /// The client's option 60 starts with "HTTPClient" (UEFI HTTP boot).
    pub http: bool,
    /// A proxyDHCP answer: boot information only, no network options.
    pub proxy: bool,
    /// Leaves from the boot-server port (the request came in on it).
    pub boot_server: bool,
    /// The subnet whose network options the reply carries.
    pub subnet: usize,
    /// The local subnet whose socket the request came in on (0: the main
    /// socket): the reply leaves through it.
    pub via: usize,
    /// The boot profile's extra options, written last; each replaces the
    /// server's option of the same code.
    pub extra: ExtraOptions,
    pub nak_message: &'static str,
    /// The largest message the client accepts.
    pub max_len: usize,
}

/// Where a reply goes: the relay agent on the server port; else, when the
/// request came from a real address (a client that already has one, or a
/// test on loopback), back to that address and port; else a NAK is
/// broadcast, a client with `ciaddr` gets a unicast there, and everything
/// else is broadcast, whether or not the B flag is set, because unicasting
/// to an address the client does not have yet needs an ARP entry that a
/// portable UDP adapter cannot install.
pub(crate) fn destination(
    giaddr: Ipv4Addr,
    ciaddr: Ipv4Addr,
    kind: Option<MessageType>,
    source: SocketAddrV4,
    relay_port: u16,
) -> (SocketAddrV4, bool) {
    let port = match source.port() {
        0 => crate::wire::bootp::CLIENT_PORT,
        p => p,
    };
    if !giaddr.is_unspecified() {
        (SocketAddrV4::new(giaddr, relay_port), false)
    } else if !source.ip().is_unspecified() && !source.ip().is_broadcast() {
        (SocketAddrV4::new(*source.ip(), port), false)
    } else if kind == Some(MessageType::Nak) || ciaddr.is_unspecified() {
        (SocketAddrV4::new(Ipv4Addr::BROADCAST, port), true)
    } else {
        (SocketAddrV4::new(ciaddr, port), false)
    }
}

impl Reply {
    /// Writes the reply into `buf`; `None` when `buf` cannot hold even a
    /// minimal message. Options that would exceed the client's maximum
    /// message size (or `buf`) are left out, the least essential last.
    pub(crate) fn emit(
        &self,
        config: &ServerConfig,
        hosts: &[Host],
        buf: &mut [u8],
    ) -> Option<usize> {
        let host = self.host.and_then(|i| hosts.get(i));
        let limit = self.max_len.min(buf.len()).max(MIN_LEN);
        let mut scratch = [0u8; 1500];
        // Room for options: the limit less header, cookie and End.
        let budget = limit
            .saturating_sub(HEADER_LEN + 4 + 1)
            .min(scratch.len() - 1);
        let mut w = OptionsWriter::new(&mut scratch[..budget]);
        match self.kind {
            Some(kind) => self.dhcp_options(kind, config, host, &mut w),
            None => self.bootp_options(config, host, &mut w),
        }
        let mut n = w.len();
        let nak = self.kind == Some(MessageType::Nak);
        if !nak && (self.kind.is_some() || self.cookie) && !self.extra.is_empty() {
            n = extra::strip(&mut scratch, n, &self.extra);
            for (_, option) in extra::iter(&self.extra) {
                if n + option.len() <= budget {
                    scratch[n..n + option.len()].copy_from_slice(option);
                    n += option.len();
                }
            }
        }
        scratch[n] = options::END;
        let mut flags = self.flags;
        if nak && !self.giaddr.is_unspecified() {
            flags |= FLAG_BROADCAST;
        }
        let repr = Repr {
            op: Op::Reply,
            htype: self.hw.htype,
            hlen: self.hw.hlen(),
            hops: 0,
            xid: self.xid,
            secs: 0,
            flags,
            ciaddr: self.ciaddr,
            yiaddr: self.yiaddr,
            siaddr: self.siaddr,
            giaddr: self.giaddr,
            chaddr: self.hw.chaddr(),
            sname: &[],
            file: self.file.as_bytes(),
            vend: if self.kind.is_some() || self.cookie {
                Vend::Options(&scratch[..n + 1])
            } else {
                Vend::Raw(&self.vend_magic)
            },
        };
        repr.emit(buf).ok()
    }

    fn common_options(
        &self,
        config: &ServerConfig,
        host: Option<&Host>,
        w: &mut OptionsWriter<'_>,
    ) {
        // Each push either fits or is skipped; later, smaller ones may fit.
        let (net, broadcast) = config.net_of(self.subnet);
        let _ = w.ip(options::SUBNET_MASK, net.netmask);
        if let Some(router) = net.router {
            let _ = w.ip(options::ROUTER, router);
        }
        let _ = w.ips(options::DNS_SERVERS, &net.dns);
        if let Some(host) = host.filter(|h| !h.hostname.is_empty()) {
            let _ = w.push(options::HOSTNAME, host.hostname.as_bytes());
        }
        if !net.domain.is_empty() {
            let _ = w.push(options::DOMAIN_NAME, net.domain.as_bytes());
        }
        let _ = w.ip(options::BROADCAST_ADDRESS, broadcast);
    }

    fn dhcp_options(
        &self,
        kind: MessageType,
        config: &ServerConfig,
        host: Option<&Host>,
        w: &mut OptionsWriter<'_>,
    ) {
        let _ = w.message_type(kind);
        let _ = w.ip(options::SERVER_ID, config.server_of(self.subnet));
        if self.proxy {
            // PXE 2.1 §2.2.3: the network's DHCP server gives the address
            // and its options; this answer only says where to boot from,
            // and must say "PXEClient" for the client to take it. Option
            // 43's discovery control 8 means: boot the file named here, no
            // boot-server discovery or menu.
            let _ = w.push(options::VENDOR_CLASS, b"PXEClient");
            let vendor: &[u8] = if config.vendor_specific.is_empty() {
                &[6, 1, 8, 255]
            } else {
                &config.vendor_specific
            };
            let _ = w.push(options::VENDOR_SPECIFIC, vendor);
            if self.boot_options {
                let mut name = [0u8; 15];
                let text = ip_text(self.siaddr, &mut name);
                let _ = w.push(options::TFTP_SERVER_NAME, text);
                if !self.file.is_empty() {
                    let _ = w.push(options::BOOTFILE_NAME, self.file.as_bytes());
                }
            }
            return;
        }
        if kind == MessageType::Nak {
            let _ = w.push(options::MESSAGE, self.nak_message.as_bytes());
            return;
        }
        if let Some(lease) = self.lease {
            let _ = w.u32(options::LEASE_TIME, lease);
            if lease != u32::MAX {
                let _ = w.u32(options::RENEWAL_TIME, lease / 2);
                let _ = w.u32(options::REBINDING_TIME, (u64::from(lease) * 7 / 8) as u32);
            }
        }
        self.common_options(config, host, w);
        // Only on request: old PXE ROMs misbehave when they see 66/67
        // unasked (dnsmasq's rule). `siaddr` and `file` carry them anyway.
        if self.boot_options {
            let mut name = [0u8; 15];
            let text = ip_text(self.siaddr, &mut name);
            let _ = w.push(options::TFTP_SERVER_NAME, text);
            if !self.file.is_empty() {
                let _ = w.push(options::BOOTFILE_NAME, self.file.as_bytes());
            }
        }
        self.vendor_options(config, host, w);
    }

    fn bootp_options(&self, config: &ServerConfig, host: Option<&Host>, w: &mut OptionsWriter<'_>) {
        if !self.cookie {
            return;
        }
        self.common_options(config, host, w);
        self.vendor_options(config, host, w);
    }

    fn vendor_options(
        &self,
        config: &ServerConfig,
        host: Option<&Host>,
        w: &mut OptionsWriter<'_>,
    ) {
        if !config.vendor_specific.is_empty() {
            let _ = w.push(options::VENDOR_SPECIFIC, &config.vendor_specific);
            // A PXE client only reads option 43 when the reply says
            // "PXEClient"; without 43 that echo would send it looking for a
            // PXE boot server.
            if self.pxe {
                let _ = w.push(options::VENDOR_CLASS, b"PXEClient");
            }
        }
        // UEFI HTTP boot takes only an offer that says "HTTPClient"
        // (UEFI 2.x §24.7.2), whose `file` is then a URL.
        if self.http {
            let _ = w.push(options::VENDOR_CLASS, b"HTTPClient");
        }
        if let Some(host) = host {
            let _ = w.raw(&host.options);
        }
    }
}

/// Dotted-quad text of `ip` in `buf`.
fn ip_text(ip: Ipv4Addr, buf: &mut [u8; 15]) -> &[u8] {
    let mut n = 0;
    for (i, octet) in ip.octets().iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        let digits = [octet / 100, octet / 10 % 10, octet % 10];
        let skip = if *octet >= 100 {
            0
        } else if *octet >= 10 {
            1
        } else {
            2
        };
        for d in &digits[skip..] {
            buf[n] = b'0' + d;
            n += 1;
        }
    }
    &buf[..n]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_text_formats_every_width() {
        let mut b = [0; 15];
        assert_eq!(
            ip_text(Ipv4Addr::new(10, 0, 100, 255), &mut b),
            b"10.0.100.255"
        );
        assert_eq!(ip_text(Ipv4Addr::new(1, 22, 3, 0), &mut b), b"1.22.3.0");
    }

    #[test]
    fn destinations_follow_rfc_2131_4_1() {
        let zero = Ipv4Addr::UNSPECIFIED;
        let relay = Ipv4Addr::new(192, 0, 2, 1);
        let client = Ipv4Addr::new(10, 0, 0, 5);
        let ack = Some(MessageType::Ack);
        let nak = Some(MessageType::Nak);
        let unconfigured = SocketAddrV4::new(zero, 68);
        let bcast = |port| (SocketAddrV4::new(Ipv4Addr::BROADCAST, port), true);
        assert_eq!(
            destination(relay, client, nak, SocketAddrV4::new(relay, 67), 67),
            (SocketAddrV4::new(relay, 67), false)
        );
        assert_eq!(destination(zero, client, nak, unconfigured, 67), bcast(68));
        assert_eq!(
            destination(zero, client, ack, unconfigured, 67),
            (SocketAddrV4::new(client, 68), false)
        );
        assert_eq!(
            destination(zero, zero, ack, SocketAddrV4::new(zero, 6800), 67),
            bcast(6800)
        );
        assert_eq!(destination(zero, zero, None, unconfigured, 67), bcast(68));
        assert_eq!(
            destination(zero, zero, None, SocketAddrV4::new(zero, 0), 67),
            bcast(68)
        );
        // A client that sends from an address of its own gets a unicast there.
        let loopback = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 40000);
        assert_eq!(
            destination(zero, zero, ack, loopback, 67),
            (loopback, false)
        );
        assert_eq!(
            destination(zero, zero, nak, loopback, 67),
            (loopback, false)
        );
    }
}
