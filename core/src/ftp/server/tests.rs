//! Session-machine tests: every command and error path, on virtual time,
//! with the in-memory store answering through [`super::pump`].

use super::pump::{Opened, ReceivePump, SendPump, perform};
use super::*;
use crate::ftp::listing::Listing;
use crate::storage::{MemReader, MemStore, MemWriter, Storage};
use crate::time::Duration;

const PEER: &str = "127.0.0.1:40000";
const LOCAL: &str = "127.0.0.1:21";

struct Harness {
    s: ServerSession,
    store: MemStore,
    now: Instant,
    pending: Vec<u8>,
    reader: Option<MemReader>,
    writer: Option<MemWriter>,
    /// What the client sends on the next upload.
    upload: Vec<u8>,
    /// What the client received on the last download.
    download: Vec<u8>,
    /// Leave transfers running (for ABOR tests).
    hold: bool,
    /// Accept the passive connection as soon as the listener is up.
    auto_accept: bool,
    events: Vec<String>,
    running: Option<(TransferKind, u64, bool)>,
}

fn config() -> ServerConfig {
    ServerConfig {
        anonymous: true,
        login_delay: Duration::from_millis(100),
        ..ServerConfig::default()
    }
}

impl Harness {
    fn new(config: ServerConfig) -> Harness {
        let mut store = MemStore::new();
        store.set_time(1_700_000_000);
        store.insert("pub/readme.txt", b"line one\nline two\n".to_vec());
        store.insert("pub/data.bin", (0..=255u8).collect());
        store.insert("top.txt", b"top".to_vec());
        let now = Instant::from_secs(1);
        let mut h = Harness {
            s: ServerSession::new(now, config, PEER.parse().unwrap(), LOCAL.parse().unwrap()),
            store,
            now,
            pending: Vec::new(),
            reader: None,
            writer: None,
            upload: Vec::new(),
            download: Vec::new(),
            hold: false,
            auto_accept: true,
            events: Vec::new(),
            running: None,
        };
        let greeting = h.drain_output();
        assert_eq!(greeting, "220 netboot FTP server ready\r\n");
        h
    }

    fn logged_in(user: &str) -> Harness {
        let mut h = Harness::new(config());
        h.send(&format!("USER {user}"));
        let r = h.send("PASS secret");
        assert!(r.contains("230 "), "{r}");
        h
    }

    fn drain_output(&mut self) -> String {
        let mut all = Vec::new();
        let mut buf = [0u8; 100];
        loop {
            let n = self.s.poll_transmit(Instant::ZERO, &mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(all).unwrap()
    }

    /// Sends raw bytes and drives the session until it settles; returns
    /// the replies.
    fn send_raw(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        self.drive()
    }

    fn send(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\r\n").as_bytes())
    }

    fn drive(&mut self) -> String {
        let mut replies = String::new();
        for _ in 0..1000 {
            let used = self.s.handle_bytes(self.now, &self.pending);
            self.pending.drain(..used);
            let output = self.drain_output();
            let progressed = used > 0 || !output.is_empty();
            replies += &output;
            if !self.answer_events() && !progressed {
                break;
            }
        }
        replies += &self.drain_output();
        replies
    }

    fn answer_events(&mut self) -> bool {
        let mut any = false;
        loop {
            let now = self.now;
            let Some(ev) = self.s.poll_event() else { break };
            any = true;
            self.events.push(format!("{ev:?}"));
            match ev {
                Event::VerifyLogin { user, password } => {
                    let verdict = match (user, password) {
                        ("alice", "secret") => Some(true),
                        ("reader", "secret") => Some(false),
                        _ => None,
                    };
                    self.s.login_verified(now, verdict).unwrap();
                }
                Event::LoggedIn { .. } => {}
                Event::Storage(op) => {
                    let (answer, opened) = perform(&mut self.store, &op);
                    match opened {
                        Opened::Reader(r) => self.reader = Some(r),
                        Opened::Writer(w) => self.writer = Some(w),
                        Opened::Nothing => {}
                    }
                    self.s.storage_done(now, answer).unwrap();
                }
                Event::Listen => {
                    self.s.passive_listening(now, 50_000).unwrap();
                    if self.auto_accept {
                        assert!(
                            self.s
                                .accept_data_connection(now, "127.0.0.1:50001".parse().unwrap())
                        );
                    }
                }
                Event::Connect(_) => self.s.data_connected(now).unwrap(),
                Event::Transfer(t) => {
                    let (kind, offset, ascii) = (t.kind, t.offset, t.ascii);
                    let path = PathBuf::try_from(t.path).unwrap();
                    if self.hold {
                        self.running = Some((kind, offset, ascii));
                        continue;
                    }
                    let outcome = self.run_transfer(kind, &path, offset, ascii);
                    self.s.transfer_done(now, outcome).unwrap();
                }
                Event::Abort => {
                    self.running = None;
                    if let Some(w) = self.writer.take() {
                        self.store.discard(w);
                    }
                    self.reader = None;
                    self.s.transfer_done(now, TransferOutcome::Aborted).unwrap();
                }
                Event::CloseData => {
                    self.reader = None;
                    if let Some(w) = self.writer.take() {
                        self.store.discard(w);
                    }
                }
                Event::StatListing => {
                    super::pump::stat_listing(
                        &mut self.s,
                        &mut self.store,
                        now,
                        Some(1_700_000_100),
                    )
                    .unwrap();
                }
            }
        }
        any
    }

    fn run_transfer(
        &mut self,
        kind: TransferKind,
        path: &str,
        offset: u64,
        ascii: bool,
    ) -> TransferOutcome {
        let mut buf = [0u8; 1024];
        self.download.clear();
        match kind {
            TransferKind::Retr => {
                let mut reader = self.reader.take().unwrap();
                let mut pump = SendPump::new(offset, ascii);
                loop {
                    let n = pump.fill(&mut self.store, &mut reader, &mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    self.download.extend_from_slice(&buf[..n]);
                }
            }
            TransferKind::List(format, facts) => {
                let mut l = Listing::new(path, format, facts, Some(1_700_000_100)).unwrap();
                loop {
                    let n = l.fill(&mut self.store, &mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    self.download.extend_from_slice(&buf[..n]);
                }
            }
            TransferKind::Stor => {
                let mut w = self.writer.take().unwrap();
                let mut pump = ReceivePump::new(ascii);
                let mut data = self.upload.clone();
                if let Err(e) = pump.absorb(&mut self.store, &mut w, &mut data) {
                    self.store.discard(w);
                    return TransferOutcome::Storage(e);
                }
                return match pump.finish(&mut self.store, w) {
                    Ok(bytes) => TransferOutcome::Complete { bytes },
                    Err(e) => TransferOutcome::Storage(e),
                };
            }
        }
        TransferOutcome::Complete {
            bytes: self.download.len() as u64,
        }
    }

    fn advance(&mut self, d: Duration) -> String {
        self.now += d;
        self.s.handle_timeout(self.now);
        self.drive()
    }
}

fn codes(replies: &str) -> Vec<u16> {
    replies
        .lines()
        .filter(|l| l.len() >= 4 && l.as_bytes()[3] == b' ')
        .filter_map(|l| l[..3].parse().ok())
        .collect()
}

#[test]
fn commands_before_login_are_refused() {
    let mut h = Harness::new(config());
    for cmd in [
        "CWD pub",
        "RETR top.txt",
        "PASV",
        "LIST",
        "MKD x",
        "PWD",
        "SIZE top.txt",
    ] {
        assert_eq!(codes(&h.send(cmd)), [530], "{cmd}");
    }
    for (cmd, code) in [
        ("NOOP", 200),
        ("SYST", 215),
        ("ACCT x", 502),
        ("PASS x", 503),
    ] {
        assert_eq!(codes(&h.send(cmd)), [code], "{cmd}");
    }
    assert!(h.send("FEAT").contains(" EPSV\r\n"));
}

#[test]
fn anonymous_login_is_read_only() {
    let mut h = Harness::new(config());
    assert_eq!(codes(&h.send("USER anonymous")), [331]);
    assert_eq!(codes(&h.send("PASS me@example.org")), [230]);
    assert!(
        h.events
            .iter()
            .any(|e| e
                .contains("LoggedIn { user: \"anonymous\", anonymous: true, writable: false }"))
    );
    assert_eq!(h.s.user(), Some("anonymous"));
    for cmd in [
        "MKD new",
        "DELE top.txt",
        "RMD pub",
        "RNFR top.txt",
        "STOR x",
        "APPE x",
        "STOU",
    ] {
        assert_eq!(codes(&h.send(cmd)), [550], "{cmd}");
    }
    assert_eq!(h.store.get("top.txt").unwrap(), b"top");
}

#[test]
fn anonymous_refused_when_disabled_after_the_delay() {
    let mut h = Harness::new(ServerConfig {
        anonymous: false,
        ..config()
    });
    h.send("USER anonymous");
    assert_eq!(h.send("PASS x"), "");
    assert!(h.events.iter().all(|e| !e.contains("VerifyLogin")));
    assert_eq!(h.advance(Duration::from_millis(99)), "");
    assert_eq!(codes(&h.advance(Duration::from_millis(1))), [530]);
}

#[test]
fn user_login_checks_the_verdict() {
    let mut h = Harness::new(config());
    assert_eq!(codes(&h.send("USER alice")), [331]);
    assert_eq!(codes(&h.send("PASS secret")), [230]);
    assert!(
        h.events
            .iter()
            .any(|e| e.contains("VerifyLogin { user: \"alice\", password: \"secret\" }"))
    );
    assert_eq!(codes(&h.send("USER bob")), [530]);
    assert_eq!(codes(&h.send("REIN")), [220]);
    assert_eq!(codes(&h.send("PWD")), [530]);
}

#[test]
fn failed_login_is_delayed_and_holds_further_input() {
    let mut h = Harness::new(config());
    h.send("USER alice");
    // The wrong password and a NOOP pipelined behind it.
    assert_eq!(h.send_raw(b"PASS wrong\r\nNOOP\r\n"), "");
    assert_eq!(h.s.poll_timeout(), Some(h.now + Duration::from_millis(100)));
    assert_eq!(
        h.advance(Duration::from_millis(50)),
        "",
        "NOOP must wait behind the delay"
    );
    let r = h.advance(Duration::from_millis(50));
    assert_eq!(codes(&r), [530, 200]);
}

#[test]
fn too_many_failures_close_the_session() {
    let mut h = Harness::new(config());
    for attempt in 1..=3 {
        h.send("USER alice");
        h.send("PASS wrong");
        let r = h.advance(Duration::from_millis(100));
        if attempt < 3 {
            assert_eq!(codes(&r), [530]);
            assert!(!h.s.is_closed());
        } else {
            assert_eq!(codes(&r), [530, 421]);
            assert!(h.s.is_closed());
        }
    }
    assert_eq!(h.send("USER alice"), "");
}

#[test]
fn overlong_line_gets_500_and_the_session_goes_on() {
    let mut h = Harness::logged_in("alice");
    let mut line = vec![b'A'; 10 * MAX_LINE];
    line.extend_from_slice(b"\r\nNOOP\r\n");
    assert_eq!(codes(&h.send_raw(&line)), [500, 200]);
    assert!(h.pending.is_empty());
}

#[test]
fn unknown_and_malformed_commands() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(codes(&h.send("XYZZY")), [500]);
    assert_eq!(codes(&h.send("PORT 1,2,3")), [501]);
    assert_eq!(codes(&h.send("RETR")), [501]);
    assert_eq!(codes(&h.send_raw(b"RETR \xff\xfe\r\n")), [501]);
    assert_eq!(codes(&h.send("SMNT /x")), [502]);
}

#[test]
fn navigation_stays_inside_the_root() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(h.send("PWD"), "257 \"/\" is the current directory.\r\n");
    assert_eq!(codes(&h.send("CWD pub")), [250]);
    assert_eq!(h.send("PWD"), "257 \"/pub\" is the current directory.\r\n");
    assert_eq!(codes(&h.send("CWD ../../..")), [250]);
    assert_eq!(h.s.cwd(), "");
    assert_eq!(codes(&h.send("CWD /pub")), [250]);
    assert_eq!(codes(&h.send("CDUP")), [250]);
    assert_eq!(h.s.cwd(), "");
    assert_eq!(codes(&h.send("CWD top.txt")), [550]);
    assert_eq!(codes(&h.send("CWD missing")), [550]);
    assert_eq!(codes(&h.send("CWD a\u{7f}b")), [553]);
    assert_eq!(codes(&h.send("SIZE ../../etc/passwd")), [550]);
    assert!(
        h.events
            .iter()
            .any(|e| e.contains("Metadata(\"etc/passwd\")"))
    );
}

#[test]
fn directory_and_file_management() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(h.send("MKD new\"dir"), "257 \"/new\"\"dir\" created.\r\n");
    assert_eq!(codes(&h.send("MKD new\"dir")), [553]);
    assert_eq!(codes(&h.send("RMD new\"dir")), [250]);
    assert_eq!(codes(&h.send("RMD pub")), [550]);
    assert_eq!(codes(&h.send("DELE top.txt")), [250]);
    assert_eq!(codes(&h.send("DELE top.txt")), [550]);
    assert!(h.store.get("top.txt").is_none());
}

#[test]
fn rename_needs_rnfr_immediately_before() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(codes(&h.send("RNTO x")), [503]);
    assert_eq!(codes(&h.send("RNFR missing")), [550]);
    assert_eq!(codes(&h.send("RNTO x")), [503]);
    assert_eq!(codes(&h.send("RNFR top.txt")), [350]);
    assert_eq!(codes(&h.send("NOOP")), [200]);
    assert_eq!(codes(&h.send("RNTO x")), [503]);
    assert_eq!(codes(&h.send("RNFR top.txt")), [350]);
    assert_eq!(codes(&h.send("RNTO ../../moved.txt")), [250]);
    assert_eq!(h.store.get("moved.txt").unwrap(), b"top");
}

#[test]
fn size_mdtm_mlst() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(h.send("SIZE pub/data.bin"), "213 256\r\n");
    assert_eq!(codes(&h.send("SIZE pub")), [550]);
    assert_eq!(h.send("MDTM top.txt"), "213 20231114221320\r\n");
    assert_eq!(
        h.send("MLST pub/data.bin"),
        "250-Listing /pub/data.bin\r\n type=file;size=256;modify=20231114221320;perm=rwadf; /pub/data.bin\r\n250 End.\r\n"
    );
    assert_eq!(
        h.send("OPTS MLST size;type;"),
        "200 MLST OPTS type;size;\r\n"
    );
    assert!(
        h.send("FEAT")
            .contains(" MLST type*;size*;modify;perm;\r\n")
    );
    assert_eq!(
        h.send("MLST"),
        "250-Listing /\r\n type=dir; /\r\n250 End.\r\n"
    );
}

#[test]
fn transfer_parameters() {
    let mut h = Harness::logged_in("alice");
    for (cmd, code) in [
        ("TYPE A", 200),
        ("TYPE A N", 200),
        ("TYPE A T", 504),
        ("TYPE E", 504),
        ("TYPE I", 200),
        ("TYPE L 8", 200),
        ("TYPE L 7", 504),
        ("MODE S", 200),
        ("MODE B", 504),
        ("STRU F", 200),
        ("STRU R", 504),
        ("ALLO 500", 202),
        ("REST 10", 350),
        ("OPTS UTF8 ON", 200),
        ("OPTS UTF8 OFF", 504),
        ("OPTS FOO", 501),
        ("SITE HELP", 214),
        ("SITE CHMOD 777 x", 504),
        ("HELP", 214),
        ("STAT", 211),
        ("STAT x", 550),
        ("SYST", 215),
    ] {
        assert_eq!(codes(&h.send(cmd)), [code], "{cmd}");
    }
}

#[test]
fn active_mode_follows_rfc_2577() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(codes(&h.send("PORT 10,0,0,1,40,0")), [504]);
    assert_eq!(codes(&h.send("PORT 127,0,0,1,0,25")), [504]);
    assert_eq!(codes(&h.send("EPRT |1|192.0.2.1|2000|")), [504]);
    assert_eq!(codes(&h.send("EPRT |1|127.0.0.1|1023|")), [504]);
    assert!(h.events.iter().all(|e| !e.contains("Connect")));
    assert_eq!(codes(&h.send("PORT 127,0,0,1,40,0")), [200]);
    let r = h.send("RETR top.txt");
    assert_eq!(codes(&r), [150, 226]);
    assert!(h.events.iter().any(|e| e == "Connect(127.0.0.1:10240)"));
    assert_eq!(h.download, b"top");
    assert_eq!(codes(&h.send("EPRT |1|127.0.0.1|2000|")), [200]);
    assert_eq!(codes(&h.send("EPSV ALL")), [200]);
    assert_eq!(codes(&h.send("PORT 127,0,0,1,40,0")), [501]);
    assert_eq!(codes(&h.send("PASV")), [501]);
    assert_eq!(codes(&h.send("EPSV")), [229]);
}

#[test]
fn active_mode_can_be_disabled() {
    let mut h = Harness::new(ServerConfig {
        active: false,
        ..config()
    });
    h.send("USER anonymous");
    h.send("PASS x");
    assert_eq!(codes(&h.send("PORT 127,0,0,1,40,0")), [502]);
}

#[test]
fn passive_replies_and_masquerade() {
    let mut h = Harness::logged_in("alice");
    h.auto_accept = false;
    assert_eq!(
        h.send("PASV"),
        "227 Entering Passive Mode (127,0,0,1,195,80).\r\n"
    );
    assert_eq!(
        h.send("EPSV"),
        "229 Entering Extended Passive Mode (|||50000|).\r\n"
    );
    assert_eq!(
        h.send("EPSV 1"),
        "229 Entering Extended Passive Mode (|||50000|).\r\n"
    );
    assert_eq!(
        h.send("EPSV 2"),
        "522 Network protocol not supported, use (1).\r\n"
    );
    let mut h = Harness::new(ServerConfig {
        masquerade: Some("203.0.113.9".parse().unwrap()),
        ..config()
    });
    h.send("USER anonymous");
    h.send("PASS x");
    assert_eq!(
        h.send("PASV"),
        "227 Entering Passive Mode (203,0,113,9,195,80).\r\n"
    );
}

#[test]
fn passive_connection_only_from_the_control_peer() {
    let mut h = Harness::logged_in("alice");
    h.auto_accept = false;
    h.send("PASV");
    assert!(!h.s.accept_data_connection(h.now, "127.0.0.2:5000".parse().unwrap()));
    assert!(!h.s.accept_data_connection(h.now, "10.0.0.1:5000".parse().unwrap()));
    assert_eq!(codes(&h.send("RETR top.txt")), [150]);
    assert!(h.s.accept_data_connection(h.now, "127.0.0.1:5000".parse().unwrap()));
    // Only one connection per PASV.
    assert!(!h.s.accept_data_connection(h.now, "127.0.0.1:5001".parse().unwrap()));
    assert_eq!(codes(&h.drive()), [226]);
    assert_eq!(h.download, b"top");
}

#[test]
fn retr_with_rest_type_a_and_errors() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(codes(&h.send("RETR top.txt")), [425]);
    h.send("PASV");
    let r = h.send("RETR pub/data.bin");
    assert_eq!(
        r,
        "125 Opening BINARY mode data connection for /pub/data.bin (256 bytes).\r\n226 Transfer complete (256 bytes).\r\n"
    );
    assert_eq!(h.download, (0..=255u8).collect::<Vec<_>>());
    h.send("PASV");
    h.send("REST 250");
    assert_eq!(codes(&h.send("RETR pub/data.bin")), [125, 226]);
    assert_eq!(h.download, (250..=255u8).collect::<Vec<_>>());
    h.send("PASV");
    h.send("REST 257");
    assert_eq!(codes(&h.send("RETR pub/data.bin")), [554]);
    assert!(h.events.last().unwrap() == "CloseData");
    h.send("PASV");
    assert_eq!(codes(&h.send("RETR missing")), [550]);
    assert_eq!(codes(&h.send("RETR pub")), [550]);
    // The failed RETR left the passive connection in place for the next try.
    h.send("TYPE A");
    assert_eq!(codes(&h.send("RETR pub/readme.txt")), [125, 226]);
    assert_eq!(h.download, b"line one\r\nline two\r\n");
}

#[test]
fn stor_appe_stou_and_rest_resume() {
    let mut h = Harness::logged_in("alice");
    h.upload = b"hello".to_vec();
    h.send("PASV");
    assert_eq!(codes(&h.send("STOR up.bin")), [125, 226]);
    assert_eq!(h.store.get("up.bin").unwrap(), b"hello");
    h.upload = b" world".to_vec();
    h.send("PASV");
    assert_eq!(codes(&h.send("APPE up.bin")), [125, 226]);
    assert_eq!(h.store.get("up.bin").unwrap(), b"hello world");
    h.upload = b"P!".to_vec();
    h.send("PASV");
    h.send("REST 4");
    assert_eq!(codes(&h.send("STOR up.bin")), [125, 226]);
    assert_eq!(h.store.get("up.bin").unwrap(), b"hellP!");
    h.send("PASV");
    h.upload = b"unique".to_vec();
    let r = h.send("STOU");
    assert!(r.starts_with("125 FILE: stou."), "{r}");
    assert_eq!(
        h.store.files().filter(|f| f.starts_with("stou.")).count(),
        1
    );
    h.send("PASV");
    h.send("TYPE A");
    h.upload = b"a\r\nb\r\n".to_vec();
    h.send("STOR text.txt");
    assert_eq!(h.store.get("text.txt").unwrap(), b"a\nb\n");
    h.send("PASV");
    assert_eq!(codes(&h.send("STOR nodir/x")), [550]);
}

#[test]
fn a_full_store_gives_552_and_no_file() {
    let mut h = Harness::logged_in("alice");
    h.store.set_capacity(Some(h.store.used() + 3));
    h.upload = vec![7; 10];
    h.send("PASV");
    assert_eq!(codes(&h.send("STOR big.bin")), [125, 552]);
    assert!(h.store.get("big.bin").is_none());
}

#[test]
fn listings() {
    let mut h = Harness::logged_in("alice");
    h.send("PASV");
    assert_eq!(codes(&h.send("NLST pub")), [125, 226]);
    assert_eq!(h.download, b"data.bin\r\nreadme.txt\r\n");
    h.send("PASV");
    assert_eq!(codes(&h.send("LIST -la")), [125, 226]);
    let text = String::from_utf8(h.download.clone()).unwrap();
    assert!(
        text.contains("drwxr-xr-x   2 ftp      ftp             0 Nov 14 22:13 pub\r\n"),
        "{text}"
    );
    assert!(
        text.contains("-rw-r--r--   1 ftp      ftp             3 Nov 14 22:13 top.txt\r\n"),
        "{text}"
    );
    h.send("PASV");
    h.send("CWD pub");
    assert_eq!(codes(&h.send("MLSD")), [125, 226]);
    assert!(
        h.download
            .starts_with(b"type=file;size=256;modify=20231114221320;perm=rwadf; data.bin\r\n")
    );
    h.send("PASV");
    assert_eq!(codes(&h.send("MLSD data.bin")), [501]);
    assert_eq!(codes(&h.send("LIST missing")), [550]);
}

#[test]
fn abor_during_retr_and_stor() {
    for cmd in ["RETR pub/data.bin", "STOR partial.bin"] {
        let mut h = Harness::logged_in("alice");
        h.hold = true;
        h.send("PASV");
        assert_eq!(codes(&h.send(cmd)), [125]);
        assert!(h.s.is_transferring());
        let r = h.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n");
        assert_eq!(
            r,
            "426 Connection closed; transfer aborted.\r\n226 ABOR successful.\r\n"
        );
        assert!(h.store.get("partial.bin").is_none());
        assert!(!h.s.is_transferring());
    }
}

#[test]
fn abor_without_transfer() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(codes(&h.send("ABOR")), [225]);
    h.auto_accept = false;
    h.send("PASV");
    assert_eq!(codes(&h.send("RETR top.txt")), [150]);
    assert_eq!(codes(&h.send("ABOR")), [426, 226]);
}

#[test]
fn stat_and_noop_during_a_transfer() {
    let mut h = Harness::logged_in("alice");
    h.hold = true;
    h.send("PASV");
    h.send("RETR top.txt");
    assert!(h.send("STAT").contains("Data transfer in progress"));
    assert_eq!(codes(&h.send("NOOP")), [200]);
    // Other commands wait for the transfer to end.
    assert_eq!(h.send("PWD"), "");
    h.s.transfer_done(h.now, TransferOutcome::Complete { bytes: 3 })
        .unwrap();
    assert_eq!(codes(&h.drive()), [226, 257]);
}

#[test]
fn lost_data_connection_is_426() {
    let mut h = Harness::logged_in("alice");
    h.hold = true;
    h.send("PASV");
    h.send("RETR top.txt");
    h.s.transfer_done(h.now, TransferOutcome::ConnectionLost)
        .unwrap();
    assert_eq!(codes(&h.drive()), [426]);
    assert_eq!(
        h.s.transfer_done(h.now, TransferOutcome::ConnectionLost),
        Err(SessionError::Unexpected)
    );
}

#[test]
fn timeouts() {
    let mut h = Harness::logged_in("alice");
    h.auto_accept = false;
    h.send("PASV");
    assert_eq!(codes(&h.send("RETR top.txt")), [150]);
    assert_eq!(codes(&h.advance(Duration::from_secs(60))), [425]);
    assert_eq!(h.events.last().unwrap(), "CloseData");
    // A stalled running transfer is aborted by the data timeout.
    h.auto_accept = true;
    h.hold = true;
    h.send("PASV");
    h.send("RETR top.txt");
    h.s.transfer_progress(h.now + Duration::from_secs(30), 1);
    assert_eq!(h.advance(Duration::from_secs(60)), "");
    assert_eq!(codes(&h.advance(Duration::from_secs(30))), [426]);
    assert_eq!(codes(&h.advance(Duration::from_secs(299))), []);
    assert_eq!(codes(&h.advance(Duration::from_secs(1))), [421]);
    assert!(h.s.is_closed());
}

#[test]
fn quit_closes_and_backpressure_holds_pipelined_input() {
    let mut h = Harness::logged_in("alice");
    let many = "NOOP\r\n".repeat(200);
    let used = h.s.handle_bytes(h.now, many.as_bytes());
    assert!(used < many.len(), "reply buffer must push back");
    assert!(h.s.output().len() <= OUTPUT_CAPACITY);
    h.pending.extend_from_slice(&many.as_bytes()[used..]);
    let rest = h.drive();
    assert!(h.pending.is_empty());
    assert_eq!(codes(&rest), [200; 200]);
    assert_eq!(codes(&h.send("QUIT")), [221]);
    assert!(h.s.is_closed());
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn misuse_is_an_error() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(
        h.s.storage_done(h.now, Ok(None)),
        Err(SessionError::Unexpected)
    );
    assert_eq!(
        h.s.login_verified(h.now, Some(true)),
        Err(SessionError::Unexpected)
    );
    assert_eq!(
        h.s.passive_listening(h.now, 1),
        Err(SessionError::Unexpected)
    );
    assert_eq!(h.s.data_connected(h.now), Err(SessionError::Unexpected));
}

#[test]
fn login_edge_cases() {
    let mut h = Harness::new(config());
    assert_eq!(
        codes(&h.send(&format!("USER {}", "u".repeat(MAX_USER + 1)))),
        [501]
    );
    assert_eq!(codes(&h.send("PASS x")), [503]);
    // A password too long for the verifier fails like a wrong one, delay included.
    h.send("USER alice");
    assert_eq!(
        h.send(&format!("PASS {}", "p".repeat(MAX_PASSWORD + 1))),
        ""
    );
    assert!(h.events.iter().all(|e| !e.contains("VerifyLogin")));
    assert_eq!(codes(&h.advance(Duration::from_millis(100))), [530]);
    h.send("USER reader");
    assert_eq!(codes(&h.send("PASS secret")), [230]);
    assert!(h.events.last().unwrap().contains("writable: false"));
    assert_eq!(codes(&h.send("PASS again")), [230]);
    assert_eq!(codes(&h.send("MKD d")), [550]);
    assert_eq!(codes(&h.send("HELP")), [214]);
}

#[test]
fn data_connection_failures() {
    let mut h = Harness::logged_in("alice");
    // The driver cannot open a passive listener.
    h.s.handle_bytes(h.now, b"PASV\r\n");
    assert_eq!(h.s.poll_event(), Some(Event::Listen));
    h.s.passive_failed(h.now).unwrap();
    assert_eq!(codes(&h.drain_output()), [425]);
    // Nor connect for an active transfer.
    h.send("PORT 127,0,0,1,40,0");
    h.s.handle_bytes(h.now, b"RETR top.txt\r\n");
    let mut ev = h.s.poll_event();
    while let Some(Event::Storage(op)) = ev {
        let (answer, _) = perform(&mut h.store, &op);
        h.s.storage_done(h.now, answer).unwrap();
        ev = h.s.poll_event();
    }
    assert_eq!(ev, Some(Event::Connect("127.0.0.1:10240".parse().unwrap())));
    h.s.data_connect_failed(h.now).unwrap();
    assert_eq!(h.s.poll_event(), Some(Event::CloseData));
    assert_eq!(codes(&h.drain_output()), [150, 425]);
    // ABOR while the active connection is still being made.
    h.send("PORT 127,0,0,1,40,0");
    h.s.handle_bytes(h.now, b"RETR top.txt\r\n");
    while let Some(Event::Storage(op)) = h.s.poll_event() {
        let (answer, _) = perform(&mut h.store, &op);
        h.s.storage_done(h.now, answer).unwrap();
    }
    assert_eq!(codes(&h.send("ABOR")), [150, 426, 226]);
    // A storage error in the middle of a download.
    h.hold = true;
    h.send("PASV");
    h.send("RETR top.txt");
    h.s.transfer_done(h.now, TransferOutcome::Storage(StoreError::Io))
        .unwrap();
    assert_eq!(codes(&h.drive()), [451]);
}

#[test]
fn transfer_that_ends_while_abor_is_in_flight() {
    let mut h = Harness::logged_in("alice");
    h.hold = true;
    h.send("PASV");
    h.send("RETR top.txt");
    h.s.handle_bytes(h.now, b"ABOR\r\n");
    assert_eq!(h.s.poll_event(), Some(Event::Abort));
    // The driver had already sent everything.
    h.s.transfer_done(h.now, TransferOutcome::Complete { bytes: 3 })
        .unwrap();
    assert_eq!(codes(&h.drain_output()), [426, 226]);
}

#[test]
fn quit_waits_for_the_transfer_and_shutdown_says_421() {
    let mut h = Harness::logged_in("alice");
    h.hold = true;
    h.send("PASV");
    h.send("RETR top.txt");
    assert_eq!(h.send("QUIT"), "");
    assert!(!h.s.is_closed());
    h.s.transfer_done(h.now, TransferOutcome::Complete { bytes: 3 })
        .unwrap();
    assert_eq!(codes(&h.drive()), [226, 221]);
    assert!(h.s.is_closed());
    let mut h = Harness::logged_in("alice");
    h.s.shutdown(h.now);
    assert_eq!(codes(&h.drain_output()), [421]);
    assert!(h.s.is_closed());
}

#[test]
fn ipv6_control_connections() {
    let mut s = ServerSession::new(
        Instant::ZERO,
        config(),
        "[::1]:40000".parse().unwrap(),
        "[::1]:21".parse().unwrap(),
    );
    let mut out = [0u8; 1024];
    s.poll_transmit(Instant::ZERO, &mut out).unwrap_or(0);
    s.handle_bytes(Instant::ZERO, b"USER ftp\r\nPASS x\r\n");
    let _ = s.poll_event();
    s.handle_bytes(
        Instant::ZERO,
        b"PASV\r\nEPSV 1\r\nEPRT |1|127.0.0.1|5000|\r\nEPRT |2|::1|5000|\r\n",
    );
    let n = s.poll_transmit(Instant::ZERO, &mut out).unwrap_or(0);
    let text = core::str::from_utf8(&out[..n]).unwrap();
    assert_eq!(
        text,
        "331 Anonymous login okay, send your e-mail address as password.\r\n230 Login successful.\r\n522 PASV needs IPv4; use EPSV.\r\n522 Network protocol not supported, use (2).\r\n\
         504 Data connections go only to the control connection's address (RFC 2577).\r\n200 PORT command successful.\r\n"
    );
}

#[test]
fn mdtm_of_a_directory_and_stou_collisions() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(codes(&h.send("MDTM pub")), [550]);
    h.send("PASV");
    h.upload = b"1".to_vec();
    let first = h.send("STOU");
    let name = first
        .split("FILE: ")
        .nth(1)
        .unwrap()
        .split("\r\n")
        .next()
        .unwrap()
        .to_string();
    // Occupy the next names the session would pick: it moves on.
    let n = u32::from_str_radix(name.trim_start_matches("stou."), 16).unwrap();
    for k in 1..4 {
        h.store
            .insert(&format!("stou.{:08x}", n.wrapping_add(k)), vec![]);
    }
    h.send("PASV");
    h.upload = b"2".to_vec();
    let second = h.send("STOU");
    assert!(
        second.contains(&format!("FILE: stou.{:08x}", n.wrapping_add(4))),
        "{second}"
    );
    assert_eq!(
        h.store
            .get(&format!("stou.{:08x}", n.wrapping_add(4)))
            .unwrap(),
        b"2"
    );
}

#[test]
fn stat_with_a_path_lists_on_the_control_connection() {
    let mut h = Harness::logged_in("alice");
    assert_eq!(
        h.send("STAT pub/data.bin"),
        "213-Status of /pub/data.bin:\r\n-rw-r--r--   1 ftp      ftp           256 Nov 14 22:13 data.bin\r\n213 End of status.\r\n"
    );
    let r = h.send("STAT -la pub");
    assert!(r.starts_with("213-Status of /pub:\r\n"), "{r}");
    assert!(
        r.contains(" data.bin\r\n") && r.contains(" readme.txt\r\n"),
        "{r}"
    );
    assert!(r.ends_with("\r\n213 End of status.\r\n"), "{r}");
    assert_eq!(codes(&h.send("STAT missing")), [550]);
    // A directory too big for one reply is cut short, and says so.
    for i in 0..200 {
        h.store.insert(&format!("many/file-{i:03}"), vec![]);
    }
    let r = h.send("STAT many");
    assert!(
        r.contains(" (more entries: use LIST)\r\n213 End of status.\r\n"),
        "{r}"
    );
    assert!(r.len() < OUTPUT_CAPACITY);
    assert_eq!(codes(&h.send("NOOP")), [200]);
    let mut h = Harness::new(config());
    assert_eq!(codes(&h.send("STAT pub")), [530]);
}

#[test]
fn a_session_is_small_and_fixed_in_size() {
    // Thousands of sessions share one event loop: the whole state of one
    // is this struct, with no heap behind it.
    let size = core::mem::size_of::<ServerSession>();
    assert!(size <= 6 * 1024 + 512, "{size} bytes");
    assert!(core::mem::size_of::<crate::ftp::client::ClientSession>() <= 4 * 1024);
}
