//! The server side of an FTP control connection (RFC 959 and extensions).
//!
//! A [`ServerSession`] is one control connection. Bytes from the client go in
//! through [`ServerSession::handle_bytes`]; replies come out through
//! [`ServerSession::poll_transmit`]; everything that needs the outside world
//! (checking a password, touching the store, opening a data connection,
//! moving file data) comes out as an [`Event`] and is answered through a
//! method call. The session never does I/O and never allocates.
//!
//! # Driving it
//!
//! After every input or answer, drain: output with `poll_transmit` until it
//! returns 0, the deadline with `poll_timeout`, events with `poll_event`
//! until `None`. The session reads no further command while an event is
//! unanswered or while its reply buffer is nearly full, so
//! `handle_bytes` may consume less than it was given: keep the rest and offer
//! it again after the next answer (an empty slice is fine: a complete line
//! may already be buffered). When [`ServerSession::is_closed`] turns true,
//! flush the output and close the connection.
//!
//! # Command by command
//!
//! * Login (RFC 959 §4.1.1): `USER`, `PASS` (checked by the driver through
//!   [`Event::VerifyLogin`], or accepted for anonymous when the config allows;
//!   a failure is held for `login_delay` and the session closes after
//!   `max_login_attempts`), `ACCT` → 502, `REIN`, `QUIT`. Before login only
//!   `USER PASS ACCT QUIT NOOP FEAT SYST HELP OPTS REIN STAT ABOR` are
//!   accepted (530 otherwise).
//! * Navigation and files: `CWD CDUP PWD MKD RMD DELE RNFR RNTO SIZE MDTM
//!   MLST`. Paths resolve against the working directory with `..` clamped at
//!   the root ([`crate::path::resolve`] with [`DotDot::Clamp`]). `RNTO` needs
//!   an `RNFR` right before it (503 otherwise).
//! * Transfer parameters: `TYPE A`/`TYPE I`/`TYPE L 8` (others 504), `MODE S`
//!   and `STRU F` only (504), `ALLO` → 202, `REST` (RFC 3659 §5, stream mode).
//! * Data connections: `PORT`/`EPRT` are accepted only towards the control
//!   peer's own address and a port ≥ 1024 (RFC 2577 §3, reply 504 otherwise);
//!   `PASV`/`EPSV` (RFC 2428, with `EPSV ALL`); a passive connection is
//!   accepted only from the control peer's address.
//! * Transfers: `RETR STOR STOU APPE LIST NLST MLSD`; `ABOR` during a
//!   transfer answers 426 then 226.
//! * Information: `FEAT`, `OPTS UTF8 ON`, `OPTS MLST`, `SYST`, `STAT`
//!   (server status; with a path, its `ls -l` lines on the control
//!   connection, as many as fit in the reply buffer, about 30), `HELP`,
//!   `SITE HELP`, `NOOP`.
//!
//! Departures: `STAT path` lists at most what fits in one reply; `SIZE`
//! reports the stored size in every `TYPE`; `SMNT` answers 502; a command
//! other than `ABOR`, `STAT` or `NOOP` sent during a transfer waits until the
//! transfer ends.

mod config;
mod data;
#[cfg(feature = "alloc")]
pub mod endpoint;
mod event;
mod files;
mod info;
mod login;
pub mod pump;

pub use config::ServerConfig;
#[cfg(feature = "alloc")]
pub use endpoint::{
    Accounts, DATA_BUDGET, Endpoint, EndpointConfig, EndpointEvent, FastPathError, FastPaths,
    MAX_CONTROL_INPUT, MAX_EARLY_DATA, Outcome, Secret, TransferRecord,
};
pub use event::{DataTransfer, Event, StorageAnswer, StorageOp, TransferKind, TransferOutcome};

use core::fmt::{self, Write};
use core::net::{IpAddr, SocketAddr};

use crate::ftp::date::DateTime;
use crate::ftp::listing::{self, Facts, ListFormat};
use crate::path::{self, Absolute, DotDot, PathBuf};
use crate::storage::{Metadata, StoreError, WriteMode};
use crate::time::Instant;
use crate::wire::ftp::{Command, EpsvArg, Line, LineBuffer, TypeCode, format_host_port};

/// Longest command line accepted, in bytes (longer ones get 500).
pub const MAX_LINE: usize = 1024;
/// Capacity of the reply buffer.
pub const OUTPUT_CAPACITY: usize = 3072;
/// Free reply space needed before another command is read.
const RESERVE: usize = 2048;
/// Longest user name.
pub const MAX_USER: usize = 64;
/// Longest password passed to the verifier (longer ones fail).
pub const MAX_PASSWORD: usize = 128;

/// What a server sends a connection it will not serve (too many sessions in
/// all, or from that address) before closing it (RFC 959 §4.2: 421).
pub const TOO_MANY_SESSIONS: &str = "421 Too many connections; try again later.\r\n";

/// API misuse: an answer the session was not waiting for.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The session did not ask for this answer.
    #[error("the session is not waiting for this answer")]
    Unexpected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Login {
    AwaitUser,
    AwaitPass,
    LoggedIn { writable: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Cwd,
    Size,
    Mdtm,
    Mlst,
    Mkd,
    Rmd,
    Dele,
    Rnfr,
    Rnto,
    Retr,
    Stor(WriteMode),
    Stou(u8),
    List(ListFormat),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// 150 sent; waiting for the client to connect to our listener.
    AwaitConnection,
    /// 150 sent; the driver is connecting to the client.
    Connecting,
    /// The transfer event was announced; data is moving.
    Running,
    /// Abort was announced; waiting for the driver to stop.
    Aborting,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Xfer {
    kind: TransferKind,
    offset: u64,
    phase: Phase,
    deadline: Instant,
    client_abort: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Busy {
    Idle,
    Verifying,
    LoginDelay(Instant),
    Storage(Op),
    Listen { extended: bool },
    Transfer(Xfer),
    StatListing,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Data {
    None,
    Active(SocketAddr),
    Passive { connected: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Announce {
    Verify,
    LoggedIn,
    Storage,
    Listen,
    Connect(SocketAddr),
    Transfer,
    Abort,
    StatListing,
}

/// One FTP control connection, server side.
///
/// ```
/// use netboot_core::ftp::server::{Event, ServerConfig, ServerSession, StorageOp};
/// use netboot_core::time::Instant;
///
/// let config = ServerConfig { anonymous: true, ..ServerConfig::default() };
/// let now = Instant::ZERO;
/// let mut s = ServerSession::new(now, config, "127.0.0.1:40000".parse().unwrap(), "127.0.0.1:21".parse().unwrap());
/// let mut out = [0u8; 512];
/// let n = s.poll_transmit(now, &mut out).unwrap();
/// assert!(out[..n].starts_with(b"220 "));
///
/// let input = b"USER anonymous\r\nPASS guest@\r\nSIZE boot.img\r\n";
/// let used = s.handle_bytes(now, input);
/// // The session stops reading at the first command that needs an answer.
/// assert!(matches!(s.poll_event(), Some(Event::LoggedIn { anonymous: true, .. })));
/// let used = used + s.handle_bytes(now, &input[used..]);
/// assert_eq!(used, input.len());
/// assert_eq!(s.poll_event(), Some(Event::Storage(StorageOp::Metadata("boot.img"))));
/// s.storage_done(now, Ok(Some(netboot_core::storage::Metadata::file(1440)))).unwrap();
/// let n = s.poll_transmit(now, &mut out).unwrap();
/// assert!(out[..n].ends_with(b"230 Login successful.\r\n213 1440\r\n"));
/// ```
#[derive(Clone, Debug)]
pub struct ServerSession {
    config: ServerConfig,
    peer: SocketAddr,
    local: SocketAddr,
    lines: LineBuffer<MAX_LINE>,
    out: heapless::Vec<u8, OUTPUT_CAPACITY>,
    login: Login,
    anonymous: bool,
    failures: u8,
    user: heapless::String<MAX_USER>,
    secret: heapless::String<MAX_PASSWORD>,
    cwd: PathBuf,
    path: PathBuf,
    rnfr: PathBuf,
    rnfr_ready: bool,
    ascii: bool,
    rest: u64,
    epsv_all: bool,
    facts: Facts,
    data: Data,
    busy: Busy,
    announce: Option<Announce>,
    close_data: bool,
    idle_deadline: Instant,
    closing: bool,
    stou_counter: u32,
}

fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// Writes a reply line, keeping the buffer intact if it does not fit.
struct Out<'a> {
    buf: &'a mut heapless::Vec<u8, OUTPUT_CAPACITY>,
}

impl Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.buf
            .extend_from_slice(s.as_bytes())
            .map_err(|_| fmt::Error)
    }
}

/// Quotes a path for a `257` reply (RFC 959 Appendix II: `"` doubled).
struct Quoted<'a>(&'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_char('"')?;
        f.write_char('/')?;
        for c in self.0.chars() {
            if c == '"' {
                f.write_char('"')?;
            }
            f.write_char(c)?;
        }
        f.write_char('"')
    }
}

fn store_reply(e: StoreError) -> (u16, &'static str) {
    match e {
        StoreError::NotFound => (550, "No such file or directory."),
        StoreError::PermissionDenied => (550, "Permission denied."),
        StoreError::AlreadyExists => (553, "File exists."),
        StoreError::Full => (552, "Insufficient storage space."),
        StoreError::IsADirectory => (550, "Is a directory."),
        StoreError::NotADirectory => (550, "Not a directory."),
        StoreError::NotEmpty => (550, "Directory not empty."),
        StoreError::Unsupported => (502, "Not supported by this server's store."),
        _ => (451, "Local error in processing."),
    }
}

impl ServerSession {
    /// A new session for a control connection from `peer` accepted on
    /// `local`. The `220` greeting is already queued.
    pub fn new(now: Instant, config: ServerConfig, peer: SocketAddr, local: SocketAddr) -> Self {
        let mut s = ServerSession {
            config,
            peer,
            local,
            lines: LineBuffer::new(),
            out: heapless::Vec::new(),
            login: Login::AwaitUser,
            anonymous: false,
            failures: 0,
            user: heapless::String::new(),
            secret: heapless::String::new(),
            cwd: PathBuf::new(),
            path: PathBuf::new(),
            rnfr: PathBuf::new(),
            rnfr_ready: false,
            ascii: false,
            rest: 0,
            epsv_all: false,
            facts: Facts::ALL,
            data: Data::None,
            busy: Busy::Idle,
            announce: None,
            close_data: false,
            idle_deadline: now + config.idle_timeout,
            closing: false,
            // Distinct per session, so that concurrent STOUs rarely collide
            // (a collision only costs a retry).
            stou_counter: (now.as_micros() as u32) ^ (u32::from(peer.port()) << 16),
        };
        s.reply(220, format_args!("{}", config.greeting));
        s
    }

    // ---- getters -------------------------------------------------------

    /// The control connection's peer.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The logged-in user's name, if logged in.
    pub fn user(&self) -> Option<&str> {
        matches!(self.login, Login::LoggedIn { .. }).then_some(self.user.as_str())
    }

    /// True once the session wants its connection closed (after its output
    /// has been flushed).
    pub fn is_closed(&self) -> bool {
        self.closing
    }

    /// True while a data transfer has been announced and not yet reported
    /// done.
    pub fn is_transferring(&self) -> bool {
        matches!(
            self.busy,
            Busy::Transfer(Xfer {
                phase: Phase::Running | Phase::Aborting,
                ..
            })
        )
    }

    /// The current working directory (normalised).
    pub fn cwd(&self) -> &str {
        &self.cwd
    }

    /// Reply bytes not yet handed out.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    // ---- output --------------------------------------------------------

    /// Copies pending reply bytes into `buf` (as many as fit) and
    /// returns how many; `None` when there are none. Bytes the stream did
    /// not take are the driver's to write first next time.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<usize> {
        let n = buf.len().min(self.out.len());
        if n == 0 {
            return None;
        }
        buf[..n].copy_from_slice(&self.out[..n]);
        self.advance_output(n);
        Some(n)
    }

    fn advance_output(&mut self, n: usize) {
        let n = n.min(self.out.len());
        self.out.copy_within(n.., 0);
        self.out.truncate(self.out.len() - n);
    }

    /// When [`ServerSession::handle_timeout`] is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closing {
            return None;
        }
        match self.busy {
            Busy::LoginDelay(until) => Some(until),
            Busy::Transfer(x) if x.phase != Phase::Aborting => Some(x.deadline),
            Busy::Transfer(_) => None,
            _ => Some(self.idle_deadline),
        }
    }

    /// The next thing the session needs from the driver.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if core::mem::take(&mut self.close_data) {
            return Some(Event::CloseData);
        }
        let a = self.announce.take()?;
        Some(match a {
            Announce::Verify => Event::VerifyLogin {
                user: &self.user,
                password: &self.secret,
            },
            Announce::LoggedIn => Event::LoggedIn {
                user: &self.user,
                anonymous: self.anonymous,
                writable: self.writable(),
            },
            Announce::Storage => {
                let Busy::Storage(op) = self.busy else {
                    return None;
                };
                Event::Storage(match op {
                    Op::Cwd | Op::Size | Op::Mdtm | Op::Mlst | Op::Rnfr | Op::List(_) => {
                        StorageOp::Metadata(&self.path)
                    }
                    Op::Retr => StorageOp::OpenRead(&self.path),
                    Op::Stor(mode) => StorageOp::OpenWrite(&self.path, mode),
                    Op::Stou(_) => StorageOp::OpenWrite(&self.path, WriteMode::CreateNew),
                    Op::Mkd => StorageOp::CreateDir(&self.path),
                    Op::Rmd => StorageOp::RemoveDir(&self.path),
                    Op::Dele => StorageOp::RemoveFile(&self.path),
                    Op::Rnto => StorageOp::Rename {
                        from: &self.rnfr,
                        to: &self.path,
                    },
                })
            }
            Announce::Listen => Event::Listen,
            Announce::Connect(addr) => Event::Connect(addr),
            Announce::Transfer => {
                let Busy::Transfer(x) = self.busy else {
                    return None;
                };
                Event::Transfer(DataTransfer {
                    kind: x.kind,
                    path: &self.path,
                    offset: x.offset,
                    ascii: self.ascii,
                })
            }
            Announce::Abort => Event::Abort,
            Announce::StatListing => Event::StatListing,
        })
    }

    fn reply(&mut self, code: u16, text: fmt::Arguments<'_>) {
        let mark = self.out.len();
        let mut w = Out { buf: &mut self.out };
        if write!(w, "{code:03} {text}\r\n").is_err() {
            // Never happens while RESERVE holds; if it does, the client is
            // not reading its replies and is dropped.
            self.out.truncate(mark);
            self.closing = true;
        }
    }

    fn reply_str(&mut self, code: u16, text: &str) {
        self.reply(code, format_args!("{text}"));
    }

    fn writable(&self) -> bool {
        matches!(self.login, Login::LoggedIn { writable: true })
    }

    // ---- input ---------------------------------------------------------

    /// Feeds bytes from the control connection; returns how many were
    /// consumed (see the module docs for why it may be fewer).
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> usize {
        if self.closing {
            return bytes.len();
        }
        let mut used = 0;
        loop {
            if self.lines.is_ready() {
                if !self.process_line(now) {
                    break;
                }
                continue;
            }
            if used == bytes.len() {
                break;
            }
            let (n, _) = self.lines.push(&bytes[used..]);
            used += n;
        }
        used
    }

    /// Handles a buffered line if the session may; false when it must wait.
    fn process_line(&mut self, now: Instant) -> bool {
        if self.closing {
            self.lines.clear();
            return true;
        }
        if self.announce.is_some() || self.close_data || OUTPUT_CAPACITY - self.out.len() < RESERVE
        {
            return false;
        }
        if self.lines.push(&[]).1 == Some(Line::Overlong) {
            self.lines.clear();
            self.idle_deadline = now + self.config.idle_timeout;
            self.reply_str(500, "Command line too long.");
            return true;
        }
        // Copy the line out so that handlers may use the session freely.
        let mut line = [0u8; MAX_LINE];
        let len = self.lines.line().len();
        line[..len].copy_from_slice(self.lines.line());
        let parsed = Command::parse(&line[..len]);
        match self.busy {
            Busy::Idle => {}
            Busy::Transfer(_) => match parsed {
                Ok(Command::Abor | Command::Noop) | Ok(Command::Stat(None)) => {}
                _ => return false,
            },
            _ => return false,
        }
        self.lines.clear();
        self.idle_deadline = now + self.config.idle_timeout;
        match parsed {
            Ok(cmd) => self.command(now, cmd),
            Err(e) => {
                self.rnfr_ready = false;
                let text = match e.reply_code() {
                    500 => "Unknown command.",
                    _ => "Syntax error in parameters or arguments.",
                };
                self.reply_str(e.reply_code(), text);
            }
        }
        true
    }

    fn command(&mut self, now: Instant, cmd: Command<'_>) {
        let logged_in = matches!(self.login, Login::LoggedIn { .. });
        let rnfr_ready = core::mem::take(&mut self.rnfr_ready);
        match cmd {
            Command::User(name) => return self.user_cmd(name),
            Command::Pass(password) => return self.pass_cmd(now, password),
            Command::Acct(_) => return self.reply_str(502, "ACCT not implemented."),
            Command::Quit => {
                self.reply_str(221, "Goodbye.");
                self.drop_data();
                self.closing = true;
                return;
            }
            Command::Rein => {
                self.drop_data();
                self.login = Login::AwaitUser;
                self.anonymous = false;
                self.user.clear();
                self.cwd.clear();
                self.ascii = false;
                self.rest = 0;
                self.epsv_all = false;
                self.facts = Facts::ALL;
                return self.reply_str(220, "Ready for a new user.");
            }
            Command::Noop => return self.reply_str(200, "NOOP ok."),
            Command::Feat => return self.feat(),
            Command::Syst => return self.reply_str(215, "UNIX Type: L8"),
            Command::Help(_) => return self.help(214),
            Command::Opts(arg) => return self.opts(arg),
            Command::Abor => return self.abor(now),
            Command::Stat(None) => return self.stat(),
            _ if !logged_in => return self.reply_str(530, "Please login with USER and PASS."),
            _ => {}
        }
        match cmd {
            Command::Cwd(arg) => self.start_op(Op::Cwd, arg),
            Command::Cdup => self.start_op(Op::Cwd, ".."),
            Command::Pwd => {
                let cwd = self.cwd.clone();
                self.reply(
                    257,
                    format_args!("{} is the current directory.", Quoted(&cwd)),
                )
            }
            Command::Smnt(_) => self.reply_str(502, "SMNT not implemented."),
            Command::Mkd(arg) => self.start_write_op(Op::Mkd, arg),
            Command::Rmd(arg) => self.start_write_op(Op::Rmd, arg),
            Command::Dele(arg) => self.start_write_op(Op::Dele, arg),
            Command::Rnfr(arg) => self.start_write_op(Op::Rnfr, arg),
            Command::Rnto(arg) => {
                if rnfr_ready {
                    self.start_write_op(Op::Rnto, arg)
                } else {
                    self.reply_str(503, "RNFR required first.")
                }
            }
            Command::Size(arg) => self.start_op(Op::Size, arg),
            Command::Mdtm(arg) => self.start_op(Op::Mdtm, arg),
            Command::Mlst(arg) => self.start_op(Op::Mlst, arg.unwrap_or("")),
            Command::Stat(Some(arg)) => {
                if self.resolve(strip_options(Some(arg))) {
                    self.busy = Busy::StatListing;
                    self.announce = Some(Announce::StatListing);
                }
            }
            Command::Type(t) => match t {
                TypeCode::Ascii(None | Some(b'N')) => {
                    self.ascii = true;
                    self.reply_str(200, "Switching to ASCII mode.")
                }
                TypeCode::Image | TypeCode::Local(8) => {
                    self.ascii = false;
                    self.reply_str(200, "Switching to Binary mode.")
                }
                _ => self.reply_str(504, "Type not supported."),
            },
            Command::Mode(b'S') => self.reply_str(200, "Mode set to S."),
            Command::Mode(_) => self.reply_str(504, "Only MODE S is supported."),
            Command::Stru(b'F') => self.reply_str(200, "Structure set to F."),
            Command::Stru(_) => self.reply_str(504, "Only STRU F is supported."),
            Command::Allo => self.reply_str(202, "ALLO not needed."),
            Command::Rest(n) => {
                self.rest = n;
                self.reply(
                    350,
                    format_args!("Restarting at {n}. Send STORE or RETRIEVE."),
                )
            }
            Command::Site(arg) => {
                if arg.trim().eq_ignore_ascii_case("HELP") {
                    self.help(214)
                } else {
                    self.reply_str(504, "SITE command not supported.")
                }
            }
            Command::Port(addr) => self.active(SocketAddr::V4(addr)),
            Command::Eprt(addr) => self.active(addr),
            Command::Pasv => self.passive(false, None),
            Command::Epsv(arg) => self.passive(true, arg),
            Command::Retr(arg) => self.start_transfer(Op::Retr, arg),
            Command::Stor(arg) => {
                let mode = if self.rest > 0 {
                    WriteMode::At(self.rest)
                } else {
                    WriteMode::Replace
                };
                self.start_transfer(Op::Stor(mode), arg)
            }
            Command::Appe(arg) => self.start_transfer(Op::Stor(WriteMode::Append), arg),
            Command::Stou => self.start_transfer(Op::Stou(0), ""),
            Command::List(arg) => {
                self.start_transfer(Op::List(ListFormat::Long), strip_options(arg))
            }
            Command::Nlst(arg) => {
                self.start_transfer(Op::List(ListFormat::Names), strip_options(arg))
            }
            Command::Mlsd(arg) => {
                self.start_transfer(Op::List(ListFormat::Facts), arg.unwrap_or(""))
            }
            _ => self.reply_str(502, "Command not implemented."),
        }
    }

    /// Time has passed: login delays end, idle sessions and stalled data
    /// connections time out. Early or repeated calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.closing {
            return;
        }
        match self.busy {
            Busy::LoginDelay(until) if now >= until => self.login_failed(),
            Busy::Transfer(x) if now >= x.deadline => match x.phase {
                Phase::AwaitConnection | Phase::Connecting => {
                    self.end_transfer();
                    self.close_data = true;
                    self.reply_str(425, "Data connection timed out.");
                    self.idle_deadline = now + self.config.idle_timeout;
                }
                Phase::Running if self.announce != Some(Announce::Transfer) => {
                    if let Busy::Transfer(x) = &mut self.busy {
                        x.phase = Phase::Aborting;
                    }
                    self.announce = Some(Announce::Abort);
                }
                _ => {}
            },
            Busy::Idle | Busy::Storage(_) | Busy::Verifying | Busy::Listen { .. }
                if now >= self.idle_deadline =>
            {
                self.reply_str(421, "Idle timeout; closing control connection.");
                self.drop_data();
                self.closing = true;
            }
            _ => {}
        }
    }

    /// The server is shutting down: tell the client (421) and close.
    pub fn shutdown(&mut self, _now: Instant) {
        if !self.closing {
            self.reply_str(421, "Service closing control connection.");
            self.drop_data();
            self.closing = true;
        }
    }
}

fn is_anonymous(name: &str) -> bool {
    name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp")
}

/// Drops `ls`-style options (`-la`) that clients put before a `LIST` path.
fn strip_options(arg: Option<&str>) -> &str {
    let mut rest = arg.unwrap_or("").trim_start();
    while rest.starts_with('-') {
        rest = rest.split_once(' ').map_or("", |(_, r)| r).trim_start();
    }
    rest
}

#[cfg(test)]
mod tests;
