//! The combined server as a future (`netboot_async_std::netboot`): the
//! provisioning client (`Provisioner`) runs the seed's whole flow against
//! it over loopback, leases and progress survive a restart, and stopping it
//! with a TFTP transfer in flight ends that transfer with an error.

mod provision_support;

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use async_std::task::block_on;
use netboot_async_std::netboot::{NetbootHandle, NetbootService, ServerSetup};
use netboot_core::wire::tftp::{ErrorCode, Packet};
use netboot_mio::provision::Provisioner;
use provision_support::{
    FILES, STAGES, assert_identical, client_of, loopback_setup, mac, write_root,
};

fn builder(root: &Path, net: u8, state: &Path) -> ServerSetup {
    loopback_setup(root, net)
        .lease_file(state.join("leases"))
        .progress_file(state.join("progress"))
}

fn client(server: &NetbootHandle, hw: netboot_core::bootp::HwAddr, out: &Path) -> Provisioner {
    client_of(
        server.bootp_addr().unwrap(),
        server.tftp_addrs()[0],
        server.ftp_addr().unwrap(),
        hw,
        out,
    )
}

#[test]
fn the_seed_flow_against_the_async_combined_server_and_a_restart() {
    let root = tempfile::tempdir().unwrap();
    write_root(root.path());
    let state = tempfile::tempdir().unwrap();
    let hw = mac(41);
    let server = NetbootService::build(builder(root.path(), 41, state.path()))
        .unwrap()
        .spawn();
    let out = tempfile::tempdir().unwrap();
    let report = client(&server, hw, out.path()).seed(41).run().unwrap();
    assert!(report.is_success(), "{:?}", report.error);
    assert_identical(root.path(), out.path());
    let stages: Vec<&str> = report.stages.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(stages, STAGES, "each stage fetched once, in order");
    assert_eq!(report.files.len(), FILES.len());
    assert_eq!(report.address, Some("127.41.0.1".parse().unwrap()));
    assert_eq!(report.ftp_server, server.ftp_addr());
    assert_eq!(server.stage_of(&hw), Some(3), "the server saw every stage");
    block_on(server.shutdown()).unwrap();
    // Saved at shutdown, restored by a new server: the client is done and
    // stays done (its BOOTP requests go unanswered), its lease is kept.
    let progress = std::fs::read_to_string(state.path().join("progress")).unwrap();
    assert!(progress.contains(&format!("{hw} 3")), "{progress}");
    let leases = std::fs::read_to_string(state.path().join("leases")).unwrap();
    assert!(leases.contains("127.41.0.1"), "{leases}");
    let server = NetbootService::build(builder(root.path(), 41, state.path()))
        .unwrap()
        .spawn();
    assert_eq!(server.stage_of(&hw), Some(3));
    let again = tempfile::tempdir().unwrap();
    let report = client(&server, hw, again.path()).seed(42).run().unwrap();
    assert!(report.stages.is_empty(), "{:?}", report.stages);
    // A new client still gets the whole flow from the restarted server.
    let other = tempfile::tempdir().unwrap();
    let report = client(&server, mac(42), other.path())
        .seed(43)
        .run()
        .unwrap();
    assert!(report.is_success(), "{:?}", report.error);
    assert_identical(root.path(), other.path());
    assert_eq!(report.address, Some("127.41.0.2".parse().unwrap()));
    block_on(server.shutdown()).unwrap();
}

#[test]
fn stopping_the_async_combined_server_cancels_a_tftp_transfer_in_flight() {
    let root = tempfile::tempdir().unwrap();
    write_root(root.path());
    let state = tempfile::tempdir().unwrap();
    let server = NetbootService::build(builder(root.path(), 43, state.path()))
        .unwrap()
        .spawn();
    // A download that is never acknowledged past its first block.
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    raw.send_to(
        format!("\x00\x01{}\x00octet\x00", STAGES[1]).as_bytes(),
        server.tftp_addrs()[0],
    )
    .unwrap();
    let mut buf = [0u8; 600];
    let (_, tid) = raw.recv_from(&mut buf).unwrap();
    let started = std::time::Instant::now();
    block_on(server.shutdown()).unwrap();
    // A hang guard, not a speed check: the ERROR below shows the transfer
    // was cancelled.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "shutdown hung for {:?}",
        started.elapsed()
    );
    let error = (0..20).find_map(|_| {
        let (n, from) = raw.recv_from(&mut buf).unwrap();
        assert_eq!(from, tid);
        match Packet::parse(&buf[..n]) {
            Ok(Packet::Data { .. }) => None,
            Ok(Packet::Error { code, .. }) => Some(code),
            other => panic!("{other:?}"),
        }
    });
    assert_eq!(error, Some(ErrorCode::NotDefined));
}
