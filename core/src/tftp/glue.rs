//! Answers a [`Transfer`]'s storage events from any [`Storage`], written
//! once for every adapter (mio, async, the simulator, firmware).
//!
//! * [`accept`] turns a datagram on the server port into a transfer with its
//!   file open, or into the ERROR to answer: RRQs open the file for reading,
//!   WRQs open it write-aside ([`WriteMode::CreateNew`] unless the server
//!   overwrites, then [`WriteMode::Replace`]), so nothing is visible until
//!   the upload is complete.
//! * [`Files::answer`] serves [`Event::Read`] by reading straight into the
//!   transmit buffer (looping over short reads) and [`Event::Write`] by
//!   storing the payload straight from the receive buffer, committing the
//!   file on the last block before the final ACK goes out.
//! * [`drive`] is the whole drain loop of the driving contract with storage
//!   answered: call it after every input.
//! * [`Files::finish`] discards an unfinished upload.
//!
//! A client uses the same pieces: open the local file, wrap it in
//! [`Files::reading`] or [`Files::writing`], and [`drive`].

use core::net::SocketAddr;

use super::server::{Refusal, Server};
use super::transfer::Transfer;
use super::{Direction, Event, Ignored, error_code_for, error_message_for};
use crate::Transmit;
use crate::storage::{Storage, StoreError, WriteMode};
use crate::time::Instant;

/// The open file of one transfer.
pub struct Files<S: Storage> {
    reader: Option<S::Reader>,
    writer: Option<S::Writer>,
}

impl<S: Storage> core::fmt::Debug for Files<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Files")
            .field("reading", &self.reader.is_some())
            .field("writing", &self.writer.is_some())
            .finish()
    }
}

/// What [`accept`] made of a datagram on the server port.
// The transfer is moved straight into the driver's table; boxing it would
// need an allocator.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Accepted<S: Storage> {
    /// A transfer to run on a new socket, with its file.
    Transfer(Transfer, Files<S>),
    /// An ERROR written into the buffer, to send from the server port.
    Reply(Transmit),
    /// Nothing to do.
    Dropped(Ignored),
}

/// Accepts a request: parse, policy, open the file, negotiate.
///
/// ```
/// use netboot_core::storage::MemStore;
/// use netboot_core::tftp::glue::{accept, Accepted};
/// use netboot_core::tftp::{Server, ServerConfig};
/// use netboot_core::time::Instant;
/// use netboot_core::wire::tftp::{ErrorCode, Packet};
///
/// let mut store = MemStore::new();
/// store.insert("boot.bin", vec![7; 100]);
/// let server = Server::new(ServerConfig::default());
/// let peer = "192.0.2.9:2000".parse().unwrap();
/// let mut buf = [0u8; 600];
/// let ok = accept(&server, &mut store, Instant::ZERO, peer, b"\x00\x01boot.bin\x00octet\x00", &mut buf);
/// assert!(matches!(ok, Accepted::Transfer(..)));
/// let missing = accept(&server, &mut store, Instant::ZERO, peer, b"\x00\x01nope\x00octet\x00", &mut buf);
/// let Accepted::Reply(t) = missing else { panic!() };
/// assert!(matches!(Packet::parse(&buf[..t.len]), Ok(Packet::Error { code: ErrorCode::FileNotFound, .. })));
/// ```
pub fn accept<S: Storage>(
    server: &Server,
    store: &mut S,
    now: Instant,
    from: SocketAddr,
    bytes: &[u8],
    buf: &mut [u8],
) -> Accepted<S> {
    let refuse = |r: Refusal, buf: &mut [u8]| match r {
        Refusal::Drop(why) => Accepted::Dropped(why),
        r => match r.emit(from, buf) {
            Some(t) => Accepted::Reply(t),
            None => Accepted::Dropped(Ignored::Busy),
        },
    };
    let from_store = |e: StoreError| Refusal::Error {
        code: error_code_for(e),
        message: error_message_for(e),
    };
    let req = match server.handle_request(from, bytes) {
        Ok(r) => r,
        Err(r) => return refuse(r, buf),
    };
    match req.direction {
        Direction::Read => {
            let (reader, meta) = match store.open_read(&req.path) {
                Ok(x) => x,
                Err(e) => return refuse(from_store(e), buf),
            };
            match server.start_read(now, &req, meta.len) {
                Ok(t) => Accepted::Transfer(t, Files::reading(reader)),
                Err(r) => refuse(r, buf),
            }
        }
        Direction::Write => {
            let t = match server.start_write(now, &req) {
                Ok(t) => t,
                Err(r) => return refuse(r, buf),
            };
            match store.open_write(&req.path, server.write_mode()) {
                Ok(w) => Accepted::Transfer(t, Files::writing(w)),
                Err(e) => refuse(from_store(e), buf),
            }
        }
    }
}

impl<S: Storage> Files<S> {
    /// A transfer that sends `reader`'s content.
    pub fn reading(reader: S::Reader) -> Self {
        Files {
            reader: Some(reader),
            writer: None,
        }
    }

    /// A transfer that stores into `writer`.
    pub fn writing(writer: S::Writer) -> Self {
        Files {
            reader: None,
            writer: Some(writer),
        }
    }

    /// Answers `event` if it is a storage event and returns `true`;
    /// returns `false` for the driver's own events.
    ///
    /// `tx` is the transmit buffer (reads land in it), `rx` the datagram the
    /// transfer handled last (writes come from it).
    pub fn answer(
        &mut self,
        store: &mut S,
        t: &mut Transfer,
        now: Instant,
        event: &Event,
        tx: &mut [u8],
        rx: &mut [u8],
    ) -> bool {
        match *event {
            Event::Read { offset, start, len } => {
                let result = match (self.reader.as_mut(), tx.get_mut(start..start + len)) {
                    (Some(r), Some(dst)) => read_full(store, r, offset, dst),
                    _ => Err(StoreError::Io),
                };
                // Misuse is impossible here: the request was outstanding.
                let _ = t.read_done(now, tx, result);
                true
            }
            Event::Write { last, .. } => {
                let result = self.store_payload(store, t, rx, last);
                let _ = t.write_done(now, result);
                true
            }
            Event::Failed(_) => {
                self.discard(store);
                false
            }
            _ => false,
        }
    }

    fn store_payload(
        &mut self,
        store: &mut S,
        t: &mut Transfer,
        rx: &mut [u8],
        last: bool,
    ) -> Result<(), StoreError> {
        let payload = t.payload(rx).map_err(|_| StoreError::Io)?;
        let writer = self.writer.as_mut().ok_or(StoreError::Io)?;
        if let Some(b) = payload.prefix {
            store.write(writer, &[b])?;
        }
        if !payload.data.is_empty() {
            store.write(writer, payload.data)?;
        }
        if last {
            let writer = self.writer.take().ok_or(StoreError::Io)?;
            store.commit(writer)?;
        }
        Ok(())
    }

    /// Abandons an unfinished upload (nothing becomes visible) and closes
    /// the file. Call it when a transfer is dropped for any reason.
    pub fn discard(&mut self, store: &mut S) {
        self.reader = None;
        if let Some(w) = self.writer.take() {
            store.discard(w);
        }
    }

    /// Same as [`Files::discard`], consuming the files.
    pub fn finish(mut self, store: &mut S) {
        self.discard(store);
    }
}

fn read_full<S: Storage>(
    store: &mut S,
    reader: &mut S::Reader,
    offset: u64,
    dst: &mut [u8],
) -> Result<usize, StoreError> {
    let mut got = 0;
    while got < dst.len() {
        match store.read_at(reader, offset + got as u64, &mut dst[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// Drains `t` after an input: sends every datagram through `send`, answers
/// storage events from `store`, passes every other event to `on_event`, and
/// repeats until the transfer has nothing more to say. Returns the next
/// deadline.
///
/// `rx` must hold the datagram last given to `handle_datagram` (or be empty
/// after a timeout).
#[allow(clippy::too_many_arguments)]
pub fn drive<S: Storage>(
    t: &mut Transfer,
    files: &mut Files<S>,
    store: &mut S,
    now: Instant,
    tx: &mut [u8],
    rx: &mut [u8],
    send: &mut dyn FnMut(&[u8], SocketAddr),
    on_event: &mut dyn FnMut(&Transfer, Event),
) -> Option<Instant> {
    loop {
        while let Some(out) = t.poll_transmit(now, tx) {
            send(&tx[..out.len], out.destination);
        }
        let mut progressed = false;
        while let Some(event) = t.poll_event() {
            progressed = true;
            if !files.answer(store, t, now, &event, tx, rx) {
                on_event(t, event);
            }
            if matches!(event, Event::Read { .. } | Event::Write { .. }) {
                // Answering produced output: send it before the next event.
                break;
            }
        }
        if !progressed {
            return t.poll_timeout();
        }
    }
}

/// The write mode a client uses for a downloaded file: replace, written
/// aside, so that a failed download leaves the old file (or nothing).
pub const CLIENT_DOWNLOAD_MODE: WriteMode = WriteMode::Replace;
