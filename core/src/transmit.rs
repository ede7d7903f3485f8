use core::net::{IpAddr, SocketAddr};

/// A datagram a machine has written into the caller's buffer, ready to send.
///
/// `poll_transmit(now, buf)` writes the datagram into `buf[..len]` and
/// returns this description; the caller sends those bytes to `destination`.
/// When `source` is set, the datagram must leave from that local address
/// (a server answering on a multi-homed host, for example).
///
/// ```
/// use netboot_core::Transmit;
///
/// let t = Transmit::to("192.0.2.7:69".parse().unwrap(), 4);
/// assert_eq!(t.len, 4);
/// assert!(t.source.is_none());
/// assert!(!t.broadcast);
/// ```
#[must_use = "a Transmit describes bytes already written that still have to be sent"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where to send the datagram.
    pub destination: SocketAddr,
    /// How many bytes at the start of the caller's buffer make up the datagram.
    pub len: usize,
    /// The local address to send from, when the machine cares.
    pub source: Option<IpAddr>,
    /// True when `destination` is a broadcast address (the socket needs
    /// `SO_BROADCAST`; on a multi-homed host the driver picks the interface).
    pub broadcast: bool,
}

impl Transmit {
    /// A unicast datagram of `len` bytes to `destination`.
    pub const fn to(destination: SocketAddr, len: usize) -> Self {
        Transmit {
            destination,
            len,
            source: None,
            broadcast: false,
        }
    }
}
