//! FTP replies (RFC 959 §4.2).
//!
//! A reply is a three-digit code and text. On one line it reads
//! `123 text`; over several it opens with `123-text`, may carry any lines at
//! all (even ones that start with other digits), and closes with the first
//! line that starts with the same code followed by a space. [`ReplyLine`]
//! parses and emits one line; [`ReplyParser`] follows a stream of lines and
//! says where each reply ends.
//!
//! Departure: a line consisting of just the code (`226`), which some servers
//! send, is accepted as a complete one-line reply with empty text.

use core::fmt;

use super::emit_fmt;
use crate::wire::BufferTooSmall;

/// One reply line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    /// The three-digit code.
    pub code: u16,
    /// True for `123-`: a multi-line reply begins.
    pub more: bool,
    /// The text after the separator.
    pub text: &'a str,
}

/// A reply to send: a code and one line of text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The three-digit code.
    pub code: u16,
    /// The text (must not contain CR or LF).
    pub text: &'a str,
}

/// Why a line is not a reply line.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// The line does not start with a three-digit code and a separator.
    #[error("not an FTP reply line")]
    Malformed,
    /// The line is not valid UTF-8.
    #[error("reply line is not UTF-8")]
    NotUtf8,
}

impl<'a> ReplyLine<'a> {
    /// Parses one line (without CRLF).
    ///
    /// ```
    /// use netboot_core::wire::ftp::ReplyLine;
    /// let r = ReplyLine::parse(b"230-Welcome").unwrap();
    /// assert_eq!((r.code, r.more, r.text), (230, true, "Welcome"));
    /// assert!(ReplyLine::parse(b" indented").is_err());
    /// ```
    pub fn parse(line: &'a [u8]) -> Result<ReplyLine<'a>, ReplyError> {
        let (code, rest) = match line {
            [a @ b'1'..=b'6', b @ b'0'..=b'9', c @ b'0'..=b'9', rest @ ..] => (
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
                rest,
            ),
            _ => return Err(ReplyError::Malformed),
        };
        let (more, text) = match rest {
            [] => (false, &[][..]),
            [b' ', text @ ..] => (false, text),
            [b'-', text @ ..] => (true, text),
            _ => return Err(ReplyError::Malformed),
        };
        let text = core::str::from_utf8(text).map_err(|_| ReplyError::NotUtf8)?;
        Ok(ReplyLine { code, more, text })
    }
}

impl<'a> Reply<'a> {
    /// A reply with `code` and `text`.
    pub const fn new(code: u16, text: &'a str) -> Self {
        Reply { code, text }
    }

    /// Writes `code text\r\n` into `buf`.
    ///
    /// ```
    /// use netboot_core::wire::ftp::Reply;
    /// let mut buf = [0u8; 32];
    /// let n = Reply::new(226, "Transfer complete").emit(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], b"226 Transfer complete\r\n");
    /// ```
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        emit_fmt(buf, format_args!("{self}\r\n"))
    }
}

impl fmt::Display for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03} {}", self.code, self.text)
    }
}

/// Where the stream of reply lines stands after one more line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyProgress<'a> {
    /// The first line of a multi-line reply.
    Opened(ReplyLine<'a>),
    /// A line inside a multi-line reply.
    Inner(&'a [u8]),
    /// The last (or only) line: the reply is complete.
    Complete(ReplyLine<'a>),
}

/// Follows reply lines and finds where each reply ends.
///
/// ```
/// use netboot_core::wire::ftp::{ReplyParser, ReplyProgress};
///
/// let mut p = ReplyParser::new();
/// assert!(matches!(p.feed(b"211-Features:").unwrap(), ReplyProgress::Opened(_)));
/// assert_eq!(p.feed(b" EPSV").unwrap(), ReplyProgress::Inner(b" EPSV"));
/// // Another code inside the reply does not end it.
/// assert_eq!(p.feed(b"230 not the end").unwrap(), ReplyProgress::Inner(b"230 not the end"));
/// match p.feed(b"211 End").unwrap() {
///     ReplyProgress::Complete(r) => assert_eq!((r.code, r.text), (211, "End")),
///     other => panic!("{other:?}"),
/// }
/// assert!(!p.is_open());
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplyParser {
    open: Option<u16>,
}

impl ReplyParser {
    /// A parser between replies.
    pub const fn new() -> Self {
        ReplyParser { open: None }
    }

    /// True inside a multi-line reply.
    pub const fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Takes the next line (without CRLF).
    pub fn feed<'a>(&mut self, line: &'a [u8]) -> Result<ReplyProgress<'a>, ReplyError> {
        match self.open {
            None => {
                let r = ReplyLine::parse(line)?;
                if r.more {
                    self.open = Some(r.code);
                    Ok(ReplyProgress::Opened(r))
                } else {
                    Ok(ReplyProgress::Complete(r))
                }
            }
            Some(code) => match ReplyLine::parse(line) {
                Ok(r) if r.code == code && !r.more => {
                    self.open = None;
                    Ok(ReplyProgress::Complete(r))
                }
                _ => Ok(ReplyProgress::Inner(line)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bare_code_is_a_reply() {
        let r = ReplyLine::parse(b"226").unwrap();
        assert_eq!((r.code, r.more, r.text), (226, false, ""));
        assert_eq!(ReplyLine::parse(b"22"), Err(ReplyError::Malformed));
        assert_eq!(ReplyLine::parse(b"226x"), Err(ReplyError::Malformed));
        assert_eq!(ReplyLine::parse(b"726 x"), Err(ReplyError::Malformed));
        assert_eq!(ReplyLine::parse(b"226 \xff"), Err(ReplyError::NotUtf8));
    }

    #[test]
    fn garbage_outside_a_reply_is_an_error() {
        let mut p = ReplyParser::new();
        assert_eq!(p.feed(b"hello"), Err(ReplyError::Malformed));
        assert!(!p.is_open());
    }

    proptest! {
        #[test]
        fn emit_then_parse_is_identity(code in 100u16..600, text in "[ -~]{0,60}") {
            let mut buf = [0u8; 80];
            let n = Reply::new(code, &text).emit(&mut buf).unwrap();
            let r = ReplyLine::parse(&buf[..n - 2]).unwrap();
            prop_assert_eq!((r.code, r.more, r.text), (code, false, text.as_str()));
        }

        #[test]
        fn multiline_replies_end_at_their_code(code in 100u16..600, inner in proptest::collection::vec("[ -~]{0,30}", 0..8)) {
            let mut p = ReplyParser::new();
            let first = format!("{code}-start");
            prop_assert!(matches!(p.feed(first.as_bytes()).unwrap(), ReplyProgress::Opened(_)));
            for line in &inner {
                let is_end = line.len() >= 4 && line.starts_with(&format!("{code} ")) || line == &format!("{code}");
                let got = p.feed(line.as_bytes()).unwrap();
                if is_end {
                    prop_assert!(matches!(got, ReplyProgress::Complete(_)));
                    return Ok(());
                }
                prop_assert_eq!(got, ReplyProgress::Inner(line.as_bytes()));
            }
            let last = format!("{code} end");
            prop_assert!(matches!(p.feed(last.as_bytes()).unwrap(), ReplyProgress::Complete(_)));
        }
    }
}
