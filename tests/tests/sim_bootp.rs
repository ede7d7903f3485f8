//! BOOTP/DHCP in the deterministic simulator: many clients broadcasting on
//! one segment under loss, duplication and reordering, with the server
//! crashing and restarting on its lease file, and failing to save it.
//!
//! Replay a failing seed with the command the failure prints.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::client::ClientConfig;
use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::leasefile;
use netboot_core::bootp::server::ServerConfig;
use netboot_core::rng::Rng;
use netboot_core::time::{Duration, Instant};
use netboot_sim::apps::bootp::{BootpClient, Outcome};
use netboot_sim::apps::server::{SimServer, unix_now};
use netboot_sim::seed::check_seeds;
use netboot_sim::{Fault, LinkFaults, Sim, StoreFaults};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 199));

fn mac(i: usize) -> HwAddr {
    HwAddr::ethernet([0x52, 0x54, 0, 0, (i >> 8) as u8, i as u8])
}

fn server_config() -> ServerConfig {
    let mut c = ServerConfig::new(SERVER, Ipv4Addr::new(255, 255, 255, 0));
    c.net.pool = Some(POOL);
    c.file.push_str("default.img").unwrap();
    c.net.lease_time = 3600;
    // Plain BOOTP clients without a table entry get a permanent pool address.
    c.bootp_dynamic = true;
    c
}

/// Hosts 0..fixed have a table entry with a fixed address and file.
fn hosts(fixed: usize) -> Vec<Host> {
    (0..fixed)
        .map(|i| {
            let mut h = Host::new(mac(i));
            h.ip = Some(Ipv4Addr::new(10, 0, 0, 10 + i as u8));
            h.set_file(&format!("host{i}.img")).unwrap();
            h
        })
        .collect()
}

fn client_config(i: usize, dhcp: bool) -> ClientConfig {
    let mut c = ClientConfig::new(mac(i), Rng::new(i as u64));
    c.dhcp = dhcp;
    c.initial_timeout = Duration::from_millis(500);
    c.max_timeout = Duration::from_secs(4);
    c.jitter = Duration::from_millis(100);
    c.attempts = 8;
    c
}

/// `clients` clients (the first `fixed` in the host table; every third a
/// plain BOOTP client), checked after every event: no two clients ever
/// hold one address.
fn fleet(
    seed: u64,
    clients: usize,
    fixed: usize,
    weather: LinkFaults,
    faults: impl FnOnce(&mut Sim),
) -> Sim {
    let mut sim = Sim::new(seed);
    sim.set_weather(weather);
    let table = hosts(fixed);
    sim.add_host("server", SERVER, move || {
        Box::new(SimServer::bootp(server_config(), table.clone()))
    });
    for i in 0..clients {
        let dhcp = i % 3 != 2;
        let start = Instant::from_millis((i as u64 * 7) % 500);
        sim.add_host_at(&format!("c{i}"), Ipv4Addr::UNSPECIFIED, start, move || {
            Box::new(BootpClient::new(client_config(i, dhcp)))
        });
    }
    sim.invariant("one address, one client", |sim, touched| {
        let Some(h) = touched.filter(|&h| h > 0) else {
            return Ok(());
        };
        let Some(c) = sim.app::<BootpClient>(h) else {
            return Ok(());
        };
        let Some(Outcome::Assigned(a)) = &c.outcome else {
            return Ok(());
        };
        for other in 1..sim.host_count() {
            if other == h {
                continue;
            }
            if let Some(BootpClient {
                outcome: Some(Outcome::Assigned(b)),
                ..
            }) = sim.app::<BootpClient>(other)
                && b.ip == a.ip
            {
                return Err(format!(
                    "{} and {} both hold {}",
                    sim.name(h),
                    sim.name(other),
                    a.ip
                ));
            }
        }
        Ok(())
    });
    faults(&mut sim);
    sim.set_time_limit(Instant::from_secs(300));
    sim.run();
    assert!(sim.conflicts().is_empty(), "{:?}", sim.conflicts());
    sim
}

/// Each client got exactly its configured assignment or timed out.
fn check_assignments(sim: &Sim, clients: usize, fixed: usize) -> usize {
    let mut assigned = 0;
    for i in 0..clients {
        let c = sim.app::<BootpClient>(i + 1).unwrap();
        match c.outcome.as_ref().expect("every client ends") {
            Outcome::Assigned(a) => {
                assigned += 1;
                assert_eq!(a.server, Some(SERVER));
                if i < fixed {
                    assert_eq!(a.ip, Ipv4Addr::new(10, 0, 0, 10 + i as u8), "client {i}");
                    assert_eq!(a.file, format!("host{i}.img"));
                } else {
                    assert!((POOL.0..=POOL.1).contains(&a.ip), "client {i} got {}", a.ip);
                    assert_eq!(a.file, "default.img");
                }
                assert_eq!(sim.ip(i + 1), a.ip, "the host took its address");
            }
            Outcome::TimedOut => {}
            Outcome::Refused => panic!("client {i} refused"),
        }
    }
    assigned
}

#[test]
fn sixty_clients_under_loss_all_get_their_assignment() {
    check_seeds(6, |seed| {
        let sim = fleet(seed, 60, 10, LinkFaults::lossy(10.0, 5.0, 10.0), |_| {});
        assert_eq!(check_assignments(&sim, 60, 10), 60);
        let s = sim.stats();
        assert!(s.retransmitted > 0 && s.duplicated > 0, "{s:?}");
    });
}

#[test]
fn server_crash_keeps_leases_on_disk() {
    check_seeds(6, |seed| {
        let sim = fleet(seed, 40, 5, LinkFaults::lossy(5.0, 2.0, 5.0), |sim| {
            sim.schedule(Instant::from_millis(300), Fault::Crash(0));
            sim.schedule(Instant::from_millis(2_500), Fault::Restart(0));
        });
        assert_eq!(
            check_assignments(&sim, 40, 5),
            40,
            "the clients outlast the outage"
        );
        assert!(sim.store(0).get("leases").is_some());
        // What the restarted server knows agrees with what the clients hold.
        let server = sim.app::<SimServer>(0).unwrap().server().unwrap();
        let leases: HashMap<_, _> = server.leases().map(|l| (l.hw, l.ip)).collect();
        for i in 5..40 {
            let Some(Outcome::Assigned(a)) = &sim.app::<BootpClient>(i + 1).unwrap().outcome else {
                unreachable!()
            };
            if let Some(ip) = leases.get(&mac(i)) {
                assert_eq!(*ip, a.ip, "client {i}");
            }
        }
    });
}

#[test]
fn a_silent_server_means_a_clean_timeout() {
    check_seeds(3, |seed| {
        let sim = fleet(seed, 5, 0, LinkFaults::PERFECT, |sim| {
            sim.schedule(Instant::ZERO, Fault::LinkDown(0));
        });
        for i in 0..5 {
            let c = sim.app::<BootpClient>(i + 1).unwrap();
            assert_eq!(c.outcome, Some(Outcome::TimedOut));
            assert_eq!(c.sends(), 8, "exactly the configured attempts");
            assert_eq!(sim.ip(i + 1), Ipv4Addr::UNSPECIFIED);
        }
    });
}

/// While the server's disk fails every save, it acknowledges no address
/// (it would be one a crash could lose); it keeps trying, and once the disk
/// works again every client gets its address and the lease file has them
/// all.
#[test]
fn failing_saves_hold_every_acknowledgement() {
    check_seeds(4, |seed| {
        let healed = Instant::from_secs(4);
        let sim = fleet(seed, 20, 0, LinkFaults::lossy(2.0, 1.0, 2.0), |sim| {
            let failing = StoreFaults {
                commit_error: 1_000_000,
                ..StoreFaults::default()
            };
            sim.schedule(Instant::ZERO, Fault::Store(0, failing));
            sim.schedule(healed, Fault::Store(0, StoreFaults::default()));
        });
        assert_eq!(check_assignments(&sim, 20, 0), 20);
        let server = sim.app::<SimServer>(0).unwrap();
        assert!(server.save_failures() > 0, "the saves failed");
        for i in 0..20 {
            let Some(Outcome::Assigned(a)) = &sim.app::<BootpClient>(i + 1).unwrap().outcome else {
                unreachable!()
            };
            assert!(a.at >= healed, "client {i} was acknowledged at {:?}", a.at);
        }
        let text = String::from_utf8(sim.store(0).get("leases").unwrap().to_vec()).unwrap();
        let (saved, bad) = leasefile::parse(&text, sim.now(), unix_now(sim.now()));
        assert!(bad.is_empty(), "{bad:?}");
        for i in 0..20 {
            assert!(
                saved
                    .iter()
                    .any(|l| l.hw == mac(i) && l.ip == sim.ip(i + 1)),
                "client {i}'s lease is on disk"
            );
        }
    });
}
