//! The FTP server session machine fed arbitrary bytes and time steps, with
//! an in-memory store answering its events through `ftp::server::pump` and
//! data transfers completing, failing or being aborted as the input says.
//! Downloads and listings go through the pump's `SendBuffer` to a data
//! connection that takes as few bytes per write as the input says.
//! Invariants: no panic, output bounded, consumed ≤ offered, every answer
//! the machine asked for is accepted, a download ends within a bounded
//! number of writes.

use crate::ftp::server::pump::{self, Opened, Outgoing, ReceivePump, SendBuffer, perform};
use crate::ftp::server::{
    DataTransfer, Event, OUTPUT_CAPACITY, ServerConfig, ServerSession, TransferKind,
    TransferOutcome,
};
use crate::storage::{MemStore, Storage};
use crate::time::{Duration, Instant};

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut store = MemStore::new();
    store.insert("pub/a.txt", b"hello\nworld\n".to_vec());
    store.insert("b.bin", vec![0; 300]);
    let config = ServerConfig {
        anonymous: true,
        login_delay: Duration::from_millis(5),
        ..ServerConfig::default()
    };
    let mut now = Instant::from_secs(1);
    let mut s = ServerSession::new(
        now,
        config,
        "127.0.0.1:4000".parse().unwrap(),
        "127.0.0.1:21".parse().unwrap(),
    );
    let mut reader = None;
    let mut writer = None;
    let mut out = [0u8; 700];
    // Input: chunks prefixed by a control byte choosing the chunk size, a
    // time step, and how the next transfer ends.
    let mut rest = data;
    let mut pending: Vec<u8> = Vec::new();
    for _ in 0..2_000 {
        let Some((&ctl, tail)) = rest.split_first() else {
            break;
        };
        let take = usize::from(ctl & 0x3f).min(tail.len());
        pending.extend_from_slice(&tail[..take]);
        rest = &tail[take..];
        let used = s.handle_bytes(now, &pending);
        assert!(used <= pending.len());
        pending.drain(..used);
        assert!(pending.len() < 1 << 16, "input must be consumed eventually");
        assert!(s.output().len() <= OUTPUT_CAPACITY);
        while s.poll_transmit(Instant::ZERO, &mut out).is_some() {}
        for _ in 0..16 {
            let Some(ev) = s.poll_event() else { break };
            match ev {
                Event::VerifyLogin { password, .. } => {
                    let ok = (password == "pw").then_some(ctl & 1 == 0);
                    s.login_verified(now, ok).unwrap();
                }
                Event::LoggedIn { .. } => {}
                Event::Storage(op) => {
                    let (answer, opened) = perform(&mut store, &op);
                    match opened {
                        Opened::Reader(r) => reader = Some(r),
                        Opened::Writer(w) => writer = Some(w),
                        Opened::Nothing => {}
                    }
                    s.storage_done(now, answer).unwrap();
                }
                Event::Listen => {
                    if ctl & 0x40 == 0 {
                        s.passive_listening(now, 50_000).unwrap();
                        let from = if ctl & 0x80 == 0 {
                            "127.0.0.1:5000"
                        } else {
                            "10.0.0.1:5000"
                        };
                        let _ = s.accept_data_connection(now, from.parse().unwrap());
                    } else {
                        s.passive_failed(now).unwrap();
                    }
                }
                Event::Connect(_) => {
                    if ctl & 0x40 == 0 {
                        s.data_connected(now).unwrap();
                    } else {
                        s.data_connect_failed(now).unwrap();
                    }
                }
                Event::Transfer(t) => {
                    if ctl & 0x80 != 0 {
                        // Leave it running: ABOR or the data timeout ends it.
                        continue;
                    }
                    let buf = [0u8; 256];
                    let (kind, offset, ascii) = (t.kind, t.offset, t.ascii);
                    let path = String::from(t.path);
                    let outcome = match kind {
                        TransferKind::Retr | TransferKind::List(..) => {
                            let t = DataTransfer {
                                kind,
                                path: &path,
                                offset,
                                ascii,
                            };
                            let what = Outgoing::for_transfer(&t, None).expect("not an upload");
                            let mut r = matches!(kind, TransferKind::Retr)
                                .then(|| reader.take().expect("RETR opened its file"));
                            let mut sending = SendBuffer::new(what, buf);
                            // The data connection takes this much per write.
                            let room = 1 + usize::from(ctl & 0x1f);
                            let mut total = 0;
                            let mut outcome = None;
                            for _ in 0..10_000 {
                                match sending.pending(&mut store, r.as_mut()) {
                                    Ok([]) => {
                                        outcome = Some(TransferOutcome::Complete { bytes: total });
                                        break;
                                    }
                                    Ok(chunk) => {
                                        let n = chunk.len().min(room);
                                        sending.advance(n);
                                        total += n as u64;
                                    }
                                    Err(e) => {
                                        outcome = Some(TransferOutcome::Storage(e));
                                        break;
                                    }
                                }
                            }
                            outcome.expect("a download ends within 10,000 writes")
                        }
                        TransferKind::Stor => {
                            let mut w = writer.take().unwrap();
                            let mut pump = ReceivePump::new(ascii);
                            let mut chunk = tail[..take].to_vec();
                            match pump.absorb(&mut store, &mut w, &mut chunk) {
                                Ok(()) if ctl & 0x40 == 0 => match pump.finish(&mut store, w) {
                                    Ok(bytes) => TransferOutcome::Complete { bytes },
                                    Err(e) => TransferOutcome::Storage(e),
                                },
                                _ => TransferOutcome::ConnectionLost,
                            }
                        }
                    };
                    s.transfer_done(now, outcome).unwrap();
                }
                Event::Abort => {
                    reader = None;
                    if let Some(w) = writer.take() {
                        store.discard(w);
                    }
                    s.transfer_done(now, TransferOutcome::Aborted).unwrap();
                }
                Event::CloseData => {
                    reader = None;
                    if let Some(w) = writer.take() {
                        store.discard(w);
                    }
                }
                Event::StatListing => pump::stat_listing(&mut s, &mut store, now, None).unwrap(),
            }
        }
        now += Duration::from_millis(u64::from(ctl >> 4) * 700);
        s.handle_timeout(now);
        if s.is_closed() {
            break;
        }
    }
}
