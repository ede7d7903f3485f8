//! TFTP in the deterministic simulator: seeded scenarios under loss,
//! duplication, reordering, partitions, crashes and disk failures.
//!
//! Replay a failing seed with the command the failure prints
//! (`SIM_SEED=<seed> cargo test -p netboot-tests --test sim_tftp -- <name>
//! --exact`); run more seeds with `SIM_SEEDS=<count>`.

use std::net::{Ipv4Addr, SocketAddrV4};

use netboot_core::rng::Rng;
use netboot_core::storage::StoreError;
use netboot_core::tftp::options::{Limits, Request};
use netboot_core::tftp::rto::RtoConfig;
use netboot_core::tftp::{Role, ServerConfig, TransferConfig, TransferError};
use netboot_core::time::{Duration, Instant};
use netboot_core::wire::tftp::ErrorCode;
use netboot_sim::apps::server::SimServer;
use netboot_sim::apps::tftp::{Job, TftpClient};
use netboot_sim::seed::check_seeds;
use netboot_sim::{Fault, LinkFaults, Sim, StoreFaults};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn client_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, (1 + i / 250) as u8, (2 + i % 250) as u8)
}

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u32() as u8).collect()
}

fn transfer_config() -> TransferConfig {
    TransferConfig {
        rto: RtoConfig {
            initial: Duration::from_millis(200),
            min: Duration::from_millis(5),
            max: Duration::from_secs(2),
        },
        max_retries: 10,
        give_up_after: Duration::from_secs(5),
        dally: Duration::ZERO,
    }
}

fn server_config() -> ServerConfig {
    ServerConfig {
        limits: Limits {
            max_windowsize: 64,
            ..Limits::default()
        },
        writable: true,
        overwrite: true,
        transfer: transfer_config(),
    }
}

/// One server, `clients` clients each downloading `boot.bin` and
/// uploading `up-<i>.bin`, under `weather`. Returns the world after the
/// run.
fn scenario(seed: u64, clients: usize, weather: LinkFaults, extra: impl FnOnce(&mut Sim)) -> Sim {
    let mut sim = world(seed, clients, weather);
    extra(&mut sim);
    sim.run();
    sim
}

/// The world of [`scenario`], before it runs.
fn world(seed: u64, clients: usize, weather: LinkFaults) -> Sim {
    let mut sim = Sim::new(seed);
    sim.set_weather(weather);
    let file = content(seed, 40_000);
    let server = sim.add_host("server", SERVER, || {
        Box::new(SimServer::tftp(server_config()))
    });
    sim.store_mut(server).insert("boot.bin", file);
    for i in 0..clients {
        let request = Request {
            blksize: Some([512, 1024, 1428][i % 3]),
            windowsize: Some([1, 4, 16][i % 3]),
            ..Request::default()
        };
        let c = sim.add_host(&format!("client{i}"), client_ip(i), move || {
            Box::new(TftpClient::new(
                SocketAddrV4::new(SERVER, 69),
                transfer_config(),
                [
                    Job::get("boot.bin", "boot.bin", request),
                    Job::put("mine.bin", &format!("up-{i}.bin"), request),
                ],
            ))
        });
        sim.store_mut(c)
            .insert("mine.bin", content(seed ^ i as u64, 3_000 + 777 * i));
    }
    sim.set_time_limit(Instant::from_secs(600));
    sim
}

/// Every client either got byte-identical files or a clean failure, and no
/// failed transfer left part of a file on either side.
fn check_outcomes(sim: &Sim, clients: usize) -> usize {
    let served = sim.store(0).get("boot.bin").unwrap().to_vec();
    let mut ok = 0;
    for i in 0..clients {
        let h = i + 1;
        let c = sim.app::<TftpClient>(h).expect("client still running");
        assert!(c.is_done(), "client {i} never finished");
        assert_eq!(c.results.len(), 2, "one result per job");
        let client_disk = sim.store(h);
        let sent = client_disk
            .get("mine.bin")
            .expect("the client keeps its file");
        for r in &c.results {
            match (&r.job, &r.result) {
                (Job::Get { .. }, Ok(n)) => {
                    assert_eq!(*n, served.len() as u64);
                    assert!(
                        sim.store(h).get("boot.bin") == Some(&served[..]),
                        "client {i}: download differs"
                    );
                    ok += 1;
                }
                (Job::Put { remote, .. }, Ok(n)) => {
                    assert_eq!(*n, sent.len() as u64);
                    assert!(
                        sim.store(0).get(remote) == Some(sent),
                        "client {i}: upload differs"
                    );
                    ok += 1;
                }
                (Job::Get { .. }, Err(e)) => {
                    assert!(
                        matches!(
                            e,
                            TransferError::TimedOut { .. } | TransferError::Peer { .. }
                        ),
                        "{e:?}"
                    );
                    // A failed download leaves no partial file.
                    assert!(
                        sim.store(h).get("boot.bin").is_none(),
                        "client {i}: partial download left behind"
                    );
                }
                (Job::Put { remote, .. }, Err(e)) => {
                    assert!(
                        matches!(
                            e,
                            TransferError::TimedOut { .. } | TransferError::Peer { .. }
                        ),
                        "{e:?}"
                    );
                    // A failed upload left nothing on the server, or all of
                    // it (the server committed it and only its final ACK
                    // was lost): never a part.
                    let server_disk = sim.store(0);
                    let stored = server_disk.get(remote);
                    assert!(
                        stored.is_none_or(|s| s == sent),
                        "client {i}: failed upload left {} of {} bytes in {remote}",
                        stored.map_or(0, <[u8]>::len),
                        sent.len()
                    );
                }
            }
        }
    }
    ok
}

#[test]
fn same_seed_same_trace() {
    let weather = LinkFaults::lossy(10.0, 3.0, 5.0);
    let run = |seed| {
        let sim = scenario(seed, 4, weather, |sim| {
            sim.schedule(Instant::from_millis(30), Fault::Partition(vec![1]));
            sim.schedule(Instant::from_millis(900), Fault::Heal);
            sim.schedule(
                Instant::from_millis(50),
                Fault::ClockJump(2, Duration::from_millis(300)),
            );
        });
        (sim.trace_hash(), sim.trace().records(), sim.stats())
    };
    let a = run(7);
    let b = run(7);
    assert_eq!(a, b, "the same seed must give the identical run");
    assert!(a.1 > 100, "the run did something: {} records", a.1);
    let c = run(8);
    assert_ne!(a.0, c.0, "another seed gives another run");
}

#[test]
fn downloads_and_uploads_under_loss_duplication_reordering() {
    check_seeds(8, |seed| {
        let sim = scenario(seed, 6, LinkFaults::lossy(10.0, 5.0, 10.0), |_| {});
        let ok = check_outcomes(&sim, 6);
        assert_eq!(ok, 12, "at 10% loss every transfer completes");
        let stats = sim.stats();
        assert!(stats.retransmitted > 0 && stats.dropped > 0, "{stats:?}");
    });
}

#[test]
fn bursty_loss_and_partitions_end_cleanly() {
    check_seeds(6, |seed| {
        let weather = LinkFaults {
            loss: netboot_sim::Loss::Bursty {
                good: 10_000,
                bad: 700_000,
                enter: 20_000,
                leave: 200_000,
            },
            ..LinkFaults::lossy(0.0, 2.0, 5.0)
        };
        let sim = scenario(seed, 4, weather, |sim| {
            // Client 0 is cut off for longer than any retry budget.
            sim.schedule(Instant::from_millis(20), Fault::Partition(vec![1]));
            sim.schedule(Instant::from_secs(120), Fault::Heal);
            // Client 1's link flaps briefly: it must recover.
            sim.schedule(Instant::from_millis(40), Fault::LinkDown(2));
            sim.schedule(Instant::from_millis(700), Fault::LinkUp(2));
        });
        check_outcomes(&sim, 4);
        let c0 = sim.app::<TftpClient>(1).unwrap();
        assert!(
            c0.results.iter().all(|r| r.result.is_err()),
            "client 0 was cut off"
        );
        let c1 = sim.app::<TftpClient>(2).unwrap();
        assert!(
            c1.results.iter().all(|r| r.result.is_ok()),
            "client 1 recovers: {:?}",
            c1.results
        );
    });
}

#[test]
fn server_crash_mid_transfer_leaves_no_partial_upload() {
    check_seeds(6, |seed| {
        let mut sim = world(seed, 3, LinkFaults::lossy(2.0, 0.0, 0.0));
        // A crash while the clients download...
        sim.schedule(Instant::from_millis(15), Fault::Crash(0));
        sim.schedule(Instant::from_millis(200), Fault::Restart(0));
        // ...and one while the restarted server holds part of an upload
        // written aside.
        let receiving = |sim: &Sim| -> Option<String> {
            sim.app::<SimServer>(0)?
                .server()?
                .tftp()?
                .transfers()
                .find(|t| t.role() == Role::ServerWrite && !t.is_closed() && t.bytes() > 0)
                .map(|t| t.path().to_string())
        };
        sim.run_until(|sim| sim.boots(0) == 2 && receiving(sim).is_some());
        let cut = receiving(&sim).expect("an upload reached the restarted server");
        let at = sim.now();
        sim.schedule(at, Fault::Crash(0));
        sim.schedule(at + Duration::from_millis(200), Fault::Restart(0));
        sim.run();
        assert_eq!(sim.boots(0), 3);
        check_outcomes(&sim, 3);
        // What the crashed server was receiving never became visible, and
        // its client knows the upload failed.
        assert!(
            sim.store(0).get(&cut).is_none(),
            "the interrupted upload {cut} left a file"
        );
        let i: usize = cut["up-".len()..cut.len() - ".bin".len()]
            .parse()
            .expect("an upload name");
        let c = sim.app::<TftpClient>(i + 1).unwrap();
        assert!(
            c.results.iter().any(
                |r| matches!(&r.job, Job::Put { remote, .. } if *remote == cut)
                    && r.result.is_err()
            ),
            "client {i}: interrupted upload reported {:?}",
            c.results
        );
        // Nothing else is on the server: the file it serves, unchanged, and
        // uploads (whole: `check_outcomes` checked them against the clients').
        let served = content(seed, 40_000);
        for f in sim.store(0).mem().files() {
            match f {
                "boot.bin" => assert!(sim.store(0).get(f) == Some(&served[..]), "boot.bin changed"),
                _ => assert!(
                    (0..3).any(|i| f == format!("up-{i}.bin")),
                    "unexpected file {f}"
                ),
            }
        }
    });
}

#[test]
fn disk_errors_and_a_full_disk_fail_cleanly() {
    check_seeds(6, |seed| {
        let sim = scenario(seed, 4, LinkFaults::lossy(1.0, 0.0, 0.0), |sim| {
            sim.schedule(
                Instant::ZERO,
                Fault::Store(
                    0,
                    StoreFaults {
                        read_error: 2_000,
                        write_error: 20_000,
                        capacity: Some(40_000 + 8_000),
                        ..StoreFaults::default()
                    },
                ),
            );
        });
        let server = sim.app::<SimServer>(0).unwrap();
        let completions: Vec<_> = server.completions().collect();
        // The injected failures happened, and each ended a transfer: every
        // injected I/O error failed exactly one transfer, and at least one
        // transfer failed on the server's storage (an I/O error, or an
        // upload that found the disk full: the four uploads need twice
        // the 8,000 bytes left, so only I/O errors failing them first can
        // spare the disk).
        let failed_with = |want: StoreError| {
            completions
                .iter()
                .filter(|c| c.result == Err(TransferError::Storage(want)))
                .count() as u64
        };
        let injected = sim.store(0).stats().injected;
        assert_eq!(
            failed_with(StoreError::Io),
            injected,
            "injected I/O errors vs transfers they failed: {completions:?}"
        );
        assert!(
            injected + failed_with(StoreError::Full) > 0,
            "no transfer saw a storage failure: {completions:?}"
        );
        for c in &completions {
            if let Err(e) = &c.result {
                assert!(
                    matches!(
                        e,
                        TransferError::Storage(_)
                            | TransferError::TimedOut { .. }
                            | TransferError::Peer { .. }
                    ),
                    "{e:?}"
                );
            }
        }
        for i in 0..4 {
            let c = sim.app::<TftpClient>(i + 1).unwrap();
            for r in &c.results {
                if let (Job::Put { remote, .. }, Err(_)) = (&r.job, &r.result) {
                    assert!(
                        sim.store(0).get(remote).is_none(),
                        "failed upload {remote} left a file"
                    );
                }
                if let (Job::Put { remote, .. }, Ok(_)) = (&r.job, &r.result) {
                    let client_disk = sim.store(i + 1);
                    let sent = client_disk.get("mine.bin");
                    assert!(sent.is_some() && sim.store(0).get(remote) == sent);
                }
                // A client told the disk is full was uploading when the
                // server's disk filled up.
                if let (Job::Put { remote, .. }, Err(TransferError::Peer { code })) =
                    (&r.job, &r.result)
                    && *code == ErrorCode::DiskFull
                {
                    assert!(
                        completions.iter().any(|c| c.path == remote.as_str()
                            && c.result == Err(TransferError::Storage(StoreError::Full))),
                        "client {i}: told {remote} filled the disk, server: {completions:?}"
                    );
                }
                if let (Job::Get { .. }, Ok(_)) = (&r.job, &r.result) {
                    assert!(sim.store(i + 1).get("boot.bin") == sim.store(0).get("boot.bin"));
                }
            }
        }
        assert!(sim.store(0).mem().used() <= 48_000, "the disk limit held");
    });
}
