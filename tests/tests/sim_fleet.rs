//! The fleet: many simulated clients against one simulated server under
//! 10% loss with duplication and reordering, per protocol of the
//! provisioning flow — BOOTP/DHCP for addresses, TFTP for the boot stages
//! (two stage files and the manifest), FTP for the files the manifest
//! names — all byte-exact, with simulated time, packets sent and
//! retransmitted reported.
//!
//! The provisioning flow itself (one client machine chaining the three) is
//! the provisioning issue's sans-IO machine in core; until it lands, these
//! scenarios drive each protocol's fleet on its own. `SIM_FLEET=<n>` sets
//! the number of clients (1,000 by default; see docs/testing.md for the
//! 10,000-client release run).

use std::net::{Ipv4Addr, SocketAddrV4};

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::client::ClientConfig;
use netboot_core::bootp::server::ServerConfig as BootpConfig;
use netboot_core::ftp::server::ServerConfig as FtpConfig;
use netboot_core::rng::Rng;
use netboot_core::tftp::options::{Limits, Request};
use netboot_core::tftp::rto::RtoConfig;
use netboot_core::tftp::{ServerConfig as TftpConfig, TransferConfig};
use netboot_core::time::{Duration, Instant};
use netboot_sim::apps::bootp::{BootpClient, BootpServer, Outcome};
use netboot_sim::apps::ftp::{FtpClient, FtpServer, Op, User};
use netboot_sim::apps::tftp::{Job, TftpClient, TftpServer};
use netboot_sim::{LinkFaults, Sim};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SEED: u64 = 0xf1ee7;

fn clients() -> usize {
    std::env::var("SIM_FLEET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

/// 10% loss, 2% duplication, 10% reordering by up to 5 ms, 1 ms latency.
fn weather() -> LinkFaults {
    LinkFaults::lossy(10.0, 2.0, 10.0)
}

fn address(i: usize) -> Ipv4Addr {
    // Host parts 1..=254 of successive /24s: no network or broadcast
    // address.
    Ipv4Addr::new(
        10,
        8 + (i / (254 * 256)) as u8,
        ((i / 254) % 256) as u8,
        (1 + i % 254) as u8,
    )
}

fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.next_u32() as u8).collect()
}

fn report(what: &str, sim: &Sim, n: usize, ok: usize, done: Instant) {
    let s = sim.stats();
    eprintln!(
        "fleet {what}: {ok}/{n} clients byte-exact, all done at {:.3} s of simulated time, packets sent {}, \
         retransmitted {}, dropped {}, duplicated {}, stream bytes {}, events {}",
        done.as_micros() as f64 / 1e6,
        s.sent,
        s.retransmitted,
        s.dropped,
        s.duplicated,
        s.stream_bytes,
        s.events
    );
}

#[test]
fn fleet_bootp() {
    let n = clients();
    let mut sim = Sim::new(SEED);
    sim.set_weather(weather());
    let mut config = BootpConfig::new(SERVER, Ipv4Addr::new(255, 0, 0, 0));
    config.pool = Some((
        Ipv4Addr::new(10, 8, 0, 1),
        Ipv4Addr::new(10, 8, 0, 0).saturating_add_n(n as u32 + 10),
    ));
    config.file.push_str("stage1.img").unwrap();
    sim.add_host("server", SERVER, move || {
        Box::new(BootpServer::new(config.clone(), Vec::new()).unwrap())
    });
    for i in 0..n {
        let at = Instant::from_micros((i as u64 * 7_919) % 2_000_000);
        sim.add_host_at(&format!("c{i}"), Ipv4Addr::UNSPECIFIED, at, move || {
            let mut c = ClientConfig::new(
                HwAddr::ethernet([2, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]),
                Rng::new(i as u64),
            );
            c.dhcp = true;
            c.initial_timeout = Duration::from_secs(1);
            c.max_timeout = Duration::from_secs(8);
            c.attempts = 8;
            Box::new(BootpClient::new(c))
        });
    }
    sim.set_time_limit(Instant::from_secs(600));
    sim.run();
    let mut seen = std::collections::HashSet::new();
    let mut ok = 0;
    let mut done = Instant::ZERO;
    for h in 1..=n {
        match &sim.app::<BootpClient>(h).unwrap().outcome {
            Some(Outcome::Assigned(a)) => {
                assert_eq!(a.file, "stage1.img");
                assert!(seen.insert(a.ip), "{} handed out twice", a.ip);
                done = done.max(a.at);
                ok += 1;
            }
            other => panic!("client {h}: {other:?}"),
        }
    }
    assert!(sim.conflicts().is_empty());
    report("BOOTP/DHCP", &sim, n, ok, done);
    assert_eq!(ok, n);
}

trait AddN {
    fn saturating_add_n(self, n: u32) -> Ipv4Addr;
}

impl AddN for Ipv4Addr {
    fn saturating_add_n(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self).saturating_add(n))
    }
}

#[test]
fn fleet_tftp_stages() {
    let n = clients();
    let mut sim = Sim::new(SEED + 1);
    sim.set_weather(weather());
    let transfer = TransferConfig {
        rto: RtoConfig {
            initial: Duration::from_millis(200),
            min: Duration::from_millis(5),
            max: Duration::from_secs(2),
        },
        max_retries: 10,
        give_up_after: Duration::from_secs(10),
        dally: Duration::ZERO,
    };
    let server = sim.add_host("server", SERVER, move || {
        Box::new(TftpServer::new(TftpConfig {
            limits: Limits::default(),
            writable: false,
            overwrite: false,
            transfer,
        }))
    });
    let stages = [
        ("stage1.img", 24_000),
        ("stage2.img", 9_000),
        ("manifest.txt", 300),
    ];
    for (name, len) in stages {
        sim.store_mut(server).insert(name, content(len as u64, len));
    }
    for i in 0..n {
        let request = Request {
            blksize: Some(1468),
            windowsize: Some([1, 4, 8][i % 3]),
            ..Request::default()
        };
        let at = Instant::from_micros((i as u64 * 7_919) % 2_000_000);
        sim.add_host_at(&format!("c{i}"), address(i), at, move || {
            Box::new(TftpClient::new(
                SocketAddrV4::new(SERVER, 69),
                transfer,
                stages.iter().map(|(f, _)| Job::get(f, f, request)),
            ))
        });
    }
    sim.set_time_limit(Instant::from_secs(600));
    sim.run();
    let mut ok = 0;
    let mut done = Instant::ZERO;
    for h in 1..=n {
        let c = sim.app::<TftpClient>(h).unwrap();
        done = c
            .results
            .iter()
            .map(|r| r.finished)
            .fold(done, Instant::max);
        assert!(
            c.results.iter().all(|r| r.result.is_ok()),
            "client {h}: {:?}",
            c.results
        );
        for (f, _) in stages {
            assert!(
                sim.store(h).get(f) == sim.store(server).get(f),
                "client {h}: {f} differs"
            );
        }
        ok += 1;
    }
    report("TFTP stages", &sim, n, ok, done);
    let s = sim.app::<TftpServer>(server).unwrap();
    eprintln!(
        "fleet TFTP stages: at most {} transfers at once",
        s.peak_transfers
    );
}

#[test]
fn fleet_ftp_manifest_files() {
    let n = clients();
    let mut sim = Sim::new(SEED + 2);
    sim.set_weather(LinkFaults {
        max_segment: 1460,
        ..weather()
    });
    let server = sim.add_host("server", SERVER, || {
        Box::new(FtpServer::new(
            FtpConfig {
                anonymous: true,
                login_delay: Duration::from_millis(10),
                ..FtpConfig::default()
            },
            vec![User {
                name: "node".into(),
                password: "pw".into(),
                writable: false,
            }],
        ))
    });
    let files = [
        ("files/kernel", 60_000),
        ("files/rootfs", 120_000),
        ("files/node.conf", 700),
    ];
    for (name, len) in files {
        sim.store_mut(server)
            .insert(name, content(len as u64 + 7, len));
    }
    for i in 0..n {
        let at = Instant::from_micros((i as u64 * 7_919) % 2_000_000);
        sim.add_host_at(&format!("c{i}"), address(i), at, move || {
            let mut ops = vec![Op::Login {
                user: "node".into(),
                password: "pw".into(),
            }];
            ops.extend(files.iter().map(|(f, _)| Op::Get {
                remote: f.to_string(),
                local: f.replace('/', "_"),
                offset: 0,
            }));
            ops.push(Op::Quit);
            Box::new(FtpClient::new(SocketAddrV4::new(SERVER, 21), ops))
        });
    }
    sim.set_time_limit(Instant::from_secs(3_600));
    sim.run();
    let mut ok = 0;
    let mut done = Instant::ZERO;
    for h in 1..=n {
        let c = sim.app::<FtpClient>(h).unwrap();
        done = c.results.iter().map(|r| r.at).fold(done, Instant::max);
        assert!(
            c.results.iter().all(|r| r.result.is_ok()),
            "client {h}: {:?}",
            c.results.iter().map(|r| r.result).collect::<Vec<_>>()
        );
        for (f, _) in files {
            assert!(
                sim.store(h).get(&f.replace('/', "_")) == sim.store(server).get(f),
                "client {h}: {f} differs"
            );
        }
        ok += 1;
    }
    report("FTP manifest files", &sim, n, ok, done);
}
