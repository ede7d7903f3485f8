//! The receiving engine: store each DATA block in order, acknowledge every
//! `windowsize` blocks and the last one, only after the driver confirmed the
//! write (RFC 1350 section 2, RFC 7440 section 4), then dally.
//!
//! A block that repeats the last acknowledged one means the sender lost the
//! ACK: it is acknowledged again. A block beyond the expected one reveals a
//! gap: it is answered once with an ACK of the last block received in order,
//! which makes a windowed sender restart there. Other repeats are dropped.
//! On a timeout (twice the sender's, so the sender normally retransmits
//! first) the receiver repeats its last ACK (RFC 1350 section 2), so a
//! transfer survives the loss of the ACK that ends a window. A repeated
//! block that arrives right after its ACK went out is not answered again:
//! it is the echo of our own repeated ACK from a sender with the Sorcerer's
//! Apprentice bug, and answering would double every block from then on.

use super::transfer::{Ctl, Payload, Role, State, Transfer};
use super::{ApiError, Event, Ignored, TransferError, error_code_for, error_message_for};
use crate::storage::StoreError;
use crate::time::Instant;
use crate::wire::tftp::{DATA_HEADER_LEN, ErrorCode, Mode, Packet};

#[derive(Clone, Copy, Debug)]
struct Pending {
    block: u64,
    len: usize,
    last: bool,
    /// Bytes handed out by `payload` (after netascii decoding).
    stored: Option<usize>,
}

#[derive(Debug)]
pub(super) struct Receiver {
    /// Next block expected.
    expected: u64,
    /// Blocks stored since the last ACK.
    in_window: u16,
    /// A block waiting for the driver's write.
    pending: Option<Pending>,
    /// A gap was already reported; wait for progress before another.
    nak_sent: bool,
    /// The final block, once stored.
    last_block: Option<u64>,
    /// When an ACK last went out.
    pub(super) acked_at: Option<Instant>,
}

impl Receiver {
    pub(super) fn new() -> Self {
        Receiver {
            expected: 1,
            in_window: 0,
            pending: None,
            nak_sent: false,
            last_block: None,
            acked_at: None,
        }
    }

    pub(super) fn clear_pending(&mut self) {
        self.pending = None;
    }
}

impl Transfer {
    pub(super) fn on_data(&mut self, now: Instant, packet: Packet<'_>) {
        let Packet::Data { block, data } = packet else {
            return;
        };
        if self.state == State::Dallying {
            // The sender is still retrying: it lost our final ACK. Answer
            // the final block again and keep lingering while it tries.
            self.deadline = Some(now + self.dally_time());
            match self.recv.last_block {
                Some(last) if last as u16 == block => {
                    self.queue_ctl(Ctl::Ack(block), false);
                }
                _ => self.ignore(Ignored::Stale),
            }
            return;
        }
        if self.recv.pending.is_some() {
            self.ignore(Ignored::Busy);
            return;
        }
        let expected = self.recv.expected;
        if block == expected as u16 {
            if data.len() > usize::from(self.neg.blksize) {
                self.finish_failed(
                    TransferError::Protocol("DATA larger than the block size"),
                    Some((ErrorCode::IllegalOperation, "block larger than blksize")),
                );
                return;
            }
            if let Some(limit) = self.max_upload
                && self.bytes + data.len() as u64 > limit
            {
                self.finish_failed(
                    TransferError::TooLarge,
                    Some((ErrorCode::DiskFull, "upload exceeds the size limit")),
                );
                return;
            }
            self.take_probe(now);
            let last = data.len() < usize::from(self.neg.blksize);
            self.recv.pending = Some(Pending {
                block: expected,
                len: data.len(),
                last,
                stored: None,
            });
            self.push_event(Event::Write {
                offset: self.bytes,
                last,
            });
            return;
        }
        let behind = (expected as u16).wrapping_sub(block);
        if behind == 1 && self.recv.in_window == 0 {
            // The sender did not get our ACK for it, unless that ACK only
            // just left: then this is a copy the sender made when our timer
            // repeated the ACK (a sender with the Sorcerer's Apprentice bug
            // answers each ACK copy with a DATA copy). Answering every copy
            // would keep the doubling going for the rest of the transfer.
            let fresh = self
                .recv
                .acked_at
                .is_some_and(|at| now.saturating_duration_since(at) < self.rto.current() / 2);
            if fresh {
                self.ignore(Ignored::Stale);
            } else {
                self.repeat_ack();
            }
        } else if (1..=0x8000).contains(&behind) {
            self.ignore(Ignored::Stale);
        } else if !self.recv.nak_sent {
            self.recv.nak_sent = true;
            self.recv.in_window = 0;
            self.repeat_ack();
        } else {
            self.ignore(Ignored::Stale);
        }
    }

    /// Sends again the acknowledgement of the last block received in order
    /// (the OACK, when that is what acknowledged the WRQ).
    fn repeat_ack(&mut self) {
        let acked = self.recv.expected - 1;
        let ctl = if acked == 0 && self.role == Role::ServerWrite && !self.oack.options().is_empty()
        {
            Ctl::Oack
        } else {
            Ctl::Ack(acked as u16)
        };
        self.queue_ctl(ctl, false);
    }

    pub(super) fn take_payload<'b>(
        &mut self,
        datagram: &'b mut [u8],
    ) -> Result<Payload<'b>, ApiError> {
        let p = self.recv.pending.as_mut().ok_or(ApiError::NotExpected)?;
        if p.stored.is_some() {
            return Err(ApiError::NotExpected);
        }
        let data = datagram
            .get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + p.len)
            .ok_or(ApiError::BufferTooSmall)?;
        let payload = match self.mode {
            Mode::Octet => Payload { prefix: None, data },
            Mode::Netascii => {
                let d = self.decoder.decode(data, p.last);
                Payload {
                    prefix: d.prefix,
                    data: &data[..d.len],
                }
            }
        };
        p.stored = Some(payload.data.len() + usize::from(payload.prefix.is_some()));
        Ok(payload)
    }

    pub(super) fn on_write_done(
        &mut self,
        now: Instant,
        result: Result<(), StoreError>,
    ) -> Result<(), ApiError> {
        let p = self.recv.pending.take().ok_or(ApiError::NotExpected)?;
        if let Err(e) = result {
            self.finish_failed(
                TransferError::Storage(e),
                Some((error_code_for(e), error_message_for(e))),
            );
            return Ok(());
        }
        self.bytes += p.stored.unwrap_or(p.len) as u64;
        self.recv.expected += 1;
        self.recv.in_window += 1;
        self.recv.nak_sent = false;
        self.progress(now);
        if p.last {
            self.recv.last_block = Some(p.block);
            self.queue_ctl(Ctl::Ack(p.block as u16), true);
            self.state = State::Dallying;
            self.deadline = Some(now + self.dally_time());
            self.finish_done();
        } else if self.recv.in_window >= self.neg.windowsize {
            self.recv.in_window = 0;
            self.queue_ctl(Ctl::Ack(p.block as u16), true);
            self.arm_receiver(now);
        } else {
            self.arm_receiver(now);
        }
        Ok(())
    }

    /// Waits for data: twice the retransmission timeout, since the sender
    /// retransmits first and a receiver that repeats its ACK too eagerly
    /// only provokes duplicates.
    fn arm_receiver(&mut self, now: Instant) {
        self.deadline = Some(now + self.rto.current().saturating_mul(2));
    }

    /// How long to linger after the final ACK (and after each repeat of the
    /// final block): four retransmission timeouts, or the configured
    /// minimum.
    fn dally_time(&self) -> crate::time::Duration {
        self.rto.current().saturating_mul(4).max(self.config.dally)
    }

    pub(super) fn recv_timeout(&mut self, now: Instant) {
        self.retries = self.retries.saturating_add(1);
        self.rto.back_off();
        self.recv.in_window = 0;
        self.recv.nak_sent = false;
        self.repeat_ack();
        self.arm_receiver(now);
    }
}
