//! Machine tests: a client and a server transfer driven on virtual time over
//! a simulated link with seeded loss, duplication, reordering and latency.

use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::vec::Vec;

use super::file::{self, Accepted, TransferFile};
use super::options::{Limits, Request};
use super::rto::RtoConfig;
use super::*;
use crate::rng::Rng;
use crate::storage::{MemStore, Storage, WriteMode};
use crate::time::{Duration, Instant};
use crate::wire::tftp::{MAX_PACKET_LEN, Mode, Packet};

const CLIENT: &str = "10.0.0.2:3000";
const SERVER: &str = "10.0.0.1:69";
const SERVER_TID: &str = "10.0.0.1:4000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[derive(Clone, Copy, Debug, Default)]
struct Faults {
    loss: u64, // per mille, each direction
    dup: u64,
    reorder: u64,
    /// Drop the n-th datagram (counting from 1) sent by the server / client.
    drop_server: Option<u64>,
    drop_client: Option<u64>,
    /// Drop everything the server sends after its n-th datagram.
    server_dies_after: Option<u64>,
}

struct Node {
    t: Transfer,
    files: TransferFile<MemStore>,
    events: Vec<Event>,
}

struct Sim {
    now: Instant,
    rng: Rng,
    faults: Faults,
    latency: Duration,
    /// (deliver at, sequence) -> (from, to, bytes)
    wire: BTreeMap<(Instant, u64), (SocketAddr, SocketAddr, Vec<u8>)>,
    seq: u64,
    server: Server,
    server_store: MemStore,
    client_store: MemStore,
    client: Node,
    server_t: Option<Node>,
    sent_by_server: u64,
    sent_by_client: u64,
    /// Every datagram the server transfer sent: (block of DATA / None).
    server_log: Vec<Vec<u8>>,
    replies_from_port_69: Vec<Vec<u8>>,
    strays: Vec<(SocketAddr, Vec<u8>)>,
}

impl Sim {
    fn new(
        server_cfg: ServerConfig,
        client: Transfer,
        client_files: TransferFile<MemStore>,
    ) -> Sim {
        Sim {
            now: Instant::ZERO,
            rng: Rng::new(1),
            faults: Faults::default(),
            latency: Duration::from_millis(1),
            wire: BTreeMap::new(),
            seq: 0,
            server: Server::new(server_cfg),
            server_store: MemStore::new(),
            client_store: MemStore::new(),
            client: Node {
                t: client,
                files: client_files,
                events: Vec::new(),
            },
            server_t: None,
            sent_by_server: 0,
            sent_by_client: 0,
            server_log: Vec::new(),
            replies_from_port_69: Vec::new(),
            strays: Vec::new(),
        }
    }

    fn put_on_wire(&mut self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let by_server = from.ip() == addr(SERVER).ip();
        let n = if by_server {
            self.sent_by_server += 1;
            self.server_log.push(bytes.to_vec());
            self.sent_by_server
        } else {
            self.sent_by_client += 1;
            self.sent_by_client
        };
        let f = self.faults;
        if (by_server && f.drop_server == Some(n)) || (!by_server && f.drop_client == Some(n)) {
            return;
        }
        if by_server && f.server_dies_after.is_some_and(|d| n > d) {
            return;
        }
        if self.rng.below(1000) < f.loss {
            return;
        }
        let copies = if self.rng.below(1000) < f.dup { 2 } else { 1 };
        for _ in 0..copies {
            let mut at = self.now + self.latency;
            if self.rng.below(1000) < f.reorder {
                at += Duration::from_micros(self.rng.below(3_000));
            }
            self.seq += 1;
            self.wire.insert((at, self.seq), (from, to, bytes.to_vec()));
        }
    }

    fn drain_client(&mut self, rx: &mut [u8]) {
        let mut out = Vec::new();
        let mut tx = vec![0u8; MAX_PACKET_LEN];
        let node = &mut self.client;
        let mut events = Vec::new();
        file::drive(
            file::Driven {
                transfer: &mut node.t,
                file: &mut node.files,
                store: &mut self.client_store,
                received: rx,
            },
            self.now,
            &mut tx,
            &mut |b, to| out.push((to, b.to_vec())),
            &mut |_, e| events.push(e),
        );
        node.events.extend(events);
        for (to, b) in out {
            self.put_on_wire(addr(CLIENT), to, &b);
        }
    }

    fn drain_server(&mut self, rx: &mut [u8]) {
        let Some(node) = self.server_t.as_mut() else {
            return;
        };
        let mut out = Vec::new();
        let mut tx = vec![0u8; MAX_PACKET_LEN];
        let mut events = Vec::new();
        file::drive(
            file::Driven {
                transfer: &mut node.t,
                file: &mut node.files,
                store: &mut self.server_store,
                received: rx,
            },
            self.now,
            &mut tx,
            &mut |b, to| out.push((to, b.to_vec())),
            &mut |_, e| events.push(e),
        );
        node.events.extend(events);
        for (to, b) in out {
            self.put_on_wire(addr(SERVER_TID), to, &b);
        }
    }

    fn deliver(&mut self, from: SocketAddr, to: SocketAddr, mut bytes: Vec<u8>) {
        if to == addr(CLIENT) {
            self.client.t.handle_datagram(self.now, from, &bytes);
            self.drain_client(&mut bytes);
        } else if to == addr(SERVER) {
            let mut buf = vec![0u8; 1024];
            match file::accept(
                &self.server,
                &mut self.server_store,
                self.now,
                from,
                &bytes,
                &mut buf,
            ) {
                Accepted::Transfer(t, files) => {
                    if self.server_t.is_none() {
                        self.server_t = Some(Node {
                            t,
                            files,
                            events: Vec::new(),
                        });
                        self.drain_server(&mut []);
                    } else {
                        // A retransmitted request: the driver drops it.
                        files.finish(&mut self.server_store);
                    }
                }
                Accepted::Reply(tx) => {
                    self.replies_from_port_69.push(buf[..tx.len].to_vec());
                    let b = buf[..tx.len].to_vec();
                    self.put_on_wire(addr(SERVER), tx.destination, &b);
                }
                Accepted::Dropped(_) => {}
            }
        } else if to == addr(SERVER_TID) {
            if let Some(node) = self.server_t.as_mut() {
                node.t.handle_datagram(self.now, from, &bytes);
                self.drain_server(&mut bytes);
            }
        } else {
            self.strays.push((to, bytes));
        }
    }

    fn server_closed(&self) -> bool {
        self.server_t.as_ref().is_none_or(|n| n.t.is_closed())
    }

    /// Runs until both ends are closed and the wire is empty, or `limit`.
    fn run(&mut self, limit: Duration) {
        self.drain_client(&mut []);
        let end = self.now + limit;
        loop {
            let next_wire = self.wire.keys().next().map(|k| k.0);
            let next_client = self.client.t.poll_timeout();
            let next_server = self.server_t.as_ref().and_then(|n| n.t.poll_timeout());
            let Some(next) = [next_wire, next_client, next_server]
                .into_iter()
                .flatten()
                .min()
            else {
                return;
            };
            if next > end {
                return;
            }
            self.now = self.now.max(next);
            if let Some((&key, _)) = self.wire.iter().next()
                && key.0 <= self.now
            {
                let (from, to, bytes) = self.wire.remove(&key).unwrap();
                self.deliver(from, to, bytes);
                continue;
            }
            if next_client.is_some_and(|d| d <= self.now) {
                self.client.t.handle_timeout(self.now);
                self.drain_client(&mut []);
            }
            if next_server.is_some_and(|d| d <= self.now)
                && let Some(node) = self.server_t.as_mut()
            {
                node.t.handle_timeout(self.now);
                self.drain_server(&mut []);
            }
            if self.client.t.is_closed() && self.server_closed() && self.wire.is_empty() {
                return;
            }
        }
    }

    fn client_outcome(&self) -> Option<Event> {
        self.client
            .events
            .iter()
            .copied()
            .find(|e| matches!(e, Event::Done { .. } | Event::Failed(_)))
    }

    fn server_outcome(&self) -> Option<Event> {
        self.server_t.as_ref().and_then(|n| {
            n.events
                .iter()
                .copied()
                .find(|e| matches!(e, Event::Done { .. } | Event::Failed(_)))
        })
    }

    /// DATA block numbers the server sent, in order.
    fn server_data_blocks(&self) -> Vec<u16> {
        self.server_log
            .iter()
            .filter_map(|b| match Packet::parse(b) {
                Ok(Packet::Data { block, .. }) => Some(block),
                _ => None,
            })
            .collect()
    }
}

fn file(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u32() as u8).collect()
}

fn text_file(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| match rng.below(8) {
            0 => b'\n',
            1 => b'\r',
            _ => b'a' + rng.below(26) as u8,
        })
        .collect()
}

fn fast_config() -> TransferConfig {
    TransferConfig {
        rto: RtoConfig {
            initial: Duration::from_millis(100),
            min: Duration::from_millis(5),
            max: Duration::from_secs(2),
        },
        max_retries: 8,
        give_up_after: Duration::ZERO,
        dally: Duration::ZERO,
    }
}

fn server_config() -> ServerConfig {
    ServerConfig {
        limits: Limits {
            max_windowsize: 65535,
            accept_timeout: true,
            ..Limits::default()
        },
        writable: true,
        overwrite: false,
        transfer: fast_config(),
    }
}

struct Get {
    content: Vec<u8>,
    mode: Mode,
    req: Request,
    faults: Faults,
    seed: u64,
    server: ServerConfig,
}

impl Get {
    fn new(content: Vec<u8>) -> Self {
        Get {
            content,
            mode: Mode::Octet,
            req: Request::default(),
            faults: Faults::default(),
            seed: 1,
            server: server_config(),
        }
    }

    /// The download, set up and not started.
    fn build(self) -> Sim {
        let mut client_store = MemStore::new();
        let w = client_store
            .open_write("local", WriteMode::Replace)
            .unwrap();
        let t = Transfer::client_read(
            Instant::ZERO,
            &fast_config(),
            addr(SERVER),
            "dir/remote.bin",
            self.mode,
            self.req,
        )
        .unwrap();
        let mut sim = Sim::new(self.server, t, TransferFile::writing(w));
        sim.client_store = client_store;
        sim.server_store.insert("dir/remote.bin", self.content);
        sim.faults = self.faults;
        sim.rng = Rng::new(self.seed);
        sim
    }

    fn run(self) -> Sim {
        let mut sim = self.build();
        sim.run(Duration::from_secs(600));
        sim
    }
}

fn assert_get_ok(sim: &Sim, content: &[u8]) {
    assert_eq!(
        sim.client_outcome(),
        Some(Event::Done {
            bytes: content.len() as u64
        }),
        "client events: {:?}",
        sim.client.events
    );
    assert_eq!(
        sim.server_outcome(),
        Some(Event::Done {
            bytes: content.len() as u64
        })
    );
    assert!(sim.client_store.get("local").unwrap() == content);
}

struct Put {
    content: Vec<u8>,
    mode: Mode,
    req: Request,
    faults: Faults,
    seed: u64,
    server: ServerConfig,
    existing: Option<Vec<u8>>,
}

impl Put {
    fn new(content: Vec<u8>) -> Self {
        Put {
            content,
            mode: Mode::Octet,
            req: Request::default(),
            faults: Faults::default(),
            seed: 1,
            server: server_config(),
            existing: None,
        }
    }

    fn run(self) -> Sim {
        let mut client_store = MemStore::new();
        client_store.insert("local", self.content);
        let (r, _) = client_store.open_read("local").unwrap();
        let t = Transfer::client_write(
            Instant::ZERO,
            &fast_config(),
            addr(SERVER),
            "up.bin",
            self.mode,
            self.req,
        )
        .unwrap();
        let mut sim = Sim::new(self.server, t, TransferFile::reading(r));
        sim.client_store = client_store;
        if let Some(e) = self.existing {
            sim.server_store.insert("up.bin", e);
        }
        sim.faults = self.faults;
        sim.rng = Rng::new(self.seed);
        sim.run(Duration::from_secs(600));
        sim
    }
}

#[test]
fn octet_get_of_every_boundary_size() {
    for len in [0, 1, 511, 512, 513, 1024, 5000] {
        let content = file(len as u64, len);
        let sim = Get::new(content.clone()).run();
        assert_get_ok(&sim, &content);
        // One DATA per block, the last one short (maybe empty).
        assert_eq!(sim.server_data_blocks().len(), len / 512 + 1, "len {len}");
    }
}

#[test]
fn options_are_negotiated_and_capped() {
    let content = file(3, 100_000);
    let mut g = Get::new(content.clone());
    g.req = Request {
        blksize: Some(65464),
        windowsize: Some(8),
        tsize: Some(0),
        timeout: None,
    };
    let sim = g.run();
    assert_get_ok(&sim, &content);
    let neg = sim.client.t.negotiated();
    assert_eq!(
        (neg.blksize, neg.windowsize, neg.tsize),
        (65464, 8, Some(100_000))
    );
    assert!(sim.client.events.contains(&Event::Negotiated(neg)));
}

#[test]
fn window_size_edges() {
    // (file blocks at blksize 512, windowsize)
    for (blocks, window) in [
        (0usize, 1u16),
        (1, 2),
        (3, 4),
        (4, 4),
        (5, 4),
        (8, 4),
        (64, 64),
        (65, 64),
        (10, 65535),
    ] {
        for extra in [0usize, 7] {
            let content = file(blocks as u64, blocks * 512 + extra);
            let mut g = Get::new(content.clone());
            g.req.windowsize = Some(window);
            let sim = g.run();
            assert_get_ok(&sim, &content);
            // Loss-free: each block exactly once.
            assert_eq!(
                sim.server_data_blocks().len(),
                blocks + 1,
                "blocks {blocks} window {window} extra {extra}"
            );
            let mut p = Put::new(content.clone());
            p.req.windowsize = Some(window);
            let sim = p.run();
            assert_eq!(sim.server_store.get("up.bin").unwrap(), content.as_slice());
        }
    }
}

#[test]
fn loss_duplication_and_reordering() {
    for window in [1u16, 4, 16] {
        for seed in 1..=4 {
            let faults = Faults {
                loss: 100,
                dup: 100,
                reorder: 200,
                ..Faults::default()
            };
            let content = file(seed, 40_000);
            let mut g = Get::new(content.clone());
            g.req.windowsize = Some(window);
            g.faults = faults;
            g.seed = seed;
            let sim = g.run();
            assert_get_ok(&sim, &content);

            let mut p = Put::new(content.clone());
            p.req.windowsize = Some(window);
            p.req.blksize = Some(1000);
            p.faults = faults;
            p.seed = seed;
            let sim = p.run();
            assert!(
                matches!(sim.client_outcome(), Some(Event::Done { bytes: 40_000 })),
                "window {window} seed {seed}: {:?}",
                sim.client.events
            );
            assert_eq!(sim.server_store.get("up.bin").unwrap(), content.as_slice());
        }
    }
}

#[test]
fn netascii_both_ways_under_faults() {
    let content = text_file(9, 20_000);
    for window in [1u16, 8] {
        let mut g = Get::new(content.clone());
        g.mode = Mode::Netascii;
        g.req.windowsize = Some(window);
        g.req.blksize = Some(100);
        g.faults = Faults {
            loss: 50,
            dup: 50,
            reorder: 100,
            ..Faults::default()
        };
        let faults = g.faults;
        let sim = g.run();
        assert_get_ok(&sim, &content);

        let mut p = Put::new(content.clone());
        p.mode = Mode::Netascii;
        p.req.windowsize = Some(window);
        p.req.blksize = Some(64);
        p.faults = faults;
        let sim = p.run();
        assert_eq!(sim.server_store.get("up.bin").unwrap(), content.as_slice());
    }
}

#[test]
fn block_numbers_roll_over_past_65535() {
    let blocks = 70_000usize;
    let content = file(70, blocks * 8 + 3);
    let mut g = Get::new(content.clone());
    g.req.blksize = Some(8);
    g.req.windowsize = Some(64);
    let sim = g.run();
    assert_get_ok(&sim, &content);
    let seen = sim.server_data_blocks();
    assert_eq!(seen.len(), blocks + 1);
    assert_eq!(seen[65534], 65535);
    assert_eq!(seen[65535], 0, "block 65,536 goes out as 0");
    assert_eq!(seen[65536], 1);

    let mut p = Put::new(content.clone());
    p.req.blksize = Some(8);
    p.req.windowsize = Some(16);
    p.faults.loss = 5;
    let sim = p.run();
    assert_eq!(sim.server_store.get("up.bin").unwrap(), content.as_slice());
}

#[test]
fn duplicate_acks_never_cause_resends() {
    // Every datagram duplicated, nothing lost, no reordering: the server must
    // send each block exactly once (no Sorcerer's Apprentice).
    let content = file(5, 512 * 50 + 1);
    let mut g = Get::new(content.clone());
    g.faults.dup = 1000;
    let sim = g.run();
    assert_get_ok(&sim, &content);
    let blocks = sim.server_data_blocks();
    assert_eq!(blocks.len(), 51);
}

#[test]
fn window_resends_from_first_unacknowledged_block() {
    // Window 8; the server's 3rd datagram (block 3) is lost.
    let content = file(6, 512 * 20);
    let mut g = Get::new(content.clone());
    g.req.windowsize = Some(8);
    g.faults.drop_server = Some(4); // 1: OACK, 2: block 1, 3: block 2, 4: block 3
    let sim = g.run();
    assert_get_ok(&sim, &content);
    let blocks = sim.server_data_blocks();
    // 1..=8 first, then (after the client's ACK of 2) from 3 on.
    assert_eq!(&blocks[..8], &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(blocks[8], 3);
}

#[test]
fn unknown_tid_gets_error_5_and_transfer_goes_on() {
    let content = file(7, 512 * 10);
    let mut sim = Get::new(content.clone()).build();
    // Start, let the first block arrive, then a stranger writes to the
    // server's transfer port and to the client.
    sim.drain_client(&mut []);
    sim.run(Duration::from_micros(2_500));
    let stranger = addr("10.0.0.3:5555");
    sim.deliver(stranger, addr(SERVER_TID), b"\x00\x04\x00\x01".to_vec());
    sim.deliver(stranger, addr(CLIENT), b"\x00\x03\x00\x02evil".to_vec());
    let err = b"\x00\x05\x00\x05unknown transfer ID\x00".to_vec();
    sim.run(Duration::from_secs(60));
    assert_get_ok(&sim, &content);
    let to_stranger: Vec<_> = sim
        .strays
        .iter()
        .filter(|(to, _)| *to == stranger)
        .map(|(_, b)| b.clone())
        .collect();
    assert_eq!(to_stranger, [err.clone(), err]);
}

#[test]
fn retry_limit_gives_clean_failure() {
    let content = file(8, 512 * 10);
    let mut g = Get::new(content);
    g.faults.server_dies_after = Some(3);
    let sim = g.run();
    assert_eq!(
        sim.client_outcome(),
        Some(Event::Failed(TransferError::TimedOut { retries: 8 }))
    );
    // The server times out too, or hears the client's ERROR first.
    assert!(matches!(
        sim.server_outcome(),
        Some(Event::Failed(
            TransferError::TimedOut { retries: 8 } | TransferError::Peer { .. }
        ))
    ));
    assert!(sim.client.t.is_closed() && sim.server_closed());
    // Nothing partial was committed on the client side.
    assert_eq!(sim.client_store.get("local"), None);
}

#[test]
fn request_retry_limit_when_server_silent() {
    let mut client_store = MemStore::new();
    let w = client_store
        .open_write("local", WriteMode::Replace)
        .unwrap();
    let mut t = Transfer::client_read(
        Instant::ZERO,
        &fast_config(),
        addr(SERVER),
        "f",
        Mode::Octet,
        Request::default(),
    )
    .unwrap();
    let mut files: TransferFile<MemStore> = TransferFile::writing(w);
    let mut tx = [0u8; 700];
    let mut sent = Vec::new();
    let mut now = Instant::ZERO;
    let mut events = Vec::new();
    loop {
        file::drive(
            file::Driven {
                transfer: &mut t,
                file: &mut files,
                store: &mut client_store,
                received: &mut [],
            },
            now,
            &mut tx,
            &mut |_, _| sent.push(now),
            &mut |_, e| events.push(e),
        );
        match t.poll_timeout() {
            Some(d) => {
                now = d;
                t.handle_timeout(now);
            }
            None => break,
        }
    }
    // The request and 8 retransmissions, with back-off 100, 200, 400, ...
    // capped at 2 s; then an ERROR 0 goes to the server.
    assert_eq!(sent.len(), 10);
    let gaps: Vec<u64> = sent
        .windows(2)
        .map(|w| (w[1] - w[0]).as_millis() as u64)
        .collect();
    assert_eq!(gaps, [100, 200, 400, 800, 1600, 2000, 2000, 2000, 2000]);
    assert_eq!(
        events.last(),
        Some(&Event::Failed(TransferError::TimedOut { retries: 8 }))
    );
}

#[test]
fn a_fast_timer_does_not_give_up_on_a_brief_silence() {
    // 2 ms floor, 8 retries: alone they would give up within half a second;
    // `give_up_after` keeps retrying for 3 s of silence.
    let mut cfg = fast_config();
    cfg.rto.initial = Duration::from_millis(2);
    cfg.rto.min = Duration::from_millis(2);
    cfg.rto.max = Duration::from_millis(100);
    cfg.give_up_after = Duration::from_secs(3);
    let mut t = Transfer::client_read(
        Instant::ZERO,
        &cfg,
        addr(SERVER),
        "f",
        Mode::Octet,
        Request::default(),
    )
    .unwrap();
    let mut buf = [0u8; 700];
    let mut failed_at = None;
    let mut now = Instant::ZERO;
    for _ in 0..1000 {
        while t.poll_transmit(now, &mut buf).is_some() {}
        while let Some(e) = t.poll_event() {
            if let Event::Failed(TransferError::TimedOut { .. }) = e {
                failed_at = Some(now);
            }
        }
        match t.poll_timeout() {
            Some(d) => {
                now = d;
                t.handle_timeout(now);
            }
            None => break,
        }
    }
    let at = failed_at.expect("gives up eventually");
    assert!(
        at >= Instant::from_secs(3) && at < Instant::from_secs(4),
        "{at:?}"
    );
}

#[test]
fn receiver_does_not_feed_a_sorcerers_apprentice_sender() {
    // A copy of the last block that arrives right after our ACK is the echo
    // of a repeated ACK: not answered. A copy that comes a timeout later
    // means our ACK was lost: answered.
    let mut t = Transfer::client_read(
        Instant::ZERO,
        &fast_config(),
        addr(SERVER),
        "f",
        Mode::Octet,
        Request::default(),
    )
    .unwrap();
    let mut buf = [0u8; 700];
    let _ = t.poll_transmit(Instant::ZERO, &mut buf);
    let mut block = vec![0u8, 3, 0, 1];
    block.extend_from_slice(&[9; 512]);
    let at = Instant::from_millis(1);
    t.handle_datagram(at, addr(SERVER_TID), &block);
    while let Some(e) = t.poll_event() {
        if let Event::Write { .. } = e {
            let mut d = block.clone();
            assert_eq!(t.payload(&mut d).unwrap().data.len(), 512);
            t.write_done(at, Ok(())).unwrap();
        }
    }
    let tx = t.poll_transmit(at, &mut buf).unwrap();
    assert_eq!(&buf[..tx.len], b"\x00\x04\x00\x01");
    t.handle_datagram(at + Duration::from_micros(100), addr(SERVER_TID), &block);
    assert_eq!(t.poll_transmit(at, &mut buf), None, "echo not answered");
    let later = at + t.rto().current();
    t.handle_datagram(later, addr(SERVER_TID), &block);
    let tx = t.poll_transmit(later, &mut buf).unwrap();
    assert_eq!(&buf[..tx.len], b"\x00\x04\x00\x01", "lost ACK answered");
}

/// The transfer a server with [`server_config`] starts for `request` from
/// [`CLIENT`].
fn accept_from_client(store: &mut MemStore, request: &[u8]) -> (Transfer, TransferFile<MemStore>) {
    let server = Server::new(server_config());
    let mut buf = [0u8; 700];
    match file::accept(
        &server,
        store,
        Instant::ZERO,
        addr(CLIENT),
        request,
        &mut buf,
    ) {
        Accepted::Transfer(t, files) => (t, files),
        _ => panic!("not accepted"),
    }
}

#[test]
fn an_error_while_dallying_does_not_undo_success() {
    // Found by the fuzzer: the upload is complete and acknowledged, then the
    // peer sends an ERROR. The transfer ends, still with one outcome: Done.
    let mut store = MemStore::new();
    let (mut t, mut files) = accept_from_client(&mut store, b"\x00\x02up\x00octet\x00");
    let mut events = Vec::new();
    let mut tx = vec![0u8; 700];
    let mut drive = |t: &mut Transfer,
                     files: &mut TransferFile<MemStore>,
                     store: &mut MemStore,
                     rx: &mut [u8],
                     events: &mut Vec<Event>| {
        file::drive(
            file::Driven {
                transfer: t,
                file: files,
                store,
                received: rx,
            },
            Instant::ZERO,
            &mut tx,
            &mut |_, _| {},
            &mut |_, e| {
                if matches!(e, Event::Done { .. } | Event::Failed(_)) {
                    events.push(e)
                }
            },
        );
    };
    drive(&mut t, &mut files, &mut store, &mut [], &mut events);
    let mut data = b"\x00\x03\x00\x01hello".to_vec();
    t.handle_datagram(Instant::ZERO, addr(CLIENT), &data);
    drive(&mut t, &mut files, &mut store, &mut data, &mut events);
    let mut err = b"\x00\x05\x00\x00bye\x00".to_vec();
    t.handle_datagram(Instant::ZERO, addr(CLIENT), &err);
    drive(&mut t, &mut files, &mut store, &mut err, &mut events);
    assert_eq!(events, [Event::Done { bytes: 5 }]);
    assert!(t.is_closed());
    assert_eq!(store.get("up"), Some(&b"hello"[..]));
}

#[test]
fn final_ack_dally_answers_retransmitted_last_block() {
    let content = file(10, 512 * 3 + 5);
    let mut g = Get::new(content.clone());
    // The client's 5th datagram is its final ACK (RRQ, ACK 1, 2, 3, 4).
    g.faults.drop_client = Some(5);
    let sim = g.run();
    assert_get_ok(&sim, &content);
    let blocks = sim.server_data_blocks();
    assert_eq!(blocks, [1, 2, 3, 4, 4], "last block retransmitted once");
}

#[test]
fn negotiated_timeout_is_honoured_exactly() {
    let content = file(11, 512 * 4);
    let mut g = Get::new(content.clone());
    g.req.timeout = Some(3);
    g.faults.drop_server = Some(3); // block 2
    let sim = g.run();
    assert_get_ok(&sim, &content);
    assert_eq!(
        sim.server_t.as_ref().unwrap().t.rto().current(),
        Duration::from_secs(3)
    );
    assert!(sim.client.t.rto().is_fixed());
}

#[test]
fn declined_timeout_leaves_both_ends_adaptive() {
    // A server that declines `timeout` (the default) leaves it out of the
    // OACK; the client then keeps adaptive retransmission too.
    let mut g = Get::new(file(17, 512 * 40));
    g.req.timeout = Some(5);
    g.server.limits.accept_timeout = false;
    g.faults.drop_server = Some(5);
    let sim = g.run();
    assert_eq!(sim.client_outcome(), Some(Event::Done { bytes: 20_480 }));
    assert_eq!(sim.client.t.negotiated().timeout, None);
    assert!(!sim.server_t.as_ref().unwrap().t.rto().is_fixed());
    // The lost block cost milliseconds, not the 5 s the client asked for.
    assert!(sim.now < Instant::from_millis(500), "{:?}", sim.now);
}

#[test]
fn upload_policy_existing_file_and_limits() {
    // Create-only: existing file refused with ERROR 6 and left alone.
    let mut p = Put::new(file(12, 100));
    p.existing = Some(b"old".to_vec());
    let sim = p.run();
    assert!(matches!(
        sim.client_outcome(),
        Some(Event::Failed(TransferError::Peer {
            code: crate::wire::tftp::ErrorCode::FileExists
        }))
    ));
    assert_eq!(sim.server_store.get("up.bin").unwrap(), b"old");

    // Overwrite allowed.
    let content = file(13, 2000);
    let mut p = Put::new(content.clone());
    p.existing = Some(b"old".to_vec());
    p.server.overwrite = true;
    let sim = p.run();
    assert_eq!(sim.server_store.get("up.bin").unwrap(), content.as_slice());

    // Announced size over the limit: ERROR 3 before anything is created.
    let mut p = Put::new(file(14, 5000));
    p.req.tsize = Some(5000);
    p.server.limits.max_upload = Some(4096);
    let sim = p.run();
    assert!(matches!(
        sim.client_outcome(),
        Some(Event::Failed(TransferError::Peer {
            code: crate::wire::tftp::ErrorCode::DiskFull
        }))
    ));
    assert_eq!(sim.server_store.files().count(), 0);

    // Unannounced, growing past the limit: ERROR 3, nothing left behind.
    let mut p = Put::new(file(15, 5000));
    p.server.limits.max_upload = Some(4096);
    let sim = p.run();
    assert!(matches!(
        sim.server_outcome(),
        Some(Event::Failed(TransferError::TooLarge))
    ));
    assert_eq!(sim.server_store.files().count(), 0);

    // Read-only server.
    let mut p = Put::new(file(16, 10));
    p.server.writable = false;
    let sim = p.run();
    assert!(matches!(
        sim.client_outcome(),
        Some(Event::Failed(TransferError::Peer {
            code: crate::wire::tftp::ErrorCode::AccessViolation
        }))
    ));
}

#[test]
fn client_rejects_oack_that_raises_a_value() {
    let mut t = Transfer::client_read(
        Instant::ZERO,
        &fast_config(),
        addr(SERVER),
        "f",
        Mode::Octet,
        Request {
            blksize: Some(1024),
            ..Request::default()
        },
    )
    .unwrap();
    let mut buf = [0u8; 700];
    let _ = t.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    t.handle_datagram(
        Instant::from_millis(1),
        addr(SERVER_TID),
        b"\x00\x06blksize\x002048\x00",
    );
    let tx = t.poll_transmit(Instant::from_millis(1), &mut buf).unwrap();
    assert_eq!(tx.destination, addr(SERVER_TID));
    assert!(matches!(
        Packet::parse(&buf[..tx.len]),
        Ok(Packet::Error {
            code: crate::wire::tftp::ErrorCode::OptionRefused,
            ..
        })
    ));
    assert_eq!(
        t.poll_event(),
        Some(Event::Failed(TransferError::Options(
            options::OptionError::Raised("blksize")
        )))
    );
    assert!(t.is_closed());
}

#[test]
fn server_without_option_support_falls_back_to_defaults() {
    let mut t = Transfer::client_read(
        Instant::ZERO,
        &fast_config(),
        addr(SERVER),
        "f",
        Mode::Octet,
        Request {
            blksize: Some(1468),
            windowsize: Some(4),
            ..Request::default()
        },
    )
    .unwrap();
    let mut buf = [0u8; 700];
    let _ = t.poll_transmit(Instant::ZERO, &mut buf);
    let mut data = b"\x00\x03\x00\x01abc".to_vec();
    t.handle_datagram(Instant::from_millis(1), addr(SERVER_TID), &data);
    assert_eq!(t.negotiated().blksize, 512);
    assert!(matches!(t.poll_event(), Some(Event::Negotiated(_))));
    assert_eq!(
        t.poll_event(),
        Some(Event::Write {
            offset: 0,
            last: true
        })
    );
    assert_eq!(t.payload(&mut data).unwrap().data, b"abc");
    t.write_done(Instant::from_millis(1), Ok(())).unwrap();
    let tx = t.poll_transmit(Instant::from_millis(1), &mut buf).unwrap();
    assert_eq!(&buf[..tx.len], b"\x00\x04\x00\x01");
    assert_eq!(t.poll_event(), Some(Event::Done { bytes: 3 }));
}

#[test]
fn api_misuse_is_an_error_not_a_panic() {
    let mut t = Transfer::client_read(
        Instant::ZERO,
        &fast_config(),
        addr(SERVER),
        "f",
        Mode::Octet,
        Request::default(),
    )
    .unwrap();
    assert_eq!(
        t.write_done(Instant::ZERO, Ok(())),
        Err(ApiError::NotExpected)
    );
    assert_eq!(
        t.read_done(Instant::ZERO, &mut [0; 600], Ok(1)),
        Err(ApiError::NotExpected)
    );
    assert_eq!(t.payload(&mut [0; 10]), Err(ApiError::NotExpected));
    let long = "x".repeat(600);
    assert_eq!(
        Transfer::client_read(
            Instant::ZERO,
            &fast_config(),
            addr(SERVER),
            &long,
            Mode::Octet,
            Request::default()
        )
        .err(),
        Some(ApiError::NameTooLong)
    );
    // Early and repeated timeouts are no-ops.
    t.handle_timeout(Instant::ZERO);
    t.handle_timeout(Instant::ZERO);
    assert_eq!(t.poll_timeout(), Some(Instant::from_millis(100)));
}

#[test]
fn lossy_link_costs_a_small_multiple_of_loss_free_time() {
    // 5% loss each way, 1 ms each way, lockstep: the adaptive timer keeps the
    // transfer within a small multiple of its loss-free duration.
    let content = file(20, 1 << 20);
    let clean = Get::new(content.clone()).run().now;
    let mut g = Get::new(content.clone());
    g.faults.loss = 50;
    let sim = g.run();
    assert_get_ok(&sim, &content);
    let lossy = sim.now;
    let ratio = lossy.as_micros() as f64 / clean.as_micros() as f64;
    assert!(ratio < 4.0, "clean {clean:?} lossy {lossy:?} ratio {ratio}");
}

#[test]
fn server_port_answers_bad_requests() {
    let server = Server::new(server_config());
    let peer = addr(CLIENT);
    let cases: &[(&[u8], Option<u16>)] = &[
        (b"", None),
        (b"\x00", None),
        (b"\x00\x05\x00\x01x\x00", None),
        (b"\x00\x09xx", Some(4)),
        (b"\x00\x03\x00\x01data", Some(4)),
        (b"\x00\x01file", Some(4)),
        (b"\x00\x01file\x00mail\x00", Some(4)),
        (b"\x00\x01file\x00octet\x00blksize\x00", Some(8)),
        (b"\x00\x01file\x00octet\x00blksize\x000\x00", Some(8)),
        (b"\x00\x01file\x00octet\x00blksize\x007\x00", Some(8)),
        (b"\x00\x01file\x00octet\x00blksize\x0065465\x00", Some(8)),
        (b"\x00\x01file\x00octet\x00windowsize\x000\x00", Some(8)),
        (b"\x00\x01../etc/passwd\x00octet\x00", Some(2)),
        (b"\x00\x01a/../../b\x00octet\x00", Some(2)),
        (b"\x00\x01a\x01b\x00octet\x00", Some(2)),
    ];
    for (bytes, code) in cases {
        let mut store = MemStore::new();
        let mut buf = [0u8; 600];
        let got = match file::accept(&server, &mut store, Instant::ZERO, peer, bytes, &mut buf) {
            Accepted::Reply(t) => match Packet::parse(&buf[..t.len]).unwrap() {
                Packet::Error { code, .. } => Some(code.to_u16()),
                p => panic!("{p:?}"),
            },
            Accepted::Dropped(_) => None,
            Accepted::Transfer(..) => panic!("accepted {bytes:?}"),
        };
        assert_eq!(got, *code, "{bytes:?}");
    }
}

#[test]
fn a_batched_window_sends_its_first_block_alone_then_the_rest_in_one_run() {
    let content = file(21, 512 * 40);
    let mut store = MemStore::new();
    store.insert("w", content.clone());
    let (mut t, mut files) =
        accept_from_client(&mut store, b"\x00\x01w\x00octet\x00windowsize\x0016\x00");
    // Each send as (datagrams, segment size), and every datagram's bytes.
    let mut drive = |t: &mut Transfer, files: &mut TransferFile<MemStore>, rx: &mut [u8]| {
        let mut sends = Vec::new();
        let mut datagrams = Vec::new();
        let mut batch = vec![0u8; file::MAX_BATCH_BYTES];
        file::drive_batched(
            file::Driven {
                transfer: t,
                file: files,
                store: &mut store,
                received: rx,
            },
            Instant::ZERO,
            file::Batch {
                buf: &mut batch,
                max_segments: 64,
                read_ahead: None,
            },
            &mut |bytes, segment, to| {
                assert_eq!(to, addr(CLIENT));
                sends.push((bytes.len().div_ceil(segment), segment));
                datagrams.extend(bytes.chunks(segment).map(<[u8]>::to_vec));
            },
            &mut |_, _| {},
        );
        (sends, datagrams)
    };
    let (sends, datagrams) = drive(&mut t, &mut files, &mut []);
    assert_eq!(sends, [(1, 16)]);
    assert_eq!(datagrams, [b"\x00\x06windowsize\x0016\x00".to_vec()]);
    let mut ack = b"\x00\x04\x00\x00".to_vec();
    for first in [1u16, 17] {
        t.handle_datagram(Instant::ZERO, addr(CLIENT), &ack);
        let (sends, datagrams) = drive(&mut t, &mut files, &mut ack);
        assert_eq!(sends, [(1, 516), (15, 516)]);
        for (i, d) in datagrams.iter().enumerate() {
            let block = first + i as u16;
            let at = usize::from(block - 1) * 512;
            assert_eq!(d[..4], [0, 3, (block >> 8) as u8, block as u8]);
            assert_eq!(d[4..], content[at..at + 512], "block {block}");
        }
        ack = [0, 4, 0, (first + 15) as u8].to_vec();
    }
}

/// A server sending `blocks` 512-byte blocks (and a short last one) with
/// window 4 to [`CLIENT`], driven by hand with [`data_sent`]: the
/// transfer, its file and the store.
fn windowed_sender(blocks: usize) -> (Transfer, TransferFile<MemStore>, MemStore) {
    let mut store = MemStore::new();
    store.insert("w.bin", file(21, 512 * blocks + 7));
    let (t, files) =
        accept_from_client(&mut store, b"\x00\x01w.bin\x00octet\x00windowsize\x004\x00");
    (t, files, store)
}

/// Drives `t` at `now` (after `rx` arrived) and returns the numbers of
/// the DATA blocks it sent.
fn data_sent(
    t: &mut Transfer,
    files: &mut TransferFile<MemStore>,
    store: &mut MemStore,
    now: Instant,
    rx: &mut [u8],
) -> Vec<u16> {
    let mut tx = vec![0u8; 700];
    let mut sent = Vec::new();
    file::drive(
        file::Driven {
            transfer: t,
            file: files,
            store,
            received: rx,
        },
        now,
        &mut tx,
        &mut |d, _| {
            if d[..2] == [0, 3] {
                sent.push(u16::from_be_bytes([d[2], d[3]]));
            }
        },
        &mut |_, _| {},
    );
    sent
}

fn ack(t: &mut Transfer, now: Instant, block: u16) -> Vec<u8> {
    let mut a = vec![0, 4];
    a.extend_from_slice(&block.to_be_bytes());
    t.handle_datagram(now, addr(CLIENT), &a);
    a
}

#[test]
fn a_repeated_ack_of_the_block_before_the_window_never_resends_it() {
    let (mut t, mut f, mut s) = windowed_sender(12);
    let ms = Instant::from_millis;
    assert!(data_sent(&mut t, &mut f, &mut s, ms(0), &mut []).is_empty()); // OACK
    let mut a = ack(&mut t, ms(10), 0);
    assert_eq!(
        data_sent(&mut t, &mut f, &mut s, ms(10), &mut a),
        [1, 2, 3, 4]
    );
    // ACK 0 again, soon and late: a copy of the ACK that opened the
    // window, or the client's answer to a repeated OACK. Either way, no
    // resend; a lost first block costs a timeout.
    for at in [11, 25] {
        let mut a = ack(&mut t, ms(at), 0);
        assert!(data_sent(&mut t, &mut f, &mut s, ms(at), &mut a).is_empty());
    }
}

#[test]
fn gap_reports_sent_before_the_resend_arrived_do_not_go_back_twice() {
    let (mut t, mut f, mut s) = windowed_sender(12);
    let ms = Instant::from_millis;
    let _ = data_sent(&mut t, &mut f, &mut s, ms(0), &mut []);
    let mut a = ack(&mut t, ms(10), 0);
    assert_eq!(
        data_sent(&mut t, &mut f, &mut s, ms(10), &mut a),
        [1, 2, 3, 4]
    );
    // Block 2 lost: the client reports the gap with ACK 1; back to 2.
    let mut a = ack(&mut t, ms(20), 1);
    assert_eq!(
        data_sent(&mut t, &mut f, &mut s, ms(20), &mut a),
        [2, 3, 4, 5]
    );
    // A report of a later gap, sent before the resend reached the client
    // (it arrives within a reaction time of the 10 ms round trip): the
    // window moves on to 3..6, nothing already on its way is sent again.
    let mut a = ack(&mut t, ms(22), 2);
    assert_eq!(data_sent(&mut t, &mut f, &mut s, ms(22), &mut a), [6]);
    // A gap reported a reaction time after the resend is news: go back.
    let mut a = ack(&mut t, ms(40), 3);
    assert_eq!(
        data_sent(&mut t, &mut f, &mut s, ms(40), &mut a),
        [4, 5, 6, 7]
    );
}

#[test]
fn lockstep_never_resends_on_a_repeated_ack() {
    let mut store = MemStore::new();
    store.insert("w.bin", file(22, 512 * 3));
    let (mut t, mut f) = accept_from_client(&mut store, b"\x00\x01w.bin\x00octet\x00");
    let ms = Instant::from_millis;
    assert_eq!(data_sent(&mut t, &mut f, &mut store, ms(0), &mut []), [1]);
    let mut a = ack(&mut t, ms(10), 1);
    assert_eq!(data_sent(&mut t, &mut f, &mut store, ms(10), &mut a), [2]);
    // ACK 1 again, late enough to be a gap report in a window: in
    // lockstep it is a duplicate (the Sorcerer's Apprentice rule).
    let mut a = ack(&mut t, ms(30), 1);
    assert!(data_sent(&mut t, &mut f, &mut store, ms(30), &mut a).is_empty());
}
