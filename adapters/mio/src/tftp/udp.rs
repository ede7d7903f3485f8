//! Batched UDP for TFTP windows, through quinn-udp: a window of equal-size
//! DATA datagrams leaves in one `sendmsg` with UDP segmentation offload
//! (GSO), and a downloading client takes many datagrams per `recvmmsg`, with
//! generic receive offload (GRO) merging a segmented window into one buffer.
//!
//! Where the kernel has no GSO the runs are sent one datagram at a time.
//!
//! quinn-udp also forbids IP fragmentation on the sockets it configures,
//! which would break `blksize` values above the path MTU. So sockets that
//! send DATA are never configured by it: segmentation offload needs no
//! socket option, only a control message, and the GSO capability is probed
//! once on a throw-away socket. Only a downloading client's socket, which
//! sends nothing but small ACKs, is configured for GRO.

use std::io::{self, IoSliceMut};
use std::net::{SocketAddr, UdpSocket};

use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};

/// Sending runs of datagrams, with GSO where the kernel has it.
pub(crate) struct Batcher {
    state: Option<UdpSocketState>,
}

impl Batcher {
    /// Probes for GSO on a throw-away socket.
    pub(crate) fn probe() -> Batcher {
        let state = UdpSocket::bind("127.0.0.1:0")
            .ok()
            .and_then(|probe| UdpSocketState::new(UdpSockRef::from(&probe)).ok())
            .filter(|s| s.max_gso_segments() > 1);
        Batcher { state }
    }

    /// Most datagrams one run may hold.
    pub(crate) fn max_segments(&self) -> usize {
        self.state.as_ref().map_or(1, |s| s.max_gso_segments())
    }

    /// Sends `bytes`, datagrams of `segment` bytes back to back (the last
    /// may be shorter), to `to`. Failures are losses, which the transfer's
    /// retransmission recovers from.
    pub(crate) fn send(
        &self,
        socket: &mio::net::UdpSocket,
        bytes: &[u8],
        segment: usize,
        to: SocketAddr,
    ) {
        if segment < bytes.len()
            && let Some(state) = &self.state
        {
            let t = Transmit {
                destination: to,
                ecn: None,
                contents: bytes,
                segment_size: Some(segment),
                src_ip: None,
            };
            match state.try_send(UdpSockRef::from(socket), &t) {
                Ok(()) => return,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // EINVAL or EMSGSIZE: segments larger than the link allows
                // offloading; fall back to one datagram at a time.
                Err(e) => {
                    tracing::debug!("tftp: segmented send to {to} failed ({e}); sending singly")
                }
            }
        }
        for chunk in bytes.chunks(segment.max(1)) {
            if let Err(e) = socket.send_to(chunk, to) {
                tracing::debug!("tftp: send to {to} failed: {e}");
            }
        }
    }
}

/// Number of receive buffers a [`GroReceiver`] fills per system call.
const RECV_BUFFERS: usize = 8;
/// Size of each receive buffer: a merged (GRO) run of up to 64 KiB, plus
/// room to spare.
const RECV_BUFFER: usize = 128 * 1024;

/// Receiving many datagrams per system call, merged by GRO where the kernel
/// does it.
pub(crate) struct GroReceiver {
    state: Option<UdpSocketState>,
    bufs: Vec<Vec<u8>>,
    meta: [RecvMeta; RECV_BUFFERS],
}

impl GroReceiver {
    /// Configures `socket` (which must only ever send small datagrams: GRO
    /// configuration also forbids fragmentation) for batched receive.
    pub(crate) fn new(socket: &mio::net::UdpSocket) -> GroReceiver {
        GroReceiver {
            state: UdpSocketState::new(UdpSockRef::from(socket)).ok(),
            bufs: (0..RECV_BUFFERS).map(|_| vec![0u8; RECV_BUFFER]).collect(),
            meta: [RecvMeta::default(); RECV_BUFFERS],
        }
    }

    /// Receives what is waiting (one system call) and calls `f` for each
    /// datagram, in order. Returns `Ok(0)` when nothing was waiting.
    pub(crate) fn recv(
        &mut self,
        socket: &mio::net::UdpSocket,
        f: &mut dyn FnMut(SocketAddr, &mut [u8]),
    ) -> io::Result<usize> {
        let Some(state) = &self.state else {
            // No quinn-udp state: one plain datagram at a time.
            return match socket.recv_from(&mut self.bufs[0]) {
                Ok((n, from)) => {
                    f(from, &mut self.bufs[0][..n]);
                    Ok(1)
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) => Err(e),
            };
        };
        let mut slices: Vec<IoSliceMut<'_>> =
            self.bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let n = match state.recv(UdpSockRef::from(socket), &mut slices, &mut self.meta) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        drop(slices);
        let mut count = 0;
        for (meta, buf) in self.meta[..n].iter().zip(self.bufs.iter_mut()) {
            let stride = meta.stride.max(1);
            let len = meta.len.min(buf.len());
            let mut start = 0;
            while start < len {
                let end = (start + stride).min(len);
                f(meta.addr, &mut buf[start..end]);
                count += 1;
                start = end;
            }
        }
        Ok(count)
    }
}
