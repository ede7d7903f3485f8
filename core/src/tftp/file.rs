//! Answers a [`Transfer`]'s storage events from any [`Storage`], written
//! once for every adapter (mio, async, the simulator, firmware).
//!
//! * [`accept`] turns a datagram on the server port into a transfer with its
//!   file open, or into the ERROR to answer: RRQs open the file for reading,
//!   WRQs open it write-aside ([`WriteMode::CreateNew`] unless the server
//!   overwrites, then [`WriteMode::Replace`]), so nothing is visible until
//!   the upload is complete.
//! * [`Driven::answer`] serves [`Event::Read`] by reading straight into the
//!   transmit buffer (looping over short reads) and [`Event::Write`] by
//!   storing the payload straight from the receive buffer, committing the
//!   file on the last block before the final ACK goes out.
//! * [`drive`] is the whole drain loop of the driving contract with storage
//!   answered: call it after every input.
//! * [`TransferFile::finish`] discards an unfinished upload.
//!
//! A client uses the same pieces: open the local file, wrap it in
//! [`TransferFile::reading`] or [`TransferFile::writing`], and [`drive`].

use core::net::SocketAddr;

use super::server::{Refusal, Server};
use super::transfer::Transfer;
use super::{Direction, Event, Ignored, error_code_for, error_message_for};
use crate::Transmit;
use crate::storage::{Storage, StoreError, WriteMode};
use crate::time::Instant;
use crate::wire::tftp::ErrorCode;

/// The open file of one transfer.
pub struct TransferFile<S: Storage> {
    reader: Option<S::Reader>,
    writer: Option<S::Writer>,
}

impl<S: Storage> core::fmt::Debug for TransferFile<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TransferFile")
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
    Transfer(Transfer, TransferFile<S>),
    /// An ERROR written into the buffer, to send from the server port.
    Reply(Transmit),
    /// Nothing to do.
    Dropped(Ignored),
}

/// Accepts a request: parse, policy, open the file, negotiate.
///
/// ```
/// use netboot_core::storage::MemStore;
/// use netboot_core::tftp::file::{accept, Accepted};
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
    match open(server, store, now, from, bytes) {
        Ok((transfer, files)) => Accepted::Transfer(transfer, files),
        Err(r) => refused(r, from, buf),
    }
}

/// [`accept`] without writing the answer: the transfer with its file open,
/// or the refusal to answer (or drop) the datagram with.
pub fn open<S: Storage>(
    server: &Server,
    store: &mut S,
    now: Instant,
    from: SocketAddr,
    bytes: &[u8],
) -> Result<(Transfer, TransferFile<S>), Refusal> {
    let from_store = |e: StoreError| Refusal::Error {
        code: error_code_for(e),
        message: error_message_for(e),
    };
    let req = server.handle_request(from, bytes)?;
    match req.direction {
        Direction::Read => {
            let (reader, meta) = store.open_read(&req.path).map_err(from_store)?;
            let t = server.start_read(now, &req, meta.len)?;
            Ok((t, TransferFile::reading(reader)))
        }
        Direction::Write => {
            let t = server.start_write(now, &req)?;
            let w = store
                .open_write(&req.path, server.write_mode())
                .map_err(from_store)?;
            Ok((t, TransferFile::writing(w)))
        }
    }
}

/// The refusal a server that already runs as many transfers as it allows
/// gives `bytes`: a valid request gets ERROR 0 ([`BUSY`]); anything else is
/// answered or dropped exactly as [`open`] would.
pub fn busy_refusal(server: &Server, from: SocketAddr, bytes: &[u8]) -> Refusal {
    match server.handle_request(from, bytes) {
        Ok(_) => Refusal::Error {
            code: ErrorCode::NotDefined,
            message: BUSY,
        },
        Err(r) => r,
    }
}

/// The ERROR a server running its maximum number of transfers answers a
/// valid request with.
pub const BUSY: &str = "server busy, try again later";

/// What [`accept`] would do with `bytes`, for a server that is already
/// running as many transfers as it allows: a valid request is refused with
/// ERROR 0 ([`BUSY`]), and anything else is answered or dropped exactly as
/// [`accept`] would (an ERROR, or junk, is never answered). Opens nothing.
///
/// ```
/// use netboot_core::storage::MemStore;
/// use netboot_core::tftp::file::{refuse_busy, Accepted, BUSY};
/// use netboot_core::tftp::{Server, ServerConfig};
/// use netboot_core::wire::tftp::{ErrorCode, Packet};
///
/// let server = Server::new(ServerConfig::default());
/// let peer = "192.0.2.9:2000".parse().unwrap();
/// let mut buf = [0u8; 600];
/// let busy = refuse_busy::<MemStore>(&server, peer, b"\x00\x01boot.bin\x00octet\x00", &mut buf);
/// let Accepted::Reply(t) = busy else { panic!() };
/// assert_eq!(
///     Packet::parse(&buf[..t.len]).unwrap(),
///     Packet::Error { code: ErrorCode::NotDefined, message: BUSY }
/// );
/// // An ERROR sent to the server port is still never answered.
/// let error = refuse_busy::<MemStore>(&server, peer, b"\x00\x05\x00\x00x\x00", &mut buf);
/// assert!(matches!(error, Accepted::Dropped(_)));
/// ```
pub fn refuse_busy<S: Storage>(
    server: &Server,
    from: SocketAddr,
    bytes: &[u8],
    buf: &mut [u8],
) -> Accepted<S> {
    refused(busy_refusal(server, from, bytes), from, buf)
}

fn refused<S: Storage>(r: Refusal, from: SocketAddr, buf: &mut [u8]) -> Accepted<S> {
    match r {
        Refusal::Drop(why) => Accepted::Dropped(why),
        r => match r.emit(from, buf) {
            Some(t) => Accepted::Reply(t),
            None => Accepted::Dropped(Ignored::Busy),
        },
    }
}

/// A read-ahead buffer a driver shares between its transfers: a windowed
/// sender then reads a whole window from storage in one call instead of one
/// call per block. `owner` tells the transfers apart (the cached bytes belong
/// to one transfer at a time); it must be unique among the transfers using
/// the buffer, and never reused for another file.
#[derive(Debug)]
pub struct ReadAhead<'a> {
    /// The buffer.
    pub buf: &'a mut [u8],
    /// What the buffer holds.
    pub state: &'a mut ReadAheadState,
    /// The transfer being driven.
    pub owner: u64,
}

/// What a [`ReadAhead`] buffer holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadAheadState {
    owner: Option<u64>,
    offset: u64,
    len: usize,
    eof: bool,
}

impl ReadAhead<'_> {
    /// Reads `dst.len()` bytes at `offset` (fewer at the end of the file),
    /// from the buffer when it holds them, else refilling it with up to
    /// `ahead` bytes.
    fn read<S: Storage>(
        &mut self,
        store: &mut S,
        reader: &mut S::Reader,
        offset: u64,
        dst: &mut [u8],
        ahead: usize,
    ) -> Result<usize, StoreError> {
        let st = *self.state;
        let end = st.offset + st.len as u64;
        let hit = st.owner == Some(self.owner)
            && offset >= st.offset
            && offset <= end
            && (offset + dst.len() as u64 <= end || st.eof);
        if !hit {
            let want = ahead.clamp(dst.len(), self.buf.len().max(dst.len()));
            if want > self.buf.len() {
                return read_full(store, reader, offset, dst);
            }
            *self.state = ReadAheadState::default();
            let got = read_full(store, reader, offset, &mut self.buf[..want])?;
            *self.state = ReadAheadState {
                owner: Some(self.owner),
                offset,
                len: got,
                eof: got < want,
            };
        }
        let from = (offset - self.state.offset) as usize;
        let n = dst.len().min(self.state.len - from);
        dst[..n].copy_from_slice(&self.buf[from..from + n]);
        Ok(n)
    }
}

impl<S: Storage> TransferFile<S> {
    /// A transfer that sends `reader`'s content.
    pub fn reading(reader: S::Reader) -> Self {
        TransferFile {
            reader: Some(reader),
            writer: None,
        }
    }

    /// A transfer that stores into `writer`.
    pub fn writing(writer: S::Writer) -> Self {
        TransferFile {
            reader: None,
            writer: Some(writer),
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

    /// Same as [`TransferFile::discard`], consuming the files.
    pub fn finish(mut self, store: &mut S) {
        self.discard(store);
    }
}

/// A transfer with its open file, the store the file lives in and the
/// datagram it handled last: what [`drive`] and [`drive_batched`] drain,
/// and what answers a transfer's storage events.
#[derive(Debug)]
pub struct Driven<'a, S: Storage> {
    /// The transfer.
    pub transfer: &'a mut Transfer,
    /// Its open file.
    pub file: &'a mut TransferFile<S>,
    /// Where the file lives.
    pub store: &'a mut S,
    /// The datagram last given to [`Transfer::handle_datagram`] (empty
    /// after a timeout): an upload stores its payload from here.
    pub received: &'a mut [u8],
}

impl<S: Storage> Driven<'_, S> {
    /// Answers `event` if it is a storage event and returns `true`;
    /// returns `false` for the driver's own events.
    ///
    /// `tx` is the transmit buffer a read lands in (a receiver never reads,
    /// and may pass an empty one). `read_ahead` is used when the transfer
    /// sends windows of more than one block.
    pub fn answer(
        &mut self,
        now: Instant,
        event: &Event,
        tx: &mut [u8],
        read_ahead: Option<&mut ReadAhead<'_>>,
    ) -> bool {
        let (t, file, store) = (&mut *self.transfer, &mut *self.file, &mut *self.store);
        match *event {
            Event::Read { offset, start, len } => {
                let neg = t.negotiated();
                let ahead = usize::from(neg.windowsize) * usize::from(neg.blksize);
                let result = match (file.reader.as_mut(), tx.get_mut(start..start + len)) {
                    (Some(r), Some(dst)) => match read_ahead {
                        Some(ra) if neg.windowsize > 1 => ra.read(store, r, offset, dst, ahead),
                        _ => read_full(store, r, offset, dst),
                    },
                    _ => Err(StoreError::Io),
                };
                // Misuse is impossible here: the request was outstanding.
                let _ = t.read_done(now, tx, result);
                true
            }
            Event::Write { last, .. } => {
                let result = file.store_payload(store, t, self.received, last);
                let _ = t.write_done(now, result);
                true
            }
            Event::Failed(_) => {
                file.discard(store);
                false
            }
            _ => false,
        }
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

/// Drains a transfer after an input: sends every datagram through `send`,
/// answers storage events from the store, passes every other event to
/// `on_event`, and repeats until the transfer has nothing more to say.
/// Returns the next deadline.
pub fn drive<S: Storage>(
    mut d: Driven<'_, S>,
    now: Instant,
    tx: &mut [u8],
    send: &mut dyn FnMut(&[u8], SocketAddr),
    on_event: &mut dyn FnMut(&Transfer, Event),
) -> Option<Instant> {
    loop {
        while let Some(out) = d.transfer.poll_transmit(now, tx) {
            send(&tx[..out.len], out.destination);
        }
        let mut progressed = false;
        while let Some(event) = d.transfer.poll_event() {
            progressed = true;
            if !d.answer(now, &event, tx, None) {
                on_event(d.transfer, event);
            }
            if matches!(event, Event::Read { .. } | Event::Write { .. }) {
                // Answering produced output: send it before the next event.
                break;
            }
        }
        if !progressed {
            return d.transfer.poll_timeout();
        }
    }
}

/// Largest run of datagrams [`drive_batched`] hands out at once: a UDP
/// segmentation offload send is limited to 64 KiB, headers included.
pub const MAX_BATCH_BYTES: usize = 63 * 1024;

/// Where [`drive_batched`] collects its runs of datagrams.
#[derive(Debug)]
pub struct Batch<'a, 'r> {
    /// The run buffer: at least [`Transfer::buffer_len`] bytes.
    pub buf: &'a mut [u8],
    /// Most datagrams in one run (at least 1).
    pub max_segments: usize,
    /// A read-ahead buffer, for windowed senders.
    pub read_ahead: Option<ReadAhead<'r>>,
}

/// Like [`drive`], but collects consecutive datagrams of the same size to
/// the same destination into runs, for segmentation offload (UDP GSO) or
/// `sendmmsg`: `send(bytes, segment, destination)` gets `bytes` holding
/// datagrams of `segment` bytes each, back to back, the last possibly
/// shorter.
///
/// Blocks are read straight into their place in the batch buffer, so a
/// window goes from the file to the socket without a copy; with a
/// [`ReadAhead`] buffer a window is read from storage in one call and
/// copied into place. A run never exceeds [`Batch::max_segments`]
/// datagrams or [`MAX_BATCH_BYTES`] (unless a single datagram is larger).
///
/// The first datagram of each call leaves on its own, before the rest of
/// the window is batched. A peer that sleeps between windows (most TFTP
/// clients block in `select` after their ACK) then starts waking up as soon
/// as the window's first block is on its way, instead of after the whole
/// window has been segmented; with a blocking atftp client this made
/// windowed downloads about a third faster (docs/benchmarks.md). The cost
/// is one more send per window.
pub fn drive_batched<S: Storage>(
    mut d: Driven<'_, S>,
    now: Instant,
    batch: Batch<'_, '_>,
    send: &mut dyn FnMut(&[u8], usize, SocketAddr),
    on_event: &mut dyn FnMut(&Transfer, Event),
) -> Option<Instant> {
    let Batch {
        buf: batch,
        max_segments,
        mut read_ahead,
    } = batch;
    let mut run = Run {
        used: 0,
        segment: 0,
        count: 0,
        destination: None,
        max_segments: max_segments.max(1),
        lead: true,
    };
    loop {
        loop {
            // Room for the largest datagram the transfer can write. This
            // never flushes under a staged block: the read that staged it
            // made the same check.
            let slot = d.transfer.buffer_len();
            if run.used > 0 && run.used + slot > MAX_BATCH_BYTES.min(batch.len()) {
                run.flush(batch, send);
            }
            let Some(out) = d.transfer.poll_transmit(now, &mut batch[run.used..]) else {
                break;
            };
            run.push(batch, out.len, out.destination, send);
        }
        let mut progressed = false;
        while let Some(event) = d.transfer.poll_event() {
            progressed = true;
            if let Event::Read { .. } = event {
                // The block is read into the next free place of the run.
                let slot = d.transfer.buffer_len();
                if run.used > 0 && run.used + slot > MAX_BATCH_BYTES.min(batch.len()) {
                    run.flush(batch, send);
                }
            }
            let tx = &mut batch[run.used..];
            if !d.answer(now, &event, tx, read_ahead.as_mut()) {
                on_event(d.transfer, event);
            }
            if matches!(event, Event::Read { .. } | Event::Write { .. }) {
                break;
            }
        }
        if !progressed {
            run.flush(batch, send);
            return d.transfer.poll_timeout();
        }
    }
}

/// The run of datagrams [`drive_batched`] is collecting.
struct Run {
    used: usize,
    segment: usize,
    count: usize,
    destination: Option<SocketAddr>,
    max_segments: usize,
    /// The next datagram is the first of this call: it leaves alone.
    lead: bool,
}

impl Run {
    fn flush(&mut self, batch: &mut [u8], send: &mut dyn FnMut(&[u8], usize, SocketAddr)) {
        if let (Some(dest), true) = (self.destination, self.used > 0) {
            send(&batch[..self.used], self.segment, dest);
        }
        self.used = 0;
        self.count = 0;
        self.destination = None;
    }

    /// A datagram of `len` bytes was just written at `batch[used..]`.
    fn push(
        &mut self,
        batch: &mut [u8],
        len: usize,
        destination: SocketAddr,
        send: &mut dyn FnMut(&[u8], usize, SocketAddr),
    ) {
        let joins = self.count > 0
            && self.destination == Some(destination)
            && len <= self.segment
            && self.count < self.max_segments;
        if self.count > 0 && !joins {
            let start = self.used;
            if let Some(dest) = self.destination {
                send(&batch[..start], self.segment, dest);
            }
            batch.copy_within(start..start + len, 0);
            self.used = 0;
            self.count = 0;
        }
        if self.count == 0 {
            self.segment = len;
            self.destination = Some(destination);
        }
        self.used += len;
        self.count += 1;
        // Only the last datagram of a run may be shorter.
        if self.lead || len < self.segment || self.count == self.max_segments {
            self.lead = false;
            self.flush(batch, send);
        }
    }
}

/// The write mode a client uses for a downloaded file: replace, written
/// aside, so that a failed download leaves the old file (or nothing).
pub const CLIENT_DOWNLOAD_MODE: WriteMode = WriteMode::Replace;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemStore;

    /// A store that counts reads.
    struct Counting(MemStore, usize);

    impl Storage for Counting {
        type Reader = <MemStore as Storage>::Reader;
        type Writer = <MemStore as Storage>::Writer;
        fn metadata(&mut self, p: &str) -> Result<crate::storage::Metadata, StoreError> {
            self.0.metadata(p)
        }
        fn open_read(
            &mut self,
            p: &str,
        ) -> Result<(Self::Reader, crate::storage::Metadata), StoreError> {
            self.0.open_read(p)
        }
        fn read_at(
            &mut self,
            f: &mut Self::Reader,
            o: u64,
            b: &mut [u8],
        ) -> Result<usize, StoreError> {
            self.1 += 1;
            self.0.read_at(f, o, b)
        }
        fn open_write(&mut self, p: &str, m: WriteMode) -> Result<Self::Writer, StoreError> {
            self.0.open_write(p, m)
        }
        fn write(&mut self, f: &mut Self::Writer, d: &[u8]) -> Result<(), StoreError> {
            self.0.write(f, d)
        }
        fn commit(&mut self, f: Self::Writer) -> Result<(), StoreError> {
            self.0.commit(f)
        }
        fn discard(&mut self, f: Self::Writer) {
            self.0.discard(f)
        }
    }

    #[test]
    fn read_ahead_serves_windows_rewinds_and_eof() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut mem = MemStore::new();
        mem.insert("f", data.clone());
        let mut store = Counting(mem, 0);
        let (mut r, _) = store.open_read("f").unwrap();
        let mut buf = [0u8; 4096];
        let mut state = ReadAheadState::default();
        let mut ra = ReadAhead {
            buf: &mut buf,
            state: &mut state,
            owner: 7,
        };
        let mut out = Vec::new();
        let mut block = [0u8; 1000];
        for i in 0..4u64 {
            let n = ra
                .read(&mut store, &mut r, i * 1000, &mut block, 4000)
                .unwrap();
            out.extend_from_slice(&block[..n]);
        }
        assert_eq!(store.1, 1, "one read for a window of four blocks");
        // A rewind inside the buffer costs nothing.
        let n = ra.read(&mut store, &mut r, 1000, &mut block, 4000).unwrap();
        assert_eq!((n, store.1), (1000, 1));
        assert_eq!(&block[..], &data[1000..2000]);
        // Another owner never sees these bytes.
        ra.owner = 8;
        let _ = ra.read(&mut store, &mut r, 1000, &mut block, 4000).unwrap();
        assert_eq!(store.1, 2);
        ra.owner = 7;
        for i in 4..11u64 {
            let n = ra
                .read(&mut store, &mut r, i * 1000, &mut block, 4000)
                .unwrap();
            out.extend_from_slice(&block[..n]);
        }
        assert_eq!(
            out, data,
            "bytes identical through the buffer, EOF included"
        );
    }
}
