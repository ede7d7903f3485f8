//! A state-machine property test of the FTP server, with
//! `proptest-state-machine`: a reference model of the server's file store
//! (path → bytes, the directories, whether the session is logged in)
//! generates each transition from its current state (`RETR`, `DELE` and
//! `RNFR` mostly name a file that exists), and after every transition the
//! simulated server must answer with the model's reply code, return the
//! model's bytes, record the model's data transfer and hold exactly the
//! model's files. A failing sequence shrinks to a minimal one.
//!
//! Transitions: login (twice is refused), a command before login, `RETR`
//! with and without `REST`, `STOR`, a `STOR` the full disk refuses (no
//! file and no partial upload left behind), `DELE`, `RNFR`/`RNTO`, `MKD`,
//! and `ABOR` of a download or an upload. The streams are cut at arbitrary
//! boundaries, with latency and jitter, in some cases.
//!
//! `SIM_CASES=<n>` runs more cases than CI's default.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};

use netboot_core::ftp::client::StoreMode;
use netboot_core::ftp::server::{Outcome, ServerConfig};
use netboot_core::rng::Rng;
use netboot_core::storage::{Storage, StoreError};
use netboot_core::time::{Duration, Instant};
use netboot_sim::apps::ftp::{Failed, FtpClient, Op};
use netboot_sim::apps::server::{SimServer, User};
use netboot_sim::{HostId, LinkFaults, Sim, StoreFaults};
use proptest::prelude::*;
use proptest::sample::select;
use proptest_state_machine::{ReferenceStateMachine, StateMachineTest, prop_state_machine};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// File names; `d2/e` needs `MKD d2` first.
const NAMES: [&str; 4] = ["a", "b", "dir/c", "d2/e"];
/// Directory names for `MKD` (`dir` exists from the start).
const DIRS: [&str; 2] = ["dir", "d2"];
/// Upload sources' sizes; `big` (more than the disk holds) is extra.
const SOURCES: [usize; 3] = [0, 3_000, 20_000];
/// The disk: all files at their largest plus one pending upload fit.
const CAPACITY: u64 = 120_000;
const BIG: usize = 150_000;

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u32() as u8).collect()
}

fn source(seed: u64, i: usize) -> Vec<u8> {
    content(seed ^ (i as u64 + 1), SOURCES[i])
}

fn parent_exists(dirs: &BTreeSet<String>, path: &str) -> bool {
    path.rsplit_once('/').is_none_or(|(p, _)| dirs.contains(p))
}

#[derive(Clone, Copy, Debug)]
struct Weather {
    max_segment: usize,
    latency: u64,
    jitter: u64,
}

#[derive(Clone, Debug)]
enum Transition {
    Login,
    /// `SIZE` before logging in.
    Anonymous(usize),
    /// `REST` (when not 0) + `RETR`.
    Retr(usize, u64),
    /// `STOR` of a source.
    Stor(usize, usize),
    /// `STOR` of a source bigger than the disk.
    StorFull(usize),
    Dele(usize),
    Rename(usize, usize),
    Mkd(usize),
    /// `RETR`, `ABOR` after this many bytes.
    GetAbort(usize, u64),
    /// `STOR` of a source, `ABOR` after 1000 bytes.
    PutAbort(usize, usize),
}

/// What the server should do for the last transition.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Reply {
    /// The final reply code, and the bytes of a download.
    Ok(u16, Option<Vec<u8>>),
    Refused(u16),
    /// An aborted transfer (it may also have completed before the `ABOR`).
    Aborted,
}

/// A data transfer the server should record: path, upload, and how it
/// ends with the bytes that crossed, when the model knows them (`None`:
/// aborted, or completed before the abort).
type Transfer = (String, bool, Option<(Outcome, Option<u64>)>);

#[derive(Clone)]
struct Model {
    seed: u64,
    weather: Weather,
    files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
    logged_in: bool,
    transfers: usize,
    reply: Reply,
    transfer: Option<Transfer>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("seed", &self.seed)
            .field("weather", &self.weather)
            .field(
                "files",
                &self
                    .files
                    .iter()
                    .map(|(k, v)| (k, v.len()))
                    .collect::<Vec<_>>(),
            )
            .field("dirs", &self.dirs)
            .field("logged_in", &self.logged_in)
            .finish()
    }
}

struct FtpModel;

impl ReferenceStateMachine for FtpModel {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        (
            any::<u64>(),
            prop_oneof![Just(1460usize), 1usize..64],
            prop_oneof![Just(0u64), 0u64..5_000],
            prop_oneof![Just(0u64), 0u64..5_000],
            proptest::option::of(0usize..6_000),
            proptest::option::of(0usize..6_000),
        )
            .prop_map(|(seed, max_segment, latency, jitter, a, c)| {
                let mut files = BTreeMap::new();
                if let Some(len) = a {
                    files.insert("a".to_string(), content(!seed, len));
                }
                if let Some(len) = c {
                    files.insert("dir/c".to_string(), content(seed.rotate_left(7), len));
                }
                Model {
                    seed,
                    weather: Weather {
                        max_segment,
                        latency,
                        jitter,
                    },
                    files,
                    dirs: BTreeSet::from(["dir".to_string()]),
                    logged_in: false,
                    transfers: 0,
                    reply: Reply::Ok(220, None),
                    transfer: None,
                }
            })
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        use Transition as T;
        if !state.logged_in {
            return prop_oneof![
                3 => Just(T::Login),
                1 => (0..NAMES.len()).prop_map(T::Anonymous),
            ]
            .boxed();
        }
        // Mostly a file that exists, sometimes any name.
        let existing: Vec<(usize, usize)> = NAMES
            .iter()
            .enumerate()
            .filter_map(|(i, n)| state.files.get(*n).map(|f| (i, f.len())))
            .collect();
        let any_name = (0..NAMES.len()).prop_map(|i| (i, 0usize));
        let name = if existing.is_empty() {
            any_name.boxed()
        } else {
            prop_oneof![3 => select(existing), 1 => any_name].boxed()
        };
        let n = name.clone().prop_map(|(i, _)| i);
        prop_oneof![
            1 => Just(T::Login),
            4 => name.clone().prop_flat_map(|(i, len)| {
                prop_oneof![
                    2 => Just(0u64),
                    2 => 0..=len as u64,
                    1 => len as u64..len as u64 + 100,
                ]
                .prop_map(move |off| T::Retr(i, off))
            }),
            4 => (0..NAMES.len(), 0..SOURCES.len()).prop_map(|(i, s)| T::Stor(i, s)),
            1 => (0..NAMES.len()).prop_map(T::StorFull),
            2 => n.clone().prop_map(T::Dele),
            2 => (n.clone(), 0..NAMES.len()).prop_map(|(a, b)| T::Rename(a, b)),
            1 => (0..DIRS.len()).prop_map(T::Mkd),
            1 => (n, 0u64..8_000).prop_map(|(i, after)| T::GetAbort(i, after)),
            1 => (0..NAMES.len(), 1..SOURCES.len()).prop_map(|(i, s)| T::PutAbort(i, s)),
        ]
        .boxed()
    }

    fn preconditions(state: &Model, t: &Transition) -> bool {
        match t {
            Transition::Login => true,
            Transition::Anonymous(_) => !state.logged_in,
            _ => state.logged_in,
        }
    }

    fn apply(mut state: Model, t: &Transition) -> Model {
        use Reply::{Aborted, Ok, Refused};
        let m = &mut state;
        m.transfer = None;
        let parent = |m: &Model, i: usize| parent_exists(&m.dirs, NAMES[i]);
        let transfer = |m: &mut Model, i: usize, upload, outcome| {
            m.transfers += 1;
            m.transfer = Some((NAMES[i].to_string(), upload, outcome));
        };
        m.reply = match *t {
            Transition::Login if m.logged_in => Refused(530),
            Transition::Login => {
                m.logged_in = true;
                Ok(230, None)
            }
            Transition::Anonymous(_) => Refused(530),
            Transition::Retr(i, off) => match m.files.get(NAMES[i]) {
                None => Refused(550),
                Some(f) if off as usize > f.len() => Refused(554),
                Some(f) => {
                    let data = f[off as usize..].to_vec();
                    let bytes = data.len() as u64;
                    transfer(m, i, false, Some((Outcome::Complete, Some(bytes))));
                    Ok(226, Some(data))
                }
            },
            Transition::Stor(i, s) if parent(m, i) => {
                let data = source(m.seed, s);
                let bytes = data.len() as u64;
                m.files.insert(NAMES[i].to_string(), data);
                transfer(m, i, true, Some((Outcome::Complete, Some(bytes))));
                Ok(226, None)
            }
            Transition::StorFull(i) if parent(m, i) => {
                let full = (Outcome::Storage(StoreError::Full), None);
                transfer(m, i, true, Some(full));
                Refused(552)
            }
            Transition::PutAbort(i, _) if parent(m, i) => {
                transfer(m, i, true, None);
                Aborted
            }
            // The parent directory is missing.
            Transition::Stor(..) | Transition::StorFull(_) | Transition::PutAbort(..) => {
                Refused(550)
            }
            Transition::Dele(i) => match m.files.remove(NAMES[i]) {
                None => Refused(550),
                Some(_) => Ok(250, None),
            },
            Transition::Rename(a, b) => {
                if !m.files.contains_key(NAMES[a]) || !parent(m, b) {
                    Refused(550)
                } else {
                    let f = m.files.remove(NAMES[a]).unwrap();
                    m.files.insert(NAMES[b].to_string(), f);
                    Ok(250, None)
                }
            }
            Transition::Mkd(d) => {
                if m.dirs.insert(DIRS[d].to_string()) {
                    Ok(257, None)
                } else {
                    Refused(553)
                }
            }
            Transition::GetAbort(i, _) => {
                if m.files.contains_key(NAMES[i]) {
                    transfer(m, i, false, None);
                    Aborted
                } else {
                    Refused(550)
                }
            }
        };
        state
    }
}

/// The simulated server and an interactive client driven one operation at
/// a time.
struct System {
    sim: Sim,
    server: HostId,
    client: HostId,
    /// Results of the client consumed so far.
    done: usize,
}

fn store_files(sim: &Sim, host: HostId) -> BTreeMap<String, Vec<u8>> {
    let store = sim.store(host);
    let m = store.mem();
    m.files()
        .map(|f| (f.to_string(), m.get(f).unwrap().to_vec()))
        .collect()
}

fn assert_store(sim: &Sim, host: HostId, model: &Model, after: &Transition) {
    let store = store_files(sim, host);
    if store != model.files {
        panic!(
            "after {after:?}: store {:?} != model {:?}",
            store.iter().map(|(k, v)| (k, v.len())).collect::<Vec<_>>(),
            model
                .files
                .iter()
                .map(|(k, v)| (k, v.len()))
                .collect::<Vec<_>>(),
        );
    }
}

/// FTP sessions open on the server now.
fn sessions(sim: &Sim, server: HostId) -> usize {
    sim.app::<SimServer>(server)
        .and_then(SimServer::server)
        .and_then(|s| s.ftp())
        .map_or(0, |f| f.sessions())
}

struct FtpServerTest;

impl StateMachineTest for FtpServerTest {
    type SystemUnderTest = System;
    type Reference = FtpModel;

    fn init_test(model: &Model) -> System {
        let mut sim = Sim::new(model.seed);
        sim.set_weather(LinkFaults {
            min_segment: 1,
            max_segment: model.weather.max_segment,
            latency: Duration::from_micros(model.weather.latency),
            jitter: Duration::from_micros(model.weather.jitter),
            ..LinkFaults::PERFECT
        });
        let server = sim.add_host("server", SERVER, || {
            Box::new(SimServer::ftp(
                ServerConfig {
                    data_timeout: Duration::from_secs(10),
                    ..ServerConfig::default()
                },
                vec![User {
                    name: "u".to_string(),
                    password: "p".to_string(),
                    writable: true,
                }],
            ))
        });
        Storage::create_dir(sim.store_mut(server).mem_mut(), "dir").unwrap();
        for (path, data) in &model.files {
            sim.store_mut(server).insert(path, data.clone());
        }
        sim.store_mut(server).set_faults(StoreFaults {
            capacity: Some(CAPACITY),
            ..StoreFaults::default()
        });
        let client = sim.add_host("client", Ipv4Addr::new(10, 0, 0, 2), || {
            Box::new(FtpClient::new(SocketAddrV4::new(SERVER, 21), []).interactive())
        });
        for i in 0..SOURCES.len() {
            sim.store_mut(client)
                .insert(&format!("src{i}"), source(model.seed, i));
        }
        sim.store_mut(client)
            .insert("big", content(model.seed, BIG));
        sim.set_time_limit(Instant::from_secs(24 * 3600));
        // Until the client's control connection is accepted.
        sim.run_until(|sim| sessions(sim, server) > 0);
        System {
            sim,
            server,
            client,
            done: 0,
        }
    }

    fn apply(mut sys: System, model: &Model, t: Transition) -> System {
        let name = |i: usize| NAMES[i].to_string();
        let op = match t {
            Transition::Login => Op::Login {
                user: "u".to_string(),
                password: "p".to_string(),
            },
            Transition::Anonymous(i) => Op::Size(name(i)),
            Transition::Retr(i, offset) => Op::Get {
                remote: name(i),
                local: String::new(),
                offset,
            },
            Transition::Stor(i, s) => Op::Put {
                local: format!("src{s}"),
                remote: name(i),
                mode: StoreMode::Replace,
            },
            Transition::StorFull(i) => Op::Put {
                local: "big".to_string(),
                remote: name(i),
                mode: StoreMode::Replace,
            },
            Transition::Dele(i) => Op::Delete(name(i)),
            Transition::Rename(a, b) => Op::Rename {
                from: name(a),
                to: name(b),
            },
            Transition::Mkd(d) => Op::MakeDir(DIRS[d].to_string()),
            Transition::GetAbort(i, after) => Op::GetAbort {
                remote: name(i),
                after,
            },
            Transition::PutAbort(i, s) => Op::PutAbort {
                local: format!("src{s}"),
                remote: name(i),
                after: 1_000,
            },
        };
        let (client, done) = (sys.client, sys.done);
        sys.sim
            .command::<FtpClient>(client, |c, cx| c.push_ops(cx, [op]));
        sys.sim.run_until(|sim| {
            let c = sim.app::<FtpClient>(client).unwrap();
            c.results.len() > done || c.finished
        });
        let c = sys.sim.app::<FtpClient>(client).unwrap();
        assert!(!c.finished, "the session ended at {t:?}");
        assert_eq!(c.results.len(), done + 1, "{t:?}");
        let r = &c.results[done];
        match &model.reply {
            Reply::Ok(code, data) => {
                assert_eq!(r.result, Ok(*code), "{t:?}");
                if let Some(data) = data {
                    assert!(&r.data == data, "{t:?}: the downloaded bytes differ");
                }
            }
            Reply::Refused(code) => assert_eq!(r.result, Err(Failed::Refused(*code)), "{t:?}"),
            Reply::Aborted => assert!(
                matches!(r.result, Ok(226) | Err(Failed::Aborted)),
                "{t:?}: {:?}",
                r.result
            ),
        }
        sys.done += 1;
        let server = sys.sim.app::<SimServer>(sys.server).unwrap();
        if let Some((path, upload, outcome)) = &model.transfer {
            let last = server.ftp_transfers().last().expect("no transfer recorded");
            let stor = last.direction == "STOR";
            assert_eq!(
                (last.path.as_str(), stor),
                (path.as_str(), *upload),
                "{t:?}"
            );
            if let Some((outcome, bytes)) = outcome {
                assert_eq!(&last.outcome, outcome, "{t:?}");
                if let Some(bytes) = bytes {
                    assert_eq!(last.bytes, *bytes, "{t:?}");
                }
            }
        }
        assert_store(&sys.sim, sys.server, model, &t);
        sys
    }

    fn check_invariants(sys: &System, model: &Model) {
        let server = sys.sim.app::<SimServer>(sys.server).unwrap();
        assert_eq!(server.ftp_sessions(), 1);
        assert_eq!(
            sessions(&sys.sim, sys.server),
            1,
            "one control session, still open"
        );
        assert_eq!(
            server.ftp_transfers().count(),
            model.transfers,
            "data transfers"
        );
    }

    fn teardown(mut sys: System, model: Model) {
        let client = sys.client;
        sys.sim
            .command::<FtpClient>(client, |c, cx| c.push_ops(cx, [Op::Quit]));
        sys.sim.run();
        let c = sys.sim.app::<FtpClient>(client).unwrap();
        assert_eq!(c.results.last().map(|r| r.result), Some(Ok(221)));
        assert_eq!(sessions(&sys.sim, sys.server), 0);
        assert_store(&sys.sim, sys.server, &model, &Transition::Login);
    }
}

prop_state_machine! {
    #![proptest_config(ProptestConfig::with_cases(netboot_sim::seed::cases(128)))]

    #[test]
    fn the_server_follows_the_model(sequential 1..20 => FtpServerTest);
}
