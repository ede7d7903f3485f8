//! Option negotiation: RFC 2347 (framework), RFC 2348 (`blksize`), RFC 2349
//! (`timeout`, `tsize`) and RFC 7440 (`windowsize`).
//!
//! A request's options are read into a [`Request`]: names are matched without
//! regard to case, unknown options are ignored, the first occurrence of a
//! known option wins, and a known option with a value outside its RFC range
//! (`blksize` 8..=65464, `timeout` 1..=255, `windowsize` 1..=65535, `tsize`
//! any decimal `u64`) is refused: the server answers ERROR 8.
//!
//! The server ([`negotiate`]) acknowledges in the OACK only the options it
//! accepts, lowering `blksize` and `windowsize` to its configured caps,
//! echoing `timeout` exactly when configured to accept it (by default it
//! declines it and keeps its adaptive timer, see [`Limits::accept_timeout`]),
//! reporting the file size for `tsize` on an octet
//! RRQ, and refusing a WRQ whose announced `tsize` exceeds its upload limit
//! with ERROR 3. The client ([`accept_oack`]) accepts an OACK that lowers a
//! value and rejects (ERROR 8) one that raises a value, changes `timeout`, or
//! names an option it never asked for.
//!
//! Departures: `tsize` is not reported for netascii reads, whose size on the
//! wire is only known after encoding the whole file (RFC 2349 allows
//! omitting it), nor for an empty file, because curl 7.88 aborts on an OACK
//! with `tsize 0` ("invalid tsize"); a netascii sender uses a window of at most
//! [`NETASCII_MAX_WINDOW`] blocks, because resending from the first
//! unacknowledged block needs the encoder state at each block of the window.

use core::fmt;

use crate::wire::tftp::{
    DEFAULT_BLKSIZE, MAX_BLKSIZE, MIN_BLKSIZE, Mode, Options, OptionsBuf, parse_decimal,
};

/// The largest window a netascii sender uses (see the module docs).
pub const NETASCII_MAX_WINDOW: u16 = 64;

/// The values a transfer runs with once negotiation is over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// Bytes per DATA block.
    pub blksize: u16,
    /// Blocks sent before waiting for an ACK.
    pub windowsize: u16,
    /// A retransmission timeout both sides agreed on, in seconds.
    pub timeout: Option<u8>,
    /// The transfer size, when announced.
    pub tsize: Option<u64>,
}

impl Default for Negotiated {
    fn default() -> Self {
        Negotiated {
            blksize: DEFAULT_BLKSIZE,
            windowsize: 1,
            timeout: None,
            tsize: None,
        }
    }
}

/// The known options of a request, validated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Request {
    /// `blksize`, 8..=65464.
    pub blksize: Option<u16>,
    /// `windowsize`, 1..=65535.
    pub windowsize: Option<u16>,
    /// `timeout` in seconds, 1..=255.
    pub timeout: Option<u8>,
    /// `tsize`: 0 on an RRQ (asking), the file size on a WRQ (announcing).
    pub tsize: Option<u64>,
}

/// Why an option list was refused; the text goes into the ERROR message.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OptionError {
    /// A known option has a value outside its range or is not a number.
    #[error("invalid value for option {0}")]
    InvalidValue(&'static str),
    /// An OACK names an option the client did not request.
    #[error("OACK names an option that was not requested")]
    NotRequested,
    /// An OACK raises a value above the one requested.
    #[error("OACK raises option {0} above the requested value")]
    Raised(&'static str),
    /// An OACK changes the requested `timeout`.
    #[error("OACK changes the requested timeout")]
    TimeoutChanged,
}

fn ranged(name: &'static str, value: &str, min: u64, max: u64) -> Result<u64, OptionError> {
    match parse_decimal(value) {
        Some(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(OptionError::InvalidValue(name)),
    }
}

impl Request {
    /// Reads the known options out of a request's option list.
    ///
    /// ```
    /// use netboot_core::tftp::options::{OptionError, Request};
    /// use netboot_core::wire::tftp::Options;
    ///
    /// let o = Options::new_checked(b"BLKSIZE\x001468\x00colour\x00blue\x00").unwrap();
    /// assert_eq!(Request::parse(o).unwrap().blksize, Some(1468));
    /// let o = Options::new_checked(b"blksize\x007\x00").unwrap();
    /// assert_eq!(Request::parse(o), Err(OptionError::InvalidValue("blksize")));
    /// ```
    pub fn parse(options: Options<'_>) -> Result<Request, OptionError> {
        let mut r = Request::default();
        for (name, value) in options.iter() {
            if name.eq_ignore_ascii_case("blksize") && r.blksize.is_none() {
                let v = ranged("blksize", value, MIN_BLKSIZE.into(), MAX_BLKSIZE.into())?;
                r.blksize = Some(v as u16);
            } else if name.eq_ignore_ascii_case("windowsize") && r.windowsize.is_none() {
                r.windowsize = Some(ranged("windowsize", value, 1, 65535)? as u16);
            } else if name.eq_ignore_ascii_case("timeout") && r.timeout.is_none() {
                r.timeout = Some(ranged("timeout", value, 1, 255)? as u8);
            } else if name.eq_ignore_ascii_case("tsize") && r.tsize.is_none() {
                r.tsize = Some(ranged("tsize", value, 0, u64::MAX)?);
            }
        }
        Ok(r)
    }

    /// True when no known option was requested.
    pub fn is_empty(&self) -> bool {
        *self == Request::default()
    }

    /// Encodes the requested options for an RRQ or WRQ.
    pub fn encode(&self) -> OptionsBuf {
        let mut b = OptionsBuf::new();
        // Four short options always fit in an OptionsBuf.
        if let Some(v) = self.blksize {
            let _ = b.push_num("blksize", v.into());
        }
        if let Some(v) = self.windowsize {
            let _ = b.push_num("windowsize", v.into());
        }
        if let Some(v) = self.timeout {
            let _ = b.push_num("timeout", v.into());
        }
        if let Some(v) = self.tsize {
            let _ = b.push_num("tsize", v);
        }
        b
    }
}

/// What a server allows; the caps of negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest `blksize` granted (requests above it get this value).
    pub max_blksize: u16,
    /// Largest `windowsize` granted.
    pub max_windowsize: u16,
    /// Whether the `timeout` option is acknowledged (and then honoured
    /// exactly). Off by default: a declined `timeout` leaves the server on
    /// its adaptive retransmission timer, which recovers a lost block in
    /// milliseconds, where a client's fixed timeout (curl asks for one on
    /// every request) would cost seconds per loss. RFC 2349 lets the server
    /// leave the option out of its OACK; the client then keeps its own
    /// timeout for its own retransmissions.
    pub accept_timeout: bool,
    /// Largest upload accepted, in bytes: a WRQ announcing more with `tsize`
    /// is refused with ERROR 3, and an upload growing past it is stopped.
    pub max_upload: Option<u64>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_blksize: MAX_BLKSIZE,
            max_windowsize: 64,
            accept_timeout: false,
            max_upload: None,
        }
    }
}

/// Which way the data flows, from the server's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// RRQ: the server sends the file.
    Read,
    /// WRQ: the server receives the file.
    Write,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Read => "read",
            Direction::Write => "write",
        })
    }
}

/// The server refuses the upload size announced with `tsize` (ERROR 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("announced size {announced} exceeds the upload limit of {limit} bytes")]
pub struct TooLarge {
    /// The size the client announced.
    pub announced: u64,
    /// The server's limit.
    pub limit: u64,
}

/// The server's side of negotiation: the values to run with and the OACK to
/// send (empty when no option was accepted: then the transfer starts the
/// RFC 1350 way).
///
/// `file_len` is the size of the file to send on an RRQ.
///
/// ```
/// use netboot_core::tftp::options::{negotiate, Direction, Limits, Request};
/// use netboot_core::wire::tftp::Mode;
///
/// let req = Request { blksize: Some(65464), tsize: Some(0), ..Request::default() };
/// let limits = Limits { max_blksize: 1468, ..Limits::default() };
/// let (n, oack) = negotiate(&req, &limits, Direction::Read, Mode::Octet, Some(1000)).unwrap();
/// assert_eq!((n.blksize, n.tsize), (1468, Some(1000)));
/// assert_eq!(oack.options().as_bytes(), b"blksize\x001468\x00tsize\x001000\x00");
/// ```
pub fn negotiate(
    req: &Request,
    limits: &Limits,
    direction: Direction,
    mode: Mode,
    file_len: Option<u64>,
) -> Result<(Negotiated, OptionsBuf), TooLarge> {
    let mut n = Negotiated::default();
    let mut oack = OptionsBuf::new();
    if let Some(v) = req.blksize {
        n.blksize = v.min(limits.max_blksize.max(MIN_BLKSIZE));
        let _ = oack.push_num("blksize", n.blksize.into());
    }
    if let Some(v) = req.windowsize {
        let mut cap = limits.max_windowsize.max(1);
        if mode == Mode::Netascii && direction == Direction::Read {
            cap = cap.min(NETASCII_MAX_WINDOW);
        }
        n.windowsize = v.min(cap);
        let _ = oack.push_num("windowsize", n.windowsize.into());
    }
    if let Some(v) = req.timeout.filter(|_| limits.accept_timeout) {
        n.timeout = Some(v);
        let _ = oack.push_num("timeout", v.into());
    }
    if let Some(v) = req.tsize {
        match direction {
            Direction::Read => {
                if let (Mode::Octet, Some(len)) = (mode, file_len) {
                    n.tsize = Some(len);
                    // curl refuses `tsize 0` in an OACK as invalid; leaving
                    // the option out is always allowed (RFC 2347 §3).
                    if len > 0 {
                        let _ = oack.push_num("tsize", len);
                    }
                }
            }
            Direction::Write => {
                if let Some(limit) = limits.max_upload.filter(|&l| v > l) {
                    return Err(TooLarge {
                        announced: v,
                        limit,
                    });
                }
                n.tsize = Some(v);
                let _ = oack.push_num("tsize", v);
            }
        }
    }
    Ok((n, oack))
}

/// The client's check of an OACK against what it requested.
///
/// ```
/// use netboot_core::tftp::options::{accept_oack, OptionError, Request};
/// use netboot_core::wire::tftp::Options;
///
/// let req = Request { blksize: Some(1468), windowsize: Some(16), ..Request::default() };
/// let lower = Options::new_checked(b"blksize\x001024\x00").unwrap();
/// let n = accept_oack(&req, lower).unwrap();
/// assert_eq!((n.blksize, n.windowsize), (1024, 1));
/// let higher = Options::new_checked(b"windowsize\x0032\x00").unwrap();
/// assert_eq!(accept_oack(&req, higher), Err(OptionError::Raised("windowsize")));
/// ```
pub fn accept_oack(req: &Request, oack: Options<'_>) -> Result<Negotiated, OptionError> {
    let mut n = Negotiated::default();
    for (name, value) in oack.iter() {
        if name.eq_ignore_ascii_case("blksize") {
            let asked = req.blksize.ok_or(OptionError::NotRequested)?;
            let v = ranged("blksize", value, MIN_BLKSIZE.into(), MAX_BLKSIZE.into())?;
            if v > u64::from(asked) {
                return Err(OptionError::Raised("blksize"));
            }
            n.blksize = v as u16;
        } else if name.eq_ignore_ascii_case("windowsize") {
            let asked = req.windowsize.ok_or(OptionError::NotRequested)?;
            let v = ranged("windowsize", value, 1, 65535)?;
            if v > u64::from(asked) {
                return Err(OptionError::Raised("windowsize"));
            }
            n.windowsize = v as u16;
        } else if name.eq_ignore_ascii_case("timeout") {
            let asked = req.timeout.ok_or(OptionError::NotRequested)?;
            if ranged("timeout", value, 1, 255)? != u64::from(asked) {
                return Err(OptionError::TimeoutChanged);
            }
            n.timeout = Some(asked);
        } else if name.eq_ignore_ascii_case("tsize") {
            req.tsize.ok_or(OptionError::NotRequested)?;
            n.tsize = Some(ranged("tsize", value, 0, u64::MAX)?);
        } else {
            return Err(OptionError::NotRequested);
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(b: &[u8]) -> Options<'_> {
        Options::new_checked(b).unwrap()
    }

    #[test]
    fn invalid_values_are_refused() {
        for (bytes, name) in [
            (&b"blksize\x000\x00"[..], "blksize"),
            (b"blksize\x007\x00", "blksize"),
            (b"blksize\x0065465\x00", "blksize"),
            (b"blksize\x00abc\x00", "blksize"),
            (b"windowsize\x000\x00", "windowsize"),
            (b"windowsize\x0065536\x00", "windowsize"),
            (b"timeout\x000\x00", "timeout"),
            (b"timeout\x00256\x00", "timeout"),
            (b"tsize\x00-1\x00", "tsize"),
        ] {
            assert_eq!(
                Request::parse(opts(bytes)),
                Err(OptionError::InvalidValue(name))
            );
        }
    }

    #[test]
    fn edges_are_accepted() {
        let r = Request::parse(opts(
            b"blksize\x0065464\x00windowsize\x0065535\x00timeout\x00255\x00tsize\x000\x00",
        ))
        .unwrap();
        assert_eq!(
            r,
            Request {
                blksize: Some(65464),
                windowsize: Some(65535),
                timeout: Some(255),
                tsize: Some(0)
            }
        );
        let r =
            Request::parse(opts(b"blksize\x008\x00windowsize\x001\x00timeout\x001\x00")).unwrap();
        assert_eq!(
            (r.blksize, r.windowsize, r.timeout),
            (Some(8), Some(1), Some(1))
        );
    }

    #[test]
    fn unknown_options_ignored_and_first_wins() {
        let r = Request::parse(opts(
            b"multicast\x00\x00x\x00?\x00blksize\x00100\x00BLKSIZE\x001\x00",
        ))
        .unwrap();
        assert_eq!(r.blksize, Some(100));
        assert!(Request::parse(opts(b"foo\x00bar\x00")).unwrap().is_empty());
    }

    #[test]
    fn server_caps_and_oack_contents() {
        let req = Request {
            blksize: Some(9000),
            windowsize: Some(1000),
            timeout: Some(3),
            tsize: Some(0),
        };
        let limits = Limits {
            max_blksize: 1468,
            max_windowsize: 16,
            accept_timeout: false,
            max_upload: None,
        };
        let (n, oack) = negotiate(&req, &limits, Direction::Read, Mode::Octet, Some(42)).unwrap();
        assert_eq!(
            n,
            Negotiated {
                blksize: 1468,
                windowsize: 16,
                timeout: None,
                tsize: Some(42)
            }
        );
        assert_eq!(
            oack.options().as_bytes(),
            b"blksize\x001468\x00windowsize\x0016\x00tsize\x0042\x00"
        );
        // Netascii: no tsize, window capped.
        let accepting = Limits {
            accept_timeout: true,
            ..Limits::default()
        };
        let (n, oack) =
            negotiate(&req, &accepting, Direction::Read, Mode::Netascii, Some(42)).unwrap();
        assert_eq!((n.windowsize, n.tsize), (NETASCII_MAX_WINDOW, None));
        assert_eq!(oack.options().get("tsize"), None);
        assert_eq!(
            (n.timeout, oack.options().get("timeout")),
            (Some(3), Some("3"))
        );
        // By default `timeout` is declined: left out of the OACK.
        let (n, oack) = negotiate(
            &req,
            &Limits::default(),
            Direction::Read,
            Mode::Octet,
            Some(42),
        )
        .unwrap();
        assert_eq!((n.timeout, oack.options().get("timeout")), (None, None));
    }

    #[test]
    fn an_empty_file_is_not_announced_with_tsize_0() {
        let req = Request {
            tsize: Some(0),
            ..Request::default()
        };
        let (n, oack) = negotiate(
            &req,
            &Limits::default(),
            Direction::Read,
            Mode::Octet,
            Some(0),
        )
        .unwrap();
        assert_eq!(n.tsize, Some(0));
        assert!(oack.options().as_bytes().is_empty(), "no OACK at all");
        let both = Request {
            tsize: Some(0),
            blksize: Some(1024),
            ..Request::default()
        };
        let (_, oack) = negotiate(
            &both,
            &Limits::default(),
            Direction::Read,
            Mode::Octet,
            Some(0),
        )
        .unwrap();
        assert_eq!(oack.options().as_bytes(), b"blksize\x001024\x00");
    }

    #[test]
    fn upload_limit_from_tsize() {
        let req = Request {
            tsize: Some(1001),
            ..Request::default()
        };
        let limits = Limits {
            max_upload: Some(1000),
            ..Limits::default()
        };
        assert_eq!(
            negotiate(&req, &limits, Direction::Write, Mode::Octet, None),
            Err(TooLarge {
                announced: 1001,
                limit: 1000
            })
        );
        let ok = Request {
            tsize: Some(1000),
            ..Request::default()
        };
        let (n, oack) = negotiate(&ok, &limits, Direction::Write, Mode::Octet, None).unwrap();
        assert_eq!(n.tsize, Some(1000));
        assert_eq!(oack.options().get("tsize"), Some("1000"));
    }

    #[test]
    fn no_options_no_oack() {
        let (n, oack) = negotiate(
            &Request::default(),
            &Limits::default(),
            Direction::Read,
            Mode::Octet,
            Some(5),
        )
        .unwrap();
        assert_eq!(n, Negotiated::default());
        assert!(oack.options().is_empty());
    }

    #[test]
    fn client_oack_checks() {
        let req = Request {
            blksize: Some(1468),
            windowsize: Some(16),
            timeout: Some(2),
            tsize: Some(0),
        };
        let n = accept_oack(
            &req,
            opts(b"blksize\x001468\x00windowsize\x004\x00timeout\x002\x00tsize\x0099\x00"),
        )
        .unwrap();
        assert_eq!(
            n,
            Negotiated {
                blksize: 1468,
                windowsize: 4,
                timeout: Some(2),
                tsize: Some(99)
            }
        );
        assert_eq!(
            accept_oack(&req, opts(b"blksize\x001469\x00")),
            Err(OptionError::Raised("blksize"))
        );
        assert_eq!(
            accept_oack(&req, opts(b"timeout\x003\x00")),
            Err(OptionError::TimeoutChanged)
        );
        assert_eq!(
            accept_oack(&req, opts(b"multicast\x001\x00")),
            Err(OptionError::NotRequested)
        );
        assert_eq!(
            accept_oack(&Request::default(), opts(b"blksize\x00512\x00")),
            Err(OptionError::NotRequested)
        );
        assert_eq!(
            accept_oack(&req, opts(b"blksize\x004\x00")),
            Err(OptionError::InvalidValue("blksize"))
        );
    }

    #[test]
    fn request_encoding_round_trips() {
        let req = Request {
            blksize: Some(65464),
            windowsize: Some(65535),
            timeout: Some(255),
            tsize: Some(u64::MAX),
        };
        let b = req.encode();
        assert_eq!(Request::parse(b.options()).unwrap(), req);
    }
}
