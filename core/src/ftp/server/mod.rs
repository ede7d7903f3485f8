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
mod event;
pub mod glue;

pub use config::ServerConfig;
pub use event::{Event, StorageAnswer, StorageOp, Transfer, TransferKind, TransferOutcome};

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
/// let n = s.poll_transmit(&mut out);
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
/// let n = s.poll_transmit(&mut out);
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

const FEATURES: &[&str] = &[
    "EPRT",
    "EPSV",
    "MDTM",
    "PASV",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
];

const HELP: &str = "ABOR ACCT ALLO APPE CDUP CWD DELE EPRT EPSV FEAT HELP LIST MDTM MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PORT PWD QUIT REIN REST RETR RMD RNFR RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER";

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

    /// Copies pending reply bytes into `buf`; returns how many (0: none).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.out.len());
        buf[..n].copy_from_slice(&self.out[..n]);
        self.advance_output(n);
        n
    }

    /// Marks the first `n` bytes of [`ServerSession::output`] as sent.
    pub fn advance_output(&mut self, n: usize) {
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
                Event::Transfer(Transfer {
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

    fn user_cmd(&mut self, name: &str) {
        if matches!(self.login, Login::LoggedIn { .. }) {
            return self.reply_str(530, "Already logged in; use REIN to change user.");
        }
        self.user.clear();
        if self.user.push_str(name).is_err() || name.chars().any(char::is_control) {
            self.login = Login::AwaitUser;
            return self.reply_str(501, "User name too long.");
        }
        self.login = Login::AwaitPass;
        self.anonymous = is_anonymous(name);
        if self.anonymous && self.config.anonymous {
            self.reply_str(
                331,
                "Anonymous login okay, send your e-mail address as password.",
            )
        } else {
            self.reply_str(331, "Please specify the password.")
        }
    }

    fn pass_cmd(&mut self, now: Instant, password: &str) {
        match self.login {
            Login::AwaitUser => return self.reply_str(503, "Login with USER first."),
            Login::LoggedIn { .. } => return self.reply_str(230, "Already logged in."),
            Login::AwaitPass => {}
        }
        if self.anonymous {
            if self.config.anonymous {
                self.user.clear();
                let _ = self.user.push_str("anonymous");
                return self.logged_in(false);
            }
            // Refused exactly like a wrong password, delay included.
            self.busy = Busy::LoginDelay(now + self.config.login_delay);
            return;
        }
        self.secret.clear();
        if self.secret.push_str(password).is_err() {
            self.busy = Busy::LoginDelay(now + self.config.login_delay);
            return;
        }
        self.busy = Busy::Verifying;
        self.announce = Some(Announce::Verify);
    }

    fn logged_in(&mut self, writable: bool) {
        self.login = Login::LoggedIn { writable };
        self.failures = 0;
        self.cwd.clear();
        self.busy = Busy::Idle;
        self.announce = Some(Announce::LoggedIn);
        self.reply_str(230, "Login successful.");
    }

    /// The verdict on an [`Event::VerifyLogin`]: `Some(writable)` to accept
    /// the user (with or without write permission), `None` to refuse.
    pub fn login_verified(
        &mut self,
        now: Instant,
        verdict: Option<bool>,
    ) -> Result<(), SessionError> {
        if self.busy != Busy::Verifying || self.announce == Some(Announce::Verify) {
            return Err(SessionError::Unexpected);
        }
        self.secret.clear();
        match verdict {
            Some(writable) => {
                self.anonymous = false;
                self.logged_in(writable)
            }
            None => self.busy = Busy::LoginDelay(now + self.config.login_delay),
        }
        Ok(())
    }

    fn login_failed(&mut self) {
        self.busy = Busy::Idle;
        self.login = Login::AwaitUser;
        self.failures = self.failures.saturating_add(1);
        self.reply_str(530, "Login incorrect.");
        if self.failures >= self.config.max_login_attempts {
            self.reply_str(421, "Too many failed logins; closing control connection.");
            self.closing = true;
        }
    }

    fn resolve(&mut self, arg: &str) -> bool {
        match path::resolve(&self.cwd, arg, DotDot::Clamp) {
            Ok(p) => {
                self.path = p;
                true
            }
            Err(_) => {
                self.reply_str(553, "File name not allowed.");
                false
            }
        }
    }

    fn start_op(&mut self, op: Op, arg: &str) {
        if self.resolve(arg) {
            self.busy = Busy::Storage(op);
            self.announce = Some(Announce::Storage);
        }
    }

    fn start_write_op(&mut self, op: Op, arg: &str) {
        if !self.writable() {
            return self.reply_str(550, "Permission denied.");
        }
        self.start_op(op, arg);
    }

    fn start_transfer(&mut self, op: Op, arg: &str) {
        if matches!(op, Op::Stor(_) | Op::Stou(_)) && !self.writable() {
            self.rest = 0;
            return self.reply_str(550, "Permission denied.");
        }
        if self.data == Data::None {
            self.rest = 0;
            return self.reply_str(425, "Use PORT, PASV, EPRT or EPSV first.");
        }
        if let Op::Stou(_) = op {
            return self.stou_attempt(0);
        }
        self.start_op(op, arg);
    }

    fn stou_attempt(&mut self, attempt: u8) {
        self.stou_counter = self.stou_counter.wrapping_add(1);
        let mut name: heapless::String<24> = heapless::String::new();
        let _ = write!(name, "stou.{:08x}", self.stou_counter);
        if self.resolve(&name.clone()) {
            self.busy = Busy::Storage(Op::Stou(attempt));
            self.announce = Some(Announce::Storage);
        }
    }

    /// The answer to an [`Event::Storage`].
    pub fn storage_done(
        &mut self,
        now: Instant,
        answer: StorageAnswer,
    ) -> Result<(), SessionError> {
        let Busy::Storage(op) = self.busy else {
            return Err(SessionError::Unexpected);
        };
        if self.announce == Some(Announce::Storage) {
            return Err(SessionError::Unexpected);
        }
        self.busy = Busy::Idle;
        let meta = match answer {
            Err(StoreError::AlreadyExists) if matches!(op, Op::Stou(n) if n < 8) => {
                let Op::Stou(n) = op else { unreachable!() };
                self.stou_attempt(n + 1);
                return Ok(());
            }
            Err(e) => {
                if matches!(op, Op::Retr | Op::Stor(_) | Op::Stou(_) | Op::List(_)) {
                    self.rest = 0;
                }
                let (code, text) = store_reply(e);
                self.reply_str(code, text);
                return Ok(());
            }
            Ok(meta) => meta,
        };
        let path = self.path.clone();
        match op {
            Op::Cwd => match meta {
                Some(m) if m.is_dir() => {
                    self.cwd = path;
                    self.reply(
                        250,
                        format_args!("Directory changed to {}.", Absolute(&self.cwd.clone())),
                    )
                }
                _ => self.reply_str(550, "Not a directory."),
            },
            Op::Size => match meta {
                Some(m) if m.is_file() => self.reply(213, format_args!("{}", m.len)),
                _ => self.reply_str(550, "Not a regular file."),
            },
            Op::Mdtm => match meta {
                Some(Metadata {
                    modified: Some(t),
                    kind,
                    ..
                }) if kind != crate::storage::EntryKind::Directory => {
                    self.reply(213, format_args!("{}", DateTime::from_unix(t)))
                }
                _ => self.reply_str(550, "No modification time available."),
            },
            Op::Mlst => {
                let m = meta.unwrap_or(Metadata::directory());
                let facts = self.facts;
                let mark = self.out.len();
                let mut w = Out { buf: &mut self.out };
                let ok = write!(w, "250-Listing {}\r\n ", Absolute(&path)).is_ok()
                    && listing::write_facts(&mut w, &m, facts).is_ok()
                    && write!(w, "{}\r\n250 End.\r\n", Absolute(&path)).is_ok();
                if !ok {
                    self.out.truncate(mark);
                    self.reply_str(501, "Path too long for MLST.");
                }
            }
            Op::Mkd => self.reply(257, format_args!("{} created.", Quoted(&path))),
            Op::Rmd | Op::Dele => self.reply_str(250, "Done."),
            Op::Rnfr => {
                self.rnfr = path;
                self.rnfr_ready = true;
                self.reply_str(350, "Ready for RNTO.")
            }
            Op::Rnto => self.reply_str(250, "Rename successful."),
            Op::Retr => {
                let len = meta.map_or(0, |m| m.len);
                let offset = core::mem::take(&mut self.rest);
                if offset > len {
                    self.close_data = true;
                    self.data = Data::None;
                    self.reply_str(554, "Invalid REST parameter.");
                    return Ok(());
                }
                let mode = if self.ascii { "ASCII" } else { "BINARY" };
                self.begin_data(
                    now,
                    TransferKind::Retr,
                    offset,
                    format_args!(
                        "Opening {mode} mode data connection for {} ({len} bytes).",
                        Absolute(&path)
                    ),
                );
            }
            Op::Stor(_) => {
                self.rest = 0;
                self.begin_data(now, TransferKind::Stor, 0, format_args!("Ok to send data."));
            }
            Op::Stou(_) => {
                self.begin_data(
                    now,
                    TransferKind::Stor,
                    0,
                    format_args!("FILE: {}", path::file_name(&path)),
                );
            }
            Op::List(format) => {
                self.rest = 0;
                if format == ListFormat::Facts && !meta.is_some_and(|m| m.is_dir()) {
                    self.reply_str(501, "MLSD needs a directory.");
                    return Ok(());
                }
                let facts = self.facts;
                self.begin_data(
                    now,
                    TransferKind::List(format, facts),
                    0,
                    format_args!("Here comes the directory listing."),
                );
            }
        }
        Ok(())
    }

    fn begin_data(
        &mut self,
        now: Instant,
        kind: TransferKind,
        offset: u64,
        text: fmt::Arguments<'_>,
    ) {
        let phase = match self.data {
            Data::Passive { connected: true } => {
                self.reply(125, text);
                self.announce = Some(Announce::Transfer);
                Phase::Running
            }
            Data::Passive { connected: false } => {
                self.reply(150, text);
                Phase::AwaitConnection
            }
            Data::Active(addr) => {
                self.reply(150, text);
                self.announce = Some(Announce::Connect(addr));
                Phase::Connecting
            }
            Data::None => {
                self.close_data = true;
                return self.reply_str(425, "Use PORT, PASV, EPRT or EPSV first.");
            }
        };
        self.busy = Busy::Transfer(Xfer {
            kind,
            offset,
            phase,
            deadline: now + self.config.data_timeout,
            client_abort: false,
        });
    }

    fn active(&mut self, addr: SocketAddr) {
        if self.epsv_all {
            return self.reply_str(501, "EPSV ALL in effect; only EPSV is allowed.");
        }
        if !self.config.active {
            return self.reply_str(502, "Active mode is disabled; use PASV or EPSV.");
        }
        if canonical(addr.ip()) != canonical(self.peer.ip()) {
            return self.reply_str(
                504,
                "Data connections go only to the control connection's address (RFC 2577).",
            );
        }
        if addr.port() < 1024 {
            return self.reply_str(
                504,
                "Data connections to ports below 1024 are refused (RFC 2577).",
            );
        }
        self.drop_data();
        self.data = Data::Active(addr);
        self.reply_str(200, "PORT command successful.");
    }

    fn passive(&mut self, extended: bool, arg: Option<EpsvArg>) {
        let family = if canonical(self.local.ip()).is_ipv4() {
            1
        } else {
            2
        };
        match arg {
            Some(EpsvArg::All) => {
                self.epsv_all = true;
                return self.reply_str(200, "EPSV ALL ok.");
            }
            Some(EpsvArg::Protocol(n)) if n != family => {
                return self.reply(
                    522,
                    format_args!("Network protocol not supported, use ({family})."),
                );
            }
            _ => {}
        }
        if !extended && self.epsv_all {
            return self.reply_str(501, "EPSV ALL in effect; only EPSV is allowed.");
        }
        if !extended && family != 1 && self.config.masquerade.is_none_or(|m| !m.is_ipv4()) {
            return self.reply_str(522, "PASV needs IPv4; use EPSV.");
        }
        self.drop_data();
        self.busy = Busy::Listen { extended };
        self.announce = Some(Announce::Listen);
    }

    /// The passive listener asked for by [`Event::Listen`] is open on `port`.
    pub fn passive_listening(&mut self, _now: Instant, port: u16) -> Result<(), SessionError> {
        let Busy::Listen { extended } = self.busy else {
            return Err(SessionError::Unexpected);
        };
        self.busy = Busy::Idle;
        self.data = Data::Passive { connected: false };
        if extended {
            self.reply(
                229,
                format_args!("Entering Extended Passive Mode (|||{port}|)."),
            );
        } else {
            let ip = match self
                .config
                .masquerade
                .map(canonical)
                .unwrap_or(canonical(self.local.ip()))
            {
                IpAddr::V4(ip) => ip,
                IpAddr::V6(_) => core::net::Ipv4Addr::UNSPECIFIED,
            };
            let hp = format_host_port(core::net::SocketAddrV4::new(ip, port));
            self.reply(227, format_args!("Entering Passive Mode ({hp})."));
        }
        Ok(())
    }

    /// Opening the passive listener failed.
    pub fn passive_failed(&mut self, _now: Instant) -> Result<(), SessionError> {
        if !matches!(self.busy, Busy::Listen { .. }) {
            return Err(SessionError::Unexpected);
        }
        self.busy = Busy::Idle;
        self.reply_str(425, "Cannot open a passive connection.");
        Ok(())
    }

    /// A connection arrived on the passive listener from `from`. Returns
    /// true to keep it (then stop listening), false to close it: only the
    /// control connection's peer address may connect, and only once.
    pub fn accept_data_connection(&mut self, _now: Instant, from: SocketAddr) -> bool {
        if self.data != (Data::Passive { connected: false })
            || canonical(from.ip()) != canonical(self.peer.ip())
        {
            return false;
        }
        self.data = Data::Passive { connected: true };
        if let Busy::Transfer(x) = &mut self.busy
            && x.phase == Phase::AwaitConnection
        {
            x.phase = Phase::Running;
            self.announce = Some(Announce::Transfer);
        }
        true
    }

    /// The active-mode connection asked for by [`Event::Connect`] is up.
    pub fn data_connected(&mut self, now: Instant) -> Result<(), SessionError> {
        match &mut self.busy {
            Busy::Transfer(x) if x.phase == Phase::Connecting => {
                x.phase = Phase::Running;
                x.deadline = now + self.config.data_timeout;
                self.announce = Some(Announce::Transfer);
                Ok(())
            }
            _ => Err(SessionError::Unexpected),
        }
    }

    /// The active-mode connection could not be made.
    pub fn data_connect_failed(&mut self, _now: Instant) -> Result<(), SessionError> {
        match self.busy {
            Busy::Transfer(x) if x.phase == Phase::Connecting => {
                self.end_transfer();
                self.close_data = true;
                self.reply_str(425, "Cannot open data connection.");
                Ok(())
            }
            _ => Err(SessionError::Unexpected),
        }
    }

    /// Data moved: `bytes` in total so far. Keeps the data timeout at bay.
    pub fn transfer_progress(&mut self, now: Instant, _bytes: u64) {
        if let Busy::Transfer(x) = &mut self.busy
            && x.phase == Phase::Running
        {
            x.deadline = now + self.config.data_timeout;
        }
    }

    /// The transfer announced by [`Event::Transfer`] ended.
    pub fn transfer_done(
        &mut self,
        now: Instant,
        outcome: TransferOutcome,
    ) -> Result<(), SessionError> {
        let Busy::Transfer(x) = self.busy else {
            return Err(SessionError::Unexpected);
        };
        if !matches!(x.phase, Phase::Running | Phase::Aborting)
            || self.announce == Some(Announce::Transfer)
        {
            return Err(SessionError::Unexpected);
        }
        self.end_transfer();
        self.idle_deadline = now + self.config.idle_timeout;
        match outcome {
            TransferOutcome::Complete { bytes } if x.phase == Phase::Running => {
                self.reply(226, format_args!("Transfer complete ({bytes} bytes)."))
            }
            TransferOutcome::Complete { .. } | TransferOutcome::Aborted if x.client_abort => {
                self.reply_str(426, "Connection closed; transfer aborted.");
                self.reply_str(226, "ABOR successful.");
            }
            TransferOutcome::Complete { .. } | TransferOutcome::Aborted => {
                self.reply_str(426, "Data connection timed out; transfer aborted.")
            }
            TransferOutcome::ConnectionLost => {
                self.reply_str(426, "Connection closed; transfer aborted.")
            }
            TransferOutcome::Storage(e) => {
                let (code, text) = match e {
                    StoreError::Full => (552, "Insufficient storage space; transfer aborted."),
                    StoreError::AlreadyExists => (553, "File exists."),
                    _ => (451, "Local error in processing; transfer aborted."),
                };
                self.reply_str(code, text);
            }
        }
        Ok(())
    }

    fn end_transfer(&mut self) {
        self.busy = Busy::Idle;
        self.data = Data::None;
        if matches!(
            self.announce,
            Some(Announce::Transfer | Announce::Abort | Announce::Connect(_))
        ) {
            self.announce = None;
        }
    }

    fn drop_data(&mut self) {
        if self.data != Data::None {
            self.close_data = true;
        }
        self.data = Data::None;
    }

    fn abor(&mut self, _now: Instant) {
        match &mut self.busy {
            Busy::Transfer(x) => match x.phase {
                Phase::Running if self.announce == Some(Announce::Transfer) => {
                    // Announced but never started: nothing moved yet.
                    self.end_transfer();
                    self.close_data = true;
                    self.reply_str(426, "Connection closed; transfer aborted.");
                    self.reply_str(226, "ABOR successful.");
                }
                Phase::Running => {
                    x.phase = Phase::Aborting;
                    x.client_abort = true;
                    self.announce = Some(Announce::Abort);
                }
                Phase::Aborting => x.client_abort = true,
                Phase::AwaitConnection | Phase::Connecting => {
                    self.end_transfer();
                    self.close_data = true;
                    self.reply_str(426, "Connection closed; transfer aborted.");
                    self.reply_str(226, "ABOR successful.");
                }
            },
            _ => {
                self.drop_data();
                self.reply_str(225, "No transfer to abort.");
            }
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

    fn feat(&mut self) {
        let facts = self.facts;
        let mark = self.out.len();
        let mut w = Out { buf: &mut self.out };
        let mut ok = w.write_str("211-Features:\r\n").is_ok();
        for f in FEATURES {
            ok &= write!(w, " {f}\r\n").is_ok();
        }
        ok &= w.write_str(" MLST ").is_ok() && facts.write_feature(&mut w).is_ok();
        ok &= w.write_str("\r\n211 End\r\n").is_ok();
        if !ok {
            self.out.truncate(mark);
            self.closing = true;
        }
    }

    fn help(&mut self, code: u16) {
        let mark = self.out.len();
        let mut w = Out { buf: &mut self.out };
        if write!(
            w,
            "{code}-The following commands are recognized:\r\n {HELP}\r\n{code} Help OK.\r\n"
        )
        .is_err()
        {
            self.out.truncate(mark);
            self.closing = true;
        }
    }

    fn opts(&mut self, arg: &str) {
        let (name, value) = arg.split_once(' ').unwrap_or((arg, ""));
        if name.eq_ignore_ascii_case("UTF8") {
            if value.trim().eq_ignore_ascii_case("ON") || value.trim().is_empty() {
                self.reply_str(200, "Always in UTF8 mode.")
            } else {
                self.reply_str(504, "UTF8 cannot be turned off.")
            }
        } else if name.eq_ignore_ascii_case("MLST") {
            self.facts = Facts::select(value);
            let facts = self.facts;
            let mark = self.out.len();
            let mut w = Out { buf: &mut self.out };
            let mut ok = w.write_str("200 MLST OPTS ").is_ok();
            for (n, on) in [
                ("type", facts.kind),
                ("size", facts.size),
                ("modify", facts.modify),
                ("perm", facts.perm),
            ] {
                if on {
                    ok &= write!(w, "{n};").is_ok();
                }
            }
            ok &= w.write_str("\r\n").is_ok();
            if !ok {
                self.out.truncate(mark);
            }
        } else {
            self.reply_str(501, "Option not understood.")
        }
    }

    /// The answer to [`Event::StatListing`]: `fill` gets the path and a
    /// buffer and writes `ls -l` lines into it, returning how many bytes it
    /// wrote and whether the listing is complete.
    pub fn stat_listing(
        &mut self,
        _now: Instant,
        fill: impl FnOnce(&str, &mut [u8]) -> Result<(usize, bool), StoreError>,
    ) -> Result<(), SessionError> {
        if self.busy != Busy::StatListing || self.announce == Some(Announce::StatListing) {
            return Err(SessionError::Unexpected);
        }
        self.busy = Busy::Idle;
        const TRAILER: usize = 96;
        let mark = self.out.len();
        let mut w = Out { buf: &mut self.out };
        if write!(w, "213-Status of {}:\r\n", Absolute(&self.path)).is_err()
            || self.out.len() + TRAILER >= OUTPUT_CAPACITY
        {
            self.out.truncate(mark);
            self.reply_str(501, "Path too long for STAT.");
            return Ok(());
        }
        let start = self.out.len();
        let _ = self.out.resize(OUTPUT_CAPACITY - TRAILER, 0);
        match fill(&self.path, &mut self.out[start..]) {
            Ok((n, complete)) => {
                self.out
                    .truncate(start + n.min(OUTPUT_CAPACITY - TRAILER - start));
                if !complete {
                    let _ = self.out.extend_from_slice(b" (more entries: use LIST)\r\n");
                }
                let _ = self.out.extend_from_slice(b"213 End of status.\r\n");
            }
            Err(e) => {
                self.out.truncate(mark);
                let (code, text) = store_reply(e);
                self.reply_str(code, text);
            }
        }
        Ok(())
    }

    fn stat(&mut self) {
        let user = self.user().map_or("(not logged in)", |_| "");
        let mark = self.out.len();
        let transferring = matches!(self.busy, Busy::Transfer(_));
        let mut w = Out { buf: &mut self.out };
        let ok = write!(
            w,
            "211-netboot FTP server status:\r\n Connected to {}\r\n Logged in as {}{}\r\n TYPE: {}\r\n {}\r\n211 End of status.\r\n",
            self.peer,
            self.user.as_str(),
            user,
            if self.ascii { "ASCII" } else { "BINARY" },
            if transferring { "Data transfer in progress" } else { "No data connection" },
        )
        .is_ok();
        if !ok {
            self.out.truncate(mark);
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
