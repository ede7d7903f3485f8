//! The provisioning flow in one process over loopback: the combined server
//! (`netboot_mio::server::Server`) and the client (`Provisioner`), from BOOTP to the last
//! verified FTP file.

mod provision_support;

use provision_support::*;

#[test]
fn the_flow_on_loopback_arrives_byte_identical() {
    let root = tempfile::tempdir().unwrap();
    write_root(root.path());
    let server = loopback_server(root.path(), 11);
    let out = tempfile::tempdir().unwrap();
    let hw = mac(1);
    let report = client(&server, hw, out.path()).seed(1).run().unwrap();
    assert!(report.is_success(), "{:?}", report.error);
    assert_identical(root.path(), out.path());
    let stages: Vec<&str> = report.stages.iter().map(|s| s.file.as_str()).collect();
    assert_eq!(stages, STAGES, "each stage fetched once, in order");
    let files: Vec<(&str, bool)> = report
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.verified))
        .collect();
    assert_eq!(
        files,
        [
            ("images/kernel.img", true),
            ("images/initrd.img", false),
            ("configs/board one.conf", true),
            ("empty.dat", false)
        ]
    );
    assert_eq!(report.address, Some("127.11.0.1".parse().unwrap()));
    assert_eq!(report.manifest.as_deref(), Some("manifest.txt"));
    assert_eq!(report.ftp_server, server.ftp_addr());
    // The server saw the client finish every stage.
    assert_eq!(server.stage_of(&hw), Some(3));
    server.shutdown().unwrap();
}

#[test]
fn fifty_clients_at_once_all_arrive_byte_identical() {
    let root = tempfile::tempdir().unwrap();
    write_root(root.path());
    let server = loopback_server(root.path(), 12);
    let outs: Vec<_> = (0..50).map(|_| tempfile::tempdir().unwrap()).collect();
    let reports: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = outs
            .iter()
            .enumerate()
            .map(|(i, out)| {
                // Fifty client threads and the server share two cores:
                // the server can be starved of CPU for longer than the
                // one-second silence the other tests use, and a starved
                // server looks finished. Silence must outlast its longest
                // pause (see `Config::silence`).
                let c = client(&server, mac(100 + i as u16), out.path())
                    .seed(i as u64)
                    .silence(std::time::Duration::from_secs(4));
                s.spawn(move || c.run().unwrap())
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut addresses = std::collections::HashSet::new();
    for (i, (report, out)) in reports.iter().zip(&outs).enumerate() {
        assert!(report.is_success(), "client {i}: {:?}", report.error);
        assert_identical(root.path(), out.path());
        assert_eq!(report.files.len(), FILES.len());
        assert_eq!(
            report.stages.len(),
            STAGES.len(),
            "client {i}: a stage fetched twice"
        );
        assert!(
            addresses.insert(report.address.unwrap()),
            "address handed out twice"
        );
        assert_eq!(server.stage_of(&mac(100 + i as u16)), Some(3), "client {i}");
    }
    server.shutdown().unwrap();
}

#[test]
fn a_missing_stage_is_a_clear_tftp_failure() {
    let root = tempfile::tempdir().unwrap();
    write_root(root.path());
    std::fs::remove_file(root.path().join(STAGES[1])).unwrap();
    let server = loopback_server(root.path(), 13);
    let out = tempfile::tempdir().unwrap();
    let report = client(&server, mac(2), out.path()).run().unwrap();
    let (step, message) = report.error.clone().expect("the flow fails");
    assert_eq!(step, netboot_core::provision::FailedStep::Tftp);
    assert_eq!(
        message,
        "TFTP download of boot/stage2.bin failed: server: file not found (1)"
    );
    assert_eq!(report.stages.len(), 1);
    assert!(!out.path().join(STAGES[1]).exists());
    assert_no_temporaries(out.path());
    server.shutdown().unwrap();
}

#[test]
fn a_wrong_digest_fails_and_keeps_nothing_of_that_file() {
    let root = tempfile::tempdir().unwrap();
    write_root(root.path());
    spoil_digest(root.path(), FILES[2].0);
    let server = loopback_server(root.path(), 14);
    let out = tempfile::tempdir().unwrap();
    let report = client(&server, mac(3), out.path()).run().unwrap();
    let (step, message) = report.error.clone().expect("the flow fails");
    assert_eq!(step, netboot_core::provision::FailedStep::Digest);
    assert!(
        message.starts_with(&format!(
            "{}: SHA-256 mismatch: manifest says {}",
            FILES[2].0,
            "0".repeat(64)
        )),
        "{message}"
    );
    // The files before it arrived; the bad one was not kept.
    assert!(out.path().join(FILES[0].0).exists());
    assert!(!out.path().join(FILES[2].0).exists());
    assert_no_temporaries(out.path());
    server.shutdown().unwrap();
}
