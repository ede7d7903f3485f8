//! One TFTP transfer: the state both ends share, the start of each of the
//! four roles (server read, server write, client read, client write), and
//! the dispatch of datagrams and timeouts to the sending ([`super::send`])
//! or receiving ([`super::recv`]) engine.

use core::net::SocketAddr;

use super::netascii::Decoder;
use super::options::{self, Direction, Negotiated, Request};
use super::rto::{Rto, RtoConfig};
use super::{ApiError, Event, Ignored, TransferError};
use crate::Transmit;
use crate::path::MAX_PATH_LEN;
use crate::time::{Duration, Instant};
use crate::wire::tftp::{DATA_HEADER_LEN, ErrorCode, Mode, OptionsBuf, Packet, emit_data_header};

/// Settings shared by every transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransferConfig {
    /// The retransmission timer's bounds (when `timeout` is not negotiated).
    pub rto: RtoConfig,
    /// Consecutive timeouts tolerated before the transfer fails...
    pub max_retries: u8,
    /// ...provided the peer has also been silent this long: with a
    /// millisecond timer, `max_retries` alone would give up on a peer that
    /// pauses for a second.
    pub give_up_after: Duration,
    /// The least time a receiver lingers after its final ACK to answer a
    /// retransmitted final DATA; it lingers at least four current RTOs (four
    /// negotiated timeouts) in any case, and starts over whenever the sender
    /// repeats a block. Zero means just that.
    pub dally: Duration,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            rto: RtoConfig::default(),
            max_retries: 8,
            give_up_after: Duration::from_secs(10),
            dally: Duration::ZERO,
        }
    }
}

/// Which end of which transfer a [`Transfer`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A server sending a file (it received an RRQ).
    ServerRead,
    /// A server receiving a file (it received a WRQ).
    ServerWrite,
    /// A client fetching a file (it sends an RRQ).
    ClientRead,
    /// A client sending a file (it sends a WRQ).
    ClientWrite,
}

impl Role {
    /// True for the roles that send DATA.
    pub const fn is_sender(self) -> bool {
        matches!(self, Role::ServerRead | Role::ClientWrite)
    }

    /// True for the client roles.
    pub const fn is_client(self) -> bool {
        matches!(self, Role::ClientRead | Role::ClientWrite)
    }

    /// The request's direction: `Read` for RRQ transfers.
    pub const fn direction(self) -> Direction {
        match self {
            Role::ServerRead | Role::ClientRead => Direction::Read,
            Role::ServerWrite | Role::ClientWrite => Direction::Write,
        }
    }
}

/// Bytes of a received DATA block, ready to store (see [`Transfer::payload`]).
#[derive(Debug, PartialEq, Eq)]
pub struct Payload<'b> {
    /// A byte to store before `data` (netascii only: a stray CR that ended
    /// the previous block).
    pub prefix: Option<u8>,
    /// The bytes to store.
    pub data: &'b [u8],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    /// Client: request sent, no answer yet.
    Requesting,
    /// Server read: OACK sent, waiting for ACK 0.
    OackSent,
    Sending,
    Receiving,
    /// Receiver: final ACK sent, answering repeats until `deadline`.
    Dallying,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Ctl {
    Request,
    Oack,
    Ack(u16),
    Error(ErrorCode, &'static str),
}

const MAX_STRAYS: usize = 4;
const MAX_EVENTS: usize = 8;
const MAX_PEER_MESSAGE: usize = 128;

/// One TFTP transfer, on either end, sending or receiving.
///
/// Built by [`Server`](super::Server) for a request, or by
/// [`Transfer::client_read`] / [`Transfer::client_write`]; see the
/// [module docs](super) for how to drive it. Its size is fixed (under
/// 3 KiB): the file data never lives in it.
#[derive(Debug)]
pub struct Transfer {
    pub(super) role: Role,
    pub(super) state: State,
    pub(super) peer: SocketAddr,
    pub(super) locked: bool,
    pub(super) mode: Mode,
    pub(super) name: heapless::String<MAX_PATH_LEN>,
    pub(super) request: Request,
    pub(super) request_buf: OptionsBuf,
    pub(super) oack: OptionsBuf,
    pub(super) neg: Negotiated,
    pub(super) config: TransferConfig,
    pub(super) rto: Rto,
    pub(super) retries: u8,
    /// The outcome (`Done` or `Failed`) has been reported.
    pub(super) finished: bool,
    /// When the peer last moved the transfer forward.
    pub(super) progress_at: Instant,
    pub(super) deadline: Option<Instant>,
    pub(super) ctl: Option<Ctl>,
    /// The queued control packet is a first transmission.
    pub(super) ctl_fresh: bool,
    /// When the last control packet was first sent, for an RTT sample.
    pub(super) probe: Option<Instant>,
    pub(super) strays: heapless::Deque<SocketAddr, MAX_STRAYS>,
    pub(super) events: heapless::Deque<Event, MAX_EVENTS>,
    pub(super) peer_message: heapless::String<MAX_PEER_MESSAGE>,
    pub(super) max_upload: Option<u64>,
    /// File bytes acknowledged (sender) or stored (receiver).
    pub(super) bytes: u64,
    pub(super) send: super::send::Sender,
    pub(super) recv: super::recv::Receiver,
    pub(super) decoder: Decoder,
}

impl Transfer {
    #[allow(clippy::too_many_arguments)]
    fn new(
        now: Instant,
        role: Role,
        config: &TransferConfig,
        peer: SocketAddr,
        name: &str,
        mode: Mode,
        neg: Negotiated,
        state: State,
    ) -> Result<Transfer, ApiError> {
        let mut n = heapless::String::new();
        n.push_str(name).map_err(|_| ApiError::NameTooLong)?;
        let mut t = Transfer {
            role,
            state,
            peer,
            locked: !role.is_client(),
            mode,
            name: n,
            request: Request::default(),
            request_buf: OptionsBuf::new(),
            oack: OptionsBuf::new(),
            neg,
            config: *config,
            rto: Rto::adaptive(config.rto),
            retries: 0,
            finished: false,
            progress_at: now,
            deadline: None,
            ctl: None,
            ctl_fresh: true,
            probe: None,
            strays: heapless::Deque::new(),
            events: heapless::Deque::new(),
            peer_message: heapless::String::new(),
            max_upload: None,
            bytes: 0,
            send: super::send::Sender::new(),
            recv: super::recv::Receiver::new(),
            decoder: Decoder::new(),
        };
        t.apply_negotiated(now, state != State::Requesting);
        Ok(t)
    }

    /// A server transfer sending `path` to `peer` (after an RRQ accepted by
    /// [`Server`](super::Server)). A non-empty `oack` is sent first and
    /// must be acknowledged with ACK 0.
    #[allow(clippy::too_many_arguments)]
    pub fn server_read(
        now: Instant,
        config: &TransferConfig,
        peer: SocketAddr,
        path: &str,
        mode: Mode,
        neg: Negotiated,
        oack: OptionsBuf,
    ) -> Result<Transfer, ApiError> {
        let state = if oack.options().is_empty() {
            State::Sending
        } else {
            State::OackSent
        };
        let mut t = Transfer::new(now, Role::ServerRead, config, peer, path, mode, neg, state)?;
        if state == State::OackSent {
            t.oack = oack;
            t.queue_ctl(Ctl::Oack, true);
            t.arm(now);
        }
        Ok(t)
    }

    /// A server transfer receiving `path` from `peer` (after a WRQ). It
    /// answers with the `oack`, or with ACK 0 when that is empty, and stops
    /// an upload that grows past `max_upload` bytes with ERROR 3.
    #[allow(clippy::too_many_arguments)]
    pub fn server_write(
        now: Instant,
        config: &TransferConfig,
        peer: SocketAddr,
        path: &str,
        mode: Mode,
        neg: Negotiated,
        oack: OptionsBuf,
        max_upload: Option<u64>,
    ) -> Result<Transfer, ApiError> {
        let mut t = Transfer::new(
            now,
            Role::ServerWrite,
            config,
            peer,
            path,
            mode,
            neg,
            State::Receiving,
        )?;
        t.max_upload = max_upload;
        t.oack = oack;
        let first = if t.oack.options().is_empty() {
            Ctl::Ack(0)
        } else {
            Ctl::Oack
        };
        t.queue_ctl(first, true);
        t.arm(now);
        Ok(t)
    }

    /// A client fetching `filename` from the server at `server` (its
    /// well-known port), asking for the options in `request`.
    ///
    /// ```
    /// use netboot_core::tftp::{options::Request, Transfer, TransferConfig};
    /// use netboot_core::time::Instant;
    /// use netboot_core::wire::tftp::{Mode, Packet};
    ///
    /// let server = "192.0.2.1:69".parse().unwrap();
    /// let req = Request { blksize: Some(1468), ..Request::default() };
    /// let mut t = Transfer::client_read(Instant::ZERO, &TransferConfig::default(),
    ///     server, "boot.bin", Mode::Octet, req).unwrap();
    /// let mut buf = [0u8; 600];
    /// let tx = t.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    /// assert_eq!(tx.destination, server);
    /// assert!(matches!(Packet::parse(&buf[..tx.len]), Ok(Packet::Rrq { filename: "boot.bin", .. })));
    /// ```
    pub fn client_read(
        now: Instant,
        config: &TransferConfig,
        server: SocketAddr,
        filename: &str,
        mode: Mode,
        request: Request,
    ) -> Result<Transfer, ApiError> {
        Transfer::client(
            now,
            Role::ClientRead,
            config,
            server,
            filename,
            mode,
            request,
        )
    }

    /// A client sending a file to be stored as `filename` on the server at
    /// `server`. Put the file's size in `request.tsize` to announce it.
    pub fn client_write(
        now: Instant,
        config: &TransferConfig,
        server: SocketAddr,
        filename: &str,
        mode: Mode,
        mut request: Request,
    ) -> Result<Transfer, ApiError> {
        if mode == Mode::Netascii {
            // The wire size of netascii is unknown in advance, and the
            // encoder state is kept for a bounded window only.
            request.tsize = None;
            request.windowsize = request
                .windowsize
                .map(|w| w.min(options::NETASCII_MAX_WINDOW));
        }
        Transfer::client(
            now,
            Role::ClientWrite,
            config,
            server,
            filename,
            mode,
            request,
        )
    }

    fn client(
        now: Instant,
        role: Role,
        config: &TransferConfig,
        server: SocketAddr,
        filename: &str,
        mode: Mode,
        request: Request,
    ) -> Result<Transfer, ApiError> {
        let mut t = Transfer::new(
            now,
            role,
            config,
            server,
            filename,
            mode,
            Negotiated::default(),
            State::Requesting,
        )?;
        t.request = request;
        t.request_buf = request.encode();
        t.queue_ctl(Ctl::Request, true);
        t.arm(now);
        Ok(t)
    }

    pub(super) fn apply_negotiated(&mut self, _now: Instant, announce: bool) {
        self.rto = match self.neg.timeout {
            Some(secs) => Rto::fixed(Duration::from_secs(secs.into())),
            None => self.rto,
        };
        if self.role.is_sender() && self.mode == Mode::Netascii {
            self.neg.windowsize = self.neg.windowsize.min(options::NETASCII_MAX_WINDOW);
        }
        if announce {
            let _ = self.events.push_back(Event::Negotiated(self.neg));
        }
    }

    // ---- getters ----

    /// Which end of which transfer this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's address (for a client, the server's transfer address
    /// once it answered, its request address before).
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The file: the normalised path on a server, the requested name on a
    /// client.
    pub fn path(&self) -> &str {
        &self.name
    }

    /// The transfer mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The option values in force (defaults until negotiation is over).
    pub fn negotiated(&self) -> Negotiated {
        self.neg
    }

    /// File bytes acknowledged by the peer (sending) or stored (receiving).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The peer's ERROR message, if it sent one (cut to 128 bytes).
    pub fn peer_message(&self) -> &str {
        &self.peer_message
    }

    /// The retransmission timer.
    pub fn rto(&self) -> &Rto {
        &self.rto
    }

    /// True once the transfer is over and has nothing left to send: the
    /// driver may drop it and close its socket.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
            && self.ctl.is_none()
            && self.strays.is_empty()
            && self.events.is_empty()
    }

    /// The transmit buffer a driver must lend: a DATA header plus the block.
    pub fn buffer_len(&self) -> usize {
        (DATA_HEADER_LEN + usize::from(self.neg.blksize)).max(MAX_PATH_LEN + 128)
    }

    // ---- input ----

    /// Feeds a datagram that arrived on this transfer's socket from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.state == State::Closed {
            return;
        }
        if !self.accepts_from(from) {
            // RFC 1350 section 4: answer an unknown TID, leave the transfer be.
            if !matches!(Packet::parse(bytes), Ok(Packet::Error { .. }) | Err(_))
                && !self.strays.iter().any(|a| *a == from)
            {
                let _ = self.strays.push_back(from);
            }
            self.ignore(Ignored::UnknownTid);
            return;
        }
        let packet = match Packet::parse(bytes) {
            Ok(p) => p,
            Err(e) => {
                self.ignore(Ignored::Malformed(e));
                return;
            }
        };
        if let Packet::Error { code, message } = packet {
            self.lock(from);
            self.peer_message.clear();
            let mut end = message.len().min(MAX_PEER_MESSAGE);
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            let _ = self.peer_message.push_str(&message[..end]);
            self.finish_failed(TransferError::Peer { code }, None);
            return;
        }
        match (self.state, packet) {
            (State::Requesting, Packet::Oack { options }) => {
                self.lock(from);
                match options::accept_oack(&self.request, options) {
                    Ok(neg) => {
                        self.take_probe(now);
                        self.neg = neg;
                        self.progress(now);
                        self.apply_negotiated(now, true);
                        if self.role == Role::ClientRead {
                            self.state = State::Receiving;
                            self.queue_ctl(Ctl::Ack(0), true);
                            self.arm(now);
                        } else {
                            self.state = State::Sending;
                            self.deadline = None;
                        }
                    }
                    Err(e) => self.finish_failed(
                        TransferError::Options(e),
                        Some((
                            ErrorCode::OptionRefused,
                            "unacceptable option acknowledgement",
                        )),
                    ),
                }
            }
            (State::Requesting, Packet::Data { block: 1, .. }) if self.role == Role::ClientRead => {
                // The server ignored our options: RFC 1350 defaults.
                self.lock(from);
                self.neg = Negotiated::default();
                self.progress(now);
                self.state = State::Receiving;
                self.apply_negotiated(now, true);
                self.on_data(now, packet);
            }
            (State::Requesting, Packet::Ack { block: 0 }) if self.role == Role::ClientWrite => {
                self.lock(from);
                self.take_probe(now);
                self.neg = Negotiated::default();
                self.progress(now);
                self.state = State::Sending;
                self.deadline = None;
                self.apply_negotiated(now, true);
            }
            (State::Requesting, _) => self.ignore(Ignored::Stale),
            (State::OackSent, Packet::Ack { block: 0 }) => {
                self.take_probe(now);
                self.progress(now);
                self.state = State::Sending;
                self.deadline = None;
                self.ctl = None;
            }
            (State::OackSent | State::Sending, Packet::Ack { block }) => self.on_ack(now, block),
            (State::Receiving | State::Dallying, Packet::Data { .. }) => self.on_data(now, packet),
            (State::Dallying, _) => self.ignore(Ignored::Stale),
            (State::Sending | State::OackSent, Packet::Oack { .. })
            | (State::Receiving, Packet::Oack { .. } | Packet::Ack { .. }) => {
                // A late duplicate of the negotiation, or our own kind of
                // packet echoed: harmless.
                self.ignore(Ignored::Stale);
            }
            _ => self.finish_failed(
                TransferError::Protocol("unexpected packet"),
                Some((ErrorCode::IllegalOperation, "illegal TFTP operation")),
            ),
        }
    }

    /// Call when the deadline from [`Transfer::poll_timeout`] has passed;
    /// an early or repeated call does nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.deadline {
            Some(d) if d <= now => {}
            _ => return,
        }
        self.deadline = None;
        match self.state {
            State::Closed => {}
            State::Dallying => {
                self.state = State::Closed;
            }
            _ if self.retries >= self.config.max_retries
                && now.saturating_duration_since(self.progress_at) >= self.config.give_up_after =>
            {
                let retries = self.retries;
                self.finish_failed(
                    TransferError::TimedOut { retries },
                    Some((ErrorCode::NotDefined, "timed out")),
                );
            }
            State::Requesting | State::OackSent => {
                self.retries = self.retries.saturating_add(1);
                self.rto.back_off();
                let again = if self.state == State::Requesting {
                    Ctl::Request
                } else {
                    Ctl::Oack
                };
                self.queue_ctl(again, false);
                self.arm(now);
            }
            State::Sending => self.send_timeout(now),
            State::Receiving => self.recv_timeout(now),
        }
    }

    /// Abandons the transfer: the peer gets ERROR 0 and the driver a
    /// [`Event::Failed`] with [`TransferError::Cancelled`].
    pub fn close(&mut self, _now: Instant) {
        if !matches!(self.state, State::Closed | State::Dallying) {
            self.finish_failed(
                TransferError::Cancelled,
                Some((ErrorCode::NotDefined, "transfer cancelled")),
            );
        } else {
            self.state = State::Closed;
            self.deadline = None;
        }
    }

    // ---- output ----

    /// Writes the next datagram into `buf` (at least
    /// [`Transfer::buffer_len`] bytes; a DATA block's payload must already
    /// be there, see [`Event::Read`]).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some(t) = self.transmit_staged(now, buf) {
            return Some(t);
        }
        if let Some(ctl) = self.ctl {
            let len = match ctl {
                Ctl::Request => {
                    let filename = self.name.as_str();
                    let options = self.request_buf.options();
                    let mode = self.mode;
                    if self.role == Role::ClientRead {
                        Packet::Rrq {
                            filename,
                            mode,
                            options,
                        }
                    } else {
                        Packet::Wrq {
                            filename,
                            mode,
                            options,
                        }
                    }
                    .emit(buf)
                }
                Ctl::Oack => Packet::Oack {
                    options: self.oack.options(),
                }
                .emit(buf),
                Ctl::Ack(block) => Packet::Ack { block }.emit(buf),
                Ctl::Error(code, message) => Packet::Error { code, message }.emit(buf),
            };
            self.ctl = None;
            if let Ok(len) = len {
                if !matches!(ctl, Ctl::Error(..)) {
                    // Karn's rule: only a first transmission is timed.
                    self.probe = self.ctl_fresh.then_some(now);
                }
                if let Ctl::Ack(_) = ctl {
                    self.recv.acked_at = Some(now);
                }
                return Some(Transmit::to(self.peer, len));
            }
        }
        while let Some(to) = self.strays.pop_front() {
            if let Ok(len) = (Packet::Error {
                code: ErrorCode::UnknownTid,
                message: "unknown transfer ID",
            })
            .emit(buf)
            {
                return Some(Transmit::to(to, len));
            }
        }
        None
    }

    fn transmit_staged(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let (block, len) = self.take_staged(now)?;
        let total = DATA_HEADER_LEN + len;
        if buf.len() < total || emit_data_header(buf, block).is_err() {
            return None;
        }
        Some(Transmit::to(self.peer, total))
    }

    /// When [`Transfer::handle_timeout`] is due next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        self.next_read()
    }

    // ---- commands answering storage events ----

    /// Answers [`Event::Read`]: `result` is how many bytes were read into
    /// `buf[start..]` (fewer than `len` only at the end of the file) or the
    /// storage error.
    pub fn read_done(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        result: Result<usize, crate::storage::StoreError>,
    ) -> Result<(), ApiError> {
        self.on_read_done(now, buf, result)
    }

    /// The bytes to store for the pending [`Event::Write`], taken from the
    /// datagram just handled (decoded in place for netascii).
    pub fn payload<'b>(&mut self, datagram: &'b mut [u8]) -> Result<Payload<'b>, ApiError> {
        self.take_payload(datagram)
    }

    /// Answers [`Event::Write`]: the block was stored (and, for the last
    /// block, committed) or it failed.
    pub fn write_done(
        &mut self,
        now: Instant,
        result: Result<(), crate::storage::StoreError>,
    ) -> Result<(), ApiError> {
        self.on_write_done(now, result)
    }

    // ---- shared helpers ----

    fn accepts_from(&self, from: SocketAddr) -> bool {
        if self.locked {
            from == self.peer
        } else {
            // Before the server answered, any port of the server's address.
            from.ip() == self.peer.ip()
        }
    }

    fn lock(&mut self, from: SocketAddr) {
        if !self.locked {
            self.peer = from;
            self.locked = true;
        }
    }

    /// The peer moved the transfer forward.
    pub(super) fn progress(&mut self, now: Instant) {
        self.retries = 0;
        self.progress_at = now;
    }

    pub(super) fn arm(&mut self, now: Instant) {
        self.deadline = Some(now + self.rto.current());
    }

    pub(super) fn ignore(&mut self, why: Ignored) {
        let _ = self.events.push_back(Event::Ignored(why));
    }

    pub(super) fn push_event(&mut self, e: Event) {
        if self.events.is_full() {
            // Only `Ignored` events can pile up; make room for this one.
            if let Some(pos) = self
                .events
                .iter()
                .position(|e| matches!(e, Event::Ignored(_)))
            {
                let mut kept = heapless::Deque::new();
                for (i, ev) in self.events.iter().enumerate() {
                    if i != pos {
                        let _ = kept.push_back(*ev);
                    }
                }
                self.events = kept;
            }
        }
        let _ = self.events.push_back(e);
    }

    pub(super) fn queue_ctl(&mut self, ctl: Ctl, fresh: bool) {
        self.ctl = Some(ctl);
        self.ctl_fresh = fresh;
    }

    /// Takes the round-trip sample started by the last control packet.
    pub(super) fn take_probe(&mut self, now: Instant) {
        if let Some(sent) = self.probe.take() {
            self.rto.sample(now - sent);
        }
    }

    pub(super) fn finish_done(&mut self) {
        let bytes = self.bytes;
        self.finished = true;
        self.push_event(Event::Done { bytes });
    }

    pub(super) fn finish_failed(
        &mut self,
        error: TransferError,
        tell_peer: Option<(ErrorCode, &'static str)>,
    ) {
        self.state = State::Closed;
        self.deadline = None;
        self.send.clear_staged();
        self.recv.clear_pending();
        if self.finished {
            // Already reported done (a receiver dallying after its final
            // ACK): the transfer just ends; it has one outcome only.
            return;
        }
        self.ctl = tell_peer.map(|(c, m)| Ctl::Error(c, m));
        self.ctl_fresh = false;
        self.finished = true;
        self.push_event(Event::Failed(error));
    }
}
