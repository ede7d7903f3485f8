//! The vocabulary an [`Endpoint`](crate::machine::Endpoint) and its driver
//! share about sockets: names, requests to open and close them, what
//! happens on a stream, and output routed to a socket.
//!
//! An endpoint names every socket it uses with a [`SocketId`] it chooses.
//! It asks the driver to open one with a [`SocketRequest`] (in its events),
//! and the driver answers with
//! [`handle_opened`](crate::machine::Endpoint::handle_opened); it asks for
//! one to be closed with [`SocketRequest::Close`]. Connections the driver
//! accepts on a listening socket are offered to
//! [`handle_accept`](crate::machine::Endpoint::handle_accept), which names
//! them or refuses them. The driver keeps a map from `SocketId` to its own
//! socket objects, and nothing else.

use core::fmt;
use core::net::{IpAddr, SocketAddr};

use crate::Transmit;

/// A socket, as an endpoint names it. The value is the endpoint's own
/// (which part of it the socket belongs to, a slot, a generation); a
/// driver only compares and stores it.
///
/// ```
/// use netboot_core::socket::SocketId;
///
/// let id = SocketId::from_raw(7);
/// assert_eq!(id.raw(), 7);
/// assert_eq!(id.to_string(), "socket#7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId(u64);

impl SocketId {
    /// The id with this raw value.
    pub const fn from_raw(raw: u64) -> Self {
        SocketId(raw)
    }

    /// The raw value.
    pub const fn raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "socket#{}", self.0)
    }
}

/// Output an endpoint wrote into the caller's buffer, and the socket it
/// leaves from.
///
/// For a datagram socket, `transmit` is one datagram, or, when
/// `segment_size` is set, a run of datagrams of that many bytes each, back
/// to back, the last possibly shorter (for UDP segmentation offload or
/// `sendmmsg`; a driver without either sends them one by one). For a
/// stream, `transmit.len` bytes go to the stream; its destination is the
/// stream's peer.
#[must_use = "an Output describes bytes already written that still have to be sent"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    /// The socket to send from, or the stream to write to.
    pub socket: SocketId,
    /// The bytes at the start of the buffer and where they go.
    pub transmit: Transmit,
    /// Datagrams of this size back to back (`None`: one datagram, or
    /// stream bytes).
    pub segment_size: Option<usize>,
}

impl Output {
    /// `transmit` from `socket`, as one datagram (or stream write).
    pub const fn new(socket: SocketId, transmit: Transmit) -> Self {
        Output {
            socket,
            transmit,
            segment_size: None,
        }
    }

    /// The datagrams of this output: `(offset, len)` of each within the
    /// buffer (one for a plain datagram or a stream write).
    ///
    /// ```
    /// use netboot_core::Transmit;
    /// use netboot_core::socket::{Output, SocketId};
    ///
    /// let mut o = Output::new(SocketId::from_raw(1), Transmit::to("192.0.2.1:69".parse().unwrap(), 10));
    /// o.segment_size = Some(4);
    /// assert_eq!(o.segments().collect::<Vec<_>>(), [(0, 4), (4, 4), (8, 2)]);
    /// ```
    pub fn segments(&self) -> impl Iterator<Item = (usize, usize)> {
        let len = self.transmit.len;
        let step = self.segment_size.unwrap_or(len).max(1);
        (0..len)
            .step_by(step)
            .map(move |start| (start, step.min(len - start)))
    }
}

/// A network interface's name (at most 15 bytes, as Linux allows).
pub type Interface = heapless::String<15>;

/// What a datagram socket is for: the socket options a driver sets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UdpRole {
    /// The BOOTP/DHCP server socket: `SO_BROADCAST`, `SO_REUSEADDR`, large
    /// buffers, and bound to `interface` when one is named.
    Bootp {
        /// The network interface to bind to and broadcast through.
        interface: Option<Interface>,
    },
    /// A TFTP server's well-known port (dual-stack when bound to `[::]`).
    TftpListener,
    /// One TFTP transfer's own port (its transfer identifier): bound to the
    /// listener's address, port 0.
    TftpTransfer,
}

/// A socket the endpoint needs opened, or no longer needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SocketRequest {
    /// Bind a UDP socket to `local` (port 0: any free port), then call
    /// [`handle_opened`](crate::machine::Endpoint::handle_opened) with the
    /// bound address.
    Udp {
        /// The new socket's name.
        socket: SocketId,
        /// Where to bind.
        local: SocketAddr,
        /// What it is for.
        role: UdpRole,
    },
    /// Listen for TCP connections on `local`, then call
    /// [`handle_opened`](crate::machine::Endpoint::handle_opened); offer
    /// every connection it accepts to
    /// [`handle_accept`](crate::machine::Endpoint::handle_accept).
    Listen {
        /// The listener's name.
        socket: SocketId,
        /// Where to listen (port 0: any free port).
        local: SocketAddr,
        /// The backlog to ask for (the kernel may clamp it).
        backlog: u32,
    },
    /// Open a TCP connection from `local` (any port) to `remote`; report
    /// [`StreamEvent::Connected`], or [`StreamEvent::Reset`] when it fails.
    Connect {
        /// The new stream's name.
        socket: SocketId,
        /// The local address to connect from.
        local: IpAddr,
        /// Where to connect.
        remote: SocketAddr,
    },
    /// Close the socket. For a stream every byte already handed out has
    /// been taken by it; the driver shuts it down for writing and closes
    /// it, so the peer reads the end of the stream after the last byte.
    Close {
        /// The socket.
        socket: SocketId,
    },
}

/// Why a socket could not be opened.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The address is in use.
    #[error("address in use")]
    AddrInUse,
    /// Not allowed (a privileged port, an interface binding without the
    /// capability).
    #[error("permission denied")]
    PermissionDenied,
    /// The address is not one of this host's.
    #[error("address not available")]
    AddrNotAvailable,
    /// Too many open files, or another resource limit.
    #[error("out of resources")]
    Exhausted,
    /// Anything else.
    #[error("cannot open socket")]
    Other,
}

/// What an endpoint makes of a connection offered to
/// [`handle_accept`](crate::machine::Endpoint::handle_accept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Accept {
    /// Keep it under this name.
    Stream(SocketId),
    /// Refuse it: write `reply` (possibly empty), best effort, and close.
    Refuse {
        /// What to tell the peer first.
        reply: &'static [u8],
    },
}

/// Something that happened on a stream, as
/// [`handle_stream`](crate::machine::Endpoint::handle_stream) takes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// The connection asked for by [`SocketRequest::Connect`] is up.
    Connected,
    /// Bytes arrived, in order. The endpoint takes all of them.
    Data(&'a [u8]),
    /// There is room to write again after [`StreamEvent::Unsent`].
    Writable,
    /// The stream took only part of the last output for it: these are the
    /// bytes it did not take, to be offered again first.
    Unsent(&'a [u8]),
    /// The peer will send nothing more (it may still read).
    Eof,
    /// The connection failed, was reset, or could not be made; nothing
    /// more can be sent or received. The driver has closed it.
    Reset,
}
