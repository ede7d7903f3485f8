//! The generic glue between a [`ServerSession`] and
//! any [`Storage`]: every adapter (mio, async-std, the simulator, firmware)
//! answers storage events and moves file data through these functions, so
//! none of them repeats the logic.
//!
//! * [`perform`] carries out a [`StorageOp`] and returns the session's
//!   answer together with the reader or writer it opened, which the driver
//!   keeps for the coming transfer.
//! * [`SendPump`] fills data-connection buffers from a reader (with `TYPE A`
//!   conversion when asked); [`ReceivePump`] writes received data (likewise)
//!   and commits the upload at the end.
//! * Listings come from [`Listing`].

use super::event::{StorageAnswer, StorageOp};
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
/// use netboot_core::ftp::server::glue::{perform, Opened};
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
/// use netboot_core::ftp::server::glue::SendPump;
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

/// Writes the bytes of an upload as they arrive.
///
/// ```
/// use netboot_core::ftp::server::glue::ReceivePump;
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
