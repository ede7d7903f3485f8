//! The FTP client on a simulated host: a list of operations run through
//! a core [`ClientSession`] over one control connection, with its data
//! connections as simulated streams, paced by the stream window so that
//! `ABOR` can land in the middle of a transfer. (The server is the
//! shipped one: [`SimServer::ftp`](crate::apps::server::SimServer::ftp).)

use std::collections::VecDeque;
use std::net::{SocketAddr, SocketAddrV4};

use netboot_core::ftp::client::{
    ClientSession, Event as ClientEvent, Failure, ListKind, Request, StoreMode,
};
use netboot_core::storage::{Storage, StoreError, WriteMode};
use netboot_core::time::Instant;

use crate::apps::v4;
use crate::store::Disk;
use crate::world::{App, Cx, StreamEvent, StreamId};

/// The FTP control port.
pub const PORT: u16 = 21;

/// Bytes moved per step of a data transfer.
const CHUNK: usize = 16 * 1024;

/// One operation of an [`FtpClient`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `USER` + `PASS`.
    Login {
        /// User name.
        user: String,
        /// Password.
        password: String,
    },
    /// Download `remote` from `offset` into the local file `local`
    /// (replaced when `offset` is 0, written in place from `offset`
    /// otherwise; an empty `local` keeps the bytes in [`OpResult::data`]
    /// only).
    Get {
        /// Remote path.
        remote: String,
        /// Local path.
        local: String,
        /// `REST` offset.
        offset: u64,
    },
    /// Upload the local file `local` (from `offset` for a resume).
    Put {
        /// Local path.
        local: String,
        /// Remote path.
        remote: String,
        /// How the remote file is written.
        mode: StoreMode,
    },
    /// Start a download and `ABOR` it after `after` bytes.
    GetAbort {
        /// Remote path.
        remote: String,
        /// Bytes received before aborting.
        after: u64,
    },
    /// Start an upload of `local` and `ABOR` it after `after` bytes.
    PutAbort {
        /// Local path.
        local: String,
        /// Remote path.
        remote: String,
        /// Bytes sent before aborting.
        after: u64,
    },
    /// `RNFR` + `RNTO`.
    Rename {
        /// Old name.
        from: String,
        /// New name.
        to: String,
    },
    /// `DELE`.
    Delete(String),
    /// `MKD`.
    MakeDir(String),
    /// `SIZE`.
    Size(String),
    /// `NLST` of a directory (the names land in [`OpResult::data`]).
    List(String),
    /// `QUIT`.
    Quit,
}

/// A failure, owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failed {
    /// The server refused with this code.
    Refused(u16),
    /// Protocol error.
    Protocol,
    /// No reply in time.
    Timeout,
    /// The data connection failed.
    DataConnection,
    /// Aborted with `ABOR`.
    Aborted,
    /// The session closed.
    Closed,
    /// The local file could not be read or written.
    Local(StoreError),
}

/// What became of an [`Op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpResult {
    /// The operation.
    pub op: Op,
    /// The final reply code, or the failure.
    pub result: Result<u16, Failed>,
    /// Bytes received on the data connection (downloads and listings).
    pub data: Vec<u8>,
    /// When it ended (host time).
    pub at: Instant,
}

/// An FTP client running [`Op`]s one after another on one session.
pub struct FtpClient {
    server: SocketAddrV4,
    ops: VecDeque<Op>,
    reply_timeout: Option<netboot_core::time::Duration>,
    ctrl: Option<StreamId>,
    session: Option<ClientSession>,
    input: Vec<u8>,
    current: Option<Op>,
    data: Option<StreamId>,
    data_eof: bool,
    data_reset: bool,
    started: bool,
    received: Vec<u8>,
    upload: Vec<u8>,
    upload_sent: usize,
    aborted: bool,
    buf: Vec<u8>,
    /// Every finished operation, in order.
    pub results: Vec<OpResult>,
    /// True once the session has ended (all operations done or failed).
    pub finished: bool,
    interactive: bool,
}

impl FtpClient {
    /// A client of the server at `server` (its control port).
    pub fn new(server: SocketAddrV4, ops: impl IntoIterator<Item = Op>) -> Self {
        FtpClient {
            server,
            ops: ops.into_iter().collect(),
            reply_timeout: None,
            ctrl: None,
            session: None,
            input: Vec::new(),
            current: None,
            data: None,
            data_eof: false,
            data_reset: false,
            started: false,
            received: Vec::new(),
            upload: Vec::new(),
            upload_sent: 0,
            aborted: false,
            buf: vec![0; 4096],
            results: Vec::new(),
            finished: false,
            interactive: false,
        }
    }

    /// Keeps the session open when the operations run out, waiting for
    /// more from [`FtpClient::push_ops`] (a test driving it step by step).
    pub fn interactive(mut self) -> Self {
        self.interactive = true;
        self
    }

    /// Adds operations and starts the next one if the session is idle.
    pub fn push_ops(&mut self, cx: &mut Cx<'_>, ops: impl IntoIterator<Item = Op>) {
        self.ops.extend(ops);
        self.next_op(cx);
        self.service(cx);
    }

    /// Sets how long to wait for each reply.
    pub fn reply_timeout(mut self, t: netboot_core::time::Duration) -> Self {
        self.reply_timeout = Some(t);
        self
    }

    fn finish_all(&mut self, cx: &mut Cx<'_>, why: Failed) {
        let now = cx.now();
        if let Some(op) = self.current.take() {
            self.results.push(OpResult {
                op,
                result: Err(why),
                data: Vec::new(),
                at: now,
            });
        }
        for op in self.ops.drain(..) {
            self.results.push(OpResult {
                op,
                result: Err(Failed::Closed),
                data: Vec::new(),
                at: now,
            });
        }
        self.drop_data(cx);
        if let Some(c) = self.ctrl.take() {
            cx.close(c);
        }
        self.finished = true;
    }

    fn drop_data(&mut self, cx: &mut Cx<'_>) {
        if let Some(d) = self.data.take() {
            cx.reset(d);
        }
        self.data_eof = false;
        self.data_reset = false;
        self.started = false;
    }

    /// Starts the next operation, if the session is idle.
    fn next_op(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        while self.current.is_none() {
            let Some(c) = self.session.as_mut() else {
                return;
            };
            if !c.is_idle() {
                return;
            }
            let Some(op) = self.ops.pop_front() else {
                if self.interactive {
                    return;
                }
                // Nothing left: hang up politely.
                if let Some(ctrl) = self.ctrl.take() {
                    cx.close(ctrl);
                }
                self.finished = true;
                return;
            };
            self.received.clear();
            self.upload.clear();
            self.upload_sent = 0;
            self.aborted = false;
            self.data_eof = false;
            self.data_reset = false;
            self.started = false;
            let request = match &op {
                Op::Login { user, password } => Request::Login { user, password },
                Op::Get { remote, offset, .. } => Request::Retrieve {
                    path: remote,
                    offset: *offset,
                },
                Op::GetAbort { remote, .. } => Request::Retrieve {
                    path: remote,
                    offset: 0,
                },
                Op::Put {
                    local,
                    remote,
                    mode,
                } => {
                    let from = match mode {
                        StoreMode::Resume(n) => *n as usize,
                        _ => 0,
                    };
                    match cx.store.borrow().get(local) {
                        Some(b) => self.upload = b.get(from..).unwrap_or_default().to_vec(),
                        None => {
                            self.results.push(OpResult {
                                op: op.clone(),
                                result: Err(Failed::Local(StoreError::NotFound)),
                                data: Vec::new(),
                                at: now,
                            });
                            continue;
                        }
                    }
                    Request::Store {
                        path: remote,
                        mode: *mode,
                    }
                }
                Op::PutAbort { local, remote, .. } => {
                    self.upload = cx.store.borrow().get(local).unwrap_or_default().to_vec();
                    Request::Store {
                        path: remote,
                        mode: StoreMode::Replace,
                    }
                }
                Op::Rename { from, to } => Request::Rename { from, to },
                Op::Delete(p) => Request::Delete(p),
                Op::MakeDir(p) => Request::MakeDir(p),
                Op::Size(p) => Request::Size(p),
                Op::List(p) => Request::List {
                    path: Some(p),
                    kind: ListKind::Names,
                },
                Op::Quit => Request::Quit,
            };
            match c.start(now, request) {
                Ok(()) => self.current = Some(op),
                Err(_) => self.results.push(OpResult {
                    op,
                    result: Err(Failed::Protocol),
                    data: Vec::new(),
                    at: now,
                }),
            }
        }
    }

    /// Drains the session and reacts to its events until it settles.
    fn service(&mut self, cx: &mut Cx<'_>) {
        for _ in 0..10_000 {
            let Some(c) = self.session.as_mut() else {
                return;
            };
            let now = cx.now();
            let used = c.handle_bytes(now, &self.input);
            self.input.drain(..used);
            let mut progressed = used > 0;
            while let Some(n) = c.poll_transmit(cx.now(), &mut self.buf) {
                if let Some(ctrl) = self.ctrl {
                    cx.write(ctrl, &self.buf[..n]);
                }
            }
            enum Next {
                Open(SocketAddrV4),
                Started,
                Done(Result<u16, Failed>),
            }
            let next = match c.poll_event() {
                None => None,
                Some(ClientEvent::OpenData(addr)) => Some(Next::Open(v4(addr))),
                Some(ClientEvent::TransferStarted { .. }) => Some(Next::Started),
                Some(ClientEvent::Done(r)) => Some(Next::Done(match r {
                    Ok(reply) => Ok(reply.code),
                    Err(Failure::Refused(reply)) => Err(Failed::Refused(reply.code)),
                    Err(Failure::Protocol) => Err(Failed::Protocol),
                    Err(Failure::Timeout) => Err(Failed::Timeout),
                    Err(Failure::DataConnection) => Err(Failed::DataConnection),
                    Err(Failure::Aborted) => Err(Failed::Aborted),
                    Err(_) => Err(Failed::Closed),
                })),
                Some(_) => None,
            };
            match next {
                Some(Next::Open(addr)) => {
                    progressed = true;
                    self.data = Some(cx.connect(addr));
                }
                Some(Next::Started) => {
                    progressed = true;
                    self.started = true;
                    self.data_step(cx);
                }
                Some(Next::Done(r)) => {
                    progressed = true;
                    self.done(cx, r);
                }
                None => {}
            }
            if !progressed {
                break;
            }
        }
        if self.session.as_ref().is_some_and(ClientSession::is_closed) && !self.finished {
            self.finish_all(cx, Failed::Closed);
        }
    }

    fn done(&mut self, cx: &mut Cx<'_>, result: Result<u16, Failed>) {
        let now = cx.now();
        let Some(op) = self.current.take() else {
            // The greeting.
            match result {
                Ok(_) => self.next_op(cx),
                Err(e) => self.finish_all(cx, e),
            }
            return;
        };
        let mut result = result;
        if result.is_ok()
            && let Op::Get { local, offset, .. } = &op
            && !local.is_empty()
            && let Err(e) = save(cx.store, local, *offset, &self.received)
        {
            result = Err(Failed::Local(e));
        }
        self.drop_data(cx);
        let quit = matches!(op, Op::Quit);
        self.results.push(OpResult {
            op,
            result,
            data: std::mem::take(&mut self.received),
            at: now,
        });
        if quit {
            if let Some(c) = self.ctrl.take() {
                cx.close(c);
            }
            self.finished = true;
            return;
        }
        self.next_op(cx);
    }

    /// Moves the data of the running transfer.
    fn data_step(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        let Some(data) = self.data else { return };
        if !self.started || self.aborted {
            return;
        }
        let Some(c) = self.session.as_mut() else {
            return;
        };
        match &self.current {
            Some(Op::Put { .. }) | Some(Op::PutAbort { .. }) => {
                let limit = match &self.current {
                    Some(Op::PutAbort { after, .. }) => (*after as usize).min(self.upload.len()),
                    _ => self.upload.len(),
                };
                while self.upload_sent < limit && cx.room(data) > 0 {
                    let n = cx.room(data).min(CHUNK).min(limit - self.upload_sent);
                    cx.write(data, &self.upload[self.upload_sent..self.upload_sent + n]);
                    self.upload_sent += n;
                }
                if self.upload_sent >= limit {
                    if matches!(self.current, Some(Op::PutAbort { .. })) {
                        self.aborted = true;
                        let _ = c.abort(now);
                        cx.reset(data);
                        self.data = None;
                    } else {
                        cx.close(data);
                        self.data = None;
                        let _ = c.data_finished(now, true);
                    }
                }
            }
            Some(Op::GetAbort { after, .. }) => {
                if self.data_reset {
                    // The server broke the download off first (a read
                    // error): nothing left to abort; its reply follows.
                    let _ = c.data_finished(now, false);
                    self.data = None;
                } else if self.received.len() as u64 >= *after || self.data_eof {
                    self.aborted = true;
                    let _ = c.abort(now);
                    cx.reset(data);
                    self.data = None;
                }
            }
            _ => {
                if self.data_eof || self.data_reset {
                    let ok = self.data_eof && !self.data_reset;
                    let _ = c.data_finished(now, ok);
                    if !ok {
                        self.data = None;
                    }
                }
            }
        }
    }
}

fn save(store: &mut Disk, local: &str, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
    let mode = if offset == 0 {
        WriteMode::Replace
    } else {
        WriteMode::At(offset)
    };
    let mut w = store.open_write(local, mode)?;
    if let Err(e) = store.write(&mut w, bytes) {
        store.discard(w);
        return Err(e);
    }
    store.commit(w)
}

impl App for FtpClient {
    fn start(&mut self, cx: &mut Cx<'_>) {
        self.ctrl = Some(cx.connect(self.server));
    }

    fn stream(&mut self, cx: &mut Cx<'_>, id: StreamId, event: StreamEvent<'_>) {
        let now = cx.now();
        if Some(id) == self.ctrl {
            match event {
                StreamEvent::Connected => {
                    let mut c = ClientSession::new(now, SocketAddr::V4(self.server));
                    if let Some(t) = self.reply_timeout {
                        c.set_reply_timeout(t);
                    }
                    self.session = Some(c);
                }
                StreamEvent::Refused => {
                    self.ctrl = None;
                    self.finish_all(cx, Failed::Closed);
                    return;
                }
                StreamEvent::Data(bytes) => self.input.extend_from_slice(bytes),
                StreamEvent::Eof | StreamEvent::Reset => {
                    if let Some(c) = self.session.as_mut() {
                        c.handle_close(now);
                    }
                }
                _ => {}
            }
            self.service(cx);
            return;
        }
        if Some(id) != self.data {
            return;
        }
        match event {
            StreamEvent::Connected => {
                if let Some(c) = self.session.as_mut() {
                    let _ = c.data_connected(now);
                }
            }
            StreamEvent::Refused => {
                self.data = None;
                if let Some(c) = self.session.as_mut() {
                    let _ = c.data_connect_failed(now);
                }
            }
            StreamEvent::Data(bytes) => {
                self.received.extend_from_slice(bytes);
                self.data_step(cx);
            }
            StreamEvent::Writable => self.data_step(cx),
            StreamEvent::Eof => {
                self.data_eof = true;
                self.data_step(cx);
            }
            StreamEvent::Reset => {
                self.data_reset = true;
                if matches!(
                    self.current,
                    Some(Op::Put { .. }) | Some(Op::PutAbort { .. })
                ) && self.started
                    && !self.aborted
                {
                    if let Some(c) = self.session.as_mut() {
                        let _ = c.data_finished(now, false);
                    }
                    self.data = None;
                } else {
                    self.data_step(cx);
                }
            }
            _ => {}
        }
        self.service(cx);
    }

    fn timeout(&mut self, cx: &mut Cx<'_>) {
        if let Some(c) = self.session.as_mut() {
            c.handle_timeout(cx.now());
        }
        self.service(cx);
    }

    fn deadline(&mut self) -> Option<Instant> {
        self.session.as_ref().and_then(ClientSession::poll_timeout)
    }
}
