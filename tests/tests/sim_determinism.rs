//! The simulator's runs are pinned: fixed scenarios with fixed seeds must
//! give exactly the trace hash, record count and counters written here.
//!
//! `sim_tftp` and `sim_provision` check that one build replays a seed
//! identically; this test also checks that a *change* to the simulator or
//! the core did not alter any run. The trace hash folds in every datagram
//! sent, delivered or dropped, every stream segment, timer and fault, in
//! order, so it moves when the order of any random draw or any queued event
//! moves. A refactoring (splitting a module, renaming, moving code) must
//! leave these values untouched.
//!
//! The pinned values may be updated only by a deliberate change of
//! behaviour (of the simulator, an app or a core machine), in the commit
//! that makes it and says so. When a pin fails, the message shows the new
//! value; before copying it in, make sure the change was meant to alter the
//! runs. The scenarios cover between them: BOOTP/DHCP broadcast fan-out,
//! TFTP and FTP, loss (random and bursty), duplication, reordering, packet
//! rules, per-link weather, partitions, links down and up, stream stalls
//! and give-ups, injected stream resets, clock jumps, crashes and restarts,
//! and disk faults.

use std::net::{Ipv4Addr, SocketAddrV4};

use netboot_core::ftp::client::StoreMode;
use netboot_core::ftp::server::ServerConfig as FtpConfig;
use netboot_core::tftp::ServerConfig as TftpConfig;
use netboot_core::tftp::options::{Limits, Request};
use netboot_core::time::{Duration, Instant};
use netboot_sim::apps::ftp::{FtpClient, Op};
use netboot_sim::apps::server::{SimServer, User};
use netboot_sim::apps::tftp::{Job, TftpClient};
use netboot_sim::world::Stats;
use netboot_sim::{Fault, LinkFaults, Loss, Sim, StoreFaults, Verdict};
use netboot_tests::fleet::{Crash, Fleet, content, transfer};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

/// What is pinned of one run: the trace hash, the number of trace records
/// (`None` where the scenario does not expose it) and every counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    hash: u64,
    records: Option<u64>,
    stats: Stats,
}

fn of(sim: &Sim) -> Run {
    Run {
        hash: sim.trace_hash(),
        records: Some(sim.trace().records()),
        stats: sim.stats(),
    }
}

/// Runs `scenario` twice, checks the two runs are identical and returns
/// the first.
fn twice(scenario: impl Fn() -> Run) -> Run {
    let a = scenario();
    let b = scenario();
    assert_eq!(a, b, "the same seed must give the identical run");
    a
}

/// Checks a run against its pinned value, printing the value found.
fn pinned(name: &str, found: Run, pin: Run) {
    eprintln!("{name}: hash {:#018x}, {found:?}", found.hash);
    assert_eq!(
        found, pin,
        "{name}: the run changed (see the module docs before updating the pin)"
    );
}

/// Ten provisioning clients (BOOTP/DHCP, TFTP stages, FTP files) against
/// one server that crashes and restarts, under loss, duplication and
/// reordering.
#[test]
fn fleet_run_is_pinned() {
    let run = twice(|| {
        let mut f = Fleet::new(10, 0x5eed_0000_0000_0007);
        f.weather = LinkFaults::lossy(10.0, 2.0, 10.0);
        f.crashes = vec![Crash {
            at: Instant::from_millis(500),
            down: Duration::from_secs(1),
        }];
        let r = f.run();
        assert_eq!(r.byte_exact, 10, "{r}");
        // The fleet report has no record count.
        Run {
            hash: r.trace_hash,
            records: None,
            stats: r.stats,
        }
    });
    pinned(
        "fleet",
        run,
        Run {
            hash: 0xad32_4c7c_08fe_6f3d,
            records: None,
            stats: Stats {
                sent: 1289,
                retransmitted: 624,
                delivered: 1235,
                dropped: 164,
                duplicated: 19,
                unreachable: 1,
                connections: 40,
                stream_bytes: 1_814_607,
                resets: 0,
                events: 8211,
            },
        },
    );
    assert!(run.stats.connections > 0 && run.stats.delivered > 1_000);
}

/// An FTP session over streams cut into 1 to 900 byte segments: the
/// client's link goes down and up (segments stall and are sent again), its
/// clock jumps, the server's disk fails now and then, streams may be reset
/// at random, and a partition longer than the give-up time resets the
/// stalled data connection (the server times the download out, and the
/// session carries on once the partition heals).
#[test]
fn ftp_streams_run_is_pinned() {
    let run = twice(|| {
        let seed = 0x5eed_0000_0000_0011;
        let mut sim = Sim::new(seed);
        sim.set_weather(LinkFaults {
            min_segment: 1,
            max_segment: 900,
            latency: Duration::from_millis(3),
            jitter: Duration::from_millis(2),
            stream_reset: 10,
            ..LinkFaults::lossy(5.0, 0.0, 0.0)
        });
        let srv = sim.add_host("server", SERVER, || {
            Box::new(SimServer::ftp(
                FtpConfig {
                    login_delay: Duration::from_millis(50),
                    data_timeout: Duration::from_secs(20),
                    ..FtpConfig::default()
                },
                vec![User {
                    name: "boot".into(),
                    password: "secret".into(),
                    writable: true,
                }],
            ))
        });
        sim.store_mut(srv).insert("big.bin", content(seed, 200_000));
        let ops = || {
            let get = |offset| Op::Get {
                remote: "big.bin".into(),
                local: "big.bin".into(),
                offset,
            };
            vec![
                Op::Login {
                    user: "boot".into(),
                    password: "secret".into(),
                },
                get(0),
                Op::MakeDir("up".into()),
                Op::Put {
                    local: "a.bin".into(),
                    remote: "up/a.bin".into(),
                    mode: StoreMode::Replace,
                },
                get(50_000),
                Op::List("up".into()),
                get(0),
                Op::Quit,
            ]
        };
        let c = sim.add_host("client", Ipv4Addr::new(10, 0, 0, 2), move || {
            Box::new(
                FtpClient::new(SocketAddrV4::new(SERVER, 21), ops())
                    .reply_timeout(Duration::from_secs(60)),
            )
        });
        sim.store_mut(c).insert("a.bin", content(seed + 1, 30_000));
        sim.schedule(Instant::from_millis(150), Fault::LinkDown(c));
        sim.schedule(Instant::from_millis(900), Fault::LinkUp(c));
        sim.schedule(
            Instant::from_secs(1),
            Fault::ClockJump(c, Duration::from_millis(700)),
        );
        sim.schedule(
            Instant::from_millis(1_200),
            Fault::Store(
                srv,
                StoreFaults {
                    write_error: 3_000,
                    read_error: 1_000,
                    ..StoreFaults::default()
                },
            ),
        );
        sim.schedule(Instant::from_millis(1_500), Fault::Partition(vec![c]));
        sim.schedule(Instant::from_secs(37), Fault::Heal);
        sim.set_time_limit(Instant::from_secs(600));
        sim.run();
        of(&sim)
    });
    pinned(
        "ftp streams",
        run,
        Run {
            hash: 0xcc40_fffa_a782_af2f,
            records: Some(1108),
            stats: Stats {
                connections: 6,
                stream_bytes: 446_615,
                resets: 4,
                events: 2131,
                ..Stats::default()
            },
        },
    );
    assert!(run.stats.connections > 1 && run.stats.resets > 0);
    assert!(run.stats.stream_bytes > 50_000);
}

/// Three TFTP clients under bursty loss, duplication and reordering, one
/// lossier link of its own, a packet rule that drops and delays, a
/// partition, a link flap, a clock jump and a server crash.
#[test]
fn tftp_datagrams_run_is_pinned() {
    let run = twice(|| {
        let seed = 0x5eed_0000_0000_0023;
        let mut sim = Sim::new(seed);
        sim.set_weather(LinkFaults {
            loss: Loss::Bursty {
                good: 10_000,
                bad: 600_000,
                enter: 20_000,
                leave: 200_000,
            },
            ..LinkFaults::lossy(0.0, 3.0, 8.0)
        });
        let transfer = transfer();
        let server = sim.add_host("server", SERVER, move || {
            Box::new(SimServer::tftp(TftpConfig {
                limits: Limits {
                    max_windowsize: 16,
                    ..Limits::default()
                },
                writable: true,
                overwrite: true,
                transfer,
            }))
        });
        sim.store_mut(server)
            .insert("boot.bin", content(seed, 30_000));
        for i in 0..3usize {
            let request = Request {
                blksize: Some([512, 1024, 1428][i]),
                windowsize: Some([1, 4, 16][i]),
                ..Request::default()
            };
            let ip = Ipv4Addr::new(10, 0, 0, 2 + i as u8);
            let c = sim.add_host(&format!("client{i}"), ip, move || {
                Box::new(TftpClient::new(
                    SocketAddrV4::new(SERVER, 69),
                    transfer,
                    [
                        Job::get("boot.bin", "boot.bin", request),
                        Job::put("mine.bin", &format!("up-{i}.bin"), request),
                    ],
                ))
            });
            sim.store_mut(c)
                .insert("mine.bin", content(seed ^ i as u64, 2_000 + 900 * i));
        }
        sim.set_link(3, 0, LinkFaults::lossy(20.0, 0.0, 0.0));
        sim.add_rule(|p, rng| {
            if p.index % 37 == 5 {
                Verdict::Drop
            } else if p.index % 41 == 7 {
                Verdict::Delay(Duration::from_millis(rng.range_inclusive(1, 90)))
            } else {
                Verdict::Pass
            }
        });
        sim.schedule(Instant::from_millis(30), Fault::Partition(vec![1]));
        sim.schedule(Instant::from_millis(900), Fault::Heal);
        sim.schedule(Instant::from_millis(40), Fault::LinkDown(2));
        sim.schedule(Instant::from_millis(600), Fault::LinkUp(2));
        sim.schedule(
            Instant::from_millis(50),
            Fault::ClockJump(3, Duration::from_millis(300)),
        );
        sim.schedule(Instant::from_millis(1_200), Fault::Crash(0));
        sim.schedule(Instant::from_millis(1_500), Fault::Restart(0));
        sim.set_time_limit(Instant::from_secs(600));
        sim.run();
        of(&sim)
    });
    pinned(
        "tftp datagrams",
        run,
        Run {
            hash: 0x5abc_65bd_0660_728f,
            records: Some(627),
            stats: Stats {
                sent: 288,
                retransmitted: 167,
                delivered: 235,
                dropped: 33,
                duplicated: 3,
                unreachable: 23,
                connections: 0,
                stream_bytes: 0,
                resets: 0,
                events: 415,
            },
        },
    );
    assert!(run.stats.dropped > 0 && run.stats.duplicated > 0);
    assert!(run.stats.retransmitted > 0 && run.stats.delivered > 100);
}
