//! Bounded assembly of control-channel lines (RFC 959 §4, RFC 854 NVT).
//!
//! Bytes arrive in arbitrary pieces; [`LineBuffer::push`] takes as many as it
//! needs to finish one line and says how many it took. A line ends at LF; a
//! CR before it is dropped (a bare LF is tolerated, as every modern server
//! does). The Telnet commands that clients put on the control channel are
//! removed: `IAC IAC` is a data byte 255, `IAC WILL/WONT/DO/DONT x` is dropped
//! with its option byte (we never negotiate options, which RFC 1123 §4.1.2.12
//! allows), and any other `IAC x` (notably `IAC IP` and `IAC DM`, sent before
//! `ABOR`) is dropped.
//!
//! The buffer never grows: a line longer than its capacity is reported as
//! [`Line::Overlong`] when its end arrives, keeping the first `N` bytes, and
//! everything past the capacity is discarded as it comes.

/// What [`LineBuffer::push`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// A whole line is in the buffer ([`LineBuffer::line`]).
    Complete,
    /// A line longer than the buffer ended; its first bytes are in the buffer.
    Overlong,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Telnet {
    Data,
    Iac,
    Option,
}

/// A line assembler holding at most `N` bytes.
///
/// ```
/// use netboot_core::wire::ftp::{Line, LineBuffer};
///
/// let mut lines = LineBuffer::<16>::new();
/// let input = b"NOOP\r\nQU";
/// let (used, found) = lines.push(input);
/// assert_eq!((used, found), (6, Some(Line::Complete)));
/// assert_eq!(lines.line(), b"NOOP");
/// lines.clear();
/// assert_eq!(lines.push(&input[used..]), (2, None));
/// assert_eq!(lines.push(b"IT\r\n"), (4, Some(Line::Complete)));
/// assert_eq!(lines.line(), b"QUIT");
/// ```
#[derive(Clone, Debug)]
pub struct LineBuffer<const N: usize> {
    buf: heapless::Vec<u8, N>,
    telnet: Telnet,
    overflowed: bool,
    done: bool,
}

impl<const N: usize> Default for LineBuffer<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LineBuffer<N> {
    /// An empty assembler.
    pub const fn new() -> Self {
        LineBuffer {
            buf: heapless::Vec::new(),
            telnet: Telnet::Data,
            overflowed: false,
            done: false,
        }
    }

    /// Takes bytes from `input` until a line ends; returns how many it took
    /// and whether a line is now ready. Once a line is ready, further calls
    /// take nothing until [`LineBuffer::clear`].
    pub fn push(&mut self, input: &[u8]) -> (usize, Option<Line>) {
        if self.done {
            return (0, Some(self.status()));
        }
        for (i, &b) in input.iter().enumerate() {
            match self.telnet {
                Telnet::Iac => {
                    self.telnet = match b {
                        255 => {
                            self.store(255);
                            Telnet::Data
                        }
                        251..=254 => Telnet::Option,
                        _ => Telnet::Data,
                    };
                }
                Telnet::Option => self.telnet = Telnet::Data,
                Telnet::Data => match b {
                    255 => self.telnet = Telnet::Iac,
                    b'\n' => {
                        if !self.overflowed && self.buf.last() == Some(&b'\r') {
                            self.buf.pop();
                        }
                        self.done = true;
                        return (i + 1, Some(self.status()));
                    }
                    _ => self.store(b),
                },
            }
        }
        (input.len(), None)
    }

    fn store(&mut self, b: u8) {
        if self.buf.push(b).is_err() {
            self.overflowed = true;
        }
    }

    fn status(&self) -> Line {
        if self.overflowed {
            Line::Overlong
        } else {
            Line::Complete
        }
    }

    /// The finished line without its line end (or, after
    /// [`Line::Overlong`], its first `N` bytes).
    pub fn line(&self) -> &[u8] {
        &self.buf
    }

    /// True when a line is ready and not yet cleared.
    pub fn is_ready(&self) -> bool {
        self.done
    }

    /// True when part of a line has been received.
    pub fn is_partial(&self) -> bool {
        !self.done && (!self.buf.is_empty() || self.overflowed)
    }

    /// Forgets the finished line, ready for the next one.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.overflowed = false;
        self.done = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_telnet_and_cr() {
        let mut l = LineBuffer::<32>::new();
        let input = b"\xff\xf4\xff\xf2ABOR\xff\xff\xff\xfb\x01\r\n";
        assert_eq!(l.push(input), (input.len(), Some(Line::Complete)));
        assert_eq!(l.line(), b"ABOR\xff");
    }

    #[test]
    fn overlong_is_bounded_and_reported_at_its_end() {
        let mut l = LineBuffer::<8>::new();
        for _ in 0..1000 {
            assert_eq!(l.push(b"xxxxxxxxxx"), (10, None));
        }
        assert_eq!(l.push(b"\r\nNOOP\r\n"), (2, Some(Line::Overlong)));
        assert_eq!(l.line(), b"xxxxxxxx");
        assert_eq!(l.push(b"NOOP\r\n"), (0, Some(Line::Overlong)));
        l.clear();
        assert_eq!(l.push(b"NOOP\r\n"), (6, Some(Line::Complete)));
        assert_eq!(l.line(), b"NOOP");
    }

    #[test]
    fn bare_lf_and_partial_state() {
        let mut l = LineBuffer::<8>::new();
        assert_eq!(l.push(b"AB"), (2, None));
        assert!(l.is_partial());
        assert_eq!(l.push(b"\n"), (1, Some(Line::Complete)));
        assert!(l.is_ready());
        assert_eq!(l.line(), b"AB");
    }
}
