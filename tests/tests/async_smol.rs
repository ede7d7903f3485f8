//! The async adapter under smol's executor, with no async-std runtime:
//! `netboot-async-std` is built on async-io, which smol drives.

use netboot_async_std::tftp::{Client, TftpServer};
use netboot_tests::test_bytes;

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
    // The proof that nothing ran on async-std's executor: its worker
    // threads are named "async-std/runtime"; none was ever started.
    let threads: Vec<String> = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.unwrap().path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect();
    assert!(
        !threads.iter().any(|t| t.starts_with("async-std")),
        "{threads:?}"
    );
}
