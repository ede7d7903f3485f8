//! The async clients (`netboot-async-std`) against real servers: the TFTP
//! client against atftpd, the FTP client against pyftpdlib (both on
//! loopback), and the BOOTP/DHCP client against dnsmasq inside network
//! namespaces this test creates.

mod ftp_support;

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use async_std::task::block_on;
use ftp_support::PYFTPDLIB_USER;
use netboot_core::bootp::HwAddr;
use netboot_tests::netns::{NetnsPair, enter};
use netboot_tests::{
    BoundedOutput, ChildGuard, free_tcp_port, free_udp_port, require_program, require_root,
    test_bytes, unique_name, wait_for,
};

#[test]
fn async_tftp_client_against_atftpd() {
    let Some(atftpd) = require_program("async_tftp_client_against_atftpd", "atftpd") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let content = test_bytes(21, 2 * 1024 * 1024 + 5);
    std::fs::write(root.path().join("image.bin"), &content).unwrap();
    std::fs::set_permissions(
        root.path().join("image.bin"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let port = free_udp_port();
    let log = std::env::temp_dir().join(unique_name("atftpd-log"));
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
    let work = tempfile::tempdir().unwrap();
    // atftpd needs a moment to start: retry the first download briefly.
    let first = work.path().join("first.bin");
    let started = wait_for(Duration::from_secs(10), || {
        block_on(
            netboot_async_std::tftp::Client::new(addr)
                .retries(1)
                .get("image.bin", &first),
        )
        .ok()
    });
    assert!(started.is_some(), "atftpd did not answer");
    block_on(async {
        for (blksize, window) in [(512u16, 1u16), (1468, 16)] {
            let out = work.path().join(format!("get-{blksize}-{window}"));
            let stats = netboot_async_std::tftp::Client::new(addr)
                .blksize(blksize)
                .windowsize(window)
                .get("image.bin", &out)
                .await
                .unwrap();
            assert_eq!(stats.negotiated.tsize, Some(content.len() as u64));
            assert_eq!(
                (stats.negotiated.blksize, stats.negotiated.windowsize),
                (blksize, window)
            );
            assert!(std::fs::read(&out).unwrap() == content);
        }
        netboot_async_std::tftp::Client::new(addr)
            .blksize(1468)
            .put(&first, "uploaded.bin")
            .await
            .unwrap();
    });
    assert!(std::fs::read(root.path().join("uploaded.bin")).unwrap() == content);
    let _ = std::fs::remove_file(log);
}

#[test]
fn async_ftp_client_against_pyftpdlib() {
    let Some(_) = require_program("async_ftp_client_against_pyftpdlib", "python3") else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    let content = test_bytes(22, 1 << 20);
    std::fs::write(root.path().join("big.bin"), &content).unwrap();
    let port = free_tcp_port();
    let _server = ChildGuard::spawn(
        "pyftpdlib",
        Command::new("python3")
            .args(["-c", PYFTPDLIB_USER, &port.to_string()])
            .arg(root.path()),
    )
    .unwrap();
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("pyftpdlib listens");
    block_on(async {
        let mut ftp = netboot_async_std::ftp::FtpClient::connect(("127.0.0.1", port))
            .await
            .unwrap();
        ftp.login("bob", "pw").await.unwrap();
        let mut got = Vec::new();
        assert_eq!(
            ftp.get("big.bin", 0, &mut got).await.unwrap(),
            content.len() as u64
        );
        assert!(got == content);
        ftp.put("up.bin", &mut &content[..300_000]).await.unwrap();
        assert_eq!(ftp.size("up.bin").await.unwrap(), 300_000);
        ftp.mkdir("made").await.unwrap();
        assert!(ftp.list(None).await.unwrap().contains("made"));
        ftp.quit().await.unwrap();
    });
    assert!(std::fs::read(root.path().join("up.bin")).unwrap()[..] == content[..300_000]);
}

#[test]
fn async_bootp_client_against_dnsmasq_in_namespaces() {
    let test = "async_bootp_client_against_dnsmasq_in_namespaces";
    if !require_root(test) || require_program(test, "dnsmasq").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pair = NetnsPair::new(67);
    let mut dnsmasq = pair.in_server("dnsmasq");
    dnsmasq
        .args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--user=root",
        ])
        .arg(format!("--interface={}", pair.server_if))
        .arg("--bind-interfaces")
        .arg("--dhcp-range=10.67.0.100,10.67.0.150,255.255.255.0,1h")
        .arg("--dhcp-boot=dnsmasq.img,,10.67.0.1")
        .arg("--bootp-dynamic")
        .arg(format!(
            "--dhcp-leasefile={}",
            dir.path().join("leases").display()
        ))
        .arg(format!("--pid-file={}", dir.path().join("pid").display()));
    let _dnsmasq = ChildGuard::spawn("dnsmasq", &mut dnsmasq).unwrap();
    let mac = pair
        .in_client("cat")
        .arg(format!("/sys/class/net/{}/address", pair.client_if))
        .bounded_output()
        .unwrap();
    let hw: HwAddr = String::from_utf8(mac.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let (ns, dev) = (pair.client.clone(), pair.client_if.clone());
    let results = std::thread::spawn(move || {
        enter(&ns).unwrap();
        [true, false].map(|dhcp| {
            let mut o = netboot_async_std::bootp::RequestOptions::new(hw);
            o.dhcp = dhcp;
            o.interface = Some(dev.clone());
            o.initial_timeout = Duration::from_millis(500);
            o.max_timeout = Duration::from_secs(1);
            o.attempts = 10;
            block_on(netboot_async_std::bootp::request(&o))
        })
    })
    .join()
    .unwrap();
    for (dhcp, r) in [true, false].into_iter().zip(results) {
        let a = r.unwrap_or_else(|e| panic!("dhcp={dhcp}: {e}"));
        assert_eq!(a.ip.octets()[..3], [10, 67, 0], "{a:?}");
        assert!((100..=150).contains(&a.ip.octets()[3]), "{a:?}");
        assert_eq!(a.file.as_deref(), Some("dnsmasq.img"));
        assert_eq!(a.server, Some("10.67.0.1".parse().unwrap()));
        assert_eq!(a.dhcp, dhcp);
    }
}
