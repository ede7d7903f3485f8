//! `netboot ftp` as a user runs it: serve, get, put, ls, and the one-line
//! errors with their exit codes.

mod ftp_support;

use std::process::Command;
use std::time::Duration;

use ftp_support::{BIG, run, run_ok, serve};
use netboot_tests::netboot_command;
use netboot_tests::{ChildGuard, free_tcp_port, test_bytes, wait_for};

fn netboot() -> Command {
    netboot_command()
}

#[test]
fn get_put_ls_against_our_server() {
    let s = serve(|_| {});
    let work = tempfile::tempdir().unwrap();
    let dest = work.path().join("big.bin");
    run_ok(
        "get",
        netboot().args(["ftp", "get", &s.url("big.bin")]).arg(&dest),
    );
    assert_eq!(std::fs::read(&dest).unwrap(), test_bytes(1, BIG));
    // Resume: keep half, fetch the rest.
    std::fs::write(&dest, &test_bytes(1, BIG)[..BIG / 2]).unwrap();
    run_ok(
        "get -c",
        netboot()
            .args(["ftp", "get", "-c", &s.url("big.bin")])
            .arg(&dest),
    );
    assert_eq!(std::fs::read(&dest).unwrap(), test_bytes(1, BIG));
    // A directory as LOCAL gets the remote name.
    run_ok(
        "get into dir",
        netboot()
            .args(["ftp", "get", &s.url("tree/a.bin")])
            .arg(work.path()),
    );
    assert_eq!(
        std::fs::read(work.path().join("a.bin")).unwrap(),
        test_bytes(2, 70_000)
    );
    // `nodir/` does not exist: the server's reply is the message.
    let out = run(
        "put",
        netboot()
            .args(["ftp", "put"])
            .arg(&dest)
            .arg(s.user_url("nodir/")),
    );
    assert_eq!(out.status.code(), Some(32));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        "netboot: /nodir/big.bin: server replied 550 No such file or directory.\n"
    );
    run_ok(
        "put",
        netboot()
            .args(["ftp", "put"])
            .arg(&dest)
            .arg(s.user_url("copy.bin")),
    );
    assert_eq!(
        std::fs::read(s.path("copy.bin")).unwrap(),
        test_bytes(1, BIG)
    );
    run_ok(
        "put --append",
        netboot()
            .args(["ftp", "put", "--append"])
            .arg(&dest)
            .arg(s.user_url("copy.bin")),
    );
    // APPE after the earlier STOR: the file, then the file again.
    let twice = test_bytes(1, BIG).repeat(2);
    let appended = std::fs::read(s.path("copy.bin")).unwrap();
    assert!(
        appended == twice,
        "copy.bin after put --append: {} bytes, not big.bin twice over ({} bytes)",
        appended.len(),
        twice.len()
    );
    let ls = run_ok(
        "ls",
        netboot().args(["ftp", "ls", "--names", &s.url("tree")]),
    );
    let mut names: Vec<_> = String::from_utf8(ls.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(names, ["a.bin", "deep", "empty"]);
    let ls = run_ok("ls", netboot().args(["ftp", "ls", &s.url("tree")]));
    assert!(String::from_utf8(ls.stdout).unwrap().contains(" 70000 "));
}

#[test]
fn client_errors_are_one_line_with_exit_codes() {
    let s = serve(|_| {});
    let work = tempfile::tempdir().unwrap();
    let cases: &[(&[&str], i32, &str)] = &[
        (
            &["ftp", "get", &s.url("missing.bin")],
            32,
            "netboot: /missing.bin: server replied 550 No such file or directory.\n",
        ),
        (
            &[
                "ftp",
                "get",
                &format!("ftp://alice:bad@127.0.0.1:{}/big.bin", s.port),
            ],
            31,
            "netboot: login as alice refused: server replied 530 Login incorrect.\n",
        ),
        (&["ftp", "get", "http://example.invalid/x"], 3, ""),
        (
            &[
                "ftp",
                "ls",
                &format!("ftp://127.0.0.1:{}/", free_tcp_port()),
            ],
            30,
            "",
        ),
    ];
    for (args, code, message) in cases {
        let out = run("netboot", netboot().args(*args).current_dir(work.path()));
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("netboot: "), "{err}");
        if !message.is_empty() {
            assert_eq!(&err, message);
        }
    }
    // A failed download leaves no empty file behind.
    assert!(!work.path().join("missing.bin").exists());
    assert!(!work.path().join("big.bin").exists());
    // Nor does it touch a file that was already there.
    let kept = work.path().join("kept.bin");
    std::fs::write(&kept, b"precious").unwrap();
    let out = run(
        "netboot",
        netboot()
            .args(["ftp", "get", &s.url("missing.bin")])
            .arg(&kept),
    );
    assert_eq!(out.status.code(), Some(32));
    assert_eq!(std::fs::read(&kept).unwrap(), b"precious");
    let names: Vec<_> = std::fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["kept.bin"], "nothing else left in the directory");
}

#[test]
fn serve_from_flags_and_config_file() {
    if netboot_tests::find_program("curl").is_none() {
        netboot_tests::skip("serve_from_flags_and_config_file", "curl is not installed");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    ftp_support::fixture(root.path());
    let port = free_tcp_port();
    let conf_dir = tempfile::tempdir().unwrap();
    let conf = conf_dir.path().join("netboot.toml");
    std::fs::write(
        &conf,
        format!(
            "[ftp]\nroot = {:?}\nlisten = \"127.0.0.1:{port}\"\nanonymous = false\nlogin_delay_ms = 10\n\
             passive_ports = \"40000-40100\"\n\n[[ftp.users]]\nname = \"bob\"\npassword_hash = {:?}\nwritable = true\n",
            root.path(),
            ftp_support::cheap_hash("b0b")
        ),
    )
    .unwrap();
    let server = ChildGuard::spawn(
        "netboot ftp serve",
        netboot()
            .args(["-v", "ftp", "serve", "--config"])
            .arg(&conf)
            .args(["--account", "carol:c4r0l"]),
    )
    .unwrap();
    wait_for(Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("server listens");
    let url = |who: &str, path: &str| format!("ftp://{who}@127.0.0.1:{port}/{path}");
    let out = run_ok(
        "curl",
        Command::new("curl").args([
            "-sS",
            "--max-time",
            "30",
            &url("bob:b0b", "tree/deep/b.txt"),
        ]),
    );
    assert_eq!(out.stdout, b"bee\n");
    // The flag's user was hashed at start-up and works; anonymous is off.
    let out = run_ok(
        "curl",
        Command::new("curl").args([
            "-sS",
            "--max-time",
            "30",
            "--disable-epsv",
            &url("carol:c4r0l", "tree/deep/b.txt"),
        ]),
    );
    assert_eq!(out.stdout, b"bee\n");
    let out = run(
        "curl",
        Command::new("curl").args([
            "-sS",
            "--max-time",
            "30",
            &format!("ftp://127.0.0.1:{port}/big.bin"),
        ]),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("530"),
        "{out:?}"
    );
    server.signal("TERM");
    let (status, stdout, _) = server.wait_timeout(Duration::from_secs(10));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    assert!(
        stdout.contains(&format!("ftp: listening on 127.0.0.1:{port}")),
        "{stdout}"
    );
}

#[test]
fn serve_refuses_bad_settings_clearly() {
    let root = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--listen", "127.0.0.1:0"], 3, "nobody could log in"),
        (
            &["--anonymous", "--listen", &busy_addr],
            4,
            "address already in use",
        ),
        (
            &["--anonymous", "--passive-ports", "10-20"],
            3,
            "passive ports",
        ),
        (
            &["--account", "nopassword", "--listen", "127.0.0.1:0"],
            3,
            "--account expects NAME:PASSWORD",
        ),
        // The old account flag: --user is the user the server runs as.
        (
            &["--user", "carol:c4r0l", "--listen", "127.0.0.1:0"],
            3,
            "netboot: --user names the user the server runs as, not a login: give an FTP account as --account NAME:PASSWORD",
        ),
    ];
    for (args, code, needle) in cases {
        let out = run(
            "netboot ftp serve",
            netboot()
                .args(["ftp", "serve", "--root"])
                .arg(root.path())
                .args(*args),
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(needle), "{err}");
    }
}
