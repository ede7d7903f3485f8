//! The seed documents' TFTP API shapes, in both std adapters (`netboot-mio`
//! blocking, `netboot-async-std` async): the embeddable server
//! (`InternalTftp`: address optional, port 0 by default, `local_addr`,
//! `address_for(relative_host)`, files copied in and out, shut down), the
//! external client (`ExternalTftp`: port 69 by default, `get`/`put`), and
//! tftpy's one-liners (`download`, `upload`, `listen`).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_std::task::block_on;
use netboot_core::tftp::TransferError;
use netboot_core::wire::tftp::ErrorCode;
use netboot_mio::tftp::ClientError;
use netboot_tests::netns::{NetnsPair, enter};
use netboot_tests::{BoundedOutput, require_root, test_bytes, wait_for};

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// What both adapters' embeddable servers must do with files: copy in
/// whatever the server's upload policy, copy out, refuse names outside the
/// root, and leave nothing behind on failure.
fn check_file_copies(
    root: &Path,
    put: &dyn Fn(&Path, &str) -> std::io::Result<u64>,
    get: &dyn Fn(&str, &Path) -> std::io::Result<u64>,
) {
    let work = tempfile::tempdir().unwrap();
    let content = test_bytes(3, 200_000);
    std::fs::write(work.path().join("src.bin"), &content).unwrap();
    assert_eq!(
        put(&work.path().join("src.bin"), "/images/x86/boot.bin").unwrap(),
        200_000
    );
    assert!(std::fs::read(root.join("images/x86/boot.bin")).unwrap() == content);
    assert_eq!(
        get("images/x86/boot.bin", &work.path().join("out.bin")).unwrap(),
        200_000
    );
    assert!(std::fs::read(work.path().join("out.bin")).unwrap() == content);
    // Replacing keeps the name; the old content is gone whole.
    std::fs::write(work.path().join("small"), b"v2").unwrap();
    put(&work.path().join("small"), "images/x86/boot.bin").unwrap();
    assert_eq!(
        std::fs::read(root.join("images/x86/boot.bin")).unwrap(),
        b"v2"
    );
    // Outside the root: refused both ways.
    let escape = put(&work.path().join("src.bin"), "../escape.bin").unwrap_err();
    assert_eq!(escape.kind(), std::io::ErrorKind::InvalidInput, "{escape}");
    let passwd = get("../../etc/passwd", &work.path().join("passwd")).unwrap_err();
    assert_eq!(
        passwd.kind(),
        std::io::ErrorKind::PermissionDenied,
        "{passwd}"
    );
    assert!(!root.parent().unwrap().join("escape.bin").exists());
    assert!(!work.path().join("passwd").exists());
    // Missing source: an error, and nothing created.
    let err = put(&work.path().join("missing"), "never.bin").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    assert!(!root.join("never.bin").exists());
    let err = get("missing.bin", &work.path().join("missing.bin")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    assert!(!work.path().join("missing.bin").exists());
    assert_eq!(listing(root), ["images"]);
}

#[test]
fn mio_embedded_server_defaults_and_file_copies() {
    let root = tempfile::tempdir().unwrap();
    // Read-only for TFTP peers; the embedding program still copies in.
    let server = netboot_mio::tftp::TftpServer::embedded(root.path())
        .spawn()
        .unwrap();
    let addr = server.local_addr();
    assert!(addr.ip().is_unspecified() && addr.port() != 0, "{addr}");
    check_file_copies(root.path(), &|l, r| server.put_file(l, r), &|r, l| {
        server.get_file(r, l)
    });
    // A TFTP peer may not upload to it.
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("f"), b"x").unwrap();
    let err = server.client().put(work.path().join("f"), "f").unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Transfer {
                error: TransferError::Peer {
                    code: ErrorCode::AccessViolation
                },
                ..
            }
        ),
        "{err}"
    );
    server.shutdown().unwrap();
}

#[test]
fn async_embedded_server_defaults_and_file_copies() {
    let root = tempfile::tempdir().unwrap();
    block_on(async {
        let server = netboot_async_std::tftp::TftpServer::embedded(root.path())
            .spawn()
            .unwrap();
        let addr = server.local_addr();
        assert!(addr.ip().is_unspecified() && addr.port() != 0, "{addr}");
        check_file_copies(
            root.path(),
            &|l, r| block_on(server.put_file(l, r)),
            &|r, l| block_on(server.get_file(r, l)),
        );
        server.shutdown().await.unwrap();
    });
}

/// In namespaces: a server on every address of the server namespace, port
/// 0 by default, tells the client namespace's host which address reaches
/// it; an external client at port 69 (no port given) gets and puts, and
/// tftpy's download/upload do the same. Both adapters.
#[test]
fn address_for_and_the_external_client_on_port_69_in_namespaces() {
    if !require_root("address_for_and_the_external_client_on_port_69_in_namespaces") {
        return;
    }
    let pair = NetnsPair::new(66);
    let client_ip = pair.address_client(2);
    let server_ip = pair.server_ip;
    let root = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let content = test_bytes(66, 150_000);
    std::fs::write(root.path().join("kernel"), &content).unwrap();
    let work = tempfile::tempdir().unwrap();
    let (server_ns, client_ns) = (pair.server.clone(), pair.client.clone());
    let (root_path, work_path) = (root.path().to_path_buf(), work.path().to_path_buf());
    // The servers live on a thread in the server namespace. The async one
    // runs on that thread too: the sockets it opens for each transfer are
    // opened where it runs.
    let (tx, rx) = std::sync::mpsc::channel();
    let servers = std::thread::spawn(move || {
        enter(&server_ns).unwrap();
        let mio = netboot_mio::tftp::TftpServer::embedded(&root_path)
            .spawn()
            .unwrap();
        let seen_mio = mio.address_for(IpAddr::V4(client_ip)).unwrap();
        let on69 = netboot_mio::tftp::TftpServer::embedded(&root_path)
            .address(Some(IpAddr::V4(server_ip)))
            .port(69)
            .writable(true)
            .spawn()
            .unwrap();
        let asy = netboot_async_std::tftp::TftpServer::embedded(&root_path)
            .build()
            .unwrap();
        let port = asy.local_addr().port();
        let seen_async =
            netboot_mio::tftp::address_for(asy.local_addrs(), IpAddr::V4(client_ip)).unwrap();
        let loopback =
            netboot_mio::tftp::address_for(asy.local_addrs(), "127.0.0.1".parse().unwrap())
                .unwrap();
        assert_eq!(loopback.port(), port);
        tx.send((
            seen_mio,
            seen_async,
            loopback,
            on69.local_addr(),
            asy.stopper(),
        ))
        .unwrap();
        block_on(asy.run()).unwrap();
        mio.shutdown().unwrap();
        on69.shutdown().unwrap();
    });
    let (seen_mio, seen_async, loopback, on69, stopper) =
        rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(seen_mio.ip(), IpAddr::V4(server_ip));
    assert_eq!(seen_async.ip(), IpAddr::V4(server_ip));
    assert_eq!(loopback.ip().to_string(), "127.0.0.1");
    assert_eq!(on69, SocketAddr::new(IpAddr::V4(server_ip), 69));
    // The clients live on a thread in the client namespace.
    let results = std::thread::spawn(move || {
        enter(&client_ns).unwrap();
        let w = |n: &str| work_path.join(n);
        // The address each server gave for this host reaches it.
        netboot_mio::tftp::Client::new(seen_mio)
            .get("kernel", w("via-mio"))
            .unwrap();
        block_on(netboot_async_std::tftp::Client::new(seen_async).get("kernel", w("via-async")))
            .unwrap();
        // ExternalTftp(ip): port 69 without saying so; tftpy's one-liners.
        let mut ext = netboot_mio::tftp::Client::for_host(IpAddr::V4(server_ip));
        ext.get("kernel", w("ext-get")).unwrap();
        ext.download("kernel", w("ext-download")).unwrap();
        ext.put(w("ext-get"), "up-mio").unwrap();
        ext.upload(w("ext-get"), "up-mio-2").unwrap();
        block_on(async {
            let mut ext = netboot_async_std::tftp::Client::for_host(IpAddr::V4(server_ip));
            ext.get("kernel", w("ext-async-get")).await.unwrap();
            ext.download("kernel", w("ext-async-download"))
                .await
                .unwrap();
            ext.put(w("ext-get"), "up-async").await.unwrap();
            ext.upload(w("ext-get"), "up-async-2").await.unwrap();
        });
    })
    .join();
    stopper.stop();
    servers.join().unwrap();
    results.unwrap();
    for name in [
        "via-mio",
        "via-async",
        "ext-get",
        "ext-download",
        "ext-async-get",
        "ext-async-download",
    ] {
        assert!(
            std::fs::read(work.path().join(name)).unwrap() == content,
            "{name}"
        );
    }
    for name in ["up-mio", "up-mio-2", "up-async", "up-async-2"] {
        assert!(
            std::fs::read(root.path().join(name)).unwrap() == content,
            "{name}"
        );
    }
}

#[test]
fn mio_shutdown_fails_client_transfers_in_flight_and_leaves_no_partial_file() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let big = test_bytes(9, 16 << 20);
    std::fs::write(root.path().join("big.bin"), &big).unwrap();
    std::fs::write(work.path().join("big-up.bin"), &big).unwrap();
    let server = netboot_mio::tftp::TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .spawn()
        .unwrap();
    let addr = server.local_addr();
    let (down_bytes, up_bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (d, u) = (down_bytes.clone(), up_bytes.clone());
    let local = work.path().join("big-down.bin");
    let down = std::thread::spawn(move || {
        netboot_mio::tftp::Client::new(addr)
            .blksize(512)
            .progress(move |p| d.store(p.bytes, Ordering::SeqCst))
            .get("big.bin", local)
    });
    let src = work.path().join("big-up.bin");
    let up = std::thread::spawn(move || {
        netboot_mio::tftp::Client::new(addr)
            .blksize(512)
            .progress(move |p| u.store(p.bytes, Ordering::SeqCst))
            .put(src, "big-up.bin")
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
    server.shutdown().unwrap();
    let (down, up) = (down.join().unwrap(), up.join().unwrap());
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
    assert_eq!(listing(root.path()), ["big.bin"]);
    assert_eq!(listing(work.path()), ["big-up.bin"]);
}

/// The verbose switch: run as a child of this test (so its standard error
/// can be read), a verbose embedded server of each adapter serves one
/// download; the parent checks the line each printed.
#[test]
fn verbose_servers_print_one_line_per_transfer() {
    if std::env::var_os("NETBOOT_VERBOSE_CHILD").is_some() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("kernel"), vec![7u8; 1234]).unwrap();
        let work = tempfile::tempdir().unwrap();
        let mio = netboot_mio::tftp::TftpServer::embedded(root.path())
            .address(Some("127.0.0.1".parse().unwrap()))
            .verbose(true)
            .spawn()
            .unwrap();
        mio.client().get("kernel", work.path().join("a")).unwrap();
        mio.shutdown().unwrap();
        block_on(async {
            let asy = netboot_async_std::tftp::TftpServer::embedded(root.path())
                .address(Some("127.0.0.1".parse().unwrap()))
                .verbose(true)
                .spawn()
                .unwrap();
            asy.client()
                .get("kernel", work.path().join("b"))
                .await
                .unwrap();
            asy.shutdown().await.unwrap();
        });
        // A quiet server prints nothing.
        let quiet = netboot_mio::tftp::TftpServer::embedded(root.path())
            .address(Some("127.0.0.1".parse().unwrap()))
            .spawn()
            .unwrap();
        quiet.client().get("kernel", work.path().join("c")).unwrap();
        quiet.shutdown().unwrap();
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "verbose_servers_print_one_line_per_transfer",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("NETBOOT_VERBOSE_CHILD", "1")
        .bounded_output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The mio server prints the core's completion line; the async one, its
    // own until it runs the core's composition too.
    let core_line = |l: &str| l.contains(" RRQ kernel done, 1234 bytes in ");
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| {
            l.starts_with("tftp: 127.0.0.1:")
                && (core_line(l) || l.contains(" RRQ kernel: 1234 bytes in "))
        })
        .collect();
    assert_eq!(
        lines.len(),
        2,
        "one line per verbose server, none from the quiet one:\n{stderr}"
    );
    assert!(lines.iter().any(|l| core_line(l)), "{stderr}");
}
