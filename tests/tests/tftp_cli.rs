//! `netboot tftp serve|get|put` as a user runs them: the ready line, exit
//! codes, one-line errors, signals, configuration files, and the README's
//! main command.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use netboot_tests::netboot_command;
use netboot_tests::{BoundedOutput, ChildGuard, test_bytes};

/// Starts `netboot tftp serve ARGS` and returns it with the address it
/// printed.
fn serve(args: &[&str], cwd: &Path) -> (ChildGuard, SocketAddr) {
    let mut child = ChildGuard::spawn(
        "netboot tftp serve",
        netboot_command()
            .current_dir(cwd)
            .args(["tftp", "serve"])
            .args(args),
    )
    .unwrap();
    let stdout = child.child().stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let addr = line
        .trim()
        .rsplit(" on ")
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    assert!(line.starts_with("netboot tftp: serving "), "{line}");
    (child, addr)
}

fn netboot(args: &[&str]) -> std::process::Output {
    netboot_command()
        .args(args)
        .stdin(Stdio::null())
        .bounded_output()
        .unwrap()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn serve_get_put_and_exit_codes() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let content = test_bytes(1, 1_000_000);
    std::fs::write(root.path().join("boot.img"), &content).unwrap();
    let (server, addr) = serve(
        &[
            "--root",
            ".",
            "--listen",
            "127.0.0.1:0",
            "--writable",
            "--max-blksize",
            "1468",
        ],
        root.path(),
    );
    let a = addr.to_string();
    let out = work.path().join("boot.img");
    let o = netboot(&[
        "tftp",
        "get",
        &a,
        "boot.img",
        out.to_str().unwrap(),
        "--blksize",
        "65464",
        "--windowsize",
        "16",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        o.stdout.is_empty() && o.stderr.is_empty(),
        "quiet when not a terminal"
    );
    assert!(std::fs::read(&out).unwrap() == content);

    let o = netboot(&[
        "tftp",
        "put",
        &a,
        out.to_str().unwrap(),
        "copy.img",
        "--mode",
        "octet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read(root.path().join("copy.img")).unwrap() == content);

    // File exists (create-only): 14.
    let o = netboot(&["tftp", "put", &a, out.to_str().unwrap(), "copy.img"]);
    assert_eq!(o.status.code(), Some(14), "{}", stderr(&o));
    assert_eq!(
        stderr(&o),
        "netboot: copy.img: server: file already exists (6)\n"
    );

    // Not found: 10.
    let o = netboot(&[
        "tftp",
        "get",
        &a,
        "nope",
        work.path().join("nope").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(10));
    assert_eq!(stderr(&o), "netboot: nope: server: file not found (1)\n");
    assert!(!work.path().join("nope").exists());

    // Access violation: 11.
    let o = netboot(&[
        "tftp",
        "get",
        &a,
        "../etc/passwd",
        work.path().join("p").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(11));
    assert!(stderr(&o).contains("'..' is not allowed"), "{}", stderr(&o));

    // Local file error: 16.
    let o = netboot(&["tftp", "put", &a, "/nonexistent/file", "x"]);
    assert_eq!(o.status.code(), Some(16), "{}", stderr(&o));
    assert_eq!(stderr(&o).lines().count(), 1);

    // SIGTERM stops the server cleanly.
    server.signal("TERM");
    let (status, _, err) = server.wait_timeout(Duration::from_secs(5));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{err}");
}

#[test]
fn timeout_is_exit_12_with_the_retry_count() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let work = tempfile::tempdir().unwrap();
    let a = silent.local_addr().unwrap().to_string();
    let o = netboot(&[
        "tftp",
        "get",
        &a,
        "x",
        work.path().join("x").to_str().unwrap(),
        "--retries",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(12));
    assert_eq!(
        stderr(&o),
        format!("netboot: x: no answer from {a}: timed out after 1 retries\n")
    );
}

#[test]
fn netascii_through_the_cli() {
    let root = tempfile::tempdir().unwrap();
    let text = b"alpha\nbeta\r\ngamma\rdelta\n".repeat(500);
    std::fs::write(root.path().join("t.txt"), &text).unwrap();
    // Busy polling off: the loop sleeps between every datagram.
    let (server, addr) = serve(
        &[
            "--root",
            ".",
            "--listen",
            "127.0.0.1:0",
            "--busy-poll-us",
            "0",
        ],
        root.path(),
    );
    let out = root.path().join("back.txt");
    let o = netboot(&[
        "tftp",
        "get",
        &addr.to_string(),
        "t.txt",
        out.to_str().unwrap(),
        "--mode",
        "netascii",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), text);
    server.signal("INT");
    let (status, _, _) = server.wait_timeout(Duration::from_secs(5));
    assert_eq!(status.and_then(|s| s.code()), Some(0));
}

#[test]
fn bad_root_bad_port_and_bad_values() {
    let o = netboot(&[
        "tftp",
        "serve",
        "--root",
        "/nonexistent-root",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stderr(&o), "netboot: /nonexistent-root: not a directory\n");

    let o = netboot(&["tftp", "serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("--root"), "{}", stderr(&o));

    let busy = UdpSocket::bind("127.0.0.1:0").unwrap();
    let root = tempfile::tempdir().unwrap();
    let o = netboot(&[
        "tftp",
        "serve",
        "--root",
        root.path().to_str().unwrap(),
        "--listen",
        &busy.local_addr().unwrap().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(4));
    assert!(
        stderr(&o).contains("address already in use"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stderr(&o).lines().count(), 1);

    // Out-of-range values are usage errors.
    for args in [
        &["tftp", "get", "127.0.0.1", "x", "--blksize", "7"][..],
        &["tftp", "get", "127.0.0.1", "x", "--blksize", "65465"],
        &["tftp", "get", "127.0.0.1", "x", "--windowsize", "0"],
        &["tftp", "get", "127.0.0.1", "x", "--mode", "mail"],
        &[
            "tftp",
            "serve",
            "--root",
            ".",
            "--listen",
            "127.0.0.1:0",
            "--max-blksize",
            "0",
        ],
    ] {
        assert_eq!(netboot(args).status.code(), Some(2), "{args:?}");
    }
    // A spin of more than a second is refused as configuration.
    let o = netboot(&[
        "tftp",
        "serve",
        "--root",
        ".",
        "--listen",
        "127.0.0.1:0",
        "--busy-poll-us",
        "2000000",
    ]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim(),
        "netboot: busy_poll_us must be at most 1000000 (one second)"
    );
}

#[test]
fn configuration_file_with_flag_overrides() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"from config").unwrap();
    let conf = root.path().join("netboot.toml");
    std::fs::write(
        &conf,
        format!(
            "[tftp]\nroot = {:?}\nlisten = [\"127.0.0.1:1\"]\nwritable = true\nmax_blksize = 512\nbusy_poll_us = 50\n",
            root.path()
        ),
    )
    .unwrap();
    // --listen overrides the file's (unusable) port 1.
    let (server, addr) = serve(
        &[
            "--config",
            conf.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ],
        Path::new("/"),
    );
    let out = root.path().join("got");
    let o = netboot(&[
        "tftp",
        "get",
        &addr.to_string(),
        "f",
        out.to_str().unwrap(),
        "--blksize",
        "1468",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(std::fs::read(&out).unwrap(), b"from config");
    // writable from the file.
    let o = netboot(&[
        "tftp",
        "put",
        &addr.to_string(),
        out.to_str().unwrap(),
        "up",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    drop(server);

    std::fs::write(&conf, "[tftp]\nbogus = 1\n").unwrap();
    let o = netboot(&["tftp", "serve", "--config", conf.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(stderr(&o).lines().count(), 1, "{}", stderr(&o));
}
