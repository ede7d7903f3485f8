//! Drives the TFTP request acceptor and the server transfer machine with
//! arbitrary datagrams (from the peer or from strangers) and arbitrary time
//! steps, answering storage events from an in-memory store, either one
//! datagram at a time (`file::drive`) or in runs for segmentation offload
//! through a read-ahead buffer (`file::drive_batched`, as the mio server
//! does).
//!
//! Invariants: nothing panics; every datagram fits the buffer and parses;
//! a run holds at most the allowed number of equal-size datagrams (the last
//! may be shorter) and fits one offload send;
//! time never makes the machine loop; once closed it stays silent; an upload
//! that did not finish leaves nothing in the store.

use crate::storage::MemStore;
use crate::tftp::file::{self, Accepted, ReadAhead, ReadAheadState};
use crate::tftp::options::Limits;
use crate::tftp::{Event, Server, ServerConfig, TransferConfig};
use crate::time::{Duration, Instant};
use crate::wire::tftp::{MAX_PACKET_LEN, Packet};
use core::net::SocketAddr;

/// Runs one input.
pub fn run(data: &[u8]) {
    if data.len() < 2 {
        return;
    }
    let peer: SocketAddr = "192.0.2.2:1000".parse().unwrap();
    let stranger: SocketAddr = "192.0.2.3:1000".parse().unwrap();
    let mut store = MemStore::new();
    let f: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
    let text = b"a\nb\r\nc\r".repeat(100);
    store.insert("f", f.clone());
    store.insert("t", text.clone());
    let server = Server::new(ServerConfig {
        limits: Limits {
            max_upload: Some(5000),
            ..Limits::default()
        },
        writable: data[0] & 1 == 1,
        overwrite: data[0] & 2 == 2,
        transfer: TransferConfig::default(),
    });
    let mut tx = vec![0u8; MAX_PACKET_LEN];
    // The first chunk is the request.
    let (req_len, rest) = (usize::from(data[1]).min(data.len() - 2), &data[2..]);
    let (request, mut rest) = rest.split_at(req_len);
    let mut now = Instant::ZERO;
    let (mut t, mut files) = match file::accept(&server, &mut store, now, peer, request, &mut tx) {
        Accepted::Transfer(t, f) => (t, f),
        Accepted::Reply(out) => {
            assert!(matches!(
                Packet::parse(&tx[..out.len]),
                Ok(Packet::Error { .. })
            ));
            return;
        }
        Accepted::Dropped(_) => return,
    };
    let mut rx = vec![0u8; MAX_PACKET_LEN];
    let mut finished = None;
    let check = |t: &crate::tftp::Transfer, e: Event, finished: &mut Option<Event>| {
        if let Event::Done { .. } | Event::Failed(_) = e {
            assert!(finished.is_none(), "one outcome per transfer");
            *finished = Some(e);
        }
        let _ = t;
    };
    let sent = core::cell::Cell::new(0usize);
    // Batched driving: runs of at most `max_segments` datagrams.
    let batched = data[0] & 4 != 0;
    let max_segments = 1 + usize::from(data[0] >> 3);
    let mut batch = vec![0u8; file::MAX_BATCH_BYTES.max(MAX_PACKET_LEN)];
    let mut ahead = vec![0u8; 4096];
    let mut ahead_state = ReadAheadState::default();
    let mut drive = |t: &mut crate::tftp::Transfer,
                     files: &mut file::TransferFile<MemStore>,
                     store: &mut MemStore,
                     now: Instant,
                     rx: &mut [u8],
                     finished: &mut Option<Event>| {
        if !batched {
            file::drive(
                file::Driven {
                    transfer: t,
                    file: files,
                    store,
                    received: rx,
                },
                now,
                &mut tx,
                &mut |bytes, _| {
                    assert!(Packet::parse(bytes).is_ok());
                    sent.set(sent.get() + 1);
                },
                &mut |t, e| check(t, e, finished),
            );
            return;
        }
        file::drive_batched(
            file::Driven {
                transfer: t,
                file: files,
                store,
                received: rx,
            },
            now,
            file::Batch {
                buf: &mut batch,
                max_segments,
                read_ahead: Some(ReadAhead {
                    buf: &mut ahead,
                    state: &mut ahead_state,
                    owner: 1,
                }),
            },
            &mut |bytes, segment, to| {
                assert!(to == peer || to == stranger, "a run to {to}");
                assert!(segment > 0 && !bytes.is_empty());
                let count = bytes.len().div_ceil(segment);
                assert!(count <= max_segments, "{count} datagrams in a run");
                assert!(count == 1 || bytes.len() <= file::MAX_BATCH_BYTES);
                for d in bytes.chunks(segment) {
                    assert!(Packet::parse(d).is_ok());
                }
                sent.set(sent.get() + count);
            },
            &mut |t, e| check(t, e, finished),
        );
    };
    drive(&mut t, &mut files, &mut store, now, &mut [], &mut finished);
    while let [op, more @ ..] = rest {
        match op % 4 {
            0 | 1 => {
                let Some((&len, body)) = more.split_first() else {
                    break;
                };
                let len = usize::from(len).min(body.len());
                let (bytes, after) = body.split_at(len);
                rest = after;
                let from = if op % 4 == 0 { peer } else { stranger };
                rx[..len].copy_from_slice(bytes);
                t.handle_datagram(now, from, &rx[..len]);
                drive(
                    &mut t,
                    &mut files,
                    &mut store,
                    now,
                    &mut rx[..len],
                    &mut finished,
                );
            }
            2 => {
                let Some((&step, after)) = more.split_first() else {
                    break;
                };
                rest = after;
                now += Duration::from_millis(u64::from(step) * 37);
                t.handle_timeout(now);
                drive(&mut t, &mut files, &mut store, now, &mut [], &mut finished);
            }
            _ => {
                // Jump to the deadline, as a driver does.
                rest = more;
                if let Some(d) = t.poll_timeout() {
                    assert!(d >= now, "deadline in the past");
                    now = d;
                    t.handle_timeout(now);
                    drive(&mut t, &mut files, &mut store, now, &mut [], &mut finished);
                }
            }
        }
        if t.is_closed() {
            let before = sent.get();
            t.handle_timeout(now + Duration::from_secs(1000));
            drive(&mut t, &mut files, &mut store, now, &mut [], &mut finished);
            assert_eq!(sent.get(), before, "a closed transfer stays silent");
        }
    }
    // Let the transfer run out of retries; it must end within a bounded
    // number of timeouts.
    for _ in 0..64 {
        match t.poll_timeout() {
            Some(d) => {
                now = d;
                t.handle_timeout(now);
                drive(&mut t, &mut files, &mut store, now, &mut [], &mut finished);
            }
            None => break,
        }
    }
    assert!(t.poll_timeout().is_none(), "the transfer ends by itself");
    files.finish(&mut store);
    if !matches!(finished, Some(Event::Done { .. })) {
        // An unfinished upload leaves the store exactly as it was.
        assert_eq!(store.files().collect::<Vec<_>>(), ["f", "t"]);
        assert_eq!(store.get("f"), Some(&f[..]));
        assert_eq!(store.get("t"), Some(&text[..]));
    }
}
