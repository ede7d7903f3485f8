//! The data pumps between a [`ServerSession`] and any [`Storage`]: the
//! [`Endpoint`](super::endpoint::Endpoint) (and firmware that drives a lone
//! session) answers storage events and moves file data through these
//! functions, so nothing repeats the logic.
//!
//! * [`perform`] carries out a [`StorageOp`] and returns the session's
//!   answer together with the reader or writer it opened, which the driver
//!   keeps for the coming transfer.
//! * [`SendPump`] fills data-connection buffers from a reader (with `TYPE A`
//!   conversion when asked); [`ReceivePump`] writes received data (likewise)
//!   and commits the upload at the end.
//! * Listings come from [`Listing`].
//! * [`Outgoing`] is either of those as one source of download bytes, and
//!   [`SendBuffer`] keeps what of a filled buffer the data connection has
//!   not taken yet, for drivers that write to a socket that may take less.

use super::event::{DataTransfer, StorageAnswer, StorageOp, TransferKind};
use super::{ServerSession, SessionError};
use crate::ftp::ascii::{AsciiDecoder, AsciiEncoder};
use crate::ftp::listing::{Facts, ListFormat, Listing};
use crate::storage::{Storage, StoreError};
use crate::time::Instant;

/// A file handle opened by [`perform`].
#[derive(Debug)]
pub enum Opened<S: Storage + ?Sized> {
    /// Nothing was opened.
    Nothing,
    /// A file opened for a download.
    Reader(S::Reader),
    /// A file opened for an upload.
    Writer(S::Writer),
}

/// Performs `op` on `store`.
///
/// ```
/// use netboot_core::ftp::server::pump::{perform, Opened};
/// use netboot_core::ftp::server::StorageOp;
/// use netboot_core::storage::MemStore;
///
/// let mut store = MemStore::new();
/// store.insert("a", b"xyz".to_vec());
/// let (answer, opened) = perform(&mut store, &StorageOp::OpenRead("a"));
/// assert_eq!(answer.unwrap().unwrap().len, 3);
/// assert!(matches!(opened, Opened::Reader(_)));
/// let (answer, _) = perform(&mut store, &StorageOp::RemoveFile("missing"));
/// assert!(answer.is_err());
/// ```
pub fn perform<S: Storage + ?Sized>(
    store: &mut S,
    op: &StorageOp<'_>,
) -> (StorageAnswer, Opened<S>) {
    match *op {
        StorageOp::Metadata(p) => (store.metadata(p).map(Some), Opened::Nothing),
        StorageOp::OpenRead(p) => match store.open_read(p) {
            Ok((reader, meta)) => (Ok(Some(meta)), Opened::Reader(reader)),
            Err(e) => (Err(e), Opened::Nothing),
        },
        StorageOp::OpenWrite(p, mode) => match store.open_write(p, mode) {
            Ok(writer) => (Ok(None), Opened::Writer(writer)),
            Err(e) => (Err(e), Opened::Nothing),
        },
        StorageOp::CreateDir(p) => (store.create_dir(p).map(|()| None), Opened::Nothing),
        StorageOp::RemoveDir(p) => (store.remove_dir(p).map(|()| None), Opened::Nothing),
        StorageOp::RemoveFile(p) => (store.remove_file(p).map(|()| None), Opened::Nothing),
        StorageOp::Rename { from, to } => (store.rename(from, to).map(|()| None), Opened::Nothing),
    }
}

/// Answers [`Event::StatListing`](super::Event::StatListing) from `store`:
/// `ls -l` lines of the path, as many as the reply buffer holds.
/// `now_unix` is the wall-clock time for the date column.
pub fn stat_listing<S: Storage + ?Sized>(
    session: &mut ServerSession,
    store: &mut S,
    now: Instant,
    now_unix: Option<u64>,
) -> Result<(), SessionError> {
    session.stat_listing(now, |path, buf| {
        let mut listing = Listing::new(path, ListFormat::Long, Facts::ALL, now_unix)?;
        let n = listing.fill(store, buf)?;
        Ok((n, listing.is_done()))
    })
}

/// Produces the bytes of a download, from `offset`, chunk by chunk.
///
/// ```
/// use netboot_core::ftp::server::pump::SendPump;
/// use netboot_core::storage::{MemStore, Storage};
///
/// let mut store = MemStore::new();
/// store.insert("t", b"one\ntwo\n".to_vec());
/// let (mut reader, _) = store.open_read("t").unwrap();
/// let mut pump = SendPump::new(0, true);
/// let mut buf = [0u8; 64];
/// let n = pump.fill(&mut store, &mut reader, &mut buf).unwrap();
/// assert_eq!(&buf[..n], b"one\r\ntwo\r\n");
/// assert_eq!(pump.fill(&mut store, &mut reader, &mut buf).unwrap(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct SendPump {
    offset: u64,
    ascii: Option<AsciiEncoder>,
}

impl SendPump {
    /// A pump reading from `offset`; `ascii` converts LF to CRLF.
    pub fn new(offset: u64, ascii: bool) -> Self {
        SendPump {
            offset,
            ascii: ascii.then(AsciiEncoder::new),
        }
    }

    /// The file offset of the next byte to read.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Fills `buf` (at least 2 bytes) with the next wire bytes; 0 at the end.
    pub fn fill<S: Storage + ?Sized>(
        &mut self,
        store: &mut S,
        reader: &mut S::Reader,
        buf: &mut [u8],
    ) -> Result<usize, StoreError> {
        let Some(enc) = &mut self.ascii else {
            let n = store.read_at(reader, self.offset, buf)?;
            self.offset += n as u64;
            return Ok(n);
        };
        let mut scratch = [0u8; 512];
        let want = scratch.len().min(buf.len() / 2).max(1);
        let n = store.read_at(reader, self.offset, &mut scratch[..want])?;
        let (used, written) = enc.encode(&scratch[..n], buf);
        self.offset += used as u64;
        Ok(written)
    }
}

/// What a download or listing sends: the one source every driver fills its
/// data-connection buffers from.
///
/// ```
/// use netboot_core::ftp::server::pump::Outgoing;
/// use netboot_core::ftp::server::{DataTransfer, TransferKind};
/// use netboot_core::storage::{MemStore, Storage};
///
/// let mut store = MemStore::new();
/// store.insert("f", b"hello".to_vec());
/// let (mut reader, _) = store.open_read("f").unwrap();
/// let retr = DataTransfer { kind: TransferKind::Retr, path: "f", offset: 1, ascii: false };
/// let mut out = Outgoing::for_transfer(&retr, None).unwrap();
/// let mut buf = [0u8; 16];
/// let n = out.fill(&mut store, Some(&mut reader), &mut buf).unwrap();
/// assert_eq!(&buf[..n], b"ello");
/// assert_eq!(out.fill(&mut store, Some(&mut reader), &mut buf).unwrap(), 0);
/// ```
// The listing variant is large; the core cannot box it (no allocator), so
// a driver that keeps many of these boxes the whole `Outgoing`.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Outgoing {
    /// A file (`RETR`), read from the reader the session had opened.
    File(SendPump),
    /// A listing (`LIST`, `NLST`, `MLSD`).
    Listing(Listing),
    /// No bytes: a listing of a path that cannot be listed is empty.
    Nothing,
}

impl Outgoing {
    /// What `transfer` sends, or `None` for an upload. `now_unix` is the
    /// wall-clock time for `LIST`'s date column.
    pub fn for_transfer(transfer: &DataTransfer<'_>, now_unix: Option<u64>) -> Option<Self> {
        match transfer.kind {
            TransferKind::Retr => Some(Outgoing::File(SendPump::new(
                transfer.offset,
                transfer.ascii,
            ))),
            TransferKind::List(format, facts) => Some(
                Listing::new(transfer.path, format, facts, now_unix)
                    .map_or(Outgoing::Nothing, Outgoing::Listing),
            ),
            TransferKind::Stor => None,
        }
    }

    /// Fills `buf` (at least 1 KiB for a listing, see [`Listing::fill`])
    /// with the next bytes; 0 at the end. A file is read from `reader`;
    /// without one it fails with [`StoreError::Io`].
    pub fn fill<S: Storage + ?Sized>(
        &mut self,
        store: &mut S,
        reader: Option<&mut S::Reader>,
        buf: &mut [u8],
    ) -> Result<usize, StoreError> {
        match self {
            Outgoing::File(pump) => match reader {
                Some(r) => pump.fill(store, r, buf),
                None => Err(StoreError::Io),
            },
            Outgoing::Listing(l) => l.fill(store, buf),
            Outgoing::Nothing => Ok(0),
        }
    }
}

/// An [`Outgoing`] with its buffer, for a driver whose socket may take
/// less than it is offered: [`pending`](Self::pending) gives the bytes not
/// sent yet (refilling the buffer once all were), [`advance`](Self::advance)
/// takes off what the socket took.
///
/// ```
/// use netboot_core::ftp::server::pump::{Outgoing, SendBuffer, SendPump};
/// use netboot_core::storage::{MemStore, Storage};
///
/// let mut store = MemStore::new();
/// store.insert("f", b"abcdef".to_vec());
/// let (mut reader, _) = store.open_read("f").unwrap();
/// let mut out = SendBuffer::new(Outgoing::File(SendPump::new(0, false)), [0u8; 4]);
/// let mut wire = Vec::new();
/// loop {
///     let chunk = out.pending(&mut store, Some(&mut reader)).unwrap();
///     if chunk.is_empty() { break }
///     // A socket that takes at most three bytes at a time.
///     let n = chunk.len().min(3);
///     wire.extend_from_slice(&chunk[..n]);
///     out.advance(n);
/// }
/// assert_eq!(wire, b"abcdef");
/// ```
#[derive(Clone, Debug)]
pub struct SendBuffer<B> {
    what: Outgoing,
    buf: B,
    start: usize,
    end: usize,
}

impl<B: AsMut<[u8]>> SendBuffer<B> {
    /// Sends `what` through `buf`.
    pub fn new(what: Outgoing, buf: B) -> Self {
        SendBuffer {
            what,
            buf,
            start: 0,
            end: 0,
        }
    }

    /// The bytes to send next; empty once everything was sent. When the
    /// previous bytes are all sent, refills the buffer from `store`.
    pub fn pending<S: Storage + ?Sized>(
        &mut self,
        store: &mut S,
        reader: Option<&mut S::Reader>,
    ) -> Result<&[u8], StoreError> {
        if self.start == self.end {
            let n = self.what.fill(store, reader, self.buf.as_mut())?;
            (self.start, self.end) = (0, n);
        }
        Ok(&self.buf.as_mut()[self.start..self.end])
    }

    /// `n` bytes of [`pending`](Self::pending) were sent.
    pub fn advance(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
    }
}

/// Writes the bytes of an upload as they arrive.
///
/// ```
/// use netboot_core::ftp::server::pump::ReceivePump;
/// use netboot_core::storage::{MemStore, Storage, WriteMode};
///
/// let mut store = MemStore::new();
/// let mut w = store.open_write("up", WriteMode::Replace).unwrap();
/// let mut pump = ReceivePump::new(true);
/// pump.absorb(&mut store, &mut w, &mut b"a\r\nb\r".to_vec()).unwrap();
/// pump.absorb(&mut store, &mut w, &mut b"\n".to_vec()).unwrap();
/// assert_eq!(pump.finish(&mut store, w).unwrap(), 6);
/// assert_eq!(store.get("up").unwrap(), b"a\nb\n");
/// ```
#[derive(Clone, Debug)]
pub struct ReceivePump {
    ascii: Option<AsciiDecoder>,
    bytes: u64,
}

impl ReceivePump {
    /// A pump; `ascii` converts CRLF to LF.
    pub fn new(ascii: bool) -> Self {
        ReceivePump {
            ascii: ascii.then(AsciiDecoder::new),
            bytes: 0,
        }
    }

    /// Bytes received so far (as they crossed the wire).
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Writes received `data` (converted in place in `TYPE A`).
    pub fn absorb<S: Storage + ?Sized>(
        &mut self,
        store: &mut S,
        writer: &mut S::Writer,
        data: &mut [u8],
    ) -> Result<(), StoreError> {
        self.bytes += data.len() as u64;
        let Some(dec) = &mut self.ascii else {
            return store.write(writer, data);
        };
        let mut held = false;
        let n = dec.decode_in_place(data, &mut |_| held = true);
        if held {
            store.write(writer, b"\r")?;
        }
        store.write(writer, &data[..n])
    }

    /// The sender closed the connection: flush and commit the upload.
    /// Returns the bytes received.
    pub fn finish<S: Storage + ?Sized>(
        &mut self,
        store: &mut S,
        mut writer: S::Writer,
    ) -> Result<u64, StoreError> {
        if let Some(cr) = self.ascii.as_mut().and_then(AsciiDecoder::finish)
            && let Err(e) = store.write(&mut writer, &[cr])
        {
            store.discard(writer);
            return Err(e);
        }
        store.commit(writer)?;
        Ok(self.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ftp::listing::{Facts, ListFormat};
    use crate::storage::MemStore;
    use std::vec::Vec;

    /// Everything `out` sends through a socket that takes at most `take`
    /// bytes per write.
    fn drain<const N: usize>(
        out: &mut SendBuffer<[u8; N]>,
        store: &mut MemStore,
        mut reader: Option<&mut <MemStore as Storage>::Reader>,
        take: usize,
    ) -> Result<Vec<u8>, StoreError> {
        let mut wire = Vec::new();
        for _ in 0..10_000 {
            let chunk = out.pending(store, reader.as_deref_mut())?;
            if chunk.is_empty() {
                return Ok(wire);
            }
            let n = chunk.len().min(take);
            wire.extend_from_slice(&chunk[..n]);
            out.advance(n);
        }
        panic!("never finished")
    }

    fn transfer(kind: TransferKind, path: &str, offset: u64, ascii: bool) -> DataTransfer<'_> {
        DataTransfer {
            kind,
            path,
            offset,
            ascii,
        }
    }

    #[test]
    fn a_file_crosses_short_writes_intact_in_both_types() {
        let text: Vec<u8> = b"line one\nline two\n"
            .iter()
            .copied()
            .cycle()
            .take(5_000)
            .collect();
        let mut store = MemStore::new();
        store.insert("t", text.clone());
        for (ascii, offset, take) in [
            (false, 0, 7),
            (false, 1234, 1),
            (true, 0, 100),
            (true, 9, 3),
        ] {
            let (mut r, _) = store.open_read("t").unwrap();
            let what =
                Outgoing::for_transfer(&transfer(TransferKind::Retr, "t", offset, ascii), None);
            let mut out = SendBuffer::new(what.unwrap(), [0u8; 64]);
            let wire = drain(&mut out, &mut store, Some(&mut r), take).unwrap();
            let mut expected = Vec::new();
            for &b in &text[offset as usize..] {
                if ascii && b == b'\n' {
                    expected.push(b'\r');
                }
                expected.push(b);
            }
            assert_eq!(
                wire, expected,
                "ascii {ascii}, offset {offset}, take {take}"
            );
        }
    }

    #[test]
    fn a_listing_an_unlistable_path_and_an_upload() {
        let mut store = MemStore::new();
        store.insert("d/a", b"1".to_vec());
        store.insert("d/b", b"22".to_vec());
        let nlst = TransferKind::List(ListFormat::Names, Facts::ALL);
        let what = Outgoing::for_transfer(&transfer(nlst, "d", 0, false), None).unwrap();
        let mut out = SendBuffer::new(what, [0u8; 1024]);
        assert_eq!(drain(&mut out, &mut store, None, 5).unwrap(), b"a\r\nb\r\n");
        // A path too long to be a path lists nothing, rather than failing.
        let long = "x/".repeat(1000);
        let what = Outgoing::for_transfer(&transfer(nlst, &long, 0, false), None).unwrap();
        assert!(matches!(what, Outgoing::Nothing));
        let mut out = SendBuffer::new(what, [0u8; 1024]);
        assert_eq!(drain(&mut out, &mut store, None, 5).unwrap(), b"");
        assert!(
            Outgoing::for_transfer(&transfer(TransferKind::Stor, "d/c", 0, false), None).is_none()
        );
    }

    #[test]
    fn a_file_without_its_reader_is_an_io_error_not_an_empty_file() {
        let mut store = MemStore::new();
        let mut out = SendBuffer::new(Outgoing::File(SendPump::new(0, false)), [0u8; 8]);
        assert_eq!(drain(&mut out, &mut store, None, 8), Err(StoreError::Io));
    }
}
