//! Hostile and broken FTP clients against our server, over real loopback
//! sockets: every one gets a clear reply, nothing leaves the root, nothing
//! half-written stays behind, and other sessions keep being served.

mod ftp_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::symlink;
use std::time::{Duration, Instant};

use ftp_support::{BIG, serve};
use netboot_tests::test_bytes;

/// A raw control connection.
struct Ctl {
    reader: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Ctl {
    /// A session the server accepts: its greeting must be `220`.
    fn connect(port: u16) -> Ctl {
        Ctl::accepted(TcpStream::connect(("127.0.0.1", port)).unwrap())
    }

    /// Wraps an open control connection and reads its greeting, which must
    /// be `220` (a `421` refusal fails the test).
    fn accepted(stream: TcpStream) -> Ctl {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut c = Ctl {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        };
        let greeting = c.reply();
        assert!(greeting.starts_with("220 "), "greeting: {greeting}");
        c
    }

    fn login(port: u16, user: &str) -> Ctl {
        let mut c = Ctl::connect(port);
        c.cmd(&format!("USER {user}"));
        assert!(c.cmd("PASS pw").starts_with("230 "));
        c
    }

    /// Reads one complete reply; returns its last line.
    fn reply(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        if line.len() >= 4 && line.as_bytes()[3] == b'-' {
            let end = format!("{} ", &line[..3]);
            loop {
                let mut next = String::new();
                assert!(
                    self.reader.read_line(&mut next).unwrap() > 0,
                    "EOF inside a reply"
                );
                if next.starts_with(&end) {
                    return next.trim_end().to_string();
                }
            }
        }
        line.trim_end().to_string()
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn cmd(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    fn code(&mut self, line: &str) -> u16 {
        let r = self.cmd(line);
        r[..3].parse().unwrap_or_else(|_| panic!("{line}: {r}"))
    }

    /// `EPSV`, returning the data port. (A transfer command then gets 125
    /// or 150, depending on whether the data connection was accepted first.)
    fn epsv(&mut self) -> u16 {
        let r = self.cmd("EPSV");
        assert!(r.starts_with("229 "), "{r}");
        let inner = r.split("(|||").nth(1).unwrap();
        inner.split('|').next().unwrap().parse().unwrap()
    }

    fn closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(self.stream.read(&mut buf), Ok(0) | Err(_))
    }
}

#[test]
fn overlong_lines_and_commands_before_login() {
    let s = serve(|_| {});
    let mut c = Ctl::connect(s.port);
    for cmd in [
        "RETR big.bin",
        "CWD tree",
        "LIST",
        "PASV",
        "STOR x",
        "DELE big.bin",
    ] {
        assert_eq!(c.code(cmd), 530, "{cmd}");
    }
    let mut long = vec![b'X'; 200_000];
    long.extend_from_slice(b"\r\n");
    c.send_raw(&long);
    assert!(c.reply().starts_with("500 "));
    assert_eq!(c.code("NOOP"), 200);
    assert_eq!(c.code("USER anonymous"), 331);
    assert_eq!(c.code("PASS x"), 230);
    assert_eq!(c.code("SIZE big.bin"), 213);
}

#[test]
fn thousands_of_pipelined_commands_are_all_answered_in_order() {
    let s = serve(|_| {});
    let mut c = Ctl::login(s.port, "alice");
    let mut burst = String::new();
    for i in 0..5000 {
        burst += if i % 2 == 0 {
            "NOOP\r\n"
        } else {
            "SIZE tree/deep/b.txt\r\n"
        };
    }
    c.send_raw(burst.as_bytes());
    for i in 0..5000 {
        let want = if i % 2 == 0 { "200 NOOP ok." } else { "213 4" };
        assert_eq!(c.reply(), want, "reply {i}");
    }
    assert_eq!(c.code("NOOP"), 200);
}

#[test]
fn paths_and_symlinks_never_leave_the_root() {
    let s = serve(|_| {});
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    symlink(outside.path().join("secret"), s.path("escape")).unwrap();
    symlink(outside.path(), s.path("outdir")).unwrap();
    let mut c = Ctl::login(s.port, "alice");
    assert_eq!(c.code("CWD ../../../.."), 250);
    assert_eq!(c.cmd("PWD"), "257 \"/\" is the current directory.");
    assert_eq!(c.code("CWD /etc"), 550);
    assert_eq!(c.code("CWD outdir"), 550);
    assert_eq!(c.code("SIZE ../../../../etc/passwd"), 550);
    assert_eq!(c.code("SIZE /etc/passwd"), 550);
    assert_eq!(c.code("SIZE escape"), 550);
    assert_eq!(c.code("RNFR escape"), 550);
    assert_eq!(c.code("RNFR outdir/secret"), 550);
    assert_eq!(c.code("DELE outdir/secret"), 550);
    assert_eq!(c.code("MKD outdir/new"), 550);
    // `..` is clamped at the root: this creates /x inside the root.
    assert_eq!(c.cmd("MKD ../../x"), "257 \"/x\" created.");
    assert!(s.path("x").is_dir());
    let port = c.epsv();
    let _data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(c.code("RETR ../../etc/passwd"), 550);
    assert_eq!(c.code("RETR escape"), 550);
    assert_eq!(c.code("STOR outdir/planted"), 550);
    assert_eq!(c.code("RNFR big.bin"), 350);
    assert_eq!(c.code("RNTO outdir/stolen"), 550);
    assert_eq!(
        std::fs::read(outside.path().join("secret")).unwrap(),
        b"secret"
    );
    let names: Vec<_> = std::fs::read_dir(outside.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["secret"]);
    assert!(s.path("big.bin").exists());
}

#[test]
fn each_user_is_jailed_in_their_own_root() {
    let s = serve(|c| {
        c.users.push(netboot_std::ftp::FtpUser {
            name: "bob".into(),
            password_hash: ftp_support::cheap_hash("pw"),
            root: Some("tree".into()),
            writable: Some(false),
        })
    });
    let mut c = Ctl::login(s.port, "bob");
    assert_eq!(c.cmd("SIZE a.bin"), "213 70000");
    // big.bin lives in the server root, above bob's.
    for path in ["big.bin", "../big.bin", "/big.bin", "../../tree/../big.bin"] {
        assert_eq!(c.code(&format!("SIZE {path}")), 550, "{path}");
    }
    assert_eq!(c.code("CWD .."), 250);
    assert_eq!(c.cmd("PWD"), "257 \"/\" is the current directory.");
    assert_eq!(c.cmd("SIZE deep/b.txt"), "213 4");
    // Read-only account.
    assert_eq!(c.code("MKD x"), 550);
    assert_eq!(c.code("DELE a.bin"), 550);
    assert!(s.path("tree/a.bin").exists());
}

#[test]
fn port_and_eprt_follow_rfc_2577() {
    let s = serve(|_| {});
    let mut c = Ctl::login(s.port, "alice");
    // Somebody else's listener: the server must never connect to it.
    let victim = TcpListener::bind("127.0.0.2:0").unwrap();
    victim.set_nonblocking(true).unwrap();
    let vport = victim.local_addr().unwrap().port();
    let [p1, p2] = vport.to_be_bytes();
    assert_eq!(c.code(&format!("PORT 127,0,0,2,{p1},{p2}")), 504);
    assert_eq!(c.code(&format!("EPRT |1|127.0.0.2|{vport}|")), 504);
    assert_eq!(c.code("PORT 127,0,0,1,0,80"), 504);
    assert_eq!(c.code("EPRT |1|127.0.0.1|21|"), 504);
    assert_eq!(c.code("RETR big.bin"), 425);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        victim.accept().is_err(),
        "the server connected to a third party"
    );
    // The client's own address and a high port work.
    let mine = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = mine.local_addr().unwrap().port();
    assert_eq!(c.code(&format!("EPRT |1|127.0.0.1|{port}|")), 200);
    assert_eq!(c.code("RETR tree/deep/b.txt"), 150);
    let (mut data, _) = mine.accept().unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bee\n");
    assert!(c.reply().starts_with("226 "));
}

fn connect_from(source: &str, port: u16) -> std::io::Result<TcpStream> {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    sock.bind(&source.parse::<SocketAddr>().unwrap().into())?;
    sock.connect(&SocketAddr::from(([127, 0, 0, 1], port)).into())?;
    Ok(sock.into())
}

#[test]
fn passive_connection_from_another_address_is_refused() {
    let s = serve(|_| {});
    let mut c = Ctl::login(s.port, "alice");
    let port = c.epsv();
    let mut thief = connect_from("127.0.0.2:0", port).unwrap();
    thief
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    // The server closes the intruder at once, without a byte.
    assert!(matches!(thief.read(&mut buf), Ok(0) | Err(_)));
    assert_eq!(c.code("RETR tree/deep/b.txt"), 150);
    let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bee\n");
    assert!(c.reply().starts_with("226 "));
}

fn upload_leftovers(root: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".netboot-part") || n == "dropped.bin")
        .collect()
}

#[test]
fn a_client_that_disconnects_mid_stor_leaves_nothing() {
    let s = serve(|_| {});
    // The control connection goes away while the data is still flowing.
    let mut c = Ctl::login(s.port, "alice");
    let port = c.epsv();
    let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(matches!(c.code("STOR dropped.bin"), 125 | 150));
    data.write_all(&test_bytes(7, 200_000)).unwrap();
    drop(c);
    let gone = netboot_tests::wait_for(Duration::from_secs(10), || {
        let mut b = [0u8; 1];
        data.set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        matches!(data.read(&mut b), Ok(0) | Err(_))
            .then_some(())
            .filter(|_| upload_leftovers(s.root.path()).is_empty())
    });
    assert!(
        gone.is_some(),
        "upload still pending: {:?}",
        upload_leftovers(s.root.path())
    );
    drop(data);
    // The data connection is reset in the middle of the upload.
    let mut c = Ctl::login(s.port, "alice");
    let port = c.epsv();
    let data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(matches!(c.code("STOR dropped.bin"), 125 | 150));
    (&data).write_all(&test_bytes(8, 100_000)).unwrap();
    socket2::SockRef::from(&data)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(data);
    let r = c.reply();
    assert!(r.starts_with("426 "), "{r}");
    assert!(upload_leftovers(s.root.path()).is_empty());
    assert_eq!(c.code("NOOP"), 200);
}

#[test]
fn abor_mid_stor_over_raw_sockets() {
    let s = serve(|_| {});
    let mut c = Ctl::login(s.port, "alice");
    let port = c.epsv();
    let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(matches!(c.code("STOR aborted.bin"), 125 | 150));
    data.write_all(&test_bytes(7, 100_000)).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    c.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n");
    assert!(c.reply().starts_with("426 "));
    assert!(c.reply().starts_with("226 "));
    assert!(!s.path("aborted.bin").exists());
    assert!(upload_leftovers(s.root.path()).is_empty());
    let port = c.epsv();
    let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(matches!(c.code("RETR big.bin"), 125 | 150));
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert!(
        got == test_bytes(1, BIG),
        "RETR big.bin after ABOR: {} bytes, not the file's {BIG}",
        got.len()
    );
    assert!(c.reply().starts_with("226 "));
}

#[test]
fn session_limits_answer_421() {
    let s = serve(|c| {
        c.max_sessions_per_ip = 2;
        c.max_sessions = 3;
    });
    const REFUSAL: &str = "421 Too many connections; try again later.\r\n";
    // Within both limits: greeted with 220 (`Ctl::accepted` insists).
    let mut a = Ctl::connect(s.port);
    let mut b = Ctl::connect(s.port);
    // A third from the same address is over the per-address limit.
    let mut refused = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut text = String::new();
    refused.read_to_string(&mut text).unwrap();
    assert_eq!(text, REFUSAL);
    // Another address is within the per-address limit and, as the third
    // session, within the total: it is served.
    let mut c = Ctl::accepted(connect_from("127.0.0.3:0", s.port).unwrap());
    // A fourth session, from yet another address, is over the total.
    let mut over = connect_from("127.0.0.4:0", s.port).unwrap();
    over.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut text = String::new();
    over.read_to_string(&mut text).unwrap();
    assert_eq!(text, REFUSAL);
    // The accepted sessions are real sessions, still served.
    for ctl in [&mut a, &mut b, &mut c] {
        assert_eq!(ctl.cmd("NOOP"), "200 NOOP ok.");
        assert_eq!(ctl.code("USER anonymous"), 331);
        assert_eq!(ctl.code("PASS x"), 230);
        assert_eq!(ctl.cmd("SIZE tree/deep/b.txt"), "213 4");
    }
}

#[test]
fn idle_and_data_timeouts() {
    let s = serve(|c| {
        c.idle_timeout_secs = 1;
        c.data_timeout_secs = 1;
    });
    let mut c = Ctl::login(s.port, "alice");
    c.epsv();
    assert!(matches!(c.code("RETR big.bin"), 125 | 150));
    // Nobody connects to the passive port.
    assert!(c.reply().starts_with("425 "));
    assert!(c.reply().starts_with("421 "));
    assert!(c.closed());
}

#[test]
fn a_thousand_wrong_passwords_are_delayed_and_others_stay_served() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};

    const DELAY_MS: u64 = 2;
    const ATTEMPTS_PER_SESSION: usize = 250;
    let s = serve(|c| {
        c.login_delay_ms = DELAY_MS;
        c.max_login_attempts = ATTEMPTS_PER_SESSION as u8;
    });
    let port = s.port;
    let done = Arc::new(AtomicBool::new(false));
    // Commands the bystander has had answered (each one correctly).
    let answered = Arc::new(AtomicU64::new(0));
    let size_reply = format!("213 {BIG}");
    let bystander = {
        let done = done.clone();
        let answered = answered.clone();
        let size_reply = size_reply.clone();
        std::thread::spawn(move || {
            let mut c = Ctl::login(port, "alice");
            // Ends when the attack does (or, if the test fails first, when
            // the server shuts down under it).
            while !done.load(SeqCst) {
                let r = c.cmd("SIZE big.bin");
                assert_eq!(r, size_reply, "bystander reply {}", answered.load(SeqCst));
                answered.fetch_add(1, SeqCst);
            }
            // Still logged in and served after the attack.
            assert_eq!(c.cmd("NOOP"), "200 NOOP ok.");
            assert_eq!(c.cmd("SIZE tree/deep/b.txt"), "213 4");
        })
    };
    let start = Instant::now();
    for session in 0..4 {
        let mut c = Ctl::connect(port);
        for attempt in 0..ATTEMPTS_PER_SESSION {
            assert_eq!(c.code("USER alice"), 331);
            let sent = Instant::now();
            let r = c.cmd("PASS wrong");
            assert!(r.starts_with("530 "), "{r}");
            // The delay holds for every single attempt.
            assert!(
                sent.elapsed() >= Duration::from_millis(DELAY_MS),
                "attempt {attempt} answered early"
            );
            if attempt == ATTEMPTS_PER_SESSION / 2 {
                // Half way through this attacker session, the bystander's
                // session is still answered (each reply exact, checked in
                // its thread). A liveness check, not a rate: the bound is
                // only a guard against a hang.
                let before = answered.load(SeqCst);
                let moved = netboot_tests::wait_for(Duration::from_secs(60), || {
                    (answered.load(SeqCst) > before || bystander.is_finished()).then_some(())
                });
                assert!(
                    moved.is_some(),
                    "the bystander's session hung during attacker session {session}"
                );
                if bystander.is_finished() {
                    // It failed: report its panic.
                    bystander.join().unwrap();
                    panic!("the bystander stopped during attacker session {session}");
                }
            }
            if attempt == ATTEMPTS_PER_SESSION - 1 {
                assert!(
                    c.reply().starts_with("421 "),
                    "session {session} not closed"
                );
                assert!(c.closed());
            }
        }
    }
    let attack = start.elapsed();
    done.store(true, SeqCst);
    bystander.join().unwrap();
    assert!(attack >= Duration::from_millis(1000 * DELAY_MS));
    // And the right password still works afterwards.
    let _ = Ctl::login(port, "alice");
}

#[test]
fn a_burst_of_five_hundred_sessions_is_all_served() {
    // All connect at once: the accept queue must hold them (a shallow
    // backlog makes the kernel drop handshakes and clients hang).
    const N: usize = 500;
    let s = serve(|c| c.max_sessions_per_ip = N);
    let port = s.port;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(N));
    let threads: Vec<_> = (0..N)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    barrier.wait();
                    let mut ftp = netboot_mio::ftp::FtpClient::connect_timeout(
                        ("127.0.0.1", port),
                        Duration::from_secs(60),
                    )
                    .map_err(|e| e.to_string())?;
                    ftp.login("anonymous", "x").map_err(|e| e.to_string())?;
                    let mut data = Vec::new();
                    ftp.get("tree/a.bin", 0, &mut data, &mut |_, _| {})
                        .map_err(|e| e.to_string())?;
                    ftp.quit().map_err(|e| e.to_string())?;
                    Ok::<_, String>(data)
                })
                .unwrap()
        })
        .collect();
    let expected = test_bytes(2, 70_000);
    for t in threads {
        assert_eq!(t.join().unwrap().unwrap(), expected);
    }
}

/// A fake server that sends its greeting one byte every 150 ms for 6 s and
/// never completes a line.
fn trickling_server() -> (SocketAddr, std::thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        for _ in 0..40 {
            if s.write_all(b"2").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    });
    (addr, server)
}

#[test]
fn both_clients_time_out_on_a_server_trickling_its_greeting() {
    // Every read gets a byte well within the timeout, but no reply ever
    // completes: the session's reply deadline must end the wait, long
    // before the trickle does (6 s).
    use netboot_mio::ftp::FtpError;
    type Connect = fn(SocketAddr) -> Result<(), FtpError>;
    let clients: [(&str, Connect); 2] = [
        ("mio", |addr| {
            netboot_mio::ftp::FtpClient::connect_timeout(addr, Duration::from_secs(1)).map(drop)
        }),
        ("async-std", |addr| {
            async_std::task::block_on(netboot_async_std::ftp::FtpClient::connect_timeout(
                addr,
                Duration::from_secs(1),
            ))
            .map(drop)
        }),
    ];
    for (name, connect) in clients {
        let (addr, server) = trickling_server();
        let start = Instant::now();
        let r = connect(addr);
        assert!(matches!(r, Err(FtpError::Timeout)), "{name}: {:?}", r.err());
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{name}: {:?}",
            start.elapsed()
        );
        server.join().unwrap();
    }
}
