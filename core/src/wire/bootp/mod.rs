//! BOOTP/DHCP messages (RFC 951, RFC 1542, RFC 2131) and their options
//! (RFC 1497, RFC 2132, RFC 3396).
//!
//! A message is a fixed 236-byte header followed by the vendor area (`vend`
//! in RFC 951, `options` in RFC 2131):
//!
//! ```text
//!  op htype hlen hops | xid | secs flags | ciaddr | yiaddr | siaddr | giaddr
//!  chaddr (16) | sname (64) | file (128) | vend (RFC 951: 64; DHCP: variable)
//! ```
//!
//! * [`Packet`] is the zero-copy view: field getters over any `AsRef<[u8]>`,
//!   and [`Packet::options`], the option iterator that follows option
//!   overload (52) into `file` and `sname`.
//! * [`Repr`] is the parsed representation that borrows from the datagram;
//!   [`Repr::emit`] writes a message into a caller buffer and pads it to
//!   [`MIN_LEN`] (300) bytes, the size of an RFC 951 message, which RFC 1542
//!   §2.1 asks every BOOTP/DHCP message to reach.
//! * [`options`] holds the option codes, the [`options::OptionsWriter`] that
//!   encodes options (splitting long values per RFC 3396) and the typed
//!   accessors of [`Message`].
//!
//! The vendor area is either RFC 1497 options (it starts with the magic cookie
//! 99.130.83.99) or an opaque RFC 951 vendor area (anything else, often zero).
//!
//! Departures, all on the lenient side: a message may be shorter than 300
//! bytes (only the 236-byte header is required, as many relays and old ROMs
//! send short vendor areas); a missing End option ends the field at its
//! last byte; `hlen` above 16 is refused because `chaddr` cannot hold it.

pub mod options;

use core::net::Ipv4Addr;

use super::BufferTooSmall;

pub use options::{Message, MessageType, RawOption, Value};

/// Length of the fixed header, up to the vendor area.
pub const HEADER_LEN: usize = 236;
/// Minimum length of an emitted message: the RFC 951 size, with a 64-byte
/// vendor area.
pub const MIN_LEN: usize = 300;
/// The RFC 1048/1497 magic cookie that starts an options area.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// The server's UDP port (`bootps`).
pub const SERVER_PORT: u16 = 67;
/// The client's UDP port (`bootpc`).
pub const CLIENT_PORT: u16 = 68;
/// The PXE boot-server port (PXE 2.1 §2.2.4): where a PXE client that has
/// its address asks a proxyDHCP or boot server for its boot file.
pub const PXE_PORT: u16 = 4011;
/// `htype` of Ethernet (RFC 1700 hardware type 1).
pub const HTYPE_ETHERNET: u8 = 1;
/// The broadcast bit of `flags` (RFC 1542 §2.2).
pub const FLAG_BROADCAST: u16 = 0x8000;
/// Length of `sname`.
pub const SNAME_LEN: usize = 64;
/// Length of `file`.
pub const FILE_LEN: usize = 128;

pub(crate) mod field {
    use core::ops::Range;
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const HOPS: usize = 3;
    pub const XID: Range<usize> = 4..8;
    pub const SECS: Range<usize> = 8..10;
    pub const FLAGS: Range<usize> = 10..12;
    pub const CIADDR: Range<usize> = 12..16;
    pub const YIADDR: Range<usize> = 16..20;
    pub const SIADDR: Range<usize> = 20..24;
    pub const GIADDR: Range<usize> = 24..28;
    pub const CHADDR: Range<usize> = 28..44;
    pub const SNAME: Range<usize> = 44..108;
    pub const FILE: Range<usize> = 108..236;
    pub const VEND: usize = 236;
}

/// `op`: which way the message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// `BOOTREQUEST` (1), client to server.
    Request,
    /// `BOOTREPLY` (2), server to client.
    Reply,
}

impl Op {
    /// The wire value.
    pub const fn code(self) -> u8 {
        match self {
            Op::Request => 1,
            Op::Reply => 2,
        }
    }
}

/// Why a datagram is not a BOOTP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Shorter than the 236-byte header.
    #[error("message of {len} bytes is shorter than the 236-byte BOOTP header")]
    Truncated {
        /// The datagram's length.
        len: usize,
    },
    /// `op` is neither 1 nor 2.
    #[error("op {0} is neither BOOTREQUEST nor BOOTREPLY")]
    BadOp(u8),
    /// `hlen` does not fit in the 16-byte `chaddr`.
    #[error("hlen {0} exceeds the 16 bytes of chaddr")]
    BadHlen(u8),
    /// The options area is malformed.
    #[error("option {code}: {problem}")]
    Options {
        /// The offending option's code.
        code: u8,
        /// What is wrong with it.
        problem: options::OptionProblem,
    },
}

/// What went wrong emitting a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The buffer is too small; nothing was written.
    #[error(transparent)]
    BufferTooSmall(#[from] BufferTooSmall),
    /// `sname` or `file` does not fit with its terminating zero.
    #[error("{field} of {len} bytes does not fit its field with a terminating zero")]
    NameTooLong {
        /// `"sname"` or `"file"`.
        field: &'static str,
        /// The name's length.
        len: usize,
    },
    /// `hlen` exceeds 16.
    #[error("hlen {0} exceeds the 16 bytes of chaddr")]
    BadHlen(u8),
}

/// A zero-copy view of a BOOTP message.
///
/// ```
/// use netboot_core::wire::bootp::{Packet, HEADER_LEN};
///
/// let mut bytes = [0u8; 300];
/// bytes[0] = 1; // BOOTREQUEST
/// bytes[1] = 1; // Ethernet
/// bytes[2] = 6;
/// bytes[4..8].copy_from_slice(&0xdead_beef_u32.to_be_bytes());
/// let packet = Packet::new_checked(&bytes[..]).unwrap();
/// assert_eq!(packet.xid(), 0xdead_beef);
/// assert_eq!(packet.client_hw_addr(), &[0; 6]);
/// assert!(!packet.has_cookie());
/// assert!(Packet::new_checked(&bytes[..HEADER_LEN - 1]).is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn ip_at(b: &[u8], r: core::ops::Range<usize>) -> Ipv4Addr {
    let mut a = [0; 4];
    a.copy_from_slice(&b[r]);
    Ipv4Addr::from(a)
}

/// The bytes of a zero-terminated name field, up to its first zero.
pub fn until_nul(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it; getters may panic on a short
    /// buffer. Prefer [`Packet::new_checked`].
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` after checking the header length, `op` and `hlen`.
    /// The options area is checked by [`Message::new_checked`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let p = Packet { buffer };
        p.check()?;
        Ok(p)
    }

    fn check(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(ParseError::Truncated { len: b.len() });
        }
        if !matches!(b[field::OP], 1 | 2) {
            return Err(ParseError::BadOp(b[field::OP]));
        }
        if b[field::HLEN] > 16 {
            return Err(ParseError::BadHlen(b[field::HLEN]));
        }
        Ok(())
    }

    /// The underlying bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// `op`.
    pub fn op(&self) -> Op {
        if self.buffer.as_ref()[field::OP] == 2 {
            Op::Reply
        } else {
            Op::Request
        }
    }

    /// `htype`: hardware address type (1 = Ethernet).
    pub fn htype(&self) -> u8 {
        self.buffer.as_ref()[field::HTYPE]
    }

    /// `hlen`: hardware address length.
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// `hops`: relay agents crossed.
    pub fn hops(&self) -> u8 {
        self.buffer.as_ref()[field::HOPS]
    }

    /// `xid`: transaction id chosen by the client.
    pub fn xid(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[4], b[5], b[6], b[7]])
    }

    /// `secs`: seconds since the client began.
    pub fn secs(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[8], b[9]])
    }

    /// `flags` (RFC 1542): bit 0x8000 is the broadcast flag.
    pub fn flags(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[10], b[11]])
    }

    /// True when the client asks for a broadcast reply.
    pub fn broadcast(&self) -> bool {
        self.flags() & FLAG_BROADCAST != 0
    }

    /// `ciaddr`: the client's address, when it has one.
    pub fn ciaddr(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::CIADDR)
    }

    /// `yiaddr`: "your" address, assigned by the server.
    pub fn yiaddr(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::YIADDR)
    }

    /// `siaddr`: the server to boot from.
    pub fn siaddr(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::SIADDR)
    }

    /// `giaddr`: the relay agent's address.
    pub fn giaddr(&self) -> Ipv4Addr {
        ip_at(self.buffer.as_ref(), field::GIADDR)
    }

    /// All 16 bytes of `chaddr`.
    pub fn chaddr(&self) -> [u8; 16] {
        let mut c = [0; 16];
        c.copy_from_slice(&self.buffer.as_ref()[field::CHADDR]);
        c
    }

    /// The first `hlen` bytes of `chaddr`: the client's hardware address.
    pub fn client_hw_addr(&self) -> &[u8] {
        let n = usize::from(self.hlen()).min(16);
        &self.buffer.as_ref()[field::CHADDR][..n]
    }

    /// The raw 64-byte `sname` field.
    pub fn sname_field(&self) -> &[u8] {
        &self.buffer.as_ref()[field::SNAME]
    }

    /// The raw 128-byte `file` field.
    pub fn file_field(&self) -> &[u8] {
        &self.buffer.as_ref()[field::FILE]
    }

    /// The vendor area: everything after the header.
    pub fn vend(&self) -> &[u8] {
        &self.buffer.as_ref()[field::VEND..]
    }

    /// True when the vendor area starts with the magic cookie, i.e. holds
    /// RFC 1497/2132 options.
    pub fn has_cookie(&self) -> bool {
        self.vend().starts_with(&MAGIC_COOKIE)
    }

    /// The options area (after the cookie), or empty without a cookie.
    pub fn options_field(&self) -> &[u8] {
        if self.has_cookie() {
            &self.vend()[4..]
        } else {
            &[]
        }
    }

    /// The overload value (option 52) found in the options field: bit 1
    /// means `file` holds options, bit 2 `sname`. Zero without overload.
    pub fn overload(&self) -> u8 {
        options::overload_of(self.options_field())
    }

    /// The server host name, unless `sname` is overloaded with options.
    pub fn sname(&self) -> &[u8] {
        if self.overload() & options::OVERLOAD_SNAME != 0 {
            &[]
        } else {
            until_nul(self.sname_field())
        }
    }

    /// The boot file name, unless `file` is overloaded with options.
    pub fn file(&self) -> &[u8] {
        if self.overload() & options::OVERLOAD_FILE != 0 {
            &[]
        } else {
            until_nul(self.file_field())
        }
    }

    /// Every option instance, in RFC 3396 order: the options field, then
    /// `file`, then `sname` when option 52 overloads them. Pad options are
    /// skipped; an End option ends its field. Iteration stops at the first
    /// malformed option (see [`Message::new_checked`] to reject those).
    pub fn options(&self) -> options::Options<'_> {
        options::Options::new(self.options_field(), self.file_field(), self.sname_field())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets `hops`.
    pub fn set_hops(&mut self, hops: u8) {
        self.buffer.as_mut()[field::HOPS] = hops;
    }

    /// Sets `giaddr` (what a relay agent does).
    pub fn set_giaddr(&mut self, ip: Ipv4Addr) {
        self.buffer.as_mut()[field::GIADDR].copy_from_slice(&ip.octets());
    }

    /// Sets `secs`.
    pub fn set_secs(&mut self, secs: u16) {
        self.buffer.as_mut()[field::SECS].copy_from_slice(&secs.to_be_bytes());
    }

    /// Sets `flags`.
    pub fn set_flags(&mut self, flags: u16) {
        self.buffer.as_mut()[field::FLAGS].copy_from_slice(&flags.to_be_bytes());
    }
}

/// The vendor area of a [`Repr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vend<'a> {
    /// RFC 1497/2132 options: the encoded bytes that follow the magic
    /// cookie. Parsing yields everything after the cookie (End and padding
    /// included); emitting writes the cookie and these bytes verbatim, so
    /// they should end with End ([`options::OptionsWriter::finish`] adds it).
    Options(&'a [u8]),
    /// An RFC 951 vendor area without the cookie, written verbatim.
    Raw(&'a [u8]),
}

/// A BOOTP message, parsed: the header fields plus borrowed names and
/// vendor area.
///
/// ```
/// use core::net::Ipv4Addr;
/// use netboot_core::wire::bootp::{options::OptionsWriter, Message, MessageType, Op, Packet, Repr, Vend};
///
/// let mut opts = [0u8; 64];
/// let mut w = OptionsWriter::new(&mut opts);
/// w.message_type(MessageType::Discover).unwrap();
/// let n = w.finish().unwrap();
///
/// let mut repr = Repr::new(Op::Request, 0x1234_5678, [0x52, 0x54, 0, 1, 2, 3]);
/// repr.vend = Vend::Options(&opts[..n]);
/// let mut buf = [0u8; 576];
/// let len = repr.emit(&mut buf).unwrap();
/// assert_eq!(len, 300); // padded to the RFC 951 size
///
/// let msg = Message::new_checked(&buf[..len]).unwrap();
/// assert_eq!(msg.message_type(), Some(MessageType::Discover));
/// assert_eq!(Repr::parse(msg.packet()).xid, 0x1234_5678);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Repr<'a> {
    /// `op`.
    pub op: Op,
    /// `htype`.
    pub htype: u8,
    /// `hlen` (at most 16).
    pub hlen: u8,
    /// `hops`.
    pub hops: u8,
    /// `xid`.
    pub xid: u32,
    /// `secs`.
    pub secs: u16,
    /// `flags`; [`FLAG_BROADCAST`] is the broadcast bit.
    pub flags: u16,
    /// `ciaddr`.
    pub ciaddr: Ipv4Addr,
    /// `yiaddr`.
    pub yiaddr: Ipv4Addr,
    /// `siaddr`.
    pub siaddr: Ipv4Addr,
    /// `giaddr`.
    pub giaddr: Ipv4Addr,
    /// `chaddr`, all 16 bytes.
    pub chaddr: [u8; 16],
    /// The server name, without its terminating zero (at most 63 bytes on
    /// emit). Raw field content when `sname` carries overloaded options.
    pub sname: &'a [u8],
    /// The boot file name, without its terminating zero (at most 127 bytes
    /// on emit). Raw field content when `file` carries overloaded options.
    pub file: &'a [u8],
    /// The vendor area.
    pub vend: Vend<'a>,
}

impl<'a> Repr<'a> {
    /// A message with the given `op`, `xid` and Ethernet hardware address,
    /// every other field zero and an empty options area.
    pub fn new(op: Op, xid: u32, mac: [u8; 6]) -> Self {
        let mut chaddr = [0; 16];
        chaddr[..6].copy_from_slice(&mac);
        Repr {
            op,
            htype: HTYPE_ETHERNET,
            hlen: 6,
            hops: 0,
            xid,
            secs: 0,
            flags: 0,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            yiaddr: Ipv4Addr::UNSPECIFIED,
            siaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            chaddr,
            sname: &[],
            file: &[],
            vend: Vend::Options(&[options::END]),
        }
    }

    /// Parses a checked packet. Names stop at their first zero unless the
    /// field is overloaded with options, in which case the raw field is kept.
    pub fn parse(packet: &Packet<&'a [u8]>) -> Self {
        let b: &'a [u8] = packet.buffer;
        let p = Packet::new_unchecked(b);
        let overload = p.overload();
        let name = |f: &'a [u8], bit: u8| {
            if overload & bit != 0 { f } else { until_nul(f) }
        };
        let vend = &b[field::VEND..];
        Repr {
            op: p.op(),
            htype: p.htype(),
            hlen: p.hlen(),
            hops: p.hops(),
            xid: p.xid(),
            secs: p.secs(),
            flags: p.flags(),
            ciaddr: p.ciaddr(),
            yiaddr: p.yiaddr(),
            siaddr: p.siaddr(),
            giaddr: p.giaddr(),
            chaddr: p.chaddr(),
            sname: name(&b[field::SNAME], options::OVERLOAD_SNAME),
            file: name(&b[field::FILE], options::OVERLOAD_FILE),
            vend: if vend.starts_with(&MAGIC_COOKIE) {
                Vend::Options(&vend[4..])
            } else {
                Vend::Raw(vend)
            },
        }
    }

    /// True when the broadcast flag is set.
    pub fn broadcast(&self) -> bool {
        self.flags & FLAG_BROADCAST != 0
    }

    /// The bytes [`Repr::emit`] writes: the header, the vendor area, and
    /// zero padding up to [`MIN_LEN`].
    pub fn buffer_len(&self) -> usize {
        let vend = match self.vend {
            Vend::Options(o) => 4 + o.len(),
            Vend::Raw(r) => r.len(),
        };
        (HEADER_LEN + vend).max(MIN_LEN)
    }

    /// Writes the message into `buf` and returns its length. On error
    /// nothing is written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        // A name must leave room for its terminating zero, unless it is an
        // overloaded field carrying options (then it fills the field).
        let overload = match self.vend {
            Vend::Options(o) => options::overload_of(o),
            Vend::Raw(_) => 0,
        };
        let fits = |name: &[u8], cap: usize, bit: u8| {
            name.len() < cap || (name.len() == cap && overload & bit != 0)
        };
        if !fits(self.sname, SNAME_LEN, options::OVERLOAD_SNAME) {
            return Err(EmitError::NameTooLong {
                field: "sname",
                len: self.sname.len(),
            });
        }
        if !fits(self.file, FILE_LEN, options::OVERLOAD_FILE) {
            return Err(EmitError::NameTooLong {
                field: "file",
                len: self.file.len(),
            });
        }
        if self.hlen > 16 {
            return Err(EmitError::BadHlen(self.hlen));
        }
        let len = self.buffer_len();
        if buf.len() < len {
            return Err(BufferTooSmall { required: len }.into());
        }
        let b = &mut buf[..len];
        b.fill(0);
        b[field::OP] = self.op.code();
        b[field::HTYPE] = self.htype;
        b[field::HLEN] = self.hlen;
        b[field::HOPS] = self.hops;
        b[field::XID].copy_from_slice(&self.xid.to_be_bytes());
        b[field::SECS].copy_from_slice(&self.secs.to_be_bytes());
        b[field::FLAGS].copy_from_slice(&self.flags.to_be_bytes());
        b[field::CIADDR].copy_from_slice(&self.ciaddr.octets());
        b[field::YIADDR].copy_from_slice(&self.yiaddr.octets());
        b[field::SIADDR].copy_from_slice(&self.siaddr.octets());
        b[field::GIADDR].copy_from_slice(&self.giaddr.octets());
        b[field::CHADDR].copy_from_slice(&self.chaddr);
        b[field::SNAME.start..field::SNAME.start + self.sname.len()].copy_from_slice(self.sname);
        b[field::FILE.start..field::FILE.start + self.file.len()].copy_from_slice(self.file);
        let vend = &mut b[field::VEND..];
        match self.vend {
            Vend::Options(o) => {
                vend[..4].copy_from_slice(&MAGIC_COOKIE);
                vend[4..4 + o.len()].copy_from_slice(o);
            }
            Vend::Raw(r) => vend[..r.len()].copy_from_slice(r),
        }
        Ok(len)
    }
}

#[cfg(test)]
mod tests;
