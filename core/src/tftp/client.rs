//! One client transfer with its local file: what every client runtime
//! (the blocking and async clients, the simulator) drives.
//!
//! [`ClientTransfer::get`] and [`ClientTransfer::put`] open the local file
//! in a [`Storage`] and build the core [`Transfer`]; [`ClientTransfer::drive`]
//! (or [`ClientTransfer::drive_batched`]) drains it after every input,
//! answering storage events and remembering the outcome, the size the
//! server announced and when the transfer ended. The driver only moves
//! datagrams and sleeps until [`Transfer::poll_timeout`]; after the outcome
//! it may keep driving until [`Transfer::is_closed`] to answer a repeated
//! final DATA (the dally).
//!
//! ```
//! use netboot_core::storage::{MemStore, Storage};
//! use netboot_core::tftp::client::ClientTransfer;
//! use netboot_core::tftp::{options::Request, TransferConfig};
//! use netboot_core::time::Instant;
//! use netboot_core::wire::tftp::Mode;
//!
//! let mut store = MemStore::new();
//! store.insert("up.txt", b"text".to_vec());
//! let server = "192.0.2.1:69".parse().unwrap();
//! let mut c = ClientTransfer::put(&mut store, Instant::ZERO, &TransferConfig::default(),
//!     server, "up.txt", "up.txt", Mode::Octet, Request::default(), true).unwrap();
//! assert_eq!(c.total(), Some(4));
//! let mut sent = 0;
//! let mut tx = [0u8; 600];
//! c.drive(&mut store, Instant::ZERO, &mut [], &mut tx, &mut |_, to| {
//!     assert_eq!(to, server);
//!     sent += 1;
//! });
//! assert_eq!((sent, c.result()), (1, None));
//! ```

use core::net::SocketAddr;

use super::file::{self, Batch, CLIENT_DOWNLOAD_MODE, Driven, TransferFile};
use super::options::Request;
use super::{Event, Transfer, TransferConfig, TransferError};
use crate::storage::{Storage, StoreError};
use crate::time::Instant;
use crate::wire::tftp::Mode;

/// A client transfer, its local file and what it has reported so far.
pub struct ClientTransfer<S: Storage> {
    transfer: Transfer,
    file: TransferFile<S>,
    notes: Notes,
}

impl<S: Storage> core::fmt::Debug for ClientTransfer<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ClientTransfer")
            .field("transfer", &self.transfer)
            .field("notes", &self.notes)
            .finish_non_exhaustive()
    }
}

impl<S: Storage> ClientTransfer<S> {
    /// Opens `local` in `store` for writing (aside, replacing it only when
    /// complete) and starts a download of `remote` from `server`.
    #[allow(clippy::too_many_arguments)]
    pub fn get(
        store: &mut S,
        now: Instant,
        config: &TransferConfig,
        server: SocketAddr,
        remote: &str,
        local: &str,
        mode: Mode,
        request: Request,
    ) -> Result<Self, StoreError> {
        let writer = store.open_write(local, CLIENT_DOWNLOAD_MODE)?;
        let t = Transfer::client_read(now, config, server, remote, mode, request);
        Self::start(store, t, TransferFile::writing(writer), None)
    }

    /// Opens `local` in `store` for reading and starts an upload of it as
    /// `remote` to `server`, announcing its size in `tsize` when
    /// `announce` is set.
    #[allow(clippy::too_many_arguments)]
    pub fn put(
        store: &mut S,
        now: Instant,
        config: &TransferConfig,
        server: SocketAddr,
        local: &str,
        remote: &str,
        mode: Mode,
        mut request: Request,
        announce: bool,
    ) -> Result<Self, StoreError> {
        let (reader, meta) = store.open_read(local)?;
        if announce {
            request.tsize = Some(meta.len);
        }
        let t = Transfer::client_write(now, config, server, remote, mode, request);
        Self::start(store, t, TransferFile::reading(reader), Some(meta.len))
    }

    fn start(
        store: &mut S,
        t: Result<Transfer, super::ApiError>,
        mut file: TransferFile<S>,
        total: Option<u64>,
    ) -> Result<Self, StoreError> {
        match t {
            Ok(transfer) => Ok(ClientTransfer {
                transfer,
                file,
                notes: Notes {
                    outcome: None,
                    total,
                    ended: None,
                },
            }),
            Err(_) => {
                file.discard(store);
                Err(StoreError::PermissionDenied)
            }
        }
    }

    /// The core transfer.
    pub fn transfer(&self) -> &Transfer {
        &self.transfer
    }

    /// The core transfer, to hand it datagrams and timeouts directly.
    pub fn transfer_mut(&mut self) -> &mut Transfer {
        &mut self.transfer
    }

    /// Hands the transfer a datagram, then drains it with [`drive`](Self::drive).
    pub fn handle_datagram(
        &mut self,
        store: &mut S,
        now: Instant,
        from: SocketAddr,
        rx: &mut [u8],
        tx: &mut [u8],
        send: &mut dyn FnMut(&[u8], SocketAddr),
    ) -> Option<Instant> {
        self.transfer.handle_datagram(now, from, rx);
        self.drive(store, now, rx, tx, send)
    }

    /// Hands the transfer a timeout, then drains it with [`drive`](Self::drive).
    pub fn handle_timeout(
        &mut self,
        store: &mut S,
        now: Instant,
        tx: &mut [u8],
        send: &mut dyn FnMut(&[u8], SocketAddr),
    ) -> Option<Instant> {
        self.transfer.handle_timeout(now);
        self.drive(store, now, &mut [], tx, send)
    }

    /// Drains the transfer after an input with [`file::drive`] (`rx`: the
    /// datagram just handed in, or empty). Returns the next deadline.
    pub fn drive(
        &mut self,
        store: &mut S,
        now: Instant,
        rx: &mut [u8],
        tx: &mut [u8],
        send: &mut dyn FnMut(&[u8], SocketAddr),
    ) -> Option<Instant> {
        let (d, notes) = self.parts(store, rx);
        file::drive(d, now, tx, send, &mut |_, e| notes.note(now, e))
    }

    /// Like [`drive`](Self::drive), with [`file::drive_batched`].
    pub fn drive_batched(
        &mut self,
        store: &mut S,
        now: Instant,
        rx: &mut [u8],
        batch: Batch<'_, '_>,
        send: &mut dyn FnMut(&[u8], usize, SocketAddr),
    ) -> Option<Instant> {
        let (d, notes) = self.parts(store, rx);
        file::drive_batched(d, now, batch, send, &mut |_, e| notes.note(now, e))
    }

    fn parts<'a>(
        &'a mut self,
        store: &'a mut S,
        rx: &'a mut [u8],
    ) -> (Driven<'a, S>, &'a mut Notes) {
        let d = Driven {
            transfer: &mut self.transfer,
            file: &mut self.file,
            store,
            received: rx,
        };
        (d, &mut self.notes)
    }

    /// The first `Done` or `Failed` event, once there is one.
    pub fn outcome(&self) -> Option<Event> {
        self.notes.outcome
    }

    /// The outcome as a result: the file bytes moved, or why it failed.
    pub fn result(&self) -> Option<Result<u64, TransferError>> {
        match self.notes.outcome? {
            Event::Done { bytes } => Some(Ok(bytes)),
            Event::Failed(e) => Some(Err(e)),
            _ => None,
        }
    }

    /// When the outcome was reported.
    pub fn ended_at(&self) -> Option<Instant> {
        self.notes.ended
    }

    /// The file size, when known: the local file of an upload, or the
    /// `tsize` the server announced for a download.
    pub fn total(&self) -> Option<u64> {
        self.notes.total
    }

    /// Closes the local file; an unfinished download is discarded.
    pub fn discard(&mut self, store: &mut S) {
        self.file.discard(store);
    }
}

/// What the transfer reported that its driver wants to know.
#[derive(Debug)]
struct Notes {
    outcome: Option<Event>,
    total: Option<u64>,
    ended: Option<Instant>,
}

impl Notes {
    fn note(&mut self, now: Instant, e: Event) {
        match e {
            Event::Done { .. } | Event::Failed(_) if self.outcome.is_none() => {
                self.outcome = Some(e);
                self.ended = Some(now);
            }
            Event::Negotiated(n) if n.tsize.is_some() => self.total = n.tsize,
            _ => {}
        }
    }
}
