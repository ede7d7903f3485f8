//! The async TFTP server and client (`netboot-async-std`): against each
//! other over loopback, against curl and atftp, and stopped while
//! transfers are in flight.

use std::net::UdpSocket;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_std::task::block_on;
use netboot_async_std::tftp::{Client, ClientError, TftpServer};
use netboot_core::tftp::TransferError;
use netboot_core::wire::tftp::{ErrorCode, Mode, Packet};
use netboot_tests::{BoundedOutput, require_program, test_bytes, wait_for};

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn run_ok(name: &str, cmd: &mut Command) {
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

#[test]
fn async_get_and_put_across_sizes_block_sizes_and_windows() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    block_on(async {
        let server = TftpServer::new(root.path())
            .bind("127.0.0.1:0".parse().unwrap())
            .writable(true)
            .spawn()
            .unwrap();
        for (i, len) in [0usize, 1, 511, 512, 513, 1468 * 3, 1 << 20]
            .into_iter()
            .enumerate()
        {
            let content = test_bytes(100 + i as u64, len);
            let name = format!("f{i}.bin");
            std::fs::write(root.path().join(&name), &content).unwrap();
            for (blksize, window) in [(512u16, 1u16), (1468, 16), (65464, 4)] {
                let local = work.path().join(format!("{name}-{blksize}-{window}"));
                let stats = Client::new(server.local_addr())
                    .blksize(blksize)
                    .windowsize(window)
                    .get(&name, &local)
                    .await
                    .unwrap();
                assert_eq!(stats.bytes, len as u64);
                assert_eq!(stats.negotiated.blksize, blksize);
                assert_eq!(stats.negotiated.windowsize, window);
                assert!(
                    std::fs::read(&local).unwrap() == content,
                    "{name} {blksize} {window}"
                );
                let remote = format!("up-{name}-{blksize}-{window}");
                Client::new(server.local_addr())
                    .blksize(blksize)
                    .windowsize(window)
                    .put(&local, &remote)
                    .await
                    .unwrap();
                assert!(std::fs::read(root.path().join(&remote)).unwrap() == content);
            }
        }
        // Netascii: CR LF on the wire, LF on both disks.
        std::fs::write(work.path().join("t.txt"), b"one\ntwo\r\nthree\n").unwrap();
        let mut c = Client::new(server.local_addr()).mode(Mode::Netascii);
        c.put(work.path().join("t.txt"), "t.txt").await.unwrap();
        c.get("t.txt", work.path().join("t2.txt")).await.unwrap();
        assert_eq!(
            std::fs::read(work.path().join("t2.txt")).unwrap(),
            b"one\ntwo\r\nthree\n"
        );
        // Errors keep their codes; a failed download leaves nothing.
        let err = Client::new(server.local_addr())
            .get("missing.bin", work.path().join("missing.bin"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Transfer {
                    error: TransferError::Peer {
                        code: ErrorCode::FileNotFound
                    },
                    ..
                }
            ),
            "{err}"
        );
        assert!(!work.path().join("missing.bin").exists());
        let err = Client::new(server.local_addr())
            .put(work.path().join("t.txt"), "t.txt")
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Transfer {
                    error: TransferError::Peer {
                        code: ErrorCode::FileExists
                    },
                    ..
                }
            ),
            "{err}"
        );
        server.shutdown().await.unwrap();
    });
}

#[test]
fn async_concurrent_transfers_are_served_together() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let content = test_bytes(7, 300_000);
    std::fs::write(root.path().join("img"), &content).unwrap();
    block_on(async {
        let server = TftpServer::new(root.path())
            .bind("127.0.0.1:0".parse().unwrap())
            .spawn()
            .unwrap();
        let addr = server.local_addr();
        let clients = (0..16).map(|i| {
            let local = work.path().join(format!("c{i}"));
            async_std::task::spawn(async move {
                Client::new(addr)
                    .blksize(1468)
                    .get("img", &local)
                    .await
                    .map(|s| s.bytes)
            })
        });
        for c in clients.collect::<Vec<_>>() {
            assert_eq!(c.await.unwrap(), content.len() as u64);
        }
        server.shutdown().await.unwrap();
    });
    for i in 0..16 {
        assert!(std::fs::read(work.path().join(format!("c{i}"))).unwrap() == content);
    }
}

#[test]
fn curl_and_atftp_against_the_async_server() {
    let test = "curl_and_atftp_against_the_async_server";
    let (Some(curl), Some(atftp)) = (
        require_program(test, "curl"),
        require_program(test, "atftp"),
    ) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let content = test_bytes(42, 3 * 1024 * 1024 + 123);
    std::fs::write(root.path().join("image.bin"), &content).unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .max_windowsize(64)
        .spawn()
        .unwrap();
    let port = server.local_addr().port().to_string();
    for blksize in ["512", "1468", "65464"] {
        let out = work.path().join(format!("curl-{blksize}"));
        run_ok(
            "curl get",
            Command::new(&curl)
                .args(["-sS", "--max-time", "60", "--tftp-blksize", blksize, "-o"])
                .arg(&out)
                .arg(format!("tftp://127.0.0.1:{port}/image.bin")),
        );
        assert!(
            std::fs::read(&out).unwrap() == content,
            "curl blksize {blksize}"
        );
    }
    let up = work.path().join("up.bin");
    std::fs::write(&up, &content).unwrap();
    run_ok(
        "curl put",
        Command::new(&curl)
            .args(["-sS", "--max-time", "60", "--tftp-blksize", "1468", "-T"])
            .arg(&up)
            .arg(format!("tftp://127.0.0.1:{port}/from-curl.bin")),
    );
    assert!(std::fs::read(root.path().join("from-curl.bin")).unwrap() == content);
    for (i, opts) in [
        vec![],
        vec!["--option", "blksize 1468", "--option", "windowsize 16"],
        vec!["--option", "blksize 65464", "--option", "windowsize 4"],
    ]
    .into_iter()
    .enumerate()
    {
        let out = work.path().join(format!("atftp-{i}"));
        run_ok(
            "atftp get",
            Command::new(&atftp)
                .args(&opts)
                .args(["-g", "-r", "image.bin", "-l"])
                .arg(&out)
                .args(["127.0.0.1", &port]),
        );
        assert!(std::fs::read(&out).unwrap() == content, "atftp {opts:?}");
    }
    run_ok(
        "atftp put",
        Command::new(&atftp)
            .args([
                "--option",
                "blksize 1468",
                "--option",
                "windowsize 16",
                "-p",
                "-l",
            ])
            .arg(&up)
            .args(["-r", "from-atftp.bin", "127.0.0.1", &port]),
    );
    assert!(std::fs::read(root.path().join("from-atftp.bin")).unwrap() == content);
    // A missing file is curl's "TFTP: File Not Found" (exit 68).
    let out = Command::new(&curl)
        .args(["-sS", "-o", "/dev/null"])
        .arg(format!("tftp://127.0.0.1:{port}/missing"))
        .bounded_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(68), "{out:?}");
    block_on(server.shutdown()).unwrap();
}

#[test]
fn async_shutdown_fails_transfers_in_flight_and_leaves_no_partial_upload() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let big = test_bytes(9, 16 << 20);
    std::fs::write(root.path().join("big.bin"), &big).unwrap();
    std::fs::write(work.path().join("big-up.bin"), &big).unwrap();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .spawn()
        .unwrap();
    let addr = server.local_addr();
    // A raw peer that requested an upload and sent one block.
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.send_to(b"\x00\x02half.bin\x00octet\x00", addr).unwrap();
    let mut buf = [0u8; 600];
    let (_, tid) = raw.recv_from(&mut buf).unwrap();
    let mut block = vec![0u8, 3, 0, 1];
    block.extend_from_slice(&[1; 512]);
    raw.send_to(&block, tid).unwrap();
    let _ = raw.recv_from(&mut buf).unwrap();
    // Our client downloading and uploading, slowly (512-byte lock-step).
    let down_bytes = Arc::new(AtomicU64::new(0));
    let up_bytes = Arc::new(AtomicU64::new(0));
    let (d, u) = (down_bytes.clone(), up_bytes.clone());
    let local = work.path().join("big-down.bin");
    let down = async_std::task::spawn(async move {
        Client::new(addr)
            .blksize(512)
            .progress(move |p| d.store(p.bytes, Ordering::SeqCst))
            .get("big.bin", local)
            .await
    });
    let up_src = work.path().join("big-up.bin");
    let up = async_std::task::spawn(async move {
        Client::new(addr)
            .blksize(512)
            .progress(move |p| u.store(p.bytes, Ordering::SeqCst))
            .put(up_src, "big-up.bin")
            .await
    });
    assert!(
        wait_for(Duration::from_secs(10), || {
            (down_bytes.load(Ordering::SeqCst) > 0 && up_bytes.load(Ordering::SeqCst) > 0)
                .then_some(())
        })
        .is_some(),
        "transfers did not start"
    );
    let started = std::time::Instant::now();
    block_on(server.shutdown()).unwrap();
    let (down, up) = block_on(async { (down.await, up.await) });
    // A hang guard, not a speed check: the ERROR code below shows the
    // transfers were cancelled rather than left to time out.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "shutdown hung for {:?}",
        started.elapsed()
    );
    for (what, r) in [("download", down), ("upload", up)] {
        let err = r.expect_err(what);
        assert!(
            matches!(
                err,
                ClientError::Transfer {
                    error: TransferError::Peer {
                        code: ErrorCode::NotDefined
                    },
                    ..
                }
            ),
            "{what}: {err}"
        );
    }
    // The raw peer got ERROR 0 from its transfer's port (after any
    // retransmitted ACK of its block).
    let error = (0..20).find_map(|_| {
        let (n, from) = raw.recv_from(&mut buf).unwrap();
        assert_eq!(from, tid);
        match Packet::parse(&buf[..n]) {
            Ok(Packet::Ack { .. }) => None,
            other => Some(format!("{other:?}")),
        }
    });
    let error = error.expect("an ERROR after the ACKs");
    assert!(error.contains("NotDefined"), "{error}");
    // Nothing partial anywhere: no upload in the root, no download locally.
    assert_eq!(listing(root.path()), ["big.bin"]);
    assert_eq!(listing(work.path()), ["big-up.bin"]);
}
