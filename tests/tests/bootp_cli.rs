//! `netboot bootp serve` and `netboot bootp request` as a user runs them,
//! on loopback.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use netboot_tests::netboot_command;
use netboot_tests::{BoundedOutput, ChildGuard, free_udp_port};

const CONFIG: &str = r#"
[bootp]
server = "10.8.0.1"
subnet = "10.8.0.0/24"
router = "10.8.0.1"
pool = { start = "10.8.0.50", end = "10.8.0.60" }
lease_time = 120
file = "undionly.kpxe"

[[bootp.host]]
mac = "52:54:00:00:08:07"
ip = "10.8.0.7"
hostname = "board7"
file = "board7/u-boot.bin"
next_server = "10.8.0.2"
"#;

fn start_server(dir: &std::path::Path) -> (ChildGuard, u16) {
    let config = dir.join("bootp.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let port = free_udp_port();
    let mut child = ChildGuard::spawn(
        "netboot bootp serve",
        netboot_command()
            .args(["bootp", "serve", "--config"])
            .arg(&config)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .arg("--lease-file")
            .arg(dir.join("leases")),
    )
    .unwrap();
    let mut first = String::new();
    BufReader::new(child.child().stdout.as_mut().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(
        first.trim(),
        format!("bootp: listening on 127.0.0.1:{port}")
    );
    (child, port)
}

fn request(port: u16, extra: &[&str]) -> std::process::Output {
    netboot_command()
        .args(["bootp", "request", "--server", &format!("127.0.0.1:{port}")])
        .args([
            "--client-port",
            &free_udp_port().to_string(),
            "--timeout",
            "0.3",
            "--attempts",
            "3",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .bounded_output()
        .unwrap()
}

#[test]
fn request_prints_the_assignment_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = start_server(dir.path());

    let out = request(port, &["--mac", "52:54:00:00:08:07"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("address   10.8.0.7\n"), "{text}");
    assert!(text.contains("server    10.8.0.2\n"), "{text}");
    assert!(text.contains("file      board7/u-boot.bin\n"), "{text}");
    assert!(text.contains("protocol  BOOTP\n"), "{text}");

    let out = request(port, &["--mac", "02:00:00:00:00:01", "--dhcp", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ip"], "10.8.0.50");
    assert_eq!(v["file"], "undionly.kpxe");
    assert_eq!(v["server"], "10.8.0.1");
    assert_eq!(v["netmask"], "255.255.255.0");
    assert_eq!(v["lease_time"], 120);
    assert_eq!(v["protocol"], "dhcp");
    assert_eq!(v["options"]["53"], "05");

    server.signal("TERM");
    let (status, stdout, _) = server.wait_timeout(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "server did not stop cleanly"
    );
    assert!(
        stdout.contains(
            "BOOTREPLY 10.8.0.7 to 52:54:00:00:08:07 next-server 10.8.0.2 file board7/u-boot.bin"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("DHCPACK 10.8.0.50 to 02:00:00:00:00:01"),
        "{stdout}"
    );
    // Leases are saved on the way out.
    let leases = std::fs::read_to_string(dir.path().join("leases")).unwrap();
    assert!(leases.contains("10.8.0.50 bound "), "{leases}");
}

#[test]
fn no_answer_exits_20_and_bad_configs_exit_3_with_the_line() {
    let out = request(free_udp_port(), &["--mac", "02:00:00:00:00:01"]);
    assert_eq!(out.status.code(), Some(20));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "netboot: no BOOTP/DHCP answer after 3 requests"
    );

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        format!("{CONFIG}\n[[bootp.host]]\nmac = \"52:54:00:00:08:07\"\n"),
    )
    .unwrap();
    let out = netboot_command()
        .args(["bootp", "serve", "--config"])
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .bounded_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        format!(
            "netboot: {}:18: duplicate MAC 52:54:00:00:08:07 (also at line 11)",
            config.display()
        )
    );
}

#[test]
fn a_port_in_use_exits_4_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bootp.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let out = netboot_command()
        .args(["bootp", "serve", "--config"])
        .arg(&config)
        .args(["--listen", &addr.to_string()])
        .bounded_output()
        .unwrap();
    // SO_REUSEADDR lets UDP sockets share a port on Linux only when both
    // ask for it; the test socket did not.
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("address already in use"));
}
