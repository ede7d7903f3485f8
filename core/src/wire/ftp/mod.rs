//! FTP control-channel lines: commands, replies and the addresses they carry.
//!
//! The control connection (RFC 959 §4) is a Telnet NVT byte stream of
//! CRLF-terminated lines. This module parses and emits the pieces of that
//! stream without copying or allocating:
//!
//! * [`line`](mod@line): the bounded line assembler both session machines use, with the
//!   Telnet escapes (`IAC IP`, `IAC DM`, option negotiation) removed;
//! * [`command`]: [`Command`], every verb of RFC 959, RFC 2389 (`FEAT`,
//!   `OPTS`), RFC 2428 (`EPRT`, `EPSV`) and RFC 3659 (`SIZE`, `MDTM`, `REST`,
//!   `MLST`, `MLSD`), parsed from a line and emitted into a buffer;
//! * [`reply`]: reply lines (`123 text`, `123-text`) and the RFC 959 §4.2
//!   multi-line form, with [`ReplyParser`] to find where a reply ends;
//! * [`address`]: the host-port forms of `PORT`/`227` and the extended
//!   forms of `EPRT`/`229`.
//!
//! Deliberate departures: a bare LF is accepted as a line end (many clients
//! send one), and verbs are case-insensitive as RFC 959 §5.3 says but
//! arguments are passed on exactly as sent (path names are case-sensitive).

pub mod address;
pub mod command;
pub mod line;
pub mod reply;

pub use address::{format_host_port, parse_extended, parse_host_port, parse_pasv_reply};
pub use command::{Command, CommandError, EpsvArg, TypeCode};
pub use line::{Line, LineBuffer};
pub use reply::{Reply, ReplyError, ReplyLine, ReplyParser, ReplyProgress};

use core::fmt::{self, Write};

use super::BufferTooSmall;

/// Counts the bytes a formatted value would take.
struct Counter(usize);

impl Write for Counter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

/// Writes into a slice that is known to be large enough.
struct SliceWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for SliceWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Formats `args` into `buf`, or reports how much room it needs and leaves
/// `buf` untouched.
pub(crate) fn emit_fmt(buf: &mut [u8], args: fmt::Arguments<'_>) -> Result<usize, BufferTooSmall> {
    let mut counter = Counter(0);
    // Formatting into a counter cannot fail.
    let _ = counter.write_fmt(args);
    if counter.0 > buf.len() {
        return Err(BufferTooSmall {
            required: counter.0,
        });
    }
    let mut w = SliceWriter { buf, len: 0 };
    w.write_fmt(args).map_err(|_| BufferTooSmall {
        required: counter.0,
    })?;
    Ok(w.len)
}
