//! Hostile and broken datagrams against a running TFTP server: each gets the
//! right ERROR or is dropped, nothing escapes the root, and the server keeps
//! serving.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::symlink;
use std::time::Duration;

use netboot_core::wire::tftp::{ErrorCode, Packet};
use netboot_mio::tftp::{ServerHandle, TftpServer};

struct Fixture {
    _outside: tempfile::TempDir,
    root: tempfile::TempDir,
    server: ServerHandle,
    sock: UdpSocket,
}

fn fixture(writable: bool) -> Fixture {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret"), b"secret").unwrap();
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("ok.txt"), b"fine").unwrap();
    std::fs::create_dir(root.path().join("dir")).unwrap();
    symlink(outside.path().join("secret"), root.path().join("escape")).unwrap();
    symlink(outside.path(), root.path().join("outdir")).unwrap();
    let server = TftpServer::new(root.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .writable(writable)
        .spawn()
        .unwrap();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    Fixture {
        _outside: outside,
        root,
        server,
        sock,
    }
}

impl Fixture {
    /// Sends `bytes` to the server port; returns the ERROR code answered
    /// (from the server port or a transfer port), `Some(u16::MAX)` for any
    /// other answer, `None` for silence.
    fn ask(&self, bytes: &[u8]) -> Option<u16> {
        self.sock.send_to(bytes, self.server.local_addr()).unwrap();
        let mut buf = [0u8; 70_000];
        let (n, _) = self.sock.recv_from(&mut buf).ok()?;
        match Packet::parse(&buf[..n]) {
            Ok(Packet::Error { code, .. }) => Some(code.to_u16()),
            _ => Some(u16::MAX),
        }
    }

    fn still_serves(&self) {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        sock.send_to(b"\x00\x01ok.txt\x00octet\x00", self.server.local_addr())
            .unwrap();
        let mut buf = [0u8; 600];
        let (n, tid) = sock.recv_from(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"\x00\x03\x00\x01fine");
        sock.send_to(b"\x00\x04\x00\x01", tid).unwrap();
    }
}

#[test]
fn malformed_requests_get_the_right_error_or_silence() {
    let f = fixture(false);
    let cases: &[(&[u8], Option<u16>, &str)] = &[
        (b"", None, "empty"),
        (b"\x00", None, "one byte"),
        (b"\x00\x01", Some(4), "RRQ with no file name"),
        (b"\x00\x01ok.txt", Some(4), "file name without NUL"),
        (b"\x00\x01ok.txt\x00octet", Some(4), "mode without NUL"),
        (b"\x00\x01ok.txt\x00mail\x00", Some(4), "mail mode"),
        (b"\x00\x01ok.txt\x00binary\x00", Some(4), "unknown mode"),
        (b"\x00\x09junk", Some(4), "unknown opcode"),
        (b"\xff\xff", Some(4), "opcode 65535"),
        (b"\x00\x03\x00\x01data", Some(4), "DATA to the server port"),
        (b"\x00\x04\x00\x01", Some(4), "ACK to the server port"),
        (b"\x00\x05\x00\x01boom\x00", None, "ERROR is never answered"),
        (
            b"\x00\x01ok.txt\x00octet\x00blksize\x00",
            Some(8),
            "option without value",
        ),
        (
            b"\x00\x01ok.txt\x00octet\x00blksize\x000\x00",
            Some(8),
            "blksize 0",
        ),
        (
            b"\x00\x01ok.txt\x00octet\x00blksize\x007\x00",
            Some(8),
            "blksize 7",
        ),
        (
            b"\x00\x01ok.txt\x00octet\x00blksize\x0065465\x00",
            Some(8),
            "blksize 65465",
        ),
        (
            b"\x00\x01ok.txt\x00octet\x00windowsize\x000\x00",
            Some(8),
            "windowsize 0",
        ),
        (
            b"\x00\x01ok.txt\x00octet\x00timeout\x000\x00",
            Some(8),
            "timeout 0",
        ),
        (
            b"\x00\x01ok.txt\x00octet\x00tsize\x00x\x00",
            Some(8),
            "tsize not a number",
        ),
        (
            b"\x00\x02new.bin\x00octet\x00",
            Some(2),
            "WRQ on a read-only server",
        ),
        (b"\x00\x01missing\x00octet\x00", Some(1), "missing file"),
        (b"\x00\x01dir\x00octet\x00", Some(2), "a directory"),
        (b"\x00\x01\x00octet\x00", Some(2), "the root itself"),
    ];
    for (bytes, expected, what) in cases {
        assert_eq!(f.ask(bytes), *expected, "{what}");
    }
    f.still_serves();
}

#[test]
fn path_traversal_never_leaves_the_root() {
    let f = fixture(true);
    let cases: &[(&[u8], u16, &str)] = &[
        (b"\x00\x01../secret\x00octet\x00", 2, "parent"),
        (
            b"\x00\x01dir/../../secret\x00octet\x00",
            2,
            "parent in the middle",
        ),
        (b"\x00\x01..\x00octet\x00", 2, "bare parent"),
        (
            b"\x00\x01/../../etc/passwd\x00octet\x00",
            2,
            "absolute with parents",
        ),
        // An absolute path names a file inside the root.
        (b"\x00\x01/etc/passwd\x00octet\x00", 1, "absolute"),
        (b"\x00\x01ok\x01.txt\x00octet\x00", 2, "control character"),
        (b"\x00\x01ok\x7f.txt\x00octet\x00", 2, "DEL"),
        (
            b"\x00\x01escape\x00octet\x00",
            2,
            "symlink to a file outside",
        ),
        (
            b"\x00\x01outdir/secret\x00octet\x00",
            2,
            "symlink to a directory outside",
        ),
        (
            b"\x00\x02../planted\x00octet\x00",
            2,
            "upload to the parent",
        ),
        (
            b"\x00\x02outdir/planted\x00octet\x00",
            2,
            "upload through a symlink",
        ),
        (
            b"\x00\x02escape\x00octet\x00",
            2,
            "upload over a symlink leading outside",
        ),
        (
            b"\x00\x02.netboot-part-x\x00octet\x00",
            2,
            "upload to a temp name",
        ),
    ];
    for (bytes, code, what) in cases {
        assert_eq!(f.ask(bytes), Some(*code), "{what}");
    }
    let outside = f._outside.path();
    assert_eq!(std::fs::read(outside.join("secret")).unwrap(), b"secret");
    assert!(!outside.join("planted").exists());
    assert!(!f.root.path().parent().unwrap().join("planted").exists());
    f.still_serves();
}

#[test]
fn transfer_port_answers_strangers_with_error_5_and_finishes() {
    let f = fixture(false);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client
        .send_to(b"\x00\x01ok.txt\x00octet\x00", f.server.local_addr())
        .unwrap();
    let mut buf = [0u8; 600];
    let (n, tid) = client.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"\x00\x03\x00\x01fine");
    // A stranger sends to the transfer's port.
    let stranger = UdpSocket::bind("127.0.0.1:0").unwrap();
    stranger
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stranger.send_to(b"\x00\x04\x00\x01", tid).unwrap();
    let (n, from) = stranger.recv_from(&mut buf).unwrap();
    assert_eq!(from, tid);
    assert_eq!(
        Packet::parse(&buf[..n]).unwrap(),
        Packet::Error {
            code: ErrorCode::UnknownTid,
            message: "unknown transfer ID"
        }
    );
    // Garbage from the real peer is dropped; the transfer goes on.
    client.send_to(b"\x00", tid).unwrap();
    client.send_to(b"\x00\x04\x00\x01", tid).unwrap();
    // The transfer is over: nothing more comes (no duplicate DATA).
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(client.recv_from(&mut buf).is_err());
    f.still_serves();
}

#[test]
fn oversized_and_random_datagrams_do_not_hurt() {
    let f = fixture(true);
    let addr: SocketAddr = f.server.local_addr();
    let mut rng = netboot_core::rng::Rng::new(7);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..2_000u32 {
        let len = rng.below(if i % 100 == 0 { 65_000 } else { 600 }) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| rng.next_u32() as u8).collect();
        if d.len() >= 2 && i % 2 == 0 {
            // Make many of them look like requests: RRQ and WRQ in turn.
            d[0] = 0;
            d[1] = 1 + ((i / 2) % 2) as u8;
        }
        if i % 200 == 1 {
            // A well-formed upload that never sends a block.
            d = format!("\x00\x02up-{i}\x00octet\x00").into_bytes();
        }
        let _ = sock.send_to(&d, addr);
    }
    std::thread::sleep(Duration::from_millis(200));
    assert!(!f.server.is_finished());
    f.still_serves();
    // The abandoned uploads hold temporary files until they time out or the
    // server stops; stopping it must leave none of them, and no upload file.
    let names = |root: &std::path::Path| -> Vec<String> {
        std::fs::read_dir(root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".netboot-part") || n.starts_with("up-"))
            .collect()
    };
    let open = names(f.root.path());
    assert!(
        open.iter().any(|n| n.starts_with(".netboot-part")),
        "the abandoned uploads were not accepted: {open:?}"
    );
    f.server.shutdown().unwrap();
    let left = names(f.root.path());
    assert!(left.is_empty(), "left behind: {left:?}");
}
