//! Drives a TFTP client transfer (RRQ or WRQ, octet or netascii, with
//! options) with arbitrary datagrams from the server's address, from
//! strangers and from other ports, and arbitrary time steps, answering its
//! storage events from an in-memory store through `tftp::file`.
//!
//! Invariants: nothing panics; every datagram it sends parses; one outcome
//! per transfer; time never makes it loop; once closed it stays silent; a
//! download that did not finish leaves no file.

use core::net::SocketAddr;

use crate::storage::{MemStore, Storage};
use crate::tftp::file::{self, CLIENT_DOWNLOAD_MODE, TransferFile};
use crate::tftp::options::Request;
use crate::tftp::{Event, Transfer, TransferConfig};
use crate::time::{Duration, Instant};
use crate::wire::tftp::{MAX_PACKET_LEN, Mode, Packet};

/// Runs one input.
pub fn run(data: &[u8]) {
    let Some((&mode, mut rest)) = data.split_first() else {
        return;
    };
    let server: SocketAddr = "192.0.2.1:69".parse().unwrap();
    let tid: SocketAddr = "192.0.2.1:4000".parse().unwrap();
    let stranger: SocketAddr = "192.0.2.9:4000".parse().unwrap();
    let mut store = MemStore::new();
    let local: Vec<u8> = (0..2000u32).map(|i| (i * 13) as u8).collect();
    store.insert("local", local.clone());
    let request = Request {
        blksize: (mode & 4 != 0).then_some(8 + u16::from(mode >> 3) * 37),
        windowsize: (mode & 8 != 0).then_some(1 + u16::from(mode >> 5)),
        tsize: (mode & 16 != 0).then_some(0),
        timeout: None,
    };
    let text = if mode & 2 != 0 {
        Mode::Netascii
    } else {
        Mode::Octet
    };
    let now = Instant::ZERO;
    let config = TransferConfig::default();
    let write = mode & 1 == 1;
    let (mut t, mut files) = if write {
        let (r, _) = store.open_read("local").unwrap();
        (
            Transfer::client_write(now, &config, server, "remote", text, request).unwrap(),
            TransferFile::<MemStore>::reading(r),
        )
    } else {
        let w = store.open_write("download", CLIENT_DOWNLOAD_MODE).unwrap();
        (
            Transfer::client_read(now, &config, server, "remote", text, request).unwrap(),
            TransferFile::writing(w),
        )
    };
    let mut now = now;
    let mut tx = vec![0u8; MAX_PACKET_LEN];
    let mut rx = vec![0u8; MAX_PACKET_LEN];
    let mut outcomes = 0;
    let mut sent = 0usize;
    let mut drive = |t: &mut Transfer,
                     files: &mut TransferFile<MemStore>,
                     store: &mut MemStore,
                     now,
                     rx: &mut [u8],
                     sent: &mut usize,
                     outcomes: &mut u32| {
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
                assert!(Packet::parse(bytes).is_ok(), "sent an unparsable datagram");
                *sent += 1;
            },
            &mut |_, e| {
                if matches!(e, Event::Done { .. } | Event::Failed(_)) {
                    *outcomes += 1;
                }
            },
        );
    };
    drive(
        &mut t,
        &mut files,
        &mut store,
        now,
        &mut [],
        &mut sent,
        &mut outcomes,
    );
    while let [op, more @ ..] = rest {
        match op % 4 {
            0 | 1 => {
                let Some((&len, body)) = more.split_first() else {
                    break;
                };
                let len = usize::from(len).min(body.len());
                let (bytes, after) = body.split_at(len);
                rest = after;
                let from = match op % 8 {
                    0 => tid,
                    1 => server,
                    4 => tid,
                    _ => stranger,
                };
                rx[..len].copy_from_slice(bytes);
                t.handle_datagram(now, from, &rx[..len]);
                drive(
                    &mut t,
                    &mut files,
                    &mut store,
                    now,
                    &mut rx[..len],
                    &mut sent,
                    &mut outcomes,
                );
            }
            2 => {
                let Some((&step, after)) = more.split_first() else {
                    break;
                };
                rest = after;
                now += Duration::from_millis(u64::from(step) * 53);
                t.handle_timeout(now);
                drive(
                    &mut t,
                    &mut files,
                    &mut store,
                    now,
                    &mut [],
                    &mut sent,
                    &mut outcomes,
                );
            }
            _ => {
                rest = more;
                if let Some(d) = t.poll_timeout() {
                    assert!(d >= now, "deadline in the past");
                    now = d;
                    t.handle_timeout(now);
                    drive(
                        &mut t,
                        &mut files,
                        &mut store,
                        now,
                        &mut [],
                        &mut sent,
                        &mut outcomes,
                    );
                }
            }
        }
        assert!(outcomes <= 1, "one outcome per transfer");
        if t.is_closed() {
            let before = sent;
            t.handle_timeout(now + Duration::from_secs(1000));
            drive(
                &mut t,
                &mut files,
                &mut store,
                now,
                &mut [],
                &mut sent,
                &mut outcomes,
            );
            assert_eq!(sent, before, "a closed transfer stays silent");
        }
    }
    for _ in 0..64 {
        match t.poll_timeout() {
            Some(d) => {
                now = d;
                t.handle_timeout(now);
                drive(
                    &mut t,
                    &mut files,
                    &mut store,
                    now,
                    &mut [],
                    &mut sent,
                    &mut outcomes,
                );
            }
            None => break,
        }
    }
    assert!(t.poll_timeout().is_none(), "the transfer ends by itself");
    assert!(outcomes <= 1);
    files.finish(&mut store);
    assert_eq!(
        store.get("local"),
        Some(&local[..]),
        "an upload never touches its source"
    );
    if !write && store.get("download").is_some() {
        assert_eq!(outcomes, 1, "a download is visible only once it completed");
    }
}
