//! Several subnets behind a real DHCP relay: dnsmasq's `--dhcp-relay`, in a
//! router namespace, relays three client subnets to `netboot bootp serve`
//! on a fourth. Two of them are configured as `[[bootp.relayed]]` subnets, each
//! with its own pool, router and lease time; busybox udhcpc on each gets an
//! address from its own subnet's pool. The third subnet is not configured:
//! its client gets nothing, and the server says so once.
//!
//! Several local subnets: a server namespace with three veth links, two of
//! them configured as subnets of their own by interface (`[bootp]
//! interface` and a `[[bootp.subnets]]` table with `interface` and
//! `server`); udhcpc on each link gets an address from its own link's pool,
//! that subnet's router and the server's address on that link as server
//! identifier. The client on the third link, which has no subnet, gets
//! nothing.
//!
//! Only addresses inside the namespaces the test creates are used; every
//! wait is bounded, and processes die before the namespaces go.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netboot_tests::dhcp::script;
use netboot_tests::keep_root;
use netboot_tests::lab::{Output, spawn};
use netboot_tests::netns::{in_netns, ip};
use netboot_tests::{ChildGuard, netboot_bin, require_program, require_root};

/// Namespaces deleted on drop (their veths with them).
struct Namespaces(Vec<String>);

impl Namespaces {
    fn add(&mut self, role: &str) -> String {
        let name = format!("nbr{role}{}", std::process::id() % 100_000);
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        self.0.push(name.clone());
        name
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Joins `a` and `b` by a veth pair with `a_cidr` and `b_cidr` (either may
/// be empty); returns the interface names.
fn link(a: &str, a_cidr: &str, b: &str, b_cidr: &str, tag: &str) -> (String, String) {
    let id = std::process::id() % 100_000;
    let (x, y) = (format!("r{tag}a{id}"), format!("r{tag}b{id}"));
    ip(&[
        "-n", a, "link", "add", &x, "type", "veth", "peer", "name", &y,
    ]);
    ip(&["-n", a, "link", "set", &y, "netns", b]);
    for (ns, dev, cidr) in [(a, &x, a_cidr), (b, &y, b_cidr)] {
        if !cidr.is_empty() {
            ip(&["-n", ns, "addr", "add", cidr, "dev", dev]);
        }
        ip(&["-n", ns, "link", "set", dev, "up"]);
    }
    (x, y)
}

fn udhcpc(ns: &str, dev: &str, dir: &Path, run: &str) -> (bool, String, Output) {
    let out = dir.join(format!("{run}.out"));
    let script = script(
        dir,
        &format!("{run}.sh"),
        &format!(
            "[ \"$1\" = bound ] && echo \"$ip $subnet $router $lease $serverid\" >> {}",
            out.display()
        ),
    );
    let (client, log) = spawn(
        "udhcpc",
        in_netns(ns, "udhcpc")
            .args(["-f", "-n", "-q", "-t", "4", "-T", "2", "-i", dev, "-s"])
            .arg(&script),
    );
    let (status, _, _) = client.wait_timeout(Duration::from_secs(30));
    let got = std::fs::read_to_string(&out).unwrap_or_default();
    (
        status.is_some_and(|s| s.success()),
        got.trim().to_string(),
        log,
    )
}

fn server(ns: &str, dir: &Path) -> (ChildGuard, Output) {
    serve(
        ns,
        dir,
        "[bootp]\nserver = \"10.180.0.1\"\nsubnet = \"10.180.0.0/24\"\n\
         pool = { start = \"10.180.0.100\", end = \"10.180.0.110\" }\n\n\
         [[bootp.relayed]]\nsubnet = \"10.181.0.0/24\"\nrouter = \"10.181.0.1\"\nlease_time = 600\n\
         pool = { start = \"10.181.0.100\", end = \"10.181.0.110\" }\n\n\
         [[bootp.relayed]]\nsubnet = \"10.182.0.0/24\"\nrouter = \"10.182.0.1\"\nlease_time = 900\n\
         pool = { start = \"10.182.0.200\", end = \"10.182.0.210\" }\n",
    )
}

/// `netboot bootp serve` in `ns` with `config` as its file, once it listens.
fn serve(ns: &str, dir: &Path, config: &str) -> (ChildGuard, Output) {
    let path = dir.join("bootp.toml");
    std::fs::write(&path, config).unwrap();
    let (guard, log) = spawn(
        "netboot bootp serve",
        in_netns(ns, netboot_bin().to_str().unwrap())
            .envs(keep_root())
            .args(["bootp", "serve", "--config"])
            .arg(&path),
    );
    assert!(
        log.wait("bootp: listening on 0.0.0.0:67", Duration::from_secs(10)),
        "server did not start:\n{}",
        log.text()
    );
    (guard, log)
}

#[test]
fn subnets_behind_dnsmasqs_relay_each_get_their_own_pool() {
    let test = "subnets_behind_dnsmasqs_relay_each_get_their_own_pool";
    if !require_root(test)
        || require_program(test, "dnsmasq").is_none()
        || require_program(test, "udhcpc").is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut spaces = Namespaces(Vec::new());
    let srv = spaces.add("s");
    let router = spaces.add("r");
    let clients: Vec<String> = (1..=3).map(|i| spaces.add(&format!("c{i}"))).collect();
    link(&router, "10.180.0.2/24", &srv, "10.180.0.1/24", "s");
    // Replies go to the relay's address on each client subnet.
    for net in ["10.181.0.0/24", "10.182.0.0/24", "10.183.0.0/24"] {
        ip(&["-n", &srv, "route", "add", net, "via", "10.180.0.2"]);
    }
    let mut client_ifs = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let net = 181 + i;
        let (_, inner) = link(
            &router,
            &format!("10.{net}.0.1/24"),
            c,
            "",
            &format!("c{i}"),
        );
        client_ifs.push(inner);
    }
    let (_server, log) = server(&srv, dir.path());
    let (_relay, rlog) = spawn(
        "dnsmasq relay",
        in_netns(&router, "dnsmasq").args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--port=0",
            "--user=root",
            "--log-dhcp",
            "--dhcp-relay=10.181.0.1,10.180.0.1",
            "--dhcp-relay=10.182.0.1,10.180.0.1",
            "--dhcp-relay=10.183.0.1,10.180.0.1",
        ]),
    );
    assert!(
        rlog.wait("DHCP relay", Duration::from_secs(10)),
        "dnsmasq did not start relaying:\n{}",
        rlog.text()
    );
    let d = dir.path();
    let (ok, got, ulog) = udhcpc(&clients[0], &client_ifs[0], d, "one");
    assert!(
        ok,
        "{}\nserver:\n{}\nrelay:\n{}",
        ulog.text(),
        log.text(),
        rlog.text()
    );
    assert_eq!(got, "10.181.0.100 255.255.255.0 10.181.0.1 600 10.180.0.1");
    let (ok, got, ulog) = udhcpc(&clients[1], &client_ifs[1], d, "two");
    assert!(ok, "{}\nserver:\n{}", ulog.text(), log.text());
    assert_eq!(got, "10.182.0.200 255.255.255.0 10.182.0.1 900 10.180.0.1");
    // The third subnet has no configuration: no answer, one line.
    let (ok, got, _) = udhcpc(&clients[2], &client_ifs[2], d, "three");
    assert!(!ok && got.is_empty(), "an unconfigured subnet got {got:?}");
    let text = log.text();
    let line = "requests relayed by 10.183.0.1 are ignored: no subnet configured for it";
    assert_eq!(text.matches(line).count(), 1, "{text}");
    assert!(!text.contains("10.183.0.1") || text.contains(line));
}

#[test]
fn local_subnets_by_interface_each_serve_their_own_link() {
    let test = "local_subnets_by_interface_each_serve_their_own_link";
    if !require_root(test) || require_program(test, "udhcpc").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut spaces = Namespaces(Vec::new());
    let srv = spaces.add("ls");
    let clients: Vec<String> = (1..=3).map(|i| spaces.add(&format!("l{i}"))).collect();
    let mut links = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        let net = 41 + i;
        links.push(link(
            &srv,
            &format!("10.{net}.0.1/24"),
            c,
            "",
            &format!("l{i}"),
        ));
    }
    let text = format!(
        r#"[bootp]
server = "10.41.0.1"
subnet = "10.41.0.0/24"
router = "10.41.0.254"
interface = "{one}"
pool = {{ start = "10.41.0.100", end = "10.41.0.110" }}

[[bootp.subnets]]
subnet = "10.42.0.0/24"
interface = "{two}"
server = "10.42.0.1"
router = "10.42.0.254"
lease_time = 900
pool = {{ start = "10.42.0.200", end = "10.42.0.210" }}
"#,
        one = links[0].0,
        two = links[1].0,
    );
    let (_server, log) = serve(&srv, dir.path(), &text);
    let d = dir.path();
    let (ok, got, ulog) = udhcpc(&clients[0], &links[0].1, d, "link1");
    assert!(ok, "{}\nserver:\n{}", ulog.text(), log.text());
    assert_eq!(got, "10.41.0.100 255.255.255.0 10.41.0.254 3600 10.41.0.1");
    let (ok, got, ulog) = udhcpc(&clients[1], &links[1].1, d, "link2");
    assert!(ok, "{}\nserver:\n{}", ulog.text(), log.text());
    assert_eq!(got, "10.42.0.200 255.255.255.0 10.42.0.254 900 10.42.0.1");
    // The third link has no subnet: no socket listens there.
    let (ok, got, _) = udhcpc(&clients[2], &links[2].1, d, "link3");
    assert!(!ok && got.is_empty(), "a link with no subnet got {got:?}");
    let text = log.text();
    assert!(!text.contains("10.43.0."), "{text}");
    assert_eq!(text.matches("DHCPACK").count(), 2, "{text}");
}
