//! Our TFTP client against our TFTP server over loopback (IPv4 and IPv6),
//! the embeddable API, concurrency and the upload jail.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use netboot_core::tftp::rto::RtoConfig;
use netboot_core::tftp::{Direction, TransferError};
use netboot_core::wire::tftp::{ErrorCode, Mode, Packet};
use netboot_mio::tftp::{Client, ClientError, Completion, TftpServer};
use netboot_tests::test_bytes;

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn text(seed: u64, len: usize) -> Vec<u8> {
    test_bytes(seed, len)
        .into_iter()
        .map(|b| match b % 10 {
            0 => b'\n',
            1 => b'\r',
            _ => b'a' + b % 26,
        })
        .collect()
}

#[test]
fn get_and_put_across_sizes_block_sizes_and_windows() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .spawn()
        .unwrap();
    let sizes = [0usize, 1, 511, 512, 513, 1468, 65464 * 2, 3 << 20];
    for (i, &len) in sizes.iter().enumerate() {
        let content = test_bytes(i as u64, len);
        let name = format!("f{i}.bin");
        std::fs::write(root.path().join(&name), &content).unwrap();
        for blksize in [512u16, 1468, 65464] {
            for window in [1u16, 16, 64] {
                let local = work.path().join(format!("{name}-{blksize}-{window}"));
                let stats = Client::new(server.local_addr())
                    .blksize(blksize)
                    .windowsize(window)
                    .get(&name, &local)
                    .unwrap();
                assert_eq!(stats.bytes, len as u64);
                assert_eq!(stats.negotiated.blksize, blksize);
                // An empty file is not announced (curl rejects tsize 0).
                let announced = (len > 0).then_some(len as u64);
                assert_eq!(stats.negotiated.tsize, announced);
                assert!(
                    std::fs::read(&local).unwrap() == content,
                    "{name} {blksize} {window}"
                );
            }
        }
        let up = format!("up{i}.bin");
        Client::new(server.local_addr())
            .blksize(1468)
            .windowsize(16)
            .put(root.path().join(&name), &up)
            .unwrap();
        assert!(std::fs::read(root.path().join(&up)).unwrap() == content);
    }
    server.shutdown().unwrap();
}

#[test]
fn netascii_round_trip_converts_line_ends() {
    let root = tempfile::tempdir().unwrap();
    let content = text(3, 100_000);
    std::fs::write(root.path().join("t.txt"), &content).unwrap();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .spawn()
        .unwrap();
    for window in [1u16, 8] {
        let out = root.path().join(format!("back{window}.txt"));
        Client::new(server.local_addr())
            .mode(Mode::Netascii)
            .blksize(700)
            .windowsize(window)
            .get("t.txt", &out)
            .unwrap();
        assert!(std::fs::read(&out).unwrap() == content);
        let up = format!("up{window}.txt");
        Client::new(server.local_addr())
            .mode(Mode::Netascii)
            .windowsize(window)
            .put(root.path().join("t.txt"), &up)
            .unwrap();
        assert!(std::fs::read(root.path().join(up)).unwrap() == content);
    }
}

#[test]
fn ipv6_and_dual_stack() {
    let root = tempfile::tempdir().unwrap();
    let content = test_bytes(4, 300_000);
    std::fs::write(root.path().join("f"), &content).unwrap();
    let Ok(server) = TftpServer::new(root.path())
        .bind("[::]:0".parse().unwrap())
        .spawn()
    else {
        netboot_tests::skip("ipv6_and_dual_stack", "no IPv6 on this host");
        return;
    };
    let port = server.local_addr().port();
    for host in ["[::1]", "127.0.0.1"] {
        let addr: SocketAddr = format!("{host}:{port}").parse().unwrap();
        let out = root.path().join(format!("out-{}", addr.is_ipv6()));
        Client::new(addr)
            .blksize(1468)
            .windowsize(8)
            .get("f", &out)
            .unwrap();
        assert!(std::fs::read(&out).unwrap() == content, "{host}");
    }
    assert_eq!(
        server
            .address_for("::1".parse().unwrap())
            .unwrap()
            .to_string(),
        format!("[::1]:{port}")
    );
}

#[test]
fn completion_reports_who_what_direction_bytes_and_outcome() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("stage1.img"), test_bytes(5, 10_000)).unwrap();
    std::fs::create_dir(root.path().join("boot")).unwrap();
    std::fs::write(root.path().join("boot/stage2.img"), b"two").unwrap();
    let (tx, rx) = mpsc::channel::<Completion>();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .on_complete(move |c| {
            let _ = tx.send(c.clone());
        })
        .spawn()
        .unwrap();
    let mut client = Client::new(server.local_addr());
    client.get("stage1.img", root.path().join("x")).unwrap();
    let c = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(c.path, "stage1.img");
    assert_eq!(c.direction, Direction::Read);
    assert_eq!(c.bytes, 10_000);
    assert!(c.is_success());
    assert_eq!(
        c.peer.ip(),
        "127.0.0.1".parse::<std::net::IpAddr>().unwrap()
    );

    // The path is normalised.
    client
        .get("/boot//stage2.img", root.path().join("y"))
        .unwrap();
    let c = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!((c.path.as_str(), c.bytes), ("boot/stage2.img", 3));

    // An upload the client abandons is a failed completion, and leaves
    // nothing behind.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(b"\x00\x02partial.bin\x00octet\x00", server.local_addr())
        .unwrap();
    let mut buf = [0u8; 600];
    let (n, tid) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"\x00\x04\x00\x00");
    let mut block = vec![0u8, 3, 0, 1];
    block.extend_from_slice(&[7; 512]);
    sock.send_to(&block, tid).unwrap();
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"\x00\x04\x00\x01");
    sock.send_to(b"\x00\x05\x00\x00user gave up\x00", tid)
        .unwrap();
    let c = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(c.direction, Direction::Write);
    assert_eq!(c.path, "partial.bin");
    assert_eq!(
        c.result,
        Err(TransferError::Peer {
            code: ErrorCode::NotDefined
        })
    );
    assert_eq!(c.peer_message.as_str(), "user gave up");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(listing(root.path()), ["boot", "stage1.img", "x", "y"]);
}

#[test]
fn silent_uploader_times_out_and_leaves_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel::<Completion>();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .max_retries(2)
        .give_up_after(netboot_core::time::Duration::ZERO)
        .rto(RtoConfig {
            initial: netboot_core::time::Duration::from_millis(50),
            min: netboot_core::time::Duration::from_millis(10),
            max: netboot_core::time::Duration::from_millis(100),
        })
        .on_complete(move |c| {
            let _ = tx.send(c.clone());
        })
        .spawn()
        .unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.send_to(b"\x00\x02gone.bin\x00octet\x00", server.local_addr())
        .unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 600];
    let (_, tid) = sock.recv_from(&mut buf).unwrap();
    let mut block = vec![0u8, 3, 0, 1];
    block.extend_from_slice(&[1; 512]);
    sock.send_to(&block, tid).unwrap();
    let c = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(c.result, Err(TransferError::TimedOut { retries: 2 }));
    assert_eq!(c.bytes, 512);
    assert!(
        listing(root.path()).is_empty(),
        "{:?}",
        listing(root.path())
    );
}

#[test]
fn shutdown_cancels_transfers_and_discards_uploads() {
    let root = tempfile::tempdir().unwrap();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .spawn()
        .unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sock.send_to(b"\x00\x02half.bin\x00octet\x00", server.local_addr())
        .unwrap();
    let mut buf = [0u8; 600];
    let (_, tid) = sock.recv_from(&mut buf).unwrap();
    let mut block = vec![0u8, 3, 0, 1];
    block.extend_from_slice(&[1; 512]);
    sock.send_to(&block, tid).unwrap();
    let _ = sock.recv_from(&mut buf).unwrap();
    server.shutdown().unwrap();
    let (n, from) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(from, tid);
    assert!(matches!(
        Packet::parse(&buf[..n]),
        Ok(Packet::Error {
            code: ErrorCode::NotDefined,
            ..
        })
    ));
    assert!(listing(root.path()).is_empty());
}

#[test]
fn upload_policy_create_only_overwrite_and_read_only() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("exists"), b"original").unwrap();
    std::fs::write(work.path().join("new"), b"replacement").unwrap();
    let ro = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .spawn()
        .unwrap();
    let err = Client::new(ro.local_addr())
        .put(work.path().join("new"), "fresh")
        .unwrap_err();
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
    let rw = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .max_upload(Some(5))
        .spawn()
        .unwrap();
    let err = Client::new(rw.local_addr())
        .tsize(false)
        .put(work.path().join("new"), "exists")
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
    // Announced size over the limit.
    let err = Client::new(rw.local_addr())
        .put(work.path().join("new"), "big")
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Transfer {
                error: TransferError::Peer {
                    code: ErrorCode::DiskFull
                },
                ..
            }
        ),
        "{err}"
    );
    // Not announced, found out while receiving.
    let err = Client::new(rw.local_addr())
        .tsize(false)
        .put(work.path().join("new"), "big")
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Transfer {
                error: TransferError::Peer {
                    code: ErrorCode::DiskFull
                },
                ..
            }
        ),
        "{err}"
    );
    let ow = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(true)
        .overwrite(true)
        .spawn()
        .unwrap();
    Client::new(ow.local_addr())
        .put(work.path().join("new"), "exists")
        .unwrap();
    assert_eq!(
        std::fs::read(root.path().join("exists")).unwrap(),
        b"replacement"
    );
    assert_eq!(listing(root.path()), ["exists"]);
}

#[test]
fn failed_download_leaves_local_file_untouched() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::write(work.path().join("keep"), b"mine").unwrap();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .spawn()
        .unwrap();
    let err = Client::new(server.local_addr())
        .get("missing", work.path().join("keep"))
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
    assert_eq!(std::fs::read(work.path().join("keep")).unwrap(), b"mine");
    assert_eq!(listing(work.path()), ["keep"]);
}

#[test]
fn client_times_out_with_a_clean_error() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let work = tempfile::tempdir().unwrap();
    let err = Client::new(silent.local_addr().unwrap())
        .retries(2)
        .give_up_after(Duration::ZERO)
        .rto(RtoConfig {
            initial: netboot_core::time::Duration::from_millis(20),
            min: netboot_core::time::Duration::from_millis(10),
            max: netboot_core::time::Duration::from_millis(50),
        })
        .get("x", work.path().join("x"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            ClientError::Transfer {
                error: TransferError::TimedOut { retries: 2 },
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "timed out after 2 retries");
    assert!(listing(work.path()).is_empty());
    // Three requests went out: the first and two retries.
    silent.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 100];
    let mut requests = 0;
    while let Ok((n, _)) = silent.recv_from(&mut buf) {
        if matches!(Packet::parse(&buf[..n]), Ok(Packet::Rrq { .. })) {
            requests += 1;
        }
    }
    assert_eq!(requests, 3);
}

#[test]
fn max_transfers_refuses_the_excess_with_busy() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), test_bytes(8, 100_000)).unwrap();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .max_transfers(5)
        .spawn()
        .unwrap();
    let socks: Vec<UdpSocket> = (0..8)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    for s in &socks {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.send_to(b"\x00\x01f\x00octet\x00", server.local_addr())
            .unwrap();
    }
    let mut data = 0;
    let mut busy = 0;
    for s in &socks {
        let mut buf = [0u8; 600];
        let (n, _) = s.recv_from(&mut buf).unwrap();
        match Packet::parse(&buf[..n]).unwrap() {
            Packet::Data { block: 1, .. } => data += 1,
            Packet::Error {
                code: ErrorCode::NotDefined,
                message,
            } if message.contains("busy") => busy += 1,
            p => panic!("{p:?}"),
        }
    }
    assert_eq!((data, busy), (5, 3));
    // Still at capacity: an ERROR or junk sent to the server port is never
    // answered (RFC 1350), busy or not; a bad request gets its own ERROR.
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    for silent in [&b"\x00\x05\x00\x00oops\x00"[..], b"\x07"] {
        probe.send_to(silent, server.local_addr()).unwrap();
        let mut buf = [0u8; 600];
        assert!(
            probe.recv_from(&mut buf).is_err(),
            "{silent:?} was answered"
        );
    }
    probe
        .send_to(b"\x00\x01f\x00mail\x00", server.local_addr())
        .unwrap();
    let mut buf = [0u8; 600];
    let (n, _) = probe.recv_from(&mut buf).unwrap();
    assert!(
        matches!(
            Packet::parse(&buf[..n]).unwrap(),
            Packet::Error {
                code: ErrorCode::IllegalOperation,
                ..
            }
        ),
        "{:?}",
        Packet::parse(&buf[..n])
    );
}

#[test]
fn a_thousand_concurrent_transfers_on_one_loop() {
    use netboot_core::storage::{MemStore, Storage, WriteMode};
    use netboot_core::tftp::file::{self, TransferFile};
    use netboot_core::tftp::{Event, Transfer, TransferConfig, options::Request};

    const N: usize = 1000;
    let root = tempfile::tempdir().unwrap();
    let content = test_bytes(9, 20_000);
    std::fs::write(root.path().join("f"), &content).unwrap();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .max_transfers(N)
        .spawn()
        .unwrap();
    // N client machines, each on its own socket, driven by one thread.
    let clock = netboot_std::clock::Clock::new();
    let mut poll = mio::Poll::new().unwrap();
    let mut clients = Vec::new();
    let mut store = MemStore::new();
    for i in 0..N {
        let std_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        std_sock.set_nonblocking(true).unwrap();
        let mut sock = mio::net::UdpSocket::from_std(std_sock);
        poll.registry()
            .register(&mut sock, mio::Token(i), mio::Interest::READABLE)
            .unwrap();
        let w = store
            .open_write(&format!("c{i}"), WriteMode::Replace)
            .unwrap();
        let t = Transfer::client_read(
            clock.now(),
            &TransferConfig::default(),
            server.local_addr(),
            "f",
            Mode::Octet,
            Request {
                blksize: Some(1024),
                ..Request::default()
            },
        )
        .unwrap();
        clients.push((sock, t, TransferFile::<MemStore>::writing(w), false));
    }
    let mut tx = vec![0u8; 70_000];
    let mut rx = vec![0u8; 70_000];
    let mut done = 0;
    // Every request goes out before any answer is read: the server holds all
    // N transfers at once.
    for (sock, t, files, fin) in clients.iter_mut() {
        file::drive(
            file::Driven {
                transfer: t,
                file: files,
                store: &mut store,
                received: &mut [],
            },
            clock.now(),
            &mut tx,
            &mut |b, to| {
                let _ = sock.send_to(b, to);
            },
            &mut |_, e| *fin |= matches!(e, Event::Done { .. }),
        );
    }
    let mut events = mio::Events::with_capacity(1024);
    let start = std::time::Instant::now();
    while done < N && start.elapsed() < Duration::from_secs(60) {
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .unwrap();
        let now = clock.now();
        for ev in events.iter() {
            let (sock, t, files, fin) = &mut clients[ev.token().0];
            while let Ok((n, from)) = sock.recv_from(&mut rx) {
                t.handle_datagram(now, from, &rx[..n]);
                file::drive(
                    file::Driven {
                        transfer: t,
                        file: files,
                        store: &mut store,
                        received: &mut rx[..n],
                    },
                    now,
                    &mut tx,
                    &mut |b, to| {
                        let _ = sock.send_to(b, to);
                    },
                    &mut |_, e| *fin |= matches!(e, Event::Done { .. }),
                );
            }
        }
        for (sock, t, files, fin) in clients.iter_mut() {
            if t.poll_timeout().is_some_and(|d| d <= now) {
                t.handle_timeout(now);
                file::drive(
                    file::Driven {
                        transfer: t,
                        file: files,
                        store: &mut store,
                        received: &mut [],
                    },
                    now,
                    &mut tx,
                    &mut |b, to| {
                        let _ = sock.send_to(b, to);
                    },
                    &mut |_, e| *fin |= matches!(e, Event::Done { .. }),
                );
            }
        }
        done = clients.iter().filter(|c| c.3).count();
    }
    assert_eq!(done, N);
    for i in 0..N {
        assert!(
            store.get(&format!("c{i}")).unwrap() == content.as_slice(),
            "client {i}"
        );
    }
}
