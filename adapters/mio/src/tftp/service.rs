//! The TFTP server as a [`Service`] of the shared mio event loop.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mio::Interest;
use mio::event::Event as MioEvent;
use mio::net::UdpSocket;
use netboot_core::tftp::glue::{self, Accepted, Files, ReadAhead, ReadAheadState};
use netboot_core::tftp::{Direction, Event, Server, Transfer, TransferError};
use netboot_core::time::Instant;
use netboot_core::wire::tftp::{MAX_PACKET_LEN, Mode, Packet};
use netboot_std::fs::FsStore;
use netboot_std::net::{UdpOptions, bind_udp};

use super::udp::Batcher;
use crate::runtime::{Context, Service, TimerQueue};

/// User-space memory one running transfer costs the service, in bytes
/// (machine, open file, socket and table entries; measured by a test).
pub const TRANSFER_MEMORY: usize = 4 * 1024;

/// Bytes of the read-ahead buffer the service shares between its windowed
/// transfers.
const READ_AHEAD: usize = 256 * 1024;

/// What the service reports when a transfer ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The client's address (IPv4-mapped addresses are shown as IPv4).
    pub peer: SocketAddr,
    /// The normalised path inside the served root.
    pub path: String,
    /// `Read` for an RRQ (the client downloaded), `Write` for a WRQ.
    pub direction: Direction,
    /// Transfer mode.
    pub mode: Mode,
    /// File bytes sent (acknowledged) or stored.
    pub bytes: u64,
    /// `Ok` when the whole file went through (and, for uploads, was
    /// committed).
    pub result: Result<(), TransferError>,
    /// The client's ERROR message, when it sent one.
    pub peer_message: Option<String>,
    /// Time from the request to the end.
    pub elapsed: Duration,
}

impl Completion {
    /// True when the transfer succeeded.
    pub fn is_success(&self) -> bool {
        self.result.is_ok()
    }
}

/// Logs a finished transfer (one `tracing` line).
pub fn log_completion(c: &Completion) {
    match &c.result {
        Ok(()) => tracing::info!(
            "tftp: {}: {} {} done, {} bytes in {:?}",
            c.peer,
            c.direction,
            c.path,
            c.bytes,
            c.elapsed
        ),
        Err(e) => tracing::info!("tftp: {}: {} {} failed: {e}", c.peer, c.direction, c.path),
    }
}

/// A completion callback.
pub type OnComplete = Box<dyn FnMut(&Completion) + Send>;

struct Slot {
    socket: UdpSocket,
    transfer: Transfer,
    files: Files<FsStore>,
    started: Instant,
    /// Unique id of this transfer (owner of read-ahead data).
    id: u64,
    reported: bool,
}

/// A TFTP server on the shared event loop (see the [module docs](super)).
///
/// Build it with [`TftpServer`](super::TftpServer), which binds the
/// listening sockets at once, and add it to an
/// [`EventLoop`](crate::runtime::EventLoop) beside other services, or let
/// [`TftpServer::spawn`](super::TftpServer::spawn) run it alone.
pub struct TftpService {
    listeners: Vec<UdpSocket>,
    local_addrs: Vec<SocketAddr>,
    server: Server,
    store: FsStore,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_peer: HashMap<SocketAddr, usize>,
    timers: TimerQueue<usize>,
    tx: Box<[u8]>,
    rx: Box<[u8]>,
    max_transfers: usize,
    active: usize,
    on_complete: Option<OnComplete>,
    batcher: Batcher,
    read_ahead: Box<[u8]>,
    read_ahead_state: ReadAheadState,
    /// Source of the transfers' read-ahead owner ids.
    started: u64,
}

impl TftpService {
    pub(super) fn new(
        listeners: Vec<std::net::UdpSocket>,
        server: Server,
        store: FsStore,
        max_transfers: usize,
        on_complete: Option<OnComplete>,
    ) -> io::Result<Self> {
        let local_addrs = listeners
            .iter()
            .map(|s| s.local_addr())
            .collect::<io::Result<Vec<_>>>()?;
        Ok(TftpService {
            listeners: listeners.into_iter().map(UdpSocket::from_std).collect(),
            local_addrs,
            server,
            store,
            slots: Vec::new(),
            free: Vec::new(),
            by_peer: HashMap::new(),
            timers: TimerQueue::new(),
            tx: vec![0; MAX_PACKET_LEN].into_boxed_slice(),
            rx: vec![0; MAX_PACKET_LEN + 1].into_boxed_slice(),
            max_transfers: max_transfers.max(1),
            active: 0,
            on_complete,
            batcher: Batcher::probe(),
            read_ahead: vec![0; READ_AHEAD].into_boxed_slice(),
            read_ahead_state: ReadAheadState::default(),
            started: 0,
        })
    }

    /// The addresses the listening sockets are bound to.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// Transfers running now.
    pub fn active_transfers(&self) -> usize {
        self.active
    }

    fn on_listener(&mut self, cx: &mut Context<'_>, index: usize) {
        loop {
            let (n, from) = match self.listeners[index].recv_from(&mut self.rx) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!("tftp: receive on listener failed: {e}");
                    return;
                }
            };
            if self.by_peer.contains_key(&from) {
                tracing::debug!("tftp: {from}: repeated request dropped");
                continue;
            }
            if n > MAX_PACKET_LEN {
                tracing::debug!("tftp: {from}: oversized datagram dropped");
                continue;
            }
            let now = cx.refresh();
            let accepted = if self.active >= self.max_transfers {
                tracing::debug!("tftp: {from}: {} transfers running", self.active);
                glue::refuse_busy(&self.server, from, &self.rx[..n], &mut self.tx)
            } else {
                glue::accept(
                    &self.server,
                    &mut self.store,
                    now,
                    from,
                    &self.rx[..n],
                    &mut self.tx,
                )
            };
            match accepted {
                Accepted::Transfer(transfer, files) => {
                    self.start(cx, index, now, transfer, files);
                }
                Accepted::Reply(t) => {
                    if let Ok(Packet::Error { code, message }) = Packet::parse(&self.tx[..t.len]) {
                        tracing::info!("tftp: {from}: refused: {message} ({})", code.to_u16());
                    }
                    let _ = self.listeners[index].send_to(&self.tx[..t.len], t.destination);
                }
                Accepted::Dropped(why) => tracing::debug!("tftp: {from}: dropped: {why}"),
            }
        }
    }

    fn start(
        &mut self,
        cx: &mut Context<'_>,
        listener: usize,
        now: Instant,
        transfer: Transfer,
        mut files: Files<FsStore>,
    ) {
        let local = SocketAddr::new(self.local_addrs[listener].ip(), 0);
        let socket = match bind_udp(local, &UdpOptions::default()) {
            Ok(s) => UdpSocket::from_std(s),
            Err(e) => {
                tracing::warn!("tftp: cannot open a transfer socket: {e}");
                files.discard(&mut self.store);
                return;
            }
        };
        let index = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        self.started += 1;
        let mut slot = Slot {
            socket,
            transfer,
            files,
            started: now,
            id: self.started,
            reported: false,
        };
        let token = self.listeners.len() + index;
        if let Err(e) = cx.register(&mut slot.socket, token, Interest::READABLE) {
            tracing::warn!("tftp: cannot register a transfer socket: {e}");
            slot.files.discard(&mut self.store);
            self.free.push(index);
            return;
        }
        tracing::info!(
            "tftp: {}: {} {} ({})",
            canonical(slot.transfer.peer()),
            match slot.transfer.role().direction() {
                Direction::Read => "RRQ",
                Direction::Write => "WRQ",
            },
            slot.transfer.path(),
            slot.transfer.mode()
        );
        self.by_peer.insert(slot.transfer.peer(), index);
        self.slots[index] = Some(slot);
        self.active += 1;
        self.drive(cx, index, now, 0);
    }

    fn on_transfer(&mut self, cx: &mut Context<'_>, index: usize) {
        loop {
            let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
                return;
            };
            let (n, from) = match slot.socket.recv_from(&mut self.rx) {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::debug!("tftp: receive failed: {e}");
                    return;
                }
            };
            let now = cx.now();
            if n > MAX_PACKET_LEN {
                continue;
            }
            slot.transfer.handle_datagram(now, from, &self.rx[..n]);
            if self.drive(cx, index, now, n) {
                return;
            }
        }
    }

    /// Drains slot `index` after an input; returns true when it was closed.
    fn drive(&mut self, cx: &mut Context<'_>, index: usize, now: Instant, rx_len: usize) -> bool {
        let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
            return true;
        };
        let mut outcome = None;
        let socket = &slot.socket;
        let batcher = &self.batcher;
        glue::drive_batched(
            &mut slot.transfer,
            &mut slot.files,
            &mut self.store,
            now,
            &mut self.tx,
            batcher.max_segments(),
            &mut self.rx[..rx_len],
            Some(ReadAhead {
                buf: &mut self.read_ahead,
                state: &mut self.read_ahead_state,
                owner: slot.id,
            }),
            // A failed send is a loss; the retransmission timer recovers.
            &mut |bytes, segment, to| batcher.send(socket, bytes, segment, to),
            &mut |_, event| match event {
                Event::Done { .. } | Event::Failed(_) => outcome = Some(event),
                Event::Ignored(why) => tracing::debug!("tftp: ignored: {why}"),
                _ => {}
            },
        );
        if let Some(event) = outcome
            && !slot.reported
        {
            slot.reported = true;
            let completion = Completion {
                peer: canonical(slot.transfer.peer()),
                path: slot.transfer.path().to_string(),
                direction: slot.transfer.role().direction(),
                mode: slot.transfer.mode(),
                bytes: slot.transfer.bytes(),
                result: match event {
                    Event::Failed(e) => Err(e),
                    _ => Ok(()),
                },
                peer_message: Some(slot.transfer.peer_message())
                    .filter(|m| !m.is_empty())
                    .map(str::to_string),
                elapsed: now.saturating_duration_since(slot.started),
            };
            log_completion(&completion);
            if let Some(cb) = self.on_complete.as_mut() {
                cb(&completion);
            }
        }
        if slot.transfer.is_closed() {
            self.close(cx, index);
            return true;
        }
        if let Some(deadline) = slot.transfer.poll_timeout() {
            self.timers.schedule(index, deadline);
        }
        false
    }

    fn close(&mut self, cx: &mut Context<'_>, index: usize) {
        if let Some(mut slot) = self.slots.get_mut(index).and_then(Option::take) {
            let _ = cx.deregister(&mut slot.socket);
            slot.files.discard(&mut self.store);
            if self.by_peer.get(&slot.transfer.peer()) == Some(&index) {
                self.by_peer.remove(&slot.transfer.peer());
            }
            self.timers.forget(index);
            self.free.push(index);
            self.active -= 1;
        }
    }
}

/// Shows an IPv4-mapped IPv6 address as IPv4.
fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

impl Service for TftpService {
    fn name(&self) -> &'static str {
        "tftp"
    }

    fn start(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        for (i, l) in self.listeners.iter_mut().enumerate() {
            cx.register(l, i, Interest::READABLE)?;
        }
        Ok(())
    }

    fn ready(&mut self, cx: &mut Context<'_>, token: usize, _event: &MioEvent) {
        if token < self.listeners.len() {
            self.on_listener(cx, token);
        } else {
            self.on_transfer(cx, token - self.listeners.len());
        }
    }

    fn timeout(&mut self, cx: &mut Context<'_>) {
        let now = cx.now();
        while let Some(index) = self.timers.pop_due(now) {
            let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            match slot.transfer.poll_timeout() {
                Some(d) if d <= now => {
                    slot.transfer.handle_timeout(now);
                    self.drive(cx, index, now, 0);
                }
                // The deadline moved later since it was armed.
                Some(d) => self.timers.schedule(index, d),
                None => {}
            }
        }
    }

    fn deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    fn shutdown(&mut self, cx: &mut Context<'_>) {
        let now = cx.now();
        for index in 0..self.slots.len() {
            if let Some(slot) = self.slots[index].as_mut() {
                slot.transfer.close(now);
                self.drive(cx, index, now, 0);
                self.close(cx, index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_transfer_memory_is_as_documented() {
        let per = std::mem::size_of::<Option<Slot>>()
            + std::mem::size_of::<(SocketAddr, usize)>()
            + std::mem::size_of::<(Instant, usize)>();
        let machine = std::mem::size_of::<Transfer>();
        assert!(machine <= 3 * 1024, "machine {machine} bytes");
        assert!(per <= TRANSFER_MEMORY, "{per} bytes");
    }
}
