use std::vec::Vec;

use super::*;
use crate::bootp::leasefile;
use crate::bootp::policy::{BootDecision, BootPolicy, BootRequest};
use crate::wire::bootp::options::{self, OptionsWriter};
use crate::wire::bootp::{FLAG_BROADCAST, MIN_LEN, ParseError, Repr, Vend};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, last)
}

fn mac(n: u8) -> [u8; 6] {
    [0x52, 0x54, 0, 0, 0, n]
}

fn config() -> ServerConfig {
    let mut c = ServerConfig::new(SERVER, Ipv4Addr::new(255, 255, 255, 0));
    c.net.router = Some(ROUTER);
    c.net.pool = Some((ip(100), ip(103)));
    c.file.push_str("default.0").unwrap();
    c
}

fn host(n: u8, last: u8, file: &str) -> Host {
    let mut h = Host::new(HwAddr::ethernet(mac(n)));
    h.ip = Some(ip(last));
    h.set_file(file).unwrap();
    h.set_hostname("node").unwrap();
    h
}

type TestServer<P = DefaultPolicy> = Server<Vec<Host>, Vec<LeaseSlot>, P>;

fn server(c: ServerConfig, hosts: Vec<Host>) -> TestServer {
    Server::new(c, hosts, std::vec![LeaseSlot::EMPTY; 4]).unwrap()
}

#[derive(Clone)]
struct Req {
    kind: Option<MessageType>,
    mac: [u8; 6],
    xid: u32,
    ciaddr: Ipv4Addr,
    giaddr: Ipv4Addr,
    hops: u8,
    flags: u16,
    file: &'static [u8],
    cookie: bool,
    vend: [u8; 4],
    opts: Vec<(u8, Vec<u8>)>,
}

impl Req {
    fn new(kind: Option<MessageType>, n: u8) -> Req {
        Req {
            kind,
            mac: mac(n),
            xid: 0x1000 + u32::from(n),
            ciaddr: Ipv4Addr::UNSPECIFIED,
            giaddr: Ipv4Addr::UNSPECIFIED,
            hops: 0,
            flags: 0,
            file: b"",
            cookie: true,
            vend: [0; 4],
            opts: Vec::new(),
        }
    }
    fn dhcp(kind: MessageType, n: u8) -> Req {
        Req::new(Some(kind), n)
    }
    fn opt(mut self, code: u8, value: &[u8]) -> Req {
        self.opts.push((code, value.to_vec()));
        self
    }
    fn bytes(&self) -> Vec<u8> {
        let mut encoded = [0u8; 1200];
        let mut w = OptionsWriter::new(&mut encoded);
        if let Some(kind) = self.kind {
            w.message_type(kind).unwrap();
        }
        for (code, value) in &self.opts {
            w.push(*code, value).unwrap();
        }
        let n = w.finish().unwrap();
        let mut repr = Repr::new(Op::Request, self.xid, self.mac);
        repr.ciaddr = self.ciaddr;
        repr.giaddr = self.giaddr;
        repr.hops = self.hops;
        repr.flags = self.flags;
        repr.file = self.file;
        repr.vend = if self.cookie {
            Vend::Options(&encoded[..n])
        } else {
            Vend::Raw(&self.vend)
        };
        let mut buf = std::vec![0u8; 1500];
        let len = repr.emit(&mut buf).unwrap();
        buf.truncate(len);
        buf
    }
}

fn from68() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 68))
}

/// Feeds `req` and returns the one reply, if any.
fn ask<P: BootPolicy>(
    s: &mut TestServer<P>,
    now: Instant,
    req: &Req,
) -> Option<(Transmit, Vec<u8>)> {
    ask_from(s, now, req, from68())
}

fn ask_from<P: BootPolicy>(
    s: &mut TestServer<P>,
    now: Instant,
    req: &Req,
    from: SocketAddr,
) -> Option<(Transmit, Vec<u8>)> {
    s.handle_datagram(now, from, &req.bytes());
    let mut buf = [0u8; 1500];
    let t = s.poll_transmit(now, &mut buf)?;
    assert!(
        s.poll_transmit(now, &mut buf).is_none(),
        "one reply per request"
    );
    Some((t, buf[..t.len].to_vec()))
}

fn events<P: BootPolicy>(s: &mut TestServer<P>) -> Vec<Event> {
    core::iter::from_fn(|| s.poll_event()).collect()
}

fn bcast(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::BROADCAST, port))
}

/// DISCOVER → OFFER → REQUEST → ACK, returning the ACK.
fn dora<P: BootPolicy>(s: &mut TestServer<P>, now: Instant, n: u8) -> Vec<u8> {
    let (_, offer) = ask(s, now, &Req::dhcp(MessageType::Discover, n)).unwrap();
    let offered = Message::new_checked(&offer).unwrap().packet().yiaddr();
    let req = Req::dhcp(MessageType::Request, n)
        .opt(options::SERVER_ID, &SERVER.octets())
        .opt(options::REQUESTED_IP, &offered.octets());
    ask(s, now, &req).unwrap().1
}

#[test]
fn discover_gets_an_offer_with_every_field_rfc_2131_table_3_asks_for() {
    let mut s = server(config(), Vec::new());
    let now = Instant::from_secs(10);
    let req = Req::dhcp(MessageType::Discover, 1);
    let (t, bytes) = ask(&mut s, now, &req).unwrap();
    assert_eq!(t.destination, bcast(68));
    assert!(t.broadcast);
    assert!(bytes.len() >= MIN_LEN);
    let m = Message::new_checked(&bytes).unwrap();
    let p = m.packet();
    assert_eq!(p.op(), Op::Reply);
    assert_eq!(p.xid(), req.xid);
    assert_eq!(p.client_hw_addr(), &mac(1));
    assert_eq!(p.yiaddr(), ip(100));
    assert_eq!(p.siaddr(), SERVER);
    assert_eq!(p.ciaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.file(), b"default.0");
    assert_eq!(m.message_type(), Some(MessageType::Offer));
    assert_eq!(m.server_id(), Some(SERVER));
    assert_eq!(m.lease_time(), Some(3600));
    assert_eq!(m.renewal_time(), Some(1800));
    assert_eq!(m.rebinding_time(), Some(3150));
    assert_eq!(m.subnet_mask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(m.router(), Some(ROUTER));
    assert_eq!(m.broadcast_address(), Some(ip(255)));
    // Not asked for in option 55: no 66/67, no 60.
    assert!(!m.has(options::TFTP_SERVER_NAME));
    assert!(!m.has(options::BOOTFILE_NAME));
    assert!(!m.has(options::VENDOR_CLASS));
    assert_eq!(
        events(&mut s),
        [Event::Offered {
            hw: HwAddr::ethernet(mac(1)),
            ip: ip(100),
            file: "default.0".try_into().unwrap()
        }]
    );
    // Offers are not persisted.
    assert_eq!(s.leases().count(), 0);
}

#[test]
fn full_exchange_binds_and_reports_the_lease() {
    let mut s = server(config(), Vec::new());
    let now = Instant::from_secs(10);
    let ack = dora(&mut s, now, 1);
    let m = Message::new_checked(&ack).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Ack));
    assert_eq!(m.packet().yiaddr(), ip(100));
    let ev = events(&mut s);
    assert!(ev.contains(&Event::LeasesChanged));
    assert!(
        ev.iter()
            .any(|e| matches!(e, Event::Acked { ip: a, lease: 3600, .. } if *a == ip(100)))
    );
    let leases: Vec<Lease> = s.leases().collect();
    assert_eq!(leases.len(), 1);
    assert_eq!(leases[0].state, LeaseState::Bound);
    assert_eq!(leases[0].expires, now + Duration::from_secs(3600));
    assert_eq!(s.hw_for_ip(ip(100)), Some(HwAddr::ethernet(mac(1))));
    assert_eq!(s.ip_for_hw(&HwAddr::ethernet(mac(1))), Some(ip(100)));
    // A retransmitted DISCOVER from a bound client keeps its address.
    let (_, again) = ask(&mut s, now, &Req::dhcp(MessageType::Discover, 1)).unwrap();
    assert_eq!(
        Message::new_checked(&again).unwrap().packet().yiaddr(),
        ip(100)
    );
    assert_eq!(s.leases().next().unwrap().state, LeaseState::Bound);
}

#[test]
fn boot_options_only_when_asked_and_pxe_echo_only_with_option_43() {
    let mut s = server(config(), Vec::new());
    let req = Req::dhcp(MessageType::Discover, 1)
        .opt(options::PARAMETER_LIST, &[1, 3, 66, 67])
        .opt(options::VENDOR_CLASS, b"PXEClient:Arch:00000:UNDI:002001");
    let (_, bytes) = ask(&mut s, Instant::ZERO, &req).unwrap();
    let m = Message::new_checked(&bytes).unwrap();
    assert_eq!(m.tftp_server_name().as_deref(), Some(&b"10.0.0.1"[..]));
    assert_eq!(m.bootfile_name().as_deref(), Some(&b"default.0"[..]));
    assert_eq!(m.file(), b"default.0");
    assert!(
        !m.has(options::VENDOR_CLASS),
        "no 43 configured, no PXEClient echo"
    );

    let mut c = config();
    c.vendor_specific
        .extend_from_slice(&[6, 1, 8, 255])
        .unwrap();
    let mut s = server(c, Vec::new());
    let (_, bytes) = ask(&mut s, Instant::ZERO, &req).unwrap();
    let m = Message::new_checked(&bytes).unwrap();
    assert_eq!(m.vendor_class().as_deref(), Some(&b"PXEClient"[..]));
    assert_eq!(m.vendor_specific().as_deref(), Some(&[6, 1, 8, 255][..]));
    // A client that is not PXE gets 43 but no PXEClient.
    let (_, bytes) = ask(&mut s, Instant::ZERO, &Req::dhcp(MessageType::Discover, 2)).unwrap();
    assert!(
        !Message::new_checked(&bytes)
            .unwrap()
            .has(options::VENDOR_CLASS)
    );
}

#[test]
fn http_boot_clients_get_httpclient_echoed_in_offer_and_ack() {
    let mut s = server(config(), Vec::new());
    let class = b"HTTPClient:Arch:00016:UNDI:003001";
    let discover = Req::dhcp(MessageType::Discover, 1).opt(options::VENDOR_CLASS, class);
    let (_, bytes) = ask(&mut s, Instant::ZERO, &discover).unwrap();
    let offer = Message::new_checked(&bytes).unwrap();
    assert_eq!(offer.message_type(), Some(MessageType::Offer));
    assert_eq!(offer.vendor_class().as_deref(), Some(&b"HTTPClient"[..]));
    let request = Req::dhcp(MessageType::Request, 1)
        .opt(options::VENDOR_CLASS, class)
        .opt(options::REQUESTED_IP, &offer.packet().yiaddr().octets())
        .opt(options::SERVER_ID, &[10, 0, 0, 1]);
    let (_, bytes) = ask(&mut s, Instant::ZERO, &request).unwrap();
    let ack = Message::new_checked(&bytes).unwrap();
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    assert_eq!(ack.vendor_class().as_deref(), Some(&b"HTTPClient"[..]));
}

#[test]
fn plain_bootp_from_the_host_table_with_cookie() {
    let mut s = server(config(), std::vec![host(7, 50, "/tftpboot/node7.img")]);
    let mut req = Req::new(None, 7);
    req.flags = FLAG_BROADCAST;
    let (t, bytes) = ask(&mut s, Instant::ZERO, &req).unwrap();
    assert_eq!(t.destination, bcast(68));
    assert_eq!(bytes.len(), MIN_LEN, "padded to the RFC 951 size");
    let m = Message::new_checked(&bytes).unwrap();
    assert_eq!(m.packet().yiaddr(), ip(50));
    assert_eq!(m.packet().siaddr(), SERVER);
    assert_eq!(m.packet().flags(), FLAG_BROADCAST);
    assert_eq!(m.file(), b"/tftpboot/node7.img");
    assert!(m.packet().has_cookie());
    assert_eq!(m.message_type(), None, "BOOTP replies carry no DHCP type");
    assert_eq!(m.lease_time(), None);
    assert_eq!(m.server_id(), None);
    assert_eq!(m.subnet_mask(), Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(m.hostname().as_deref(), Some(&b"node"[..]));
    // The file name is zero-terminated in its field.
    assert_eq!(bytes[108 + 19], 0);
    assert!(
        events(&mut s)
            .iter()
            .any(|e| matches!(e, Event::BootpReplied { .. }))
    );
    // Fixed addresses are not leases.
    assert_eq!(s.leases().count(), 0);
    assert_eq!(s.hw_for_ip(ip(50)), Some(HwAddr::ethernet(mac(7))));
}

#[test]
fn plain_bootp_without_cookie_echoes_the_vendor_magic() {
    let mut s = server(config(), std::vec![host(7, 50, "boot")]);
    let mut req = Req::new(None, 7);
    req.cookie = false;
    req.vend = *b"CMU\0";
    let (_, bytes) = ask(&mut s, Instant::ZERO, &req).unwrap();
    assert_eq!(bytes.len(), 300);
    assert_eq!(&bytes[236..240], b"CMU\0");
    assert!(bytes[240..].iter().all(|&b| b == 0));
    let m = Message::new_checked(&bytes).unwrap();
    assert_eq!(m.packet().yiaddr(), ip(50));
    assert_eq!(m.options().count(), 0);
}

#[test]
fn bootp_without_host_needs_bootp_dynamic() {
    let mut s = server(config(), Vec::new());
    assert!(ask(&mut s, Instant::ZERO, &Req::new(None, 3)).is_none());
    assert_eq!(
        events(&mut s),
        [Event::Ignored {
            hw: HwAddr::ethernet(mac(3)),
            reason: IgnoreReason::UnknownClient
        }]
    );
    let mut c = config();
    c.bootp_dynamic = true;
    let mut s = server(c, Vec::new());
    let (_, bytes) = ask(&mut s, Instant::ZERO, &Req::new(None, 3)).unwrap();
    assert_eq!(
        Message::new_checked(&bytes).unwrap().packet().yiaddr(),
        ip(100)
    );
    let lease = s.leases().next().unwrap();
    assert_eq!(
        (lease.state, lease.expires),
        (LeaseState::Bound, Instant::MAX)
    );
}

#[test]
fn generic_file_names_map_to_full_paths() {
    let mut c = config();
    c.aliases
        .push((
            "unix".try_into().unwrap(),
            "/tftpboot/vmunix.sun4".try_into().unwrap(),
        ))
        .unwrap();
    let mut s = server(c, std::vec![host(7, 50, "node7.img")]);
    let mut req = Req::new(None, 7);
    req.file = b"unix";
    let (_, bytes) = ask(&mut s, Instant::ZERO, &req).unwrap();
    assert_eq!(
        Message::new_checked(&bytes).unwrap().file(),
        b"/tftpboot/vmunix.sun4"
    );
    // An unknown generic name gets the host's file.
    req.file = b"other";
    let (_, bytes) = ask(&mut s, Instant::ZERO, &req).unwrap();
    assert_eq!(Message::new_checked(&bytes).unwrap().file(), b"node7.img");
}

#[test]
fn request_for_another_server_releases_our_offer_silently() {
    let mut s = server(config(), Vec::new());
    let _ = ask(&mut s, Instant::ZERO, &Req::dhcp(MessageType::Discover, 1)).unwrap();
    let req = Req::dhcp(MessageType::Request, 1)
        .opt(options::SERVER_ID, &[10, 0, 0, 2])
        .opt(options::REQUESTED_IP, &[10, 0, 0, 100]);
    assert!(ask(&mut s, Instant::ZERO, &req).is_none());
    assert!(events(&mut s).contains(&Event::Ignored {
        hw: HwAddr::ethernet(mac(1)),
        reason: IgnoreReason::OtherServer
    }));
    // The address is free for the next client... but a never-used one comes
    // first; the pool has four.
    let i = s.lease_table().index(ip(100)).unwrap();
    assert!(s.lease_table().available(i, Instant::ZERO));
}

#[test]
fn init_reboot_acks_known_and_free_addresses_and_naks_the_rest() {
    let mut s = server(config(), Vec::new());
    let now = Instant::ZERO;
    dora(&mut s, now, 1); // 10.0.0.100 to client 1
    events(&mut s);
    // Client 1 reboots and asks for its address: ACK.
    let req = Req::dhcp(MessageType::Request, 1).opt(options::REQUESTED_IP, &ip(100).octets());
    let (_, ack) = ask(&mut s, now, &req).unwrap();
    assert_eq!(
        Message::new_checked(&ack).unwrap().message_type(),
        Some(MessageType::Ack)
    );
    // Client 2 asks for client 1's address: NAK, broadcast.
    let req = Req::dhcp(MessageType::Request, 2).opt(options::REQUESTED_IP, &ip(100).octets());
    let (t, nak) = ask(&mut s, now, &req).unwrap();
    let m = Message::new_checked(&nak).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Nak));
    assert_eq!(m.packet().yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.packet().siaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.file(), b"");
    assert_eq!(m.server_id(), Some(SERVER));
    assert!(m.get(options::MESSAGE).is_some());
    assert_eq!(t.destination, bcast(68));
    // Wrong network: NAK.
    let req = Req::dhcp(MessageType::Request, 3).opt(options::REQUESTED_IP, &[192, 168, 1, 5]);
    let (_, nak) = ask(&mut s, now, &req).unwrap();
    assert_eq!(
        Message::new_checked(&nak).unwrap().message_type(),
        Some(MessageType::Nak)
    );
    // A free pool address we have no record of: ACK (authoritative).
    let req = Req::dhcp(MessageType::Request, 3).opt(options::REQUESTED_IP, &ip(102).octets());
    let (_, ack) = ask(&mut s, now, &req).unwrap();
    assert_eq!(
        Message::new_checked(&ack).unwrap().packet().yiaddr(),
        ip(102)
    );
    // Inside the subnet, outside the pool: NAK.
    let req = Req::dhcp(MessageType::Request, 4).opt(options::REQUESTED_IP, &ip(20).octets());
    let (_, nak) = ask(&mut s, now, &req).unwrap();
    assert_eq!(
        Message::new_checked(&nak).unwrap().message_type(),
        Some(MessageType::Nak)
    );
}

#[test]
fn non_authoritative_server_stays_silent_about_unknown_addresses() {
    let mut c = config();
    c.authoritative = false;
    let mut s = server(c, Vec::new());
    let req = Req::dhcp(MessageType::Request, 3).opt(options::REQUESTED_IP, &ip(102).octets());
    assert!(ask(&mut s, Instant::ZERO, &req).is_none());
}

#[test]
fn renewing_is_unicast_to_ciaddr_and_extends_the_lease() {
    let mut s = server(config(), Vec::new());
    dora(&mut s, Instant::ZERO, 1);
    let later = Instant::from_secs(1800);
    let mut req = Req::dhcp(MessageType::Request, 1);
    req.ciaddr = ip(100);
    let (t, ack) = ask(&mut s, later, &req).unwrap();
    assert_eq!(t.destination, SocketAddr::from((ip(100), 68)));
    assert!(!t.broadcast);
    let m = Message::new_checked(&ack).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Ack));
    assert_eq!(m.packet().ciaddr(), ip(100));
    assert_eq!(m.packet().yiaddr(), ip(100));
    assert_eq!(
        s.leases().next().unwrap().expires,
        later + Duration::from_secs(3600)
    );
    // Renewing an address that is someone else's: NAK.
    let mut req = Req::dhcp(MessageType::Request, 2);
    req.ciaddr = ip(100);
    let (_, nak) = ask(&mut s, later, &req).unwrap();
    assert_eq!(
        Message::new_checked(&nak).unwrap().message_type(),
        Some(MessageType::Nak)
    );
}

#[test]
fn release_keeps_the_address_for_the_same_client() {
    let mut s = server(config(), Vec::new());
    dora(&mut s, Instant::ZERO, 1);
    events(&mut s);
    let mut req = Req::dhcp(MessageType::Release, 1).opt(options::SERVER_ID, &SERVER.octets());
    req.ciaddr = ip(100);
    assert!(ask(&mut s, Instant::ZERO, &req).is_none());
    assert_eq!(
        events(&mut s),
        [
            Event::Released {
                hw: HwAddr::ethernet(mac(1)),
                ip: ip(100)
            },
            Event::LeasesChanged
        ]
    );
    assert_eq!(s.leases().next().unwrap().state, LeaseState::Released);
    assert_eq!(s.ip_for_hw(&HwAddr::ethernet(mac(1))), None);
    let (_, offer) = ask(&mut s, Instant::ZERO, &Req::dhcp(MessageType::Discover, 1)).unwrap();
    assert_eq!(
        Message::new_checked(&offer).unwrap().packet().yiaddr(),
        ip(100)
    );
}

#[test]
fn decline_quarantines_the_address() {
    let mut c = config();
    c.decline_hold = 60;
    let mut s = server(c, Vec::new());
    dora(&mut s, Instant::ZERO, 1);
    let req = Req::dhcp(MessageType::Decline, 1)
        .opt(options::SERVER_ID, &SERVER.octets())
        .opt(options::REQUESTED_IP, &ip(100).octets());
    assert!(ask(&mut s, Instant::ZERO, &req).is_none());
    assert!(events(&mut s).contains(&Event::Declined {
        hw: HwAddr::ethernet(mac(1)),
        ip: ip(100)
    }));
    let lease = s.leases().next().unwrap();
    assert_eq!(lease.state, LeaseState::Declined);
    // The same client now gets another address.
    let (_, offer) = ask(&mut s, Instant::ZERO, &Req::dhcp(MessageType::Discover, 1)).unwrap();
    assert_eq!(
        Message::new_checked(&offer).unwrap().packet().yiaddr(),
        ip(101)
    );
    // After the hold it can be handed out again: fill the rest of the pool.
    let t = Instant::from_secs(61);
    for n in 2..=4 {
        dora(&mut s, t, n);
    }
    let got: Vec<Ipv4Addr> = s
        .leases()
        .filter(|l| l.state == LeaseState::Bound)
        .map(|l| l.ip)
        .collect();
    assert!(got.contains(&ip(100)), "{got:?}");
}

#[test]
fn inform_gets_configuration_without_a_lease() {
    let mut s = server(config(), Vec::new());
    let mut req = Req::dhcp(MessageType::Inform, 9);
    req.ciaddr = ip(40);
    let (t, bytes) = ask(&mut s, Instant::ZERO, &req).unwrap();
    assert_eq!(t.destination, SocketAddr::from((ip(40), 68)));
    let m = Message::new_checked(&bytes).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Ack));
    assert_eq!(m.packet().yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.packet().ciaddr(), ip(40));
    assert_eq!(m.lease_time(), None);
    assert_eq!(m.router(), Some(ROUTER));
    assert_eq!(s.leases().count(), 0);
}

#[test]
fn relayed_requests_go_back_to_the_relay() {
    let mut s = server(config(), Vec::new());
    let relay = ip(2);
    let mut req = Req::dhcp(MessageType::Discover, 1);
    req.giaddr = relay;
    req.hops = 1;
    let (t, bytes) = ask_from(&mut s, Instant::ZERO, &req, SocketAddr::from((relay, 67))).unwrap();
    assert_eq!(t.destination, SocketAddr::from((relay, 67)));
    assert!(!t.broadcast);
    assert_eq!(
        Message::new_checked(&bytes).unwrap().packet().giaddr(),
        relay
    );
    // A NAK through a relay sets the broadcast bit for it.
    let mut req = Req::dhcp(MessageType::Request, 1).opt(options::REQUESTED_IP, &[192, 168, 0, 9]);
    req.giaddr = relay;
    let (_, nak) = ask(&mut s, Instant::ZERO, &req).unwrap();
    assert!(Message::new_checked(&nak).unwrap().packet().broadcast());
    // Too many hops: dropped.
    let mut req = Req::dhcp(MessageType::Discover, 1);
    req.giaddr = relay;
    req.hops = 17;
    assert!(ask(&mut s, Instant::ZERO, &req).is_none());
    // A relay on another subnet gets no pool address.
    let mut req = Req::dhcp(MessageType::Discover, 5);
    req.giaddr = Ipv4Addr::new(192, 168, 7, 1);
    assert!(ask(&mut s, Instant::ZERO, &req).is_none());
}

#[test]
fn replies_go_to_the_port_the_request_came_from() {
    let mut s = server(config(), Vec::new());
    let unconfigured = SocketAddr::from(([0, 0, 0, 0], 16800));
    let (t, _) = ask_from(
        &mut s,
        Instant::ZERO,
        &Req::dhcp(MessageType::Discover, 1),
        unconfigured,
    )
    .unwrap();
    assert_eq!(t.destination, bcast(16800));
    // A client with an address of its own (here on loopback) gets a unicast.
    let loopback = SocketAddr::from(([127, 0, 0, 1], 16801));
    let (t, _) = ask_from(
        &mut s,
        Instant::ZERO,
        &Req::dhcp(MessageType::Discover, 2),
        loopback,
    )
    .unwrap();
    assert_eq!(t.destination, loopback);
    assert!(!t.broadcast);
}

struct Stages {
    served: Vec<HwAddr>,
}

impl BootPolicy for Stages {
    fn decide(&mut self, _now: Instant, request: &BootRequest<'_>) -> BootDecision {
        assert_eq!(request.default.file, "default.0");
        if self.served.contains(&request.hw) {
            BootDecision::Silent
        } else {
            BootDecision::Boot {
                next_server: Ipv4Addr::new(10, 0, 0, 9),
                file: "stage1.bin".try_into().unwrap(),
                options: Default::default(),
            }
        }
    }
}

#[test]
fn the_policy_overrides_the_boot_assignment_or_silences_the_server() {
    let mut s: TestServer<Stages> = Server::with_policy(
        config(),
        Vec::new(),
        std::vec![LeaseSlot::EMPTY; 4],
        Stages { served: Vec::new() },
    )
    .unwrap();
    let ack = dora(&mut s, Instant::ZERO, 1);
    let m = Message::new_checked(&ack).unwrap();
    assert_eq!(m.file(), b"stage1.bin");
    assert_eq!(m.packet().siaddr(), Ipv4Addr::new(10, 0, 0, 9));
    s.policy_mut().served.push(HwAddr::ethernet(mac(1)));
    events(&mut s);
    assert!(ask(&mut s, Instant::ZERO, &Req::dhcp(MessageType::Discover, 1)).is_none());
    assert_eq!(
        events(&mut s),
        [Event::Silenced {
            hw: HwAddr::ethernet(mac(1))
        }]
    );
}

#[test]
fn leases_survive_a_restart_through_the_lease_file() {
    let mut s = server(config(), Vec::new());
    let now = Instant::from_secs(100);
    dora(&mut s, now, 1);
    dora(&mut s, now, 2);
    let mut file = std::string::String::new();
    for lease in s.leases() {
        leasefile::write_lease(&mut file, &lease, now, 1_700_000_000).unwrap();
    }
    // A new process: its clock starts again at zero, 50 s later in real time.
    let mut s = server(config(), Vec::new());
    let restart = Instant::ZERO;
    for line in file.lines() {
        let lease = leasefile::parse_lease(line, restart, 1_700_000_050)
            .unwrap()
            .unwrap();
        assert!(s.restore(&lease));
    }
    let leases: Vec<Lease> = s.leases().collect();
    assert_eq!(leases.len(), 2);
    assert_eq!(leases[0].expires, Instant::from_secs(3550));
    // Client 2 keeps its address; client 3 cannot take it.
    let req = Req::dhcp(MessageType::Request, 2).opt(options::REQUESTED_IP, &ip(101).octets());
    let (_, ack) = ask(&mut s, restart, &req).unwrap();
    assert_eq!(
        Message::new_checked(&ack).unwrap().message_type(),
        Some(MessageType::Ack)
    );
    let req = Req::dhcp(MessageType::Request, 3).opt(options::REQUESTED_IP, &ip(101).octets());
    let (_, nak) = ask(&mut s, restart, &req).unwrap();
    assert_eq!(
        Message::new_checked(&nak).unwrap().message_type(),
        Some(MessageType::Nak)
    );
    assert_eq!(s.hw_for_ip(ip(100)), Some(HwAddr::ethernet(mac(1))));
}

#[test]
fn malformed_and_foreign_datagrams_get_no_reply() {
    let mut s = server(config(), Vec::new());
    s.handle_datagram(Instant::ZERO, from68(), &[1, 2, 3]);
    let mut buf = [0u8; 1500];
    assert!(s.poll_transmit(Instant::ZERO, &mut buf).is_none());
    assert!(matches!(
        s.poll_event(),
        Some(Event::Malformed {
            error: ParseError::Truncated { len: 3 },
            ..
        })
    ));
    // A BOOTREPLY (another server's) is not a request.
    let mut reply = Req::dhcp(MessageType::Offer, 1).bytes();
    reply[0] = 2;
    s.handle_datagram(Instant::ZERO, from68(), &reply);
    assert!(s.poll_transmit(Instant::ZERO, &mut buf).is_none());
    // A client sending an OFFER is ignored too.
    assert!(ask(&mut s, Instant::ZERO, &Req::dhcp(MessageType::Offer, 1)).is_none());
}

#[test]
fn an_exhausted_pool_offers_nothing() {
    let mut s = server(config(), Vec::new());
    for n in 1..=4 {
        dora(&mut s, Instant::ZERO, n);
    }
    events(&mut s);
    assert!(ask(&mut s, Instant::ZERO, &Req::dhcp(MessageType::Discover, 5)).is_none());
    assert_eq!(
        events(&mut s),
        [Event::Ignored {
            hw: HwAddr::ethernet(mac(5)),
            reason: IgnoreReason::PoolExhausted
        }]
    );
}

#[test]
fn router_and_server_addresses_are_never_offered() {
    let mut c = config();
    c.net.pool = Some((ip(1), ip(4)));
    c.net.router = Some(ip(2));
    let mut s = Server::new(c, Vec::new(), std::vec![LeaseSlot::EMPTY; 4]).unwrap();
    let mut got = Vec::new();
    for n in 1..=2 {
        let ack = dora(&mut s, Instant::ZERO, n);
        got.push(Message::new_checked(&ack).unwrap().packet().yiaddr());
    }
    assert_eq!(got, [ip(3), ip(4)]);
    assert!(ask(&mut s, Instant::ZERO, &Req::dhcp(MessageType::Discover, 3)).is_none());
    assert_eq!(s.leases().count(), 2);
}

#[test]
fn bad_configurations_are_refused_with_the_reason() {
    let new = |c: ServerConfig, hosts: Vec<Host>| {
        Server::new(c, hosts, std::vec![LeaseSlot::EMPTY; 4]).err()
    };
    assert_eq!(
        new(config(), std::vec![host(1, 10, ""), host(1, 11, "")]),
        Some(ConfigError::DuplicateHw {
            first: 0,
            second: 1,
            hw: HwAddr::ethernet(mac(1))
        })
    );
    assert_eq!(
        new(config(), std::vec![host(1, 10, ""), host(2, 10, "")]),
        Some(ConfigError::DuplicateIp {
            first: 0,
            second: 1,
            ip: ip(10)
        })
    );
    let mut outside = host(3, 10, "");
    outside.ip = Some(Ipv4Addr::new(10, 0, 1, 10));
    assert!(matches!(
        new(config(), std::vec![outside]),
        Some(ConfigError::HostOutsideSubnet { index: 0, .. })
    ));
    let mut c = config();
    c.net.pool = Some((ip(103), ip(100)));
    assert!(matches!(
        new(c, Vec::new()),
        Some(ConfigError::PoolReversed { .. })
    ));
    let mut c = config();
    c.net.pool = Some((ip(100), ip(255)));
    assert_eq!(
        new(c, Vec::new()),
        Some(ConfigError::PoolOutsideSubnet(ip(255)))
    );
    let mut c = config();
    c.net.pool = Some((ip(100), ip(110)));
    assert!(matches!(
        new(c, Vec::new()),
        Some(ConfigError::LeaseStorage(_))
    ));
    let mut c = config();
    c.net.netmask = Ipv4Addr::new(255, 0, 255, 0);
    assert!(matches!(
        new(c, Vec::new()),
        Some(ConfigError::BadNetmask(_))
    ));
}

#[test]
fn options_beyond_the_client_maximum_are_left_out() {
    let mut h = host(7, 50, "f");
    for code in 200..=209 {
        h.push_option(code, &[0xAB; 20]).unwrap();
    }
    let mut c = config();
    c.vendor_specific.extend_from_slice(&[0x55; 200]).unwrap();
    let mut s = server(c, std::vec![h]);
    let (_, bytes) = ask(&mut s, Instant::ZERO, &Req::dhcp(MessageType::Discover, 7)).unwrap();
    assert!(bytes.len() <= 576 - 28, "{}", bytes.len());
    let m = Message::new_checked(&bytes).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Offer));
    assert!(m.has(options::VENDOR_SPECIFIC));
    assert!(!m.has(200), "the host's options do not fit in 576 bytes");
    let req =
        Req::dhcp(MessageType::Discover, 7).opt(options::MAX_MESSAGE_SIZE, &1500u16.to_be_bytes());
    let (_, bytes) = ask(&mut s, Instant::ZERO, &req).unwrap();
    assert!(Message::new_checked(&bytes).unwrap().has(209));
}

#[test]
fn client_identifier_keys_the_lease() {
    let mut s = server(config(), Vec::new());
    let d = Req::dhcp(MessageType::Discover, 1).opt(options::CLIENT_ID, b"\x01board-a");
    let (_, offer) = ask(&mut s, Instant::ZERO, &d).unwrap();
    assert_eq!(
        Message::new_checked(&offer).unwrap().packet().yiaddr(),
        ip(100)
    );
    // Same identifier, different NIC: same address.
    let mut d2 = d.clone();
    d2.mac = mac(9);
    let (_, offer) = ask(&mut s, Instant::ZERO, &d2).unwrap();
    assert_eq!(
        Message::new_checked(&offer).unwrap().packet().yiaddr(),
        ip(100)
    );
}

#[test]
fn held_acks_leave_only_once_their_lease_is_saved_and_offers_never_wait() {
    let mut s = server(config(), Vec::new());
    s.hold_until_saved(true);
    let now = Instant::from_secs(1);
    let mut buf = [0u8; 1500];
    // An offer changes nothing worth saving: it leaves at once.
    let (_, offer) = ask(&mut s, now, &Req::dhcp(MessageType::Discover, 1)).unwrap();
    let offered = Message::new_checked(&offer).unwrap().packet().yiaddr();
    assert_eq!(s.state_version(), 0);
    let req = Req::dhcp(MessageType::Request, 1)
        .opt(options::SERVER_ID, &SERVER.octets())
        .opt(options::REQUESTED_IP, &offered.octets());
    s.handle_datagram(now, from68(), &req.bytes());
    assert!(events(&mut s).contains(&Event::LeasesChanged));
    assert!(s.poll_transmit(now, &mut buf).is_none(), "the ACK waits");
    assert_eq!((s.held(), s.state_version()), (1, 1));
    // Another client's offer passes the held ACK.
    let (_, offer2) = ask(&mut s, now, &Req::dhcp(MessageType::Discover, 2)).unwrap();
    assert_eq!(
        Message::new_checked(&offer2).unwrap().message_type(),
        Some(MessageType::Offer)
    );
    // A retransmitted REQUEST renews the lease (a new expiry to save): its
    // ACK waits for that later version.
    s.handle_datagram(now, from68(), &req.bytes());
    assert!(s.poll_transmit(now, &mut buf).is_none());
    assert_eq!((s.held(), s.state_version()), (2, 2));
    s.saved_through(0);
    assert!(s.poll_transmit(now, &mut buf).is_none());
    for version in [1, 2] {
        s.saved_through(version);
        let t = s.poll_transmit(now, &mut buf).unwrap();
        let ack = Message::new_checked(&buf[..t.len]).unwrap();
        assert_eq!(ack.message_type(), Some(MessageType::Ack));
        assert_eq!(ack.packet().yiaddr(), offered);
        assert!(s.poll_transmit(now, &mut buf).is_none());
    }
    // Another change (the plan's progress, say) holds the next ACK again.
    s.note_state_change();
    s.handle_datagram(now, from68(), &req.bytes());
    assert!(s.poll_transmit(now, &mut buf).is_none());
    // A version not reached yet is not taken as saved.
    s.saved_through(99);
    assert!(s.poll_transmit(now, &mut buf).is_some());
    assert_eq!(s.held(), 0);
}

#[test]
fn without_holding_every_reply_leaves_at_once() {
    let mut s = server(config(), Vec::new());
    let ack = dora(&mut s, Instant::from_secs(1), 1);
    assert_eq!(
        Message::new_checked(&ack).unwrap().message_type(),
        Some(MessageType::Ack)
    );
    assert_eq!(s.held(), 0);
}

fn proxy_config() -> ServerConfig {
    let mut c = ServerConfig::new(SERVER, Ipv4Addr::new(255, 255, 255, 0));
    c.proxy = true;
    c.file.push_str("pxe/undionly.kpxe").unwrap();
    c.next_server = Some(ip(2));
    c
}

const PXE_ROM: &[u8] = b"PXEClient:Arch:00000:UNDI:002001";

#[test]
fn proxy_dhcp_offers_boot_information_and_no_address_to_pxe_clients_only() {
    let mut s = server(proxy_config(), Vec::new());
    let discover = Req::dhcp(MessageType::Discover, 1)
        .opt(options::VENDOR_CLASS, PXE_ROM)
        .opt(options::PARAMETER_LIST, &[1, 3, 43, 60, 66, 67]);
    let (t, bytes) = ask(&mut s, Instant::ZERO, &discover).unwrap();
    assert_eq!(t.destination, bcast(68));
    let m = Message::new_checked(&bytes).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Offer));
    assert_eq!(m.packet().yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.packet().siaddr(), ip(2));
    assert_eq!(m.file(), b"pxe/undionly.kpxe");
    assert_eq!(m.server_id(), Some(SERVER));
    assert_eq!(m.vendor_class().as_deref(), Some(&b"PXEClient"[..]));
    assert_eq!(m.vendor_specific().as_deref(), Some(&[6, 1, 8, 255][..]));
    assert_eq!(
        m.bootfile_name().as_deref(),
        Some(&b"pxe/undionly.kpxe"[..])
    );
    // The network's DHCP server's business: no mask, router or lease.
    for code in [options::SUBNET_MASK, options::ROUTER, options::LEASE_TIME] {
        assert!(!m.has(code), "option {code} in a proxy offer");
    }
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::ProxyOffered { file, next_server, .. }]
            if file == "pxe/undionly.kpxe" && *next_server == ip(2)
    ));
    assert_eq!(s.leases().count(), 0);

    // Not a PXE client, or not a DISCOVER: silence, for the DHCP server.
    let plain = Req::dhcp(MessageType::Discover, 2);
    assert!(ask(&mut s, Instant::ZERO, &plain).is_none());
    let request = Req::dhcp(MessageType::Request, 1)
        .opt(options::VENDOR_CLASS, PXE_ROM)
        .opt(options::REQUESTED_IP, &ip(50).octets())
        .opt(options::SERVER_ID, &[10, 0, 0, 9]);
    assert!(ask(&mut s, Instant::ZERO, &request).is_none());
    let bootp = Req::new(None, 1).opt(options::VENDOR_CLASS, PXE_ROM);
    assert!(ask(&mut s, Instant::ZERO, &bootp).is_none());
    assert_eq!(
        events(&mut s),
        [
            Event::Ignored {
                hw: HwAddr::ethernet(mac(2)),
                reason: IgnoreReason::NotPxe
            },
            Event::Ignored {
                hw: HwAddr::ethernet(mac(1)),
                reason: IgnoreReason::ForDhcpServer
            },
            Event::Ignored {
                hw: HwAddr::ethernet(mac(1)),
                reason: IgnoreReason::ForDhcpServer
            },
        ]
    );
}

#[test]
fn the_boot_server_port_acks_a_pxe_client_that_has_its_address_by_unicast() {
    let mut s = server(proxy_config(), Vec::new());
    let mut req = Req::dhcp(MessageType::Request, 1).opt(options::VENDOR_CLASS, PXE_ROM);
    req.ciaddr = ip(123);
    let client = SocketAddr::from((ip(123), 68));
    s.handle_pxe_datagram(Instant::ZERO, client, &req.bytes());
    let mut buf = [0u8; 1500];
    let t = s.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!((t.destination, t.broadcast), (client, false));
    let m = Message::new_checked(&buf[..t.len]).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Ack));
    assert_eq!(m.packet().yiaddr(), Ipv4Addr::UNSPECIFIED);
    assert_eq!(m.packet().ciaddr(), ip(123));
    assert_eq!(m.file(), b"pxe/undionly.kpxe");
    assert_eq!(m.vendor_class().as_deref(), Some(&b"PXEClient"[..]));
    assert!(matches!(
        events(&mut s).as_slice(),
        [Event::ProxyAcked { ip: at, .. }] if *at == ip(123)
    ));
    // A full server answers the boot-server port the same way, and its
    // pool is untouched.
    let mut full = server(config(), Vec::new());
    full.handle_pxe_datagram(Instant::ZERO, client, &req.bytes());
    let t = full.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    let m = Message::new_checked(&buf[..t.len]).unwrap();
    assert_eq!(
        (m.message_type(), m.packet().yiaddr()),
        (Some(MessageType::Ack), Ipv4Addr::UNSPECIFIED)
    );
    assert_eq!(full.leases().count(), 0);
}

#[test]
fn a_proxy_takes_no_pool_and_is_silent_to_clients_the_policy_silences() {
    let mut c = proxy_config();
    c.net.pool = Some((ip(100), ip(103)));
    assert_eq!(
        Server::new(c, Vec::<Host>::new(), std::vec![LeaseSlot::EMPTY; 4]).err(),
        Some(ConfigError::ProxyWithPool)
    );
    struct Done;
    impl BootPolicy for Done {
        fn decide(&mut self, _: Instant, _: &BootRequest<'_>) -> BootDecision {
            BootDecision::Silent
        }
    }
    let mut s = Server::with_policy(
        proxy_config(),
        Vec::new(),
        std::vec![LeaseSlot::EMPTY; 4],
        Done,
    )
    .unwrap();
    let discover = Req::dhcp(MessageType::Discover, 1).opt(options::VENDOR_CLASS, PXE_ROM);
    assert!(ask(&mut s, Instant::ZERO, &discover).is_none());
    assert_eq!(
        events(&mut s),
        [Event::Silenced {
            hw: HwAddr::ethernet(mac(1))
        }]
    );
    // Nothing to boot at all: silent too.
    let mut c = proxy_config();
    c.file.clear();
    let mut s = server(c, Vec::new());
    assert!(ask(&mut s, Instant::ZERO, &discover).is_none());
}

fn relayed_config() -> ServerConfig {
    let mut c = config();
    let mut a = Subnet::new(Ipv4Addr::new(10, 2, 0, 0), Ipv4Addr::new(255, 255, 255, 0));
    a.net.router = Some(Ipv4Addr::new(10, 2, 0, 1));
    a.net.pool = Some((Ipv4Addr::new(10, 2, 0, 100), Ipv4Addr::new(10, 2, 0, 101)));
    a.net.lease_time = 600;
    a.net.domain.push_str("two.lab").unwrap();
    c.relayed.push(a).unwrap();
    c
}

#[test]
fn relayed_subnets_get_their_own_pool_router_and_lease_time() {
    let mut s: TestServer =
        Server::new(relayed_config(), Vec::new(), std::vec![LeaseSlot::EMPTY; 6]).unwrap();
    let relay = SocketAddr::from(([10, 2, 0, 1], 67));
    let mut discover = Req::dhcp(MessageType::Discover, 1);
    discover.giaddr = Ipv4Addr::new(10, 2, 0, 1);
    discover.hops = 1;
    let (t, bytes) = ask_from(&mut s, Instant::ZERO, &discover, relay).unwrap();
    assert_eq!(t.destination, relay);
    let m = Message::new_checked(&bytes).unwrap();
    assert_eq!(m.packet().yiaddr(), Ipv4Addr::new(10, 2, 0, 100));
    assert_eq!(m.router(), Some(Ipv4Addr::new(10, 2, 0, 1)));
    assert_eq!(m.lease_time(), Some(600));
    assert_eq!(m.domain_name().as_deref(), Some(&b"two.lab"[..]));
    assert_eq!(m.broadcast_address(), Some(Ipv4Addr::new(10, 2, 0, 255)));
    // Its server identifier is still ours, which the relay can reach.
    assert_eq!(m.server_id(), Some(SERVER));
    let mut request = Req::dhcp(MessageType::Request, 1)
        .opt(options::SERVER_ID, &SERVER.octets())
        .opt(options::REQUESTED_IP, &[10, 2, 0, 100]);
    request.giaddr = Ipv4Addr::new(10, 2, 0, 1);
    let (_, bytes) = ask_from(&mut s, Instant::ZERO, &request, relay).unwrap();
    let ack = Message::new_checked(&bytes).unwrap();
    assert_eq!(ack.message_type(), Some(MessageType::Ack));
    // The same machine on the local subnet gets a local address; asking
    // there for its relayed address is the wrong network.
    let (_, local) = ask(&mut s, Instant::ZERO, &Req::dhcp(MessageType::Discover, 1)).unwrap();
    assert_eq!(
        Message::new_checked(&local).unwrap().packet().yiaddr(),
        ip(100)
    );
    let wrong = Req::dhcp(MessageType::Request, 1).opt(options::REQUESTED_IP, &[10, 2, 0, 100]);
    let (_, nak) = ask(&mut s, Instant::ZERO, &wrong).unwrap();
    assert_eq!(
        Message::new_checked(&nak).unwrap().message_type(),
        Some(MessageType::Nak)
    );
    // A client holds one address: moving to the local subnet gave its
    // relayed one back, so the relayed pool's two addresses go to two more
    // relayed clients, and a third gets none.
    for n in 2..=4 {
        let mut d = Req::dhcp(MessageType::Discover, n);
        d.giaddr = Ipv4Addr::new(10, 2, 0, 1);
        let got = ask_from(&mut s, Instant::ZERO, &d, relay);
        assert_eq!(got.is_some(), n < 4, "client {n}");
    }
}

#[test]
fn a_subnet_nobody_configured_is_ignored_and_reported_once() {
    let mut s: TestServer =
        Server::new(relayed_config(), Vec::new(), std::vec![LeaseSlot::EMPTY; 6]).unwrap();
    let relay = SocketAddr::from(([10, 9, 0, 1], 67));
    let mut discover = Req::dhcp(MessageType::Discover, 1);
    discover.giaddr = Ipv4Addr::new(10, 9, 0, 1);
    assert!(ask_from(&mut s, Instant::ZERO, &discover, relay).is_none());
    assert!(ask_from(&mut s, Instant::ZERO, &discover, relay).is_none());
    let reported: Vec<_> = events(&mut s)
        .into_iter()
        .filter(|e| matches!(e, Event::UnknownSubnet { .. }))
        .collect();
    assert_eq!(
        reported,
        [Event::UnknownSubnet {
            relay: Ipv4Addr::new(10, 9, 0, 1)
        }]
    );
    assert_eq!(s.leases().count(), 0);
}

#[test]
fn relayed_subnets_are_checked() {
    let mut c = relayed_config();
    c.relayed[0].net.pool = Some((Ipv4Addr::new(10, 2, 0, 100), Ipv4Addr::new(10, 3, 0, 1)));
    assert_eq!(
        Server::new(c, Vec::<Host>::new(), std::vec![LeaseSlot::EMPTY; 300]).err(),
        Some(ConfigError::PoolOutsideSubnet(Ipv4Addr::new(10, 3, 0, 1)))
    );
    let mut c = relayed_config();
    c.relayed
        .push(Subnet::new(
            Ipv4Addr::new(10, 0, 0, 0),
            Ipv4Addr::new(255, 255, 0, 0),
        ))
        .unwrap();
    assert_eq!(
        Server::new(c, Vec::<Host>::new(), std::vec![LeaseSlot::EMPTY; 6]).err(),
        Some(ConfigError::SubnetOverlaps(Ipv4Addr::new(10, 0, 0, 0)))
    );
    // A host may have a fixed address on a relayed subnet.
    let h = host(5, 0, "x");
    let mut h = h;
    h.ip = Some(Ipv4Addr::new(10, 2, 0, 50));
    assert!(
        Server::new(
            relayed_config(),
            std::vec![h],
            std::vec![LeaseSlot::EMPTY; 6]
        )
        .is_ok()
    );
}

/// Boots everyone with the same extra options.
struct WithOptions(crate::bootp::extra::ExtraOptions);

impl BootPolicy for WithOptions {
    fn decide(&mut self, _now: Instant, request: &BootRequest<'_>) -> BootDecision {
        BootDecision::Boot {
            next_server: request.default.next_server,
            file: "stage1.bin".try_into().unwrap(),
            options: self.0.clone(),
        }
    }
}

/// Every option code of `m` in order, with its value.
fn option_list(m: &Message<'_>) -> Vec<(u8, Vec<u8>)> {
    m.options()
        .map(|o| o.unwrap())
        .map(|o| (o.code, o.data.to_vec()))
        .collect()
}

#[test]
fn a_profiles_extra_options_follow_the_servers_and_replace_the_same_code() {
    use crate::bootp::extra;
    let mut o = extra::ExtraOptions::new();
    extra::push(&mut o, 252, b"http://10.0.0.1/wpad.dat").unwrap();
    extra::push(&mut o, options::ROUTER, &ip(253).octets()).unwrap();
    extra::push(&mut o, options::TFTP_SERVER_NAME, b"10.0.0.9").unwrap();
    let mut c = config();
    c.bootp_dynamic = true;
    let mut s: TestServer<WithOptions> = Server::with_policy(
        c,
        Vec::new(),
        std::vec![LeaseSlot::EMPTY; 4],
        WithOptions(o),
    )
    .unwrap();
    let ack = dora(&mut s, Instant::ZERO, 1);
    let m = Message::new_checked(&ack).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Ack));
    let list = option_list(&m);
    let codes: Vec<u8> = list.iter().map(|(c, _)| *c).collect();
    // The server's own first (its router replaced), then the profile's in
    // the order given; option 66 although the client did not ask for it.
    assert_eq!(codes, [53, 54, 51, 58, 59, 1, 28, 252, 3, 66]);
    assert_eq!(m.router(), Some(ip(253)));
    assert_eq!(
        m.get(252).as_deref(),
        Some(&b"http://10.0.0.1/wpad.dat"[..])
    );
    assert_eq!(m.tftp_server_name().as_deref(), Some(&b"10.0.0.9"[..]));
    assert_eq!(m.server_id(), Some(SERVER));
    // A NAK carries none of them.
    let nak = Req::dhcp(MessageType::Request, 1)
        .opt(options::SERVER_ID, &SERVER.octets())
        .opt(options::REQUESTED_IP, &ip(50).octets());
    let (_, bytes) = ask(&mut s, Instant::ZERO, &nak).unwrap();
    let m = Message::new_checked(&bytes).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Nak));
    assert!(!m.has(252) && !m.has(options::ROUTER));
    // A plain BOOTP reply with the cookie carries them too.
    let (_, bytes) = ask(&mut s, Instant::ZERO, &Req::new(None, 2)).unwrap();
    let m = Message::new_checked(&bytes).unwrap();
    assert_eq!(m.message_type(), None);
    assert_eq!(
        m.get(252).as_deref(),
        Some(&b"http://10.0.0.1/wpad.dat"[..])
    );
    assert_eq!(m.router(), Some(ip(253)));
}

/// The server's own subnet plus a local one on interface `veth2`.
fn two_links() -> ServerConfig {
    let mut c = config();
    let mut sub = Subnet::new(Ipv4Addr::new(10, 42, 0, 0), Ipv4Addr::new(255, 255, 255, 0));
    sub.interface = Some("veth2".try_into().unwrap());
    sub.server = Some(Ipv4Addr::new(10, 42, 0, 1));
    sub.net.router = Some(Ipv4Addr::new(10, 42, 0, 254));
    sub.net.pool = Some((Ipv4Addr::new(10, 42, 0, 100), Ipv4Addr::new(10, 42, 0, 103)));
    c.relayed.push(sub).unwrap();
    c
}

/// Feeds `req` as received by the socket of local subnet `via`; the one
/// reply and the subnet whose socket it leaves through.
fn ask_on(s: &mut TestServer, via: usize, req: &Req) -> Option<(Vec<u8>, usize)> {
    s.handle_datagram_on(Instant::ZERO, via, from68(), &req.bytes());
    let mut buf = [0u8; 1500];
    let (t, _, out) = s.poll_transmit_via(Instant::ZERO, &mut buf)?;
    assert!(s.poll_transmit_via(Instant::ZERO, &mut buf).is_none());
    Some((buf[..t.len].to_vec(), out))
}

#[test]
fn a_local_request_is_served_from_the_subnet_of_the_interface_it_arrived_on() {
    let mut s = Server::new(two_links(), Vec::new(), std::vec![LeaseSlot::EMPTY; 8]).unwrap();
    let second = Ipv4Addr::new(10, 42, 0, 1);
    // On the second link's socket: its pool, router, server identifier and
    // next server, answered through the same socket.
    let (offer, via) = ask_on(&mut s, 1, &Req::dhcp(MessageType::Discover, 1)).unwrap();
    assert_eq!(via, 1);
    let m = Message::new_checked(&offer).unwrap();
    assert_eq!(m.packet().yiaddr(), Ipv4Addr::new(10, 42, 0, 100));
    assert_eq!(m.server_id(), Some(second));
    assert_eq!(m.packet().siaddr(), second);
    assert_eq!(m.router(), Some(Ipv4Addr::new(10, 42, 0, 254)));
    assert_eq!(m.broadcast_address(), Some(Ipv4Addr::new(10, 42, 0, 255)));
    let req = Req::dhcp(MessageType::Request, 1)
        .opt(options::SERVER_ID, &second.octets())
        .opt(options::REQUESTED_IP, &[10, 42, 0, 100]);
    let (ack, via) = ask_on(&mut s, 1, &req).unwrap();
    assert_eq!(via, 1);
    assert_eq!(
        Message::new_checked(&ack).unwrap().message_type(),
        Some(MessageType::Ack)
    );
    // The same client's REQUEST naming the main server's identifier is
    // another server's business on this link.
    let other = Req::dhcp(MessageType::Request, 1)
        .opt(options::SERVER_ID, &SERVER.octets())
        .opt(options::REQUESTED_IP, &[10, 42, 0, 100]);
    assert!(ask_on(&mut s, 1, &other).is_none());
    // On the main socket: the main subnet, as before.
    let (offer, via) = ask_on(&mut s, 0, &Req::dhcp(MessageType::Discover, 2)).unwrap();
    assert_eq!(via, 0);
    let m = Message::new_checked(&offer).unwrap();
    assert_eq!(m.packet().yiaddr(), ip(100));
    assert_eq!(m.server_id(), Some(SERVER));
    assert_eq!(m.router(), Some(ROUTER));
    // A subnet number that is not a local subnet is the main socket.
    let (offer, via) = ask_on(&mut s, 7, &Req::dhcp(MessageType::Discover, 3)).unwrap();
    assert_eq!(via, 0);
    assert_eq!(
        Message::new_checked(&offer).unwrap().packet().yiaddr(),
        ip(101)
    );
    // The second subnet's server address is never leased.
    assert!(s.leases().all(|l| l.ip != second));
}

#[test]
fn a_local_subnet_needs_its_own_server_address_and_an_interface_of_its_own() {
    let fails = |c: ServerConfig| Server::new(c, Vec::new(), std::vec![LeaseSlot::EMPTY; 8]).err();
    let net = Ipv4Addr::new(10, 42, 0, 0);
    let mut c = two_links();
    c.relayed[0].server = None;
    assert_eq!(fails(c), Some(ConfigError::SubnetServer(net)));
    let mut c = two_links();
    c.relayed[0].server = Some(Ipv4Addr::new(10, 43, 0, 1));
    assert_eq!(fails(c), Some(ConfigError::SubnetServer(net)));
    let mut c = two_links();
    let mut third = c.relayed[0].clone();
    third.network = Ipv4Addr::new(10, 43, 0, 0);
    third.server = Some(Ipv4Addr::new(10, 43, 0, 1));
    third.net.router = None;
    third.net.pool = None;
    c.relayed.push(third).unwrap();
    assert_eq!(
        fails(c),
        Some(ConfigError::InterfaceTwice(Ipv4Addr::new(10, 43, 0, 0)))
    );
    // A host cannot have the server's address on the second link.
    let mut h = Host::new(HwAddr::ethernet(mac(1)));
    h.ip = Some(Ipv4Addr::new(10, 42, 0, 1));
    assert_eq!(
        Server::new(two_links(), std::vec![h], std::vec![LeaseSlot::EMPTY; 8]).err(),
        Some(ConfigError::DuplicateIp {
            first: usize::MAX,
            second: 0,
            ip: Ipv4Addr::new(10, 42, 0, 1)
        })
    );
}
