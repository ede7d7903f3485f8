//! The client side of an FTP control connection.
//!
//! A [`ClientSession`] runs one operation at a time ([`Request`]): log in,
//! download, upload, list, and the file-management commands. Replies come in
//! through [`ClientSession::handle_bytes`] (multi-line replies of RFC 959
//! §4.2 included); commands go out through
//! [`ClientSession::poll_transmit`]; the data connection is the driver's, who
//! is told through [`Event`]s when to open it and when data may flow, and
//! answers with method calls. The same draining rule as for every machine
//! applies: after each input or command, drain output, then the timeout,
//! then events.
//!
//! # Data connections
//!
//! Passive only, as every modern client: `EPSV` first (RFC 2428), and if the
//! server does not understand it (500, 501, 502 or 522), `PASV` from then on.
//! The address in a `227` reply is ignored and the control connection's peer
//! address used with its port, as curl does by default: servers behind NAT
//! often announce an address the client cannot reach, and a hostile server
//! could otherwise aim the client at a third host.
//!
//! Transfers use `TYPE I`; `REST` (RFC 3659 §5) resumes downloads and
//! uploads; `ABOR` stops a running transfer.

use core::net::SocketAddr;

use crate::time::{Duration, Instant};
use crate::wire::ftp::{
    Command, LineBuffer, ReplyParser, ReplyProgress, parse_extended, parse_pasv_reply,
};

/// Longest reply line kept (longer lines are truncated, not refused).
pub const MAX_REPLY_LINE: usize = 1024;
/// Longest argument (path, user name or password) a request may carry.
pub const MAX_ARG: usize = 512;

/// How an upload treats the remote file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    /// `STOR`: create or replace.
    Replace,
    /// `APPE`: append.
    Append,
    /// `REST n` + `STOR`: overwrite from offset `n` (resume an upload).
    Resume(u64),
}

/// Which listing to fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// `LIST`: human-readable lines.
    Long,
    /// `NLST`: names.
    Names,
    /// `MLSD`: RFC 3659 facts.
    Facts,
}

/// One operation.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `USER` + `PASS`.
    Login {
        /// User name (`anonymous` for anonymous access).
        user: &'a str,
        /// Password.
        password: &'a str,
    },
    /// Download `path` from `offset`.
    Retrieve {
        /// Remote path.
        path: &'a str,
        /// Where to start (`REST`), 0 for the whole file.
        offset: u64,
    },
    /// Upload to `path`.
    Store {
        /// Remote path.
        path: &'a str,
        /// Replace, append or resume.
        mode: StoreMode,
    },
    /// Fetch a listing of `path` (the working directory when `None`).
    List {
        /// Remote path.
        path: Option<&'a str>,
        /// Which listing.
        kind: ListKind,
    },
    /// `SIZE`.
    Size(&'a str),
    /// `DELE`.
    Delete(&'a str),
    /// `MKD`.
    MakeDir(&'a str),
    /// `RMD`.
    RemoveDir(&'a str),
    /// `RNFR` + `RNTO`.
    Rename {
        /// Old name.
        from: &'a str,
        /// New name.
        to: &'a str,
    },
    /// `CWD`.
    ChangeDir(&'a str),
    /// `PWD`.
    PrintDir,
    /// `NOOP`.
    Noop,
    /// `QUIT`.
    Quit,
}

/// A finished operation's final reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The reply code.
    pub code: u16,
    /// The text of its last line.
    pub text: &'a str,
}

impl Reply<'_> {
    /// The number in a `213` reply to `SIZE`.
    pub fn size(&self) -> Option<u64> {
        self.text.trim().parse().ok()
    }

    /// The quoted path of a `257` reply (`""` inside stands for `"`).
    pub fn quoted_path<'b>(&self, buf: &'b mut heapless::String<MAX_ARG>) -> Option<&'b str> {
        let rest = self.text.strip_prefix('"')?;
        buf.clear();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                } else {
                    return Some(buf.as_str());
                }
            }
            buf.push(c).ok()?;
        }
        None
    }
}

/// Why an operation failed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure<'a> {
    /// The server refused: its reply.
    Refused(Reply<'a>),
    /// The server sent something that is not an FTP reply, or a reply that
    /// makes no sense here (a `227` without an address...).
    Protocol,
    /// No reply within the configured time.
    Timeout,
    /// The data connection could not be made or broke.
    DataConnection,
    /// The operation was aborted with `ABOR`.
    Aborted,
    /// The server closed the session (`421`, or end of stream).
    Closed,
}

/// What the client needs from its driver, or has to tell it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// Open a data connection to this address and report it with
    /// [`ClientSession::data_connected`] or
    /// [`ClientSession::data_connect_failed`].
    OpenData(SocketAddr),
    /// The server is ready to move data (`125`/`150`): read the data
    /// connection to its end (downloads, listings) or write the file and
    /// close it (uploads), then call [`ClientSession::data_finished`].
    /// `size` is the byte count the server announced, if any.
    TransferStarted {
        /// Announced size, from the `(N bytes)` text most servers send.
        size: Option<u64>,
    },
    /// The current operation (or the greeting) finished.
    Done(Result<Reply<'a>, Failure<'a>>),
}

/// Misuse of the client API.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Another operation is still running (or the greeting has not come).
    #[error("another operation is in progress")]
    Busy,
    /// An argument contains CR, LF or NUL, or is longer than [`MAX_ARG`].
    #[error("argument cannot be sent on the control connection")]
    BadArgument,
    /// The session is closed.
    #[error("the session is closed")]
    Closed,
    /// The call does not fit the current state.
    #[error("not expected now")]
    Unexpected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Greeting,
    Login,
    Retrieve(u64),
    Store(StoreMode),
    List(ListKind),
    Simple,
    Rename,
    Quit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Greeting,
    User,
    Pass,
    Type,
    Epsv,
    Pasv,
    OpenData,
    Rest,
    TransferCommand,
    Running,
    Aborting,
    Simple,
    Rnfr,
    Rnto,
    Quit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    None,
    OpenData(SocketAddr),
    Started(Option<u64>),
    Done(Result<(), Fail>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fail {
    Refused,
    Protocol,
    Timeout,
    DataConnection,
    Aborted,
    Closed,
}

/// One FTP control connection, client side.
///
/// ```
/// use netboot_core::ftp::client::{ClientSession, Event, Request};
/// use netboot_core::time::Instant;
///
/// let now = Instant::ZERO;
/// let mut c = ClientSession::new(now, "127.0.0.1:21".parse().unwrap());
/// c.handle_bytes(now, b"220-Welcome\r\n to the server\r\n220 Ready\r\n");
/// assert!(matches!(c.poll_event(), Some(Event::Done(Ok(r))) if r.code == 220));
/// c.start(now, Request::Size("boot.img")).unwrap();
/// let mut buf = [0u8; 64];
/// let n = c.poll_transmit(now, &mut buf).unwrap();
/// assert_eq!(&buf[..n], b"SIZE boot.img\r\n");
/// c.handle_bytes(now, b"213 1440\r\n");
/// match c.poll_event() {
///     Some(Event::Done(Ok(reply))) => assert_eq!(reply.size(), Some(1440)),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Clone, Debug)]
pub struct ClientSession {
    peer: SocketAddr,
    lines: LineBuffer<MAX_REPLY_LINE>,
    parser: ReplyParser,
    out: heapless::Vec<u8, { MAX_ARG + 64 }>,
    op: Option<Op>,
    step: Step,
    arg1: heapless::String<MAX_ARG>,
    arg2: heapless::String<MAX_ARG>,
    code: u16,
    text: heapless::String<256>,
    pending: Pending,
    no_epsv: bool,
    binary: bool,
    data_done: bool,
    data_ok: bool,
    final_reply: Option<bool>,
    saw_426: bool,
    /// Replies still owed after `ABOR`: the transfer command's final reply
    /// (unless it already came) and the reply to `ABOR` itself.
    abort_replies: u8,
    reply_timeout: Duration,
    deadline: Option<Instant>,
    closed: bool,
}

impl ClientSession {
    /// A session on a control connection just opened to `peer`; it waits for
    /// the greeting, reported as the first [`Event::Done`].
    pub fn new(now: Instant, peer: SocketAddr) -> Self {
        let reply_timeout = Duration::from_secs(30);
        ClientSession {
            peer,
            lines: LineBuffer::new(),
            parser: ReplyParser::new(),
            out: heapless::Vec::new(),
            op: Some(Op::Greeting),
            step: Step::Greeting,
            arg1: heapless::String::new(),
            arg2: heapless::String::new(),
            code: 0,
            text: heapless::String::new(),
            pending: Pending::None,
            no_epsv: false,
            binary: false,
            data_done: false,
            data_ok: true,
            final_reply: None,
            saw_426: false,
            abort_replies: 0,
            reply_timeout,
            deadline: Some(now + reply_timeout),
            closed: false,
        }
    }

    /// Sets how long to wait for each reply (30 s by default). A reply
    /// already awaited (the greeting, right after [`new`](Self::new)) gets
    /// the new timeout too, counted from when its wait began.
    pub fn set_reply_timeout(&mut self, timeout: Duration) {
        if let Some(d) = self.deadline {
            self.deadline = Some(d - self.reply_timeout + timeout);
        }
        self.reply_timeout = timeout;
    }

    /// True when no operation is running and the session is usable.
    pub fn is_idle(&self) -> bool {
        self.op.is_none() && !self.closed
    }

    /// True once the session is over (after `QUIT`, a `421`, a protocol
    /// error or a timeout).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// True when `PASV` is used because the server refused `EPSV`.
    pub fn uses_pasv(&self) -> bool {
        self.no_epsv
    }

    /// Command bytes not yet handed out.
    pub fn output(&self) -> &[u8] {
        &self.out
    }

    fn advance_output(&mut self, n: usize) {
        let n = n.min(self.out.len());
        self.out.copy_within(n.., 0);
        self.out.truncate(self.out.len() - n);
    }

    /// Copies pending command bytes into `buf` (as many as fit) and
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

    /// When [`ClientSession::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        match core::mem::replace(&mut self.pending, Pending::None) {
            Pending::None => None,
            Pending::OpenData(addr) => Some(Event::OpenData(addr)),
            Pending::Started(size) => Some(Event::TransferStarted { size }),
            Pending::Done(result) => {
                let reply = Reply {
                    code: self.code,
                    text: &self.text,
                };
                Some(Event::Done(match result {
                    Ok(()) => Ok(reply),
                    Err(Fail::Refused) => Err(Failure::Refused(reply)),
                    Err(Fail::Protocol) => Err(Failure::Protocol),
                    Err(Fail::Timeout) => Err(Failure::Timeout),
                    Err(Fail::DataConnection) => Err(Failure::DataConnection),
                    Err(Fail::Aborted) => Err(Failure::Aborted),
                    Err(Fail::Closed) => Err(Failure::Closed),
                }))
            }
        }
    }

    fn send(&mut self, now: Instant, cmd: Command<'_>) {
        let mut buf = [0u8; MAX_ARG + 64];
        // Arguments were bounded when the request was accepted.
        if let Ok(n) = cmd.emit(&mut buf) {
            let _ = self.out.extend_from_slice(&buf[..n]);
        }
        self.deadline = Some(now + self.reply_timeout);
    }

    /// Starts an operation. Its end is reported as [`Event::Done`].
    pub fn start(&mut self, now: Instant, request: Request<'_>) -> Result<(), ClientError> {
        if self.closed {
            return Err(ClientError::Closed);
        }
        if self.op.is_some() || self.pending != Pending::None {
            return Err(ClientError::Busy);
        }
        let (a, b) = match request {
            Request::Login { user, password } => (user, password),
            Request::Retrieve { path, .. }
            | Request::Store { path, .. }
            | Request::Size(path)
            | Request::Delete(path)
            | Request::MakeDir(path)
            | Request::RemoveDir(path)
            | Request::ChangeDir(path) => (path, ""),
            Request::List { path, .. } => (path.unwrap_or(""), ""),
            Request::Rename { from, to } => (from, to),
            Request::PrintDir | Request::Noop | Request::Quit => ("", ""),
        };
        let bad = |s: &str| s.bytes().any(|c| matches!(c, b'\r' | b'\n' | 0));
        if bad(a) || bad(b) {
            return Err(ClientError::BadArgument);
        }
        self.arg1.clear();
        self.arg2.clear();
        self.arg1
            .push_str(a)
            .map_err(|_| ClientError::BadArgument)?;
        self.arg2
            .push_str(b)
            .map_err(|_| ClientError::BadArgument)?;
        self.data_done = false;
        self.data_ok = true;
        self.final_reply = None;
        self.saw_426 = false;
        let arg = self.arg1.clone();
        match request {
            Request::Login { user, .. } => {
                self.op = Some(Op::Login);
                self.step = Step::User;
                self.send(now, Command::User(user));
            }
            Request::Retrieve { offset, .. } => {
                self.op = Some(Op::Retrieve(offset));
                self.begin_data(now);
            }
            Request::Store { mode, .. } => {
                self.op = Some(Op::Store(mode));
                self.begin_data(now);
            }
            Request::List { kind, .. } => {
                self.op = Some(Op::List(kind));
                self.passive(now);
            }
            Request::Rename { from, .. } => {
                self.op = Some(Op::Rename);
                self.step = Step::Rnfr;
                self.send(now, Command::Rnfr(from));
            }
            Request::Quit => {
                self.op = Some(Op::Quit);
                self.step = Step::Quit;
                self.send(now, Command::Quit);
            }
            simple => {
                self.op = Some(Op::Simple);
                self.step = Step::Simple;
                let cmd = match simple {
                    Request::Size(_) => Command::Size(&arg),
                    Request::Delete(_) => Command::Dele(&arg),
                    Request::MakeDir(_) => Command::Mkd(&arg),
                    Request::RemoveDir(_) => Command::Rmd(&arg),
                    Request::ChangeDir(_) => Command::Cwd(&arg),
                    Request::PrintDir => Command::Pwd,
                    _ => Command::Noop,
                };
                self.send(now, cmd);
            }
        }
        Ok(())
    }

    fn begin_data(&mut self, now: Instant) {
        if self.binary {
            self.passive(now);
        } else {
            self.step = Step::Type;
            self.send(now, Command::Type(crate::wire::ftp::TypeCode::Image));
        }
    }

    fn passive(&mut self, now: Instant) {
        if self.no_epsv {
            self.step = Step::Pasv;
            self.send(now, Command::Pasv);
        } else {
            self.step = Step::Epsv;
            self.send(now, Command::Epsv(None));
        }
    }

    fn transfer_command(&mut self, now: Instant) {
        let arg = self.arg1.clone();
        self.step = Step::TransferCommand;
        let cmd = match self.op {
            Some(Op::Retrieve(_)) => Command::Retr(&arg),
            Some(Op::Store(StoreMode::Append)) => Command::Appe(&arg),
            Some(Op::Store(_)) => Command::Stor(&arg),
            Some(Op::List(kind)) => {
                let path = (!arg.is_empty()).then_some(arg.as_str());
                match kind {
                    ListKind::Long => Command::List(path),
                    ListKind::Names => Command::Nlst(path),
                    ListKind::Facts => Command::Mlsd(path),
                }
            }
            _ => return,
        };
        self.send(now, cmd);
    }

    /// The data connection asked for by [`Event::OpenData`] is up.
    pub fn data_connected(&mut self, now: Instant) -> Result<(), ClientError> {
        if self.step != Step::OpenData {
            return Err(ClientError::Unexpected);
        }
        let offset = match self.op {
            Some(Op::Retrieve(n)) | Some(Op::Store(StoreMode::Resume(n))) => n,
            _ => 0,
        };
        if offset > 0 {
            self.step = Step::Rest;
            self.send(now, Command::Rest(offset));
        } else {
            self.transfer_command(now);
        }
        Ok(())
    }

    /// The data connection could not be opened.
    pub fn data_connect_failed(&mut self, _now: Instant) -> Result<(), ClientError> {
        if self.step != Step::OpenData {
            return Err(ClientError::Unexpected);
        }
        self.finish(Err(Fail::DataConnection));
        Ok(())
    }

    /// The data side of the transfer is over: `ok` when the download reached
    /// its end or the upload was fully written and closed; false when the
    /// data connection broke.
    pub fn data_finished(&mut self, now: Instant, ok: bool) -> Result<(), ClientError> {
        if !matches!(self.step, Step::Running | Step::Aborting) || self.data_done {
            return Err(ClientError::Unexpected);
        }
        self.data_done = true;
        self.data_ok = ok;
        if self.step == Step::Running {
            self.deadline = Some(now + self.reply_timeout);
            self.try_complete_transfer();
        }
        Ok(())
    }

    /// Sends `ABOR` for the running transfer; the operation then ends with
    /// [`Failure::Aborted`]. The driver should close the data connection.
    pub fn abort(&mut self, now: Instant) -> Result<(), ClientError> {
        if !matches!(
            self.step,
            Step::Running | Step::TransferCommand | Step::OpenData
        ) {
            return Err(ClientError::Unexpected);
        }
        // RFC 959 §4.1.3: ABOR gets its own reply, and a transfer command
        // whose final reply has not come yet still gets one too (426 when
        // the transfer was cut short, 226 when it had finished and the
        // ABOR crossed its reply), so wait for both.
        self.abort_replies = match self.step {
            Step::OpenData => 1,
            _ if self.final_reply.is_some() => 1,
            _ => 2,
        };
        self.step = Step::Aborting;
        self.data_done = true;
        self.send(now, Command::Abor);
        Ok(())
    }

    fn try_complete_transfer(&mut self) {
        if let (true, Some(ok)) = (self.data_done, self.final_reply) {
            self.finish(match (ok, self.data_ok) {
                (true, true) => Ok(()),
                (true, false) => Err(Fail::DataConnection),
                (false, _) => Err(Fail::Refused),
            });
        }
    }

    fn finish(&mut self, result: Result<(), Fail>) {
        self.op = None;
        self.step = Step::Simple;
        self.deadline = None;
        if matches!(result, Err(Fail::Protocol | Fail::Timeout | Fail::Closed)) {
            self.closed = true;
        }
        self.pending = Pending::Done(result);
    }

    /// Feeds bytes from the control connection; returns how many were
    /// consumed (fewer while an event waits to be polled).
    pub fn handle_bytes(&mut self, now: Instant, bytes: &[u8]) -> usize {
        let mut used = 0;
        while used < bytes.len() && self.pending == Pending::None && !self.closed {
            let (n, found) = self.lines.push(&bytes[used..]);
            used += n;
            if found.is_none() {
                continue;
            }
            let mut line = [0u8; MAX_REPLY_LINE];
            let len = self.lines.line().len();
            line[..len].copy_from_slice(self.lines.line());
            self.lines.clear();
            let line = &line[..len];
            match self.parser.feed(line) {
                Ok(ReplyProgress::Complete(r)) => {
                    self.code = r.code;
                    self.text.clear();
                    for c in r.text.chars() {
                        if self.text.push(c).is_err() {
                            break;
                        }
                    }
                    self.reply(now);
                }
                Ok(_) => {}
                Err(_) => self.finish(Err(Fail::Protocol)),
            }
        }
        if self.closed { bytes.len() } else { used }
    }

    /// The server closed the control connection: the running operation
    /// fails with [`Failure::Closed`], except `QUIT`, which succeeds with a
    /// 221 reply of its own ("connection closed").
    pub fn handle_close(&mut self, _now: Instant) {
        if !self.closed {
            if self.op.is_some() && self.op != Some(Op::Quit) {
                self.finish(Err(Fail::Closed));
            } else if self.op == Some(Op::Quit) {
                // A server may hang up instead of answering QUIT: that is
                // the goodbye, reported as 221 rather than as the previous
                // command's reply.
                self.code = 221;
                self.text.clear();
                let _ = self.text.push_str("connection closed");
                self.finish(Ok(()));
            }
            self.closed = true;
        }
    }

    /// The reply deadline passed: the operation fails with
    /// [`Failure::Timeout`]. Early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| now >= d) && self.op.is_some() && !self.closed {
            self.finish(Err(Fail::Timeout));
        }
    }

    fn reply(&mut self, now: Instant) {
        let code = self.code;
        if code == 421 {
            return self.finish(Err(Fail::Closed));
        }
        let class = code / 100;
        if self.op.is_none() {
            // Unsolicited (a late reply to ABOR, say): ignored.
            return;
        }
        match self.step {
            Step::Greeting => match class {
                1 => {}
                2 => self.finish(Ok(())),
                _ => self.finish(Err(Fail::Refused)),
            },
            Step::User => match code {
                230 => self.finish(Ok(())),
                331 | 332 => {
                    self.step = Step::Pass;
                    let password = self.arg2.clone();
                    self.send(now, Command::Pass(&password));
                }
                _ => self.finish(Err(Fail::Refused)),
            },
            Step::Pass => match class {
                2 => self.finish(Ok(())),
                _ => self.finish(Err(Fail::Refused)),
            },
            Step::Type => {
                if class == 2 {
                    self.binary = true;
                    self.passive(now);
                } else {
                    self.finish(Err(Fail::Refused));
                }
            }
            Step::Epsv => match code {
                229 => {
                    let port = self
                        .text
                        .split_once('(')
                        .and_then(|(_, r)| r.split_once(')'))
                        .and_then(|(inner, _)| parse_extended(inner))
                        .map(|(_, _, port)| port);
                    match port {
                        Some(port) => self.open_data(SocketAddr::new(self.peer.ip(), port)),
                        None => self.finish(Err(Fail::Protocol)),
                    }
                }
                500 | 501 | 502 | 522 => {
                    self.no_epsv = true;
                    self.passive(now);
                }
                _ => self.finish(Err(Fail::Refused)),
            },
            Step::Pasv => match (code, parse_pasv_reply(&self.text)) {
                (227, Some(addr)) => self.open_data(SocketAddr::new(self.peer.ip(), addr.port())),
                (227, None) => self.finish(Err(Fail::Protocol)),
                _ => self.finish(Err(Fail::Refused)),
            },
            Step::OpenData => {}
            Step::Rest => {
                if code == 350 {
                    self.transfer_command(now);
                } else {
                    self.finish(Err(Fail::Refused));
                }
            }
            Step::TransferCommand => match class {
                1 => {
                    self.step = Step::Running;
                    self.deadline = None;
                    let size = announced_size(&self.text);
                    self.pending = Pending::Started(size);
                }
                _ => self.finish(Err(Fail::Refused)),
            },
            Step::Running => {
                self.final_reply = Some(class == 2);
                if self.data_done {
                    self.try_complete_transfer();
                } else {
                    self.deadline = None;
                }
            }
            Step::Aborting => {
                if class == 1 {
                    // The transfer command's preliminary reply.
                    return;
                }
                self.abort_replies = self.abort_replies.saturating_sub(1);
                match code {
                    426 | 451 => self.saw_426 = true,
                    _ if class == 2 && self.abort_replies == 0 => self.finish(Err(Fail::Aborted)),
                    _ if class == 2 => {}
                    _ => self.finish(Err(Fail::Refused)),
                }
            }
            Step::Simple => match class {
                2 => self.finish(Ok(())),
                _ => self.finish(Err(Fail::Refused)),
            },
            Step::Rnfr => {
                if code == 350 {
                    self.step = Step::Rnto;
                    let to = self.arg2.clone();
                    self.send(now, Command::Rnto(&to));
                } else {
                    self.finish(Err(Fail::Refused));
                }
            }
            Step::Rnto => match class {
                2 => self.finish(Ok(())),
                _ => self.finish(Err(Fail::Refused)),
            },
            Step::Quit => {
                self.finish(Ok(()));
                self.closed = true;
            }
        }
    }

    fn open_data(&mut self, addr: SocketAddr) {
        self.step = Step::OpenData;
        self.deadline = None;
        self.pending = Pending::OpenData(addr);
    }
}

/// The `(N bytes)` most servers put in their `150` reply.
fn announced_size(text: &str) -> Option<u64> {
    let (before, _) = text.rsplit_once(" bytes")?;
    // The digits at the end (sliced by length: the text may be any UTF-8).
    let digits = &before[before.trim_end_matches(|c: char| c.is_ascii_digit()).len()..];
    digits.parse().ok()
}

#[cfg(test)]
mod tests;
