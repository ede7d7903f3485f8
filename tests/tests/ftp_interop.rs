//! FTP interoperability with real peers, all on loopback:
//! curl, lftp and Python's ftplib against our server; our client against
//! vsftpd and pyftpdlib.

mod ftp_support;

use std::process::Command;
use std::time::Duration;

use ftp_support::{BIG, FTPLIB_ABORT, FTPLIB_SCRIPT, PYFTPDLIB_USER, run, run_ok, serve};
use netboot_core::ftp::client::StoreMode;
use netboot_mio::ftp::{FtpClient, FtpError};
use netboot_tests::{ChildGuard, free_tcp_port, require_program, test_bytes, wait_for};

fn curl() -> Command {
    let mut c = Command::new("curl");
    c.args(["-sS", "--max-time", "30"]);
    c
}

#[test]
fn curl_retr_list_and_both_passive_modes() {
    let Some(_) = require_program("curl_retr_list_and_both_passive_modes", "curl") else {
        return;
    };
    let s = serve(|_| {});
    let out = tempfile::tempdir().unwrap();
    for (name, extra) in [("epsv", None), ("pasv", Some("--disable-epsv"))] {
        let dest = out.path().join(name);
        let mut cmd = curl();
        cmd.args(extra).arg(s.url("big.bin")).arg("-o").arg(&dest);
        run_ok("curl", &mut cmd);
        assert_eq!(std::fs::read(&dest).unwrap(), test_bytes(1, BIG), "{name}");
    }
    let listing = run_ok("curl", curl().arg(s.url("tree/")));
    let text = String::from_utf8(listing.stdout).unwrap();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines.iter().any(|l| l.ends_with(" a.bin")), "{text}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with('d') && l.ends_with(" deep")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("-r--r--r--") && l.contains("70000")),
        "{text}"
    );
    let names = run_ok("curl", curl().arg("--list-only").arg(s.url("tree/")));
    let mut names: Vec<_> = String::from_utf8(names.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(names, ["a.bin", "deep", "empty"]);
}

#[test]
fn curl_active_mode() {
    let Some(_) = require_program("curl_active_mode", "curl") else {
        return;
    };
    let s = serve(|_| {});
    let dest = tempfile::NamedTempFile::new().unwrap();
    run_ok(
        "curl",
        curl()
            .args(["--ftp-port", "127.0.0.1"])
            .arg(s.url("tree/a.bin"))
            .arg("-o")
            .arg(dest.path()),
    );
    assert_eq!(std::fs::read(dest.path()).unwrap(), test_bytes(2, 70_000));
    // Plain PORT too (curl falls back to it when told not to use EPRT).
    run_ok(
        "curl",
        curl()
            .args(["--ftp-port", "127.0.0.1", "--disable-eprt"])
            .arg(s.url("tree/a.bin"))
            .arg("-o")
            .arg(dest.path()),
    );
    assert_eq!(std::fs::read(dest.path()).unwrap(), test_bytes(2, 70_000));
}

#[test]
fn curl_stor_and_resume() {
    let Some(_) = require_program("curl_stor_and_resume", "curl") else {
        return;
    };
    let s = serve(|_| {});
    let src = tempfile::NamedTempFile::new().unwrap();
    let body = test_bytes(9, 300_000);
    std::fs::write(src.path(), &body).unwrap();
    run_ok(
        "curl",
        curl().arg("-T").arg(src.path()).arg(s.user_url("up.bin")),
    );
    assert_eq!(std::fs::read(s.path("up.bin")).unwrap(), body);
    // Resume a download: keep the first 1000 bytes, continue with -C -.
    let part = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(part.path(), &test_bytes(1, BIG)[..1000]).unwrap();
    run_ok(
        "curl",
        curl()
            .args(["-C", "-"])
            .arg(s.url("big.bin"))
            .arg("-o")
            .arg(part.path()),
    );
    assert_eq!(std::fs::read(part.path()).unwrap(), test_bytes(1, BIG));
    // Resume an upload: the server has 100,000 bytes, curl sends the rest.
    std::fs::write(s.path("resumed.bin"), &body[..100_000]).unwrap();
    run_ok(
        "curl",
        curl()
            .args(["-C", "-", "-T"])
            .arg(src.path())
            .arg(s.user_url("resumed.bin")),
    );
    assert_eq!(std::fs::read(s.path("resumed.bin")).unwrap(), body);
    // Anonymous uploads are refused with 550 and leave nothing.
    let out = run(
        "curl",
        curl().arg("-T").arg(src.path()).arg(s.url("anon.bin")),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("550"),
        "{out:?}"
    );
    assert!(!s.path("anon.bin").exists());
}

fn tree_files(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn lftp_mirror_down_and_up() {
    let Some(_) = require_program("lftp_mirror_down_and_up", "lftp") else {
        return;
    };
    let s = serve(|_| {});
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("copy");
    let script = format!(
        "set net:max-retries 1; set net:timeout 10; mirror tree {}; mirror -R {} uploaded; quit",
        dest.display(),
        dest.display()
    );
    run_ok(
        "lftp",
        Command::new("lftp").args([
            "-u",
            "alice,pw",
            "-p",
            &s.port.to_string(),
            "-e",
            &script,
            "127.0.0.1",
        ]),
    );
    let original = tree_files(&s.path("tree"));
    assert_eq!(original.len(), 4);
    assert_eq!(tree_files(&dest), original);
    assert_eq!(tree_files(&s.path("uploaded")), original);
}

#[test]
fn python_ftplib_session() {
    let Some(_) = require_program("python_ftplib_session", "python3") else {
        return;
    };
    let s = serve(|_| {});
    let got = tempfile::NamedTempFile::new().unwrap();
    let out = run_ok(
        "python3",
        Command::new("python3")
            .args(["-c", FTPLIB_SCRIPT, &s.port.to_string()])
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
    // TYPE A both ways: CRLF on the wire, LF on disk.
    assert!(
        text.contains("ascii lines ['line one', 'line two']"),
        "{text}"
    );
    assert_eq!(std::fs::read(s.path("text.txt")).unwrap(), b"alpha\nbeta\n");
    assert_eq!(std::fs::read(got.path()).unwrap(), test_bytes(1, BIG));
    assert_eq!(
        std::fs::read(s.path("renamed.bin")).unwrap(),
        b"0123456789".repeat(10_000)
    );
    assert!(!s.path("up.bin").exists());
    assert!(!s.path("pub/readme.txt").exists());
    assert!(s.path("made").is_dir());
}

#[test]
fn python_ftplib_abort_mid_retr_and_stor() {
    let Some(_) = require_program("python_ftplib_abort_mid_retr_and_stor", "python3") else {
        return;
    };
    let s = serve(|_| {});
    // Far more than socket buffers hold, so the RETR is still running.
    std::fs::write(s.path("huge.bin"), test_bytes(4, 48 << 20)).unwrap();
    let out = run_ok(
        "python3",
        Command::new("python3").args(["-c", FTPLIB_ABORT, &s.port.to_string()]),
    );
    let text = String::from_utf8(out.stdout).unwrap();
    // ftplib sends ABOR as urgent data; the reply is 426, then 226.
    assert_eq!(
        text.matches("426 Connection closed; transfer aborted.\n226 ABOR successful.")
            .count(),
        2,
        "{text}"
    );
    assert_eq!(text.matches("200 NOOP ok.").count(), 2, "{text}");
    assert!(!s.path("aborted.bin").exists());
    let leftovers: Vec<_> = std::fs::read_dir(s.root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        leftovers
            .iter()
            .all(|n| !n.to_string_lossy().starts_with(".netboot-part")),
        "{leftovers:?}"
    );
}

/// vsftpd serving `root` anonymously on a free loopback port.
fn vsftpd(root: &std::path::Path) -> Option<(ChildGuard, u16, tempfile::TempDir)> {
    require_program("vsftpd", "vsftpd")?;
    std::fs::create_dir_all("/var/run/vsftpd/empty").ok()?;
    let port = free_tcp_port();
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("vsftpd.conf");
    std::fs::write(
        &conf,
        format!(
            "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nanonymous_enable=YES\nanon_root={}\n\
             no_anon_password=YES\nlocal_enable=NO\nwrite_enable=NO\nuse_sendfile=YES\n\
             secure_chroot_dir=/var/run/vsftpd/empty\nseccomp_sandbox=NO\nrun_as_launching_user=YES\n",
            root.display()
        ),
    )
    .unwrap();
    let guard = ChildGuard::spawn("vsftpd", Command::new("vsftpd").arg(&conf)).ok()?;
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })?;
    Some((guard, port, conf_dir))
}

fn read_only_root() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    ftp_support::fixture(root.path());
    for dir in [root.path().to_path_buf(), root.path().join("tree")] {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    root
}

#[test]
fn our_client_against_vsftpd() {
    if netboot_tests::find_program("vsftpd").is_none() {
        netboot_tests::skip("our_client_against_vsftpd", "vsftpd is not installed");
        return;
    }
    let root = read_only_root();
    let (_guard, port, _conf) = vsftpd(root.path()).expect("vsftpd starts");
    let mut ftp = FtpClient::connect(("127.0.0.1", port)).unwrap();
    ftp.login("anonymous", "").unwrap();
    let mut data = Vec::new();
    let mut calls = 0;
    ftp.get("big.bin", 0, &mut data, &mut |_, total| {
        calls += 1;
        assert_eq!(total, Some(BIG as u64));
    })
    .unwrap();
    assert!(calls > 0);
    assert_eq!(data, test_bytes(1, BIG));
    let mut tail = Vec::new();
    ftp.get("big.bin", (BIG - 100) as u64, &mut tail, &mut |_, _| {})
        .unwrap();
    assert_eq!(tail, test_bytes(1, BIG)[BIG - 100..]);
    assert_eq!(ftp.size("tree/a.bin").unwrap(), 70_000);
    // vsftpd answers NLST of a directory with paths.
    let mut names = ftp.names(Some("tree")).unwrap();
    names.sort();
    assert_eq!(names, ["tree/a.bin", "tree/deep", "tree/empty"]);
    assert!(ftp.list(Some("tree")).unwrap().contains("a.bin"));
    ftp.cwd("tree").unwrap();
    let mut b = Vec::new();
    ftp.get("deep/b.txt", 0, &mut b, &mut |_, _| {}).unwrap();
    assert_eq!(b, b"bee\n");
    match ftp.put("x.bin", &mut &b"x"[..], &mut |_, _| {}) {
        Err(FtpError::Refused { code: 550, .. }) => {}
        other => panic!("vsftpd should refuse anonymous uploads: {other:?}"),
    }
    match ftp.get("missing", 0, &mut Vec::new(), &mut |_, _| {}) {
        Err(FtpError::Refused { code: 550, .. }) => {}
        other => panic!("{other:?}"),
    }
    ftp.quit().unwrap();
}

/// A pyftpdlib script (taking the port and the root) serving the fixture
/// tree on a free loopback port.
fn pyftpdlib(script: &str) -> (ChildGuard, u16, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    ftp_support::fixture(root.path());
    let port = free_tcp_port();
    let server = ChildGuard::spawn(
        "pyftpdlib",
        Command::new("python3")
            .args(["-c", script, &port.to_string()])
            .arg(root.path()),
    )
    .unwrap();
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("pyftpdlib listens");
    (server, port, root)
}

#[test]
fn our_client_against_pyftpdlib() {
    let Some(_) = require_program("our_client_against_pyftpdlib", "python3") else {
        return;
    };
    let (_server, port, root) = pyftpdlib(PYFTPDLIB_USER);
    let mut ftp = FtpClient::connect(("127.0.0.1", port)).unwrap();
    match ftp.login("bob", "wrong") {
        Err(FtpError::Refused { code: 530, .. }) => {}
        other => panic!("{other:?}"),
    }
    let mut ftp = FtpClient::connect(("127.0.0.1", port)).unwrap();
    ftp.login("bob", "pw").unwrap();
    let mut data = Vec::new();
    ftp.get("big.bin", 0, &mut data, &mut |_, _| {}).unwrap();
    assert_eq!(data, test_bytes(1, BIG));
    let body = test_bytes(5, 200_000);
    ftp.put("up.bin", &mut &body[..100_000], &mut |_, _| {})
        .unwrap();
    ftp.store(
        "up.bin",
        StoreMode::Resume(100_000),
        &mut &body[100_000..150_000],
        &mut |_, _| {},
    )
    .unwrap();
    ftp.append("up.bin", &mut &body[150_000..], &mut |_, _| {})
        .unwrap();
    assert_eq!(std::fs::read(root.path().join("up.bin")).unwrap(), body);
    assert_eq!(ftp.size("up.bin").unwrap(), 200_000);
    ftp.mkdir("newdir").unwrap();
    ftp.rename("up.bin", "newdir/moved.bin").unwrap();
    assert!(root.path().join("newdir/moved.bin").exists());
    ftp.delete("newdir/moved.bin").unwrap();
    ftp.rmdir("newdir").unwrap();
    assert!(!root.path().join("newdir").exists());
    assert!(
        ftp.listing(Some("tree"), netboot_core::ftp::client::ListKind::Facts)
            .unwrap()
            .contains("type=dir")
    );
    ftp.quit().unwrap();
}

const PYFTPDLIB_NO_EPSV: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
class OldHandler(FTPHandler):
    # An old server behind NAT: no EPSV, and a PASV address the client
    # cannot use (nothing listens on 127.0.0.2).
    proto_cmds = {k: v for k, v in FTPHandler.proto_cmds.items() if k != "EPSV"}
    masquerade_address = "127.0.0.2"
a = DummyAuthorizer()
a.add_anonymous(sys.argv[2])
OldHandler.authorizer = a
FTPServer(("127.0.0.1", int(sys.argv[1])), OldHandler).serve_forever()
"#;

#[test]
fn our_client_falls_back_to_pasv_and_ignores_unusable_addresses() {
    let Some(_) = require_program(
        "our_client_falls_back_to_pasv_and_ignores_unusable_addresses",
        "python3",
    ) else {
        return;
    };
    let (_server, port, _root) = pyftpdlib(PYFTPDLIB_NO_EPSV);
    let mut ftp = FtpClient::connect(("127.0.0.1", port)).unwrap();
    ftp.login("anonymous", "x").unwrap();
    let mut data = Vec::new();
    ftp.get("tree/a.bin", 0, &mut data, &mut |_, _| {}).unwrap();
    assert_eq!(data, test_bytes(2, 70_000));
    assert!(ftp.uses_pasv());
    let mut names = ftp.names(Some("tree")).unwrap();
    names.sort();
    assert_eq!(names, ["a.bin", "deep", "empty"]);
    ftp.quit().unwrap();
}

#[test]
fn ipv6_loopback_with_curl_and_our_client() {
    let Some(_) = require_program("ipv6_loopback_with_curl_and_our_client", "curl") else {
        return;
    };
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        netboot_tests::skip("ipv6_loopback_with_curl_and_our_client", "no IPv6 loopback");
        return;
    }
    let s = serve(|c| c.listen = "[::1]:0".parse().unwrap());
    let out = run_ok(
        "curl",
        curl()
            .arg("-g")
            .arg(format!("ftp://[::1]:{}/tree/deep/b.txt", s.port)),
    );
    assert_eq!(out.stdout, b"bee\n");
    let mut ftp = FtpClient::connect(("::1", s.port)).unwrap();
    ftp.login("alice", "pw").unwrap();
    ftp.put("v6.bin", &mut &b"over IPv6"[..], &mut |_, _| {})
        .unwrap();
    assert_eq!(std::fs::read(s.path("v6.bin")).unwrap(), b"over IPv6");
    ftp.quit().unwrap();
}
