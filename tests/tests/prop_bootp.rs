//! Property tests of BOOTP/DHCP under arbitrary fault schedules, in the
//! deterministic simulator.
//!
//! For any fleet of up to 30 clients (DHCP and plain BOOTP, some with a
//! fixed host entry), any pool from 3 to 40 addresses, and any faults
//! within these bounds — up to 30% loss, up to 20% duplication, up to 30%
//! reordering, up to 5 ms latency and jitter, a server crash and restart,
//! a partition of up to 10 s —
//!
//! * each client gets exactly its configured assignment (its fixed address
//!   and file, or a pool address and the default file, from this server)
//!   or times out cleanly after exactly its configured attempts;
//! * no two clients ever hold the same address (checked after every
//!   event);
//! * a DHCPRELEASE returns the address to the pool (the next client gets
//!   it) and a DHCPDECLINE keeps it out of the pool (nobody gets it).
//!
//! `SIM_CASES=<n>` runs more cases than CI's default.

use std::net::{Ipv4Addr, SocketAddrV4};

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::client::ClientConfig;
use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::server::ServerConfig;
use netboot_core::rng::Rng;
use netboot_core::time::{Duration, Instant};
use netboot_core::wire::bootp::options::{OptionsWriter, REQUESTED_IP, SERVER_ID};
use netboot_core::wire::bootp::{MessageType, Op, Repr, Vend};
use netboot_sim::apps::bootp::{BootpClient, Outcome};
use netboot_sim::apps::server::SimServer;
use netboot_sim::apps::udp::{Scripted, Send};
use netboot_sim::faults::percent;
use netboot_sim::{Fault, HostId, LinkFaults, Loss, Sim};
use proptest::prelude::*;

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const ATTEMPTS: u32 = 6;
/// The attempts of the clients of [`release_and_decline`]: what it tests is
/// the server's pool, not the clients' patience, and at 20% loss six
/// DISCOVERs all go unanswered (request or offer lost) about once in 500
/// exchanges. With twenty, never in practice (0.36^20, about 1e-9).
const PATIENT: u32 = 20;

fn mac(i: usize) -> HwAddr {
    HwAddr::ethernet([0x52, 0x54, 0, 1, (i >> 8) as u8, i as u8])
}

fn pool(size: u8) -> (Ipv4Addr, Ipv4Addr) {
    (
        Ipv4Addr::new(10, 0, 0, 100),
        Ipv4Addr::new(10, 0, 0, 99 + size),
    )
}

fn server_config(pool_size: u8) -> ServerConfig {
    let mut c = ServerConfig::new(SERVER, Ipv4Addr::new(255, 255, 255, 0));
    c.net.pool = Some(pool(pool_size));
    c.file.push_str("default.img").unwrap();
    c.bootp_dynamic = true;
    c.decline_hold = 3600;
    c
}

fn fixed_hosts(n: usize) -> Vec<Host> {
    (0..n)
        .map(|i| {
            let mut h = Host::new(mac(i));
            h.ip = Some(Ipv4Addr::new(10, 0, 0, 10 + i as u8));
            h.set_file(&format!("host{i}.img")).unwrap();
            h
        })
        .collect()
}

fn client_config(i: usize, dhcp: bool) -> ClientConfig {
    patient_client(i, dhcp, ATTEMPTS)
}

fn patient_client(i: usize, dhcp: bool, attempts: u32) -> ClientConfig {
    let mut c = ClientConfig::new(mac(i), Rng::new(i as u64));
    c.dhcp = dhcp;
    c.initial_timeout = Duration::from_millis(400);
    c.max_timeout = Duration::from_secs(3);
    c.jitter = Duration::from_millis(100);
    c.attempts = attempts;
    c
}

/// After every event: no two running clients hold one address.
fn unique_addresses(sim: &mut Sim, clients: std::ops::Range<HostId>) {
    sim.invariant("one address, one client", move |sim, touched| {
        let Some(h) = touched.filter(|h| clients.contains(h)) else {
            return Ok(());
        };
        let Some(BootpClient {
            outcome: Some(Outcome::Assigned(a)),
            ..
        }) = sim.app::<BootpClient>(h)
        else {
            return Ok(());
        };
        for other in clients.clone().filter(|&o| o != h) {
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
}

#[derive(Clone, Debug)]
struct Fleet {
    seed: u64,
    clients: usize,
    fixed: usize,
    pool: u8,
    weather: LinkFaults,
    crash: Option<(u64, u64)>,
    partition: Option<(usize, u64, u64)>,
}

fn fleet() -> impl Strategy<Value = Fleet> {
    (
        any::<u64>(),
        1usize..=30,
        0usize..=5,
        3u8..=40,
        (
            0.0..30.0f64,
            0.0..20.0f64,
            0.0..30.0f64,
            0u64..5_000,
            0u64..5_000,
        ),
        proptest::option::of((0u64..5_000, 0u64..5_000)),
        proptest::option::of((0usize..30, 0u64..5_000, 0u64..10_000)),
    )
        .prop_map(
            |(
                seed,
                clients,
                fixed,
                pool,
                (loss, dup, reorder, latency, jitter),
                crash,
                partition,
            )| Fleet {
                seed,
                clients,
                fixed: fixed.min(clients),
                pool,
                weather: LinkFaults {
                    loss: Loss::Random(percent(loss)),
                    duplicate: percent(dup),
                    reorder: percent(reorder),
                    latency: Duration::from_micros(latency),
                    jitter: Duration::from_micros(jitter),
                    ..LinkFaults::PERFECT
                },
                crash,
                partition,
            },
        )
}

fn run_fleet(f: &Fleet) -> Result<(), TestCaseError> {
    let mut sim = Sim::new(f.seed);
    sim.set_weather(f.weather);
    let (pool_size, fixed) = (f.pool, f.fixed);
    sim.add_host("server", SERVER, move || {
        Box::new(SimServer::bootp(
            server_config(pool_size),
            fixed_hosts(fixed),
        ))
    });
    for i in 0..f.clients {
        let dhcp = i % 4 != 3;
        let at = Instant::from_millis((f.seed.rotate_left(i as u32) % 2_000) + 1);
        sim.add_host_at(&format!("c{i}"), Ipv4Addr::UNSPECIFIED, at, move || {
            Box::new(BootpClient::new(client_config(i, dhcp)))
        });
    }
    unique_addresses(&mut sim, 1..f.clients + 1);
    if let Some((at, down)) = f.crash {
        sim.schedule(Instant::from_millis(at), Fault::Crash(0));
        sim.schedule(Instant::from_millis(at + down), Fault::Restart(0));
    }
    if let Some((who, at, len)) = f.partition {
        sim.schedule(
            Instant::from_millis(at),
            Fault::Partition(vec![1 + who % f.clients]),
        );
        sim.schedule(Instant::from_millis(at + len), Fault::Heal);
    }
    sim.set_time_limit(Instant::from_secs(3_600));
    prop_assert_eq!(sim.run(), netboot_sim::Outcome::Quiet);
    prop_assert!(sim.conflicts().is_empty(), "{:?}", sim.conflicts());
    let (first, last) = pool(f.pool);
    for i in 0..f.clients {
        let c = sim.app::<BootpClient>(i + 1).unwrap();
        match c.outcome.as_ref() {
            Some(Outcome::Assigned(a)) => {
                prop_assert_eq!(a.server, Some(SERVER));
                if i < f.fixed {
                    prop_assert_eq!(a.ip, Ipv4Addr::new(10, 0, 0, 10 + i as u8));
                    prop_assert_eq!(&a.file, &format!("host{i}.img"));
                } else {
                    prop_assert!((first..=last).contains(&a.ip), "client {} got {}", i, a.ip);
                    prop_assert_eq!(&a.file, "default.img");
                }
                if i % 4 != 3 {
                    prop_assert_eq!(a.lease_time, Some(3600), "DHCP leases carry their time");
                }
                prop_assert_eq!(sim.ip(i + 1), a.ip);
            }
            Some(Outcome::TimedOut) => {
                // Every exchange (DISCOVER, then REQUEST) has its budget.
                prop_assert!(
                    c.sends() >= ATTEMPTS && c.sends() <= 2 * ATTEMPTS * 4,
                    "{} sends",
                    c.sends()
                );
                prop_assert_eq!(sim.ip(i + 1), Ipv4Addr::UNSPECIFIED);
            }
            other => return Err(TestCaseError::fail(format!("client {i}: {other:?}"))),
        }
    }
    Ok(())
}

/// A DHCPRELEASE or DHCPDECLINE from `hw` about `ip`, sent three times.
fn release_or_decline(t: MessageType, hw: HwAddr, ip: Ipv4Addr, at: Instant) -> Vec<Send> {
    let mut opts = [0u8; 32];
    let mut w = OptionsWriter::new(&mut opts);
    w.message_type(t).unwrap();
    w.ip(SERVER_ID, SERVER).unwrap();
    if t == MessageType::Decline {
        w.ip(REQUESTED_IP, ip).unwrap();
    }
    let n = w.finish().unwrap();
    let mut mac = [0u8; 6];
    mac.copy_from_slice(hw.as_bytes());
    let mut repr = Repr::new(Op::Request, 0x1234, mac);
    repr.vend = Vend::Options(&opts[..n]);
    if t == MessageType::Release {
        repr.ciaddr = ip;
    }
    let mut bytes = vec![0u8; repr.buffer_len()];
    repr.emit(&mut bytes).unwrap();
    (0..3)
        .map(|k| Send {
            at: at + Duration::from_millis(k * 50),
            from_port: 68,
            to: SocketAddrV4::new(SERVER, 67),
            bytes: bytes.clone(),
        })
        .collect()
}

fn assigned(sim: &Sim, h: HostId) -> Option<Ipv4Addr> {
    match &sim.app::<BootpClient>(h)?.outcome {
        Some(Outcome::Assigned(a)) => Some(a.ip),
        _ => None,
    }
}

/// Clients asking `attempts` times per exchange fill a pool of three; one
/// releases, one declines; of two newcomers the first gets the released
/// address and the second nothing.
fn release_and_decline(seed: u64, weather: LinkFaults, attempts: u32) -> Result<(), TestCaseError> {
    let mut sim = Sim::new(seed);
    sim.set_weather(weather);
    sim.add_host("server", SERVER, || {
        Box::new(SimServer::bootp(server_config(3), Vec::new()))
    });
    // Three clients fill the pool of three.
    let abc: Vec<HostId> = (0..3)
        .map(|i| {
            sim.add_host_at(
                &format!("c{i}"),
                Ipv4Addr::UNSPECIFIED,
                Instant::from_millis(i as u64),
                move || Box::new(BootpClient::new(patient_client(i, true, attempts))),
            )
        })
        .collect();
    unique_addresses(&mut sim, 1..6);
    sim.run_for(Duration::from_secs(60));
    let ips: Vec<Ipv4Addr> = abc
        .iter()
        .map(|&h| assigned(&sim, h).expect("the pool has room for three"))
        .collect();
    // Client 0 releases its address and leaves; client 1 declines its
    // address (found it in use) and leaves.
    let now = sim.now();
    let mut script = release_or_decline(MessageType::Release, mac(0), ips[0], now);
    script.extend(release_or_decline(
        MessageType::Decline,
        mac(1),
        ips[1],
        now,
    ));
    let agent = sim.add_host_at("agent", Ipv4Addr::new(10, 0, 0, 250), now, move || {
        Box::new(Scripted::new(&[68], script.clone()))
    });
    // The agent's own messages are not the subject: they get through.
    sim.set_link(agent, 0, LinkFaults::PERFECT);
    sim.schedule(now, Fault::Crash(abc[0]));
    sim.schedule(now, Fault::Crash(abc[1]));
    sim.run_for(Duration::from_secs(5));
    // Two newcomers: one gets the released address, the other nothing (the
    // declined one is quarantined, the third is still client 2's).
    let later = sim.now();
    let d = sim.add_host_at("d", Ipv4Addr::UNSPECIFIED, later, move || {
        Box::new(BootpClient::new(patient_client(3, true, attempts)))
    });
    let e = sim.add_host_at(
        "e",
        Ipv4Addr::UNSPECIFIED,
        later + Duration::from_secs(20),
        move || Box::new(BootpClient::new(patient_client(4, true, attempts))),
    );
    sim.run_for(Duration::from_secs(120));
    prop_assert_eq!(
        assigned(&sim, d),
        Some(ips[0]),
        "the released address is reused"
    );
    prop_assert_eq!(
        &sim.app::<BootpClient>(e).unwrap().outcome,
        &Some(Outcome::TimedOut),
        "the declined address stays out of the pool"
    );
    prop_assert_eq!(assigned(&sim, abc[2]), Some(ips[2]));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(netboot_sim::seed::cases(48)))]

    #[test]
    fn every_client_gets_its_assignment_or_times_out(f in fleet()) {
        run_fleet(&f)?;
    }

    #[test]
    fn release_and_decline_are_honoured(seed in any::<u64>(), loss in 0.0..20.0f64, dup in 0.0..20.0f64) {
        release_and_decline(seed, LinkFaults { loss: Loss::Random(percent(loss)), duplicate: percent(dup), ..LinkFaults::PERFECT }, PATIENT)?;
    }
}

/// Found flaky (with clients of six attempts): a client's DHCPACK and
/// every one of its DHCPREQUESTs after it were lost, and the client gave up
/// in the REQUEST state. RFC 2131 §3.1 step 5 and §4.4.1 have it revert to
/// INIT and start again from DISCOVER instead, which is what the core
/// client now does; it gets its (already bound) address on the next round.
#[test]
fn an_unanswered_request_starts_again_instead_of_giving_up() {
    let weather = |loss, dup| LinkFaults {
        loss: Loss::Random(percent(loss)),
        duplicate: percent(dup),
        ..LinkFaults::PERFECT
    };
    release_and_decline(4_590_405_225_662_405_199, weather(13.28, 9.99), ATTEMPTS).unwrap();
    release_and_decline(
        18_264_080_324_622_740_555,
        weather(19.428221748066605, 1.2514490814511112),
        ATTEMPTS,
    )
    .unwrap();
}
