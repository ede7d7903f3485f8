//! BOOTP/DHCP against real peers over real links: ISC dhclient and busybox
//! udhcpc against our server, our client against dnsmasq (DHCP and plain
//! BOOTP), and iPXE under QEMU against our server.
//!
//! Each test builds its own network namespaces (a veth pair, or a bridge
//! with a tap for QEMU) with addresses only inside them, bounds every wait,
//! and tears everything down when it ends, failing or not: processes are
//! killed by their guards before the namespaces are deleted.

use std::path::Path;
use std::time::Duration;

use netboot_tests::dhcp::script;
use netboot_tests::keep_root;
use netboot_tests::lab::{FirmwareLab, Output, hw_addr, spawn};
use netboot_tests::netns::{NetnsPair, in_netns};
use netboot_tests::{ChildGuard, netboot_bin, require_program, require_root, wait_for};

/// Our server in `ns`, bound to `dev`, for subnet 10.`net`.0.0/24, with a
/// host entry for `mac` (10.`net`.0.10, file `host/boot.img`, next server
/// 10.`net`.0.2) and a pool for everyone else (file `pool.img`).
fn our_server(ns: &str, dev: &str, net: u8, mac: &str, dir: &Path) -> (ChildGuard, Output) {
    let config = dir.join("bootp.toml");
    std::fs::write(
        &config,
        format!(
            "[bootp]\nserver = \"10.{net}.0.1\"\nsubnet = \"10.{net}.0.0/24\"\nrouter = \"10.{net}.0.1\"\n\
             pool = {{ start = \"10.{net}.0.100\", end = \"10.{net}.0.150\" }}\nfile = \"pool.img\"\n\
             lease_file = \"leases\"\n\n[[bootp.host]]\nmac = \"{mac}\"\nip = \"10.{net}.0.10\"\n\
             hostname = \"client\"\nfile = \"host/boot.img\"\nnext_server = \"10.{net}.0.2\"\n"
        ),
    )
    .unwrap();
    let (guard, out) = spawn(
        "netboot bootp serve",
        in_netns(ns, netboot_bin().to_str().unwrap())
            .envs(keep_root())
            .args(["bootp", "serve", "--interface", dev, "--config"])
            .arg(&config),
    );
    assert!(
        out.wait("bootp: listening on 0.0.0.0:67", Duration::from_secs(10)),
        "server did not start:\n{}",
        out.text()
    );
    (guard, out)
}

/// Our server in `ns` on `bridge`, with one host entry.
fn our_bridge_server(
    ns: &str,
    bridge: &str,
    net: &str,
    mac: &str,
    file: &str,
    dir: &Path,
) -> (ChildGuard, Output) {
    let config = dir.join("bootp.toml");
    std::fs::write(
        &config,
        format!(
            "[bootp]\nserver = \"{net}.1\"\nsubnet = \"{net}.0/24\"\nrouter = \"{net}.1\"\n\
             pool = {{ start = \"{net}.100\", end = \"{net}.150\" }}\n\n\
             [[bootp.host]]\nmac = \"{mac}\"\nip = \"{net}.10\"\nfile = \"{file}\"\n"
        ),
    )
    .unwrap();
    let (guard, log) = spawn(
        "netboot bootp serve",
        in_netns(ns, netboot_bin().to_str().unwrap())
            .envs(keep_root())
            .args(["bootp", "serve", "--interface", bridge, "--config"])
            .arg(&config),
    );
    assert!(
        log.wait("bootp: listening", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    (guard, log)
}

/// The firmware lab with our BOOTP server on its bridge. Fields drop in
/// order: the server first, then the namespace.
struct BootpLab {
    _server: ChildGuard,
    log: Output,
    lab: FirmwareLab,
}

impl BootpLab {
    /// `None` (after printing why, outside CI) when root, QEMU or the ROM
    /// is missing. The subnet is 10.`net`.1.0/24 and the host entry for
    /// `mac` gets 10.`net`.1.10 and `file`.
    fn new(
        test: &str,
        rom: &str,
        package: &str,
        net: u8,
        mac: &str,
        file: &str,
    ) -> Option<BootpLab> {
        let lab = FirmwareLab::new(test, rom, package, net)?;
        let (server, log) = our_bridge_server(
            lab.ns(),
            "br0",
            &format!("10.{net}.1"),
            mac,
            file,
            lab.dir.path(),
        );
        Some(BootpLab {
            _server: server,
            log,
            lab,
        })
    }
}

#[test]
fn isc_dhclient_gets_the_configured_address_and_boot_file() {
    let test = "isc_dhclient_gets_the_configured_address_and_boot_file";
    if !require_root(test) || require_program(test, "dhclient").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pair = NetnsPair::new(61);
    let mac = hw_addr(&pair.client, &pair.client_if);
    let (_server, log) = our_server(&pair.server, &pair.server_if, 61, &mac, dir.path());
    let out = dir.path().join("dhclient.out");
    let sf = script(
        dir.path(),
        "dhclient-script",
        &format!(
            "echo \"reason=$reason ip=$new_ip_address mask=$new_subnet_mask file=$new_filename next=$new_next_server host=$new_host_name\" >> {}",
            out.display()
        ),
    );
    let (_dhclient, dlog) = spawn(
        "dhclient",
        pair.in_client("dhclient")
            .args(["-d", "-1", "-sf"])
            .arg(&sf)
            .arg("-lf")
            .arg(dir.path().join("dhclient.leases"))
            .arg("-pf")
            .arg(dir.path().join("dhclient.pid"))
            .arg(&pair.client_if),
    );
    let bound = wait_for(Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&out).unwrap_or_default();
        text.lines()
            .find(|l| l.starts_with("reason=BOUND"))
            .map(str::to_string)
    });
    let bound = bound.unwrap_or_else(|| {
        panic!(
            "dhclient never bound:\n{}\nserver:\n{}",
            dlog.text(),
            log.text()
        )
    });
    assert_eq!(
        bound,
        "reason=BOUND ip=10.61.0.10 mask=255.255.255.0 file=host/boot.img next=10.61.0.2 host=client"
    );
    assert!(
        log.wait(
            &format!("DHCPACK 10.61.0.10 to {mac} next-server 10.61.0.2 file host/boot.img"),
            Duration::from_secs(5)
        ),
        "{}",
        log.text()
    );
}

#[test]
fn busybox_udhcpc_gets_the_configured_address_and_boot_file() {
    let test = "busybox_udhcpc_gets_the_configured_address_and_boot_file";
    if !require_root(test) || require_program(test, "udhcpc").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pair = NetnsPair::new(62);
    let mac = hw_addr(&pair.client, &pair.client_if);
    let (_server, log) = our_server(&pair.server, &pair.server_if, 62, &mac, dir.path());
    let out = dir.path().join("udhcpc.out");
    let sf = script(
        dir.path(),
        "udhcpc-script",
        &format!(
            "[ \"$1\" = bound ] && echo \"ip=$ip mask=$subnet file=$boot_file siaddr=$siaddr router=$router\" >> {}",
            out.display()
        ),
    );
    let (udhcpc, ulog) = spawn(
        "udhcpc",
        pair.in_client("udhcpc")
            .args([
                "-f",
                "-n",
                "-q",
                "-t",
                "5",
                "-T",
                "2",
                "-i",
                &pair.client_if,
                "-s",
            ])
            .arg(&sf),
    );
    let (status, _, _) = udhcpc.wait_timeout(Duration::from_secs(30));
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()),
        "udhcpc failed:\n{}\nserver:\n{}",
        ulog.text(),
        log.text()
    );
    assert_eq!(
        text.trim(),
        "ip=10.62.0.10 mask=255.255.255.0 file=host/boot.img siaddr=10.62.0.2 router=10.62.0.1"
    );
    assert!(
        log.text().contains(&format!("DHCPACK 10.62.0.10 to {mac}")),
        "{}",
        log.text()
    );
}

fn dnsmasq(pair: &NetnsPair, net: u8, dir: &Path) -> (ChildGuard, Output) {
    let (guard, out) = spawn(
        "dnsmasq",
        pair.in_server("dnsmasq")
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--user=root",
                "--log-dhcp",
            ])
            .arg(format!("--interface={}", pair.server_if))
            .arg("--bind-interfaces")
            .arg(format!(
                "--dhcp-range=10.{net}.0.100,10.{net}.0.150,255.255.255.0,1h"
            ))
            .arg(format!("--dhcp-boot=dnsmasq.img,,10.{net}.0.1"))
            .arg("--bootp-dynamic")
            .arg(format!(
                "--dhcp-leasefile={}",
                dir.join("dnsmasq.leases").display()
            ))
            .arg(format!("--pid-file={}", dir.join("dnsmasq.pid").display())),
    );
    assert!(
        out.wait("DHCP, IP range", Duration::from_secs(10)),
        "dnsmasq did not start:\n{}",
        out.text()
    );
    (guard, out)
}

fn our_request(pair: &NetnsPair, dhcp: bool) -> (Option<std::process::ExitStatus>, String, String) {
    let mut cmd = pair.in_client(netboot_bin().to_str().unwrap());
    cmd.args([
        "bootp",
        "request",
        "--json",
        "--timeout",
        "1",
        "--attempts",
        "5",
        "--interface",
        &pair.client_if,
    ]);
    if dhcp {
        cmd.arg("--dhcp");
    }
    ChildGuard::spawn("netboot bootp request", &mut cmd)
        .unwrap()
        .wait_timeout(Duration::from_secs(60))
}

#[test]
fn our_client_gets_address_and_boot_file_from_dnsmasq_by_dhcp_and_bootp() {
    let test = "our_client_gets_address_and_boot_file_from_dnsmasq_by_dhcp_and_bootp";
    if !require_root(test) || require_program(test, "dnsmasq").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pair = NetnsPair::new(63);
    let mac = hw_addr(&pair.client, &pair.client_if);
    let (_dnsmasq, log) = dnsmasq(&pair, 63, dir.path());
    for dhcp in [true, false] {
        let (status, stdout, stderr) = our_request(&pair, dhcp);
        assert!(
            status.is_some_and(|s| s.success()),
            "dhcp={dhcp}: {stderr}\ndnsmasq:\n{}",
            log.text()
        );
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        let ip: std::net::Ipv4Addr = v["ip"].as_str().unwrap().parse().unwrap();
        assert_eq!(ip.octets()[..3], [10, 63, 0]);
        assert!((100..=150).contains(&ip.octets()[3]), "{ip}");
        assert_eq!(v["file"], "dnsmasq.img");
        assert_eq!(v["server"], "10.63.0.1");
        assert_eq!(v["mac"], mac.as_str());
        assert_eq!(v["protocol"], if dhcp { "dhcp" } else { "bootp" });
        if dhcp {
            assert_eq!(v["netmask"], "255.255.255.0");
            assert_eq!(v["lease_time"], 3600);
        }
    }
    let text = log.text();
    assert!(
        text.contains(&format!("DHCPACK({}) ", pair.server_if)),
        "{text}"
    );
    assert!(
        text.contains(&format!("BOOTP({}) ", pair.server_if)),
        "{text}"
    );
}

#[test]
fn ipxe_in_qemu_gets_its_address_and_boot_file_from_our_server() {
    let test = "ipxe_in_qemu_gets_its_address_and_boot_file_from_our_server";
    let mac = "52:54:00:64:00:01";
    let rom = "/usr/lib/ipxe/qemu/efi-e1000.rom";
    let Some(lab) = BootpLab::new(test, rom, "ipxe-qemu", 64, mac, "boot.ipxe") else {
        return;
    };
    let log = &lab.log;
    let console = lab.lab.boot_ipxe(mac, rom);
    // iPXE asks about 3 s after start; TCG on a shared machine is slower.
    let got = console.wait("Filename: boot.ipxe", Duration::from_secs(120));
    let serial = console.text();
    assert!(
        got,
        "iPXE never reported its boot file; serial console:\n{serial}\nserver:\n{}",
        log.text()
    );
    assert!(
        serial.contains("net0: 10.64.1.10/255.255.255.0 gw 10.64.1.1"),
        "{serial}"
    );
    assert!(serial.contains("Next server: 10.64.1.1"), "{serial}");
    let ack = format!("DHCPACK 10.64.1.10 to {mac} next-server 10.64.1.1 file boot.ipxe");
    assert!(
        log.wait(&ack, Duration::from_secs(5)),
        "server log:\n{}",
        log.text()
    );
}

#[test]
fn uboot_in_qemu_gets_its_address_and_boot_file_by_dhcp_from_our_server() {
    let test = "uboot_in_qemu_gets_its_address_and_boot_file_by_dhcp_from_our_server";
    let mac = "52:54:00:65:00:01";
    let rom = "/usr/lib/u-boot/qemu-x86_64/u-boot.rom";
    let Some(lab) = BootpLab::new(test, rom, "u-boot-qemu", 65, mac, "board/u-boot.img") else {
        return;
    };
    let log = &lab.log;
    let mut console = lab.lab.boot_uboot(mac, rom);
    assert!(console.uboot_prompt(), "{}", console.text());
    console.run("setenv autoload no");
    // This U-Boot is built with DHCP: its `bootp` command sends DHCPDISCOVER
    // and waits for a DHCPACK.
    console.run("bootp");
    assert!(
        console.wait(
            "DHCP client bound to address 10.65.1.10",
            Duration::from_secs(60)
        ),
        "U-Boot was not bound:\n{}\nserver:\n{}",
        console.text(),
        log.text()
    );
    console.run("echo result ip=${ipaddr} server=${serverip} file=${bootfile}");
    assert!(
        console.wait(
            "result ip=10.65.1.10 server=10.65.1.1 file=board/u-boot.img",
            Duration::from_secs(10)
        ),
        "{}",
        console.text()
    );
    let ack = format!("DHCPACK 10.65.1.10 to {mac} next-server 10.65.1.1 file board/u-boot.img");
    assert!(
        log.wait(&ack, Duration::from_secs(5)),
        "server log:\n{}",
        log.text()
    );
}
