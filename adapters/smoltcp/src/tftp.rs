//! The core TFTP client's download on a smoltcp UDP socket.
//!
//! Bind the socket to a local port of your choosing (it is the transfer's
//! TID; pick it at random) before starting. The file lands in any
//! [`Storage`]; with a [`SliceStore`](crate::SliceStore) it lands in a
//! memory region.

use core::net::SocketAddr;

use netboot_core::storage::Storage;
use netboot_core::storage::StoreError;
use netboot_core::tftp::file::{self, CLIENT_DOWNLOAD_MODE, TransferFile};
use netboot_core::tftp::options::Request;
use netboot_core::tftp::{ApiError, Event, Transfer, TransferConfig, TransferError};
use netboot_core::time::Instant;
use netboot_core::wire::tftp::Mode;
use smoltcp::socket::udp;

/// Why a download could not start.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// The store refused the target.
    #[error("storage: {0}")]
    Storage(StoreError),
    /// The request cannot be made (a file name too long).
    #[error("request: {0}")]
    Request(ApiError),
}

/// One TFTP download (RRQ) driven over a smoltcp UDP socket.
///
/// ```
/// use netboot_core::tftp::{options::Request, TransferConfig};
/// use netboot_core::time::Instant;
/// use netboot_smoltcp::{SliceStore, TftpGet};
/// use smoltcp::socket::udp;
///
/// let (mut rx_meta, mut rx_data) = ([udp::PacketMetadata::EMPTY; 4], [0u8; 4 * 600]);
/// let (mut tx_meta, mut tx_data) = ([udp::PacketMetadata::EMPTY; 2], [0u8; 2 * 600]);
/// let mut socket = udp::Socket::new(
///     udp::PacketBuffer::new(&mut rx_meta[..], &mut rx_data[..]),
///     udp::PacketBuffer::new(&mut tx_meta[..], &mut tx_data[..]),
/// );
/// socket.bind(49_200).unwrap();
/// let mut ram = [0u8; 4096];
/// let mut store = SliceStore::new(&mut ram);
/// let (mut tx, mut rx) = ([0u8; 516], [0u8; 516]);
/// let server = "192.0.2.1:69".parse().unwrap();
/// let mut get = TftpGet::start(Instant::ZERO, &TransferConfig::default(), server,
///     "boot.img", Request::default(), &mut store, "boot.img").unwrap();
/// // The first poll queues the RRQ: opcode 1, the name, "octet".
/// assert!(get.poll(Instant::ZERO, &mut socket, &mut store, &mut tx, &mut rx).is_none());
/// assert_eq!(socket.send_queue(), b"\x00\x01boot.img\x00octet\x00".len());
/// ```
pub struct TftpGet<S: Storage> {
    transfer: Transfer,
    files: TransferFile<S>,
    outcome: Option<Result<u64, TransferError>>,
}

impl<S: Storage> core::fmt::Debug for TftpGet<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TftpGet")
            .field("transfer", &self.transfer)
            .field("outcome", &self.outcome)
            .finish()
    }
}

impl<S: Storage> TftpGet<S> {
    /// Asks `server` for `file` (octet mode, with `request`'s options) and
    /// opens `target` in `store` to receive it (written aside: visible only
    /// when complete).
    pub fn start(
        now: Instant,
        config: &TransferConfig,
        server: SocketAddr,
        file: &str,
        request: Request,
        store: &mut S,
        target: &str,
    ) -> Result<Self, StartError> {
        let transfer = Transfer::client_read(now, config, server, file, Mode::Octet, request)
            .map_err(StartError::Request)?;
        let writer = store
            .open_write(target, CLIENT_DOWNLOAD_MODE)
            .map_err(StartError::Storage)?;
        Ok(TftpGet {
            transfer,
            files: TransferFile::writing(writer),
            outcome: None,
        })
    }

    /// Feeds every datagram waiting in `socket` (each copied into `rx`, which
    /// must hold the negotiated block size plus 4 bytes), fires the timer if
    /// due, and queues what the transfer sends (built in `tx`, as large as
    /// `rx`). Returns the outcome (the file's size, or why it failed) once
    /// known, and on every later call.
    ///
    /// After the outcome, keep polling until [`TftpGet::is_closed`] to
    /// answer a server that lost the final ACK (a few round trips), or drop
    /// the transfer.
    pub fn poll(
        &mut self,
        now: Instant,
        socket: &mut udp::Socket<'_>,
        store: &mut S,
        tx: &mut [u8],
        rx: &mut [u8],
    ) -> Option<Result<u64, TransferError>> {
        while let Ok((n, meta)) = socket.recv_slice(rx) {
            let from = crate::socket_addr(meta.endpoint);
            self.transfer.handle_datagram(now, from, &rx[..n]);
            self.drive(now, socket, store, tx, &mut rx[..n]);
        }
        if self.transfer.poll_timeout().is_some_and(|d| d <= now) {
            self.transfer.handle_timeout(now);
            self.drive(now, socket, store, tx, &mut []);
        }
        if self.outcome.is_none() {
            // The first poll sends the request.
            self.drive(now, socket, store, tx, &mut []);
        }
        self.outcome
    }

    fn drive(
        &mut self,
        now: Instant,
        socket: &mut udp::Socket<'_>,
        store: &mut S,
        tx: &mut [u8],
        rx: &mut [u8],
    ) {
        let outcome = &mut self.outcome;
        file::drive(
            file::Driven {
                transfer: &mut self.transfer,
                file: &mut self.files,
                store,
                received: rx,
            },
            now,
            tx,
            // A full socket buffer is a lost datagram; the transfer resends.
            &mut |bytes, to| {
                if let Some(to) = crate::endpoint(to) {
                    let _ = socket.send_slice(bytes, to);
                }
            },
            &mut |_, event| match event {
                Event::Done { bytes } if outcome.is_none() => *outcome = Some(Ok(bytes)),
                Event::Failed(e) if outcome.is_none() => *outcome = Some(Err(e)),
                _ => {}
            },
        );
    }

    /// When [`TftpGet::poll`] must run next, datagrams aside.
    pub fn poll_at(&self) -> Option<Instant> {
        self.transfer.poll_timeout()
    }

    /// True once the transfer has nothing more to do (it is over and has
    /// stopped lingering for a lost final ACK).
    pub fn is_closed(&self) -> bool {
        self.transfer.is_closed()
    }

    /// File bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.transfer.bytes()
    }

    /// Discards an unfinished download (nothing becomes visible).
    pub fn abandon(mut self, store: &mut S) {
        self.files.discard(store);
    }
}
