//! The provisioning plan as the BOOTP server's boot policy, fed arbitrary
//! operations, with its progress file written and read back.
//!
//! The input is a sequence of operations, each an opcode byte and three
//! argument bytes (a progress line follows its operation, its length the
//! first argument): a boot decision for one of ten clients at one of
//! six addresses, a completed download of one of a few paths (the stages
//! with and without a leading `/`, `..` tricks, a name nobody has), an
//! address learnt, time passing, a progress line parsed from the input, a
//! client restored to an arbitrary stage or reset.
//!
//! After each: a boot file handed out is the client's current stage by the
//! plan's own count; a completed download advances a client by one stage
//! and only when it named that stage; no client is past its stage count
//! except by an explicit restore; the tracked clients never exceed the
//! table's size; the progress file written from the plan parses back to the
//! same progress.

use core::net::{IpAddr, Ipv4Addr};

use crate::bootp::HwAddr;
use crate::bootp::policy::{Boot, BootDecision, BootPolicy, BootRequest, RequestKind};
use crate::plan::{PlanEvent, PlanPolicy, ProfileTable, Reset, progressfile};
use crate::time::{Duration, Instant};

/// Clients the policy tracks: fewer than the ten the input uses, so that
/// eviction is exercised.
const TRACKED: usize = 6;

const DEFAULT: [&str; 3] = ["boot/one.img", "boot/two.img", "manifest.txt"];
const SPECIAL: [&str; 2] = ["special/only.img", "special/manifest.txt"];
const PATHS: [&str; 9] = [
    "boot/one.img",
    "/boot/two.img",
    "manifest.txt",
    "special/only.img",
    "/special/manifest.txt",
    "boot/../manifest.txt",
    "boot//one.img",
    "../boot/one.img",
    "nobody.img",
];

fn hw(i: u8) -> HwAddr {
    HwAddr::ethernet([0x52, 0x54, 0, 0, 0, i % 10])
}

fn ip(i: u8) -> Ipv4Addr {
    match i % 7 {
        6 => Ipv4Addr::UNSPECIFIED,
        n => Ipv4Addr::new(10, 0, 0, 100 + n),
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut profiles = ProfileTable::new();
    profiles.set_default(&DEFAULT).expect("default stages");
    profiles
        .add_client(hw(9).as_bytes(), &SPECIAL)
        .expect("client stages");
    let reset = match data.first() {
        Some(b) if b % 2 == 1 => Reset::After(Duration::from_secs(30)),
        _ => Reset::Never,
    };
    let mut policy: PlanPolicy<ProfileTable, crate::plan::Fixed<TRACKED>> =
        PlanPolicy::new(profiles, reset);
    let mut restored = [false; 10];
    let mut now = Instant::ZERO;
    let mut rest = data.get(1..).unwrap_or_default();
    while let Some((&opcode, tail)) = rest.split_first() {
        rest = tail;
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n.min(rest.len()));
            rest = tail;
            head
        };
        let op = [&[opcode][..], take(3)].concat();
        let arg = |i: usize| op.get(i).copied().unwrap_or(0);
        match opcode % 7 {
            0 => {
                let client = hw(arg(1));
                let stage = policy.plan().stage_of(client.as_bytes());
                let request = BootRequest {
                    kind: [
                        RequestKind::Bootp,
                        RequestKind::Discover,
                        RequestKind::Request,
                        RequestKind::Inform,
                    ][usize::from(arg(3) % 4)],
                    ..BootRequest::bootp(
                        client,
                        ip(arg(2)),
                        u32::from(arg(3)),
                        Boot {
                            next_server: Ipv4Addr::new(10, 0, 0, 1),
                            file: "default.img",
                        },
                    )
                };
                let decision = policy.decide(now, &request);
                let stages = policy
                    .plan()
                    .stage_count_of(client.as_bytes())
                    .expect("every client has stages");
                let current = policy
                    .plan()
                    .stage_of(client.as_bytes())
                    .expect("a client asked about is tracked");
                match decision {
                    BootDecision::Boot { file, .. } => {
                        let expected = policy.plan().stage_file(client.as_bytes(), current);
                        assert_eq!(Some(file.as_str()), expected);
                        // Only a reset (after the time-out) moves a client
                        // back, and then to its first stage.
                        if let Some(before) = stage {
                            assert!(current == before || current == 0, "{before} -> {current}");
                        }
                    }
                    BootDecision::Silent => assert!(current >= stages),
                    other => panic!("a client in the plan got {other:?}"),
                }
            }
            1 => {
                let path = PATHS[usize::from(arg(1)) % PATHS.len()];
                let peer = IpAddr::V4(ip(arg(2)));
                let who = policy.client_at(ip(arg(2)));
                let before = who.and_then(|h| policy.plan().stage_of(h.as_bytes()));
                let event = policy.transfer_complete(now, peer, path);
                if let Some(PlanEvent::Advanced { hw, index, of, .. }) = event {
                    assert_eq!(Some(hw), who);
                    assert_eq!(before, Some(index));
                    assert!(index < of);
                    let name = policy.plan().stage_file(hw.as_bytes(), index);
                    let trimmed = path.trim_start_matches('/');
                    assert!(
                        name == Some(trimmed) || path.contains("//") || path.contains(".."),
                        "{path} completed stage {name:?}"
                    );
                    assert_eq!(policy.plan().stage_of(hw.as_bytes()), Some(index + 1));
                } else if let Some(h) = who {
                    assert_eq!(policy.plan().stage_of(h.as_bytes()), before);
                }
            }
            2 => policy.learn(now, ip(arg(1)), hw(arg(2))),
            3 => now += Duration::from_secs(u64::from(arg(1)) * u64::from(arg(2) % 4 + 1)),
            4 => {
                // A line of the progress file, as damaged as the input
                // likes; a parsed line restores like the adapters do.
                let line = String::from_utf8_lossy(take(usize::from(arg(1))));
                if let Ok(Some((addr, stage))) = progressfile::parse_line(&line) {
                    policy.plan_mut().restore(now, &addr, stage);
                    if let Some(i) = (0..10).find(|&i| hw(i).as_bytes() == addr.as_slice()) {
                        restored[usize::from(i)] = true;
                    }
                }
            }
            5 => {
                let client = hw(arg(1));
                let stage = usize::from(arg(2) % 6);
                policy.plan_mut().restore(now, client.as_bytes(), stage);
                restored[usize::from(arg(1) % 10)] = true;
            }
            _ => {
                let client = hw(arg(1));
                policy.plan_mut().reset(client.as_bytes());
                restored[usize::from(arg(1) % 10)] = false;
                assert_eq!(policy.plan().stage_of(client.as_bytes()), None);
            }
        }
        while policy.poll_event().is_some() {}
        check(&policy, &restored);
    }
}

fn check(policy: &PlanPolicy<ProfileTable, crate::plan::Fixed<TRACKED>>, restored: &[bool; 10]) {
    let plan = policy.plan();
    assert!(plan.progress().count() <= TRACKED);
    for (addr, stage) in plan.progress() {
        let count = plan
            .stage_count_of(addr)
            .expect("tracked clients have stages");
        let i = (0..10u8).find(|&i| hw(i).as_bytes() == addr);
        let may_overshoot = i.is_none_or(|i| restored[usize::from(i)]);
        assert!(stage <= count || may_overshoot, "stage {stage} of {count}");
    }
    let (read, bad) = progressfile::parse(&progressfile::render(plan.progress()));
    assert!(bad.is_empty(), "our own lines parse: {bad:?}");
    let written: Vec<_> = plan.progress().map(|(a, s)| (a.to_vec(), s)).collect();
    let read: Vec<_> = read.into_iter().map(|(a, s)| (a.to_vec(), s)).collect();
    assert_eq!(read, written);
}
