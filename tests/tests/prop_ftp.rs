//! Property tests of FTP against a reference model of the file store, in
//! the deterministic simulator.
//!
//! A client runs an arbitrary sequence of logins, `RETR` (with and without
//! `REST`), `STOR` (replace, `APPE`, `REST`+`STOR` resume), `ABOR` of
//! downloads and uploads, `RNFR`/`RNTO`, `DELE` and `SIZE` against the
//! server, over streams cut at arbitrary boundaries with latency and
//! jitter, and, within these bounds, data-connection resets (up to 0.5‰
//! per segment), disk write and read errors (up to 2%) and a full disk.
//! After every operation the server's store must equal the model's:
//!
//! * an operation that succeeded did exactly what the model says, and a
//!   download returned exactly the model's bytes (from the `REST` offset);
//! * an operation the model refuses is refused with the model's code, and
//!   changes nothing;
//! * a failed `STOR` (reset, disk error, full disk, `ABOR`) leaves no file
//!   and no change; a failed `APPE` or resumed `STOR`, which write in place
//!   by design, leaves the old content followed by a prefix of the new.
//!
//! `SIM_CASES=<n>` runs more cases than CI's default.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use netboot_core::ftp::client::StoreMode;
use netboot_core::ftp::server::ServerConfig;
use netboot_core::rng::Rng;
use netboot_core::storage::Storage;
use netboot_core::time::{Duration, Instant};
use netboot_sim::apps::ftp::{Failed, FtpClient, Op, OpResult};
use netboot_sim::apps::server::{SimServer, User};
use netboot_sim::{Fault, LinkFaults, Sim, StoreFaults};
use proptest::prelude::*;

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const NAMES: [&str; 3] = ["a", "b", "dir/c"];

#[derive(Clone, Debug)]
enum Step {
    Put(usize, usize, u8),
    Get(usize, u64),
    GetAbort(usize, u64),
    PutAbort(usize, usize),
    Rename(usize, usize),
    Delete(usize),
    Size(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..3usize, 0..3usize, 0..3u8).prop_map(|(n, src, mode)| Step::Put(n, src, mode)),
        3 => (0..3usize, prop_oneof![Just(0u64), 0..20_000u64]).prop_map(|(n, off)| Step::Get(n, off)),
        1 => (0..3usize, 0..8_000u64).prop_map(|(n, after)| Step::GetAbort(n, after)),
        1 => (0..3usize, 0..3usize).prop_map(|(n, src)| Step::PutAbort(n, src)),
        2 => (0..3usize, 0..3usize).prop_map(|(a, b)| Step::Rename(a, b)),
        1 => (0..3usize).prop_map(Step::Delete),
        1 => (0..3usize).prop_map(Step::Size),
    ]
}

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u32() as u8).collect()
}

fn s(x: &str) -> String {
    x.to_string()
}

/// The client operation for a step, given the model (for resume offsets).
fn op_for(step: &Step, model: &BTreeMap<String, Vec<u8>>) -> Op {
    match *step {
        Step::Put(n, src, mode) => Op::Put {
            local: format!("src{src}"),
            remote: s(NAMES[n]),
            mode: match mode {
                0 => StoreMode::Replace,
                1 => StoreMode::Append,
                _ => StoreMode::Resume(model.get(NAMES[n]).map_or(0, |f| f.len() as u64 / 2)),
            },
        },
        Step::Get(n, off) => Op::Get {
            remote: s(NAMES[n]),
            local: String::new(),
            offset: off.min(model.get(NAMES[n]).map_or(off, |f| f.len() as u64 + 1)),
        },
        Step::GetAbort(n, after) => Op::GetAbort {
            remote: s(NAMES[n]),
            after,
        },
        Step::PutAbort(n, src) => Op::PutAbort {
            local: format!("src{src}"),
            remote: s(NAMES[n]),
            after: 1_000,
        },
        Step::Rename(a, b) => Op::Rename {
            from: s(NAMES[a]),
            to: s(NAMES[b]),
        },
        Step::Delete(n) => Op::Delete(s(NAMES[n])),
        Step::Size(n) => Op::Size(s(NAMES[n])),
    }
}

/// What the model expects of `op`: the reply code on success (None when
/// the model refuses it with `refusal`), and the model after success.
struct Expect {
    code: Result<u16, u16>,
    after: BTreeMap<String, Vec<u8>>,
    data: Option<Vec<u8>>,
}

fn expect(op: &Op, model: &BTreeMap<String, Vec<u8>>, sources: &[Vec<u8>]) -> Expect {
    let mut after = model.clone();
    let src = |local: &str| sources[local[3..].parse::<usize>().unwrap()].clone();
    let (code, data) = match op {
        Op::Put {
            local,
            remote,
            mode,
        } => {
            let new = src(local);
            match *mode {
                StoreMode::Replace => {
                    after.insert(remote.clone(), new);
                    (Ok(226), None)
                }
                StoreMode::Append => {
                    after
                        .entry(remote.clone())
                        .or_default()
                        .extend_from_slice(&new);
                    (Ok(226), None)
                }
                StoreMode::Resume(off) => {
                    let old = model.get(remote).cloned().unwrap_or_default();
                    if off as usize > old.len() || (off > 0 && !model.contains_key(remote)) {
                        (Err(550), None)
                    } else {
                        let mut f = old[..off as usize].to_vec();
                        f.extend_from_slice(new.get(off as usize..).unwrap_or_default());
                        after.insert(remote.clone(), f);
                        (Ok(226), None)
                    }
                }
            }
        }
        Op::Get { remote, offset, .. } => match model.get(remote) {
            None => (Err(550), None),
            Some(f) if *offset as usize > f.len() => (Err(554), None),
            Some(f) => (Ok(226), Some(f[*offset as usize..].to_vec())),
        },
        Op::GetAbort { remote, .. } | Op::Size(remote) => match model.get(remote) {
            None => (Err(550), None),
            Some(_) => (Ok(if matches!(op, Op::Size(_)) { 213 } else { 226 }), None),
        },
        Op::PutAbort { .. } => (Ok(226), None),
        Op::Rename { from, to } => match model.get(from) {
            None => (Err(550), None),
            Some(f) => {
                let f = f.clone();
                after.remove(from);
                after.insert(to.clone(), f);
                (Ok(250), None)
            }
        },
        Op::Delete(p) => match after.remove(p) {
            None => (Err(550), None),
            Some(_) => (Ok(250), None),
        },
        _ => (Ok(221), None),
    };
    Expect { code, after, data }
}

fn store_files(sim: &Sim) -> BTreeMap<String, Vec<u8>> {
    let store = sim.store(0);
    let m = store.mem();
    m.files()
        .map(|f| (f.to_string(), m.get(f).unwrap().to_vec()))
        .collect()
}

/// Whether the faults of `case` explain `op` failing with `failed` where
/// the model expects `model_code` (its success code, or its refusal).
///
/// Only the faults configured can: a disk read or write error is the
/// server's 451, a full disk its 552 (the codes `ServerSession` gives a
/// failed transfer or store operation), and a reset connection a 425 or
/// 426, a failed data connection, or a lost session. `ABOR` ends the abort
/// operations. Without faults, nothing but `ABOR` may fail an operation the
/// model lets succeed, and a refusal the model expects is exact.
fn failure_explained(op: &Op, failed: Failed, model_code: Result<u16, u16>, case: &Case) -> bool {
    let disk_errors = case.write_errors > 0 || case.read_errors > 0;
    let disk_full = case.capacity.is_some();
    let resets = case.resets > 0;
    match failed {
        Failed::Aborted => matches!(op, Op::GetAbort { .. } | Op::PutAbort { .. }),
        // The model's own refusal.
        Failed::Refused(code) if model_code == Err(code) => true,
        Failed::Refused(451) => disk_errors,
        Failed::Refused(552) => disk_full,
        Failed::Refused(425 | 426) => resets,
        Failed::Refused(_) => false,
        Failed::DataConnection | Failed::Closed | Failed::Timeout | Failed::Protocol => resets,
        Failed::Local(_) => false,
    }
}

/// Checks one finished operation against the model and moves the model on.
fn check(
    r: &OpResult,
    model: &mut BTreeMap<String, Vec<u8>>,
    sources: &[Vec<u8>],
    actual: &BTreeMap<String, Vec<u8>>,
    case: &Case,
) -> Result<(), TestCaseError> {
    let e = expect(&r.op, model, sources);
    if let Err(failed) = r.result {
        prop_assert!(
            failure_explained(&r.op, failed, e.code, case),
            "{:?}: {:?}, the model says {:?}, and no configured fault explains it \
             (resets {}, write errors {}, read errors {}, capacity {:?})",
            r.op,
            r.result,
            e.code,
            case.resets,
            case.write_errors,
            case.read_errors,
            case.capacity
        );
    }
    match (&r.op, r.result, e.code) {
        (_, Ok(code), Ok(want)) => {
            if !matches!(r.op, Op::GetAbort { .. }) {
                prop_assert_eq!(code, want, "{:?}", r.op);
            }
            if let Some(d) = &e.data {
                prop_assert!(&r.data == d, "{:?}: downloaded bytes differ", r.op);
            }
            *model = e.after;
        }
        (_, Err(Failed::Refused(code)), Err(want)) => prop_assert_eq!(code, want, "{:?}", r.op),
        (_, Ok(code), Err(want)) => {
            return Err(TestCaseError::fail(format!(
                "{:?}: {code}, the model refuses with {want}",
                r.op
            )));
        }
        (
            Op::Put {
                mode: StoreMode::Append | StoreMode::Resume(_),
                remote,
                local,
            },
            Err(_),
            Ok(_),
        ) => {
            // In place by design: the old content, then a prefix of the new;
            // or, when the session was lost before the write began, the old
            // content unchanged.
            let full = &e.after[remote];
            let keep = match r.op {
                Op::Put {
                    mode: StoreMode::Resume(off),
                    ..
                } => off as usize,
                _ => model.get(remote).map_or(0, Vec::len),
            };
            let _ = local;
            match actual.get(remote) {
                Some(got) => {
                    prop_assert!(
                        (got.len() >= keep && full.starts_with(got))
                            || model.get(remote) == Some(got),
                        "{:?}: neither unchanged nor old + prefix of new",
                        r.op
                    );
                    model.insert(remote.clone(), got.clone());
                }
                None => prop_assert!(!model.contains_key(remote) && keep == 0),
            }
        }
        (_, Err(Failed::Closed | Failed::Timeout | Failed::Protocol), Ok(_)) => {
            // The reply was lost with the session: done or not done.
            if *actual == e.after {
                *model = e.after;
            }
        }
        // A clean failure the case's faults explain (checked above):
        // nothing changed.
        (_, Err(_), _) => {}
    }
    prop_assert!(
        actual == model,
        "after {:?} ({:?}): store {:?} != model {:?}",
        r.op,
        r.result,
        actual.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
        model.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>()
    );
    Ok(())
}

#[derive(Clone, Debug)]
struct Case {
    seed: u64,
    steps: Vec<Step>,
    max_segment: usize,
    latency: u64,
    jitter: u64,
    resets: u32,
    write_errors: u32,
    read_errors: u32,
    capacity: Option<u64>,
}

fn case() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        proptest::collection::vec(step(), 1..16),
        prop_oneof![Just(1460usize), 1usize..64],
        0u64..5_000,
        0u64..5_000,
        prop_oneof![Just(0u32), 0u32..500],
        prop_oneof![Just(0u32), 0u32..20_000],
        prop_oneof![Just(0u32), 0u32..20_000],
        proptest::option::of(20_000u64..200_000),
    )
        .prop_map(
            |(
                seed,
                steps,
                max_segment,
                latency,
                jitter,
                resets,
                write_errors,
                read_errors,
                capacity,
            )| Case {
                seed,
                steps,
                max_segment,
                latency,
                jitter,
                resets,
                write_errors,
                read_errors,
                capacity,
            },
        )
}

fn run(case: &Case) -> Result<(), TestCaseError> {
    let mut sim = Sim::new(case.seed);
    sim.set_weather(LinkFaults {
        min_segment: 1,
        max_segment: case.max_segment,
        latency: Duration::from_micros(case.latency),
        jitter: Duration::from_micros(case.jitter),
        stream_reset: case.resets,
        ..LinkFaults::PERFECT
    });
    let server = sim.add_host("server", SERVER, || {
        Box::new(SimServer::ftp(
            ServerConfig {
                login_delay: Duration::from_millis(10),
                data_timeout: Duration::from_secs(10),
                ..ServerConfig::default()
            },
            vec![User {
                name: s("u"),
                password: s("p"),
                writable: true,
            }],
        ))
    });
    Storage::create_dir(sim.store_mut(server).mem_mut(), "dir").unwrap();
    let sources: Vec<Vec<u8>> = (0..3)
        .map(|i| content(case.seed ^ i, [0, 3_000, 30_000][i as usize]))
        .collect();
    let client = sim.add_host("client", Ipv4Addr::new(10, 0, 0, 2), || {
        Box::new(FtpClient::new(SocketAddrV4::new(SERVER, 21), []).interactive())
    });
    for (i, src) in sources.iter().enumerate() {
        sim.store_mut(client)
            .insert(&format!("src{i}"), src.clone());
    }
    sim.schedule(
        Instant::ZERO,
        Fault::Store(
            server,
            StoreFaults {
                write_error: case.write_errors,
                read_error: case.read_errors,
                capacity: case.capacity,
                ..StoreFaults::default()
            },
        ),
    );
    sim.set_time_limit(Instant::from_secs(24 * 3600));
    // Log in, then one operation at a time, checking after each.
    let mut model: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let first = content(!case.seed, 5_000);
    sim.store_mut(server).insert("a", first.clone());
    model.insert(s("a"), first);
    let mut ops = vec![Op::Login {
        user: s("u"),
        password: s("p"),
    }];
    sim.run_until(|sim| sim.is_up(client));
    let mut done = 0;
    let mut steps = case.steps.iter();
    loop {
        let batch = std::mem::take(&mut ops);
        sim.command::<FtpClient>(client, |c, cx| c.push_ops(cx, batch));
        sim.run_until(|sim| {
            sim.app::<FtpClient>(client).unwrap().results.len() > done
                || sim.app::<FtpClient>(client).unwrap().finished
        });
        let c = sim.app::<FtpClient>(client).unwrap();
        if c.results.len() <= done {
            break;
        }
        let actual = store_files(&sim);
        for r in &c.results[done..] {
            if !matches!(r.op, Op::Login { .. }) {
                check(r, &mut model, &sources, &actual, case)?;
            } else if let Err(failed) = r.result {
                // Only a lost session explains a failed login.
                prop_assert!(
                    case.resets > 0
                        && matches!(failed, Failed::Closed | Failed::Timeout | Failed::Protocol),
                    "login: {:?} (resets {})",
                    r.result,
                    case.resets
                );
            } else {
                prop_assert_eq!(r.result, Ok(230));
            }
        }
        done = c.results.len();
        if c.finished {
            break;
        }
        match steps.next() {
            Some(step) => ops.push(op_for(step, &model)),
            None => ops.push(Op::Quit),
        }
    }
    sim.run();
    prop_assert_eq!(store_files(&sim), model, "at the end");
    let sessions = sim
        .app::<SimServer>(server)
        .and_then(SimServer::server)
        .and_then(|s| s.ftp())
        .map(|f| f.sessions());
    prop_assert_eq!(sessions, Some(0));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(netboot_sim::seed::cases(48)))]

    #[test]
    fn the_store_follows_the_model(case in case()) {
        run(&case)?;
    }
}
