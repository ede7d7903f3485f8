use super::*;
use crate::storage::MemStore;
use crate::wire::tftp::Packet;
use std::string::ToString;
use std::vec::Vec;

const LISTEN: &str = "192.0.2.1:69";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 251) as u8).collect()
}

/// One output as sent: socket, destination, segment size, datagrams.
type Sent = (SocketId, SocketAddr, Option<usize>, Vec<Vec<u8>>);

/// An endpoint with its sockets opened on demand, and what it sent.
struct Harness {
    tftp: Endpoint<MemStore>,
    now: Instant,
    next_port: u16,
    open: Vec<SocketId>,
    closed: Vec<SocketId>,
    /// Every output: (socket, destination, segment size, datagrams).
    sent: Vec<Sent>,
    events: Vec<EndpointEvent>,
    refuse_sockets: bool,
}

impl Harness {
    fn new(config: EndpointConfig, store: MemStore) -> Harness {
        let mut h = Harness {
            tftp: Endpoint::new(config, store),
            now: Instant::ZERO,
            next_port: 50_000,
            open: Vec::new(),
            closed: Vec::new(),
            sent: Vec::new(),
            events: Vec::new(),
            refuse_sockets: false,
        };
        h.drain();
        h
    }

    fn with_files(files: &[(&str, Vec<u8>)]) -> Harness {
        let mut store = MemStore::new();
        for (name, bytes) in files {
            store.insert(name, bytes.clone());
        }
        Harness::new(EndpointConfig::new(vec![addr(LISTEN)]), store)
    }

    fn listener(&self) -> SocketId {
        self.tftp.listeners().next().unwrap()
    }

    fn drain(&mut self) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            while let Some(out) = self.tftp.poll_transmit(self.now, &mut buf) {
                let datagrams = out
                    .segments()
                    .map(|(at, len)| buf[at..at + len].to_vec())
                    .collect();
                self.sent.push((
                    out.socket,
                    out.transmit.destination,
                    out.segment_size,
                    datagrams,
                ));
            }
            let mut progressed = false;
            while let Some(event) = self.tftp.poll_event() {
                progressed = true;
                match event {
                    EndpointEvent::Socket(SocketRequest::Udp { socket, local, .. }) => {
                        if self.refuse_sockets && local.port() == 0 {
                            self.tftp
                                .handle_opened(self.now, socket, Err(OpenError::Exhausted));
                        } else {
                            self.next_port += 1;
                            let port = if local.port() == 0 {
                                self.next_port
                            } else {
                                local.port()
                            };
                            self.open.push(socket);
                            self.tftp.handle_opened(
                                self.now,
                                socket,
                                Ok(SocketAddr::new(local.ip(), port)),
                            );
                        }
                    }
                    EndpointEvent::Socket(SocketRequest::Close { socket }) => {
                        self.open.retain(|s| *s != socket);
                        self.closed.push(socket);
                    }
                    e => self.events.push(e),
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn input(&mut self, socket: SocketId, from: &str, bytes: &[u8]) {
        self.tftp
            .handle_datagram(self.now, socket, addr(from), bytes);
        self.drain();
    }

    /// The packets sent since the last call, parsed, with their socket.
    fn take_packets(&mut self) -> Vec<(SocketId, std::string::String)> {
        self.sent
            .drain(..)
            .flat_map(|(s, _, _, ds)| {
                ds.into_iter()
                    .map(move |d| (s, std::format!("{:?}", Packet::parse(&d).unwrap())))
            })
            .collect()
    }

    fn finished(&self) -> Vec<&Completion> {
        self.events
            .iter()
            .filter_map(|e| match e {
                EndpointEvent::Finished(c) => Some(c),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn a_download_runs_on_its_own_socket_and_its_socket_is_closed_after() {
    let data = content(1300);
    let mut h = Harness::with_files(&[("boot/x.bin", data.clone())]);
    let port69 = h.listener();
    assert_eq!(h.tftp.local_addrs().collect::<Vec<_>>(), [addr(LISTEN)]);
    h.input(
        port69,
        "192.0.2.9:2000",
        b"\x00\x01/boot//x.bin\x00octet\x00",
    );
    let tid = *h.open.last().unwrap();
    assert_ne!(tid, port69);
    let mut got = Vec::new();
    for block in 1..=3u16 {
        let (socket, _, _, ds) = h.sent.remove(0);
        assert_eq!(socket, tid);
        let Packet::Data { block: b, data } = Packet::parse(&ds[0]).unwrap() else {
            panic!()
        };
        assert_eq!(b, block);
        got.extend_from_slice(data);
        h.input(tid, "192.0.2.9:2000", &[0, 4, 0, block as u8]);
    }
    assert_eq!(got, data);
    let done = h.finished();
    assert_eq!(done.len(), 1);
    assert_eq!((done[0].path.as_str(), done[0].bytes), ("boot/x.bin", 1300));
    assert!(done[0].is_success());
    assert_eq!(h.closed, [tid]);
    assert_eq!(h.tftp.active(), 0);
    assert!(h.tftp.poll_timeout().is_none());
}

#[test]
fn a_repeated_request_is_dropped_while_its_transfer_runs() {
    let mut h = Harness::with_files(&[("f", content(5000))]);
    let port69 = h.listener();
    h.input(port69, "192.0.2.9:2000", b"\x00\x01f\x00octet\x00");
    h.input(port69, "192.0.2.9:2000", b"\x00\x01f\x00octet\x00");
    assert_eq!(h.tftp.active(), 1);
    assert_eq!(h.open.len(), 2, "the listener and one transfer socket");
    assert!(h.events.contains(&EndpointEvent::Dropped {
        peer: addr("192.0.2.9:2000"),
        why: Dropped::Repeated
    }));
    // Another port of the same host is another transfer.
    h.input(port69, "192.0.2.9:2001", b"\x00\x01f\x00octet\x00");
    assert_eq!(h.tftp.active(), 2);
}

#[test]
fn at_capacity_a_valid_request_is_busy_and_errors_and_junk_get_nothing() {
    let mut store = MemStore::new();
    store.insert("f", content(5000));
    let mut config = EndpointConfig::new(vec![addr(LISTEN)]);
    config.max_transfers = 1;
    let mut h = Harness::new(config, store);
    let port69 = h.listener();
    h.input(port69, "192.0.2.9:2000", b"\x00\x01f\x00octet\x00");
    h.take_packets();
    h.input(port69, "192.0.2.9:2001", b"\x00\x01f\x00octet\x00");
    h.input(port69, "192.0.2.9:2002", b"\x00\x05\x00\x00x\x00");
    h.input(port69, "192.0.2.9:2003", b"\x00");
    h.input(port69, "192.0.2.9:2004", b"\x00\x01f\x00mail\x00");
    let sent = h.take_packets();
    assert_eq!(
        sent,
        [
            (
                port69,
                std::format!(
                    "{:?}",
                    Packet::Error {
                        code: ErrorCode::NotDefined,
                        message: file::BUSY
                    }
                )
            ),
            (
                port69,
                std::format!(
                    "{:?}",
                    Packet::Error {
                        code: ErrorCode::IllegalOperation,
                        message: "mode \"mail\" is not supported"
                    }
                )
            )
        ]
    );
    assert_eq!(h.tftp.active(), 1);
}

#[test]
fn a_missing_file_is_refused_from_the_listener_and_opens_nothing() {
    let mut h = Harness::with_files(&[]);
    let port69 = h.listener();
    h.input(port69, "192.0.2.9:2000", b"\x00\x01nope\x00octet\x00");
    let sent = h.take_packets();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, port69);
    assert!(sent[0].1.contains("FileNotFound"), "{}", sent[0].1);
    assert_eq!(h.open, [port69]);
    assert!(matches!(
        h.events.last(),
        Some(EndpointEvent::Refused {
            code: ErrorCode::FileNotFound,
            ..
        })
    ));
}

#[test]
fn a_batched_window_sends_its_first_block_alone_then_the_rest_in_one_run() {
    let data = content(512 * 40);
    let mut store = MemStore::new();
    store.insert("w", data.clone());
    let mut config = EndpointConfig::new(vec![addr(LISTEN)]);
    config.max_segments = 64;
    let mut h = Harness::new(config, store);
    let port69 = h.listener();
    h.input(
        port69,
        "192.0.2.9:2000",
        b"\x00\x01w\x00octet\x00windowsize\x0016\x00",
    );
    let tid = *h.open.last().unwrap();
    let shape = |h: &mut Harness| {
        h.sent
            .drain(..)
            .map(|(s, _, seg, ds)| {
                assert_eq!(s, tid);
                (ds.len(), seg, ds)
            })
            .collect::<Vec<_>>()
    };
    let oack = shape(&mut h);
    assert_eq!(oack.len(), 1);
    assert_eq!(oack[0].2, [b"\x00\x06windowsize\x0016\x00".to_vec()]);
    let mut ack = [0u8, 4, 0, 0];
    for first in [1u16, 17] {
        h.input(tid, "192.0.2.9:2000", &ack);
        let runs = shape(&mut h);
        assert_eq!(
            runs.iter()
                .map(|(n, seg, _)| (*n, *seg))
                .collect::<Vec<_>>(),
            [(1, None), (15, Some(516))]
        );
        for (i, d) in runs.iter().flat_map(|(_, _, ds)| ds).enumerate() {
            let block = first + i as u16;
            let at = usize::from(block - 1) * 512;
            assert_eq!(d[..4], [0, 3, (block >> 8) as u8, block as u8]);
            assert_eq!(d[4..], data[at..at + 512], "block {block}");
        }
        ack = [0, 4, 0, (first + 15) as u8];
    }
}

#[test]
fn an_upload_is_committed_before_its_last_ack_and_discarded_if_cancelled() {
    let mut store = MemStore::new();
    store.insert("old", b"x".to_vec());
    let mut config = EndpointConfig::new(vec![addr(LISTEN)]);
    config.server.writable = true;
    let mut h = Harness::new(config, store);
    let port69 = h.listener();
    h.input(port69, "192.0.2.9:2000", b"\x00\x02up\x00octet\x00");
    let tid = *h.open.last().unwrap();
    assert!(h.take_packets()[0].1.contains("Ack { block: 0 }"));
    h.input(tid, "192.0.2.9:2000", b"\x00\x03\x00\x01hello");
    assert_eq!(h.tftp.store().get("up"), Some(&b"hello"[..]));
    assert!(h.take_packets()[0].1.contains("Ack { block: 1 }"));
    assert!(h.finished()[0].is_success());

    // A second upload, cancelled half way: nothing appears.
    h.input(port69, "192.0.2.9:2001", b"\x00\x02half\x00octet\x00");
    let tid = *h.open.last().unwrap();
    h.input(
        tid,
        "192.0.2.9:2001",
        &[&[0, 3, 0, 1][..], &[7; 512]].concat(),
    );
    h.tftp.close(h.now);
    h.drain();
    assert_eq!(h.tftp.store().get("half"), None);
    assert_eq!(h.tftp.active(), 0);
    assert!(h.closed.contains(&tid));
    let last = h.finished().pop().unwrap().clone();
    assert_eq!(last.result, Err(TransferError::Cancelled));
    // Stopping refuses every new request.
    h.input(port69, "192.0.2.9:2002", b"\x00\x01old\x00octet\x00");
    assert_eq!(h.tftp.active(), 0);
}

#[test]
fn a_socket_that_cannot_be_opened_gets_the_client_an_error_from_the_listener() {
    let mut h = Harness::with_files(&[("f", content(10))]);
    h.refuse_sockets = true;
    let port69 = h.listener();
    h.input(port69, "192.0.2.9:2000", b"\x00\x01f\x00octet\x00");
    let sent = h.take_packets();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, port69);
    assert!(sent[0].1.contains("NotDefined"));
    assert_eq!(h.tftp.active(), 0);
    // The peer may ask again.
    h.refuse_sockets = false;
    h.input(port69, "192.0.2.9:2000", b"\x00\x01f\x00octet\x00");
    assert_eq!(h.tftp.active(), 1);
}

#[test]
fn retransmissions_come_from_the_deadline_heap() {
    let mut h = Harness::with_files(&[("f", content(100))]);
    let port69 = h.listener();
    h.input(port69, "192.0.2.9:2000", b"\x00\x01f\x00octet\x00");
    h.take_packets();
    let deadline = h.tftp.poll_timeout().unwrap();
    h.now = deadline;
    h.tftp.handle_timeout(h.now);
    h.drain();
    let again = h.take_packets();
    assert_eq!(again.len(), 1);
    assert!(again[0].1.contains("Data { block: 1"));
    assert!(h.tftp.poll_timeout().unwrap() > deadline);
}

#[test]
fn datagrams_for_unknown_or_stale_sockets_are_ignored() {
    let mut h = Harness::with_files(&[("f", content(10))]);
    let port69 = h.listener();
    h.input(port69, "192.0.2.9:2000", b"\x00\x01f\x00octet\x00");
    let tid = *h.open.last().unwrap();
    h.input(tid, "192.0.2.9:2000", b"\x00\x04\x00\x01");
    assert_eq!(h.tftp.active(), 0);
    h.take_packets();
    // The old transfer's id, and ids that were never handed out.
    for s in [
        tid,
        SocketId::from_raw(TRANSFER_BIT | 77),
        SocketId::from_raw(5),
    ] {
        h.input(s, "192.0.2.9:2000", b"\x00\x04\x00\x01");
    }
    assert!(h.take_packets().is_empty());
    // A new transfer in the same slot gets a new id.
    h.input(port69, "192.0.2.9:2000", b"\x00\x01f\x00octet\x00");
    assert_ne!(*h.open.last().unwrap(), tid);
}

#[test]
fn completions_read_as_one_line() {
    let mut h = Harness::with_files(&[("f", content(10))]);
    let port69 = h.listener();
    h.input(port69, "192.0.2.9:2000", b"\x00\x01f\x00octet\x00");
    let tid = *h.open.last().unwrap();
    h.input(tid, "192.0.2.9:2000", b"\x00\x04\x00\x01");
    assert_eq!(
        h.finished()[0].to_string(),
        "192.0.2.9:2000 RRQ f done, 10 bytes in 0 ms"
    );
}

#[test]
fn a_running_transfer_costs_at_most_transfer_memory() {
    let per = core::mem::size_of::<Slot<MemStore>>()
        + core::mem::size_of::<(SocketAddr, usize)>()
        + 2 * core::mem::size_of::<(Instant, usize)>()
        + core::mem::size_of::<usize>();
    assert!(per <= TRANSFER_MEMORY, "{per} bytes");
}
