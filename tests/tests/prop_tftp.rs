//! Property tests of TFTP under arbitrary fault schedules, in the
//! deterministic simulator.
//!
//! For any request (RRQ or WRQ, octet or netascii, any `blksize` from 8 to
//! 65464, any `windowsize` from 1 to 64), any file of up to 24 KiB and any
//! faults within these bounds — no loss or up to 30% random or bursty
//! loss, up to 20% duplication, up to 30% reordering by up to 20 ms, 0-5 ms
//! latency with up to 5 ms jitter, one partition of up to 20 s, one clock
//! jump of up to 5 s on either side — the transfer
//!
//! * completes with both files byte-identical, or ends with a clean
//!   failure event (a time-out within the retry bound, see [`RETRY_BOUND`], or the peer's
//!   ERROR) on the side that gave up, leaving no partial file;
//! * fails only when its faults allow it (loss, a partition or a clock
//!   jump, see [`may_fail`]), and then only by a time-out: the ERROR a side
//!   gets is its peer's time-out notice, never a refusal;
//! * never panics;
//! * never busy-loops: after each timer, `poll_timeout` lies in the future;
//! * never answers a duplicate ACK with DATA (no Sorcerer's Apprentice);
//! * keeps each transfer's memory within its stated bound: the machine
//!   under 3 KiB and the buffer it asks for no larger than one block.
//!
//! `SIM_CASES=<n>` runs more cases than CI's default.

use std::cell::RefCell;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;

use netboot_core::rng::Rng;
use netboot_core::storage::Storage;
use netboot_core::tftp::options::{Limits, Request};
use netboot_core::tftp::rto::RtoConfig;
use netboot_core::tftp::{ServerConfig, Transfer, TransferConfig, TransferError};
use netboot_core::time::{Duration, Instant};
use netboot_core::wire::tftp::{DATA_HEADER_LEN, ErrorCode, Mode, Packet};
use netboot_sim::apps::server::SimServer;
use netboot_sim::apps::tftp::{Job, TftpClient};
use netboot_sim::faults::percent;
use netboot_sim::world::Observed;
use netboot_sim::{Fault, LinkFaults, Loss, Sim};
use proptest::prelude::*;

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const MAX_RETRIES: u8 = 6;
/// The retry bound of [`transfer_config`]: a side gives up at the first
/// time-out after `MAX_RETRIES` retries when the peer has also been silent
/// for `give_up_after` (3 s). Back-off doubles the timer from at least 2 ms
/// up to its 1 s ceiling (at most 9 doublings), then at most 3 more
/// time-outs of 1 s cover the 3 s: 6 + 9 + 3 + 1 retries at most.
const RETRY_BOUND: u8 = MAX_RETRIES + 9 + 3 + 1;

#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    write: bool,
    netascii: bool,
    blksize: u16,
    windowsize: u16,
    len: usize,
    weather: LinkFaults,
    partition: Option<(u64, u64)>,
    jump: Option<(bool, u64, u64)>,
}

fn weather() -> impl Strategy<Value = LinkFaults> {
    let loss = prop_oneof![
        Just(Loss::None),
        (0.0..30.0f64).prop_map(|p| Loss::Random(percent(p))),
        (0.0..5.0f64, 30.0..90.0f64, 0.5..10.0f64, 10.0..60.0f64).prop_map(|(g, b, e, l)| {
            Loss::Bursty {
                good: percent(g),
                bad: percent(b),
                enter: percent(e),
                leave: percent(l),
            }
        }),
    ];
    (
        loss,
        0.0..20.0f64,
        0.0..30.0f64,
        0u64..20_000,
        0u64..5_000,
        0u64..5_000,
    )
        .prop_map(|(loss, dup, reorder, window, latency, jitter)| LinkFaults {
            loss,
            duplicate: percent(dup),
            reorder: percent(reorder),
            reorder_window: Duration::from_micros(window),
            latency: Duration::from_micros(latency),
            jitter: Duration::from_micros(jitter),
            ..LinkFaults::PERFECT
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        any::<bool>(),
        any::<bool>(),
        prop_oneof![8u16..=600, 512u16..=1468, 1468u16..=65464],
        prop_oneof![Just(1u16), 1u16..=64],
        prop_oneof![0usize..=1200, 0usize..=24 * 1024],
        weather(),
        proptest::option::of((0u64..3_000, 0u64..20_000)),
        proptest::option::of((any::<bool>(), 0u64..3_000, 1u64..5_000)),
    )
        .prop_map(
            |(seed, write, netascii, blksize, windowsize, len, weather, partition, jump)| Case {
                seed,
                write,
                netascii,
                blksize,
                windowsize,
                len,
                weather,
                partition,
                jump,
            },
        )
}

fn content(seed: u64, len: usize, text: bool) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|_| match (text, rng.below(10)) {
            (true, 0) => b'\r',
            (true, 1) => b'\n',
            (true, 2) => 0,
            _ => rng.next_u32() as u8,
        })
        .collect()
}

fn transfer_config() -> TransferConfig {
    TransferConfig {
        rto: RtoConfig {
            initial: Duration::from_millis(100),
            min: Duration::from_millis(2),
            max: Duration::from_secs(1),
        },
        max_retries: MAX_RETRIES,
        give_up_after: Duration::from_secs(3),
        dally: Duration::ZERO,
    }
}

/// Watches one sender's flow: a DATA sent while handling a duplicate ACK
/// is a Sorcerer's Apprentice retransmission.
#[derive(Default)]
struct ApprenticeWatch {
    sender: usize,
    last_ack: Option<u16>,
    in_duplicate: bool,
    violations: Vec<String>,
    duplicates: u32,
}

impl ApprenticeWatch {
    fn see(&mut self, at: Instant, ev: &Observed<'_>) {
        match *ev {
            Observed::Delivered { host, bytes, .. } if host == self.sender => {
                self.in_duplicate = false;
                if let Ok(Packet::Ack { block }) = Packet::parse(bytes) {
                    let dup = self
                        .last_ack
                        .is_some_and(|last| last.wrapping_sub(block) < 0x8000);
                    if dup {
                        self.in_duplicate = true;
                        self.duplicates += 1;
                    } else {
                        self.last_ack = Some(block);
                    }
                }
            }
            Observed::Timer { host } if host == self.sender => self.in_duplicate = false,
            Observed::Sent { host, bytes, .. } if host == self.sender && self.in_duplicate => {
                if let Ok(Packet::Data { block, .. }) = Packet::parse(bytes) {
                    self.violations.push(format!(
                        "{at:?}: DATA {block} sent in answer to a duplicate ACK"
                    ));
                }
            }
            _ => {}
        }
    }
}

/// What went over the wire: the options the server's OACKs granted and
/// the largest DATA payload.
#[derive(Default)]
struct WireWatch {
    /// `blksize` and `windowsize` of every OACK sent.
    oacks: Vec<(Option<u16>, Option<u16>)>,
    /// The largest DATA payload sent.
    largest_data: usize,
}

impl WireWatch {
    fn see(&mut self, ev: &Observed<'_>) {
        if let Observed::Sent { bytes, .. } = *ev {
            match Packet::parse(bytes) {
                Ok(Packet::Oack { options }) => {
                    let num = |name| options.get(name).and_then(|v: &str| v.parse().ok());
                    self.oacks.push((num("blksize"), num("windowsize")));
                }
                Ok(Packet::Data { data, .. }) => {
                    self.largest_data = self.largest_data.max(data.len());
                }
                _ => {}
            }
        }
    }
}

/// Whether the case's faults can legitimately make the transfer fail.
///
/// A side gives up only after `MAX_RETRIES` time-outs in a row with no
/// progress for `give_up_after` (3 s). Loss can do that: six round trips
/// lost in a row while the timer still starts from its initial 100 ms
/// back off past 3 s, and a lost final ACK leaves the sender retrying
/// after the receiver has stopped lingering. A partition can cut the peers
/// off for that long, and a clock jump makes the 3 s pass at once. Without
/// any of these every datagram arrives within some 30 ms (latency, jitter,
/// reordering), duplicates and reordering only cost retransmissions, and
/// the transfer must complete on both sides.
fn may_fail(case: &Case) -> bool {
    let lossy = match case.weather.loss {
        Loss::None => false,
        Loss::Random(p) => p > 0,
        Loss::Bursty {
            good, bad, enter, ..
        } => good > 0 || (bad > 0 && enter > 0),
    };
    lossy || case.partition.is_some() || case.jump.is_some()
}

/// How a run ended, once [`run`] has checked it.
struct Ran {
    /// The client's result.
    client: Result<u64, TransferError>,
    /// The server's result, if the transfer reached it.
    server: Option<Result<u64, TransferError>>,
    /// What went over the wire.
    wire: WireWatch,
}

/// Runs `case` and checks what every case must keep (see the module
/// documentation). Unless [`may_fail`] allows a clean failure, it also
/// requires the transfer to succeed: both sides complete, and the receiver
/// holds the whole file, byte-identical.
fn run(case: &Case) -> Result<Ran, TestCaseError> {
    let mut sim = Sim::new(case.seed);
    sim.set_weather(case.weather);
    let limits = Limits {
        max_windowsize: 64,
        ..Limits::default()
    };
    let server = sim.add_host("server", SERVER, move || {
        Box::new(SimServer::tftp(ServerConfig {
            limits,
            writable: true,
            overwrite: false,
            transfer: transfer_config(),
        }))
    });
    let data = content(case.seed, case.len, case.netascii);
    let mode = if case.netascii {
        Mode::Netascii
    } else {
        Mode::Octet
    };
    let request = Request {
        blksize: Some(case.blksize),
        windowsize: Some(case.windowsize),
        ..Request::default()
    };
    let job = if case.write {
        Job::Put {
            local: "file".into(),
            remote: "up/file".into(),
            mode,
            request,
        }
    } else {
        Job::Get {
            remote: "boot/file".into(),
            local: "file".into(),
            mode,
            request,
        }
    };
    let client = sim.add_host("client", CLIENT, move || {
        Box::new(TftpClient::new(
            SocketAddrV4::new(SERVER, 69),
            transfer_config(),
            [job.clone()],
        ))
    });
    if case.write {
        sim.store_mut(client).insert("file", data.clone());
        sim.store_mut(server).mem_mut().create_dir("up").unwrap();
    } else {
        sim.store_mut(server).insert("boot/file", data.clone());
    }
    sim.strict_timers(server);
    sim.strict_timers(client);
    let watch = Rc::new(RefCell::new(ApprenticeWatch {
        sender: if case.write { client } else { server },
        ..ApprenticeWatch::default()
    }));
    let w = watch.clone();
    sim.observe(move |at, ev| w.borrow_mut().see(at, ev));
    let wire = Rc::new(RefCell::new(WireWatch::default()));
    let w = wire.clone();
    sim.observe(move |_, ev| w.borrow_mut().see(ev));
    if let Some((start, len)) = case.partition {
        sim.schedule(Instant::from_millis(start), Fault::Partition(vec![client]));
        sim.schedule(Instant::from_millis(start + len), Fault::Heal);
    }
    if let Some((on_server, at, by)) = case.jump {
        let h = if on_server { server } else { client };
        sim.schedule(
            Instant::from_millis(at),
            Fault::ClockJump(h, Duration::from_millis(by)),
        );
    }
    sim.set_time_limit(Instant::from_secs(3_600));
    let outcome = sim.run();
    prop_assert_eq!(
        outcome,
        netboot_sim::Outcome::Quiet,
        "the run settles by itself"
    );

    let watch = watch.borrow();
    prop_assert!(watch.violations.is_empty(), "{:?}", watch.violations);

    let c = sim.app::<TftpClient>(client).unwrap();
    prop_assert!(c.is_done());
    prop_assert_eq!(c.results.len(), 1);
    prop_assert!(c.max_buffer <= (DATA_HEADER_LEN + usize::from(case.blksize)).max(512 + 128));
    let s = sim.app::<SimServer>(server).unwrap();
    let active = s.server().and_then(|s| s.tftp()).map(|t| t.active());
    prop_assert_eq!(active, Some(0), "the server dropped the transfer");
    prop_assert!(
        s.peak_transfers() <= 1,
        "a repeated request never starts a second transfer"
    );
    let client_result = &c.results[0].result;
    let server_result = s.completions().next().map(|c| c.result.map(|()| c.bytes));
    let clean = |r: &Result<u64, TransferError>| match r {
        Ok(_) => Ok(()),
        Err(TransferError::TimedOut { retries }) if *retries <= RETRY_BOUND => Ok(()),
        Err(TransferError::Peer { .. }) => Ok(()),
        Err(e) => Err(TestCaseError::fail(format!("unclean failure {e:?}"))),
    };
    clean(client_result)?;
    if let Some(r) = &server_result {
        clean(r)?;
    }
    let (stored_at, stored_name) = if case.write {
        (server, "up/file")
    } else {
        (client, "file")
    };
    match client_result {
        Ok(n) => {
            prop_assert_eq!(*n as usize, data.len());
            prop_assert!(
                sim.store(stored_at).get(stored_name) == Some(&data[..]),
                "byte-identical"
            );
            if case.write {
                // The server committed before its final ACK, so it knows.
                prop_assert_eq!(server_result, Some(Ok(data.len() as u64)));
            }
        }
        Err(_) => {
            if case.write {
                // The server may have stored it all and lost only the last
                // ACK; otherwise nothing is visible.
                let server_disk = sim.store(server);
                let stored = server_disk.get("up/file");
                prop_assert!(stored.is_none() || stored == Some(&data[..]));
                prop_assert_eq!(stored.is_some(), matches!(server_result, Some(Ok(_))));
            } else {
                prop_assert!(
                    sim.store(client).get("file").is_none(),
                    "no partial download"
                );
            }
        }
    }
    // A side fails by timing out itself, or on the ERROR its peer sends
    // when the peer timed out; never on any other ERROR (a refused
    // option, an illegal operation...).
    if let Err(TransferError::Peer { code }) = client_result {
        prop_assert_eq!(*code, ErrorCode::NotDefined, "client got ERROR {:?}", code);
        prop_assert!(
            matches!(server_result, Some(Err(TransferError::TimedOut { .. }))),
            "client got the server's ERROR, server ended with {:?}",
            server_result
        );
    }
    if let Some(Err(TransferError::Peer { code })) = server_result {
        prop_assert_eq!(code, ErrorCode::NotDefined, "server got ERROR {:?}", code);
        prop_assert!(
            matches!(client_result, Err(TransferError::TimedOut { .. })),
            "server got the client's ERROR, client ended with {:?}",
            client_result
        );
    }
    if !may_fail(case) {
        // Nothing in this case can stop the transfer: both sides complete
        // the whole file (byte-identical, checked above).
        prop_assert_eq!(client_result, &Ok(data.len() as u64), "client");
        prop_assert_eq!(server_result, Some(Ok(data.len() as u64)), "server");
    }
    let wire = std::mem::take(&mut *wire.borrow_mut());
    Ok(Ran {
        client: *client_result,
        server: server_result,
        wire,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(netboot_sim::seed::cases(128)))]

    #[test]
    fn transfers_complete_or_fail_cleanly_under_any_faults(case in case()) {
        run(&case)?;
    }
}

#[test]
fn a_transfer_machine_is_small() {
    let size = std::mem::size_of::<Transfer>();
    assert!(size <= 3 * 1024, "Transfer is {size} bytes");
}

/// Every blksize edge and every windowsize edge, both directions and
/// modes, under moderate faults.
#[test]
fn every_option_edge_both_directions_both_modes() {
    let mut n = 0;
    for blksize in [8u16, 9, 511, 512, 513, 1428, 1468, 8192, 65464] {
        for windowsize in [1u16, 2, 7, 64] {
            for (write, netascii) in [(false, false), (false, true), (true, false), (true, true)] {
                n += 1;
                let case = Case {
                    seed: n,
                    write,
                    netascii,
                    blksize,
                    windowsize,
                    len: usize::from(blksize) * 3 + (n as usize % 3),
                    weather: LinkFaults::lossy(10.0, 5.0, 10.0),
                    partition: None,
                    jump: None,
                };
                let ran = match run(&case) {
                    Ok(ran) => ran,
                    Err(e) => panic!("{case:?}: {e}"),
                };
                // Both sides completed the whole file (`run` checked it is
                // byte-identical).
                let len = case.len as u64;
                assert_eq!(ran.client, Ok(len), "{case:?}: client");
                assert_eq!(ran.server, Some(Ok(len)), "{case:?}: server");
                let wire = ran.wire;
                // Every edge value is valid, so the server grants it as
                // asked and the sender uses it.
                assert!(
                    !wire.oacks.is_empty()
                        && wire
                            .oacks
                            .iter()
                            .all(|o| *o == (Some(blksize), Some(windowsize))),
                    "{case:?}: OACKs {:?}",
                    wire.oacks
                );
                assert_eq!(
                    wire.largest_data,
                    usize::from(blksize),
                    "{case:?}: full blocks carry blksize bytes"
                );
            }
        }
    }
}
