use std::vec::Vec;

use super::*;
use crate::bootp::hosts::Host;
use crate::bootp::leases::LeaseSlot;
use crate::bootp::server::{Server, ServerConfig};
use crate::wire::bootp::Packet;

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const MAC: [u8; 6] = [0x52, 0x54, 0, 0xab, 0xcd, 0xef];

fn server(hosts: Vec<Host>) -> Server<Vec<Host>, Vec<LeaseSlot>> {
    let mut c = ServerConfig::new(SERVER, Ipv4Addr::new(255, 255, 255, 0));
    c.net.router = Some(SERVER);
    c.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 199)));
    c.file.push_str("boot.ipxe").unwrap();
    Server::new(c, hosts, std::vec![LeaseSlot::EMPTY; 100]).unwrap()
}

fn config(dhcp: bool) -> ClientConfig {
    let mut c = ClientConfig::new(HwAddr::ethernet(MAC), Rng::new(42));
    c.dhcp = dhcp;
    c
}

/// Runs client and server against each other on virtual time until the
/// client is done; `drop` decides whether the n-th client datagram is lost.
fn run(
    client: &mut Client,
    server: &mut Server<Vec<Host>, Vec<LeaseSlot>>,
    mut drop: impl FnMut(usize) -> bool,
) -> Vec<(Instant, Vec<u8>)> {
    let mut now = Instant::ZERO;
    let mut sent = Vec::new();
    let mut buf = [0u8; 1500];
    for _ in 0..100 {
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            assert_eq!(t.destination, SocketAddr::from((Ipv4Addr::BROADCAST, 67)));
            sent.push((now, buf[..t.len].to_vec()));
            if drop(sent.len()) {
                continue;
            }
            server.handle_datagram(now, SocketAddr::from(([0, 0, 0, 0], 68)), &buf[..t.len]);
            let mut reply = [0u8; 1500];
            while let Some(r) = server.poll_transmit(now, &mut reply) {
                client.handle_datagram(now, SocketAddr::from((SERVER, 67)), &reply[..r.len]);
            }
        }
        if client.is_done() {
            break;
        }
        now = client
            .poll_timeout()
            .expect("a waiting client has a deadline");
        client.handle_timeout(now);
    }
    sent
}

#[test]
fn dhcp_exchange_yields_the_full_assignment() {
    let mut s = server(Vec::new());
    let mut c = Client::new(config(true), Instant::ZERO).unwrap();
    let sent = run(&mut c, &mut s, |_| false);
    assert_eq!(sent.len(), 2, "DISCOVER and REQUEST");
    let kinds: Vec<_> = sent
        .iter()
        .map(|(_, b)| Message::new_checked(b).unwrap().message_type())
        .collect();
    assert_eq!(
        kinds,
        [Some(MessageType::Discover), Some(MessageType::Request)]
    );
    let request = Message::new_checked(&sent[1].1).unwrap();
    assert_eq!(request.requested_ip(), Some(Ipv4Addr::new(10, 0, 0, 100)));
    assert_eq!(request.server_id(), Some(SERVER));
    assert!(request.packet().broadcast());
    assert!(matches!(
        c.poll_event(),
        Some(Event::Offered { server: SERVER, .. })
    ));
    let Some(Event::Assigned(a)) = c.poll_event() else {
        panic!("no assignment");
    };
    assert_eq!(a.ip, Ipv4Addr::new(10, 0, 0, 100));
    assert_eq!(a.netmask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(a.router, Some(SERVER));
    assert_eq!(a.server, Some(SERVER));
    assert_eq!(a.file.as_deref(), Some(&b"boot.ipxe"[..]));
    assert_eq!(a.lease_time, Some(3600));
    assert!(a.dhcp);
    assert!(
        a.message.options().count() > 5,
        "all options stay reachable"
    );
}

#[test]
fn plain_bootp_exchange() {
    let mut h = Host::new(HwAddr::ethernet(MAC));
    h.ip = Some(Ipv4Addr::new(10, 0, 0, 42));
    h.set_file("node.img").unwrap();
    let mut s = server(std::vec![h]);
    let mut cfg = config(false);
    cfg.vendor_class.extend_from_slice(b"netboot").unwrap();
    cfg.file.push_str("generic").unwrap();
    let mut c = Client::new(cfg, Instant::ZERO).unwrap();
    let sent = run(&mut c, &mut s, |_| false);
    assert_eq!(sent.len(), 1);
    let req = Message::new_checked(&sent[0].1).unwrap();
    assert_eq!(req.message_type(), None);
    assert_eq!(req.file(), b"generic");
    assert_eq!(req.vendor_class().as_deref(), Some(&b"netboot"[..]));
    let a = c.assignment().unwrap();
    assert_eq!(a.ip, Ipv4Addr::new(10, 0, 0, 42));
    assert_eq!(a.file.as_deref(), Some(&b"node.img"[..]));
    assert!(!a.dhcp);
}

#[test]
fn retransmissions_back_off_exponentially_with_jitter_and_keep_the_xid() {
    let mut s = server(Vec::new());
    let mut cfg = config(true);
    cfg.attempts = 5;
    cfg.max_timeout = Duration::from_secs(16);
    let mut c = Client::new(cfg, Instant::ZERO).unwrap();
    let sent = run(&mut c, &mut s, |_| true);
    assert_eq!(sent.len(), 5);
    let xids: Vec<u32> = sent
        .iter()
        .map(|(_, b)| Packet::new_unchecked(&b[..]).xid())
        .collect();
    assert!(xids.iter().all(|&x| x == xids[0]), "{xids:?}");
    // Waits of 4, 8, 16, 16 s, each ±1 s.
    for (i, base) in [4u64, 8, 16, 16].iter().enumerate() {
        let wait = sent[i + 1].0 - sent[i].0;
        assert!(
            wait >= Duration::from_secs(base - 1) && wait <= Duration::from_secs(base + 1),
            "wait {i} was {wait:?}"
        );
    }
    // secs counts from the first request.
    let secs: Vec<u16> = sent
        .iter()
        .map(|(_, b)| Packet::new_unchecked(&b[..]).secs())
        .collect();
    assert_eq!(secs[0], 0);
    for (i, (at, _)) in sent.iter().enumerate() {
        assert_eq!(u64::from(secs[i]), at.as_micros() / 1_000_000);
    }
    assert!(matches!(
        c.poll_event(),
        Some(Event::TimedOut { attempts: 5 })
    ));
    assert!(c.is_done());
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn the_same_seed_gives_the_same_run() {
    let runs: Vec<Vec<(Instant, Vec<u8>)>> = (0..2)
        .map(|_| {
            let mut s = server(Vec::new());
            let mut c = Client::new(config(true), Instant::ZERO).unwrap();
            run(&mut c, &mut s, |_| true)
        })
        .collect();
    assert_eq!(runs[0], runs[1]);
    let mut other = config(true);
    other.rng = Rng::new(43);
    let c = Client::new(other, Instant::ZERO).unwrap();
    assert_ne!(c.xid(), Packet::new_unchecked(&runs[0][0].1[..]).xid());
}

#[test]
fn a_lost_offer_is_recovered_by_retransmission() {
    let mut s = server(Vec::new());
    let mut c = Client::new(config(true), Instant::ZERO).unwrap();
    let sent = run(&mut c, &mut s, |n| n == 1 || n == 3);
    assert_eq!(sent.len(), 4);
    assert_eq!(c.assignment().unwrap().ip, Ipv4Addr::new(10, 0, 0, 100));
}

fn reply(
    xid: u32,
    mac: [u8; 6],
    kind: Option<MessageType>,
    yiaddr: Ipv4Addr,
    extra: &[(u8, &[u8])],
) -> Vec<u8> {
    let mut opts = [0u8; 300];
    let mut w = OptionsWriter::new(&mut opts);
    if let Some(k) = kind {
        w.message_type(k).unwrap();
        w.ip(options::SERVER_ID, SERVER).unwrap();
    }
    for (code, v) in extra {
        w.push(*code, v).unwrap();
    }
    let n = w.finish().unwrap();
    let mut r = Repr::new(Op::Reply, xid, mac);
    r.yiaddr = yiaddr;
    r.vend = Vend::Options(&opts[..n]);
    let mut b = std::vec![0u8; 600];
    let len = r.emit(&mut b).unwrap();
    b.truncate(len);
    b
}

#[test]
fn stray_replies_are_ignored_and_a_bootp_reply_to_discover_is_accepted() {
    let mut c = Client::new(config(true), Instant::ZERO).unwrap();
    let mut buf = [0u8; 1500];
    let _ = c.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    let xid = c.xid();
    let from = SocketAddr::from((SERVER, 67));
    let ip = Ipv4Addr::new(10, 0, 0, 7);
    c.handle_datagram(Instant::ZERO, from, &reply(xid ^ 1, MAC, None, ip, &[]));
    c.handle_datagram(Instant::ZERO, from, &reply(xid, [9; 6], None, ip, &[]));
    c.handle_datagram(Instant::ZERO, from, &[2, 1, 6]);
    assert!(!c.is_done());
    // A BOOTP-only server answers the DISCOVER with a plain reply, naming
    // its TFTP server and file in options only.
    let r = reply(
        xid,
        MAC,
        None,
        ip,
        &[
            (options::TFTP_SERVER_NAME, b"10.0.0.9"),
            (options::BOOTFILE_NAME, b"pxe.0\0"),
        ],
    );
    c.handle_datagram(Instant::ZERO, from, &r);
    let a = c.assignment().unwrap();
    assert_eq!(a.ip, ip);
    assert_eq!(a.server, Some(Ipv4Addr::new(10, 0, 0, 9)));
    assert_eq!(a.file.as_deref(), Some(&b"pxe.0"[..]));
    assert!(!a.dhcp);
}

#[test]
fn a_nak_restarts_with_a_new_xid_and_too_many_give_up() {
    let mut c = Client::new(config(true), Instant::ZERO).unwrap();
    let mut buf = [0u8; 1500];
    let from = SocketAddr::from((SERVER, 67));
    let ip = Ipv4Addr::new(10, 0, 0, 7);
    for round in 0..=MAX_RESTARTS {
        let t = c.poll_transmit(Instant::ZERO, &mut buf).unwrap();
        assert_eq!(
            Message::new_checked(&buf[..t.len]).unwrap().message_type(),
            Some(MessageType::Discover)
        );
        let xid = c.xid();
        c.handle_datagram(
            Instant::ZERO,
            from,
            &reply(xid, MAC, Some(MessageType::Offer), ip, &[]),
        );
        let _ = c.poll_transmit(Instant::ZERO, &mut buf).unwrap();
        c.handle_datagram(
            Instant::ZERO,
            from,
            &reply(xid, MAC, Some(MessageType::Nak), Ipv4Addr::UNSPECIFIED, &[]),
        );
        if round < MAX_RESTARTS {
            assert_ne!(c.xid(), xid);
            assert!(!c.is_done());
        }
    }
    assert!(c.is_done());
    let events: Vec<bool> =
        core::iter::from_fn(|| c.poll_event().map(|e| matches!(e, Event::Refused))).collect();
    assert_eq!(events.last(), Some(&true));
}

/// RFC 2131 §3.1 step 5, §4.4.1: a DHCPREQUEST that gets neither DHCPACK
/// nor DHCPNAK after the retransmissions sends the client back to INIT; it
/// gives up only once the restarts are used up.
#[test]
fn an_unanswered_request_starts_again_from_discover() {
    let mut s = server(Vec::new());
    let mut cfg = config(true);
    cfg.attempts = 3;
    let mut c = Client::new(cfg.clone(), Instant::ZERO).unwrap();
    // The first DISCOVER is answered; all three REQUESTs are lost; then
    // everything goes through.
    let sent = run(&mut c, &mut s, |n| (2..=4).contains(&n));
    let kinds: Vec<_> = sent
        .iter()
        .map(|(_, b)| Message::new_checked(b).unwrap().message_type().unwrap())
        .collect();
    use MessageType::{Discover, Request};
    assert_eq!(
        kinds,
        [Discover, Request, Request, Request, Discover, Request]
    );
    let xid = |i: usize| Packet::new_unchecked(&sent[i].1[..]).xid();
    assert_eq!(xid(1), xid(3), "one exchange keeps its xid");
    assert_ne!(xid(3), xid(4), "a fresh exchange after the restart");
    // secs counts from the restart.
    assert_eq!(Packet::new_unchecked(&sent[4].1[..]).secs(), 0);
    assert_eq!(c.assignment().unwrap().ip, Ipv4Addr::new(10, 0, 0, 100));
    let events: Vec<_> = core::iter::from_fn(|| {
        c.poll_event().map(|e| match e {
            Event::Offered { .. } => "offered",
            Event::Unanswered { .. } => "unanswered",
            Event::Assigned(_) => "assigned",
            _ => "other",
        })
    })
    .collect();
    assert_eq!(events, ["offered", "unanswered", "offered", "assigned"]);

    // A server that offers and never acknowledges: MAX_RESTARTS restarts,
    // then a time-out.
    let mut c = Client::new(cfg, Instant::ZERO).unwrap();
    let mut s = server(Vec::new());
    // Each round: the DISCOVER gets through, its three REQUESTs are lost.
    let sent = run(&mut c, &mut s, |n| n % 4 != 1);
    assert!(c.is_done() && c.assignment().is_none());
    assert_eq!(
        sent.len(),
        4 * (MAX_RESTARTS as usize + 1),
        "DISCOVER + 3 REQUESTs per round"
    );
    let mut last = None;
    while let Some(e) = c.poll_event() {
        last = Some(matches!(e, Event::TimedOut { attempts: 3 }));
    }
    assert_eq!(last, Some(true));
}

#[test]
fn bad_configurations_are_refused() {
    let mut c = config(true);
    c.attempts = 0;
    assert_eq!(
        Client::new(c, Instant::ZERO).err(),
        Some(ClientError::NoAttempts)
    );
    let mut c = config(true);
    c.initial_timeout = Duration::ZERO;
    assert_eq!(
        Client::new(c, Instant::ZERO).err(),
        Some(ClientError::ZeroTimeout)
    );
}

#[test]
fn extra_options_go_out_in_every_request_and_fill_up_to_the_limit() {
    let mut s = server(Vec::new());
    let mut cfg = config(true);
    cfg.vendor_class.extend_from_slice(&[b'v'; 64]).unwrap();
    cfg.push_option(options::CLIENT_ARCH, &[0, 7]).unwrap();
    cfg.push_option(options::USER_CLASS, b"iPXE").unwrap();
    // Fill the rest: the longest request still fits its options buffer.
    let left = MAX_OPTIONS - cfg.options.len() - 2;
    cfg.push_option(options::IPXE, &std::vec![1; left]).unwrap();
    assert_eq!(cfg.options.len(), MAX_OPTIONS);
    assert_eq!(cfg.push_option(options::HOSTNAME, b""), Err(OptionsFull));
    let mut c = Client::new(cfg, Instant::ZERO).unwrap();
    let sent = run(&mut c, &mut s, |_| false);
    // DISCOVER and REQUEST (which carries the most options) alike.
    assert_eq!(sent.len(), 2);
    for (_, bytes) in &sent {
        let m = Message::new_checked(bytes).unwrap();
        assert_eq!(m.client_arch(), Some(7));
        assert_eq!(m.get(options::USER_CLASS).as_deref(), Some(&b"iPXE"[..]));
        assert_eq!(m.get(options::IPXE).map(|v| v.len()), Some(left));
        assert_eq!(m.vendor_class().map(|v| v.len()), Some(64));
    }
    assert!(c.assignment().is_some());
}
