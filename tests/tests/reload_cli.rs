//! `netboot serve` reloads its configuration on SIGHUP, as `systemctl
//! reload` asks: a good file applies to new requests while a TFTP download
//! and an FTP session carry on; a broken one is refused with its line on
//! standard error and the server goes on with the previous one. Also
//! `netboot check` and `netboot leases` on the same file.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use netboot_tests::lab::{Output, spawn};
use netboot_tests::{
    BoundedOutput, ChildGuard, bootp_request_command, free_tcp_port, free_udp_port, netboot_bin,
    netboot_command, test_bytes,
};

fn config(root: &Path, ports: [u16; 3], stages: &str, extra: &str) -> String {
    format!(
        "root = {root:?}\n\n[bootp]\nserver = \"127.0.0.1\"\nsubnet = \"127.0.0.0/8\"\n\
         pool = {{ start = \"127.77.0.1\", end = \"127.77.0.20\" }}\n\
         listen = \"127.0.0.1:{}\"\nlease_file = \"reload.leases\"\n\n\
         [[bootp.host]]\nmac = \"02:00:00:00:77:01\"\nip = \"127.77.1.1\"\nhostname = \"fixed1\"\n\n\
         [tftp]\nlisten = [\"127.0.0.1:{}\"]\n\n[ftp]\nlisten = \"127.0.0.1:{}\"\n\n\
         [plan]\nstages = [{stages}]\nprogress_file = \"reload.progress\"\n{extra}",
        ports[0], ports[1], ports[2],
    )
}

/// The boot file a plain BOOTP client `mac` is told about.
fn boot_file(port: u16, mac: &str) -> String {
    json_of(&mut bootp_request_command(port, mac))["file"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Runs `cmd`, which must succeed, and parses what it prints as JSON.
fn json_of(cmd: &mut Command) -> serde_json::Value {
    let out = cmd.bounded_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Waits up to 10 s for `needle` in the server's output.
fn expect(log: &Output, needle: &str) {
    assert!(
        log.wait_line(needle, Duration::from_secs(10)),
        "no {needle:?} in:\n{}",
        log.text()
    );
}

fn reply(control: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    control.read_line(&mut line).unwrap();
    line
}

fn command(control: &mut BufReader<TcpStream>, line: &str) -> String {
    control
        .get_mut()
        .write_all(format!("{line}\r\n").as_bytes())
        .unwrap();
    reply(control)
}

#[test]
fn sighup_applies_a_good_file_keeps_transfers_and_refuses_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("old.ipxe"), b"old stage").unwrap();
    std::fs::write(root.join("new.ipxe"), b"new stage").unwrap();
    let big = test_bytes(77, 2 << 20);
    std::fs::write(root.join("big.img"), &big).unwrap();
    let ports = [free_udp_port(), free_udp_port(), free_tcp_port()];
    let path = dir.path().join("reload.toml");
    std::fs::write(&path, config(&root, ports, "\"old.ipxe\"", "")).unwrap();

    // `check` says what the file holds, binding nothing.
    let out = Command::new(netboot_bin())
        .args(["check", "--config"])
        .arg(&path)
        .bounded_output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "{}: ok: bootp 127.0.0.0/8 pool 20 addresses, tftp, ftp, plan 0 clients 0 rules 1 default stages",
            path.display()
        )
    );

    let (guard, log) = spawn(
        "netboot serve",
        netboot_command().arg("serve").arg("--config").arg(&path),
    );
    assert!(
        log.wait("plan: ", Duration::from_secs(20)),
        "{}",
        log.text()
    );
    assert_eq!(boot_file(ports[0], "02:00:00:00:77:10"), "old.ipxe");

    // An FTP session, logged in, and a slow TFTP download (8-byte blocks).
    let stream = TcpStream::connect(("127.0.0.1", ports[2])).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut control = BufReader::new(stream);
    assert!(reply(&mut control).starts_with("220"));
    assert!(command(&mut control, "USER anonymous").starts_with("331"));
    assert!(command(&mut control, "PASS x@").starts_with("230"));
    let got = dir.path().join("big.got");
    let mut download = ChildGuard::spawn(
        "netboot tftp get",
        Command::new(netboot_bin())
            .args(["tftp", "get", &format!("127.0.0.1:{}", ports[1]), "big.img"])
            .arg(&got)
            .args(["--blksize", "8"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // A new plan: new clients get the new first stage.
    std::fs::write(&path, config(&root, ports, "\"new.ipxe\"", "")).unwrap();
    guard.signal("HUP");
    expect(&log, "netboot: reloaded");
    assert!(
        download.child().try_wait().unwrap().is_none(),
        "the download ended before the reload: make it slower"
    );
    assert_eq!(boot_file(ports[0], "02:00:00:00:77:11"), "new.ipxe");
    assert!(command(&mut control, "NOOP").starts_with("200"));
    let status = netboot_tests::wait_for(Duration::from_secs(120), || {
        download.child().try_wait().unwrap()
    })
    .expect("the download finishes");
    assert!(status.success());
    assert_eq!(std::fs::read(&got).unwrap(), big, "byte-identical");

    // A broken file is refused with its line; the previous one serves on.
    std::fs::write(
        &path,
        config(
            &root,
            ports,
            "\"new.ipxe\"",
            "[[plan.client]]\nmac = \"zz\"\nstages = [\"x\"]\n",
        ),
    )
    .unwrap();
    guard.signal("HUP");
    expect(&log, "reload refused");
    let text = log.text();
    let refused = text.lines().find(|l| l.contains("reload refused")).unwrap();
    assert_eq!(
        refused,
        format!(
            "netboot: error: reload refused, the running configuration stays: {}:25: \
             plan.client entry 1: mac \"zz\": not a hardware address (expected hex bytes like 52:54:00:12:34:56)",
            path.display()
        )
    );
    assert_eq!(boot_file(ports[0], "02:00:00:00:77:12"), "new.ipxe");
    assert!(command(&mut control, "NOOP").starts_with("200"));

    // `check` finds the same mistake, and nothing else runs.
    let out = Command::new(netboot_bin())
        .args(["check", "--config"])
        .arg(&path)
        .bounded_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&format!(
            "{}:25: plan.client entry 1: mac \"zz\"",
            path.display()
        )),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A clean stop saves the leases; `leases` lists them.
    guard.signal("TERM");
    let (status, _, _) = guard.wait_timeout(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", log.text());
    let rows = json_of(
        Command::new(netboot_bin())
            .args(["leases", "--json", "--lease-file"])
            .arg(dir.path().join("reload.leases")),
    );
    let macs: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["mac"].as_str().unwrap())
        .collect();
    assert_eq!(
        macs,
        [
            "02:00:00:00:77:10",
            "02:00:00:00:77:11",
            "02:00:00:00:77:12"
        ]
    );
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["state"] == "bound")
    );
}

/// An anonymous FTP login on `port`: the reply to `PASS` (or to `USER`
/// when that already refuses).
fn anonymous_login(port: u16) -> (BufReader<TcpStream>, String) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut control = BufReader::new(stream);
    assert!(reply(&mut control).starts_with("220"));
    let user = command(&mut control, "USER anonymous");
    if !user.starts_with("331") {
        return (control, user);
    }
    let pass = command(&mut control, "PASS x@");
    (control, pass)
}

#[test]
fn ftp_serve_reloads_its_accounts_and_keeps_open_sessions() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.txt"), b"kept").unwrap();
    let port = free_tcp_port();
    let path = dir.path().join("ftp.toml");
    let hash = netboot_std::ftp::auth::hash_with_cost("b0b", 64, 1).unwrap();
    let file = |anonymous: bool, extra: &str| {
        format!(
            "root = \".\"\n[ftp]\nlisten = \"127.0.0.1:{port}\"\nanonymous = {anonymous}\n\
             login_delay_ms = 10\n{extra}\n[[ftp.users]]\nname = \"bob\"\npassword_hash = {hash:?}\n"
        )
    };
    std::fs::write(&path, file(true, "")).unwrap();
    let (guard, log) = spawn(
        "netboot ftp serve",
        netboot_command()
            .args(["ftp", "serve", "--config"])
            .arg(&path),
    );
    assert!(
        log.wait("ftp: listening on", Duration::from_secs(20)),
        "{}",
        log.text()
    );
    let (mut open, answer) = anonymous_login(port);
    assert!(answer.starts_with("230"), "{answer}");

    // Anonymous logins turned off: new ones are refused, the open session
    // goes on.
    std::fs::write(&path, file(false, "")).unwrap();
    guard.signal("HUP");
    expect(&log, "netboot: reloaded");
    let (_, refused) = anonymous_login(port);
    assert!(refused.starts_with("530"), "{refused}");
    assert!(command(&mut open, "SIZE f.txt").starts_with("213 4"));

    // A listening address that changed needs a restart: said, and the
    // rest applied (anonymous back on).
    std::fs::write(
        &path,
        file(true, "").replace(&port.to_string(), &free_tcp_port().to_string()),
    )
    .unwrap();
    guard.signal("HUP");
    expect(&log, "needs a restart to change: ftp listen");
    let (_, again) = anonymous_login(port);
    assert!(again.starts_with("230"), "{again}");

    // A broken file: refused, with its line.
    std::fs::write(&path, file(true, "passive_ports = \"10-20\"\n")).unwrap();
    guard.signal("HUP");
    expect(&log, "reload refused");
    assert!(
        log.text().contains(&format!(
            "the running configuration stays: {}:2: passive ports \"10-20\"",
            path.display()
        )),
        "{}",
        log.text()
    );
    assert!(command(&mut open, "NOOP").starts_with("200"));
    guard.signal("TERM");
    let (status, _, _) = guard.wait_timeout(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", log.text());
}
