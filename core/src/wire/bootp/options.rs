//! BOOTP vendor extensions and DHCP options (RFC 1497, RFC 2132, RFC 3396,
//! RFC 4578).
//!
//! An option is a code byte, a length byte and that many bytes of value,
//! except Pad (0) and End (255), which are a single byte. Options live in
//! the options field after the magic cookie and, when option 52 (overload)
//! says so, continue in `file` (value bit 1) and then `sname` (bit 2).
//!
//! RFC 3396: an option may appear several times; its value is then the
//! concatenation of all instances in the order options field, `file`,
//! `sname`. [`Message`] joins them on read. Joining without an allocator
//! needs scratch space, so a joined value lives in a [`Value::Joined`] of at
//! most [`MAX_JOINED`] bytes; [`Message::new_checked`] refuses a message in
//! which any option joins to more than that (no netboot option comes near
//! it; a 1500-byte Ethernet frame has room for about 1200 bytes of options).
//!
//! [`OptionsWriter`] encodes options into a caller buffer and splits a value
//! longer than 255 bytes into consecutive instances, as RFC 3396 §5 says.
//!
//! Departures: option 52 found in `file` or `sname` is ignored (RFC 2131 §4.1
//! allows it only in the options field); a field without End ends at its
//! last byte.

use core::net::Ipv4Addr;
use core::ops::Deref;

use super::{BufferTooSmall, Packet, ParseError};

/// The longest value a split option may join to (RFC 3396).
pub const MAX_JOINED: usize = 1024;

/// Option 52 bit: `file` carries options.
pub const OVERLOAD_FILE: u8 = 1;
/// Option 52 bit: `sname` carries options.
pub const OVERLOAD_SNAME: u8 = 2;

/// Pad (RFC 2132 §3.1).
pub const PAD: u8 = 0;
/// Subnet mask (RFC 2132 §3.3).
pub const SUBNET_MASK: u8 = 1;
/// Routers (RFC 2132 §3.5).
pub const ROUTER: u8 = 3;
/// Domain name servers (RFC 2132 §3.8).
pub const DNS_SERVERS: u8 = 6;
/// Host name (RFC 2132 §3.14).
pub const HOSTNAME: u8 = 12;
/// Domain name (RFC 2132 §3.17).
pub const DOMAIN_NAME: u8 = 15;
/// Broadcast address (RFC 2132 §5.3).
pub const BROADCAST_ADDRESS: u8 = 28;
/// Vendor-specific information (RFC 2132 §8.4).
pub const VENDOR_SPECIFIC: u8 = 43;
/// Requested IP address (RFC 2132 §9.1).
pub const REQUESTED_IP: u8 = 50;
/// IP address lease time (RFC 2132 §9.2).
pub const LEASE_TIME: u8 = 51;
/// Option overload (RFC 2132 §9.3).
pub const OVERLOAD: u8 = 52;
/// DHCP message type (RFC 2132 §9.6).
pub const MESSAGE_TYPE: u8 = 53;
/// Server identifier (RFC 2132 §9.7).
pub const SERVER_ID: u8 = 54;
/// Parameter request list (RFC 2132 §9.8).
pub const PARAMETER_LIST: u8 = 55;
/// Message (RFC 2132 §9.9), the text of a NAK.
pub const MESSAGE: u8 = 56;
/// Maximum DHCP message size (RFC 2132 §9.10).
pub const MAX_MESSAGE_SIZE: u8 = 57;
/// Renewal (T1) time (RFC 2132 §9.11).
pub const RENEWAL_TIME: u8 = 58;
/// Rebinding (T2) time (RFC 2132 §9.12).
pub const REBINDING_TIME: u8 = 59;
/// Vendor class identifier (RFC 2132 §9.13).
pub const VENDOR_CLASS: u8 = 60;
/// Client identifier (RFC 2132 §9.14).
pub const CLIENT_ID: u8 = 61;
/// TFTP server name (RFC 2132 §9.4).
pub const TFTP_SERVER_NAME: u8 = 66;
/// User class (RFC 3004).
pub const USER_CLASS: u8 = 77;
/// Bootfile name (RFC 2132 §9.5).
pub const BOOTFILE_NAME: u8 = 67;
/// Client system architecture (RFC 4578 §2.1).
pub const CLIENT_ARCH: u8 = 93;
/// Client network device interface (RFC 4578 §2.2).
pub const CLIENT_NDI: u8 = 94;
/// Client machine identifier, the UUID/GUID (RFC 4578 §2.3).
pub const CLIENT_UUID: u8 = 97;
/// iPXE's encapsulated options (sent by every iPXE build).
pub const IPXE: u8 = 175;
/// End (RFC 2132 §3.2).
pub const END: u8 = 255;

/// DHCP message types (option 53, RFC 2132 §9.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// DHCPDISCOVER (1).
    Discover,
    /// DHCPOFFER (2).
    Offer,
    /// DHCPREQUEST (3).
    Request,
    /// DHCPDECLINE (4).
    Decline,
    /// DHCPACK (5).
    Ack,
    /// DHCPNAK (6).
    Nak,
    /// DHCPRELEASE (7).
    Release,
    /// DHCPINFORM (8).
    Inform,
}

impl MessageType {
    /// The type for a wire value, if it is one of RFC 2132's eight.
    pub const fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            1 => MessageType::Discover,
            2 => MessageType::Offer,
            3 => MessageType::Request,
            4 => MessageType::Decline,
            5 => MessageType::Ack,
            6 => MessageType::Nak,
            7 => MessageType::Release,
            8 => MessageType::Inform,
            _ => return None,
        })
    }

    /// The wire value.
    pub const fn code(self) -> u8 {
        match self {
            MessageType::Discover => 1,
            MessageType::Offer => 2,
            MessageType::Request => 3,
            MessageType::Decline => 4,
            MessageType::Ack => 5,
            MessageType::Nak => 6,
            MessageType::Release => 7,
            MessageType::Inform => 8,
        }
    }

    /// The name used in logs: `DHCPDISCOVER`, `DHCPACK`, ...
    pub const fn name(self) -> &'static str {
        match self {
            MessageType::Discover => "DHCPDISCOVER",
            MessageType::Offer => "DHCPOFFER",
            MessageType::Request => "DHCPREQUEST",
            MessageType::Decline => "DHCPDECLINE",
            MessageType::Ack => "DHCPACK",
            MessageType::Nak => "DHCPNAK",
            MessageType::Release => "DHCPRELEASE",
            MessageType::Inform => "DHCPINFORM",
        }
    }
}

/// What is wrong with an option.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionProblem {
    /// The length byte, or the value, runs past the end of its field.
    #[error("runs past the end of its field")]
    Truncated,
    /// Option 52 with a length other than 1 or a value outside 1..=3.
    #[error("invalid option overload")]
    BadOverload,
    /// The instances of a split option join to more than [`MAX_JOINED`].
    #[error("joined value exceeds {MAX_JOINED} bytes")]
    JoinedTooLong,
}

/// Which part of the message an option instance was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Area {
    /// The options field after the cookie.
    Options,
    /// The `file` field, overloaded.
    File,
    /// The `sname` field, overloaded.
    Sname,
}

/// One option instance as it is on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawOption<'a> {
    /// The option code.
    pub code: u8,
    /// The value bytes.
    pub data: &'a [u8],
    /// Where it was found.
    pub area: Area,
}

/// A malformed option met by [`Options`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OptionError {
    /// The offending option's code.
    pub code: u8,
    /// What is wrong.
    pub problem: OptionProblem,
}

impl From<OptionError> for ParseError {
    fn from(e: OptionError) -> Self {
        ParseError::Options {
            code: e.code,
            problem: e.problem,
        }
    }
}

/// Iterator over every option instance of a message (see
/// [`Packet::options`]).
#[derive(Clone, Debug)]
pub struct Options<'a> {
    areas: [&'a [u8]; 3],
    area: usize,
    pos: usize,
    overload: u8,
    failed: bool,
}

impl<'a> Options<'a> {
    /// Iterates `options`, then `file` and `sname` if an overload option in
    /// `options` says so.
    pub fn new(options: &'a [u8], file: &'a [u8], sname: &'a [u8]) -> Self {
        Options {
            areas: [options, file, sname],
            area: 0,
            pos: 0,
            overload: 0,
            failed: false,
        }
    }

    fn next_area(&mut self) -> bool {
        loop {
            self.area += 1;
            self.pos = 0;
            match self.area {
                1 if self.overload & OVERLOAD_FILE != 0 => return true,
                2 if self.overload & OVERLOAD_SNAME != 0 => return true,
                1 | 2 => continue,
                _ => return false,
            }
        }
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<RawOption<'a>, OptionError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            let field = self.areas.get(self.area).copied()?;
            let Some(&code) = field.get(self.pos) else {
                if !self.next_area() {
                    return None;
                }
                continue;
            };
            match code {
                PAD => {
                    self.pos += 1;
                    continue;
                }
                END => {
                    if !self.next_area() {
                        return None;
                    }
                    continue;
                }
                _ => {}
            }
            let fail = |s: &mut Self, problem| {
                s.failed = true;
                Some(Err(OptionError { code, problem }))
            };
            let Some(&len) = field.get(self.pos + 1) else {
                return fail(self, OptionProblem::Truncated);
            };
            let start = self.pos + 2;
            let end = start + usize::from(len);
            let Some(data) = field.get(start..end) else {
                return fail(self, OptionProblem::Truncated);
            };
            self.pos = end;
            let area = [Area::Options, Area::File, Area::Sname][self.area];
            if code == OVERLOAD && area == Area::Options {
                match data {
                    [v @ 1..=3] => self.overload = *v,
                    _ => return fail(self, OptionProblem::BadOverload),
                }
            }
            return Some(Ok(RawOption { code, data, area }));
        }
    }
}

/// The overload value of an options field (0 when absent or malformed).
pub fn overload_of(options: &[u8]) -> u8 {
    Options::new(options, &[], &[])
        .map_while(Result::ok)
        .find(|o| o.code == OVERLOAD)
        .and_then(|o| o.data.first().copied())
        .unwrap_or(0)
}

/// An option value: borrowed from the message when it came in one piece,
/// joined into bounded scratch when it was split (RFC 3396).
// The size difference is the point: a joined value lives in its bounded
// scratch right here, with no allocator.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// A single instance, borrowed.
    Borrowed(&'a [u8]),
    /// Several instances, concatenated.
    Joined(heapless::Vec<u8, MAX_JOINED>),
}

impl Deref for Value<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Value::Borrowed(b) => b,
            Value::Joined(v) => v,
        }
    }
}

/// A BOOTP/DHCP message whose options area has been validated, with typed
/// access to the options a netboot server and client need.
///
/// ```
/// use core::net::Ipv4Addr;
/// use netboot_core::wire::bootp::{options::{self, OptionsWriter}, Message, MessageType, Op, Repr, Vend};
///
/// let mut opts = [0u8; 700];
/// let mut w = OptionsWriter::new(&mut opts);
/// w.message_type(MessageType::Request).unwrap();
/// w.ip(options::REQUESTED_IP, Ipv4Addr::new(10, 0, 0, 7)).unwrap();
/// w.push(options::PARAMETER_LIST, &[1, 3, 66, 67]).unwrap();
/// w.push(options::VENDOR_SPECIFIC, &[7u8; 300]).unwrap(); // split in two
/// let n = w.finish().unwrap();
/// let mut repr = Repr::new(Op::Request, 1, [2, 0, 0, 0, 0, 1]);
/// repr.vend = Vend::Options(&opts[..n]);
/// let mut buf = [0u8; 1024];
/// let len = repr.emit(&mut buf).unwrap();
///
/// let msg = Message::new_checked(&buf[..len]).unwrap();
/// assert_eq!(msg.requested_ip(), Some(Ipv4Addr::new(10, 0, 0, 7)));
/// assert!(msg.requests(options::BOOTFILE_NAME));
/// assert_eq!(msg.get(options::VENDOR_SPECIFIC).unwrap().len(), 300);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    packet: Packet<&'a [u8]>,
}

fn ip4(b: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(b).ok().map(Ipv4Addr::from)
}

impl<'a> Message<'a> {
    /// Checks the header ([`Packet::new_checked`]) and the whole options
    /// area: no option runs past its field, option 52 is valid, and no split
    /// option joins to more than [`MAX_JOINED`] bytes.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, ParseError> {
        let packet = Packet::new_checked(bytes)?;
        let mut totals = [0u16; 256];
        for option in packet.options() {
            let option = option?;
            let total = &mut totals[usize::from(option.code)];
            // At most 255 per instance and about 64 KiB of instances: no
            // overflow before the bound trips.
            *total = total.saturating_add(option.data.len() as u16);
            if usize::from(*total) > MAX_JOINED {
                return Err(OptionError {
                    code: option.code,
                    problem: OptionProblem::JoinedTooLong,
                }
                .into());
            }
        }
        Ok(Message { packet })
    }

    /// The header view.
    pub fn packet(&self) -> &Packet<&'a [u8]> {
        &self.packet
    }

    /// The whole datagram.
    pub fn bytes(&self) -> &'a [u8] {
        self.packet.into_inner()
    }

    /// Every option instance with the message's lifetime.
    pub fn options(&self) -> Options<'a> {
        let b = self.bytes();
        let vend = &b[super::field::VEND..];
        let opts = if vend.starts_with(&super::MAGIC_COOKIE) {
            &vend[4..]
        } else {
            &[]
        };
        Options::new(opts, &b[super::field::FILE], &b[super::field::SNAME])
    }

    /// The boot file name from `file` (empty when overloaded).
    pub fn file(&self) -> &'a [u8] {
        let b = self.bytes();
        if self.packet.overload() & OVERLOAD_FILE != 0 {
            &[]
        } else {
            super::until_nul(&b[super::field::FILE])
        }
    }

    /// The server host name from `sname` (empty when overloaded).
    pub fn sname(&self) -> &'a [u8] {
        let b = self.bytes();
        if self.packet.overload() & OVERLOAD_SNAME != 0 {
            &[]
        } else {
            super::until_nul(&b[super::field::SNAME])
        }
    }

    /// The value of option `code`, all its instances joined (RFC 3396), or
    /// `None` when absent.
    pub fn get(&self, code: u8) -> Option<Value<'a>> {
        let mut found: Option<Value<'a>> = None;
        for option in self.options().map_while(Result::ok) {
            if option.code != code {
                continue;
            }
            found = Some(match found {
                None => Value::Borrowed(option.data),
                Some(Value::Borrowed(first)) => {
                    let mut v = heapless::Vec::new();
                    v.extend_from_slice(first).ok()?;
                    v.extend_from_slice(option.data).ok()?;
                    Value::Joined(v)
                }
                Some(Value::Joined(mut v)) => {
                    v.extend_from_slice(option.data).ok()?;
                    Value::Joined(v)
                }
            });
        }
        found
    }

    /// True when option `code` is present.
    pub fn has(&self, code: u8) -> bool {
        self.options().map_while(Result::ok).any(|o| o.code == code)
    }

    fn ip(&self, code: u8) -> Option<Ipv4Addr> {
        ip4(&self.get(code)?)
    }

    fn u32(&self, code: u8) -> Option<u32> {
        Some(u32::from_be_bytes(
            <[u8; 4]>::try_from(&*self.get(code)?).ok()?,
        ))
    }

    /// Option 53, when present and one of the eight types. A message
    /// without it is plain BOOTP.
    pub fn message_type(&self) -> Option<MessageType> {
        match *self.get(MESSAGE_TYPE)? {
            [t] => MessageType::from_code(t),
            _ => None,
        }
    }

    /// Option 1.
    pub fn subnet_mask(&self) -> Option<Ipv4Addr> {
        self.ip(SUBNET_MASK)
    }

    /// The first router of option 3.
    pub fn router(&self) -> Option<Ipv4Addr> {
        self.ip_list(ROUTER).next()
    }

    /// The addresses of a list option such as 3 (routers) or 6 (DNS
    /// servers); a trailing partial address is ignored.
    pub fn ip_list(&self, code: u8) -> IpList<'a> {
        IpList {
            value: self.get(code),
            index: 0,
        }
    }

    /// Option 12.
    pub fn hostname(&self) -> Option<Value<'a>> {
        self.get(HOSTNAME)
    }

    /// Option 15.
    pub fn domain_name(&self) -> Option<Value<'a>> {
        self.get(DOMAIN_NAME)
    }

    /// Option 28.
    pub fn broadcast_address(&self) -> Option<Ipv4Addr> {
        self.ip(BROADCAST_ADDRESS)
    }

    /// Option 43.
    pub fn vendor_specific(&self) -> Option<Value<'a>> {
        self.get(VENDOR_SPECIFIC)
    }

    /// Option 50.
    pub fn requested_ip(&self) -> Option<Ipv4Addr> {
        self.ip(REQUESTED_IP)
    }

    /// Option 51, in seconds (`u32::MAX` is infinite).
    pub fn lease_time(&self) -> Option<u32> {
        self.u32(LEASE_TIME)
    }

    /// Option 54.
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.ip(SERVER_ID)
    }

    /// Option 55: the codes the client asks for.
    pub fn parameter_list(&self) -> Option<Value<'a>> {
        self.get(PARAMETER_LIST)
    }

    /// True when option 55 lists `code`.
    pub fn requests(&self, code: u8) -> bool {
        self.parameter_list().is_some_and(|l| l.contains(&code))
    }

    /// Option 57, the largest message the client accepts.
    pub fn max_message_size(&self) -> Option<u16> {
        Some(u16::from_be_bytes(
            <[u8; 2]>::try_from(&*self.get(MAX_MESSAGE_SIZE)?).ok()?,
        ))
    }

    /// Option 58 (T1), in seconds.
    pub fn renewal_time(&self) -> Option<u32> {
        self.u32(RENEWAL_TIME)
    }

    /// Option 59 (T2), in seconds.
    pub fn rebinding_time(&self) -> Option<u32> {
        self.u32(REBINDING_TIME)
    }

    /// Option 60.
    pub fn vendor_class(&self) -> Option<Value<'a>> {
        self.get(VENDOR_CLASS)
    }

    /// Option 61.
    pub fn client_id(&self) -> Option<Value<'a>> {
        self.get(CLIENT_ID)
    }

    /// Option 66.
    pub fn tftp_server_name(&self) -> Option<Value<'a>> {
        self.get(TFTP_SERVER_NAME)
    }

    /// Option 67.
    pub fn bootfile_name(&self) -> Option<Value<'a>> {
        self.get(BOOTFILE_NAME)
    }

    /// The first architecture type of option 93 (0 = x86 BIOS, 7 = EFI
    /// x86-64, ...).
    pub fn client_arch(&self) -> Option<u16> {
        let v = self.get(CLIENT_ARCH)?;
        Some(u16::from_be_bytes([*v.first()?, *v.get(1)?]))
    }

    /// Option 94: interface type and UNDI major/minor version.
    pub fn client_ndi(&self) -> Option<[u8; 3]> {
        <[u8; 3]>::try_from(&*self.get(CLIENT_NDI)?).ok()
    }

    /// Option 97: type byte (0) and the 16-byte machine UUID.
    pub fn client_uuid(&self) -> Option<[u8; 17]> {
        <[u8; 17]>::try_from(&*self.get(CLIENT_UUID)?).ok()
    }
}

/// The IPv4 addresses of a list option.
#[derive(Clone, Debug)]
pub struct IpList<'a> {
    value: Option<Value<'a>>,
    index: usize,
}

impl Iterator for IpList<'_> {
    type Item = Ipv4Addr;
    fn next(&mut self) -> Option<Ipv4Addr> {
        let v = self.value.as_deref()?;
        let ip = ip4(v.get(self.index..self.index + 4)?)?;
        self.index += 4;
        Some(ip)
    }
}

/// Encodes options into a caller buffer.
///
/// Each call writes whole options or nothing: on [`BufferTooSmall`] the
/// buffer keeps what earlier calls wrote. Values over 255 bytes are split
/// into consecutive instances (RFC 3396 §5).
///
/// ```
/// use netboot_core::wire::bootp::options::{OptionsWriter, HOSTNAME};
///
/// let mut buf = [0u8; 8];
/// let mut w = OptionsWriter::new(&mut buf);
/// w.push(HOSTNAME, b"pi").unwrap();
/// assert!(w.push(HOSTNAME, b"toolong").is_err());
/// assert_eq!(w.finish().unwrap(), 5);
/// assert_eq!(&buf[..5], &[12, 2, b'p', b'i', 255]);
/// ```
#[derive(Debug)]
pub struct OptionsWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl<'b> OptionsWriter<'b> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        OptionsWriter { buf, len: 0 }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing has been written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The encoded length of option `code` with a `len`-byte value.
    pub const fn encoded_len(len: usize) -> usize {
        if len == 0 {
            2
        } else {
            len + 2 * len.div_ceil(255)
        }
    }

    /// Writes option `code` with `value`, split into instances of at most
    /// 255 bytes.
    pub fn push(&mut self, code: u8, value: &[u8]) -> Result<(), BufferTooSmall> {
        let need = Self::encoded_len(value.len());
        let required = self.len + need;
        if required > self.buf.len() {
            return Err(BufferTooSmall { required });
        }
        if value.is_empty() {
            self.buf[self.len] = code;
            self.buf[self.len + 1] = 0;
            self.len += 2;
            return Ok(());
        }
        for chunk in value.chunks(255) {
            self.buf[self.len] = code;
            self.buf[self.len + 1] = chunk.len() as u8;
            self.buf[self.len + 2..self.len + 2 + chunk.len()].copy_from_slice(chunk);
            self.len += 2 + chunk.len();
        }
        Ok(())
    }

    /// Writes option 53.
    pub fn message_type(&mut self, t: MessageType) -> Result<(), BufferTooSmall> {
        self.push(MESSAGE_TYPE, &[t.code()])
    }

    /// Writes a one-address option.
    pub fn ip(&mut self, code: u8, ip: Ipv4Addr) -> Result<(), BufferTooSmall> {
        self.push(code, &ip.octets())
    }

    /// Writes a list-of-addresses option (nothing for an empty list).
    pub fn ips(&mut self, code: u8, ips: &[Ipv4Addr]) -> Result<(), BufferTooSmall> {
        let mut v: heapless::Vec<u8, MAX_JOINED> = heapless::Vec::new();
        for ip in ips {
            v.extend_from_slice(&ip.octets())
                .map_err(|_| BufferTooSmall {
                    required: ips.len() * 4,
                })?;
        }
        if v.is_empty() {
            return Ok(());
        }
        self.push(code, &v)
    }

    /// Writes a 32-bit option (lease times).
    pub fn u32(&mut self, code: u8, value: u32) -> Result<(), BufferTooSmall> {
        self.push(code, &value.to_be_bytes())
    }

    /// Writes a 16-bit option.
    pub fn u16(&mut self, code: u8, value: u16) -> Result<(), BufferTooSmall> {
        self.push(code, &value.to_be_bytes())
    }

    /// Copies already encoded options (for example configured extra
    /// options) verbatim; they must be well formed.
    pub fn raw(&mut self, encoded: &[u8]) -> Result<(), BufferTooSmall> {
        let required = self.len + encoded.len();
        if required > self.buf.len() {
            return Err(BufferTooSmall { required });
        }
        self.buf[self.len..required].copy_from_slice(encoded);
        self.len = required;
        Ok(())
    }

    /// Writes End and returns the total length.
    pub fn finish(self) -> Result<usize, BufferTooSmall> {
        let required = self.len + 1;
        if required > self.buf.len() {
            return Err(BufferTooSmall { required });
        }
        self.buf[self.len] = END;
        Ok(required)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_value_round_trips() {
        let value: heapless::Vec<u8, 600> = (0..600u16).map(|i| i as u8).collect();
        let mut buf = [0u8; 700];
        let mut w = OptionsWriter::new(&mut buf);
        w.push(VENDOR_SPECIFIC, &value).unwrap();
        let n = w.finish().unwrap();
        assert_eq!(n, 600 + 3 * 2 + 1);
        assert_eq!(&buf[..2], &[43, 255]);
        assert_eq!(&buf[257..259], &[43, 255]);
        assert_eq!(&buf[514..516], &[43, 90]);
        let instances: heapless::Vec<_, 4> = Options::new(&buf[..n], &[], &[])
            .map(|o| o.unwrap().data.len())
            .collect();
        assert_eq!(&instances[..], &[255, 255, 90]);
    }

    #[test]
    fn truncated_option_is_an_error_and_ends_iteration() {
        let mut it = Options::new(&[1, 4, 255, 255], &[], &[]);
        assert_eq!(
            it.next(),
            Some(Err(OptionError {
                code: 1,
                problem: OptionProblem::Truncated
            }))
        );
        assert_eq!(it.next(), None);
        let mut it = Options::new(&[0, 0, 3], &[], &[]);
        assert!(matches!(it.next(), Some(Err(_))));
    }

    #[test]
    fn overload_continues_in_file_then_sname() {
        let opts = [OVERLOAD, 1, 3, 12, 1, b'a', END];
        let file = [12, 1, b'b', END, 0, 0];
        let sname = [12, 1, b'c', 0];
        let codes: heapless::Vec<(Area, u8), 8> = Options::new(&opts, &file, &sname)
            .map(|o| o.unwrap())
            .map(|o| (o.area, o.data[0]))
            .collect();
        assert_eq!(
            &codes[..],
            &[
                (Area::Options, 3),
                (Area::Options, b'a'),
                (Area::File, b'b'),
                (Area::Sname, b'c')
            ]
        );
        // Without the overload bit, `file` is a name, not options.
        assert_eq!(Options::new(&[END], &file, &sname).count(), 0);
    }

    #[test]
    fn bad_overload_is_refused() {
        let mut it = Options::new(&[OVERLOAD, 1, 4, END], &[], &[]);
        assert_eq!(
            it.next(),
            Some(Err(OptionError {
                code: OVERLOAD,
                problem: OptionProblem::BadOverload
            }))
        );
    }

    #[test]
    fn writer_leaves_earlier_options_on_overflow() {
        let mut buf = [0xAAu8; 6];
        let mut w = OptionsWriter::new(&mut buf);
        w.u16(MAX_MESSAGE_SIZE, 1500).unwrap();
        assert_eq!(w.u32(LEASE_TIME, 1), Err(BufferTooSmall { required: 10 }));
        assert_eq!(w.len(), 4);
        assert_eq!(buf, [57, 2, 5, 220, 0xAA, 0xAA]);
        assert_eq!(OptionsWriter::encoded_len(0), 2);
        assert_eq!(OptionsWriter::encoded_len(255), 257);
        assert_eq!(OptionsWriter::encoded_len(256), 260);
    }

    #[test]
    fn message_types_round_trip() {
        for code in 1..=8 {
            let t = MessageType::from_code(code).unwrap();
            assert_eq!(t.code(), code);
            assert!(t.name().starts_with("DHCP"));
        }
        assert_eq!(MessageType::from_code(0), None);
        assert_eq!(MessageType::from_code(9), None);
    }
}
