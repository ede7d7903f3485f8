//! `netboot` run as a service: started as root it switches to an
//! unprivileged user once its ports are bound, takes the sockets systemd
//! passes (socket activation), tells systemd how it is doing (sd_notify),
//! and reports a save that fails on standard error and in its exit code.
//!
//! Every test here needs root (only root can switch users) and skips
//! outside CI, saying why, without it.

use std::net::{TcpListener, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use netboot_tests::lab::{Output, spawn_split};
use netboot_tests::{
    BoundedOutput, ChildGuard, bootp_request_command, free_tcp_port, free_udp_port, is_root,
    netboot_bin, netboot_command, require_program, skip, test_bytes,
};

/// `nobody`'s ids on Debian.
const NOBODY: u32 = 65534;
const NOGROUP: u32 = 65534;

/// The served file.
const IMAGE: &str = "boot.img";

fn require_root(test: &str) -> bool {
    is_root()
        || skip(
            test,
            "needs root: a server switches users only when started as root",
        )
}

/// Root, and curl for the downloads.
fn require_root_and_curl(test: &str) -> bool {
    require_root(test) && require_program(test, "curl").is_some()
}

/// A [`lab`] on free ports for `test`, once it may run: the ports, the
/// directory and the image's bytes.
fn lab_for(test: &str, curl: bool) -> Option<([u16; 3], tempfile::TempDir, Vec<u8>)> {
    let may = match curl {
        true => require_root_and_curl(test),
        false => require_root(test),
    };
    let ports = ports();
    may.then(|| {
        let (dir, image) = lab(ports);
        (ports, dir, image)
    })
}

/// A lab the user `nobody` can work in: `root/` (readable, with
/// [`IMAGE`]), `state/` (owned by nobody, for the lease file) and the
/// configuration `lab.toml` with `ports` (BOOTP, TFTP, FTP). Returns the
/// directory and the image's bytes.
fn lab(ports: [u16; 3]) -> (tempfile::TempDir, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let open = |p: &Path| std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755));
    open(dir.path()).unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    open(&root).unwrap();
    let image = test_bytes(14, 300_000);
    std::fs::write(root.join(IMAGE), &image).unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    std::os::unix::fs::chown(&state, Some(NOBODY), Some(NOGROUP)).unwrap();
    std::fs::write(
        dir.path().join("lab.toml"),
        format!(
            "root = \"root\"\n\n[bootp]\nserver = \"127.0.0.1\"\nsubnet = \"127.0.0.0/8\"\n\
             pool = {{ start = \"127.66.0.1\", end = \"127.66.0.20\" }}\n\
             listen = \"127.0.0.1:{}\"\nlease_file = \"state/netboot.leases\"\n\n\
             [tftp]\nlisten = [\"127.0.0.1:{}\"]\n\n[ftp]\nlisten = \"127.0.0.1:{}\"\n\n\
             [plan]\nstages = [\"{IMAGE}\"]\n",
            ports[0], ports[1], ports[2]
        ),
    )
    .unwrap();
    (dir, image)
}

fn ports() -> [u16; 3] {
    [free_udp_port(), free_udp_port(), free_tcp_port()]
}

/// `netboot serve --config DIR/lab.toml ARGS`.
fn serve(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = netboot_command();
    cmd.arg("serve")
        .arg("--config")
        .arg(dir.join("lab.toml"))
        .args(args);
    cmd
}

/// Waits up to 20 s for a whole line with `needle`.
fn expect(out: &Output, needle: &str, all: &Output) {
    assert!(
        out.wait_line(needle, Duration::from_secs(20)),
        "no {needle:?} in:\n{}",
        all.text()
    );
}

/// The ids on the line `key` (`Uid:`, `Gid:`, `Groups:`) of a
/// `/proc/.../status` text.
fn ids(status: &str, key: &str) -> Vec<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

/// Every thread of process `pid` runs as nobody/nogroup (real, effective,
/// saved and file system ids) with no supplementary group.
fn assert_runs_as_nobody(pid: u32) {
    let tasks: Vec<PathBuf> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|t| t.unwrap().path())
        .collect();
    assert!(tasks.len() > 1, "the server runs threads: {tasks:?}");
    for task in tasks {
        let status = std::fs::read_to_string(task.join("status")).unwrap();
        assert_eq!(ids(&status, "Uid:"), [NOBODY; 4], "{}", task.display());
        assert_eq!(ids(&status, "Gid:"), [NOGROUP; 4], "{}", task.display());
        assert_eq!(ids(&status, "Groups:"), [0u32; 0], "{}", task.display());
    }
}

/// A BOOTP request with netboot's own client, for `mac`.
fn bootp_try(port: u16, mac: &str) -> std::process::Output {
    bootp_request_command(port, mac).bounded_output().unwrap()
}

/// A BOOTP exchange that must succeed: the boot file the client is told.
fn bootp_request(port: u16, mac: &str) -> String {
    let out = bootp_try(port, mac);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bootp request: {stderr}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["file"].as_str().unwrap_or_default().to_string()
}

/// Fetches `url` with curl into `dir` and returns the bytes.
fn curl(url: &str, dir: &Path) -> Vec<u8> {
    let got = dir.join("fetched");
    let _ = std::fs::remove_file(&got);
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30", "--output"])
        .arg(&got)
        .arg(url)
        .stdin(Stdio::null())
        .bounded_output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read(&got).unwrap()
}

/// Sends SIGTERM and waits for the exit code.
fn stop(guard: ChildGuard, all: &Output) -> i32 {
    guard.signal("TERM");
    let (status, _, _) = guard.wait_timeout(Duration::from_secs(20));
    status
        .and_then(|s| s.code())
        .unwrap_or_else(|| panic!("no exit after SIGTERM:\n{}", all.text()))
}

#[test]
fn serve_drops_to_nobody_and_still_serves_bootp_and_tftp() {
    let test = "serve_drops_to_nobody_and_still_serves_bootp_and_tftp";
    let Some((ports, dir, image)) = lab_for(test, true) else {
        return;
    };
    let (guard, out, err) = spawn_split(
        "netboot serve",
        &mut serve(dir.path(), &["--user", "nobody"]),
    );
    expect(&out, "plan: ", &err);
    assert_runs_as_nobody(guard.id());

    let mac = "02:00:00:00:66:01";
    assert_eq!(bootp_request(ports[0], mac), IMAGE);
    let fetched = curl(
        &format!("tftp://127.0.0.1:{}/{IMAGE}", ports[1]),
        dir.path(),
    );
    assert!(
        fetched == image,
        "TFTP download differs ({} bytes)",
        fetched.len()
    );

    assert_eq!(stop(guard, &err), 0, "{}", err.text());
    expect(&out, "netboot: stopped; leases saved", &out);
    // What it served, counted from the transfer it finished, and its CPU.
    let kib = format!("{:.1} KiB", image.len() as f64 / 1024.0);
    let served = format!("netboot: served {kib} (TFTP {kib}, FTP 0 bytes) with ");
    assert!(out.text().contains(&served), "{}", out.text());
    let leases = dir.path().join("state/netboot.leases");
    let meta = std::fs::metadata(&leases).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOGROUP));
    let text = std::fs::read_to_string(&leases).unwrap();
    assert!(text.contains(mac), "{text}");
    assert_eq!(err.text(), "", "no warning or error");
}

#[test]
fn a_missing_user_or_an_unwritable_lease_directory_stops_start_up() {
    let test = "a_missing_user_or_an_unwritable_lease_directory_stops_start_up";
    let Some((_, dir, _)) = lab_for(test, false) else {
        return;
    };
    // Start-up ends with exit code 3: standard output and error.
    let refused = |cmd: &mut Command| {
        let out = cmd.stdin(Stdio::null()).bounded_output().unwrap();
        assert_eq!(out.status.code(), Some(3));
        let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
        (text(&out.stdout), text(&out.stderr))
    };
    let (stdout, stderr) = refused(
        netboot_command()
            .args(["tftp", "serve", "--listen", "127.0.0.1:0", "--root"])
            .arg(dir.path().join("root"))
            .args(["--user", "netboot-no-such-user"]),
    );
    assert_eq!(
        stderr,
        "netboot: user \"netboot-no-such-user\" does not exist: create it (useradd --system netboot-no-such-user) or choose another with --user\n"
    );
    assert_eq!(stdout, "", "nothing served");
    // TFTP uploads into a root nobody cannot write to.
    let root = dir.path().join("root");
    let (stdout, stderr) = refused(
        netboot_command()
            .args([
                "tftp",
                "serve",
                "--writable",
                "--listen",
                "127.0.0.1:0",
                "--root",
            ])
            .arg(&root)
            .args(["--user", "nobody"]),
    );
    assert_eq!(
        stderr,
        format!(
            "netboot: root {}: TFTP uploads are on (writable), but user nobody cannot write there: Permission denied (os error 13); chown the root to nobody or turn uploads off\n",
            root.display()
        )
    );
    assert_eq!(stdout, "", "nothing served");

    // The lease file's directory is root's: nobody could not rename a new
    // file into it, which start-up says before serving.
    let state = dir.path().join("state");
    std::os::unix::fs::chown(&state, Some(0), Some(0)).unwrap();
    let (stdout, stderr) = refused(&mut serve(dir.path(), &["--user", "nobody"]));
    assert_eq!(
        stderr,
        format!(
            "netboot: lease file {leases}: directory {state} is not writable by user nobody: Permission denied (os error 13) (the file is saved by renaming a new one into it); chown the directory to nobody or choose another place\n",
            leases = state.join("netboot.leases").display(),
            state = state.display(),
        )
    );
    assert!(!stdout.contains("listening"), "nothing served: {stdout}");
}

/// The datagrams received on `socket` until one holds `needle`, or 20 s
/// pass.
fn notified(socket: &UnixDatagram, needle: &str, seen: &mut Vec<String>) -> bool {
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let start = std::time::Instant::now();
    let mut buf = [0u8; 4096];
    while start.elapsed() < Duration::from_secs(20) {
        if let Ok(n) = socket.recv(&mut buf) {
            let message = String::from_utf8_lossy(&buf[..n]).to_string();
            let found = message.lines().any(|l| l == needle);
            seen.push(message);
            if found {
                return true;
            }
        }
    }
    false
}

/// `cmd` with `fds` as descriptors 3, 4, ... of the child (as systemd
/// passes them), started through `sh` so that `LISTEN_PID` is the server's
/// own process id.
#[allow(unsafe_code)]
fn activated(cmd: Command, fds: Vec<std::os::fd::RawFd>, names: &str) -> Command {
    use std::os::unix::process::CommandExt;
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd
        .get_envs()
        .map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned())))
        .collect();
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("LISTEN_PID=$$ exec \"$0\" \"$@\"")
        .arg(program)
        .args(args)
        .env("LISTEN_FDS", fds.len().to_string())
        .env("LISTEN_FDNAMES", names);
    for (k, v) in envs {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    // SAFETY: only async-signal-safe calls (fcntl, dup2, close) between
    // fork and exec, on descriptors this process owns.
    unsafe {
        sh.pre_exec(move || {
            // Copies above the targets first, so that no source is
            // overwritten before it is moved.
            let mut high = Vec::new();
            for &fd in &fds {
                let copy = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100);
                if copy < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                high.push(copy);
            }
            for (i, copy) in high.into_iter().enumerate() {
                // dup2 leaves the new descriptor open across exec.
                if libc::dup2(copy, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(copy);
            }
            Ok(())
        });
    }
    sh
}

#[test]
fn passed_sockets_serve_tftp_and_ftp_and_systemd_hears_ready_reloading_and_stopping() {
    let test = "passed_sockets_serve_tftp_and_ftp_and_systemd_hears_ready_reloading_and_stopping";
    if !require_root_and_curl(test) {
        return;
    }
    use std::os::fd::AsRawFd;
    // The sockets "systemd" binds: BOOTP and TFTP by name, FTP by its
    // address (its name says nothing).
    let bootp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tftp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let ftp = TcpListener::bind("127.0.0.1:0").unwrap();
    let ports = [
        bootp.local_addr().unwrap().port(),
        tftp.local_addr().unwrap().port(),
        ftp.local_addr().unwrap().port(),
    ];
    // The file names other ports for BOOTP and TFTP: the named sockets win.
    let (dir, image) = lab([free_udp_port(), free_udp_port(), ports[2]]);
    let notify_path = dir.path().join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    let cmd = serve(dir.path(), &["--user", "nobody"]);
    let mut cmd = activated(
        cmd,
        vec![bootp.as_raw_fd(), tftp.as_raw_fd(), ftp.as_raw_fd()],
        "bootp:tftp:control",
    );
    cmd.env("NOTIFY_SOCKET", &notify_path);
    let (guard, out, err) = spawn_split("netboot serve (socket-activated)", &mut cmd);
    let mut seen = Vec::new();
    assert!(
        notified(&notify, "READY=1", &mut seen),
        "{seen:?}\n{}",
        err.text()
    );
    assert_eq!(
        seen.last().unwrap(),
        &format!(
            "READY=1\nSTATUS=listening on bootp 127.0.0.1:{}, tftp 127.0.0.1:{}, ftp 127.0.0.1:{}; \
             running as user nobody (uid {NOBODY}, gid {NOGROUP}, no supplementary groups)",
            ports[0], ports[1], ports[2]
        )
    );
    assert_runs_as_nobody(guard.id());
    for (proto, port) in ["bootp", "tftp"].iter().zip(ports) {
        expect(
            &out,
            &format!("{proto}: listening on 127.0.0.1:{port}"),
            &out,
        );
    }
    expect(
        &out,
        &format!("ftp: listening on 127.0.0.1:{}", ports[2]),
        &out,
    );

    assert_eq!(bootp_request(ports[0], "02:00:00:00:66:02"), IMAGE);
    let got = curl(
        &format!("tftp://127.0.0.1:{}/{IMAGE}", ports[1]),
        dir.path(),
    );
    assert!(got == image, "TFTP download differs ({} bytes)", got.len());
    let got = curl(&format!("ftp://127.0.0.1:{}/{IMAGE}", ports[2]), dir.path());
    assert!(got == image, "FTP download differs ({} bytes)", got.len());

    // A reload: RELOADING=1 (with the monotonic time), then READY=1; the
    // reloaded file still listens where the passed sockets are.
    guard.signal("HUP");
    seen.clear();
    assert!(notified(&notify, "RELOADING=1", &mut seen), "{seen:?}");
    assert!(seen.last().unwrap().contains("MONOTONIC_USEC="), "{seen:?}");
    assert!(notified(&notify, "READY=1", &mut seen), "{seen:?}");
    expect(&out, "netboot: reloaded ", &out);
    let got = curl(
        &format!("tftp://127.0.0.1:{}/{IMAGE}", ports[1]),
        dir.path(),
    );
    assert!(got == image, "TFTP download after the reload differs");

    guard.signal("TERM");
    assert!(notified(&notify, "STOPPING=1", &mut seen), "{seen:?}");
    let (status, _, _) = guard.wait_timeout(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(0), "{}", err.text());
    assert_eq!(err.text(), "", "no warning or error (no restart needed)");
}

/// For `test`, once it may run: a server running as nobody whose lease
/// directory becomes root's after start-up, given a lease, then stopped,
/// which must exit 5. Its standard error and output. `journal`: started
/// as systemd starts a unit whose standard error is the journal.
fn unsaved(test: &str, log_format: &str, journal: bool) -> Option<(String, String)> {
    let (ports, dir, _) = lab_for(test, false)?;
    let mut cmd = serve(
        dir.path(),
        &["--user", "nobody", "--log-format", log_format],
    );
    cmd.env_remove("INVOCATION_ID").env_remove("JOURNAL_STREAM");
    if journal {
        cmd.env("JOURNAL_STREAM", "8:4242");
    }
    let (guard, out, err) = spawn_split("netboot serve", &mut cmd);
    expect(&out, "plan: ", &err);
    assert_eq!(bootp_request(ports[0], "02:00:00:00:66:03"), IMAGE);
    std::os::unix::fs::chown(dir.path().join("state"), Some(0), Some(0)).unwrap();
    // The save of the next lease fails, and says so without -v; the
    // address waits for it (so the client hears nothing).
    let refused = bootp_try(ports[0], "02:00:00:00:66:04");
    assert_eq!(refused.status.code(), Some(20), "{}", err.text());
    expect(&err, "cannot save ", &err);
    let code = stop(guard, &err);
    // Let the readers take the last lines.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(code, 5, "{}", err.text());
    Some((err.text(), out.text()))
}

#[test]
fn a_failed_save_is_an_error_line_and_exit_code_5() {
    let test = "a_failed_save_is_an_error_line_and_exit_code_5";
    let Some((err, out)) = unsaved(test, "text", false) else {
        return;
    };
    let error = err
        .lines()
        .find(|l| l.contains(" ERROR ") && l.contains("cannot save "))
        .unwrap_or_else(|| panic!("no error line in:\n{err}"));
    assert!(
        error.ends_with("Permission denied (os error 13)"),
        "{error}"
    );
    let last = err.lines().last().unwrap();
    let cause = last
        .strip_prefix("netboot: stopped; leases NOT saved: cannot save ")
        .unwrap_or_else(|| panic!("last line: {last}"));
    assert!(cause.contains("state/netboot.leases"), "{last}");
    assert!(cause.ends_with("Permission denied (os error 13)"), "{last}");
    assert!(!out.contains("saved"), "{out}");
}

#[test]
fn json_log_lines_parse_with_level_and_message() {
    let test = "json_log_lines_parse_with_level_and_message";
    let Some((err, _)) = unsaved(test, "json", false) else {
        return;
    };
    let mut levels = Vec::new();
    for line in err.lines().filter(|l| !l.starts_with("netboot: ")) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let level = v["level"].as_str().unwrap_or_else(|| panic!("{line}"));
        let message = v["message"].as_str().unwrap_or_else(|| panic!("{line}"));
        levels.push((level.to_string(), message.to_string()));
    }
    assert!(
        levels
            .iter()
            .any(|(l, m)| l == "ERROR" && m.starts_with("cannot save ")),
        "{levels:?}"
    );
    assert!(
        err.lines()
            .last()
            .unwrap()
            .starts_with("netboot: stopped; leases NOT saved: "),
        "{err}"
    );
}

#[test]
fn the_shipped_units_pass_systemd_analyze_verify() {
    let test = "the_shipped_units_pass_systemd_analyze_verify";
    let Some(analyze) = require_program(test, "systemd-analyze") else {
        return;
    };
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../adapters/cli/dist");
    let dir = tempfile::tempdir().unwrap();
    let service = std::fs::read_to_string(dist.join("netboot.service")).unwrap();
    assert!(
        service.contains(
            "ExecStart=/usr/local/bin/netboot serve --config /etc/netboot/netboot.toml\n"
        )
    );
    // verify wants the command to exist: the binary built here.
    let service = service.replace("/usr/local/bin/netboot", netboot_bin().to_str().unwrap());
    std::fs::write(dir.path().join("netboot.service"), service).unwrap();
    std::fs::copy(
        dist.join("netboot.socket"),
        dir.path().join("netboot.socket"),
    )
    .unwrap();
    let out = Command::new(analyze)
        .current_dir(dir.path())
        // The man page is `netboot man`'s, not installed here.
        .args([
            "verify",
            "--man=no",
            "./netboot.service",
            "./netboot.socket",
        ])
        .stdin(Stdio::null())
        .bounded_output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{said}");
    // An unknown key or a bad value is only a warning: there must be none.
    assert_eq!(said, "");
}

#[test]
fn under_systemd_log_lines_carry_the_journal_priority_and_no_time() {
    let test = "under_systemd_log_lines_carry_the_journal_priority_and_no_time";
    let Some((err, _)) = unsaved(test, "text", true) else {
        return;
    };
    let error = err
        .lines()
        .find(|l| l.contains("cannot save "))
        .unwrap_or_else(|| panic!("no error line in:\n{err}"));
    let message = error
        .strip_prefix("<3>netboot_std::host: cannot save ")
        .unwrap_or_else(|| panic!("{error}"));
    assert!(
        message.ends_with("state/netboot.leases: Permission denied (os error 13)"),
        "{error}"
    );
    // The command's own closing line is an error for the journal too.
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("<3>netboot: stopped; leases NOT saved: cannot save "),
        "{last}"
    );
}
