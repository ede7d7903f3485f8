//! FTP commands (RFC 959 §4.1, §5.3; RFC 2389; RFC 2428; RFC 3659).
//!
//! [`Command::parse`] turns one control line (without its CRLF) into a
//! [`Command`] borrowing its argument from the line; [`Command::emit`] writes
//! a command line, CRLF included, into a caller buffer. Verbs are matched
//! case-insensitively; the argument is everything after the first space,
//! kept exactly (RFC 959 §5.3.2 allows spaces inside path names).
//!
//! Argument syntax is checked here (`PORT` numbers, `EPRT` fields, `REST`
//! digits, `TYPE` codes); whether a command is *allowed* is the session
//! machine's business.

use core::fmt;
use core::net::{SocketAddr, SocketAddrV4};

use super::address::{format_host_port, parse_extended, parse_host_port, protocol_number};
use super::emit_fmt;
use crate::wire::BufferTooSmall;

/// The representation type of `TYPE` (RFC 959 §3.1.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeCode {
    /// `A`, with the format control (`N`, `T` or `C`) when given.
    Ascii(Option<u8>),
    /// `E`, with the format control when given.
    Ebcdic(Option<u8>),
    /// `I`: image (binary).
    Image,
    /// `L n`: local byte size `n`.
    Local(u8),
}

/// The argument of `EPSV` (RFC 2428 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpsvArg {
    /// `EPSV n`: a passive connection of network protocol `n`.
    Protocol(u8),
    /// `EPSV ALL`: only `EPSV` from now on.
    All,
}

/// One parsed command line.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // Each variant is the RFC verb of the same name.
pub enum Command<'a> {
    User(&'a str),
    Pass(&'a str),
    Acct(&'a str),
    Cwd(&'a str),
    Cdup,
    Smnt(&'a str),
    Rein,
    Quit,
    Port(SocketAddrV4),
    Pasv,
    Type(TypeCode),
    Stru(u8),
    Mode(u8),
    Retr(&'a str),
    Stor(&'a str),
    Stou,
    Appe(&'a str),
    Allo,
    Rest(u64),
    Rnfr(&'a str),
    Rnto(&'a str),
    Abor,
    Dele(&'a str),
    Rmd(&'a str),
    Mkd(&'a str),
    Pwd,
    List(Option<&'a str>),
    Nlst(Option<&'a str>),
    Site(&'a str),
    Syst,
    Stat(Option<&'a str>),
    Help(Option<&'a str>),
    Noop,
    Feat,
    Opts(&'a str),
    Eprt(SocketAddr),
    Epsv(Option<EpsvArg>),
    Size(&'a str),
    Mdtm(&'a str),
    Mlst(Option<&'a str>),
    Mlsd(Option<&'a str>),
}

/// Why a line is not a valid command.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// The verb is not one we know (reply 500).
    #[error("unknown command")]
    Unknown,
    /// The verb needs an argument and has none (reply 501).
    #[error("missing argument")]
    MissingArgument,
    /// The argument does not have the required syntax (reply 501).
    #[error("syntax error in argument")]
    BadArgument,
    /// The line is not UTF-8 (reply 501; RFC 2640 makes UTF-8 the path
    /// encoding).
    #[error("line is not UTF-8")]
    NotUtf8,
}

impl CommandError {
    /// The reply code RFC 959 gives this error.
    pub const fn reply_code(self) -> u16 {
        match self {
            CommandError::Unknown => 500,
            _ => 501,
        }
    }
}

fn required(arg: Option<&str>) -> Result<&str, CommandError> {
    arg.filter(|a| !a.is_empty())
        .ok_or(CommandError::MissingArgument)
}

fn none(arg: Option<&str>) -> Result<(), CommandError> {
    match arg {
        Some(a) if !a.trim().is_empty() => Err(CommandError::BadArgument),
        _ => Ok(()),
    }
}

fn single_letter(arg: Option<&str>) -> Result<u8, CommandError> {
    match required(arg)?.trim().as_bytes() {
        [c] if c.is_ascii_alphabetic() => Ok(c.to_ascii_uppercase()),
        _ => Err(CommandError::BadArgument),
    }
}

fn parse_type(arg: &str) -> Result<TypeCode, CommandError> {
    let mut words = arg.split(' ').filter(|w| !w.is_empty());
    let code = words.next().ok_or(CommandError::MissingArgument)?;
    let second = words.next();
    if words.next().is_some() {
        return Err(CommandError::BadArgument);
    }
    let form = |s: Option<&str>| -> Result<Option<u8>, CommandError> {
        match s.map(str::as_bytes) {
            None => Ok(None),
            Some([c]) if matches!(c.to_ascii_uppercase(), b'N' | b'T' | b'C') => {
                Ok(Some(c.to_ascii_uppercase()))
            }
            Some(_) => Err(CommandError::BadArgument),
        }
    };
    match code.as_bytes() {
        [b'A' | b'a'] => Ok(TypeCode::Ascii(form(second)?)),
        [b'E' | b'e'] => Ok(TypeCode::Ebcdic(form(second)?)),
        [b'I' | b'i'] if second.is_none() => Ok(TypeCode::Image),
        [b'L' | b'l'] => second
            .and_then(|n| n.parse::<u8>().ok())
            .filter(|n| *n > 0)
            .map(TypeCode::Local)
            .ok_or(CommandError::BadArgument),
        _ => Err(CommandError::BadArgument),
    }
}

fn parse_eprt(arg: &str) -> Result<SocketAddr, CommandError> {
    match parse_extended(arg.trim()) {
        Some((_, Some(ip), port)) => Ok(SocketAddr::new(ip, port)),
        _ => Err(CommandError::BadArgument),
    }
}

fn parse_epsv(arg: Option<&str>) -> Result<Option<EpsvArg>, CommandError> {
    let Some(arg) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(None);
    };
    if arg.eq_ignore_ascii_case("ALL") {
        return Ok(Some(EpsvArg::All));
    }
    arg.parse::<u8>()
        .map(|n| Some(EpsvArg::Protocol(n)))
        .map_err(|_| CommandError::BadArgument)
}

impl<'a> Command<'a> {
    /// Parses one line (without CRLF).
    ///
    /// ```
    /// use netboot_core::wire::ftp::{Command, CommandError, TypeCode};
    ///
    /// assert_eq!(Command::parse(b"retr boot/kernel img").unwrap(), Command::Retr("boot/kernel img"));
    /// assert_eq!(Command::parse(b"TYPE I").unwrap(), Command::Type(TypeCode::Image));
    /// assert_eq!(Command::parse(b"REST 100").unwrap(), Command::Rest(100));
    /// assert_eq!(Command::parse(b"XYZZY"), Err(CommandError::Unknown));
    /// assert_eq!(Command::parse(b"RETR"), Err(CommandError::MissingArgument));
    /// ```
    pub fn parse(line: &'a [u8]) -> Result<Command<'a>, CommandError> {
        let line = core::str::from_utf8(line).map_err(|_| CommandError::NotUtf8)?;
        let (verb, arg) = match line.split_once(' ') {
            Some((v, a)) => (v, Some(a)),
            None => (line, None),
        };
        if verb.len() > 4 || verb.len() < 3 {
            return Err(CommandError::Unknown);
        }
        let mut upper = [0u8; 4];
        for (u, b) in upper.iter_mut().zip(verb.bytes()) {
            *u = b.to_ascii_uppercase();
        }
        let optional = arg.filter(|a| !a.is_empty());
        let cmd = match &upper[..verb.len()] {
            b"USER" => Command::User(required(arg)?),
            b"PASS" => Command::Pass(arg.unwrap_or("")),
            b"ACCT" => Command::Acct(required(arg)?),
            b"CWD" | b"XCWD" => Command::Cwd(required(arg)?),
            b"CDUP" | b"XCUP" => Command::Cdup,
            b"SMNT" => Command::Smnt(required(arg)?),
            b"REIN" => Command::Rein,
            b"QUIT" => Command::Quit,
            b"PORT" => {
                Command::Port(parse_host_port(required(arg)?).ok_or(CommandError::BadArgument)?)
            }
            b"PASV" => Command::Pasv,
            b"TYPE" => Command::Type(parse_type(required(arg)?)?),
            b"STRU" => Command::Stru(single_letter(arg)?),
            b"MODE" => Command::Mode(single_letter(arg)?),
            b"RETR" => Command::Retr(required(arg)?),
            b"STOR" => Command::Stor(required(arg)?),
            b"STOU" => Command::Stou,
            b"APPE" => Command::Appe(required(arg)?),
            b"ALLO" => Command::Allo,
            b"REST" => {
                let n = required(arg)?.trim();
                if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(CommandError::BadArgument);
                }
                Command::Rest(n.parse().map_err(|_| CommandError::BadArgument)?)
            }
            b"RNFR" => Command::Rnfr(required(arg)?),
            b"RNTO" => Command::Rnto(required(arg)?),
            b"ABOR" => Command::Abor,
            b"DELE" => Command::Dele(required(arg)?),
            b"RMD" | b"XRMD" => Command::Rmd(required(arg)?),
            b"MKD" | b"XMKD" => Command::Mkd(required(arg)?),
            b"PWD" | b"XPWD" => Command::Pwd,
            b"LIST" => Command::List(optional),
            b"NLST" => Command::Nlst(optional),
            b"SITE" => Command::Site(required(arg)?),
            b"SYST" => Command::Syst,
            b"STAT" => Command::Stat(optional),
            b"HELP" => Command::Help(optional),
            b"NOOP" => Command::Noop,
            b"FEAT" => Command::Feat,
            b"OPTS" => Command::Opts(required(arg)?),
            b"EPRT" => Command::Eprt(parse_eprt(required(arg)?)?),
            b"EPSV" => Command::Epsv(parse_epsv(arg)?),
            b"SIZE" => Command::Size(required(arg)?),
            b"MDTM" => Command::Mdtm(required(arg)?),
            b"MLST" => Command::Mlst(optional),
            b"MLSD" => Command::Mlsd(optional),
            _ => return Err(CommandError::Unknown),
        };
        if matches!(
            cmd,
            Command::Cdup
                | Command::Rein
                | Command::Quit
                | Command::Pasv
                | Command::Stou
                | Command::Abor
                | Command::Pwd
                | Command::Syst
                | Command::Noop
                | Command::Feat
        ) {
            none(arg)?;
        }
        Ok(cmd)
    }

    /// The verb, upper case.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::User(_) => "USER",
            Command::Pass(_) => "PASS",
            Command::Acct(_) => "ACCT",
            Command::Cwd(_) => "CWD",
            Command::Cdup => "CDUP",
            Command::Smnt(_) => "SMNT",
            Command::Rein => "REIN",
            Command::Quit => "QUIT",
            Command::Port(_) => "PORT",
            Command::Pasv => "PASV",
            Command::Type(_) => "TYPE",
            Command::Stru(_) => "STRU",
            Command::Mode(_) => "MODE",
            Command::Retr(_) => "RETR",
            Command::Stor(_) => "STOR",
            Command::Stou => "STOU",
            Command::Appe(_) => "APPE",
            Command::Allo => "ALLO",
            Command::Rest(_) => "REST",
            Command::Rnfr(_) => "RNFR",
            Command::Rnto(_) => "RNTO",
            Command::Abor => "ABOR",
            Command::Dele(_) => "DELE",
            Command::Rmd(_) => "RMD",
            Command::Mkd(_) => "MKD",
            Command::Pwd => "PWD",
            Command::List(_) => "LIST",
            Command::Nlst(_) => "NLST",
            Command::Site(_) => "SITE",
            Command::Syst => "SYST",
            Command::Stat(_) => "STAT",
            Command::Help(_) => "HELP",
            Command::Noop => "NOOP",
            Command::Feat => "FEAT",
            Command::Opts(_) => "OPTS",
            Command::Eprt(_) => "EPRT",
            Command::Epsv(_) => "EPSV",
            Command::Size(_) => "SIZE",
            Command::Mdtm(_) => "MDTM",
            Command::Mlst(_) => "MLST",
            Command::Mlsd(_) => "MLSD",
        }
    }

    /// Writes the command line, CRLF included, into `buf`.
    ///
    /// Arguments containing CR or LF cannot be sent (they would end the line
    /// early and smuggle a second command); they are reported as
    /// [`CommandError::BadArgument`] by [`Command::check`], which callers
    /// building commands from user input should call first.
    ///
    /// ```
    /// use netboot_core::wire::ftp::Command;
    /// let mut buf = [0u8; 64];
    /// let n = Command::Eprt("127.0.0.1:5000".parse().unwrap()).emit(&mut buf).unwrap();
    /// assert_eq!(&buf[..n], b"EPRT |1|127.0.0.1|5000|\r\n");
    /// assert_eq!(Command::Noop.emit(&mut [0u8; 3]).unwrap_err().required, 6);
    /// ```
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BufferTooSmall> {
        emit_fmt(buf, format_args!("{self}\r\n"))
    }

    /// The free-text argument (a path, a name, a password), if the command
    /// carries one.
    pub fn text_argument(&self) -> Option<&'a str> {
        match *self {
            Command::User(a)
            | Command::Pass(a)
            | Command::Acct(a)
            | Command::Cwd(a)
            | Command::Smnt(a)
            | Command::Retr(a)
            | Command::Stor(a)
            | Command::Appe(a)
            | Command::Rnfr(a)
            | Command::Rnto(a)
            | Command::Dele(a)
            | Command::Rmd(a)
            | Command::Mkd(a)
            | Command::Site(a)
            | Command::Opts(a)
            | Command::Size(a)
            | Command::Mdtm(a) => Some(a),
            Command::List(a)
            | Command::Nlst(a)
            | Command::Stat(a)
            | Command::Help(a)
            | Command::Mlst(a)
            | Command::Mlsd(a) => a,
            _ => None,
        }
    }

    /// Refuses arguments that cannot travel on one control line.
    pub fn check(&self) -> Result<(), CommandError> {
        let arg = self.text_argument().unwrap_or("");
        if arg.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            Err(CommandError::BadArgument)
        } else {
            Ok(())
        }
    }
}

impl fmt::Display for TypeCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let form = |f: &mut fmt::Formatter<'_>, c: Option<u8>| match c {
            Some(c) => write!(f, " {}", c as char),
            None => Ok(()),
        };
        match *self {
            TypeCode::Ascii(c) => {
                f.write_str("A")?;
                form(f, c)
            }
            TypeCode::Ebcdic(c) => {
                f.write_str("E")?;
                form(f, c)
            }
            TypeCode::Image => f.write_str("I"),
            TypeCode::Local(n) => write!(f, "L {n}"),
        }
    }
}

impl fmt::Display for Command<'_> {
    /// The command line without its CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.verb())?;
        if let Some(a) = self.text_argument() {
            return write!(f, " {a}");
        }
        match *self {
            Command::Port(addr) => write!(f, " {}", format_host_port(addr)),
            Command::Type(t) => write!(f, " {t}"),
            Command::Stru(c) | Command::Mode(c) => write!(f, " {}", c as char),
            Command::Rest(n) => write!(f, " {n}"),
            Command::Eprt(addr) => {
                write!(
                    f,
                    " |{}|{}|{}|",
                    protocol_number(&addr),
                    addr.ip(),
                    addr.port()
                )
            }
            Command::Epsv(Some(EpsvArg::All)) => f.write_str(" ALL"),
            Command::Epsv(Some(EpsvArg::Protocol(n))) => write!(f, " {n}"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_every_verb_family() {
        let cases: &[(&[u8], Command<'_>)] = &[
            (b"USER anonymous", Command::User("anonymous")),
            (b"PASS", Command::Pass("")),
            (b"pass secret word", Command::Pass("secret word")),
            (b"XCWD /pub", Command::Cwd("/pub")),
            (b"CDUP", Command::Cdup),
            (
                b"PORT 127,0,0,1,4,0",
                Command::Port("127.0.0.1:1024".parse().unwrap()),
            ),
            (b"TYPE A N", Command::Type(TypeCode::Ascii(Some(b'N')))),
            (b"TYPE a", Command::Type(TypeCode::Ascii(None))),
            (b"TYPE L 8", Command::Type(TypeCode::Local(8))),
            (b"STRU f", Command::Stru(b'F')),
            (b"MODE S", Command::Mode(b'S')),
            (b"LIST", Command::List(None)),
            (b"LIST -la", Command::List(Some("-la"))),
            (b"EPSV", Command::Epsv(None)),
            (b"EPSV ALL", Command::Epsv(Some(EpsvArg::All))),
            (b"EPSV 2", Command::Epsv(Some(EpsvArg::Protocol(2)))),
            (
                b"EPRT |2|::1|1030|",
                Command::Eprt("[::1]:1030".parse().unwrap()),
            ),
            (b"MLST", Command::Mlst(None)),
            (b"OPTS UTF8 ON", Command::Opts("UTF8 ON")),
            (b"ALLO 1000", Command::Allo),
        ];
        for (line, want) in cases {
            assert_eq!(
                Command::parse(line).as_ref(),
                Ok(want),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }

    #[test]
    fn reports_errors_with_their_codes() {
        let cases: &[(&[u8], CommandError)] = &[
            (b"", CommandError::Unknown),
            (b"LONGVERB x", CommandError::Unknown),
            (b"RETR", CommandError::MissingArgument),
            (b"RETR ", CommandError::MissingArgument),
            (b"PORT 1,2,3", CommandError::BadArgument),
            (b"REST -1", CommandError::BadArgument),
            (b"REST 99999999999999999999999", CommandError::BadArgument),
            (b"TYPE X", CommandError::BadArgument),
            (b"TYPE L 0", CommandError::BadArgument),
            (b"MODE SS", CommandError::BadArgument),
            (b"EPRT |3|1.2.3.4|5|", CommandError::BadArgument),
            (b"EPSV foo", CommandError::BadArgument),
            (b"NOOP now", CommandError::BadArgument),
            (b"RETR \xff", CommandError::NotUtf8),
        ];
        for (line, want) in cases {
            assert_eq!(
                Command::parse(line),
                Err(*want),
                "{}",
                String::from_utf8_lossy(line)
            );
        }
        assert_eq!(CommandError::Unknown.reply_code(), 500);
        assert_eq!(CommandError::BadArgument.reply_code(), 501);
    }

    #[test]
    fn check_refuses_line_breaks() {
        assert_eq!(
            Command::Retr("a\r\nDELE b").check(),
            Err(CommandError::BadArgument)
        );
        assert_eq!(Command::Retr("a b").check(), Ok(()));
    }

    fn arb_arg() -> impl Strategy<Value = String> {
        "[A-Za-z0-9 ./_-]{1,40}".prop_filter("non-blank first", |s| !s.trim().is_empty())
    }

    proptest! {
        #[test]
        fn emit_then_parse_is_identity(arg in arb_arg(), n in any::<u64>(), port in any::<u16>(), ip in any::<[u8; 4]>()) {
            let v4 = SocketAddrV4::new(ip.into(), port);
            let cmds = [
                Command::Retr(&arg), Command::Stor(&arg), Command::Cwd(&arg), Command::User(&arg),
                Command::Rest(n), Command::Port(v4), Command::Eprt(SocketAddr::V4(v4)),
                Command::List(Some(&arg)), Command::Mlsd(None), Command::Epsv(None), Command::Pasv,
                Command::Type(TypeCode::Image), Command::Rnto(&arg),
            ];
            for cmd in cmds {
                let mut buf = [0u8; 128];
                let len = cmd.emit(&mut buf).unwrap();
                prop_assert!(buf[..len].ends_with(b"\r\n"));
                prop_assert_eq!(Command::parse(&buf[..len - 2]).unwrap(), cmd);
            }
        }

        #[test]
        fn parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Command::parse(&line);
        }

        #[test]
        fn emit_leaves_small_buffers_untouched(arg in arb_arg(), size in 0usize..20) {
            let mut buf = [0xAAu8; 20];
            if let Err(e) = Command::Retr(&arg).emit(&mut buf[..size]) {
                prop_assert_eq!(e.required, arg.len() + 7);
                prop_assert!(buf.iter().all(|b| *b == 0xAA));
            }
        }
    }
}
