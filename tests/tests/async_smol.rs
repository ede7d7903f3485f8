//! The async adapter under smol's executor, with no async-std runtime:
//! `netboot-async-std` is built on async-io, which smol drives.

use netboot_async_std::tftp::{Client, TftpServer};
use netboot_tests::test_bytes;

#[test]
fn ftp_and_bootp_run_under_smol() {
    use netboot_async_std::bootp::{BootpServer, RequestOptions, request};
    use netboot_async_std::ftp::{FtpClient, FtpConfig, FtpService};
    use netboot_core::bootp::{HwAddr, hosts::Host, server::ServerConfig};

    let root = tempfile::tempdir().unwrap();
    let content = test_bytes(6, 1 << 20);
    std::fs::write(root.path().join("big.bin"), &content).unwrap();
    let ftp = FtpService::bind(&FtpConfig {
        root: root.path().into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        anonymous: true,
        ..FtpConfig::default()
    })
    .unwrap();
    let hw = HwAddr::ethernet([2, 0, 0, 0, 0, 9]);
    let mut host = Host::new(hw);
    host.ip = Some("127.0.0.9".parse().unwrap());
    host.set_file("boot.img").unwrap();
    let config = ServerConfig::new("127.0.0.1".parse().unwrap(), "255.0.0.0".parse().unwrap());
    let bootp = BootpServer::new(config)
        .hosts(vec![host])
        .listen("127.0.0.1:0".parse().unwrap())
        .build()
        .unwrap();
    let (ftp_addr, bootp_addr) = (ftp.local_addr(), bootp.local_addr());
    let stoppers = [ftp.stopper(), bootp.stopper()];
    let ex = smol::Executor::new();
    let (got, lease) = smol::block_on(ex.run(async {
        let servers = [ex.spawn(ftp.run()), ex.spawn(bootp.run())];
        let mut client = FtpClient::connect(ftp_addr).await.unwrap();
        client.login("anonymous", "x").await.unwrap();
        let mut got = Vec::new();
        client.get("big.bin", 0, &mut got).await.unwrap();
        client.quit().await.unwrap();
        let mut options = RequestOptions::new(hw);
        options.server = Some(bootp_addr);
        options.client_port = 0;
        let lease = request(&options).await.unwrap();
        for s in &stoppers {
            s.stop();
        }
        for s in servers {
            s.await.unwrap();
        }
        (got, lease)
    }));
    assert!(got == content);
    assert_eq!(lease.ip.to_string(), "127.0.0.9");
    assert_eq!(lease.file.as_deref(), Some("boot.img"));
    assert_no_async_std_runtime();
}

/// Nothing ran on async-std's executor: its worker threads would be named
/// "async-std/runtime" (or "async-global-executor"); none was started.
fn assert_no_async_std_runtime() {
    let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect();
    assert!(
        !threads
            .iter()
            .any(|t| t.starts_with("async-std") || t.starts_with("async-global")),
        "{threads:?}"
    );
}

#[test]
fn tftp_transfers_run_under_smol() {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let content = test_bytes(5, 2 << 20);
    std::fs::write(root.path().join("image.bin"), &content).unwrap();
    std::fs::write(work.path().join("up.bin"), &content).unwrap();
    let ex = smol::Executor::new();
    smol::block_on(ex.run(async {
        let service = TftpServer::new(root.path())
            .bind("127.0.0.1:0".parse().unwrap())
            .writable(true)
            .build()
            .unwrap();
        let (addr, stopper) = (service.local_addr(), service.stopper());
        let server = ex.spawn(service.run());
        let mut client = Client::new(addr).blksize(1468).windowsize(8);
        let stats = client
            .get("image.bin", work.path().join("down.bin"))
            .await
            .unwrap();
        assert_eq!(stats.bytes, content.len() as u64);
        client
            .put(work.path().join("up.bin"), "up.bin")
            .await
            .unwrap();
        stopper.stop();
        server.await.unwrap();
    }));
    assert!(std::fs::read(work.path().join("down.bin")).unwrap() == content);
    assert!(std::fs::read(root.path().join("up.bin")).unwrap() == content);
    assert_no_async_std_runtime();
}
