//! The sending engine: windowed DATA (RFC 1350 section 2, RFC 7440 section
//! 4), resend from the first unacknowledged block, no resend on duplicate
//! ACKs, and round-trip samples under Karn's rule.
//!
//! RFC 7440's receiver answers a gap with an ACK of the last block it got
//! in order, and the sender goes back to the block after it. After going
//! back, more gap reports keep arriving for a while: ones the receiver sent
//! about the old blocks before the resent ones reached it. They still move
//! the window (an ACK is cumulative) but, within a reaction time
//! ([`Rto::reaction`](super::rto::Rto::reaction)) of going back, do not
//! make the sender go back again: the blocks they ask for are already on
//! their way. (Measured in the simulated fleet, where such cascades made
//! the sender resend windows over and over: docs/benchmarks.md, "Loss".)
//! An ACK of the block before the window stays a duplicate, even though
//! an RFC 7440 receiver also sends it when the window's first block is
//! lost: on the wire it is the same datagram as a repeat of the ACK that
//! opened the window, and resending on it is the Sorcerer's Apprentice.
//!
//! Blocks are counted from 1 in 64 bits; the wire carries the low 16 bits, so
//! block numbers roll over from 65,535 to 0. An ACK is matched against the
//! blocks sent and not yet acknowledged, a range never wider than the window
//! (at most 65,535), so the 16-bit number is never ambiguous.
//!
//! An octet block `n` starts at file offset `(n - 1) * blksize`. A netascii
//! block's offset depends on the encoding of everything before it, so the
//! engine keeps the encoder state (offset and carried byte) at the start of
//! every block from the first unacknowledged one on: at most
//! [`NETASCII_MAX_WINDOW`](super::options::NETASCII_MAX_WINDOW) + 1 entries.

use super::netascii::encode_block;
use super::transfer::{State, Transfer};
use super::{ApiError, Event, Ignored, TransferError, error_code_for, error_message_for};
use crate::storage::StoreError;
use crate::time::Instant;
use crate::wire::tftp::{DATA_HEADER_LEN, Mode};

/// Netascii encoder state at the start of a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mark {
    offset: u64,
    carry: Option<u8>,
}

const MARKS: usize = super::options::NETASCII_MAX_WINDOW as usize + 2;

#[derive(Debug)]
pub(super) struct Sender {
    /// First block not yet acknowledged.
    base: u64,
    /// Next block to send.
    next: u64,
    /// Highest block sent at least once.
    highest: u64,
    /// The last block of the file, once read.
    end: Option<u64>,
    /// Size of the last block.
    end_len: usize,
    /// A read request is outstanding for this block.
    reading: Option<u64>,
    /// This block's payload is in the driver's buffer, ready to go.
    staged: Option<(u64, usize)>,
    /// Netascii: encoder state from `base` on.
    marks: heapless::Deque<Mark, MARKS>,
    /// The block being timed and when it was first sent.
    timing: Option<(u64, Instant)>,
    /// When the sender last went back after a gap report.
    went_back: Option<Instant>,
}

impl Sender {
    pub(super) fn new() -> Self {
        let mut marks = heapless::Deque::new();
        let _ = marks.push_back(Mark {
            offset: 0,
            carry: None,
        });
        Sender {
            base: 1,
            next: 1,
            highest: 0,
            end: None,
            end_len: 0,
            reading: None,
            staged: None,
            marks,
            timing: None,
            went_back: None,
        }
    }

    pub(super) fn clear_staged(&mut self) {
        self.staged = None;
        self.reading = None;
    }
}

impl Transfer {
    fn blksize(&self) -> usize {
        usize::from(self.neg.blksize)
    }

    /// Where block `block` starts: file offset, buffer position, length.
    fn read_window(&self, block: u64) -> Option<(u64, usize, usize)> {
        match self.mode {
            Mode::Octet => Some((
                (block - 1).saturating_mul(self.blksize() as u64),
                DATA_HEADER_LEN,
                self.blksize(),
            )),
            Mode::Netascii => {
                let mark = self
                    .send
                    .marks
                    .iter()
                    .nth(usize::try_from(block - self.send.base).ok()?)?;
                let carry = usize::from(mark.carry.is_some());
                Some((mark.offset, DATA_HEADER_LEN + carry, self.blksize() - carry))
            }
        }
    }

    /// The read request for the next block to send, if one is due.
    pub(super) fn next_read(&mut self) -> Option<Event> {
        let s = &self.send;
        if self.state != State::Sending || s.reading.is_some() || s.staged.is_some() {
            return None;
        }
        if s.next >= s.base + u64::from(self.neg.windowsize) || s.end.is_some_and(|e| s.next > e) {
            return None;
        }
        let block = s.next;
        let (offset, start, len) = self.read_window(block)?;
        self.send.reading = Some(block);
        Some(Event::Read { offset, start, len })
    }

    pub(super) fn on_read_done(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        result: Result<usize, StoreError>,
    ) -> Result<(), ApiError> {
        let _ = now;
        let block = self.send.reading.ok_or(ApiError::NotExpected)?;
        let n = match result {
            Ok(n) => n,
            Err(e) => {
                self.send.reading = None;
                self.finish_failed(
                    TransferError::Storage(e),
                    Some((error_code_for(e), error_message_for(e))),
                );
                return Ok(());
            }
        };
        let (_, _, len) = self.read_window(block).ok_or(ApiError::NotExpected)?;
        if n > len {
            return Err(ApiError::TooMuchData);
        }
        let blksize = self.blksize();
        let payload = buf
            .get_mut(DATA_HEADER_LEN..DATA_HEADER_LEN + blksize)
            .ok_or(ApiError::BufferTooSmall)?;
        self.send.reading = None;
        let len = match self.mode {
            Mode::Octet => n,
            Mode::Netascii => {
                let index = (block - self.send.base) as usize;
                let mark = self.send.marks.iter().nth(index).copied().unwrap_or(Mark {
                    offset: 0,
                    carry: None,
                });
                let e = encode_block(payload, mark.carry, n);
                if index + 1 == self.send.marks.len() {
                    let _ = self.send.marks.push_back(Mark {
                        offset: mark.offset + e.consumed as u64,
                        carry: e.carry,
                    });
                }
                e.len
            }
        };
        if len < blksize {
            self.send.end = Some(block);
            self.send.end_len = len;
        }
        self.send.staged = Some((block, len));
        Ok(())
    }

    /// Hands out the staged block for transmission (wire block number and
    /// payload length) and does the bookkeeping of a send.
    pub(super) fn take_staged(&mut self, now: Instant) -> Option<(u16, usize)> {
        let (block, len) = self.send.staged.take()?;
        let s = &mut self.send;
        if block < s.base {
            return None;
        }
        if block > s.highest {
            s.highest = block;
            if s.timing.is_none() {
                s.timing = Some((block, now));
            }
        } else if s.timing.is_some_and(|(timed, _)| block <= timed) {
            // Karn: a retransmitted block yields no sample.
            s.timing = None;
        }
        s.next = block + 1;
        self.arm(now);
        Some((block as u16, len))
    }

    pub(super) fn on_ack(&mut self, now: Instant, block: u16) {
        let s = &self.send;
        let lo = s.base - 1;
        let k = lo + u64::from(block.wrapping_sub(lo as u16));
        if k == lo || k > s.highest {
            // A duplicate ACK: never a reason to resend (Sorcerer's Apprentice).
            self.ignore(Ignored::Stale);
            return;
        }
        if let Some((timed, sent)) = self.send.timing
            && timed <= k
        {
            self.rto.sample(now - sent);
            self.send.timing = None;
        }
        self.progress(now);
        let acked = k - self.send.base + 1;
        match self.mode {
            Mode::Octet => {
                let blksize = self.blksize() as u64;
                self.bytes = match self.send.end {
                    Some(end) if end == k => (k - 1) * blksize + self.send.end_len as u64,
                    _ => k * blksize,
                };
            }
            Mode::Netascii => {
                for _ in 0..acked {
                    self.send.marks.pop_front();
                }
                // The state at the next block holds the file offset reached.
                if let Some(m) = self.send.marks.front() {
                    self.bytes = m.offset;
                }
            }
        }
        self.send.base = k + 1;
        if self.send.end == Some(k) {
            self.state = State::Closed;
            self.deadline = None;
            self.finish_done();
            return;
        }
        if self.send.next <= self.send.base {
            // The window was acknowledged whole: the next one starts.
            self.arm(now);
            return;
        }
        // RFC 7440: an ACK inside the window means the rest was lost,
        // unless this is an earlier gap report still arriving.
        let recovering = match (self.send.went_back, self.rto.reaction()) {
            (Some(at), Some(reaction)) => now.saturating_duration_since(at) < reaction,
            _ => false,
        };
        if recovering {
            self.arm(now);
        } else {
            self.go_back(now);
        }
    }

    /// Resends from the first unacknowledged block.
    fn go_back(&mut self, now: Instant) {
        let s = &mut self.send;
        s.went_back = Some(now);
        s.next = s.base;
        s.staged = None;
        self.arm(now);
    }

    pub(super) fn send_timeout(&mut self, now: Instant) {
        self.retries = self.retries.saturating_add(1);
        self.rto.back_off();
        let s = &mut self.send;
        s.timing = None;
        s.next = s.base;
        s.staged = None;
        s.reading = None;
        self.arm(now);
    }
}
