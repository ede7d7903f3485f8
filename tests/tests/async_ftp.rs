//! The async FTP server and client (`netboot-async-std`): curl and Python's
//! ftplib against the async server, our async client against it, and a
//! shutdown with transfers in flight.

mod ftp_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use async_std::task::block_on;
use ftp_support::{BIG, FTPLIB_ABORT, FTPLIB_SCRIPT, config, fixture, run_ok};
use netboot_async_std::ftp::{FtpClient, FtpError, FtpServer};
use netboot_core::ftp::client::StoreMode;
use netboot_tests::{require_program, test_bytes, wait_for};

/// The async server on a fresh fixture root (anonymous read-only,
/// `alice:pw` writable).
fn serve() -> (FtpServer, tempfile::TempDir, u16) {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let server = FtpServer::start(&config(root.path())).unwrap();
    let port = server.addr().port();
    (server, root, port)
}

fn leftovers(root: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".netboot-part"))
        .collect()
}

fn curl() -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "30"]);
    c
}

#[test]
fn curl_retr_list_stor_and_resume_against_the_async_server() {
    let Some(_) = require_program(
        "curl_retr_list_stor_and_resume_against_the_async_server",
        "curl",
    ) else {
        return;
    };
    let (server, root, port) = serve();
    let out = tempfile::tempdir().unwrap();
    for (name, extra) in [("epsv", None), ("pasv", Some("--disable-epsv"))] {
        let dest = out.path().join(name);
        run_ok(
            "curl",
            curl()
                .args(extra)
                .arg(format!("ftp://127.0.0.1:{port}/big.bin"))
                .arg("-o")
                .arg(&dest),
        );
        assert!(
            std::fs::read(&dest).unwrap() == test_bytes(1, BIG),
            "{name}"
        );
    }
    let listing = run_ok("curl", curl().arg(format!("ftp://127.0.0.1:{port}/tree/")));
    let text = String::from_utf8(listing.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.trim_end().ends_with(" a.bin") && l.contains("70000")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with('d') && l.trim_end().ends_with(" deep")),
        "{text}"
    );
    // Upload, then resume an interrupted one with -C -.
    let src = out.path().join("up.bin");
    let content = test_bytes(11, 300_000);
    std::fs::write(&src, &content).unwrap();
    run_ok(
        "curl",
        curl()
            .arg("-T")
            .arg(&src)
            .arg(format!("ftp://alice:pw@127.0.0.1:{port}/up.bin")),
    );
    assert!(std::fs::read(root.path().join("up.bin")).unwrap() == content);
    std::fs::write(root.path().join("half.bin"), &content[..100_000]).unwrap();
    run_ok(
        "curl",
        curl()
            .args(["-C", "-", "-T"])
            .arg(&src)
            .arg(format!("ftp://alice:pw@127.0.0.1:{port}/half.bin")),
    );
    assert!(std::fs::read(root.path().join("half.bin")).unwrap() == content);
    // Anonymous uploads are refused (curl exit 25: upload failed).
    let refused = Command::new("curl")
        .args(["-sS", "--max-time", "30", "-T"])
        .arg(&src)
        .arg(format!("ftp://127.0.0.1:{port}/anon.bin"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(25), "{refused:?}");
    assert!(!root.path().join("anon.bin").exists());
    assert!(leftovers(root.path()).is_empty());
    block_on(server.shutdown()).unwrap();
}

#[test]
fn python_ftplib_session_and_abort_against_the_async_server() {
    let Some(_) = require_program(
        "python_ftplib_session_and_abort_against_the_async_server",
        "python3",
    ) else {
        return;
    };
    let (server, root, port) = serve();
    let got = tempfile::NamedTempFile::new().unwrap();
    let out = run_ok(
        "python3",
        Command::new("python3")
            .args(["-c", FTPLIB_SCRIPT, &port.to_string()])
            .arg(got.path()),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("230 Login successful."), "{text}");
    assert!(text.contains(&format!("retr {BIG}\n")), "{text}");
    assert!(text.contains("mlsd a.bin file 70000\n"), "{text}");
    assert!(text.contains("mlsd deep dir\n"), "{text}");
    assert!(
        text.contains("refused 550 No such file or directory."),
        "{text}"
    );
    assert!(text.contains("213 100000"), "{text}");
    assert!(
        text.contains("ascii lines ['line one', 'line two']"),
        "{text}"
    );
    assert_eq!(
        std::fs::read(root.path().join("text.txt")).unwrap(),
        b"alpha\nbeta\n"
    );
    assert!(std::fs::read(got.path()).unwrap() == test_bytes(1, BIG));
    assert_eq!(
        std::fs::read(root.path().join("renamed.bin")).unwrap(),
        b"0123456789".repeat(10_000)
    );
    assert!(!root.path().join("pub/readme.txt").exists());
    assert!(root.path().join("made").is_dir());
    // ABOR (as urgent data) in the middle of a RETR and of a STOR.
    std::fs::write(root.path().join("huge.bin"), test_bytes(4, 48 << 20)).unwrap();
    let out = run_ok(
        "python3",
        Command::new("python3").args(["-c", FTPLIB_ABORT, &port.to_string()]),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.matches("426 Connection closed; transfer aborted.\n226 ABOR successful.")
            .count(),
        2,
        "{text}"
    );
    assert_eq!(text.matches("200 NOOP ok.").count(), 2, "{text}");
    assert!(!root.path().join("aborted.bin").exists());
    assert!(leftovers(root.path()).is_empty());
    block_on(server.shutdown()).unwrap();
}

#[test]
fn async_client_against_the_async_server() {
    let (server, root, port) = serve();
    block_on(async {
        let mut ftp = FtpClient::connect(("127.0.0.1", port)).await.unwrap();
        ftp.login("alice", "pw").await.unwrap();
        let mut got = Vec::new();
        assert_eq!(ftp.get("big.bin", 0, &mut got).await.unwrap(), BIG as u64);
        assert!(got == test_bytes(1, BIG));
        let mut tail = Vec::new();
        ftp.get("big.bin", 1000, &mut tail).await.unwrap();
        assert!(tail[..] == test_bytes(1, BIG)[1000..]);
        let content = test_bytes(12, 500_000);
        ftp.put("new.bin", &mut &content[..]).await.unwrap();
        ftp.store("new.bin", StoreMode::Append, &mut &b"tail"[..])
            .await
            .unwrap();
        assert_eq!(ftp.size("new.bin").await.unwrap(), 500_004);
        ftp.mkdir("dir").await.unwrap();
        ftp.rename("new.bin", "dir/moved.bin").await.unwrap();
        ftp.cwd("dir").await.unwrap();
        assert!(ftp.list(None).await.unwrap().contains("moved.bin"));
        let err = ftp.delete("nope").await.unwrap_err();
        assert!(matches!(err, FtpError::Refused { code: 550, .. }), "{err}");
        ftp.quit().await.unwrap();
        // Wrong password: 530 after the login delay.
        let mut bad = FtpClient::connect(("127.0.0.1", port)).await.unwrap();
        let err = bad.login("alice", "wrong").await.unwrap_err();
        assert!(matches!(err, FtpError::Refused { code: 530, .. }), "{err}");
        server.shutdown().await.unwrap();
    });
    let mut expected = test_bytes(12, 500_000);
    expected.extend_from_slice(b"tail");
    assert!(std::fs::read(root.path().join("dir/moved.bin")).unwrap() == expected);
}

/// Reads one reply (its last line) from a raw control connection.
fn reply(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    if line.len() >= 4 && line.as_bytes()[3] == b'-' {
        let end = format!("{} ", &line[..3]);
        loop {
            let mut next = String::new();
            if r.read_line(&mut next).unwrap() == 0 || next.starts_with(&end) {
                return next.trim_end().to_string();
            }
        }
    }
    line.trim_end().to_string()
}

/// Logs in as alice on a raw control connection and opens an EPSV data
/// connection; returns (control writer, control reader, data).
fn raw_session(port: u16) -> (TcpStream, BufReader<TcpStream>, TcpStream) {
    let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(c.try_clone().unwrap());
    let mut w = c;
    assert!(reply(&mut r).starts_with("220"));
    for cmd in ["USER alice", "PASS pw"] {
        w.write_all(format!("{cmd}\r\n").as_bytes()).unwrap();
        reply(&mut r);
    }
    w.write_all(b"EPSV\r\n").unwrap();
    let epsv = reply(&mut r);
    let port: u16 = epsv
        .split("(|||")
        .nth(1)
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    data.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (w, r, data)
}

#[test]
fn async_shutdown_with_ftp_transfers_in_flight() {
    let (server, root, port) = serve();
    check_shutdown_in_flight(port, root.path(), || block_on(server.shutdown()).unwrap());
}

#[test]
fn mio_shutdown_with_ftp_transfers_in_flight() {
    let root = tempfile::tempdir().unwrap();
    fixture(root.path());
    let server = netboot_mio::ftp::FtpServer::start(&config(root.path())).unwrap();
    let port = server.addr().port();
    check_shutdown_in_flight(port, root.path(), || server.shutdown().unwrap());
}

/// A download the client stops reading and an upload that never ends are
/// running when `stop` stops the server: both sessions get 421, the data
/// connections end, the download is cut short, and the upload leaves
/// nothing behind; `stop` returns rather than waiting on them.
fn check_shutdown_in_flight(
    port: u16,
    root: &std::path::Path,
    stop: impl FnOnce() + Send + 'static,
) {
    std::fs::write(root.join("huge.bin"), test_bytes(4, 64 << 20)).unwrap();
    // A download the client stops reading, so the server is stuck writing.
    let (mut w1, mut r1, mut down) = raw_session(port);
    w1.write_all(b"RETR huge.bin\r\n").unwrap();
    assert!(matches!(&reply(&mut r1)[..3], "125" | "150"));
    let mut first = [0u8; 1000];
    down.read_exact(&mut first).unwrap();
    // An upload that never finishes.
    let (mut w2, mut r2, mut up) = raw_session(port);
    w2.write_all(b"STOR partial.bin\r\n").unwrap();
    assert!(matches!(&reply(&mut r2)[..3], "125" | "150"));
    up.write_all(&test_bytes(5, 200_000)).unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || (!leftovers(root).is_empty())
            .then_some(()))
        .is_some(),
        "the upload should be in progress"
    );
    // A hang guard, not a speed check: stopping must not wait on the stuck
    // download or the unfinished upload. `stop` runs on its own thread so
    // that a hang fails the test instead of blocking it.
    let (stopped_tx, stopped) = std::sync::mpsc::channel();
    let stopper = std::thread::spawn(move || {
        stop();
        let _ = stopped_tx.send(());
    });
    match stopped.recv_timeout(Duration::from_secs(60)) {
        Ok(()) => stopper.join().unwrap(),
        // The sender went away without a word: `stop` panicked.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => stopper.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("stopping the server hung (60 s) with transfers in flight")
        }
    }
    // Both sessions were told (421) and closed; the data connections end.
    for r in [&mut r1, &mut r2] {
        let last = reply(r);
        assert!(last.starts_with("421"), "{last}");
    }
    let mut rest = Vec::new();
    let _ = down.read_to_end(&mut rest);
    assert!(
        rest.len() < (64 << 20) - 1000,
        "the download did not complete"
    );
    let mut b = [0u8; 1];
    assert!(matches!(up.read(&mut b), Ok(0) | Err(_)));
    assert!(!root.join("partial.bin").exists());
    assert!(leftovers(root).is_empty(), "{:?}", leftovers(root));
}
