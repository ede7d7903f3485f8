//! TFTP interoperability with real peers, on loopback or inside a network
//! namespace this test creates:
//!
//! * curl (`tftp://`, `--tftp-blksize` 512, 1468, 65464; get and put) and
//!   atftp (`--option "blksize N"`, `--option "windowsize 16"`; get and put)
//!   against our server; tftp-hpa's client and tftpy for empty and
//!   one-block files;
//! * our client (library and `netboot tftp get/put`) against atftpd and
//!   against dnsmasq's TFTP server (which always uses port 69, so it runs in
//!   a private network namespace).
//!
//! Every transfer compares the bytes.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use netboot_core::wire::tftp::Mode;
use netboot_mio::tftp::{Client, ServerHandle, TftpServer};
use netboot_tests::{
    BoundedOutput, ChildGuard, free_udp_port, netboot_bin, require_program, require_python_module,
    require_root, test_bytes, unique_name, wait_for,
};

const SIZE: usize = 3 * 1024 * 1024 + 123;

fn served_dir() -> (tempfile::TempDir, Vec<u8>) {
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let content = test_bytes(42, SIZE);
    let file = root.path().join("image.bin");
    std::fs::write(&file, &content).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    (root, content)
}

fn our_server(root: &Path) -> ServerHandle {
    TftpServer::new(root)
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .max_windowsize(64)
        .spawn()
        .unwrap()
}

fn run(name: &str, cmd: &mut Command) {
    let out = cmd
        .bounded_output()
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        out.status.success(),
        "{name} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_same(path: &Path, content: &[u8]) {
    let got = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(got.len(), content.len(), "{}", path.display());
    assert!(got == content, "{} differs", path.display());
}

#[test]
fn curl_gets_and_puts_against_our_server() {
    let Some(curl) = require_program("curl_gets_and_puts_against_our_server", "curl") else {
        return;
    };
    let (root, content) = served_dir();
    let server = our_server(root.path());
    let port = server.local_addr().port();
    let work = tempfile::tempdir().unwrap();
    for blksize in [512, 1468, 65464] {
        let out = work.path().join(format!("curl-{blksize}"));
        run(
            "curl get",
            Command::new(&curl)
                .args(["-sS", "--tftp-blksize", &blksize.to_string(), "-o"])
                .arg(&out)
                .arg(format!("tftp://127.0.0.1:{port}/image.bin")),
        );
        assert_same(&out, &content);
    }
    // Without options (curl then sends blksize 512 anyway? no: it omits it).
    let out = work.path().join("curl-plain");
    run(
        "curl get",
        Command::new(&curl)
            .args(["-sS", "--tftp-no-options", "-o"])
            .arg(&out)
            .arg(format!("tftp://127.0.0.1:{port}/image.bin")),
    );
    assert_same(&out, &content);
    // Upload.
    let up = work.path().join("up.bin");
    std::fs::write(&up, &content).unwrap();
    run(
        "curl put",
        Command::new(&curl)
            .args(["-sS", "--tftp-blksize", "1468", "-T"])
            .arg(&up)
            .arg(format!("tftp://127.0.0.1:{port}/from-curl.bin")),
    );
    assert_same(&root.path().join("from-curl.bin"), &content);
    // A missing file is curl's "TFTP: File Not Found" (exit 68).
    let out = Command::new(&curl)
        .args(["-sS", "-o", "/dev/null"])
        .arg(format!("tftp://127.0.0.1:{port}/missing"))
        .bounded_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(68), "{out:?}");
}

#[test]
fn atftp_gets_and_puts_against_our_server() {
    let Some(atftp) = require_program("atftp_gets_and_puts_against_our_server", "atftp") else {
        return;
    };
    let (root, content) = served_dir();
    let server = our_server(root.path());
    let port = server.local_addr().port().to_string();
    let work = tempfile::tempdir().unwrap();
    for opts in [
        vec![],
        vec!["--option", "blksize 1468"],
        vec!["--option", "blksize 1468", "--option", "windowsize 16"],
        vec!["--option", "blksize 65464", "--option", "windowsize 4"],
    ] {
        let out = work.path().join(format!("atftp-{}", opts.len()));
        run(
            "atftp get",
            Command::new(&atftp)
                .args(&opts)
                .args(["-g", "-r", "image.bin", "-l"])
                .arg(&out)
                .args(["127.0.0.1", &port]),
        );
        assert_same(&out, &content);
    }
    // The smallest block size, on a smaller file (4,096 round trips).
    let small = &content[..32 * 1024];
    std::fs::write(root.path().join("small.bin"), small).unwrap();
    let out = work.path().join("atftp-small");
    run(
        "atftp get blksize 8",
        Command::new(&atftp)
            .args([
                "--option",
                "tsize 0",
                "--option",
                "blksize 8",
                "-g",
                "-r",
                "small.bin",
                "-l",
            ])
            .arg(&out)
            .args(["127.0.0.1", &port]),
    );
    assert_same(&out, small);
    let up = work.path().join("up.bin");
    std::fs::write(&up, &content).unwrap();
    for (i, opts) in [
        vec!["--option", "blksize 1468"],
        vec!["--option", "blksize 1468", "--option", "windowsize 16"],
    ]
    .into_iter()
    .enumerate()
    {
        let remote = format!("from-atftp-{i}.bin");
        run(
            "atftp put",
            Command::new(&atftp)
                .args(&opts)
                .args(["-p", "-l"])
                .arg(&up)
                .args(["-r", &remote, "127.0.0.1", &port]),
        );
        assert_same(&root.path().join(&remote), &content);
    }
}

/// An empty file, a file of exactly one 512-byte block and one of exactly
/// one 1468-byte block reach every TFTP client in the suite: curl (which
/// asks for `tsize` and, in 7.88, rejects an OACK announcing `tsize 0`),
/// atftp with and without options, tftp-hpa's client (plain RFC 1350, no
/// options) and tftpy (`blksize` and `tsize`). iPXE and U-Boot fetch the
/// same files under QEMU in `provision_firmware`.
#[test]
fn empty_and_one_block_files_reach_every_tftp_client() {
    let test = "empty_and_one_block_files_reach_every_tftp_client";
    let (Some(curl), Some(atftp), Some(tftp_hpa)) = (
        require_program(test, "curl"),
        require_program(test, "atftp"),
        require_program(test, "tftp"),
    ) else {
        return;
    };
    if !require_python_module(test, "tftpy") {
        return;
    }
    let (root, _) = served_dir();
    let files: [(&str, Vec<u8>); 3] = [
        ("empty.bin", Vec::new()),
        ("block.bin", test_bytes(7, 512)),
        ("big-block.bin", test_bytes(8, 1468)),
    ];
    for (name, bytes) in &files {
        let path = root.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let server = our_server(root.path());
    let port = server.local_addr().port().to_string();
    let work = tempfile::tempdir().unwrap();
    for (name, bytes) in &files {
        for blksize in ["512", "1468"] {
            let out = work.path().join(format!("curl-{blksize}-{name}"));
            run(
                &format!("curl get {name} blksize {blksize}"),
                Command::new(&curl)
                    .args(["-sS", "--tftp-blksize", blksize, "-o"])
                    .arg(&out)
                    .arg(format!("tftp://127.0.0.1:{port}/{name}")),
            );
            assert_same(&out, bytes);
        }
        for opts in [
            vec![],
            vec!["--option", "tsize 0"],
            vec!["--option", "tsize 0", "--option", "blksize 1468"],
        ] {
            let out = work.path().join(format!("atftp-{}-{name}", opts.len()));
            run(
                &format!("atftp get {name} {opts:?}"),
                Command::new(&atftp)
                    .args(&opts)
                    .args(["-g", "-r", name, "-l"])
                    .arg(&out)
                    .args(["127.0.0.1", &port]),
            );
            assert_same(&out, bytes);
        }
        // tftp-hpa's client: `-m binary` is octet mode; it sends no options.
        // It exits 0 and leaves an empty file even when the server answers
        // with an error, so its own report decides: no error line, and
        // (verbose) the byte count it received.
        let out = work.path().join(format!("hpa-{name}"));
        let got = Command::new(&tftp_hpa)
            .args(["-v", "-m", "binary", "127.0.0.1", &port, "-c", "get", name])
            .arg(&out)
            .output()
            .unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&got.stdout),
            String::from_utf8_lossy(&got.stderr)
        );
        assert!(got.status.success(), "tftp-hpa get {name}: {report}");
        assert!(
            !report.contains("Error") && !report.contains("timed out"),
            "tftp-hpa get {name}: {report}"
        );
        if !bytes.is_empty() {
            let received = format!("Received {} bytes", bytes.len());
            assert!(report.contains(&received), "tftp-hpa get {name}: {report}");
        }
        assert_same(&out, bytes);
        let out = work.path().join(format!("tftpy-{name}"));
        run(
            &format!("tftpy get {name} blksize 1468 tsize 0"),
            Command::new("python3").args([
                "-c",
                "import sys, tftpy\n\
                 c = tftpy.TftpClient('127.0.0.1', int(sys.argv[1]), \
                 options={'blksize': 1468, 'tsize': 0})\n\
                 c.download(sys.argv[2], sys.argv[3], timeout=5)",
                &port,
                name,
                out.to_str().unwrap(),
            ]),
        );
        assert_same(&out, bytes);
    }
}

/// Waits until a TFTP server answers on `addr` (any answer to an RRQ for a
/// file that does not exist).
fn wait_for_tftp(addr: SocketAddr) -> bool {
    let probe = UdpSocket::bind(SocketAddr::new(addr.ip(), 0)).unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    wait_for(Duration::from_secs(10), || {
        probe
            .send_to(b"\x00\x01no-such-probe-file\x00octet\x00", addr)
            .ok()?;
        let mut buf = [0u8; 600];
        probe.recv_from(&mut buf).ok().map(|_| ())
    })
    .is_some()
}

#[test]
fn our_client_against_atftpd() {
    let test = "our_client_against_atftpd";
    let Some(atftpd) = require_program(test, "atftpd") else {
        return;
    };
    let (root, content) = served_dir();
    let port = free_udp_port();
    let log = root.path().join("..").join(unique_name("atftpd-log"));
    let _daemon = ChildGuard::spawn(
        "atftpd",
        Command::new(&atftpd)
            .args(["--daemon", "--no-fork", "--port", &port.to_string()])
            .args(["--bind-address", "127.0.0.1", "--user", "root.root"])
            .arg("--logfile")
            .arg(&log)
            .arg(root.path()),
    )
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_for_tftp(addr), "atftpd did not start");
    let work = tempfile::tempdir().unwrap();
    for (blksize, window) in [(None, None), (Some(1468), Some(16)), (Some(65464), None)] {
        let out = work
            .path()
            .join(format!("from-atftpd-{blksize:?}-{window:?}"));
        let mut c = Client::new(addr);
        if let Some(b) = blksize {
            c = c.blksize(b);
        }
        if let Some(w) = window {
            c = c.windowsize(w);
        }
        let stats = c.get("image.bin", &out).unwrap();
        assert_eq!(stats.negotiated.tsize, Some(SIZE as u64));
        assert_eq!(stats.negotiated.blksize, blksize.unwrap_or(512));
        assert_eq!(stats.negotiated.windowsize, window.unwrap_or(1));
        assert_same(&out, &content);
    }
    // Upload to atftpd with a window.
    let up = work.path().join("up.bin");
    std::fs::write(&up, &content).unwrap();
    Client::new(addr)
        .blksize(1468)
        .windowsize(16)
        .put(&up, "from-netboot.bin")
        .unwrap();
    // atftpd acknowledges the last block before it closes the file.
    let stored = root.path().join("from-netboot.bin");
    wait_for(Duration::from_secs(5), || {
        (std::fs::metadata(&stored).ok()?.len() == SIZE as u64).then_some(())
    });
    assert_same(&stored, &content);
    // And a text file in netascii.
    let text: Vec<u8> = b"first line\nsecond\r line\n".repeat(1000);
    std::fs::write(root.path().join("t.txt"), &text).unwrap();
    std::fs::set_permissions(
        root.path().join("t.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let out = work.path().join("t.txt");
    Client::new(addr)
        .mode(Mode::Netascii)
        .get("t.txt", &out)
        .unwrap();
    assert_same(&out, &text);
    let _ = std::fs::remove_file(log);
}

/// A network namespace with only loopback, deleted on drop.
struct Netns(String);

impl Netns {
    fn new() -> Netns {
        let name = unique_name("nbt");
        netboot_tests::netns::ip(&["netns", "add", &name]);
        let ns = Netns(name);
        netboot_tests::netns::ip(&["-n", &ns.0, "link", "set", "lo", "up"]);
        ns
    }

    fn exec(&self, program: &Path) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.0]).arg(program);
        cmd
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.0])
            .bounded_output();
    }
}

#[test]
fn our_client_against_dnsmasq_in_a_namespace() {
    let test = "our_client_against_dnsmasq_in_a_namespace";
    let Some(dnsmasq) = require_program(test, "dnsmasq") else {
        return;
    };
    if !require_root(test) {
        return;
    }
    let (root, content) = served_dir();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ns = Netns::new();
    let _daemon = ChildGuard::spawn(
        "dnsmasq",
        ns.exec(&dnsmasq)
            .args([
                "--no-daemon",
                "--port=0",
                "--enable-tftp",
                "--listen-address=127.0.0.1",
                "--bind-interfaces",
                "--user=root",
                "--conf-file=/dev/null",
                "--pid-file=",
            ])
            .arg(format!("--tftp-root={}", root.path().display())),
    )
    .unwrap();
    let netboot = netboot_bin();
    let work = tempfile::tempdir().unwrap();
    // Wait until dnsmasq answers inside the namespace (a missing file gives
    // exit code 10).
    let ready = wait_for(Duration::from_secs(10), || {
        let out = ns
            .exec(&netboot)
            .args(["tftp", "get", "127.0.0.1", "no-such-file"])
            .arg(work.path().join("probe"))
            .args(["--retries", "1"])
            .bounded_output()
            .ok()?;
        (out.status.code() == Some(10)).then_some(())
    });
    assert!(ready.is_some(), "dnsmasq did not answer");
    for args in [
        vec![],
        vec!["--blksize", "1468"],
        vec!["--blksize", "65464", "--windowsize", "8"],
        vec!["--blksize", "1024", "--timeout", "2"],
    ] {
        let out: PathBuf = work.path().join(format!("from-dnsmasq-{}", args.len()));
        run(
            "netboot tftp get (dnsmasq)",
            ns.exec(&netboot)
                .args(["tftp", "get", "127.0.0.1:69", "image.bin"])
                .arg(&out)
                .args(&args),
        );
        assert_same(&out, &content);
    }
    // dnsmasq serves read-only: it refuses a WRQ with ERROR 4 (illegal
    // operation), which the CLI reports with the server's message and exit
    // code 15 (a TFTP error other than not found, access, full or exists).
    let out = ns
        .exec(&netboot)
        .args(["tftp", "put", "127.0.0.1"])
        .arg(root.path().join("image.bin"))
        .arg("copy.bin")
        .bounded_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(15), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "netboot: copy.bin: server: unsupported request from 127.0.0.1 (4)"
    );
}
