//! Shared fixtures for the provisioning tests: a served root with boot
//! stages and a manifest, the combined server on loopback, and checks that
//! what a client stored is byte-identical to what was served.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use netboot_core::bootp::HwAddr;
use netboot_core::bootp::server::ServerConfig;
use netboot_core::plan::{Hex, ProfileTable, Reset};
use netboot_mio::provision::Provisioner;
use netboot_mio::server::{NetbootHandle, Server};
use netboot_std::setup::ServerSetup;
use netboot_tests::test_bytes;

/// The boot stages of the fixture root, in order (the last is the
/// manifest).
pub const STAGES: [&str; 3] = ["boot/stage1.bin", "boot/stage2.bin", "manifest.txt"];

/// The files the manifest names, with their sizes.
pub const FILES: [(&str, usize); 4] = [
    ("images/kernel.img", 1_500_000),
    ("images/initrd.img", 65_536),
    ("configs/board one.conf", 700),
    ("empty.dat", 0),
];

fn sha256(data: &[u8]) -> String {
    use sha2::Digest;
    Hex(&sha2::Sha256::digest(data)).to_string()
}

/// Writes the fixture root: two stages, the manifest (with a digest for the
/// kernel, one for the config, none for the others) and its files.
pub fn write_root(root: &Path) {
    let write = |rel: &str, data: &[u8]| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, data).unwrap();
    };
    write(STAGES[0], &test_bytes(1, 2_000));
    write(STAGES[1], &test_bytes(2, 300_000));
    let mut manifest = String::from("# provisioning test manifest\n");
    for (i, (path, len)) in FILES.iter().enumerate() {
        let data = test_bytes(10 + i as u64, *len);
        let digest = if i % 2 == 0 {
            format!(" sha256:{}", sha256(&data))
        } else {
            String::new()
        };
        manifest.push_str(&format!("file{i}: {path}{digest}\n"));
        write(path, &data);
    }
    write(STAGES[2], manifest.as_bytes());
}

/// Replaces the manifest's digest of `path` with a wrong one.
pub fn spoil_digest(root: &Path, path: &str) {
    let manifest = root.join(STAGES[2]);
    let text = std::fs::read_to_string(&manifest).unwrap();
    let spoiled: String = text
        .lines()
        .map(|l| {
            if l.contains(path) {
                let (head, _) = l.rsplit_once("sha256:").expect("the file has a digest");
                format!("{head}sha256:{}\n", "0".repeat(64))
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(manifest, spoiled).unwrap();
}

/// Every stage and file in `out` equals its original in `root`, and no
/// temporary file is left in `out`.
pub fn assert_identical(root: &Path, out: &Path) {
    for rel in STAGES.iter().chain(FILES.iter().map(|(p, _)| p)) {
        let want = std::fs::read(root.join(rel)).unwrap();
        let got = std::fs::read(out.join(rel))
            .unwrap_or_else(|e| panic!("{rel} missing from {}: {e}", out.display()));
        assert!(
            got == want,
            "{rel}: {} bytes received, {} served, content differs",
            got.len(),
            want.len()
        );
    }
    assert_no_temporaries(out);
}

/// No hidden write-aside file anywhere under `dir`.
pub fn assert_no_temporaries(dir: &Path) {
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !name.starts_with(".netboot-part-"),
            "left behind: {}",
            entry.display()
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The plan of the fixture root: everyone gets [`STAGES`].
pub fn plan() -> ProfileTable {
    let mut t = ProfileTable::new();
    t.set_default(&STAGES).unwrap();
    t
}

/// The combined server on loopback, every service on a free port, handing
/// out addresses from 127.`net`.0.1 to 127.`net`.0.200.
pub fn loopback_server(root: &Path, net: u8) -> NetbootHandle {
    Server::bind(loopback_setup(root, net))
        .unwrap()
        .spawn()
        .unwrap()
}

/// The combined server's settings for [`loopback_server`] (the mio
/// runtime) and the async adapter's, not yet bound (for more settings).
pub fn loopback_setup(root: &Path, net: u8) -> ServerSetup {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    ServerSetup::new(root)
        .bootp(loopback_bootp(net))
        .bootp_listen(any)
        .tftp_listen(any)
        .ftp_listen(any)
        .plan(plan(), Reset::Never)
}

/// BOOTP/DHCP on loopback, handing out 127.`net`.0.1 to 127.`net`.0.200
/// (to plain BOOTP clients too).
fn loopback_bootp(net: u8) -> ServerConfig {
    let mut bootp = ServerConfig::new(Ipv4Addr::LOCALHOST, Ipv4Addr::new(255, 0, 0, 0));
    bootp.net.pool = Some((
        Ipv4Addr::new(127, net, 0, 1),
        Ipv4Addr::new(127, net, 0, 200),
    ));
    bootp.bootp_dynamic = true;
    bootp
}

/// A locally administered MAC numbered `n`.
pub fn mac(n: u16) -> HwAddr {
    let [a, b] = n.to_be_bytes();
    HwAddr::ethernet([0x02, 0x6e, 0x62, 0x00, a, b])
}

/// A client of `server` over loopback (unicast BOOTP from any port), with
/// a one-second silence to end the boot phase.
pub fn client(server: &NetbootHandle, hw: HwAddr, out: &Path) -> Provisioner {
    client_of(
        server.bootp_addr().unwrap(),
        server.tftp_addrs()[0],
        server.ftp_addr().unwrap(),
        hw,
        out,
    )
}

/// A client of the combined server listening on these addresses.
pub fn client_of(
    bootp: SocketAddr,
    tftp: SocketAddr,
    ftp: SocketAddr,
    hw: HwAddr,
    out: &Path,
) -> Provisioner {
    let SocketAddr::V4(bootp) = bootp else {
        panic!("BOOTP is IPv4")
    };
    Provisioner::new(hw, out)
        .server(SocketAddrV4::new(*bootp.ip(), bootp.port()))
        .client_port(0)
        .tftp_port(tftp.port())
        .ftp_port(ftp.port())
        .silence(Duration::from_secs(1))
        .first_answer(Duration::from_secs(10))
}
