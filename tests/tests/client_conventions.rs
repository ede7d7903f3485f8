//! The client verbs in the conventions of curl and tftp-hpa, as a user sees
//! them: `tftp://` URLs, `-` for standard output and input, `--json` and
//! `-q`, passwords outside argv, a closed pipe, Ctrl-C, and the generated
//! help, completions and man page.

mod ftp_support;

use std::io::{BufRead, BufReader, Read};
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ftp_support::{BIG, run, run_ok, serve};
use netboot_mio::tftp::{ServerHandle, TftpServer};
use netboot_tests::{ChildGuard, netboot_bin, test_bytes, wait_for};

fn netboot() -> Command {
    Command::new(netboot_bin())
}

/// Our TFTP server on a fresh writable root holding `big.bin` (300 000
/// bytes) and `a b.bin`.
fn tftp_server() -> (ServerHandle, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("big.bin"), test_bytes(7, 300_000)).unwrap();
    std::fs::write(root.path().join("a b.bin"), test_bytes(8, 1000)).unwrap();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .spawn()
        .unwrap();
    (server, root)
}

fn tftp_url(server: &ServerHandle, path: &str) -> String {
    format!("tftp://127.0.0.1:{}/{path}", server.local_addr().port())
}

/// Runs `cmd` with `input` on its standard input (at most 60 s).
fn run_with_stdin(name: &str, cmd: &mut Command, input: &Path) -> std::process::Output {
    let child = cmd
        .stdin(Stdio::from(std::fs::File::open(input).unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, stdout, stderr) =
        ChildGuard::new(name, child).wait_timeout(Duration::from_secs(60));
    std::process::Output {
        status: status.unwrap_or_else(|| panic!("{name} did not finish\n{stderr}")),
        stdout: stdout.into_bytes(),
        stderr: stderr.into_bytes(),
    }
}

/// Runs `cmd` to success (at most 60 s), reading its standard output
/// while it runs: a file written to `-` is larger than a pipe's buffer.
fn run_stdout(name: &str, cmd: &mut Command) -> (Vec<u8>, String) {
    let mut guard = ChildGuard::spawn(name, cmd).unwrap();
    let mut stdout = guard.child().stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).map(|_| bytes)
    });
    let (status, _, stderr) = guard.wait_timeout(Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "{name}: {status:?}\n{stderr}"
    );
    (reader.join().unwrap().unwrap(), stderr)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Names starting with `.netboot-` in `dir`.
fn partial_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".netboot-"))
        .collect()
}

#[test]
fn tftp_get_takes_a_url_and_writes_files_or_stdout_byte_identical() {
    let (server, _root) = tftp_server();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("out.bin");
    let o = run_ok(
        "tftp get URL out",
        netboot()
            .args(["tftp", "get", &tftp_url(&server, "big.bin")])
            .arg(&out),
    );
    assert_eq!(std::fs::read(&out).unwrap(), test_bytes(7, 300_000));
    // Nothing on stdout, and no progress bar garbage on a piped stderr.
    assert_eq!(
        (text(&o.stdout), text(&o.stderr)),
        (String::new(), String::new())
    );
    // A percent-encoded name, into the current directory by default.
    run_ok(
        "tftp get %20",
        netboot()
            .current_dir(work.path())
            .args(["tftp", "get", &tftp_url(&server, "a%20b.bin")]),
    );
    assert_eq!(
        std::fs::read(work.path().join("a b.bin")).unwrap(),
        test_bytes(8, 1000)
    );
    // `-` is standard output, and nothing else is printed there.
    let (stdout, stderr) = run_stdout(
        "tftp get URL -",
        netboot().args(["tftp", "get", &tftp_url(&server, "big.bin"), "-"]),
    );
    assert!(stdout == test_bytes(7, 300_000), "stdout differs");
    assert_eq!(stderr, "");
    // The tftp-hpa form still works.
    let port = server.local_addr().port().to_string();
    let (stdout, _) = run_stdout(
        "tftp get SERVER REMOTE -",
        netboot().args(["tftp", "get", &format!("127.0.0.1:{port}"), "big.bin", "-"]),
    );
    assert!(stdout == test_bytes(7, 300_000), "stdout differs");
    assert!(partial_files(work.path()).is_empty());
}

#[test]
fn tftp_put_from_stdin_arrives_identical() {
    let (server, root) = tftp_server();
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("input.bin");
    std::fs::write(&input, test_bytes(9, 123_457)).unwrap();
    let o = run_with_stdin(
        "tftp put - URL",
        netboot().args(["tftp", "put", "-", &tftp_url(&server, "from-stdin.bin")]),
        &input,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        (text(&o.stdout), text(&o.stderr)),
        (String::new(), String::new())
    );
    assert_eq!(
        std::fs::read(root.path().join("from-stdin.bin")).unwrap(),
        test_bytes(9, 123_457)
    );
    // Standard input has no name to store it under.
    let o = run_with_stdin(
        "tftp put - SERVER",
        netboot().args([
            "tftp",
            "put",
            &format!("127.0.0.1:{}", server.local_addr().port()),
            "-",
        ]),
        &input,
    );
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        text(&o.stderr),
        "netboot: standard input has no name: give the remote name\n"
    );
}

/// The write request a put sends, refused by a one-shot server with
/// "access violation" (exit 11).
fn write_request(stdin: Option<&Path>, local: &str) -> Vec<u8> {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "tftp://127.0.0.1:{}/x.bin",
        socket.local_addr().unwrap().port()
    );
    let s = socket.try_clone().unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        let (n, from) = s.recv_from(&mut buf).unwrap();
        s.send_to(b"\x00\x05\x00\x02refused\x00", from).unwrap();
        buf[..n].to_vec()
    });
    let mut cmd = netboot();
    cmd.args(["tftp", "put", local, &url]);
    let o = match stdin {
        Some(input) => run_with_stdin("tftp put", &mut cmd, input),
        None => run("tftp put", &mut cmd),
    };
    assert_eq!(o.status.code(), Some(11), "{}", text(&o.stderr));
    t.join().unwrap()
}

#[test]
fn a_put_from_stdin_announces_no_tsize_a_file_does() {
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.bin");
    std::fs::write(&input, test_bytes(5, 5000)).unwrap();
    let from_stdin = write_request(Some(&input), "-");
    assert_eq!(from_stdin, b"\x00\x02x.bin\x00octet\x00");
    let from_file = write_request(None, input.to_str().unwrap());
    assert_eq!(from_file, b"\x00\x02x.bin\x00octet\x00tsize\x005000\x00");
}

#[test]
fn tftp_json_and_quiet() {
    let (server, _root) = tftp_server();
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("j.bin");
    let o = run_ok(
        "--json tftp get",
        netboot()
            .args(["--json", "tftp", "get", &tftp_url(&server, "big.bin")])
            .arg(&out)
            .args(["--blksize", "1400"]),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["success"], true);
    assert_eq!(v["exit_code"], 0);
    assert_eq!(v["command"], "tftp get");
    assert_eq!(v["remote"], "big.bin");
    assert_eq!(v["local"], out.display().to_string());
    assert_eq!(v["bytes"], 300_000);
    assert_eq!(v["tsize"], 300_000);
    assert_eq!(v["blksize"], 1400);
    assert!(v["elapsed_ms"].is_u64());
    // A failure is JSON too, with its exit code.
    let o = run(
        "--json tftp get missing",
        netboot().args(["tftp", "get", "--json", &tftp_url(&server, "missing.bin")]),
    );
    assert_eq!(o.status.code(), Some(10));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["success"], false);
    assert_eq!(v["exit_code"], 10);
    assert_eq!(v["error"], "missing.bin: server: file not found (1)");
    // -q: nothing at all on success.
    let o = run_ok(
        "-q tftp get",
        netboot()
            .args(["-q", "tftp", "get", &tftp_url(&server, "big.bin")])
            .arg(&out),
    );
    assert_eq!((o.stdout.len(), o.stderr.len()), (0, 0));
}

/// A TFTP "server" that answers a read request with its first block and
/// then goes silent: the download stalls with its partial file open.
fn stalling_server() -> (UdpSocket, std::thread::JoinHandle<()>) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let s = socket.try_clone().unwrap();
    let t = std::thread::spawn(move || {
        let mut buf = [0u8; 1024];
        let Ok((_, from)) = s.recv_from(&mut buf) else {
            return;
        };
        let mut data = vec![0, 3, 0, 1];
        data.extend_from_slice(&[0x5a; 512]);
        let _ = s.send_to(&data, from);
    });
    (socket, t)
}

#[test]
fn sigint_during_a_stalled_tftp_get_exits_130_and_leaves_no_partial_file() {
    let (socket, answered) = stalling_server();
    let port = socket.local_addr().unwrap().port();
    let work = tempfile::tempdir().unwrap();
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let guard = ChildGuard::spawn(
            "tftp get (stalled)",
            netboot()
                .current_dir(work.path())
                .args(["tftp", "get", "--no-tsize", "--retries", "100"])
                .arg(format!("tftp://127.0.0.1:{port}/slow.bin")),
        )
        .unwrap();
        // The partial file exists while the transfer is stalled.
        let started = wait_for(Duration::from_secs(10), || {
            (!partial_files(work.path()).is_empty()).then_some(())
        });
        if signal == "TERM" {
            // The stalling server answered once; the second run waits at
            // its first request, before any file was opened.
            std::thread::sleep(Duration::from_millis(300));
        } else {
            assert!(started.is_some(), "no partial download appeared");
        }
        guard.signal(signal);
        let (status, _, stderr) = guard.wait_timeout(Duration::from_secs(10));
        assert_eq!(status.and_then(|s| s.code()), Some(code), "{stderr}");
        assert_eq!(stderr, "netboot: interrupted\n");
        assert_eq!(partial_files(work.path()), Vec::<String>::new());
        assert!(!work.path().join("slow.bin").exists());
    }
    answered.join().unwrap();
}

#[test]
fn ftp_get_to_stdout_and_put_from_stdin() {
    let s = serve(|_| {});
    let (stdout, stderr) = run_stdout(
        "ftp get URL -",
        netboot().args(["ftp", "get", &s.url("big.bin"), "-"]),
    );
    assert!(stdout == test_bytes(1, BIG), "stdout differs");
    assert_eq!(stderr, "");
    let work = tempfile::tempdir().unwrap();
    let input = work.path().join("in.bin");
    std::fs::write(&input, test_bytes(4, 77_777)).unwrap();
    let o = run_with_stdin(
        "ftp put - URL",
        netboot().args(["ftp", "put", "-", &s.user_url("streamed.bin")]),
        &input,
    );
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read(s.path("streamed.bin")).unwrap(),
        test_bytes(4, 77_777)
    );
}

#[test]
fn ftp_passwords_from_the_environment_a_file_and_netrc() {
    let s = serve(|_| {});
    let work = tempfile::tempdir().unwrap();
    let url = format!("ftp://alice@127.0.0.1:{}/big.bin", s.port);
    let get = |name: &str, setup: &dyn Fn(&mut Command)| {
        let mut cmd = netboot();
        cmd.env_remove("NETBOOT_PASSWORD")
            .env("NETRC", work.path().join("no-netrc"))
            .current_dir(work.path());
        setup(&mut cmd);
        run(name, &mut cmd)
    };
    let o = get("NETBOOT_PASSWORD", &|c| {
        c.env("NETBOOT_PASSWORD", "pw")
            .args(["ftp", "get", &url, "env.bin"]);
    });
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert_eq!(
        std::fs::read(work.path().join("env.bin")).unwrap(),
        test_bytes(1, BIG)
    );
    std::fs::write(work.path().join("pw.txt"), "pw\nsecond line\n").unwrap();
    let o = get("--password-file", &|c| {
        c.env("NETBOOT_PASSWORD", "wrong").args([
            "ftp",
            "get",
            "--password-file",
            "pw.txt",
            &url,
            "file.bin",
        ]);
    });
    assert!(o.status.success(), "{}", text(&o.stderr));
    std::fs::write(
        work.path().join("netrc"),
        "machine 192.0.2.1 login bob password nope\nmachine 127.0.0.1\n  login alice\n  password pw\n",
    )
    .unwrap();
    // No user in the URL: .netrc gives both.
    let o = get("NETRC", &|c| {
        c.env("NETRC", work.path().join("netrc")).args([
            "ftp",
            "ls",
            "--names",
            &format!("ftp://127.0.0.1:{}/", s.port),
            "--json",
        ]);
    });
    assert!(o.status.success(), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "big.bin"),
        "{v}"
    );
    // A wrong password is exit 31, with the server's reply.
    let o = get("wrong", &|c| {
        c.env("NETBOOT_PASSWORD", "wrong")
            .args(["ftp", "get", &url, "wrong.bin"]);
    });
    assert_eq!(o.status.code(), Some(31), "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).starts_with("netboot: login as alice refused: server replied 530"),
        "{}",
        text(&o.stderr)
    );
    assert!(!work.path().join("wrong.bin").exists());
}

/// Reads the first line of `cmd`'s standard output, closes the pipe and
/// returns the exit code and standard error.
fn first_line_then_close(name: &str, cmd: &mut Command) -> (String, Option<i32>, String) {
    let mut guard = ChildGuard::spawn(name, cmd).unwrap();
    let stdout = guard.child().stdout.take().unwrap();
    let mut first = String::new();
    BufReader::new(stdout).read_line(&mut first).unwrap();
    // The reader is dropped here: the pipe is closed.
    let (status, _, stderr) = guard.wait_timeout(Duration::from_secs(60));
    (first, status.and_then(|s| s.code()), stderr)
}

#[test]
fn a_closed_stdout_ends_ftp_ls_and_demo_quietly() {
    let s = serve(|c| {
        // A listing far larger than a pipe's buffer.
        for i in 0..3000 {
            std::fs::write(c.root.join(format!("file-{i:05}.bin")), b"").unwrap();
        }
    });
    let (first, code, stderr) = first_line_then_close(
        "ftp ls | head -1",
        netboot().args(["ftp", "ls", &s.url("")]),
    );
    assert!(first.contains(' '), "{first}");
    assert_eq!(code, Some(141), "{stderr}");
    assert_eq!(stderr, "");

    let tmp = tempfile::tempdir().unwrap();
    let (first, code, stderr) = first_line_then_close(
        "demo | head -1",
        netboot().env("TMPDIR", tmp.path()).arg("demo"),
    );
    assert!(first.starts_with("demo   | sample root"), "{first}");
    assert!(matches!(code, Some(0 | 141)), "{code:?} {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{stderr}"
    );
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn demo_removes_its_temporary_directory_on_sigint() {
    let tmp = tempfile::tempdir().unwrap();
    let mut guard =
        ChildGuard::spawn("demo", netboot().env("TMPDIR", tmp.path()).arg("demo")).unwrap();
    let mut first = String::new();
    let stdout = guard.child().stdout.take().unwrap();
    let mut reader = BufReader::new(stdout);
    reader.read_line(&mut first).unwrap();
    guard.signal("INT");
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    let (status, _, stderr) = guard.wait_timeout(Duration::from_secs(30));
    // It may have finished first on a fast machine.
    let code = status.and_then(|s| s.code());
    assert!(matches!(code, Some(0 | 130)), "{code:?} {stderr}");
    let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn help_completions_man_and_exit_codes() {
    let o = run_ok("tftp get --help", netboot().args(["tftp", "get", "--help"]));
    let help = text(&o.stdout);
    for line in [
        "Exit codes:",
        "  2    bad command line (unknown flag, missing argument)",
        "  3    bad configuration file or argument value",
        "  10   file not found on the server",
        "  130  interrupted (SIGINT, Ctrl-C); 143 for SIGTERM",
    ] {
        assert!(help.contains(line), "{line:?} missing:\n{help}");
    }
    let o = run_ok("ftp get --help", netboot().args(["ftp", "get", "--help"]));
    assert!(text(&o.stdout).contains("  31   login refused"));
    let o = run_ok("--help", netboot().arg("--help"));
    assert!(text(&o.stdout).contains("NETBOOT_PASSWORD"));

    let o = run_ok("completions bash", netboot().args(["completions", "bash"]));
    assert!(
        text(&o.stdout).contains("complete -F"),
        "{}",
        text(&o.stdout)
    );
    let o = run_ok("man", netboot().arg("man"));
    assert!(
        text(&o.stdout).starts_with(".TH NETBOOT 1"),
        "{}",
        text(&o.stdout)
    );
    let dir = tempfile::tempdir().unwrap();
    run_ok(
        "man --dir",
        netboot().args(["man", "--dir"]).arg(dir.path()),
    );
    let page = std::fs::read_to_string(dir.path().join("netboot-tftp-get.1")).unwrap();
    assert!(page.starts_with(".TH NETBOOT-TFTP-GET 1"), "{page}");

    // 2 is clap's (a bad command line), 3 a bad value.
    let o = run("unknown flag", netboot().args(["tftp", "get", "--nope"]));
    assert_eq!(o.status.code(), Some(2));
    let o = run("bad url", netboot().args(["tftp", "get", "tftp://"]));
    assert_eq!(o.status.code(), Some(3), "{}", text(&o.stderr));
    let o = run("bad ftp url", netboot().args(["ftp", "get", "http://x/y"]));
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        text(&o.stderr),
        "netboot: http://x/y: not an ftp:// URL (expected ftp://[user[:password]@]host[:port]/path)\n"
    );
}
