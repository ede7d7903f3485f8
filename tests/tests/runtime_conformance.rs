//! One scripted scenario through every runtime: the mio adapter on
//! loopback, the async-std adapter on loopback, and the simulator. They all
//! drive the same core `NetbootServer`, so the state they save and the
//! events they report must be the same, apart from ports and times.
//!
//! The scenario, played by a test client that sends raw protocol messages
//! one exchange at a time (so the order of everything is fixed):
//!
//! 1. client A gets an address and its first stage by DHCP, and fetches the
//!    stage over TFTP;
//! 2. client C, whose profile names a file that does not exist, gets it by
//!    DHCP and is refused it (ERROR 1);
//! 3. an upload to the read-only server is refused (ERROR 2);
//! 4. with the transfer table full (one transfer), a second download is
//!    refused as busy (ERROR 0) and the first is then abandoned by its
//!    client;
//! 5. an FTP login with a wrong password is refused (530);
//! 6. the server stops and starts again from its files;
//! 7. A asks again and gets its second stage (the progress survived),
//!    fetches it, and is then left in silence;
//! 8. A fetches a file over FTP anonymously.
//!
//! Compared across the three: the lease file (expiry times masked), the
//! progress file, and every server event's log line (ports and durations
//! masked). Left out of the comparison: save requests, because how many
//! changes one save covers depends on how fast the disk is (group commit),
//! and the files say what was saved; and the FTP fast paths a runtime
//! offers (`sendfile`/`splice` on Linux in mio, none elsewhere), which move
//! the same bytes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netboot_core::bootp::hosts::Host;
use netboot_core::bootp::server::ServerConfig;
use netboot_core::plan::{ProfileTable, Reset};
use netboot_core::server::Event;
use netboot_core::server::NetbootConfig;
use netboot_core::tftp::ServerConfig as TftpConfig;
use netboot_core::time::Duration as SimDuration;
use netboot_core::wire::bootp::options::{self, MessageType, OptionsWriter};
use netboot_core::wire::bootp::{Message, Op, Repr, Vend};
use netboot_core::wire::tftp::{ErrorCode, Packet};
use netboot_sim::apps::server::{
    LEASE_FILE, PROGRESS_FILE, SimServer, User, bootp_setup, ftp_endpoint, tftp_endpoint,
};
use netboot_sim::{App, Cx, Fault, HostId, Sim, StreamEvent as SimStreamEvent, StreamId};
use netboot_std::ftp::{FtpConfig, FtpUser};
use netboot_std::setup::ServerSetup;

const SERVER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);
const A: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 100);
const B: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 102);
const C: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 101);
const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 0xa];
const MAC_C: [u8; 6] = [2, 0, 0, 0, 0, 0xc];
const NOTES: &[u8] = b"notes fetched over FTP\n";

/// The served root and the setup the std runtimes get (listening on port 0
/// of real loopback sockets; [`simulated_config`] is the same server on the
/// standard ports of a simulated host).
fn served(dir: &Path) -> ServerSetup {
    std::fs::write(dir.join("stage1"), b"first stage").unwrap();
    std::fs::write(dir.join("manifest"), b"notes: notes.txt\n").unwrap();
    std::fs::write(dir.join("notes.txt"), NOTES).unwrap();
    std::fs::write(dir.join("big.bin"), vec![7u8; 600]).unwrap();
    setup(dir)
}

fn setup(dir: &Path) -> ServerSetup {
    let mut bootp = ServerConfig::new(SERVER, Ipv4Addr::new(255, 0, 0, 0));
    bootp.net.pool = Some((A, Ipv4Addr::new(127, 0, 0, 120)));
    let mut plan = ProfileTable::new();
    plan.set_default(&["stage1", "manifest"]).unwrap();
    plan.add_client(&MAC_C, &["missing.img"]).unwrap();
    let hash = netboot_std::ftp::auth::hash_with_cost("right", 8, 1).unwrap();
    let ftp = FtpConfig {
        root: dir.to_path_buf(),
        listen: SocketAddr::from((SERVER, 0)),
        anonymous: true,
        users: vec![FtpUser {
            name: "u".into(),
            password_hash: hash,
            root: None,
            writable: None,
        }],
        login_delay_ms: 10,
        ..FtpConfig::default()
    };
    ServerSetup::new(dir)
        .bootp(bootp)
        .hosts(Vec::<Host>::new())
        .bootp_listen(SocketAddr::from((SERVER, 0)))
        .tftp_listen(SocketAddr::from((SERVER, 0)))
        .tftp_config(|t| t.max_transfers = 1)
        .ftp(ftp)
        .plan(plan, Reset::Never)
        .lease_file(dir.join("leases"))
        .progress_file(dir.join("progress"))
}

/// The server's listening addresses.
#[derive(Clone, Copy, Debug)]
struct Addrs {
    bootp: SocketAddr,
    tftp: SocketAddr,
    ftp: SocketAddr,
}

/// What a runtime offers the scenario: a server to start and stop, and a
/// network the test client talks through.
trait Runtime {
    /// Starts the server from `setup` (its files may hold an earlier run's
    /// state).
    fn start(&mut self) -> Addrs;
    /// Stops it cleanly.
    fn stop(&mut self);
    /// Every event the server reported so far, in order.
    fn events(&self) -> Vec<Event>;
    /// The saved lease and progress files.
    fn files(&self) -> (String, String);
    /// Sends `bytes` from `from` to `to` and returns what comes back to
    /// `from`: `expect` datagrams, then nothing more for a short while.
    fn udp(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
        expect: usize,
    ) -> Vec<(SocketAddr, Vec<u8>)>;
    /// Opens a TCP connection from `from` to `to`.
    fn connect(&mut self, from: Ipv4Addr, to: SocketAddr) -> usize;
    /// Writes to a connection.
    fn write(&mut self, conn: usize, bytes: &[u8]);
    /// Reads until what arrived ends with `until` (a CRLF-terminated
    /// reply) or, with `None`, until the peer closes.
    fn read(&mut self, conn: usize, until: Option<&str>) -> Vec<u8>;
    /// Closes a connection.
    fn close(&mut self, conn: usize);
}

fn dhcp(kind: MessageType, mac: [u8; 6], requested: Option<Ipv4Addr>) -> Vec<u8> {
    let mut opts = [0u8; 64];
    let mut w = OptionsWriter::new(&mut opts);
    w.message_type(kind).unwrap();
    if let Some(ip) = requested {
        w.push(options::REQUESTED_IP, &ip.octets()).unwrap();
        w.push(options::SERVER_ID, &SERVER.octets()).unwrap();
    }
    let n = w.finish().unwrap();
    let mut repr = Repr::new(
        Op::Request,
        u32::from(mac[5]) << 8 | u32::from(kind as u8),
        mac,
    );
    repr.vend = Vend::Options(&opts[..n]);
    let mut buf = vec![0u8; 600];
    let len = repr.emit(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

/// DISCOVER and REQUEST from `ip`:68; returns the ACK's address and file,
/// or `None` when the server stays silent.
fn dora(rt: &mut dyn Runtime, addrs: Addrs, ip: Ipv4Addr, mac: [u8; 6]) -> Option<String> {
    let me = SocketAddr::from((ip, 6868));
    let offer = rt.udp(me, addrs.bootp, &dhcp(MessageType::Discover, mac, None), 1);
    let (_, offer) = offer.into_iter().next()?;
    let offered = Message::new_checked(&offer).unwrap();
    assert_eq!(offered.message_type(), Some(MessageType::Offer));
    assert_eq!(
        offered.packet().yiaddr(),
        ip,
        "the test clients' addresses are the pool's, in order"
    );
    let ack = rt.udp(
        me,
        addrs.bootp,
        &dhcp(MessageType::Request, mac, Some(ip)),
        1,
    );
    let m = Message::new_checked(&ack[0].1).unwrap();
    assert_eq!(m.message_type(), Some(MessageType::Ack));
    Some(String::from_utf8_lossy(m.file()).into_owned())
}

fn rrq(file: &str) -> Vec<u8> {
    [&[0u8, 1][..], file.as_bytes(), b"\0octet\0"].concat()
}

/// Downloads a file that fits one block; returns its bytes.
fn tftp_get(rt: &mut dyn Runtime, addrs: Addrs, from: SocketAddr, file: &str) -> Vec<u8> {
    let data = rt.udp(from, addrs.tftp, &rrq(file), 1);
    let (tid, bytes) = &data[0];
    assert_ne!(*tid, addrs.tftp, "DATA comes from the transfer's own port");
    let Ok(Packet::Data { block: 1, data }) = Packet::parse(bytes) else {
        panic!("{bytes:?}")
    };
    assert!(data.len() < 512);
    assert!(rt.udp(from, *tid, &[0, 4, 0, 1], 0).is_empty());
    data.to_vec()
}

fn error_code(bytes: &[u8]) -> ErrorCode {
    match Packet::parse(bytes) {
        Ok(Packet::Error { code, .. }) => code,
        other => panic!("not an ERROR: {other:?}"),
    }
}

fn reply(rt: &mut dyn Runtime, conn: usize, command: &str, code: &str) -> String {
    if !command.is_empty() {
        rt.write(conn, format!("{command}\r\n").as_bytes());
    }
    let text = String::from_utf8(rt.read(conn, Some("\r\n"))).unwrap();
    assert!(text.starts_with(code), "{command:?}: {text:?}");
    text
}

/// The whole scenario; returns the masked event lines and files.
fn scenario(rt: &mut dyn Runtime) -> (Vec<String>, String, String) {
    let addrs = rt.start();
    // 1. A: DHCP, then its first stage.
    assert_eq!(dora(rt, addrs, A, MAC_A).as_deref(), Some("stage1"));
    assert_eq!(
        tftp_get(rt, addrs, SocketAddr::from((A, 7001)), "stage1"),
        b"first stage"
    );
    // 2. C: a stage that does not exist.
    assert_eq!(dora(rt, addrs, C, MAC_C).as_deref(), Some("missing.img"));
    let refused = rt.udp(
        SocketAddr::from((C, 7003)),
        addrs.tftp,
        &rrq("missing.img"),
        1,
    );
    assert_eq!(
        (refused[0].0, error_code(&refused[0].1)),
        (addrs.tftp, ErrorCode::FileNotFound)
    );
    // 3. An upload to a read-only server.
    let wrq = [&[0u8, 2][..], b"up.bin\0octet\0"].concat();
    let refused = rt.udp(SocketAddr::from((B, 7002)), addrs.tftp, &wrq, 1);
    assert_eq!(error_code(&refused[0].1), ErrorCode::AccessViolation);
    // 4. A full transfer table.
    let a = SocketAddr::from((A, 7004));
    let first = rt.udp(a, addrs.tftp, &rrq("big.bin"), 1);
    let tid = first[0].0;
    assert!(matches!(
        Packet::parse(&first[0].1),
        Ok(Packet::Data { block: 1, .. })
    ));
    let busy = rt.udp(SocketAddr::from((B, 7005)), addrs.tftp, &rrq("stage1"), 1);
    assert_eq!(error_code(&busy[0].1), ErrorCode::NotDefined);
    assert!(rt.udp(a, tid, b"\x00\x05\x00\x00enough\x00", 0).is_empty());
    // 5. A wrong FTP password.
    let c = rt.connect(B, addrs.ftp);
    reply(rt, c, "", "220 ");
    reply(rt, c, "USER u", "331 ");
    reply(rt, c, "PASS wrong", "530 ");
    reply(rt, c, "QUIT", "221 ");
    rt.close(c);
    // 6. A restart.
    rt.stop();
    let addrs = rt.start();
    // 7. A's second stage, then silence.
    assert_eq!(dora(rt, addrs, A, MAC_A).as_deref(), Some("manifest"));
    assert_eq!(
        tftp_get(rt, addrs, SocketAddr::from((A, 7006)), "manifest"),
        b"notes: notes.txt\n"
    );
    let me = SocketAddr::from((A, 6868));
    assert!(
        rt.udp(
            me,
            addrs.bootp,
            &dhcp(MessageType::Discover, MAC_A, None),
            0
        )
        .is_empty()
    );
    // 8. FTP, anonymously.
    let c = rt.connect(A, addrs.ftp);
    reply(rt, c, "", "220 ");
    reply(rt, c, "USER anonymous", "331 ");
    reply(rt, c, "PASS guest@", "230 ");
    let epsv = reply(rt, c, "EPSV", "229 ");
    let port: u16 = epsv
        .split("|||")
        .nth(1)
        .and_then(|s| s.split('|').next())
        .and_then(|p| p.parse().ok())
        .unwrap();
    let d = rt.connect(A, SocketAddr::from((SERVER, port)));
    // 125 if the server has already accepted the data connection, 150 if
    // not: which one a runtime sees first is a race on real sockets.
    reply(rt, c, "RETR notes.txt", "1");
    assert_eq!(rt.read(d, None), NOTES);
    rt.close(d);
    reply(rt, c, "", "226 ");
    reply(rt, c, "QUIT", "221 ");
    rt.close(c);
    rt.stop();
    let lines = rt
        .events()
        .iter()
        .filter(|e| {
            !matches!(
                e,
                Event::Save(_) | Event::SendFile { .. } | Event::Splice { .. }
            )
        })
        .map(|e| mask(&e.to_string()))
        .collect();
    let (leases, progress) = rt.files();
    let leases = leases
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(' ').collect();
            if f.len() == 5 {
                f[2] = "<expiry>";
            }
            f.join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n");
    (lines, leases, progress)
}

/// Ports and durations out of a log line: the digits after the colon of
/// an IPv4 `address:port`, and the `N` of `in N ms`.
fn mask(line: &str) -> String {
    let masked: Vec<String> = line
        .split(' ')
        .map(|word| {
            let (head, tail) = match word.split_once(':') {
                Some(x) => x,
                None => return word.to_string(),
            };
            let is_ip = head
                .trim_start_matches(|c: char| !c.is_ascii_digit())
                .parse::<Ipv4Addr>()
                .is_ok();
            let port_len = tail.chars().take_while(char::is_ascii_digit).count();
            if is_ip && port_len > 0 {
                format!("{head}:<port>{}", &tail[port_len..])
            } else {
                word.to_string()
            }
        })
        .collect();
    let mut words = masked;
    for i in 1..words.len().saturating_sub(1) {
        if words[i - 1] == "in" && words[i + 1].starts_with("ms") && words[i].parse::<u64>().is_ok()
        {
            words[i] = "<n>".into();
        }
    }
    words.join(" ")
}

// ---- real sockets on loopback (the mio and async-std runtimes) ----

/// A test client on real loopback sockets, and a server behind `start` and
/// `stop`.
struct Loopback {
    dir: tempfile::TempDir,
    events: Arc<Mutex<Vec<Event>>>,
    udp: Vec<(SocketAddr, UdpSocket)>,
    tcp: Vec<Option<TcpStream>>,
    server: Box<dyn ServerUnderTest>,
}

/// A std runtime's server, started from a setup with an event callback.
trait ServerUnderTest {
    fn start(&mut self, setup: ServerSetup, events: Arc<Mutex<Vec<Event>>>) -> Addrs;
    fn stop(&mut self);
}

impl Loopback {
    fn new(server: Box<dyn ServerUnderTest>) -> Loopback {
        Loopback {
            dir: tempfile::tempdir().unwrap(),
            events: Arc::default(),
            udp: Vec::new(),
            tcp: Vec::new(),
            server,
        }
    }

    fn socket(&mut self, from: SocketAddr) -> &UdpSocket {
        if let Some(i) = self.udp.iter().position(|(a, _)| *a == from) {
            return &self.udp[i].1;
        }
        let s = UdpSocket::bind(from).unwrap_or_else(|e| panic!("bind {from}: {e}"));
        self.udp.push((from, s));
        &self.udp.last().unwrap().1
    }
}

impl Runtime for Loopback {
    fn start(&mut self) -> Addrs {
        let setup = if self.dir.path().join("stage1").exists() {
            setup(self.dir.path())
        } else {
            served(self.dir.path())
        };
        self.server.start(setup, self.events.clone())
    }

    fn stop(&mut self) {
        self.server.stop();
    }

    fn events(&self) -> Vec<Event> {
        self.events.lock().unwrap().clone()
    }

    fn files(&self) -> (String, String) {
        let read = |n: &str| std::fs::read_to_string(self.dir.path().join(n)).unwrap_or_default();
        (read("leases"), read("progress"))
    }

    fn udp(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
        expect: usize,
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        let s = self.socket(from);
        s.send_to(bytes, to).unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 2048];
        // The expected answers (generously: a loaded machine is slow), then
        // a short look for anything more.
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        while got.len() < expect {
            let (n, peer) = s.recv_from(&mut buf).expect("an answer");
            got.push((peer, buf[..n].to_vec()));
        }
        s.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        if let Ok((n, peer)) = s.recv_from(&mut buf) {
            panic!("unexpected datagram from {peer}: {:?}", &buf[..n]);
        }
        got
    }

    fn connect(&mut self, from: Ipv4Addr, to: SocketAddr) -> usize {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.bind(&SocketAddr::from((from, 0)).into()).unwrap();
        socket.connect(&to.into()).unwrap();
        let stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        self.tcp.push(Some(stream));
        self.tcp.len() - 1
    }

    fn write(&mut self, conn: usize, bytes: &[u8]) {
        self.tcp[conn].as_mut().unwrap().write_all(bytes).unwrap();
    }

    fn read(&mut self, conn: usize, until: Option<&str>) -> Vec<u8> {
        let s = self.tcp[conn].as_mut().unwrap();
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            match s.read(&mut byte) {
                Ok(0) if until.is_none() => return got,
                Ok(0) => panic!("closed early: {:?}", String::from_utf8_lossy(&got)),
                Ok(_) => got.push(byte[0]),
                Err(e) => panic!("read: {e}"),
            }
            if until.is_some_and(|u| got.ends_with(u.as_bytes())) {
                return got;
            }
        }
    }

    fn close(&mut self, conn: usize) {
        self.tcp[conn] = None;
    }
}

struct Mio(Option<netboot_mio::server::NetbootHandle>);

impl ServerUnderTest for Mio {
    fn start(&mut self, setup: ServerSetup, events: Arc<Mutex<Vec<Event>>>) -> Addrs {
        let server = netboot_mio::server::Server::bind(setup)
            .unwrap()
            .on_event(move |e| events.lock().unwrap().push(e.clone()));
        let handle = server.spawn().unwrap();
        let addrs = Addrs {
            bootp: handle.bootp_addr().unwrap(),
            tftp: handle.tftp_addrs()[0],
            ftp: handle.ftp_addr().unwrap(),
        };
        self.0 = Some(handle);
        addrs
    }

    fn stop(&mut self) {
        self.0.take().unwrap().shutdown().unwrap();
    }
}

struct AsyncStd(Option<netboot_async_std::netboot::NetbootHandle>);

impl ServerUnderTest for AsyncStd {
    fn start(&mut self, setup: ServerSetup, events: Arc<Mutex<Vec<Event>>>) -> Addrs {
        let service = netboot_async_std::netboot::NetbootService::build(setup)
            .unwrap()
            .on_event(move |e| events.lock().unwrap().push(e.clone()));
        let handle = service.spawn();
        let addrs = Addrs {
            bootp: handle.bootp_addr().unwrap(),
            tftp: handle.tftp_addrs()[0],
            ftp: handle.ftp_addr().unwrap(),
        };
        self.0 = Some(handle);
        addrs
    }

    fn stop(&mut self) {
        async_std::task::block_on(self.0.take().unwrap().shutdown()).unwrap();
    }
}

fn mio_run() -> (Vec<String>, String, String) {
    scenario(&mut Loopback::new(Box::new(Mio(None))))
}

fn async_run() -> (Vec<String>, String, String) {
    scenario(&mut Loopback::new(Box::new(AsyncStd(None))))
}

// ---- the simulator ----

/// A simulated host's test client: it sends what the scenario says and
/// keeps what arrives.
#[derive(Default)]
struct Probe {
    bound: Vec<u16>,
    datagrams: Vec<(u16, SocketAddr, Vec<u8>)>,
    streams: BTreeMap<StreamId, (Vec<u8>, bool)>,
    connected: Option<StreamId>,
}

impl App for Probe {
    fn start(&mut self, _cx: &mut Cx<'_>) {}

    fn datagram(
        &mut self,
        _cx: &mut Cx<'_>,
        local: SocketAddrV4,
        from: SocketAddrV4,
        bytes: &mut [u8],
    ) {
        self.datagrams
            .push((local.port(), SocketAddr::V4(from), bytes.to_vec()));
    }

    fn stream(&mut self, _cx: &mut Cx<'_>, id: StreamId, event: SimStreamEvent<'_>) {
        let (bytes, closed) = self.streams.entry(id).or_default();
        match event {
            SimStreamEvent::Data(b) => bytes.extend_from_slice(b),
            SimStreamEvent::Eof | SimStreamEvent::Reset | SimStreamEvent::Refused => *closed = true,
            _ => {}
        }
    }
}

/// The scenario in the simulator: the server host runs [`SimServer`] (the
/// core server through the simulator's driver) with the configuration
/// `setup` gives the std runtimes, and each test client address is a host
/// running a [`Probe`]. Time is simulated: an exchange runs the world for
/// as long as the loopback runtimes look for extra datagrams.
struct Simulated {
    sim: Sim,
    server: HostId,
    probes: BTreeMap<Ipv4Addr, HostId>,
    conns: Vec<(HostId, StreamId)>,
    /// Events of the server's earlier boots.
    earlier: Vec<Event>,
    booted: bool,
}

/// The std runtimes' configuration, as the simulated server's.
fn simulated_config() -> NetbootConfig {
    let mut bootp = ServerConfig::new(SERVER, Ipv4Addr::new(255, 0, 0, 0));
    bootp.net.pool = Some((A, Ipv4Addr::new(127, 0, 0, 120)));
    let mut plan = ProfileTable::new();
    plan.set_default(&["stage1", "manifest"]).unwrap();
    plan.add_client(&MAC_C, &["missing.img"]).unwrap();
    let mut config = NetbootConfig::new();
    let mut b = bootp_setup(bootp, Vec::new());
    b.listen = SocketAddr::from((SERVER, 67));
    config.bootp = Some(b);
    let mut tftp = tftp_endpoint(TftpConfig::default());
    tftp.listen = vec![SocketAddr::from((SERVER, 69))];
    tftp.max_transfers = 1;
    config.tftp = Some(tftp);
    let session = FtpConfig {
        anonymous: true,
        login_delay_ms: 10,
        ..FtpConfig::default()
    }
    .session_config();
    let mut ftp = ftp_endpoint(session);
    ftp.listen = SocketAddr::from((SERVER, 21));
    config.ftp = Some(ftp);
    config.profiles = plan;
    config.reset = Reset::Never;
    config
}

impl Simulated {
    fn new() -> Simulated {
        let mut sim = Sim::new(1);
        let config = simulated_config();
        let server = sim.add_host("server", SERVER, move || {
            let user = User {
                name: "u".into(),
                password: "right".into(),
                writable: false,
            };
            Box::new(SimServer::new(config.clone()).users(vec![user]))
        });
        {
            let mut disk = sim.store_mut(server);
            disk.insert("stage1", b"first stage".to_vec());
            disk.insert("manifest", b"notes: notes.txt\n".to_vec());
            disk.insert("notes.txt", NOTES.to_vec());
            disk.insert("big.bin", vec![7u8; 600]);
        }
        let probes = [("a", A), ("c", C), ("b", B)]
            .into_iter()
            .map(|(name, ip)| (ip, sim.add_host(name, ip, || Box::<Probe>::default())))
            .collect();
        Simulated {
            sim,
            server,
            probes,
            conns: Vec::new(),
            earlier: Vec::new(),
            booted: false,
        }
    }

    fn probe(&mut self, ip: Ipv4Addr) -> HostId {
        self.probes[&ip]
    }

    /// Runs the world for `ms` simulated milliseconds.
    fn run_ms(&mut self, ms: u64) {
        self.sim.run_for(SimDuration::from_millis(ms));
    }
}

fn v4(addr: SocketAddr) -> SocketAddrV4 {
    match addr {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("{a}: the simulator is IPv4"),
    }
}

impl Runtime for Simulated {
    fn start(&mut self) -> Addrs {
        if self.booted {
            let now = self.sim.now();
            self.sim.schedule(now, Fault::Restart(self.server));
        }
        self.booted = true;
        self.run_ms(10);
        let server = self.sim.app::<SimServer>(self.server).unwrap();
        let core = server.server().expect("the server booted");
        Addrs {
            bootp: core.bootp_addr().unwrap(),
            tftp: core.tftp_addrs()[0],
            ftp: core.ftp_addr().unwrap(),
        }
    }

    fn stop(&mut self) {
        self.sim
            .command::<SimServer>(self.server, |s, cx| s.close(cx));
        for _ in 0..1000 {
            if self.sim.app::<SimServer>(self.server).unwrap().is_idle() {
                break;
            }
            self.run_ms(10);
        }
        let server = self.sim.app::<SimServer>(self.server).unwrap();
        assert!(server.is_idle(), "the closed server went idle");
        assert!(
            server.server().unwrap().is_saved(),
            "the final save made it"
        );
        self.earlier.extend(server.events.iter().cloned());
        let now = self.sim.now();
        self.sim.schedule(now, Fault::Crash(self.server));
        self.run_ms(1);
    }

    fn events(&self) -> Vec<Event> {
        let mut all = self.earlier.clone();
        if let Some(s) = self.sim.app::<SimServer>(self.server) {
            all.extend(s.events.iter().cloned());
        }
        all
    }

    fn files(&self) -> (String, String) {
        let disk = self.sim.store(self.server);
        let read = |n: &str| {
            disk.get(n)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        (read(LEASE_FILE), read(PROGRESS_FILE))
    }

    fn udp(
        &mut self,
        from: SocketAddr,
        to: SocketAddr,
        bytes: &[u8],
        expect: usize,
    ) -> Vec<(SocketAddr, Vec<u8>)> {
        let host = self.probe(v4(from).ip().to_owned());
        let (port, to) = (from.port(), v4(to));
        self.sim.command::<Probe>(host, |p, cx| {
            if !p.bound.contains(&port) {
                assert!(cx.bind(port), "bind {port}");
                p.bound.push(port);
            }
            cx.send(port, to, bytes);
        });
        // As long as the loopback runtimes look for more.
        self.run_ms(300);
        let probe = self.sim.app_mut::<Probe>(host).unwrap();
        let (got, rest) = std::mem::take(&mut probe.datagrams)
            .into_iter()
            .partition::<Vec<_>, _>(|(local, _, _)| *local == port);
        probe.datagrams = rest;
        let got: Vec<_> = got.into_iter().map(|(_, peer, b)| (peer, b)).collect();
        assert_eq!(got.len(), expect, "datagrams answering {bytes:?}: {got:?}");
        got
    }

    fn connect(&mut self, from: Ipv4Addr, to: SocketAddr) -> usize {
        let host = self.probe(from);
        let to = v4(to);
        self.sim
            .command::<Probe>(host, |p, cx| p.connected = Some(cx.connect(to)));
        self.run_ms(10);
        let id = self
            .sim
            .app_mut::<Probe>(host)
            .unwrap()
            .connected
            .take()
            .unwrap();
        self.conns.push((host, id));
        self.conns.len() - 1
    }

    fn write(&mut self, conn: usize, bytes: &[u8]) {
        let (host, id) = self.conns[conn];
        self.sim.command::<Probe>(host, |_, cx| cx.write(id, bytes));
    }

    fn read(&mut self, conn: usize, until: Option<&str>) -> Vec<u8> {
        let (host, id) = self.conns[conn];
        // Bounded: ten simulated seconds, as the loopback read timeout.
        for _ in 0..1000 {
            let probe = self.sim.app_mut::<Probe>(host).unwrap();
            let (bytes, closed) = probe.streams.entry(id).or_default();
            match until {
                Some(u) => {
                    if let Some(at) = bytes.windows(u.len()).position(|w| w == u.as_bytes()) {
                        return bytes.drain(..at + u.len()).collect();
                    }
                    assert!(
                        !*closed,
                        "closed early: {:?}",
                        String::from_utf8_lossy(bytes)
                    );
                }
                None if *closed => return std::mem::take(bytes),
                None => {}
            }
            self.run_ms(10);
        }
        panic!("read: nothing after ten simulated seconds")
    }

    fn close(&mut self, conn: usize) {
        let (host, id) = self.conns[conn];
        self.sim.command::<Probe>(host, |_, cx| cx.close(id));
        self.run_ms(10);
    }
}

fn sim_run() -> (Vec<String>, String, String) {
    scenario(&mut Simulated::new())
}

/// What every runtime must have reported and saved, whatever the others
/// did.
fn check(runtime: &str, (lines, leases, progress): &(Vec<String>, String, String)) {
    assert!(
        leases.contains("127.0.0.100 bound <expiry> 1-02:00:00:00:00:0a"),
        "{leases}"
    );
    assert_eq!(
        progress,
        "# netboot plan progress v1\n02:00:00:00:00:0a 2\n"
    );
    for needle in [
        "plan: 02:00:00:00:00:0a (127.0.0.100) fetched stage 2/2 manifest; boot phase complete, BOOTP silent to it",
        "tftp: 127.0.0.101:<port> refused: file not found (1)",
        "tftp: 127.0.0.102:<port> refused: server is read-only (2)",
        "tftp: 127.0.0.102:<port> refused: server busy, try again later (0)",
        "ftp: 127.0.0.102:<port> login refused",
        "ftp: 127.0.0.100:<port> anonymous RETR /notes.txt complete, 23 bytes",
    ] {
        assert!(
            lines.iter().any(|l| l == needle),
            "{runtime}: {needle}\nnot in {lines:#?}"
        );
    }
    if std::env::var_os("SHOW_EVENTS").is_some() {
        eprintln!("{runtime}: {lines:#?}");
    }
}

/// Two runtimes played the same scenario: the same state saved and the
/// same events, in the same order.
fn assert_same_run(
    (a_name, a): (&str, &(Vec<String>, String, String)),
    (b_name, b): (&str, &(Vec<String>, String, String)),
) {
    assert_eq!(a.1, b.1, "lease files differ: {a_name} vs {b_name}");
    assert_eq!(a.2, b.2, "progress files differ: {a_name} vs {b_name}");
    assert_eq!(
        a.0, b.0,
        "events differ: {a_name} (left) vs {b_name} (right)"
    );
}

#[test]
fn every_runtime_saves_the_same_state_and_reports_the_same_events() {
    let mio = mio_run();
    check("mio", &mio);
    let async_std = async_run();
    check("async-std", &async_std);
    assert_same_run(("mio", &mio), ("async-std", &async_std));
    let sim = sim_run();
    check("sim", &sim);
    assert_same_run(("mio", &mio), ("sim", &sim));
}
