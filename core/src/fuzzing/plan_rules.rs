//! The plan's match rules fed requests with arbitrary options: whatever a
//! client claims in options 60, 61, 77, 93 and 175 (and however it splits,
//! overloads or corrupts them), the BOOTP/DHCP server answers it with a
//! file of the one profile the rules select for those claims, iPXE is
//! never handed the chainloader, the winner is the most specific
//! matching rule, and the reply carries that profile's extra options (its
//! router replacing the server's) with no option code twice.
//!
//! The input is a sequence of records: one byte choosing the client and its
//! relay, one byte of time step, then a length byte and that many bytes of
//! DHCP options appended to a well-formed BOOTREQUEST header. Some records
//! also stand for a download completing, so the plan moves.

use alloc::collections::BTreeSet;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::bootp::extra;
use crate::bootp::leases::LeaseSlot;
use crate::bootp::server::{Server, ServerConfig};
use crate::plan::rules::{Arch, Client, Match};
use crate::plan::{Heap, PlanPolicy, Profile, ProfileTable, Profiles, Reset};
use crate::time::{Duration, Instant};
use crate::wire::bootp::{Message, Op, options};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// A relay inside the server's subnet (the server serves one), so relayed
/// requests are answered; the `relayed` rule covers it and not the server.
const RELAY: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 201);
/// A site option (the WPAD URL) only the `uefi` profile sets.
const WPAD: u8 = 252;

fn rules() -> ProfileTable {
    let mut t = ProfileTable::new();
    let p = |name: &str, stages: &[&str]| Profile::new(name, stages).unwrap();
    let class = |v: &[u8]| Some(Match::class(v).unwrap());
    t.add_rule(
        Match {
            arch: Match::archs(&[Arch::BIOS]),
            ..Match::ANY
        },
        p("bios", &["bios/boot.ipxe", "bios/manifest"])
            .chain("bios/undionly.kpxe")
            .unwrap(),
    )
    .unwrap();
    t.add_rule(
        Match {
            arch: Match::archs(&[Arch::EFI_X64, Arch::EFI_BC]),
            ..Match::ANY
        },
        p("uefi", &["efi/boot.ipxe"])
            .chain("efi/ipxe.efi")
            .unwrap()
            .next_server(Ipv4Addr::new(10, 0, 0, 7))
            .option(WPAD, b"http://10.0.0.1/wpad.dat")
            .unwrap()
            .option(options::ROUTER, &[10, 0, 0, 253])
            .unwrap(),
    )
    .unwrap();
    t.add_rule(
        Match {
            arch: Match::archs(&[Arch::EFI_X64_HTTP]),
            ..Match::ANY
        },
        Profile::http("http", "http://10.0.0.1/efi/ipxe.efi").unwrap(),
    )
    .unwrap();
    t.add_rule(
        Match {
            vendor_class: class(b"U-Boot"),
            ..Match::ANY
        },
        p("uboot", &["uboot/image"])
            .option(options::TFTP_SERVER_NAME, b"10.0.0.7")
            .unwrap(),
    )
    .unwrap();
    t.add_rule(
        Match {
            user_class: class(b"lab"),
            ipxe: Some(true),
            ..Match::ANY
        },
        p("lab-ipxe", &["lab/boot.ipxe"]),
    )
    .unwrap();
    t.add_rule(
        Match {
            subnet: Some((Ipv4Addr::new(10, 0, 0, 200), 30)),
            ..Match::ANY
        },
        p("relayed", &["relay/one", "relay/two"]),
    )
    .unwrap();
    t.add_rule(
        Match {
            client_id: class(b"\x00fixed"),
            ..Match::ANY
        },
        p("by-id", &["id/one"]),
    )
    .unwrap();
    t.add_client(&[2, 0, 0, 0, 0, 1], &["host/one"]).unwrap();
    t
}

/// Every file the profile `id` hands out, with whether it is the chainloader.
fn files(t: &ProfileTable, id: u16) -> BTreeSet<(String, bool)> {
    let mut out: BTreeSet<_> = (0..t.stage_count(id))
        .filter_map(|i| t.stage(id, i))
        .map(|s| (s.to_string(), false))
        .collect();
    out.extend(t.chain(id).map(|c| (c.to_string(), true)));
    out.extend(t.url(id).map(|u| (u.to_string(), false)));
    out
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let table = rules();
    let mut config = ServerConfig::new(SERVER, Ipv4Addr::new(255, 255, 255, 0));
    config.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 115)));
    config.bootp_dynamic = true;
    config.authoritative = true;
    config.file.push_str("default.img").unwrap();
    config.net.router = Some(Ipv4Addr::new(10, 0, 0, 254));
    let policy: PlanPolicy<ProfileTable, Heap> =
        PlanPolicy::with_capacity(table.clone(), Reset::Never, 16);
    let mut server =
        Server::with_policy(config, Vec::new(), vec![LeaseSlot::EMPTY; 16], policy).unwrap();
    let mut now = Instant::ZERO;
    let mut rest = data;
    let mut packet = [0u8; 1500];
    let mut reply = [0u8; 1500];
    while rest.len() >= 3 {
        let who = rest[0];
        now += Duration::from_secs(u64::from(rest[1] % 8));
        let len = usize::from(rest[2]).min(rest.len() - 3);
        let opts = &rest[3..3 + len];
        rest = &rest[3 + len..];
        let hw = [2, 0, 0, 0, 0, who % 6];
        let relayed = who & 0x40 != 0;
        let n = request(&mut packet, hw, relayed, opts);
        let Ok(msg) = Message::new_checked(&packet[..n]) else {
            continue;
        };
        // What the client claims, read as the server reads it.
        let vendor = msg.vendor_class();
        let id = msg.client_id();
        let user = msg.get(options::USER_CLASS);
        let claims = Client {
            hw: &hw,
            client_id: id.as_deref(),
            arch: msg.client_arch(),
            vendor_class: vendor.as_deref(),
            user_class: user.as_deref(),
            ipxe_options: msg.has(options::IPXE),
            network: if relayed { RELAY } else { SERVER },
        };
        let selected = table.select(&claims);
        check_precedence(&table, &claims, selected);
        let from = if relayed {
            SocketAddr::from((RELAY, 67))
        } else {
            SocketAddr::from(([0, 0, 0, 0], 68))
        };
        server.handle_datagram(now, from, &packet[..n]);
        while let Some(t) = server.poll_transmit(now, &mut reply) {
            let out = Message::new_checked(&reply[..t.len]).expect("replies parse");
            assert_eq!(out.packet().op(), Op::Reply);
            let file = core::str::from_utf8(out.file()).expect("file names are text");
            let mut seen = BTreeSet::new();
            for option in out.options().flatten() {
                assert!(seen.insert(option.code), "option {} twice", option.code);
            }
            if file.is_empty() || file == "default.img" {
                // Outside the plan, or a NAK: nothing of a profile.
                assert!(!out.has(WPAD), "a profile's option outside its profile");
                continue;
            }
            let id =
                selected.unwrap_or_else(|| panic!("{file} given to a client outside the plan"));
            let allowed = files(&table, id);
            let chain = allowed
                .iter()
                .find(|(f, _)| f == file)
                .unwrap_or_else(|| panic!("{file} is not a file of profile {}", table.name(id)))
                .1;
            assert!(
                !(chain && claims.is_ipxe()),
                "iPXE was handed the chainloader {file}"
            );
            if out.message_type().is_some() || out.packet().has_cookie() {
                for (code, option) in extra::iter(table.options(id)) {
                    assert_eq!(
                        out.get(code).as_deref(),
                        Some(&option[2..]),
                        "option {code}"
                    );
                }
            }
            if table.options(id).is_empty() {
                assert!(!out.has(WPAD), "{file}: another profile's option");
            }
            // The download completes: the plan moves (or, for the
            // chainloader, stays) and the next request must still agree.
            if who & 0x80 != 0 {
                let ip = out.packet().yiaddr();
                if !ip.is_unspecified() {
                    server
                        .policy_mut()
                        .transfer_complete(now, IpAddr::V4(ip), file);
                }
            }
        }
        while server.poll_event().is_some() {}
        while server.policy_mut().poll_event().is_some() {}
    }
}

/// The selected profile is the most specific matching rule's (or the host
/// entry's): no matching rule ranks strictly before it.
fn check_precedence(table: &ProfileTable, claims: &Client<'_>, selected: Option<u16>) {
    let host = [2, 0, 0, 0, 0, 1];
    if claims.hw == host {
        assert_eq!(selected.map(|id| table.name(id)), Some(""));
        return;
    }
    let Some(id) = selected else {
        return;
    };
    let name = table.name(id);
    // The rules of `rules()` by name, rebuilt to compare precedences.
    let rank = |n: &str| match n {
        "by-id" => (0, 0),
        "bios" | "uefi" | "http" => (1, 0),
        "uboot" => (2, 0),
        "lab-ipxe" => (3, 0),
        "relayed" => (4, 0),
        other => panic!("unexpected profile {other}"),
    };
    let won = rank(name);
    let candidates = [
        ("by-id", claims.client_id == Some(b"\x00fixed")),
        ("bios", claims.arch.unwrap_or(0) == 0),
        ("uefi", matches!(claims.arch, Some(7 | 9))),
        ("http", claims.arch == Some(16)),
        (
            "uboot",
            claims
                .vendor_class
                .is_some_and(|v| v.starts_with(b"U-Boot")),
        ),
        (
            "lab-ipxe",
            claims.has_user_class(b"lab") && claims.is_ipxe(),
        ),
        ("relayed", claims.network == RELAY),
    ];
    for (other, matches) in candidates {
        if matches {
            assert!(
                won <= rank(other),
                "{name} won over the more specific {other}"
            );
        }
    }
}

/// A BOOTREQUEST from `hw` (relayed through [`RELAY`] or not) with the
/// magic cookie and `opts` as its options. Returns its length.
fn request(buf: &mut [u8; 1500], hw: [u8; 6], relayed: bool, opts: &[u8]) -> usize {
    buf.fill(0);
    buf[0] = 1; // BOOTREQUEST
    buf[1] = 1; // Ethernet
    buf[2] = 6;
    buf[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
    if relayed {
        buf[3] = 1;
        buf[24..28].copy_from_slice(&RELAY.octets());
    }
    buf[28..34].copy_from_slice(&hw);
    buf[236..240].copy_from_slice(&[99, 130, 83, 99]);
    let n = opts.len().min(buf.len() - 241);
    buf[240..240 + n].copy_from_slice(&opts[..n]);
    buf[240 + n] = options::END;
    (241 + n).max(300)
}
