//! FTP on a simulated host: a server on port 21 running one
//! [`ServerSession`] per control connection, and a client running a list
//! of operations through a [`ClientSession`].
//!
//! The server answers storage events with [`glue::perform`], sends
//! downloads and listings from an [`Outgoing`] and writes uploads with a
//! [`ReceivePump`], as the mio adapter does; data connections are simulated
//! streams, paced by the stream window so that `ABOR` can land in the
//! middle of a transfer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::{SocketAddr, SocketAddrV4};

use netboot_core::ftp::client::{
    ClientSession, Event as ClientEvent, Failure, ListKind, Request, StoreMode,
};
use netboot_core::ftp::server::glue::{self, Opened, Outgoing, ReceivePump, perform};
use netboot_core::ftp::server::{
    Event, ServerConfig, ServerSession, StorageAnswer, Transfer, TransferKind, TransferOutcome,
};
use netboot_core::storage::{MemReader, MemWriter, Storage, StoreError, WriteMode};
use netboot_core::time::Instant;

use crate::apps::bootp::UNIX_EPOCH_OF_ZERO;
use crate::apps::v4;
use crate::store::SimStore;
use crate::timers::Timers;
use crate::world::{App, Cx, StreamEvent, StreamId};

/// The FTP control port.
pub const PORT: u16 = 21;

/// Bytes moved per step of a data transfer.
const CHUNK: usize = 16 * 1024;

/// A user the server knows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    /// Name.
    pub name: String,
    /// Password.
    pub password: String,
    /// May modify the store.
    pub writable: bool,
}

enum Xfer {
    Send {
        source: Box<Outgoing>,
        /// The file a download reads (none for a listing).
        reader: Option<MemReader>,
        sent: u64,
        done: bool,
    },
    Receive {
        pump: ReceivePump,
        writer: MemWriter,
    },
}

struct Session {
    s: ServerSession,
    ctrl: StreamId,
    input: Vec<u8>,
    passive: Option<u16>,
    data: Option<StreamId>,
    data_eof: bool,
    data_reset: bool,
    early: Vec<u8>,
    reader: Option<MemReader>,
    writer: Option<MemWriter>,
    xfer: Option<Xfer>,
    xfer_path: String,
}

/// One finished data transfer, as the server saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerTransfer {
    /// The path.
    pub path: String,
    /// An upload (`STOR`, `APPE`, `STOU`).
    pub upload: bool,
    /// How it ended.
    pub outcome: TransferOutcome,
}

/// An FTP server.
pub struct FtpServer {
    config: ServerConfig,
    users: Vec<User>,
    sessions: BTreeMap<StreamId, Session>,
    data_of: HashMap<StreamId, StreamId>,
    passive_of: HashMap<u16, StreamId>,
    timers: Timers<StreamId>,
    buf: Vec<u8>,
    /// Every data transfer that ended, in order.
    pub transfers: Vec<ServerTransfer>,
    /// Control connections accepted.
    pub sessions_seen: u64,
}

impl FtpServer {
    /// A server with this policy and these users.
    pub fn new(config: ServerConfig, users: Vec<User>) -> Self {
        FtpServer {
            config,
            users,
            sessions: BTreeMap::new(),
            data_of: HashMap::new(),
            passive_of: HashMap::new(),
            timers: Timers::new(),
            buf: vec![0; CHUNK],
            transfers: Vec::new(),
            sessions_seen: 0,
        }
    }

    /// Sessions open now.
    pub fn active(&self) -> usize {
        self.sessions.len()
    }

    /// Runs a session until it has nothing more to say.
    fn service(&mut self, cx: &mut Cx<'_>, id: StreamId) {
        for _ in 0..10_000 {
            let Some(sess) = self.sessions.get_mut(&id) else {
                return;
            };
            let now = cx.now();
            let used = sess.s.handle_bytes(now, &sess.input);
            sess.input.drain(..used);
            let mut progressed = used > 0;
            while let Some(n) = sess.s.poll_transmit(now, &mut self.buf) {
                cx.write(sess.ctrl, &self.buf[..n]);
            }
            while self.one_event(cx, id) {
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        let Some(sess) = self.sessions.get_mut(&id) else {
            return;
        };
        if sess.s.is_closed() {
            let ctrl = sess.ctrl;
            self.drop_data(cx, id, true);
            cx.close(ctrl);
            self.sessions.remove(&id);
            self.timers.set(id, None);
        } else {
            self.timers.set(id, sess.s.poll_timeout());
        }
    }

    /// Handles one event of session `id`; `false` when there was none.
    fn one_event(&mut self, cx: &mut Cx<'_>, id: StreamId) -> bool {
        let now = cx.now();
        let users = &self.users;
        let Some(sess) = self.sessions.get_mut(&id) else {
            return false;
        };
        enum Next {
            Verify(Option<bool>),
            Stored(StorageAnswer),
            Listen,
            Connect(SocketAddrV4),
            Start(TransferKind, String, u64, bool),
            Abort,
            Stat,
            CloseData,
            Nothing,
        }
        let next = match sess.s.poll_event() {
            None => return false,
            Some(Event::VerifyLogin { user, password }) => {
                let verdict = users
                    .iter()
                    .find(|u| u.name == user && u.password == password)
                    .map(|u| u.writable);
                Next::Verify(verdict)
            }
            Some(Event::Storage(op)) => {
                let (answer, opened) = perform(cx.store, &op);
                match opened {
                    Opened::Reader(r) => sess.reader = Some(r),
                    Opened::Writer(w) => {
                        if let Some(old) = sess.writer.replace(w) {
                            cx.store.discard(old);
                        }
                    }
                    Opened::Nothing => {}
                }
                Next::Stored(answer)
            }
            Some(Event::Listen) => Next::Listen,
            Some(Event::Connect(addr)) => Next::Connect(v4(addr)),
            Some(Event::Transfer(t)) => Next::Start(t.kind, t.path.to_string(), t.offset, t.ascii),
            Some(Event::Abort) => Next::Abort,
            Some(Event::StatListing) => Next::Stat,
            Some(Event::CloseData) => Next::CloseData,
            Some(_) => Next::Nothing,
        };
        match next {
            Next::Verify(v) => {
                let _ = sess.s.login_verified(now, v);
            }
            Next::Stored(answer) => {
                let _ = sess.s.storage_done(now, answer);
            }
            Next::Listen => {
                if let Some(old) = sess.passive.take() {
                    cx.unlisten(old);
                    self.passive_of.remove(&old);
                }
                let port = cx.listen_ephemeral();
                sess.passive = Some(port);
                self.passive_of.insert(port, id);
                let _ = sess.s.passive_listening(now, port);
            }
            Next::Connect(addr) => {
                let data = cx.connect(addr);
                sess.data = Some(data);
                sess.data_eof = false;
                sess.data_reset = false;
                self.data_of.insert(data, id);
            }
            Next::Start(kind, path, offset, ascii) => {
                self.start_transfer(cx, id, kind, &path, offset, ascii)
            }
            Next::Abort => {
                self.drop_data(cx, id, true);
                if let Some(sess) = self.sessions.get_mut(&id) {
                    let _ = sess.s.transfer_done(now, TransferOutcome::Aborted);
                }
            }
            Next::Stat => {
                let unix = UNIX_EPOCH_OF_ZERO + now.as_micros() / 1_000_000;
                let _ = glue::stat_listing(&mut sess.s, cx.store, now, Some(unix));
            }
            Next::CloseData => self.drop_data(cx, id, false),
            Next::Nothing => {}
        }
        true
    }

    /// Drops the data connection, listener and open files of a session;
    /// with `transfer`, the running transfer too (its upload discarded).
    fn drop_data(&mut self, cx: &mut Cx<'_>, id: StreamId, transfer: bool) {
        let Some(sess) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(p) = sess.passive.take() {
            cx.unlisten(p);
            self.passive_of.remove(&p);
        }
        if let Some(d) = sess.data.take() {
            cx.reset(d);
            self.data_of.remove(&d);
        }
        sess.early.clear();
        sess.data_eof = false;
        sess.data_reset = false;
        sess.reader = None;
        if let Some(w) = sess.writer.take() {
            cx.store.discard(w);
        }
        if transfer && let Some(Xfer::Receive { writer, .. }) = sess.xfer.take() {
            cx.store.discard(writer);
        }
        if transfer {
            sess.xfer = None;
        }
    }

    fn start_transfer(
        &mut self,
        cx: &mut Cx<'_>,
        id: StreamId,
        kind: TransferKind,
        path: &str,
        offset: u64,
        ascii: bool,
    ) {
        let now = cx.now();
        let Some(sess) = self.sessions.get_mut(&id) else {
            return;
        };
        let unix = UNIX_EPOCH_OF_ZERO + now.as_micros() / 1_000_000;
        let transfer = Transfer {
            kind,
            path,
            offset,
            ascii,
        };
        let send = |source, reader| Xfer::Send {
            source: Box::new(source),
            reader,
            sent: 0,
            done: false,
        };
        let xfer = match Outgoing::for_transfer(&transfer, Some(unix)) {
            // A download needs the file the session opened.
            Some(source @ Outgoing::File(_)) => sess.reader.take().map(|r| send(source, Some(r))),
            Some(source) => Some(send(source, None)),
            None => sess.writer.take().map(|writer| Xfer::Receive {
                pump: ReceivePump::new(ascii),
                writer,
            }),
        };
        let Some(xfer) = xfer else {
            let _ = sess
                .s
                .transfer_done(now, TransferOutcome::Storage(StoreError::Io));
            return;
        };
        sess.xfer = Some(xfer);
        sess.xfer_path = path.to_string();
        let early = std::mem::take(&mut sess.early);
        if !early.is_empty() {
            self.receive(cx, id, early);
        }
        self.pump(cx, id);
    }

    /// Moves data of the running transfer as far as the stream allows and
    /// reports its end.
    fn pump(&mut self, cx: &mut Cx<'_>, id: StreamId) {
        let now = cx.now();
        let Some(sess) = self.sessions.get_mut(&id) else {
            return;
        };
        let Some(data) = sess.data else { return };
        let mut outcome = None;
        let mut upload = false;
        match &mut sess.xfer {
            Some(Xfer::Send {
                source,
                reader,
                sent,
                done,
            }) => {
                if sess.data_reset {
                    outcome = Some(TransferOutcome::ConnectionLost);
                } else {
                    while !*done && cx.room(data) > 0 {
                        let want = cx.room(data).clamp(1024, CHUNK);
                        let got = source.fill(cx.store, reader.as_mut(), &mut self.buf[..want]);
                        match got {
                            Ok(0) => {
                                *done = true;
                                cx.close(data);
                                outcome = Some(TransferOutcome::Complete { bytes: *sent });
                            }
                            Ok(n) => {
                                cx.write(data, &self.buf[..n]);
                                *sent += n as u64;
                                sess.s.transfer_progress(now, *sent);
                            }
                            Err(e) => {
                                *done = true;
                                cx.reset(data);
                                outcome = Some(TransferOutcome::Storage(e));
                            }
                        }
                    }
                }
            }
            Some(Xfer::Receive { .. }) => {
                upload = true;
                if sess.data_reset {
                    outcome = Some(TransferOutcome::ConnectionLost);
                } else if sess.data_eof
                    && let Some(Xfer::Receive { mut pump, writer }) = sess.xfer.take()
                {
                    outcome = Some(match pump.finish(cx.store, writer) {
                        Ok(bytes) => TransferOutcome::Complete { bytes },
                        Err(e) => TransferOutcome::Storage(e),
                    });
                    cx.close(data);
                }
            }
            None => {}
        }
        if let Some(outcome) = outcome {
            let path = std::mem::take(&mut sess.xfer_path);
            if let Some(Xfer::Receive { writer, .. }) = sess.xfer.take() {
                cx.store.discard(writer);
            }
            sess.xfer = None;
            sess.data = None;
            self.data_of.remove(&data);
            let _ = sess.s.transfer_done(now, outcome);
            self.transfers.push(ServerTransfer {
                path,
                upload,
                outcome,
            });
            self.service(cx, id);
        }
    }

    fn receive(&mut self, cx: &mut Cx<'_>, id: StreamId, mut bytes: Vec<u8>) {
        let now = cx.now();
        let Some(sess) = self.sessions.get_mut(&id) else {
            return;
        };
        match &mut sess.xfer {
            Some(Xfer::Receive { pump, writer }) => {
                if let Err(e) = pump.absorb(cx.store, writer, &mut bytes) {
                    if let Some(Xfer::Receive { writer, .. }) = sess.xfer.take() {
                        cx.store.discard(writer);
                    }
                    if let Some(d) = sess.data.take() {
                        cx.reset(d);
                        self.data_of.remove(&d);
                    }
                    let _ = sess.s.transfer_done(now, TransferOutcome::Storage(e));
                    self.transfers.push(ServerTransfer {
                        path: std::mem::take(&mut sess.xfer_path),
                        upload: true,
                        outcome: TransferOutcome::Storage(e),
                    });
                    self.service(cx, id);
                    return;
                }
                let total = pump.bytes();
                sess.s.transfer_progress(now, total);
            }
            Some(Xfer::Send { .. }) => {}
            None => sess.early.extend_from_slice(&bytes),
        }
    }
}

impl App for FtpServer {
    fn start(&mut self, cx: &mut Cx<'_>) {
        cx.listen(PORT);
    }

    fn stream(&mut self, cx: &mut Cx<'_>, id: StreamId, event: StreamEvent<'_>) {
        let now = cx.now();
        if let StreamEvent::Accepted { local, peer } = event {
            if local.port() == PORT {
                self.sessions_seen += 1;
                let s = ServerSession::new(now, self.config, peer, local);
                self.sessions.insert(
                    id,
                    Session {
                        s,
                        ctrl: id,
                        input: Vec::new(),
                        passive: None,
                        data: None,
                        data_eof: false,
                        data_reset: false,
                        early: Vec::new(),
                        reader: None,
                        writer: None,
                        xfer: None,
                        xfer_path: String::new(),
                    },
                );
                self.service(cx, id);
                return;
            }
            let Some(&sid) = self.passive_of.get(&local.port()) else {
                cx.reset(id);
                return;
            };
            let Some(sess) = self.sessions.get_mut(&sid) else {
                return;
            };
            if sess.data.is_none() && sess.s.accept_data_connection(now, peer) {
                if let Some(p) = sess.passive.take() {
                    cx.unlisten(p);
                    self.passive_of.remove(&p);
                }
                sess.data = Some(id);
                sess.data_eof = false;
                sess.data_reset = false;
                self.data_of.insert(id, sid);
                self.service(cx, sid);
            } else {
                cx.reset(id);
            }
            return;
        }
        if self.sessions.contains_key(&id) {
            match event {
                StreamEvent::Data(bytes) => {
                    if let Some(sess) = self.sessions.get_mut(&id) {
                        sess.input.extend_from_slice(bytes);
                    }
                    self.service(cx, id);
                }
                StreamEvent::Eof | StreamEvent::Reset => {
                    // The client went away: nothing more to answer.
                    self.drop_data(cx, id, true);
                    if matches!(event, StreamEvent::Eof) {
                        cx.close(id);
                    }
                    self.sessions.remove(&id);
                    self.timers.set(id, None);
                }
                _ => {}
            }
            return;
        }
        let Some(&sid) = self.data_of.get(&id) else {
            return;
        };
        match event {
            StreamEvent::Connected => {
                if let Some(sess) = self.sessions.get_mut(&sid) {
                    let _ = sess.s.data_connected(now);
                }
                self.service(cx, sid);
            }
            StreamEvent::Refused => {
                self.data_of.remove(&id);
                if let Some(sess) = self.sessions.get_mut(&sid) {
                    sess.data = None;
                    let _ = sess.s.data_connect_failed(now);
                }
                self.service(cx, sid);
            }
            StreamEvent::Data(bytes) => {
                self.receive(cx, sid, bytes.to_vec());
                self.service(cx, sid);
            }
            StreamEvent::Writable => self.pump(cx, sid),
            StreamEvent::Eof => {
                if let Some(sess) = self.sessions.get_mut(&sid) {
                    sess.data_eof = true;
                }
                self.pump(cx, sid);
            }
            StreamEvent::Reset => {
                if let Some(sess) = self.sessions.get_mut(&sid) {
                    sess.data_reset = true;
                    if sess.xfer.is_none() {
                        sess.data = None;
                        self.data_of.remove(&id);
                    }
                }
                self.pump(cx, sid);
            }
            _ => {}
        }
    }

    fn timeout(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        for id in self.timers.due(now) {
            if let Some(sess) = self.sessions.get_mut(&id) {
                sess.s.handle_timeout(now);
            }
            self.service(cx, id);
        }
    }

    fn deadline(&mut self) -> Option<Instant> {
        self.timers.earliest()
    }
}

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
                    match cx.store.get(local) {
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
                    self.upload = cx.store.get(local).unwrap_or_default().to_vec();
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

fn save(store: &mut SimStore, local: &str, offset: u64, bytes: &[u8]) -> Result<(), StoreError> {
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
