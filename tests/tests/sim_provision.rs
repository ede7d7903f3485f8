//! The whole provisioning flow on the simulator, with a handful of clients:
//! the core's client flow (`netboot_sim::apps::provision`) against the
//! server that ships (`netboot_sim::apps::server::SimServer`), seeded
//! scenarios under loss, a server crash between stages or during the FTP
//! phase, random crashes against the persistence policy, and the run's
//! determinism. The large fleets are in `sim_fleet.rs`.

use netboot_core::rng::Rng;
use netboot_core::time::{Duration, Instant};
use netboot_sim::LinkFaults;
use netboot_sim::seed::check_seeds;
use netboot_tests::fleet::{Crash, Fleet};

#[test]
fn a_few_clients_on_a_perfect_network() {
    check_seeds(2, |seed| {
        let r = Fleet::new(5, seed).run();
        assert_eq!((r.finished, r.byte_exact), (5, 5), "{r}");
        // BOOTP is resent only in each client's last round, which the
        // server leaves unanswered.
        assert_eq!(r.tftp.retransmitted, 0, "{r}");
        assert_eq!(
            r.stage_retries + r.stage_refetches + r.ftp_retries,
            0,
            "{r}"
        );
    });
}

#[test]
fn clients_under_loss_duplication_and_reordering() {
    check_seeds(4, |seed| {
        let mut f = Fleet::new(20, seed);
        f.weather = LinkFaults::lossy(10.0, 2.0, 10.0);
        let r = f.run();
        assert_eq!(r.byte_exact, 20, "{r}");
        assert!(r.tftp.retransmitted > 0 && r.bootp.retransmitted > 0, "{r}");
    });
}

#[test]
fn server_crash_between_stages() {
    check_seeds(4, |seed| {
        let mut f = Fleet::new(40, seed);
        f.weather = LinkFaults::lossy(5.0, 1.0, 5.0);
        f.crashes = vec![Crash {
            at: Instant::from_millis(1_500),
            down: Duration::from_secs(3),
        }];
        let r = f.run();
        eprintln!("{r}");
        assert_eq!(r.byte_exact, 40, "{r}");
        assert_eq!(r.server_boots, 2);
    });
}

#[test]
fn server_crash_during_the_ftp_phase() {
    check_seeds(2, |seed| {
        let mut f = Fleet::new(40, seed);
        f.weather = LinkFaults::lossy(5.0, 1.0, 5.0);
        // The clients' boot phases end with ten seconds of silence from
        // about 10.3 s on: at 11 s some are logged in and fetching.
        f.crashes = vec![Crash {
            at: Instant::from_secs(11),
            down: Duration::from_secs(2),
        }];
        let r = f.run();
        assert_eq!(r.byte_exact, 40, "{r}");
        assert!(r.ftp_retries > 0 && r.stats.resets > 0, "{r}");
    });
}

/// The persistence policy under crashes: three crashes of the server at
/// random instants (drawn from the seed: before, during and after the
/// clients' boot phases), each down for up to two and a half seconds, with
/// leases and progress on its disk. The fleet's invariants check after
/// every event that the server never hands out an address a client holds
/// and that each restarted server has a bound lease for every address a
/// client holds; at the end every client finished byte-exact and the last
/// server's plan has every client at its last stage.
#[test]
fn leases_and_progress_survive_random_crashes() {
    check_seeds(4, |seed| {
        let mut f = Fleet::new(16, seed);
        f.weather = LinkFaults::lossy(5.0, 1.0, 5.0);
        f.time_limit = Instant::from_secs(600);
        let mut rng = Rng::new(seed ^ 0xc4a5_4e55);
        let mut up = Instant::from_millis(100);
        for _ in 0..3 {
            let at = up + Duration::from_millis(rng.range_inclusive(200, 5_000));
            let down = Duration::from_millis(rng.range_inclusive(100, 2_500));
            f.crashes.push(Crash { at, down });
            up = at + down;
        }
        let r = f.run();
        assert_eq!((r.finished, r.byte_exact), (16, 16), "{r}");
        assert_eq!(r.server_boots, 4, "{r}");
    });
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed| {
        let mut f = Fleet::new(10, seed);
        f.weather = LinkFaults::lossy(10.0, 2.0, 10.0);
        f.crashes = vec![Crash {
            at: Instant::from_millis(500),
            down: Duration::from_secs(1),
        }];
        let r = f.run();
        (r.trace_hash, r.stats, r.last_finished)
    };
    let a = run(7);
    assert_eq!(a, run(7));
    assert_ne!(a.0, run(8).0);
}
