use super::*;
use crate::storage::{MemStore, Shared};
use crate::wire::bootp::options::{self, MessageType, OptionsWriter};
use crate::wire::bootp::{Message, Op, Repr, Vend};
use crate::wire::tftp::Packet;
use std::collections::BTreeMap;
use std::string::{String, ToString};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

struct Anonymous(Shared<MemStore>);

impl Accounts for Anonymous {
    type Store = Shared<MemStore>;
    fn open_store(&mut self, _: &str, _: bool) -> Option<Self::Store> {
        Some(self.0.clone())
    }
    fn writable(&self, _: &str) -> bool {
        false
    }
}

type Server = NetbootServer<Shared<MemStore>, Anonymous>;

/// A pretend network: opens every socket asked for, answers saves as
/// `save_ok` says, and records what was sent.
struct Wire {
    ports: BTreeMap<SocketId, SocketAddr>,
    sent: Vec<(SocketId, SocketAddr, Vec<u8>)>,
    events: Vec<Event>,
    saves: Vec<SaveRequest>,
    save_ok: Option<bool>,
    next_port: u16,
}

impl Host<Shared<MemStore>, Anonymous> for Wire {
    fn open_udp(
        &mut self,
        _: Instant,
        socket: SocketId,
        local: SocketAddr,
        _: &UdpRole,
    ) -> Result<SocketAddr, OpenError> {
        Ok(self.bind(socket, local))
    }
    fn listen(
        &mut self,
        _: Instant,
        socket: SocketId,
        local: SocketAddr,
        _: u32,
    ) -> Result<SocketAddr, OpenError> {
        Ok(self.bind(socket, local))
    }
    fn connect(
        &mut self,
        _: Instant,
        _: SocketId,
        _: core::net::IpAddr,
        _: SocketAddr,
    ) -> Result<(), OpenError> {
        Err(OpenError::Other)
    }
    fn close(&mut self, socket: SocketId) {
        self.ports.remove(&socket);
    }
    fn send(&mut self, out: &Output, bytes: &[u8]) -> Sent {
        for (at, len) in out.segments() {
            self.sent.push((
                out.socket,
                out.transmit.destination,
                bytes[at..at + len].to_vec(),
            ));
        }
        Sent::All
    }
    fn fast_path(&mut self, _: Instant, _: FastPath) {}
    fn worker(&mut self) -> &mut dyn Worker<Shared<MemStore>, Anonymous> {
        self
    }
}

impl Worker<Shared<MemStore>, Anonymous> for Wire {
    fn verify_login(
        &mut self,
        _: SocketId,
        _: &str,
        password: &str,
        _: &NetbootServer<Shared<MemStore>, Anonymous>,
    ) -> Option<bool> {
        Some(password == "right")
    }

    fn save(&mut self, _: Instant, request: SaveRequest, _: &Server) -> Option<bool> {
        self.saves.push(request);
        self.save_ok
    }

    fn report(&mut self, event: &Event) {
        self.events.push(event.clone());
    }
}

impl Wire {
    fn bind(&mut self, socket: SocketId, mut local: SocketAddr) -> SocketAddr {
        if local.port() == 0 {
            self.next_port += 1;
            local.set_port(self.next_port);
        }
        self.ports.insert(socket, local);
        local
    }
}

/// The server on a [`Wire`].
struct Net {
    server: Server,
    wire: Wire,
    disk: Shared<MemStore>,
    now: Instant,
}

fn config(persist: Persist) -> NetbootConfig {
    let mut bootp = ServerConfig::new(SERVER, Ipv4Addr::new(255, 255, 255, 0));
    bootp.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 109)));
    let mut c = NetbootConfig::new();
    c.bootp = Some(BootpSetup::new(bootp));
    c.tftp = Some(TftpConfig::new(vec!["10.0.0.1:69".parse().unwrap()]));
    c.ftp = Some(FtpConfig::new(
        "10.0.0.1:21".parse().unwrap(),
        crate::ftp::server::ServerConfig {
            anonymous: true,
            ..Default::default()
        },
    ));
    c.profiles.set_default(&["stage1", "manifest"]).unwrap();
    c.persist = persist;
    c
}

impl Net {
    fn new(config: NetbootConfig, restored: Restored) -> Net {
        let disk = Shared::new(MemStore::new());
        disk.borrow_mut().insert("stage1", b"first stage".to_vec());
        disk.borrow_mut()
            .insert("manifest", b"notes: notes.txt\n".to_vec());
        let server = Server::new(
            config,
            disk.clone(),
            Anonymous(disk.clone()),
            Instant::ZERO,
            restored,
        )
        .unwrap();
        let mut net = Net {
            server,
            wire: Wire {
                ports: BTreeMap::new(),
                sent: Vec::new(),
                events: Vec::new(),
                saves: Vec::new(),
                save_ok: Some(true),
                next_port: 40_000,
            },
            disk,
            now: Instant::ZERO,
        };
        net.drain();
        net
    }

    fn drain(&mut self) {
        let mut buf = vec![0u8; 65536];
        drive(&mut self.server, &mut self.wire, self.now, &mut buf);
    }

    fn port(&self, port: u16) -> SocketId {
        *self
            .wire
            .ports
            .iter()
            .find(|(_, a)| a.port() == port)
            .unwrap()
            .0
    }

    fn take_sent(&mut self) -> Vec<(SocketId, SocketAddr, Vec<u8>)> {
        core::mem::take(&mut self.wire.sent)
    }

    /// A DHCP message of `kind` from client `n` (at address `ip` once it
    /// has one), answered by unicast back to it.
    fn dhcp(&mut self, kind: MessageType, n: u8, requested: Option<Ipv4Addr>) -> Option<Vec<u8>> {
        let bootp = self.port(67);
        self.dhcp_via(bootp, kind, n, requested)
    }

    /// [`Net::dhcp`] on the BOOTP socket `bootp`: its last reply through
    /// that socket.
    fn dhcp_via(
        &mut self,
        bootp: SocketId,
        kind: MessageType,
        n: u8,
        requested: Option<Ipv4Addr>,
    ) -> Option<Vec<u8>> {
        let mut opts = [0u8; 64];
        let mut w = OptionsWriter::new(&mut opts);
        w.message_type(kind).unwrap();
        if let Some(ip) = requested {
            w.push(options::REQUESTED_IP, &ip.octets()).unwrap();
            w.push(options::SERVER_ID, &SERVER.octets()).unwrap();
        }
        let len = w.finish().unwrap();
        let mut repr = Repr::new(Op::Request, 0x100 + u32::from(n), [2, 0, 0, 0, 0, n]);
        repr.vend = Vend::Options(&opts[..len]);
        let mut bytes = vec![0u8; 600];
        let len = repr.emit(&mut bytes).unwrap();
        self.server.handle_datagram(
            self.now,
            bootp,
            SocketAddr::from(([0, 0, 0, 0], 68)),
            &bytes[..len],
        );
        self.drain();
        let replies: Vec<_> = self
            .take_sent()
            .into_iter()
            .filter(|(s, _, _)| *s == bootp)
            .collect();
        replies.into_iter().last().map(|(_, _, b)| b)
    }

    /// DISCOVER, REQUEST: the ACK's address and file, if answered.
    fn dora(&mut self, n: u8) -> Option<(Ipv4Addr, String)> {
        let offer = self.dhcp(MessageType::Discover, n, None)?;
        let ip = Message::new_checked(&offer).unwrap().packet().yiaddr();
        let ack = self.dhcp(MessageType::Request, n, Some(ip))?;
        let m = Message::new_checked(&ack).unwrap();
        assert_eq!(m.message_type(), Some(MessageType::Ack));
        Some((ip, String::from_utf8_lossy(m.file()).into_owned()))
    }

    /// Downloads `file` over TFTP from `ip:2000`, lockstep.
    fn tftp_get(&mut self, ip: Ipv4Addr, file: &str) -> Vec<u8> {
        let peer = SocketAddr::from((ip, 2000));
        let rrq = [&[0u8, 1][..], file.as_bytes(), b"\0octet\0"].concat();
        let port69 = self.port(69);
        self.server.handle_datagram(self.now, port69, peer, &rrq);
        self.drain();
        let mut got = Vec::new();
        loop {
            let (socket, _, bytes) = self.take_sent().pop().expect("a DATA block");
            let Ok(Packet::Data { block, data }) = Packet::parse(&bytes) else {
                panic!("{bytes:?}")
            };
            got.extend_from_slice(data);
            let ack = [0, 4, (block >> 8) as u8, block as u8];
            let last = data.len() < 512;
            self.server.handle_datagram(self.now, socket, peer, &ack);
            self.drain();
            if last {
                return got;
            }
        }
    }

    fn lines(&self) -> Vec<String> {
        self.wire
            .events
            .iter()
            .filter(|e| e.is_step())
            .map(ToString::to_string)
            .collect()
    }
}

#[test]
fn a_client_is_walked_through_its_stages_and_then_left_in_silence() {
    let mut net = Net::new(config(Persist::default()), Restored::default());
    let (ip, file) = net.dora(1).unwrap();
    assert_eq!(
        (ip, file.as_str()),
        (Ipv4Addr::new(10, 0, 0, 100), "stage1")
    );
    assert_eq!(net.tftp_get(ip, "stage1"), b"first stage");
    assert_eq!(net.dora(1).unwrap().1, "manifest");
    net.tftp_get(ip, "manifest");
    assert!(net.dora(1).is_none(), "silent after the last stage");
    assert!(net.dhcp(MessageType::Discover, 1, None).is_none());
    let hw = HwAddr::ethernet([2, 0, 0, 0, 0, 1]);
    assert_eq!(net.server.stage_of(&hw), Some(2));
    let lines = net.lines();
    let silenced: Vec<_> = lines.iter().filter(|l| l.contains("no answer")).collect();
    assert_eq!(silenced.len(), 1, "{lines:#?}");
    assert!(
        lines.contains(
            &"plan: 02:00:00:00:00:01 (10.0.0.100) fetched stage 2/2 manifest; boot phase complete, BOOTP silent to it"
                .to_string()
        ),
        "{lines:#?}"
    );
    // Nothing is kept, so nothing is saved or held.
    assert!(net.wire.saves.is_empty());
}

#[test]
fn an_ack_leaves_only_after_its_lease_is_saved_and_saves_are_grouped() {
    let keep = Persist {
        leases: true,
        progress: true,
    };
    let mut net = Net::new(config(keep), Restored::default());
    net.wire.save_ok = None;
    let offer = net.dhcp(MessageType::Discover, 1, None).unwrap();
    let ip = Message::new_checked(&offer).unwrap().packet().yiaddr();
    assert!(
        net.dhcp(MessageType::Request, 1, Some(ip)).is_none(),
        "held"
    );
    assert_eq!(net.wire.saves.len(), 1, "asked at once, no timer");
    let first = net.wire.saves[0];
    assert!(first.leases);
    // A second client binds while the first save runs: no second save yet.
    let offer = net.dhcp(MessageType::Discover, 2, None).unwrap();
    let ip2 = Message::new_checked(&offer).unwrap().packet().yiaddr();
    assert!(net.dhcp(MessageType::Request, 2, Some(ip2)).is_none());
    assert_eq!(net.wire.saves.len(), 1);
    // The first save completes: the first ACK leaves, and the second save
    // is asked for; the second ACK waits for it.
    net.server.saved(net.now, first.version, true);
    net.drain();
    let acks: Vec<_> = net.take_sent();
    assert_eq!(acks.len(), 1);
    assert_eq!(
        Message::new_checked(&acks[0].2).unwrap().packet().yiaddr(),
        ip
    );
    assert_eq!(net.wire.saves.len(), 2);
    let second = net.wire.saves[1];
    // It fails: the ACK stays held, the failure is reported, and the save
    // is tried again after RETRY.
    net.server.saved(net.now, second.version, false);
    net.drain();
    assert!(net.take_sent().is_empty());
    assert!(
        net.wire
            .events
            .iter()
            .any(|e| matches!(e, Event::SaveFailed(_)))
    );
    assert_eq!(net.server.poll_timeout(), Some(net.now + persist::RETRY));
    net.now += persist::RETRY;
    net.server.handle_timeout(net.now);
    net.drain();
    assert_eq!(net.wire.saves.len(), 3);
    net.server.saved(net.now, net.wire.saves[2].version, true);
    net.drain();
    let acks = net.take_sent();
    assert_eq!(
        Message::new_checked(&acks[0].2).unwrap().packet().yiaddr(),
        ip2
    );
    // What a save writes is the state the server holds.
    let saved: Vec<_> = net.server.leases().map(|l| l.ip).collect();
    assert_eq!(saved, [ip, ip2]);
}

#[test]
fn progress_is_saved_with_the_leases_before_the_next_stage_is_handed_out() {
    let keep = Persist {
        leases: true,
        progress: true,
    };
    let mut net = Net::new(config(keep), Restored::default());
    let (ip, _) = net.dora(1).unwrap();
    net.wire.save_ok = None;
    net.tftp_get(ip, "stage1");
    let request = *net.wire.saves.last().unwrap();
    assert!(request.progress);
    assert_eq!(
        net.server.progress().collect::<Vec<_>>(),
        [(&[2u8, 0, 0, 0, 0, 1][..], 1)]
    );
    // The next round's ACK (stage 2) waits for the progress save.
    let offer = net.dhcp(MessageType::Discover, 1, None).unwrap();
    assert_eq!(Message::new_checked(&offer).unwrap().file(), b"manifest");
    assert!(net.dhcp(MessageType::Request, 1, Some(ip)).is_none());
    net.server.saved(net.now, request.version, true);
    net.drain();
    // The REQUEST renewed the lease too: its ACK waits for that save.
    assert!(net.take_sent().is_empty());
    let renewal = *net.wire.saves.last().unwrap();
    assert!(renewal.version > request.version && renewal.leases);
    net.server.saved(net.now, renewal.version, true);
    net.drain();
    let ack = net.take_sent().pop().unwrap().2;
    assert_eq!(Message::new_checked(&ack).unwrap().file(), b"manifest");
}

#[test]
fn after_a_restart_a_download_is_attributed_before_the_client_asks_again() {
    let hw = HwAddr::ethernet([2, 0, 0, 0, 0, 1]);
    let ip = Ipv4Addr::new(10, 0, 0, 100);
    let restored = Restored {
        leases: vec![
            Lease {
                ip,
                hw,
                client: crate::bootp::ClientKey::hw(&hw),
                state: LeaseState::Bound,
                expires: Instant::MAX,
            },
            // Outside the pool now.
            Lease {
                ip: Ipv4Addr::new(10, 0, 0, 250),
                hw,
                client: crate::bootp::ClientKey::hw(&hw),
                state: LeaseState::Bound,
                expires: Instant::MAX,
            },
        ],
        progress: vec![(plan::HwAddr::from_slice(hw.as_bytes()).unwrap(), 1)],
    };
    let mut net = Net::new(config(Persist::default()), restored);
    assert!(net.wire.events.contains(&Event::LeaseDropped {
        ip: Ipv4Addr::new(10, 0, 0, 250)
    }));
    net.tftp_get(ip, "manifest");
    assert_eq!(net.server.stage_of(&hw), Some(2));
    assert!(net.dora(1).is_none());
}

#[test]
fn the_three_parts_keep_their_sockets_apart() {
    let mut net = Net::new(config(Persist::default()), Restored::default());
    let ids: Vec<_> = [67, 69, 21].iter().map(|&p| net.port(p)).collect();
    assert_eq!(net.server.bootp_addr().unwrap().port(), 67);
    assert_eq!(net.server.tftp_addrs()[0].port(), 69);
    assert_eq!(net.server.ftp_addr().unwrap().port(), 21);
    let tags: Vec<_> = ids.iter().map(|s| s.raw() >> TAG_SHIFT).collect();
    assert_eq!(tags, [TAG_BOOTP, TAG_TFTP, TAG_FTP]);
    let Accept::Stream(control) = net.server.handle_accept(
        net.now,
        ids[2],
        "10.0.0.100:40000".parse().unwrap(),
        "10.0.0.1:21".parse().unwrap(),
    ) else {
        panic!()
    };
    assert_eq!(control.raw() >> TAG_SHIFT, TAG_FTP);
    net.drain();
    let greeting = net.take_sent().pop().unwrap();
    assert_eq!(greeting.0, control);
    assert!(greeting.2.starts_with(b"220 "));
    // A connection offered on a UDP socket, or datagrams for the FTP
    // listener, go nowhere.
    assert_eq!(
        net.server.handle_accept(
            net.now,
            ids[1],
            "10.0.0.100:1".parse().unwrap(),
            "10.0.0.1:69".parse().unwrap()
        ),
        Accept::Refuse { reply: b"" }
    );
    net.server.handle_datagram(
        net.now,
        ids[2],
        "10.0.0.100:1".parse().unwrap(),
        b"\x00\x01x\x00octet\x00",
    );
    net.drain();
    assert!(net.take_sent().is_empty());
}

#[test]
fn closing_ends_transfers_and_sessions_saves_and_becomes_idle() {
    let keep = Persist {
        leases: true,
        progress: false,
    };
    let mut net = Net::new(config(keep), Restored::default());
    let (ip, _) = net.dora(1).unwrap();
    let saves = net.wire.saves.len();
    // A transfer in flight and an FTP session.
    let port69 = net.port(69);
    net.server.handle_datagram(
        net.now,
        port69,
        SocketAddr::from((ip, 2000)),
        b"\x00\x01stage1\x00octet\x00",
    );
    let ftp = net.port(21);
    net.server.handle_accept(
        net.now,
        ftp,
        "10.0.0.100:40000".parse().unwrap(),
        "10.0.0.1:21".parse().unwrap(),
    );
    net.drain();
    assert!(!net.server.is_idle());
    net.take_sent();
    net.server.close(net.now);
    net.drain();
    assert!(net.server.is_idle());
    let sent = net.take_sent();
    assert!(sent.iter().any(|(_, _, b)| b.starts_with(b"421 ")));
    assert!(
        sent.iter()
            .any(|(_, _, b)| matches!(Packet::parse(b), Ok(Packet::Error { .. })))
    );
    assert_eq!(
        net.wire.saves.len(),
        saves,
        "nothing changed since the last save"
    );
    let _ = net.disk.borrow();
}

#[test]
fn a_failing_disk_at_shutdown_is_tried_once_more_and_not_forever() {
    let keep = Persist {
        leases: true,
        progress: false,
    };
    let mut net = Net::new(config(keep), Restored::default());
    assert!(net.server.is_saved(), "nothing changed yet");
    // The disk fails: the ACK is held, the save waits for its retry.
    net.wire.save_ok = Some(false);
    let offer = net.dhcp(MessageType::Discover, 1, None).unwrap();
    let ip = Message::new_checked(&offer).unwrap().packet().yiaddr();
    assert!(net.dhcp(MessageType::Request, 1, Some(ip)).is_none());
    let before = net.wire.saves.len();
    assert!(before >= 1);
    assert!(!net.server.is_saved());
    // Stopping tries once more, at once, without waiting for the retry, and
    // a host answering saves at once (as a stopping runtime does) is not
    // asked again and again: the drain ends.
    net.server.close(net.now);
    net.drain();
    assert_eq!(net.wire.saves.len(), before + 1, "one more attempt");
    assert!(net.server.is_idle());
    assert!(!net.server.is_saved());
    assert_eq!(net.server.poll_timeout(), None, "no retry while stopping");
    let last = net.wire.events.iter().rev().find_map(|e| match e {
        Event::SaveFailed(e) => Some(*e),
        _ => None,
    });
    assert!(last.is_some_and(|e| !e.retrying), "{last:?}");
    // The same with a disk that works again: the state is saved.
    let mut net = Net::new(config(keep), Restored::default());
    net.wire.save_ok = Some(false);
    let offer = net.dhcp(MessageType::Discover, 1, None).unwrap();
    let ip = Message::new_checked(&offer).unwrap().packet().yiaddr();
    assert!(net.dhcp(MessageType::Request, 1, Some(ip)).is_none());
    net.wire.save_ok = Some(true);
    net.server.close(net.now);
    net.drain();
    assert!(net.server.is_idle() && net.server.is_saved());
}

#[test]
fn a_reconfigure_keeps_transfers_leases_and_progress_and_serves_the_new_plan() {
    let mut net = Net::new(config(Persist::default()), Restored::default());
    let big: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    net.disk.borrow_mut().insert("big", big.clone());
    let (ip3, _) = net.dora(3).unwrap();
    let (ip1, _) = net.dora(1).unwrap();
    let (ip2, _) = net.dora(2).unwrap();
    let first = Ipv4Addr::new(10, 0, 0, 100);
    assert_eq!(
        [ip3, ip1, ip2],
        [
            first,
            Ipv4Addr::new(10, 0, 0, 101),
            Ipv4Addr::new(10, 0, 0, 102)
        ]
    );
    // Client 1 is one stage in.
    net.tftp_get(ip1, "stage1");
    let hw1 = HwAddr::ethernet([2, 0, 0, 0, 0, 1]);
    assert_eq!(net.server.stage_of(&hw1), Some(1));
    // Client 2 has a download under way: its first block is out.
    let peer = SocketAddr::from((ip2, 2000));
    let port69 = net.port(69);
    net.server
        .handle_datagram(net.now, port69, peer, b"\x00\x01big\x00octet\x00");
    net.drain();
    let (socket, _, bytes) = net.take_sent().pop().unwrap();
    let Ok(Packet::Data { block: 1, data }) = Packet::parse(&bytes) else {
        panic!("{bytes:?}")
    };
    let mut got = data.to_vec();

    // The new configuration: a pool without client 3's address, new stages.
    let mut new = config(Persist::default());
    new.bootp.as_mut().unwrap().config.net.pool =
        Some((Ipv4Addr::new(10, 0, 0, 101), Ipv4Addr::new(10, 0, 0, 105)));
    new.profiles = ProfileTable::new();
    new.profiles.set_default(&["fresh1", "manifest2"]).unwrap();
    new.tftp.as_mut().unwrap().listen = vec!["10.0.0.1:6969".parse().unwrap()];
    let done = net
        .server
        .reconfigure(net.now, new, Anonymous(net.disk.clone()))
        .unwrap();
    net.drain();
    assert_eq!(
        done,
        Reconfigured {
            needs_restart: vec!["tftp listen"],
            dropped_leases: 1
        }
    );
    assert!(net.wire.events.contains(&Event::LeaseDropped { ip: first }));
    let kept: Vec<_> = net.server.leases().map(|l| l.ip).collect();
    assert_eq!(kept, [ip1, ip2]);

    // The download finishes byte for byte.
    let mut block = 1u16;
    loop {
        let ack = [0, 4, (block >> 8) as u8, block as u8];
        net.server.handle_datagram(net.now, socket, peer, &ack);
        net.drain();
        let Some((_, _, bytes)) = net.take_sent().pop() else {
            break;
        };
        let Ok(Packet::Data { block: b, data }) = Packet::parse(&bytes) else {
            panic!("{bytes:?}")
        };
        block = b;
        got.extend_from_slice(data);
    }
    assert_eq!(got, big);

    // Client 1 keeps its progress and gets the new plan's second stage; a
    // new client gets the new first stage, from the new pool.
    assert_eq!(net.server.stage_of(&hw1), Some(1));
    assert_eq!(net.dora(1).unwrap(), (ip1, "manifest2".to_string()));
    let (ip4, file) = net.dora(4).unwrap();
    assert_eq!(file, "fresh1");
    assert!((101..=105).contains(&ip4.octets()[3]) && ip4 != ip1 && ip4 != ip2);
}

#[test]
fn a_bad_reconfigure_changes_nothing() {
    let mut net = Net::new(config(Persist::default()), Restored::default());
    let (ip, _) = net.dora(1).unwrap();
    let mut bad = config(Persist::default());
    bad.bootp.as_mut().unwrap().config.net.pool =
        Some((Ipv4Addr::new(10, 0, 1, 1), Ipv4Addr::new(10, 0, 1, 9)));
    bad.profiles = ProfileTable::new();
    bad.profiles.set_default(&["other"]).unwrap();
    assert!(
        net.server
            .reconfigure(net.now, bad, Anonymous(net.disk.clone()))
            .is_err()
    );
    assert_eq!(net.server.leases().map(|l| l.ip).collect::<Vec<_>>(), [ip]);
    assert_eq!(net.dora(1).unwrap().1, "stage1");
}

/// The main subnet on `veth1`, a second one on `veth2`.
fn two_links() -> NetbootConfig {
    use crate::bootp::server::Subnet;
    let mut c = config(Persist::default());
    let setup = c.bootp.as_mut().unwrap();
    setup.interface = Some("veth1".try_into().unwrap());
    let mut sub = Subnet::new(Ipv4Addr::new(10, 42, 0, 0), Ipv4Addr::new(255, 255, 255, 0));
    sub.interface = Some("veth2".try_into().unwrap());
    sub.server = Some(Ipv4Addr::new(10, 42, 0, 1));
    sub.net.pool = Some((Ipv4Addr::new(10, 42, 0, 100), Ipv4Addr::new(10, 42, 0, 109)));
    setup.config.relayed.push(sub).unwrap();
    c
}

#[test]
fn each_local_subnet_gets_a_socket_on_its_interface_and_answers_through_it() {
    let c = two_links();
    // Without the main subnet on an interface, or with two subnets on one,
    // the server refuses to start.
    for (main, want) in [
        (None, ConfigError::MainInterfaceNeeded),
        (
            Some("veth2"),
            ConfigError::InterfaceTwice(Ipv4Addr::new(10, 42, 0, 0)),
        ),
    ] {
        let mut bad = c.clone();
        bad.bootp.as_mut().unwrap().interface = main.map(|m| m.try_into().unwrap());
        let disk = Shared::new(MemStore::new());
        let err = Server::new(
            bad,
            disk.clone(),
            Anonymous(disk),
            Instant::ZERO,
            Restored::default(),
        )
        .err();
        assert_eq!(err, Some(want));
    }
    let disk = Shared::new(MemStore::new());
    let mut server = Server::new(
        c.clone(),
        disk.clone(),
        Anonymous(disk),
        Instant::ZERO,
        Restored::default(),
    )
    .unwrap();
    let mut bootp = Vec::new();
    while let Some(event) = server.poll_event() {
        if let Event::Socket(SocketRequest::Udp {
            socket,
            local,
            role: UdpRole::Bootp { interface },
        }) = event
        {
            bootp.push((socket, local.port(), interface.map(|i| i.to_string())));
        }
    }
    let names: Vec<_> = bootp.iter().map(|(_, p, i)| (*p, i.clone())).collect();
    assert_eq!(
        names,
        [
            (67, Some("veth1".to_string())),
            (67, Some("veth2".to_string()))
        ]
    );
    // A DISCOVER on the second socket is answered from the second subnet,
    // through that socket.
    let mut net = Net::new(c, Restored::default());
    let second = net
        .wire
        .ports
        .keys()
        .copied()
        .find(|s| *s == bootp[1].0)
        .unwrap();
    let offer = net
        .dhcp_via(second, MessageType::Discover, 9, None)
        .expect("an offer through the second socket");
    let offer = Message::new_checked(&offer).unwrap();
    assert_eq!(offer.packet().yiaddr(), Ipv4Addr::new(10, 42, 0, 100));
    assert_eq!(offer.server_id(), Some(Ipv4Addr::new(10, 42, 0, 1)));
    // The main socket still serves the main subnet.
    let (ip, _) = net.dora(1).unwrap();
    assert_eq!(ip, Ipv4Addr::new(10, 0, 0, 100));
}

#[test]
fn a_reload_cannot_move_a_subnet_to_another_interface() {
    let mut net = Net::new(two_links(), Restored::default());
    let mut moved = two_links();
    let setup = moved.bootp.as_mut().unwrap();
    setup.config.relayed[0].interface = Some("veth3".try_into().unwrap());
    setup.config.relayed[0].net.lease_time = 60;
    moved.profiles = ProfileTable::new();
    moved.profiles.set_default(&["fresh1"]).unwrap();
    let done = net
        .server
        .reconfigure(net.now, moved, Anonymous(net.disk.clone()))
        .unwrap();
    assert_eq!(done.needs_restart, ["bootp subnet interfaces"]);
    // The BOOTP settings stay whole; the plan is the new one.
    let config = net.server.bootp().unwrap().config();
    assert_eq!(config.relayed[0].interface.as_deref(), Some("veth2"));
    assert_eq!(config.relayed[0].net.lease_time, 3600);
    assert_eq!(net.dora(1).unwrap().1, "fresh1");
}
