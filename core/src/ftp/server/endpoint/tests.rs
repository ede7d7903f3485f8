use super::*;
use crate::storage::{MemStore, Shared};
use crate::time::Duration;
use std::collections::BTreeMap as Map;
use std::string::String;
use std::vec;

const LISTEN: &str = "192.0.2.1:21";
const CLIENT: &str = "192.0.2.9:40000";

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// Anonymous read-only, and `writer` / `secret` with write access.
struct Users(Shared<MemStore>);

impl Accounts for Users {
    type Store = Shared<MemStore>;
    fn open_store(&mut self, _user: &str, _anonymous: bool) -> Option<Self::Store> {
        Some(self.0.clone())
    }
    fn writable(&self, user: &str) -> bool {
        user == "writer"
    }
}

/// An endpoint on a pretend network: sockets open on demand (passive ports
/// in `taken` are in use), streams take at most `take` bytes a write.
struct Net {
    ftp: Endpoint<Users>,
    disk: Shared<MemStore>,
    now: Instant,
    /// Bytes written to each stream, in order.
    wire: Map<SocketId, Vec<u8>>,
    listening: Map<SocketId, SocketAddr>,
    connecting: Vec<(SocketId, SocketAddr)>,
    closed: Vec<SocketId>,
    events: Vec<EndpointEvent>,
    taken: Vec<u16>,
    take: usize,
}

impl Net {
    fn new(config: impl FnOnce(&mut EndpointConfig)) -> Net {
        let disk = Shared::new(MemStore::new());
        let session = ServerConfig {
            anonymous: true,
            login_delay: Duration::from_millis(10),
            ..ServerConfig::default()
        };
        let mut c = EndpointConfig::new(addr(LISTEN), session);
        config(&mut c);
        let mut net = Net {
            ftp: Endpoint::new(c, Users(disk.clone())),
            disk,
            now: Instant::ZERO,
            wire: Map::new(),
            listening: Map::new(),
            connecting: Vec::new(),
            closed: Vec::new(),
            events: Vec::new(),
            taken: Vec::new(),
            take: usize::MAX,
        };
        net.drain();
        assert_eq!(net.ftp.local_addr(), Some(addr(LISTEN)));
        net
    }

    fn drain(&mut self) {
        let mut buf = vec![0u8; 8192];
        loop {
            while let Some(out) = self.ftp.poll_transmit(self.now, &mut buf) {
                let n = out.transmit.len.min(self.take);
                self.wire
                    .entry(out.socket)
                    .or_default()
                    .extend_from_slice(&buf[..n]);
                if n < out.transmit.len {
                    let rest = buf[n..out.transmit.len].to_vec();
                    self.ftp
                        .handle_stream(self.now, out.socket, StreamEvent::Unsent(&rest));
                }
            }
            let mut progressed = false;
            while let Some(event) = self.ftp.poll_event() {
                progressed = true;
                match event {
                    EndpointEvent::Socket(SocketRequest::Listen { socket, local, .. }) => {
                        if self.taken.contains(&local.port()) {
                            self.ftp
                                .handle_opened(self.now, socket, Err(OpenError::AddrInUse));
                        } else {
                            let port = if local.port() == 0 {
                                50_000
                            } else {
                                local.port()
                            };
                            let bound = SocketAddr::new(local.ip(), port);
                            self.listening.insert(socket, bound);
                            self.ftp.handle_opened(self.now, socket, Ok(bound));
                        }
                    }
                    EndpointEvent::Socket(SocketRequest::Connect { socket, remote, .. }) => {
                        self.connecting.push((socket, remote));
                    }
                    EndpointEvent::Socket(SocketRequest::Close { socket }) => {
                        self.listening.remove(&socket);
                        self.closed.push(socket);
                    }
                    e => self.events.push(e),
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn connect(&mut self, peer: &str) -> Accept {
        let a = self
            .ftp
            .handle_accept(self.now, self.ftp.listener(), addr(peer), addr(LISTEN));
        self.drain();
        a
    }

    fn session(&mut self) -> SocketId {
        let Accept::Stream(s) = self.connect(CLIENT) else {
            panic!("refused")
        };
        s
    }

    fn send(&mut self, socket: SocketId, bytes: &[u8]) {
        self.ftp
            .handle_stream(self.now, socket, StreamEvent::Data(bytes));
        self.drain();
    }

    fn event(&mut self, socket: SocketId, event: StreamEvent<'_>) {
        self.ftp.handle_stream(self.now, socket, event);
        self.drain();
    }

    /// What the client read on `socket` since last asked.
    fn read(&mut self, socket: SocketId) -> String {
        String::from_utf8(self.wire.remove(&socket).unwrap_or_default()).unwrap()
    }

    fn login(&mut self, user: &str) -> SocketId {
        let s = self.session();
        self.read(s);
        self.send(s, std::format!("USER {user}\r\nPASS x\r\n").as_bytes());
        if user != "anonymous" {
            let Some(EndpointEvent::VerifyLogin { socket, .. }) = self.events.pop() else {
                panic!("no password check")
            };
            self.ftp.login_verified(self.now, socket, true);
            self.drain();
        }
        assert!(self.read(s).ends_with("230 Login successful.\r\n"));
        s
    }

    /// Opens a passive data connection from `from`; returns its socket.
    fn pasv(&mut self, control: SocketId, from: &str) -> Accept {
        self.send(control, b"EPSV\r\n");
        let reply = self.read(control);
        assert!(reply.starts_with("229 "), "{reply}");
        let (&listener, _) = self.listening.iter().last().unwrap();
        let a = self
            .ftp
            .handle_accept(self.now, listener, addr(from), addr("192.0.2.1:50000"));
        self.drain();
        a
    }

    fn records(&self) -> Vec<&TransferRecord> {
        self.events
            .iter()
            .filter_map(|e| match e {
                EndpointEvent::Transfer(r) => Some(&**r),
                _ => None,
            })
            .collect()
    }
}

fn content(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 % 251) as u8).collect()
}

#[test]
fn a_passive_download_crosses_short_writes_intact_and_ends_with_226() {
    let mut net = Net::new(|_| {});
    let data = content(100_000);
    net.disk.borrow_mut().insert("boot.img", data.clone());
    net.take = 1000;
    let s = net.login("anonymous");
    let Accept::Stream(d) = net.pasv(s, "192.0.2.9:40001") else {
        panic!()
    };
    net.send(s, b"RETR boot.img\r\n");
    // The stream keeps taking what it can after each Writable.
    for _ in 0..1000 {
        if net.closed.contains(&d) {
            break;
        }
        net.event(d, StreamEvent::Writable);
    }
    assert_eq!(net.wire.remove(&d).unwrap(), data);
    assert!(
        net.closed.contains(&d),
        "the data connection is closed after"
    );
    assert_eq!(
        net.read(s),
        "125 Opening BINARY mode data connection for /boot.img (100000 bytes).\r\n226 Transfer complete (100000 bytes).\r\n"
    );
    let r = net.records();
    assert_eq!(
        (r[0].direction, r[0].bytes, r[0].outcome),
        ("RETR", 100_000, Outcome::Complete)
    );
}

#[test]
fn a_data_connection_from_another_address_is_refused_and_reported() {
    let mut net = Net::new(|_| {});
    let s = net.login("anonymous");
    assert_eq!(
        net.pasv(s, "198.51.100.7:40001"),
        Accept::Refuse { reply: b"" }
    );
    assert!(net.events.contains(&EndpointEvent::ForeignDataConnection {
        peer: addr(CLIENT),
        from: addr("198.51.100.7:40001")
    }));
    // The rightful client may still connect.
    let (&listener, _) = net.listening.iter().last().unwrap();
    assert!(matches!(
        net.ftp
            .handle_accept(net.now, listener, addr("192.0.2.9:40002"), addr(LISTEN)),
        Accept::Stream(_)
    ));
}

#[test]
fn session_limits_refuse_with_the_exact_421() {
    let mut net = Net::new(|c| {
        c.max_sessions = 2;
        c.max_sessions_per_ip = 1;
    });
    let too_many = Accept::Refuse {
        reply: TOO_MANY_SESSIONS.as_bytes(),
    };
    assert!(matches!(net.connect("192.0.2.9:1"), Accept::Stream(_)));
    assert_eq!(net.connect("192.0.2.9:2"), too_many);
    let Accept::Stream(b) = net.connect("192.0.2.10:1") else {
        panic!()
    };
    assert_eq!(net.connect("192.0.2.11:1"), too_many);
    assert_eq!(net.ftp.sessions(), 2);
    // A session that ends frees its place.
    net.event(b, StreamEvent::Reset);
    assert!(matches!(net.connect("192.0.2.11:1"), Accept::Stream(_)));
    assert_eq!(
        net.events
            .iter()
            .filter(|e| matches!(e, EndpointEvent::Refused { .. }))
            .count(),
        2
    );
}

#[test]
fn an_upload_is_committed_on_a_clean_end_and_discarded_on_abort() {
    let mut net = Net::new(|_| {});
    let s = net.login("writer");
    let Accept::Stream(d) = net.pasv(s, "192.0.2.9:40001") else {
        panic!()
    };
    net.send(s, b"STOR up.bin\r\n");
    net.event(d, StreamEvent::Data(b"first "));
    net.event(d, StreamEvent::Data(b"second"));
    assert_eq!(
        net.disk.borrow().get("up.bin"),
        None,
        "not visible before the end"
    );
    net.event(d, StreamEvent::Eof);
    assert_eq!(net.disk.borrow().get("up.bin"), Some(&b"first second"[..]));
    assert!(
        net.read(s)
            .ends_with("226 Transfer complete (12 bytes).\r\n")
    );

    let Accept::Stream(d) = net.pasv(s, "192.0.2.9:40002") else {
        panic!()
    };
    net.send(s, b"STOR half.bin\r\n");
    net.event(d, StreamEvent::Data(b"partial"));
    net.send(s, b"ABOR\r\n");
    assert_eq!(net.disk.borrow().get("half.bin"), None);
    assert!(
        net.read(s)
            .ends_with("426 Connection closed; transfer aborted.\r\n226 ABOR successful.\r\n")
    );
    assert_eq!(net.records().last().unwrap().outcome, Outcome::Aborted);
    assert!(net.closed.contains(&d));
}

#[test]
fn anonymous_uploads_are_refused_and_create_nothing() {
    let mut net = Net::new(|_| {});
    let s = net.login("anonymous");
    net.pasv(s, "192.0.2.9:40001");
    net.send(s, b"STOR x\r\n");
    assert_eq!(net.read(s), "550 Permission denied.\r\n");
    assert!(net.disk.borrow().files().next().is_none());
}

#[test]
fn upload_bytes_sent_before_the_150_are_kept() {
    let mut net = Net::new(|_| {});
    let s = net.login("writer");
    let Accept::Stream(d) = net.pasv(s, "192.0.2.9:40001") else {
        panic!()
    };
    net.event(d, StreamEvent::Data(b"eager"));
    net.event(d, StreamEvent::Eof);
    net.send(s, b"STOR eager.txt\r\n");
    assert_eq!(net.disk.borrow().get("eager.txt"), Some(&b"eager"[..]));
}

#[test]
fn a_big_download_yields_after_its_budget_and_resumes_at_the_next_turn() {
    let mut net = Net::new(|_| {});
    let data = content(3 * DATA_BUDGET + 10);
    net.disk.borrow_mut().insert("big", data.clone());
    let s = net.login("anonymous");
    let Accept::Stream(d) = net.pasv(s, "192.0.2.9:40001") else {
        panic!()
    };
    net.send(s, b"RETR big\r\n");
    assert_eq!(net.wire[&d].len(), DATA_BUDGET);
    assert_eq!(net.ftp.poll_timeout(), Some(net.now), "due at once");
    for _ in 0..3 {
        net.ftp.handle_timeout(net.now);
        net.drain();
    }
    assert_eq!(net.wire.remove(&d).unwrap(), data);
    assert!(
        net.read(s)
            .ends_with("226 Transfer complete (3145738 bytes).\r\n")
    );
}

#[test]
fn a_taken_passive_port_moves_on_to_the_next_and_a_full_range_gets_425() {
    let mut net = Net::new(|c| c.passive_ports = Some((50_000, 50_002)));
    net.taken = vec![50_000, 50_001];
    let s = net.login("anonymous");
    net.send(s, b"EPSV\r\n");
    assert_eq!(
        net.read(s),
        "229 Entering Extended Passive Mode (|||50002|).\r\n"
    );
    net.taken = vec![50_000, 50_001, 50_002];
    net.send(s, b"EPSV\r\n");
    assert_eq!(net.read(s), "425 Cannot open a passive connection.\r\n");
    assert!(
        net.events
            .iter()
            .any(|e| matches!(e, EndpointEvent::PassiveFailed { .. }))
    );
}

#[test]
fn active_mode_connects_from_the_control_address_and_a_failure_is_425() {
    let mut net = Net::new(|_| {});
    let data = content(10);
    net.disk.borrow_mut().insert("f", data.clone());
    let s = net.login("anonymous");
    net.send(s, b"PORT 192,0,2,9,156,65\r\nRETR f\r\n");
    let (d, remote) = net.connecting.pop().unwrap();
    assert_eq!(remote, addr("192.0.2.9:40001"));
    net.event(d, StreamEvent::Connected);
    assert_eq!(net.wire.remove(&d).unwrap(), data);
    assert!(
        net.read(s)
            .ends_with("226 Transfer complete (10 bytes).\r\n")
    );

    net.send(s, b"PORT 192,0,2,9,156,66\r\nRETR f\r\n");
    let (d, _) = net.connecting.pop().unwrap();
    net.event(d, StreamEvent::Reset);
    assert!(
        net.read(s)
            .ends_with("425 Cannot open data connection.\r\n")
    );
    // The bounce rule: another host is never connected to.
    net.send(s, b"PORT 198,51,100,7,156,66\r\n");
    assert!(net.read(s).starts_with("504 "));
    assert!(net.connecting.is_empty());
}

#[test]
fn sendfile_and_splice_are_handed_to_the_driver_and_the_endpoint_ends_them() {
    let mut net = Net::new(|c| {
        c.fast_paths = FastPaths {
            sendfile: true,
            splice: true,
        }
    });
    net.disk.borrow_mut().insert("f", content(5000));
    let s = net.login("writer");
    let Accept::Stream(d) = net.pasv(s, "192.0.2.9:40001") else {
        panic!()
    };
    net.send(s, b"REST 100\r\nRETR f\r\n");
    assert!(net.events.contains(&EndpointEvent::SendFile {
        socket: d,
        offset: 100
    }));
    assert!(net.ftp.reader(d).is_some());
    assert!(
        !net.wire.contains_key(&d),
        "the endpoint sends nothing itself"
    );
    net.ftp.fast_path_progress(net.now, d, 4900);
    net.ftp.fast_path_done(net.now, d, Ok(()));
    net.drain();
    assert!(
        net.read(s)
            .ends_with("226 Transfer complete (4900 bytes).\r\n")
    );
    assert!(net.closed.contains(&d));

    let Accept::Stream(d) = net.pasv(s, "192.0.2.9:40002") else {
        panic!()
    };
    net.send(s, b"STOR spliced\r\n");
    assert!(net.events.contains(&EndpointEvent::Splice { socket: d }));
    let w = net.ftp.writer(d).unwrap();
    net.disk.borrow_mut().write(w, b"by the driver").unwrap();
    assert_eq!(net.disk.borrow().get("spliced"), None);
    net.ftp.fast_path_progress(net.now, d, 13);
    net.ftp.fast_path_done(net.now, d, Ok(()));
    net.drain();
    assert_eq!(
        net.disk.borrow().get("spliced"),
        Some(&b"by the driver"[..])
    );
    assert!(
        net.read(s)
            .ends_with("226 Transfer complete (13 bytes).\r\n")
    );

    // APPE and TYPE A go through the endpoint even with fast paths.
    let Accept::Stream(d) = net.pasv(s, "192.0.2.9:40003") else {
        panic!()
    };
    net.send(s, b"APPE spliced\r\n");
    assert!(!net.events.contains(&EndpointEvent::Splice { socket: d }));
    net.event(d, StreamEvent::Data(b"!"));
    net.event(d, StreamEvent::Eof);
    assert_eq!(
        net.disk.borrow().get("spliced"),
        Some(&b"by the driver!"[..])
    );
}

#[test]
fn pipelined_commands_beyond_one_output_buffer_are_all_answered() {
    let mut net = Net::new(|_| {});
    let s = net.session();
    net.read(s);
    // More replies than the session's output holds, in one read.
    let burst = "NOOP\r\n".repeat(3000);
    net.send(s, burst.as_bytes());
    let replies = net.read(s);
    assert_eq!(replies.matches("200 ").count(), 3000, "{}", replies.len());
    // The session is still there.
    net.send(s, b"NOOP\r\n");
    assert!(net.read(s).starts_with("200 "));
}

#[test]
fn an_upload_whose_bytes_came_before_the_stor_is_not_spliced() {
    let mut net = Net::new(|c| {
        c.fast_paths = FastPaths {
            sendfile: true,
            splice: true,
        }
    });
    let s = net.login("writer");
    // The client sends its file and closes before the server has read the
    // STOR: the driver has delivered every byte already.
    let Accept::Stream(d) = net.pasv(s, "192.0.2.9:40001") else {
        panic!()
    };
    net.event(d, StreamEvent::Data(b"all of it"));
    net.event(d, StreamEvent::Eof);
    net.send(s, b"STOR early\r\n");
    assert!(!net.events.contains(&EndpointEvent::Splice { socket: d }));
    assert_eq!(net.disk.borrow().get("early"), Some(&b"all of it"[..]));
    assert!(
        net.read(s)
            .ends_with("226 Transfer complete (9 bytes).\r\n")
    );
    // Only some of it: the rest comes through the pump too.
    let Accept::Stream(d) = net.pasv(s, "192.0.2.9:40002") else {
        panic!()
    };
    net.event(d, StreamEvent::Data(b"first "));
    net.send(s, b"STOR partly\r\n");
    assert!(!net.events.contains(&EndpointEvent::Splice { socket: d }));
    net.event(d, StreamEvent::Data(b"second"));
    net.event(d, StreamEvent::Eof);
    assert_eq!(net.disk.borrow().get("partly"), Some(&b"first second"[..]));
}

#[test]
fn a_wrong_password_is_refused_after_the_delay_and_reported() {
    let mut net = Net::new(|_| {});
    let s = net.session();
    net.read(s);
    net.send(s, b"USER writer\r\nPASS wrong\r\n");
    let Some(EndpointEvent::VerifyLogin {
        socket,
        user,
        password,
    }) = net.events.pop()
    else {
        panic!()
    };
    assert_eq!(
        (socket, user.as_str(), password.0.as_str()),
        (s, "writer", "wrong")
    );
    assert_eq!(std::format!("{password:?}"), "***");
    net.ftp.login_verified(net.now, s, false);
    net.drain();
    assert!(
        net.events
            .contains(&EndpointEvent::LoginRefused { peer: addr(CLIENT) })
    );
    assert_eq!(net.read(s), "331 Please specify the password.\r\n");
    net.now = net.ftp.poll_timeout().unwrap();
    net.ftp.handle_timeout(net.now);
    net.drain();
    assert_eq!(net.read(s), "530 Login incorrect.\r\n");
}

#[test]
fn quit_closes_after_the_reply_and_a_peer_that_does_not_read_is_not_waited_for() {
    let mut net = Net::new(|_| {});
    let s = net.login("anonymous");
    net.send(s, b"QUIT\r\n");
    assert_eq!(net.read(s), "221 Goodbye.\r\n");
    assert!(net.closed.contains(&s));
    assert_eq!(net.ftp.sessions(), 0);

    let s = net.login("anonymous");
    net.take = 3;
    net.send(s, b"QUIT\r\n");
    assert_eq!(net.read(s), "221");
    assert!(
        net.closed.contains(&s),
        "closed without waiting for Writable"
    );
}

#[test]
fn stopping_says_421_and_closes_every_session_and_refuses_new_ones() {
    let mut net = Net::new(|_| {});
    let a = net.login("anonymous");
    let b = net.login("anonymous");
    net.ftp.close(net.now);
    net.drain();
    for s in [a, b] {
        assert_eq!(net.read(s), "421 Service closing control connection.\r\n");
        assert!(net.closed.contains(&s));
    }
    assert!(net.closed.contains(&net.ftp.listener()));
    assert_eq!(
        net.connect("192.0.2.9:1"),
        Accept::Refuse { reply: CLOSING }
    );
}

#[test]
fn a_flood_of_unread_commands_disconnects_the_client() {
    let mut net = Net::new(|_| {});
    let s = net.login("anonymous");
    // A transfer is waiting, so commands pile up unread.
    net.send(s, b"EPSV\r\nRETR nothing\r\n");
    let flood = vec![b'N'; MAX_CONTROL_INPUT + 1];
    net.send(s, &flood);
    assert!(net.closed.contains(&s));
}
