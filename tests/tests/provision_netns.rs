//! The provisioning flow across two network namespaces joined by a veth
//! pair: `netboot serve` on the standard ports in one, `netboot provision`
//! broadcasting BOOTP through its interface in the other. In one run the
//! client machine starts with no address and takes a pool address
//! (`--configure-address`); in the other it has the fixed address its host
//! entry gives it (a lab board). Every download is attributed to the client
//! by that address.
//!
//! One run goes straight through; another restarts the server between
//! stages, and the client must finish with every stage completed once and
//! every file byte-identical, the restarted server resuming the client's
//! plan where the first left it.

mod provision_support;

use std::path::Path;
use std::time::Duration;

use netboot_tests::keep_root;
use netboot_tests::lab::{Output, hw_addr, spawn};
use netboot_tests::netns::NetnsPair;
use netboot_tests::{BoundedOutput, ChildGuard, netboot_bin, require_root, test_bytes};
use provision_support::*;

/// Writes the server's configuration: standard ports, BOOTP on the veth
/// end, a pool, and (with `mac`) a host entry giving that client
/// 10.`net`.0.50.
fn config(
    dir: &Path,
    root: &Path,
    pair: &NetnsPair,
    net: u8,
    mac: Option<&str>,
) -> std::path::PathBuf {
    let host = mac.map_or(String::new(), |mac| {
        format!("[[bootp.host]]\nmac = \"{mac}\"\nip = \"10.{net}.0.50\"\nhostname = \"board\"\n\n")
    });
    let path = dir.join("lab.toml");
    std::fs::write(
        &path,
        format!(
            "root = \"{root}\"\n\n[bootp]\nserver = \"10.{net}.0.1\"\nsubnet = \"10.{net}.0.0/24\"\n\
             interface = \"{iface}\"\nlease_file = \"lab.leases\"\n\
             pool = {{ start = \"10.{net}.0.100\", end = \"10.{net}.0.150\" }}\n\n{host}\
             [plan]\nstages = [\"{}\", \"{}\", \"{}\"]\nprogress_file = \"lab.progress\"\n",
            STAGES[0],
            STAGES[1],
            STAGES[2],
            root = root.display(),
            iface = pair.server_if,
        ),
    )
    .unwrap();
    path
}

fn serve(pair: &NetnsPair, config: &Path) -> (ChildGuard, Output) {
    let (guard, log) = spawn(
        "netboot serve",
        pair.in_server(netboot_bin().to_str().unwrap())
            .envs(keep_root())
            .arg("serve")
            .arg("--config")
            .arg(config),
    );
    assert!(
        log.wait("plan: ", Duration::from_secs(20)),
        "serve did not start:\n{}",
        log.text()
    );
    (guard, log)
}

fn provision(pair: &NetnsPair, out: &Path, extra: &[&str]) -> (ChildGuard, Output) {
    spawn(
        "netboot provision",
        pair.in_client(netboot_bin().to_str().unwrap())
            .envs(keep_root())
            .args(["provision", "--json", "--silence", "3", "--interface"])
            .arg(&pair.client_if)
            .arg("--out")
            .arg(out)
            .args(extra),
    )
}

/// Waits for the client to exit; returns its JSON report.
fn finish(client: ChildGuard, log: &Output) -> serde_json::Value {
    let (status, _, _) = client.wait_timeout(Duration::from_secs(120));
    let text = log.text();
    assert!(
        status.is_some_and(|s| s.success()),
        "provision failed:\n{text}"
    );
    let json = text
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no report:\n{text}"));
    serde_json::from_str(json).unwrap()
}

fn stage_files(report: &serde_json::Value) -> Vec<String> {
    report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["file"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn provision_across_namespaces_with_broadcast_bootp() {
    let test = "provision_across_namespaces_with_broadcast_bootp";
    if !require_root(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write_root(&root);
    let pair = NetnsPair::new(71);
    let mac = hw_addr(&pair.client, &pair.client_if);
    let config = config(dir.path(), &root, &pair, 71, None);
    let (_server, log) = serve(&pair, &config);
    assert!(log.text().contains(&format!(
        "bootp: listening on 0.0.0.0:67 (interface {})",
        pair.server_if
    )));
    assert!(
        log.text().contains("tftp: listening on 0.0.0.0:69"),
        "{}",
        log.text()
    );
    assert!(
        log.text().contains("ftp: listening on 0.0.0.0:21"),
        "{}",
        log.text()
    );
    let out = dir.path().join("out");
    // A fresh machine: no address until BOOTP gives one.
    let (client, clog) = provision(&pair, &out, &["--configure-address"]);
    let report = finish(client, &clog);
    assert_eq!(report["address"], "10.71.0.100");
    let addrs = pair
        .in_client("ip")
        .args(["-4", "-o", "addr", "show", "dev", &pair.client_if])
        .bounded_output()
        .unwrap();
    let addrs = String::from_utf8_lossy(&addrs.stdout);
    assert!(addrs.contains("inet 10.71.0.100/24"), "{addrs}");
    assert_eq!(report["ftp_server"], "10.71.0.1:21");
    assert_eq!(stage_files(&report), STAGES);
    assert_identical(&root, &out);
    let text = log.text();
    for step in [
        format!(
            "bootp: BOOTREPLY 10.71.0.100 to {mac} next-server 10.71.0.1 file {}",
            STAGES[0]
        ),
        format!(
            "plan: {mac} (10.71.0.100) fetched stage 3/3 {}; boot phase complete",
            STAGES[2]
        ),
        format!("bootp: no answer to {mac}"),
        format!("RETR /{} complete", FILES[0].0),
    ] {
        assert!(text.contains(&step), "missing {step:?}:\n{text}");
    }
}

#[test]
fn a_server_restart_between_stages_is_survived() {
    let test = "a_server_restart_between_stages_is_survived";
    if !require_root(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write_root(&root);
    // A larger second stage keeps the client busy around the restart: if
    // the stop lands after the server handed it out, it cuts the download.
    std::fs::write(root.join(STAGES[1]), test_bytes(99, 16 << 20)).unwrap();
    let pair = NetnsPair::new(72);
    let mac = hw_addr(&pair.client, &pair.client_if);
    pair.address_client(50);
    let config = config(dir.path(), &root, &pair, 72, Some(&mac));
    let (first, log) = serve(&pair, &config);
    let out = dir.path().join("out");
    let (client, clog) = provision(&pair, &out, &[]);
    let stage1 = format!("fetched stage 1/3 {}", STAGES[0]);
    assert!(
        log.wait(&stage1, Duration::from_secs(60)),
        "no first stage:\n{}\nclient:\n{}",
        log.text(),
        clog.text()
    );
    first.signal("TERM");
    let (status, _, _) = first.wait_timeout(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{}", log.text());
    let progress = std::fs::read_to_string(dir.path().join("lab.progress")).unwrap();
    assert!(
        progress.contains(&format!("{mac} 1")) || progress.contains(&format!("{mac} 2")),
        "{progress}"
    );
    let (_second, log2) = serve(&pair, &config);
    let report = finish(client, &clog);
    // Every stage completed exactly once, and nothing was fetched into a
    // corrupt file.
    assert_eq!(stage_files(&report), STAGES, "{}", clog.text());
    assert_identical(&root, &out);
    // The restarted server resumed the plan: it never handed out stage 1.
    let text = log2.text();
    assert!(!text.contains(&format!("file {}", STAGES[0])), "{text}");
    assert!(
        text.contains(&format!("fetched stage 3/3 {}", STAGES[2])),
        "{text}"
    );
}
