//! The core BOOTP/DHCP client on a smoltcp UDP socket bound to port 68.
//!
//! Before it has an address the board sends from `0.0.0.0` to the limited
//! broadcast address, with the broadcast flag set, and receives the
//! broadcast reply (smoltcp delivers limited broadcasts to a socket bound
//! to the port even on an interface with no address).

use core::net::Ipv4Addr;

use netboot_core::bootp::client::{Client, ClientConfig, ClientError, Event};
use netboot_core::bootp::hosts::FileName;
use netboot_core::time::Instant;
use smoltcp::iface::Interface;
use smoltcp::socket::udp;
use smoltcp::wire::{IpAddress, IpCidr};

/// The largest BOOTP datagram the driver sends (RFC 951's 300-byte message
/// plus DHCP options fit well within this).
pub const MAX_REQUEST: usize = 576;

/// What the board was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// Our address.
    pub ip: Ipv4Addr,
    /// The subnet mask (option 1), if sent.
    pub netmask: Option<Ipv4Addr>,
    /// The default router (option 3), if sent.
    pub router: Option<Ipv4Addr>,
    /// The server to boot from (`siaddr`, or the options that stand for it).
    pub server: Option<Ipv4Addr>,
    /// The boot file name.
    pub file: FileName,
}

/// Why no lease came.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BootpError {
    /// No answer after every attempt.
    #[error("no BOOTP/DHCP answer after {attempts} requests")]
    TimedOut {
        /// Requests sent.
        attempts: u32,
    },
    /// The DHCP server refused every request.
    #[error("the DHCP server refused every request")]
    Refused,
}

/// Drives the core [`Client`] on a smoltcp UDP socket bound to port 68.
///
/// ```
/// use netboot_core::bootp::{client::ClientConfig, HwAddr};
/// use netboot_core::rng::Rng;
/// use netboot_core::time::Instant;
/// use netboot_smoltcp::Bootp;
/// use smoltcp::socket::udp;
///
/// let (mut rx_meta, mut rx_data) = ([udp::PacketMetadata::EMPTY; 4], [0u8; 4 * 600]);
/// let (mut tx_meta, mut tx_data) = ([udp::PacketMetadata::EMPTY; 2], [0u8; 2 * 600]);
/// let mut socket = udp::Socket::new(
///     udp::PacketBuffer::new(&mut rx_meta[..], &mut rx_data[..]),
///     udp::PacketBuffer::new(&mut tx_meta[..], &mut tx_data[..]),
/// );
/// socket.bind(68).unwrap();
/// let config = ClientConfig::new(HwAddr::ethernet([2, 0, 0, 0, 0, 1]), Rng::new(7));
/// let mut bootp = Bootp::new(config, Instant::ZERO).unwrap();
/// // The first poll queues the broadcast request; no answer yet.
/// assert!(bootp.poll(Instant::ZERO, &mut socket).is_none());
/// assert_eq!(socket.send_queue(), 300);
/// // Poll again (with the interface) by this deadline at the latest.
/// assert!(bootp.poll_at().is_some());
/// ```
#[derive(Debug)]
pub struct Bootp {
    client: Client,
    source: Option<IpAddress>,
    done: Option<Result<Lease, BootpError>>,
}

impl Bootp {
    /// Starts asking (the first request goes out on the first
    /// [`Bootp::poll`]).
    pub fn new(config: ClientConfig, now: Instant) -> Result<Self, ClientError> {
        // Without an address of our own, requests leave from 0.0.0.0.
        let source = config
            .ciaddr
            .is_unspecified()
            .then_some(IpAddress::Ipv4(Ipv4Addr::UNSPECIFIED));
        Ok(Bootp {
            client: Client::new(config, now)?,
            source,
            done: None,
        })
    }

    /// Feeds every datagram waiting in `socket`, fires the timer if due,
    /// and queues the requests to send. Returns the outcome once there is
    /// one (and on every later call).
    pub fn poll(
        &mut self,
        now: Instant,
        socket: &mut udp::Socket<'_>,
    ) -> Option<Result<Lease, BootpError>> {
        if self.done.is_some() {
            return self.done.clone();
        }
        while let Ok((payload, meta)) = socket.recv() {
            let from = crate::socket_addr(meta.endpoint);
            self.client.handle_datagram(now, from, payload);
        }
        if self.client.poll_timeout().is_some_and(|d| d <= now) {
            self.client.handle_timeout(now);
        }
        let mut buf = [0u8; MAX_REQUEST];
        while let Some(t) = self.client.poll_transmit(now, &mut buf) {
            let Some(to) = crate::endpoint(t.destination) else {
                continue;
            };
            let mut meta = udp::UdpMetadata::from(to);
            meta.local_address = self.source;
            // A full socket buffer is a lost datagram; the machine resends.
            let _ = socket.send_slice(&buf[..t.len], meta);
        }
        while let Some(event) = self.client.poll_event() {
            let outcome = match event {
                Event::Assigned(a) => {
                    let mut file = FileName::new();
                    if let Some(name) = a.file.as_deref().and_then(|f| core::str::from_utf8(f).ok())
                    {
                        let _ = file.push_str(name.trim_end_matches('\0'));
                    }
                    Ok(Lease {
                        ip: a.ip,
                        netmask: a.netmask,
                        router: a.router,
                        server: a.server,
                        file,
                    })
                }
                Event::TimedOut { attempts } => Err(BootpError::TimedOut { attempts }),
                Event::Refused => Err(BootpError::Refused),
                _ => continue,
            };
            self.done = Some(outcome);
        }
        self.done.clone()
    }

    /// When [`Bootp::poll`] must run next, datagrams aside.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.done.is_some() {
            return None;
        }
        self.client.poll_timeout()
    }
}

/// Gives `iface` the leased address (with its mask, or /24) and default
/// route.
pub fn configure(iface: &mut Interface, lease: &Lease) {
    let prefix = lease
        .netmask
        .map_or(24, |m| u32::from(m).leading_ones() as u8);
    iface.update_ip_addrs(|addrs| {
        addrs.clear();
        let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(lease.ip), prefix));
    });
    if let Some(router) = lease.router {
        let _ = iface.routes_mut().add_default_ipv4_route(router);
    }
}
