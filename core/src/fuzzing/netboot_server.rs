//! The whole netboot server ([`NetbootServer`]) driven through the one
//! drain loop ([`drive`]) by arbitrary inputs: datagrams on any of its UDP
//! sockets, connections, stream bytes and stream events, time steps, saves
//! and password checks answered late, well or badly, and a stop.
//!
//! The input is a sequence of records, each an opcode byte and its
//! operands (see [`run`]). Invariants, checked after every record:
//!
//! * no panic, and every output leaves from a socket the server asked to
//!   open and has not closed, within the buffer;
//! * what leaves the BOOTP socket parses as a BOOTREPLY, what leaves a TFTP
//!   socket parses as a TFTP packet;
//! * **the persistence policy**: a DHCPACK or BOOTREPLY that hands out an
//!   address leaves only if that address was bound to that client in the
//!   last state the driver confirmed saved;
//! * at most the configured number of TFTP transfers and FTP sessions run;
//! * after a stop and enough time, the server is idle.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::bootp::server::ServerConfig;
use crate::ftp::server::{Accounts, EndpointConfig as FtpConfig, ServerConfig as FtpSession};
use crate::server::{
    BootpSetup, Event, FastPath, Host, NetbootConfig, NetbootServer, Persist, Restored,
    SaveRequest, Sent, Worker, drive,
};
use crate::socket::{Accept, OpenError, Output, SocketId, StreamEvent, UdpRole};
use crate::storage::{MemStore, Shared};
use crate::tftp::EndpointConfig as TftpConfig;
use crate::time::{Duration, Instant};
use crate::wire::bootp::options::MessageType;
use crate::wire::bootp::{Message, Op};
use crate::wire::tftp::Packet;

const MAX_TRANSFERS: usize = 3;
const MAX_SESSIONS: usize = 3;

struct Users(Shared<MemStore>);

impl Accounts for Users {
    type Store = Shared<MemStore>;
    fn open_store(&mut self, _: &str, _: bool) -> Option<Self::Store> {
        Some(self.0.clone())
    }
    fn writable(&self, user: &str) -> bool {
        user == "u"
    }
}

type Server = NetbootServer<Shared<MemStore>, Users>;

/// An address bound to a client (`chaddr` padded to 16 bytes).
type Binding = (Ipv4Addr, [u8; 16]);

#[derive(Default)]
struct Wire {
    udp: BTreeMap<SocketId, SocketAddr>,
    listeners: BTreeSet<SocketId>,
    streams: BTreeSet<SocketId>,
    connecting: Vec<SocketId>,
    bootp: Option<SocketId>,
    /// How many bytes of each stream write are taken (0: all).
    take: usize,
    /// Refuse the next socket.
    refuse_next: bool,
    saves: Vec<(SaveRequest, Vec<Binding>)>,
    verifies: Vec<(SocketId, bool)>,
    /// Bindings in the last state confirmed saved.
    saved: BTreeSet<Binding>,
    next_port: u16,
}

fn bindings(server: &Server) -> Vec<Binding> {
    server
        .leases()
        .filter(|l| l.state == crate::bootp::leases::LeaseState::Bound)
        .map(|l| {
            let mut hw = [0u8; 16];
            hw[..l.hw.as_bytes().len()].copy_from_slice(l.hw.as_bytes());
            (l.ip, hw)
        })
        .collect()
}

impl Wire {
    fn open(&mut self, local: SocketAddr) -> Result<SocketAddr, OpenError> {
        if core::mem::take(&mut self.refuse_next) {
            return Err(OpenError::AddrInUse);
        }
        self.next_port = self.next_port.wrapping_add(1).max(1024);
        Ok(SocketAddr::new(
            local.ip(),
            if local.port() == 0 {
                self.next_port
            } else {
                local.port()
            },
        ))
    }

    fn check_output(&self, out: &Output, bytes: &[u8]) {
        assert!(
            self.udp.contains_key(&out.socket) || self.streams.contains(&out.socket),
            "output from a socket that is not open"
        );
        if Some(out.socket) == self.bootp {
            let m = Message::new_checked(bytes).expect("BOOTP replies parse");
            assert_eq!(m.packet().op(), Op::Reply);
            let binds = match m.message_type() {
                None => true,
                Some(MessageType::Ack) => !m.packet().yiaddr().is_unspecified(),
                Some(_) => false,
            };
            if binds {
                let mut hw = [0u8; 16];
                let chaddr = m.packet().client_hw_addr();
                hw[..chaddr.len()].copy_from_slice(chaddr);
                assert!(
                    self.saved.contains(&(m.packet().yiaddr(), hw)),
                    "an address was acknowledged before it was saved"
                );
            }
        } else if self.udp.contains_key(&out.socket) {
            for (at, len) in out.segments() {
                assert!(
                    Packet::parse(&bytes[at..at + len]).is_ok(),
                    "TFTP output parses"
                );
            }
        }
    }
}

impl Host<Shared<MemStore>, Users> for Wire {
    fn open_udp(
        &mut self,
        _: Instant,
        socket: SocketId,
        local: SocketAddr,
        role: &UdpRole,
    ) -> Result<SocketAddr, OpenError> {
        let bound = self.open(local)?;
        if matches!(role, UdpRole::Bootp { .. }) {
            self.bootp = Some(socket);
        }
        self.udp.insert(socket, bound);
        Ok(bound)
    }
    fn listen(
        &mut self,
        _: Instant,
        socket: SocketId,
        local: SocketAddr,
        _: u32,
    ) -> Result<SocketAddr, OpenError> {
        let bound = self.open(local)?;
        self.listeners.insert(socket);
        Ok(bound)
    }
    fn connect(
        &mut self,
        _: Instant,
        socket: SocketId,
        _: IpAddr,
        _: SocketAddr,
    ) -> Result<(), OpenError> {
        self.connecting.push(socket);
        Ok(())
    }
    fn close(&mut self, socket: SocketId) {
        self.udp.remove(&socket);
        self.listeners.remove(&socket);
        self.streams.remove(&socket);
        self.connecting.retain(|s| *s != socket);
    }
    fn send(&mut self, out: &Output, bytes: &[u8]) -> Sent {
        assert_eq!(bytes.len(), out.transmit.len);
        self.check_output(out, bytes);
        if self.streams.contains(&out.socket) && self.take > 0 && self.take < bytes.len() {
            return Sent::Partial(self.take);
        }
        Sent::All
    }
    fn fast_path(&mut self, _: Instant, _: FastPath) {
        panic!("no fast path was offered");
    }
    fn worker(&mut self) -> &mut dyn Worker<Shared<MemStore>, Users> {
        self
    }
}

impl Worker<Shared<MemStore>, Users> for Wire {
    fn verify_login(
        &mut self,
        socket: SocketId,
        _: &str,
        password: &str,
        _: &Server,
    ) -> Option<bool> {
        self.verifies.push((socket, password == "p"));
        None
    }

    fn save(&mut self, _: Instant, request: SaveRequest, server: &Server) -> Option<bool> {
        self.saves.push((request, bindings(server)));
        None
    }

    fn report(&mut self, _: &Event) {}
}

fn server() -> Server {
    let mut bootp = ServerConfig::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(255, 255, 255, 0));
    bootp.net.pool = Some((Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 105)));
    bootp.bootp_dynamic = true;
    bootp.net.lease_time = 30;
    let mut tftp = TftpConfig::new(vec!["10.0.0.1:69".parse().unwrap()]);
    tftp.max_transfers = MAX_TRANSFERS;
    tftp.max_segments = 8;
    tftp.server.writable = true;
    let mut ftp = FtpConfig::new(
        "10.0.0.1:21".parse().unwrap(),
        FtpSession {
            anonymous: true,
            login_delay: Duration::from_millis(5),
            ..FtpSession::default()
        },
    );
    ftp.max_sessions = MAX_SESSIONS;
    ftp.max_sessions_per_ip = 2;
    ftp.passive_ports = Some((50_000, 50_001));
    let mut config = NetbootConfig::new();
    config.bootp = Some(BootpSetup::new(bootp));
    config.tftp = Some(tftp);
    config.ftp = Some(ftp);
    config
        .profiles
        .set_default(&["stage1", "manifest"])
        .unwrap();
    config.plan_clients = 8;
    config.persist = Persist {
        leases: true,
        progress: true,
    };
    let disk = Shared::new(MemStore::new());
    disk.borrow_mut().insert("stage1", vec![1; 1300]);
    disk.borrow_mut()
        .insert("manifest", b"a: stage1\n".to_vec());
    NetbootServer::new(
        config,
        disk.clone(),
        Users(disk),
        Instant::ZERO,
        Restored::default(),
    )
    .expect("a valid configuration")
}

fn pick<T: Copy>(items: impl IntoIterator<Item = T>, choice: u8) -> Option<T> {
    let items: Vec<T> = items.into_iter().collect();
    (!items.is_empty()).then(|| items[usize::from(choice) % items.len()])
}

/// Runs one input. Records: `op choice len(u16 LE) bytes...` where `op % 10` is
/// 0 a datagram on a UDP socket, 1 a connection, 2 stream bytes, 3 a stream
/// event, 4 a time step, 5 answers the oldest save, 6 answers the oldest
/// password check, 7 sets how much streams take and whether the next
/// socket fails to open, 8 answers a connect, 9 stops the server.
pub fn run(data: &[u8]) {
    let mut server = server();
    let mut wire = Wire::default();
    let mut now = Instant::ZERO;
    let mut buf = vec![0u8; 64 * 1024];
    drive(&mut server, &mut wire, now, &mut buf);
    let sources: [SocketAddr; 4] = [
        "0.0.0.0:68".parse().unwrap(),
        "10.0.0.100:68".parse().unwrap(),
        "10.0.0.100:2000".parse().unwrap(),
        "10.0.0.101:2001".parse().unwrap(),
    ];
    let mut rest = data;
    while rest.len() >= 4 {
        let (op, choice) = (rest[0] % 10, rest[1]);
        let len = usize::from(u16::from_le_bytes([rest[2], rest[3]])).min(rest.len() - 4);
        let bytes = &rest[4..4 + len];
        rest = &rest[4 + len..];
        match op {
            0 => {
                if let Some(socket) = pick(wire.udp.keys().copied(), choice) {
                    server.handle_datagram(now, socket, sources[usize::from(choice >> 6)], bytes);
                }
            }
            1 => {
                let listener = pick(wire.listeners.iter().copied(), choice);
                if let Some(listener) = listener {
                    let peer = SocketAddr::from(([10, 0, 0, 100 + (choice >> 6)], 40_000));
                    let local = "10.0.0.1:21".parse().unwrap();
                    if let Accept::Stream(s) = server.handle_accept(now, listener, peer, local) {
                        wire.streams.insert(s);
                    }
                }
            }
            2 => {
                if let Some(s) = pick(wire.streams.iter().copied(), choice) {
                    server.handle_stream(now, s, StreamEvent::Data(bytes));
                }
            }
            3 => {
                if let Some(s) = pick(wire.streams.iter().copied(), choice) {
                    let event = match choice >> 6 {
                        0 => StreamEvent::Eof,
                        1 => StreamEvent::Writable,
                        2 => StreamEvent::Unsent(bytes),
                        _ => {
                            wire.streams.remove(&s);
                            StreamEvent::Reset
                        }
                    };
                    server.handle_stream(now, s, event);
                }
            }
            4 => {
                now += Duration::from_millis(u64::from(choice) * 50);
                server.handle_timeout(now);
            }
            5 => {
                if !wire.saves.is_empty() {
                    let (request, bound) = wire.saves.remove(0);
                    let ok = choice % 4 != 0;
                    if ok {
                        wire.saved = bound.into_iter().collect();
                    }
                    server.saved(now, request.version, ok);
                }
            }
            6 => {
                if !wire.verifies.is_empty() {
                    let (socket, ok) = wire.verifies.remove(0);
                    server.login_verified(now, socket, ok && choice % 2 == 0);
                }
            }
            7 => {
                wire.take = usize::from(choice & 0x3f);
                wire.refuse_next = choice & 0x40 != 0;
            }
            8 => {
                if let Some(s) = wire.connecting.pop() {
                    if choice % 2 == 0 {
                        wire.streams.insert(s);
                        server.handle_stream(now, s, StreamEvent::Connected);
                    } else {
                        server.handle_stream(now, s, StreamEvent::Reset);
                    }
                }
            }
            _ => server.close(now),
        }
        drive(&mut server, &mut wire, now, &mut buf);
        assert!(server.tftp().is_some_and(|t| t.active() <= MAX_TRANSFERS));
        assert!(server.ftp().is_some_and(|f| f.sessions() <= MAX_SESSIONS));
    }
    // A stop always ends in an idle server once saves are answered and time
    // passes (every session and transfer has a deadline).
    server.close(now);
    for _ in 0..1000 {
        drive(&mut server, &mut wire, now, &mut buf);
        for (request, bound) in core::mem::take(&mut wire.saves) {
            wire.saved = bound.into_iter().collect();
            server.saved(now, request.version, true);
        }
        for (socket, _) in core::mem::take(&mut wire.verifies) {
            server.login_verified(now, socket, false);
        }
        if server.is_idle() {
            return;
        }
        now += Duration::from_secs(5);
        server.handle_timeout(now);
    }
    panic!("the server never became idle after a stop");
}
