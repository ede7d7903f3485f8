//! FTP in the deterministic simulator: sessions over byte streams cut at
//! arbitrary boundaries, with latency, jitter, connection resets and disk
//! trouble.
//!
//! Replay a failing seed with the command the failure prints.

use std::net::{Ipv4Addr, SocketAddrV4};

use netboot_core::ftp::client::StoreMode;
use netboot_core::ftp::server::{Outcome, ServerConfig};
use netboot_core::rng::Rng;
use netboot_core::time::{Duration, Instant};
use netboot_sim::apps::ftp::{Failed, FtpClient, Op};
use netboot_sim::apps::server::{SimServer, User};
use netboot_sim::seed::check_seeds;
use netboot_sim::{Fault, LinkFaults, Sim, StoreFaults};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u32() as u8).collect()
}

fn server() -> SimServer {
    SimServer::ftp(
        ServerConfig {
            login_delay: Duration::from_millis(50),
            data_timeout: Duration::from_secs(20),
            ..ServerConfig::default()
        },
        vec![User {
            name: "boot".into(),
            password: "secret".into(),
            writable: true,
        }],
    )
}

fn login() -> Op {
    Op::Login {
        user: "boot".into(),
        password: "secret".into(),
    }
}

fn s(x: &str) -> String {
    x.to_string()
}

/// A session that uses every kind of operation.
fn session_ops() -> Vec<Op> {
    vec![
        login(),
        Op::Put {
            local: s("a.bin"),
            remote: s("up/a.bin"),
            mode: StoreMode::Replace,
        },
        Op::MakeDir(s("up")),
        Op::Put {
            local: s("a.bin"),
            remote: s("up/a.bin"),
            mode: StoreMode::Replace,
        },
        Op::Get {
            remote: s("big.bin"),
            local: s("big.bin"),
            offset: 0,
        },
        Op::Get {
            remote: s("big.bin"),
            local: s("big.bin"),
            offset: 100_000,
        },
        Op::Rename {
            from: s("up/a.bin"),
            to: s("up/b.bin"),
        },
        Op::Size(s("up/b.bin")),
        Op::List(s("up")),
        Op::GetAbort {
            remote: s("big.bin"),
            after: 50_000,
        },
        Op::PutAbort {
            local: s("a.bin"),
            remote: s("aborted.bin"),
            after: 10_000,
        },
        // The uploaded (and renamed) file, read back before it goes.
        Op::Get {
            remote: s("up/b.bin"),
            local: String::new(),
            offset: 0,
        },
        Op::Delete(s("up/b.bin")),
        Op::Quit,
    ]
}

/// The outcome of each of [`session_ops`] when nothing goes wrong.
const FAULT_FREE: [Result<u16, Failed>; 14] = [
    Ok(230),
    Err(Failed::Refused(550)),
    Ok(257),
    Ok(226),
    Ok(226),
    Ok(226),
    Ok(250),
    Ok(213),
    Ok(226),
    Err(Failed::Aborted),
    Err(Failed::Aborted),
    Ok(226),
    Ok(250),
    Ok(221),
];

fn world(seed: u64, weather: LinkFaults) -> Sim {
    let mut sim = Sim::new(seed);
    sim.set_weather(weather);
    let srv = sim.add_host("server", SERVER, || Box::new(server()));
    sim.store_mut(srv).insert("big.bin", content(seed, 300_000));
    let c = sim.add_host("client", Ipv4Addr::new(10, 0, 0, 2), || {
        Box::new(
            FtpClient::new(SocketAddrV4::new(SERVER, 21), session_ops())
                .reply_timeout(Duration::from_secs(60)),
        )
    });
    sim.store_mut(c).insert("a.bin", content(seed + 1, 40_000));
    sim.set_time_limit(Instant::from_secs(600));
    sim
}

#[test]
fn a_full_session_over_streams_cut_anywhere() {
    check_seeds(8, |seed| {
        let weather = LinkFaults {
            min_segment: 1,
            max_segment: 9,
            latency: Duration::from_millis(3),
            jitter: Duration::from_millis(2),
            ..LinkFaults::lossy(5.0, 0.0, 0.0)
        };
        let mut sim = world(seed, weather);
        sim.run();
        let c = sim.app::<FtpClient>(1).unwrap();
        assert!(c.finished);
        let codes: Vec<_> = c.results.iter().map(|r| r.result).collect();
        assert_eq!(codes, FAULT_FREE);
        let big = sim.store(0).get("big.bin").unwrap().to_vec();
        assert!(sim.store(1).get("big.bin") == Some(&big[..]));
        assert_eq!(c.results[5].data, big[100_000..]);
        assert_eq!(c.results[7].op, Op::Size(s("up/b.bin")));
        assert_eq!(c.results[8].data, b"b.bin\r\n");
        // The upload arrived intact: the renamed file reads back as the
        // client's source, byte for byte.
        let client_disk = sim.store(1);
        let source = client_disk.get("a.bin").unwrap();
        assert_eq!(
            c.results[11].op,
            Op::Get {
                remote: s("up/b.bin"),
                local: String::new(),
                offset: 0,
            }
        );
        assert!(
            c.results[11].data == source,
            "up/b.bin read back as {} bytes, not the {} uploaded",
            c.results[11].data.len(),
            source.len()
        );
        // The server counted the whole upload (the client's `SIZE` result
        // carries only the reply code; this is the size the server saw).
        let uploads: Vec<_> = sim
            .app::<SimServer>(0)
            .unwrap()
            .ftp_transfers()
            .filter(|t| t.direction == "STOR" && t.path == "up/a.bin")
            .map(|t| (t.outcome, t.bytes))
            .collect();
        assert_eq!(uploads, [(Outcome::Complete, source.len() as u64)]);
        assert!(
            sim.store(0).get("aborted.bin").is_none(),
            "an aborted upload leaves no file"
        );
        assert!(sim.store(0).get("up/b.bin").is_none(), "deleted");
        assert_eq!(
            sim.app::<SimServer>(0)
                .unwrap()
                .server()
                .unwrap()
                .ftp()
                .unwrap()
                .sessions(),
            0,
            "the session is gone"
        );
    });
}

#[test]
fn data_connection_resets_and_disk_errors_fail_cleanly() {
    // Seeds in which at least one operation failed because of the faults.
    let mut felt = Vec::new();
    let mut seeds = 0;
    check_seeds(8, |seed| {
        seeds += 1;
        let weather = LinkFaults {
            stream_reset: 300,
            ..LinkFaults::lossy(2.0, 0.0, 0.0)
        };
        let mut sim = world(seed, weather);
        sim.schedule(
            Instant::ZERO,
            Fault::Store(
                0,
                StoreFaults {
                    write_error: 5_000,
                    read_error: 2_000,
                    ..StoreFaults::default()
                },
            ),
        );
        sim.run();
        let c = sim.app::<FtpClient>(1).unwrap();
        assert!(c.finished);
        let results: Vec<_> = c.results.iter().map(|r| r.result).collect();
        assert_eq!(results.len(), FAULT_FREE.len(), "{results:?}");
        // Where the outcome differs from the fault-free run, the faults
        // made an operation fail; they never make one succeed.
        let mut failed = false;
        for (r, clean) in c.results.iter().zip(FAULT_FREE) {
            if r.result != clean {
                assert!(
                    r.result.is_err(),
                    "{:?}: {:?}, but {clean:?} without faults",
                    r.op,
                    r.result
                );
                failed = true;
            }
        }
        if failed {
            felt.push(seed);
        }
        for r in &c.results {
            if let (Op::Put { remote, .. }, Err(_)) = (&r.op, &r.result)
                && remote == "up/a.bin"
            {
                // Either the first (refused) upload, or one that failed
                // part way: nothing half-written is visible.
                let server_disk = sim.store(0);
                let stored = server_disk.get(remote);
                assert!(stored.is_none() || stored == sim.store(1).get("a.bin"));
            }
            if let (
                Op::Get {
                    remote,
                    local,
                    offset: 0,
                },
                Ok(_),
            ) = (&r.op, &r.result)
            {
                if remote == "big.bin" {
                    assert!(sim.store(1).get(local) == sim.store(0).get("big.bin"));
                } else {
                    // The uploaded file, read back: exactly the source.
                    assert_eq!(remote, "up/b.bin");
                    assert!(Some(&r.data[..]) == sim.store(1).get("a.bin"));
                }
            }
        }
        assert!(sim.store(0).get("aborted.bin").is_none());
    });
    // Not vacuous: the injected resets and disk errors did make operations
    // fail (with the default seeds, most runs have such a failure).
    assert!(
        !felt.is_empty(),
        "none of the {seeds} seeds run had an operation fail from the injected \
         faults: they were not injected, or had no effect"
    );
}
