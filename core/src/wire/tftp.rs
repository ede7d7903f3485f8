//! TFTP packets: RRQ, WRQ, DATA, ACK, ERROR (RFC 1350) and OACK (RFC 2347).
//!
//! [`Packet`] is a zero-copy representation that borrows the received bytes:
//! [`Packet::parse`] validates a whole datagram and never reads past it or
//! panics, [`Packet::buffer_len`] says how long its encoding is, and
//! [`Packet::emit`] writes it into a caller buffer (or returns
//! [`BufferTooSmall`] and leaves the buffer untouched).
//!
//! Validation is strict:
//!
//! * the opcode must be 1 to 6;
//! * every string (file name, mode, option name and value, error message) must
//!   end with a NUL inside the datagram, and nothing may follow the last one;
//! * the mode is `octet` or `netascii` in any case; `mail` (obsolete since
//!   RFC 1350) and anything else are refused with distinct errors;
//! * options come in name/value pairs; a name without a value, or an empty
//!   name, is refused; names are compared case-insensitively
//!   ([`Options::get`]);
//! * an ACK is exactly four bytes;
//! * file names and options must be UTF-8 (every real client sends ASCII).
//!
//! Departures: an ERROR message that is not UTF-8 is cut at its first invalid
//! byte instead of refusing the packet, so a peer's error is never mistaken
//! for silence. The wire layer does not bound a DATA payload: that depends on
//! the negotiated `blksize`, which the transfer machine checks.

use core::fmt;

use super::BufferTooSmall;

/// Length of the DATA header (opcode and block number).
pub const DATA_HEADER_LEN: usize = 4;
/// The default block size of RFC 1350.
pub const DEFAULT_BLKSIZE: u16 = 512;
/// The smallest `blksize` RFC 2348 allows.
pub const MIN_BLKSIZE: u16 = 8;
/// The largest `blksize` RFC 2348 allows (a 65,535-byte IPv4 datagram less
/// its IP, UDP and TFTP headers).
pub const MAX_BLKSIZE: u16 = 65464;
/// The largest datagram any TFTP peer may send us with a negotiated
/// `blksize`: a DATA header plus [`MAX_BLKSIZE`] bytes.
pub const MAX_PACKET_LEN: usize = DATA_HEADER_LEN + MAX_BLKSIZE as usize;

/// The six TFTP opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Opcode {
    /// Read request.
    Rrq = 1,
    /// Write request.
    Wrq = 2,
    /// A block of file data.
    Data = 3,
    /// Acknowledgement of a block.
    Ack = 4,
    /// An error, which ends the transfer.
    Error = 5,
    /// Option acknowledgement (RFC 2347).
    Oack = 6,
}

impl Opcode {
    /// The opcode for a wire value, if it is one.
    pub const fn from_u16(value: u16) -> Option<Opcode> {
        Some(match value {
            1 => Opcode::Rrq,
            2 => Opcode::Wrq,
            3 => Opcode::Data,
            4 => Opcode::Ack,
            5 => Opcode::Error,
            6 => Opcode::Oack,
            _ => return None,
        })
    }
}

/// The transfer mode of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Bytes as they are.
    #[default]
    Octet,
    /// Text in network ASCII: line ends as CR LF, a bare CR as CR NUL.
    Netascii,
}

impl Mode {
    /// The name sent on the wire.
    pub const fn as_str(self) -> &'static str {
        match self {
            Mode::Octet => "octet",
            Mode::Netascii => "netascii",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error codes of RFC 1350 and RFC 2347.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0: not defined, see the message.
    NotDefined,
    /// 1: file not found.
    FileNotFound,
    /// 2: access violation.
    AccessViolation,
    /// 3: disk full or allocation exceeded.
    DiskFull,
    /// 4: illegal TFTP operation.
    IllegalOperation,
    /// 5: unknown transfer ID.
    UnknownTid,
    /// 6: file already exists.
    FileExists,
    /// 7: no such user.
    NoSuchUser,
    /// 8: the transfer is terminated by option negotiation (RFC 2347).
    OptionRefused,
    /// Any other code a peer sent.
    Other(u16),
}

impl ErrorCode {
    /// The code for a wire value.
    pub const fn from_u16(value: u16) -> ErrorCode {
        match value {
            0 => ErrorCode::NotDefined,
            1 => ErrorCode::FileNotFound,
            2 => ErrorCode::AccessViolation,
            3 => ErrorCode::DiskFull,
            4 => ErrorCode::IllegalOperation,
            5 => ErrorCode::UnknownTid,
            6 => ErrorCode::FileExists,
            7 => ErrorCode::NoSuchUser,
            8 => ErrorCode::OptionRefused,
            other => ErrorCode::Other(other),
        }
    }

    /// The wire value.
    pub const fn to_u16(self) -> u16 {
        match self {
            ErrorCode::NotDefined => 0,
            ErrorCode::FileNotFound => 1,
            ErrorCode::AccessViolation => 2,
            ErrorCode::DiskFull => 3,
            ErrorCode::IllegalOperation => 4,
            ErrorCode::UnknownTid => 5,
            ErrorCode::FileExists => 6,
            ErrorCode::NoSuchUser => 7,
            ErrorCode::OptionRefused => 8,
            ErrorCode::Other(v) => v,
        }
    }

    /// The RFC's description of the code.
    pub const fn description(self) -> &'static str {
        match self {
            ErrorCode::NotDefined | ErrorCode::Other(_) => "not defined",
            ErrorCode::FileNotFound => "file not found",
            ErrorCode::AccessViolation => "access violation",
            ErrorCode::DiskFull => "disk full or allocation exceeded",
            ErrorCode::IllegalOperation => "illegal TFTP operation",
            ErrorCode::UnknownTid => "unknown transfer ID",
            ErrorCode::FileExists => "file already exists",
            ErrorCode::NoSuchUser => "no such user",
            ErrorCode::OptionRefused => "option negotiation failed",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.to_u16())
    }
}

/// Why a datagram is not a valid TFTP packet.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The datagram ends before a fixed field does.
    #[error("packet truncated")]
    Truncated,
    /// The opcode is not 1 to 6.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u16),
    /// A string is not terminated by NUL inside the datagram.
    #[error("string not terminated by NUL")]
    MissingNul,
    /// A file name, mode or option is not UTF-8.
    #[error("string is not UTF-8")]
    InvalidText,
    /// The mode is `mail`, which this implementation does not support.
    #[error("mode \"mail\" is not supported")]
    MailMode,
    /// The mode is neither `octet`, `netascii` nor `mail`.
    #[error("unknown transfer mode")]
    UnknownMode,
    /// An option name has no value.
    #[error("option without a value")]
    OptionWithoutValue,
    /// An option name is empty.
    #[error("empty option name")]
    EmptyOptionName,
    /// Bytes follow the end of the packet.
    #[error("trailing bytes after the packet")]
    TrailingBytes,
}

/// A validated list of RFC 2347 options: NUL-terminated name/value pairs,
/// borrowed from a packet or from a caller buffer.
///
/// ```
/// use netboot_core::wire::tftp::Options;
///
/// let opts = Options::new_checked(b"BlkSize\x001468\x00tsize\x000\x00").unwrap();
/// assert_eq!(opts.get("blksize"), Some("1468"));
/// assert_eq!(opts.iter().count(), 2);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Options<'a> {
    bytes: &'a [u8],
}

impl<'a> Options<'a> {
    /// No options.
    pub const EMPTY: Options<'static> = Options { bytes: &[] };

    /// Validates `bytes` as a sequence of name/value pairs.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Options<'a>, ParseError> {
        let mut rest = bytes;
        while !rest.is_empty() {
            let (name, after) = take_str(rest)?;
            if name.is_empty() {
                return Err(ParseError::EmptyOptionName);
            }
            if after.is_empty() {
                return Err(ParseError::OptionWithoutValue);
            }
            let (_value, after) = take_str(after)?;
            rest = after;
        }
        Ok(Options { bytes })
    }

    /// The encoded pairs.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// True when there are no options.
    pub const fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The pairs, in order, as `(name, value)`.
    pub fn iter(&self) -> OptionsIter<'a> {
        OptionsIter { rest: self.bytes }
    }

    /// The value of the first option called `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }
}

impl fmt::Debug for Options<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Iterator over the pairs of [`Options`].
#[derive(Clone, Debug)]
pub struct OptionsIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for OptionsIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        // The bytes were validated by `new_checked`; a failure here can only
        // end the iteration early, never panic.
        let (name, rest) = take_str(self.rest).ok()?;
        let (value, rest) = take_str(rest).ok()?;
        self.rest = rest;
        Some((name, value))
    }
}

/// Longest option list [`OptionsBuf`] holds: every option this
/// implementation sends, with room to spare.
pub const OPTIONS_BUF_LEN: usize = 96;

/// A small fixed buffer to build an option list in (for requests and OACKs).
///
/// ```
/// use netboot_core::wire::tftp::OptionsBuf;
///
/// let mut b = OptionsBuf::new();
/// b.push_num("blksize", 1468).unwrap();
/// b.push_num("windowsize", 16).unwrap();
/// assert_eq!(b.options().as_bytes(), b"blksize\x001468\x00windowsize\x0016\x00");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionsBuf {
    bytes: heapless::Vec<u8, OPTIONS_BUF_LEN>,
}

impl OptionsBuf {
    /// An empty list.
    pub const fn new() -> Self {
        OptionsBuf {
            bytes: heapless::Vec::new(),
        }
    }

    /// Appends `name` with a decimal `value`; fails (leaving the list as it
    /// was) when it does not fit or `name` is empty or contains NUL.
    pub fn push_num(&mut self, name: &str, value: u64) -> Result<(), BufferTooSmall> {
        let mut digits = [0u8; 20];
        let len = format_u64(value, &mut digits);
        self.push_raw(name.as_bytes(), &digits[digits.len() - len..])
    }

    fn push_raw(&mut self, name: &[u8], value: &[u8]) -> Result<(), BufferTooSmall> {
        let required = self.bytes.len() + name.len() + value.len() + 2;
        if name.is_empty() || name.contains(&0) || required > OPTIONS_BUF_LEN {
            return Err(BufferTooSmall { required });
        }
        for part in [name, value] {
            // Cannot fail: the length was checked above.
            let _ = self.bytes.extend_from_slice(part);
            let _ = self.bytes.push(0);
        }
        Ok(())
    }

    /// The list built so far.
    pub fn options(&self) -> Options<'_> {
        Options { bytes: &self.bytes }
    }
}

/// Writes the decimal digits of `value` right-aligned into `out` and returns
/// how many there are.
fn format_u64(mut value: u64, out: &mut [u8; 20]) -> usize {
    let mut i = out.len();
    loop {
        i -= 1;
        out[i] = b'0' + (value % 10) as u8;
        value /= 10;
        if value == 0 {
            return out.len() - i;
        }
    }
}

/// Parses a decimal option value: ASCII digits only, at most 20 of them, no
/// sign, no spaces; `None` when it is not a number or overflows `u64`.
///
/// ```
/// use netboot_core::wire::tftp::parse_decimal;
/// assert_eq!(parse_decimal("1468"), Some(1468));
/// assert_eq!(parse_decimal("+5"), None);
/// assert_eq!(parse_decimal(""), None);
/// assert_eq!(parse_decimal("99999999999999999999999"), None);
/// ```
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    s.bytes().try_fold(0u64, |acc, b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// A parsed TFTP packet borrowing the datagram it came from.
///
/// ```
/// use netboot_core::wire::tftp::{Mode, Options, Packet};
///
/// let bytes = b"\x00\x01boot/pxelinux.0\x00octet\x00blksize\x001468\x00";
/// let packet = Packet::parse(bytes).unwrap();
/// let Packet::Rrq { filename, mode, options } = packet else { panic!() };
/// assert_eq!((filename, mode), ("boot/pxelinux.0", Mode::Octet));
/// assert_eq!(options.get("BLKSIZE"), Some("1468"));
///
/// let mut buf = [0u8; 64];
/// let len = packet.emit(&mut buf).unwrap();
/// assert_eq!(&buf[..len], &bytes[..]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Read request.
    Rrq {
        /// The file asked for, as sent.
        filename: &'a str,
        /// Transfer mode.
        mode: Mode,
        /// RFC 2347 options.
        options: Options<'a>,
    },
    /// Write request.
    Wrq {
        /// The file to write, as sent.
        filename: &'a str,
        /// Transfer mode.
        mode: Mode,
        /// RFC 2347 options.
        options: Options<'a>,
    },
    /// A block of data.
    Data {
        /// Block number (wraps from 65,535 to 0).
        block: u16,
        /// The payload; shorter than `blksize` for the last block.
        data: &'a [u8],
    },
    /// Acknowledgement.
    Ack {
        /// The block acknowledged (0 acknowledges a WRQ or an OACK).
        block: u16,
    },
    /// Error; ends the transfer.
    Error {
        /// What went wrong.
        code: ErrorCode,
        /// A human-readable explanation.
        message: &'a str,
    },
    /// Option acknowledgement.
    Oack {
        /// The options the server accepted, with their final values.
        options: Options<'a>,
    },
}

impl<'a> Packet<'a> {
    /// Parses a whole datagram.
    pub fn parse(bytes: &'a [u8]) -> Result<Packet<'a>, ParseError> {
        let (opcode, body) = read_u16(bytes)?;
        match Opcode::from_u16(opcode) {
            Some(op @ (Opcode::Rrq | Opcode::Wrq)) => {
                let (filename, rest) = take_str(body)?;
                let (mode, rest) = take_str(rest)?;
                let mode = parse_mode(mode)?;
                let options = Options::new_checked(rest)?;
                Ok(if op == Opcode::Rrq {
                    Packet::Rrq {
                        filename,
                        mode,
                        options,
                    }
                } else {
                    Packet::Wrq {
                        filename,
                        mode,
                        options,
                    }
                })
            }
            Some(Opcode::Data) => {
                let (block, data) = read_u16(body)?;
                Ok(Packet::Data { block, data })
            }
            Some(Opcode::Ack) => {
                let (block, rest) = read_u16(body)?;
                if !rest.is_empty() {
                    return Err(ParseError::TrailingBytes);
                }
                Ok(Packet::Ack { block })
            }
            Some(Opcode::Error) => {
                let (code, rest) = read_u16(body)?;
                let nul = rest
                    .iter()
                    .position(|&b| b == 0)
                    .ok_or(ParseError::MissingNul)?;
                if nul + 1 != rest.len() {
                    return Err(ParseError::TrailingBytes);
                }
                let message = match core::str::from_utf8(&rest[..nul]) {
                    Ok(s) => s,
                    // Keep the valid prefix; `valid_up_to` is a char boundary.
                    Err(e) => core::str::from_utf8(&rest[..e.valid_up_to()]).unwrap_or(""),
                };
                Ok(Packet::Error {
                    code: ErrorCode::from_u16(code),
                    message,
                })
            }
            Some(Opcode::Oack) => Ok(Packet::Oack {
                options: Options::new_checked(body)?,
            }),
            None => Err(ParseError::UnknownOpcode(opcode)),
        }
    }

    /// The opcode of this packet.
    pub const fn opcode(&self) -> Opcode {
        match self {
            Packet::Rrq { .. } => Opcode::Rrq,
            Packet::Wrq { .. } => Opcode::Wrq,
            Packet::Data { .. } => Opcode::Data,
            Packet::Ack { .. } => Opcode::Ack,
            Packet::Error { .. } => Opcode::Error,
            Packet::Oack { .. } => Opcode::Oack,
        }
    }

    /// The length of the encoded packet.
    pub fn buffer_len(&self) -> usize {
        2 + match self {
            Packet::Rrq {
                filename,
                mode,
                options,
            }
            | Packet::Wrq {
                filename,
                mode,
                options,
            } => filename.len() + 1 + mode.as_str().len() + 1 + options.as_bytes().len(),
            Packet::Data { data, .. } => 2 + data.len(),
            Packet::Ack { .. } => 2,
            Packet::Error { message, .. } => 2 + message.len() + 1,
            Packet::Oack { options } => options.as_bytes().len(),
        }
    }

    /// Writes the packet into `buf` and returns its length.
    ///
    /// A string containing NUL cannot be encoded faithfully: it is cut at
    /// the NUL (a file name or message never legitimately contains one).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        let required = self.buffer_len();
        if buf.len() < required {
            return Err(BufferTooSmall { required });
        }
        let mut w = Writer { buf, pos: 0 };
        w.put(&(self.opcode() as u16).to_be_bytes());
        match self {
            Packet::Rrq {
                filename,
                mode,
                options,
            }
            | Packet::Wrq {
                filename,
                mode,
                options,
            } => {
                w.put_str(filename);
                w.put_str(mode.as_str());
                w.put(options.as_bytes());
            }
            Packet::Data { block, data } => {
                w.put(&block.to_be_bytes());
                w.put(data);
            }
            Packet::Ack { block } => w.put(&block.to_be_bytes()),
            Packet::Error { code, message } => {
                w.put(&code.to_u16().to_be_bytes());
                w.put_str(message);
            }
            Packet::Oack { options } => w.put(options.as_bytes()),
        }
        Ok(w.pos)
    }
}

/// Writes the four-byte DATA header in front of a payload already placed at
/// `buf[DATA_HEADER_LEN..]` (the zero-copy send path).
///
/// ```
/// let mut buf = [0u8; 8];
/// buf[4..].copy_from_slice(b"abcd");
/// netboot_core::wire::tftp::emit_data_header(&mut buf, 7).unwrap();
/// assert_eq!(&buf, b"\x00\x03\x00\x07abcd");
/// ```
pub fn emit_data_header(buf: &mut [u8], block: u16) -> Result<(), BufferTooSmall> {
    let header = buf.get_mut(..DATA_HEADER_LEN).ok_or(BufferTooSmall {
        required: DATA_HEADER_LEN,
    })?;
    header[..2].copy_from_slice(&(Opcode::Data as u16).to_be_bytes());
    header[2..].copy_from_slice(&block.to_be_bytes());
    Ok(())
}

struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, bytes: &[u8]) {
        self.buf[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    fn put_str(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        self.put(&bytes[..end]);
        // Keep the promised length: pad a cut string with NULs.
        for _ in end..bytes.len() {
            self.put(&[0]);
        }
        self.put(&[0]);
    }
}

fn read_u16(bytes: &[u8]) -> Result<(u16, &[u8]), ParseError> {
    match bytes {
        [a, b, rest @ ..] => Ok((u16::from_be_bytes([*a, *b]), rest)),
        _ => Err(ParseError::Truncated),
    }
}

fn take_str(bytes: &[u8]) -> Result<(&str, &[u8]), ParseError> {
    let nul = bytes
        .iter()
        .position(|&b| b == 0)
        .ok_or(ParseError::MissingNul)?;
    let s = core::str::from_utf8(&bytes[..nul]).map_err(|_| ParseError::InvalidText)?;
    Ok((s, &bytes[nul + 1..]))
}

fn parse_mode(mode: &str) -> Result<Mode, ParseError> {
    if mode.eq_ignore_ascii_case("octet") {
        Ok(Mode::Octet)
    } else if mode.eq_ignore_ascii_case("netascii") {
        Ok(Mode::Netascii)
    } else if mode.eq_ignore_ascii_case("mail") {
        Err(ParseError::MailMode)
    } else {
        Err(ParseError::UnknownMode)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn roundtrip(p: Packet<'_>) {
        let mut buf = [0u8; 70_000];
        let len = p.emit(&mut buf).unwrap();
        assert_eq!(len, p.buffer_len());
        assert_eq!(Packet::parse(&buf[..len]).unwrap(), p);
    }

    #[test]
    fn each_packet_type_round_trips() {
        let opts = Options::new_checked(b"blksize\x001468\x00tsize\x000\x00").unwrap();
        roundtrip(Packet::Rrq {
            filename: "a/b.bin",
            mode: Mode::Octet,
            options: opts,
        });
        roundtrip(Packet::Wrq {
            filename: "x",
            mode: Mode::Netascii,
            options: Options::EMPTY,
        });
        roundtrip(Packet::Data {
            block: 65535,
            data: &[1, 2, 3],
        });
        roundtrip(Packet::Data {
            block: 0,
            data: &[],
        });
        roundtrip(Packet::Ack { block: 7 });
        roundtrip(Packet::Error {
            code: ErrorCode::FileNotFound,
            message: "nope",
        });
        roundtrip(Packet::Error {
            code: ErrorCode::Other(99),
            message: "",
        });
        roundtrip(Packet::Oack { options: opts });
    }

    #[test]
    fn exact_bytes() {
        let mut buf = [0u8; 32];
        let n = Packet::Ack { block: 0x1234 }.emit(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\x00\x04\x12\x34");
        let n = Packet::Error {
            code: ErrorCode::UnknownTid,
            message: "who?",
        }
        .emit(&mut buf)
        .unwrap();
        assert_eq!(&buf[..n], b"\x00\x05\x00\x05who?\x00");
        let n = Packet::Data {
            block: 1,
            data: b"hi",
        }
        .emit(&mut buf)
        .unwrap();
        assert_eq!(&buf[..n], b"\x00\x03\x00\x01hi");
    }

    #[test]
    fn emit_into_small_buffer_leaves_it_untouched() {
        let mut buf = [0xAAu8; 5];
        let p = Packet::Error {
            code: ErrorCode::DiskFull,
            message: "full",
        };
        assert_eq!(p.emit(&mut buf), Err(BufferTooSmall { required: 9 }));
        assert_eq!(buf, [0xAA; 5]);
        assert_eq!(
            emit_data_header(&mut [0u8; 3], 1),
            Err(BufferTooSmall { required: 4 })
        );
    }

    #[test]
    fn bad_input_is_refused_precisely() {
        use ParseError::*;
        let cases: &[(&[u8], ParseError)] = &[
            (b"", Truncated),
            (b"\x00", Truncated),
            (b"\x00\x03\x00", Truncated),
            (b"\x00\x04\x00", Truncated),
            (b"\x00\x04\x00\x01\x00", TrailingBytes),
            (b"\x00\x07\x00\x01", UnknownOpcode(7)),
            (b"\x00\x00", UnknownOpcode(0)),
            (b"\x00\x01file", MissingNul),
            (b"\x00\x01file\x00octet", MissingNul),
            (b"\x00\x01file\x00mail\x00", MailMode),
            (b"\x00\x01file\x00MAIL\x00", MailMode),
            (b"\x00\x02file\x00binary\x00", UnknownMode),
            (b"\x00\x01file\x00octet\x00blksize\x00", OptionWithoutValue),
            (b"\x00\x01file\x00octet\x00blksize\x00512", MissingNul),
            (b"\x00\x01file\x00octet\x00\x00512\x00", EmptyOptionName),
            (b"\x00\x01f\xffe\x00octet\x00", InvalidText),
            (b"\x00\x05\x00\x01oops", MissingNul),
            (b"\x00\x05\x00\x01oops\x00x", TrailingBytes),
            (b"\x00\x06tsize", MissingNul),
        ];
        for (bytes, expected) in cases {
            assert_eq!(Packet::parse(bytes), Err(*expected), "{bytes:?}");
        }
    }

    #[test]
    fn modes_and_names_are_case_insensitive() {
        let p = Packet::parse(b"\x00\x01f\x00NetASCII\x00WindowSize\x004\x00").unwrap();
        let Packet::Rrq { mode, options, .. } = p else {
            panic!("{p:?}")
        };
        assert_eq!(mode, Mode::Netascii);
        assert_eq!(options.get("windowsize"), Some("4"));
        assert_eq!(options.get("blksize"), None);
    }

    #[test]
    fn invalid_utf8_error_message_keeps_its_prefix() {
        let p = Packet::parse(b"\x00\x05\x00\x02ab\xffcd\x00").unwrap();
        assert_eq!(
            p,
            Packet::Error {
                code: ErrorCode::AccessViolation,
                message: "ab"
            }
        );
    }

    #[test]
    fn options_buf_refuses_overflow_without_change() {
        let mut b = OptionsBuf::new();
        b.push_num("tsize", u64::MAX).unwrap();
        let before = b.clone();
        let long = "x".repeat(80);
        assert!(b.push_num(&long, 1).is_err());
        assert!(b.push_num("", 1).is_err());
        assert_eq!(b, before);
        assert_eq!(b.options().get("tsize"), Some("18446744073709551615"));
    }

    #[test]
    fn decimal_values() {
        assert_eq!(parse_decimal("0"), Some(0));
        assert_eq!(parse_decimal("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_decimal("18446744073709551616"), None);
        assert_eq!(parse_decimal("12a"), None);
        assert_eq!(parse_decimal(" 1"), None);
        assert_eq!(parse_decimal("-1"), None);
    }

    fn text() -> impl Strategy<Value = String> {
        "[a-zA-Z0-9./_ -]{0,40}"
    }

    fn options_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(("[a-z]{1,10}", "[0-9]{1,6}"), 0..5).prop_map(|pairs| {
            let mut out = Vec::new();
            for (n, v) in pairs {
                out.extend_from_slice(n.as_bytes());
                out.push(0);
                out.extend_from_slice(v.as_bytes());
                out.push(0);
            }
            out
        })
    }

    proptest! {
        #[test]
        fn requests_round_trip(name in text(), netascii in any::<bool>(), write in any::<bool>(), opts in options_bytes()) {
            let options = Options::new_checked(&opts).unwrap();
            let mode = if netascii { Mode::Netascii } else { Mode::Octet };
            let p = if write {
                Packet::Wrq { filename: &name, mode, options }
            } else {
                Packet::Rrq { filename: &name, mode, options }
            };
            roundtrip(p);
        }

        #[test]
        fn data_round_trips(block in any::<u16>(), data in proptest::collection::vec(any::<u8>(), 0..1500)) {
            roundtrip(Packet::Data { block, data: &data });
        }

        #[test]
        fn ack_error_oack_round_trip(block in any::<u16>(), code in any::<u16>(), msg in text(), opts in options_bytes()) {
            roundtrip(Packet::Ack { block });
            roundtrip(Packet::Error { code: ErrorCode::from_u16(code), message: &msg });
            roundtrip(Packet::Oack { options: Options::new_checked(&opts).unwrap() });
        }

        #[test]
        fn parse_never_panics_and_reemits_identically(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = Packet::parse(&bytes) {
                let mut buf = [0u8; 256];
                let len = p.emit(&mut buf).unwrap();
                prop_assert_eq!(Packet::parse(&buf[..len]).unwrap(), p);
            }
        }
    }
}
