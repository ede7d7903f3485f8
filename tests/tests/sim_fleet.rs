//! The fleet: 1,000 simulated clients run the whole provisioning flow —
//! BOOTP/DHCP, the TFTP boot stages, the manifest, the FTP files with
//! their SHA-256 digests — against one simulated server under 10% loss
//! with duplication and reordering. Every client must finish with every
//! file byte-identical to the server's; the run reports simulated time and
//! packets sent and retransmitted per protocol (`--nocapture` shows it).
//!
//! The scenario and its invariants (checked after every event: no address
//! held twice, no stage out of the plan's order, no published file that
//! differs from the server's) are `netboot_tests::fleet`. The clients mix
//! DHCP and plain BOOTP, TFTP windows of 1, 4 and 8 blocks, and anonymous
//! and named FTP logins, which is what the per-protocol fleets used to
//! cover separately.
//!
//! The mixed fleet (`fleet_of_mixed_firmware_gets_each_architectures_files`)
//! is the same run with the server's profiles chosen by match rules: BIOS
//! and UEFI x64 PXE ROMs that chainload their iPXE build, BIOS iPXE ROMs,
//! and UEFI ROMs behind a relay agent, each ending with its own profile's
//! files and nobody else's.
//!
//! `SIM_FLEET=<n>` sets the number of clients (see docs/testing.md for the
//! 10,000-client release run); `SIM_SEED` replays a seed.

use netboot_core::time::{Duration, Instant};
use netboot_sim::LinkFaults;
use netboot_sim::seed::check_seeds;
use netboot_tests::fleet::{Class, Crash, Fleet};

fn clients() -> usize {
    std::env::var("SIM_FLEET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000)
}

/// 10% loss, 2% duplication, 10% reordering by up to 5 ms, 1 ms latency
/// and 0.5 ms jitter; `SIM_WEATHER=LOSS,DUP,REORDER,JITTER_US` (percent,
/// percent, percent, microseconds) replaces it, for measuring where
/// retransmissions come from (docs/benchmarks.md, "Loss").
fn weather() -> LinkFaults {
    let Ok(spec) = std::env::var("SIM_WEATHER") else {
        return LinkFaults::lossy(10.0, 2.0, 10.0);
    };
    let v: Vec<f64> = spec
        .split(',')
        .map(|x| {
            x.trim()
                .parse()
                .expect("SIM_WEATHER: LOSS,DUP,REORDER,JITTER_US")
        })
        .collect();
    assert_eq!(v.len(), 4, "SIM_WEATHER: LOSS,DUP,REORDER,JITTER_US");
    LinkFaults {
        jitter: Duration::from_micros(v[3] as u64),
        ..LinkFaults::lossy(v[0], v[1], v[2])
    }
}

#[test]
fn fleet_full_flow() {
    check_seeds(1, |seed| {
        let n = clients();
        let mut fleet = Fleet::new(n, seed);
        fleet.weather = weather();
        let started = std::time::Instant::now();
        let r = fleet.run();
        eprintln!("{r}\n  wall-clock time {:.1?}", started.elapsed());
        assert_eq!((r.finished, r.byte_exact), (n, n), "{r}");
        // Every client fetched three stages and opened a control and three
        // data connections at least.
        assert!(r.ftp_connections >= 4 * n as u64, "{r}");
        assert!(r.tftp.retransmitted > 0 && r.bootp.retransmitted > 0, "{r}");
    });
}

#[test]
fn fleet_survives_a_server_crash_between_stages() {
    check_seeds(1, |seed| {
        let n = clients() / 2;
        let mut fleet = Fleet::new(n, seed);
        fleet.weather = weather();
        // Mid-fleet: half the clients are between stages, the rest still
        // asking for their first; down for three seconds (less than the
        // ten seconds of BOOTP silence that end a client's boot phase).
        fleet.crashes = vec![Crash {
            at: Instant::from_millis(1_000),
            down: Duration::from_secs(3),
        }];
        let started = std::time::Instant::now();
        let r = fleet.run();
        eprintln!("{r}\n  wall-clock time {:.1?}", started.elapsed());
        assert_eq!((r.finished, r.byte_exact), (n, n), "{r}");
        assert_eq!(r.server_boots, 2);
        // The crash cut downloads short: clients fetched again, and
        // nothing they published was ever wrong (the invariant checks every
        // one). The server lost no progress (it saves every change before
        // it hands out the next stage; the invariant checks that no client
        // is sent back).
        assert!(r.stage_retries + r.stage_refetches > 0, "{r}");
    });
}

#[test]
fn fleet_of_mixed_firmware_gets_each_architectures_files() {
    check_seeds(1, |seed| {
        let n = clients();
        let mut fleet = Fleet::new(n, seed);
        fleet.weather = weather();
        fleet.mixed = true;
        let started = std::time::Instant::now();
        let r = fleet.run();
        eprintln!("{r}\n  wall-clock time {:.1?}", started.elapsed());
        // Every client finished with every file of its own profile
        // byte-exact, and held no file of another (the run checks both,
        // after every event and at the end).
        assert_eq!((r.finished, r.byte_exact), (n, n), "{r}");
        let classes: Vec<Class> = r.classes.iter().map(|c| c.class).collect();
        assert_eq!(classes, Class::MIXED, "{r}");
        for (k, c) in r.classes.iter().enumerate() {
            // Client i is of class i % 4.
            assert_eq!(c.clients, (n + 3 - k) / 4, "{r}");
            assert_eq!((c.finished, c.byte_exact), (c.clients, c.clients), "{r}");
            if c.class.chains() {
                // Each ROM ran iPXE once: one chain download per client,
                // more only where a download failed, never more than the
                // flow's three attempts.
                assert_eq!(c.chainloaded, c.clients, "{r}");
                assert!(c.chain_downloads >= c.clients, "{r}");
                assert!(c.most_chain_downloads <= 3, "{r}");
                assert!(c.chain_downloads <= c.clients + c.clients / 10, "{r}");
            } else {
                assert_eq!((c.chainloaded, c.chain_downloads), (0, 0), "{r}");
            }
        }
        // The relayed clients' every request and reply went through the
        // relay.
        assert!(r.relayed.0 > 0 && r.relayed.1 > 0, "{r}");
        assert!(r.tftp.retransmitted > 0 && r.bootp.retransmitted > 0, "{r}");
    });
}
