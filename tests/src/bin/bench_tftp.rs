//! TFTP benchmark runner: downloads one file over loopback, side by side,
//! from our server, atftpd, tftp-hpa's in.tftpd and dnsmasq with the same
//! clients, and compares our client with atftp against the same servers.
//! Reports medians of several runs, ratios, and each server's CPU seconds
//! per GiB served (its own and its reaped children's, from
//! `/proc/PID/stat`). Not a test: nothing here asserts speed.
//!
//! ```text
//! cargo build --release -p netboot-cli -p netboot-tests
//! target/release/bench_tftp [--size-mib 100] [--runs 5]
//! target/release/bench_tftp --lossy [--loss-percent 5] [--size-mib 4]
//! target/release/bench_tftp --contended [--size-mib 100] [--runs 5]
//! ```
//!
//! `--contended` keeps one CPU hog pinned to each core for the whole run
//! (every server and client alike competes with them), the conditions of
//! a boot storm on a busy machine.
//!
//! `--lossy` instead fetches the file with curl through a relay that drops
//! the given share of datagrams in each direction (seeded, so every server
//! sees the same pattern of drops), stopping each attempt after 120 s.
//!
//! As root it re-runs itself inside a fresh network namespace (only its
//! loopback is used), where dnsmasq may take port 69; without root dnsmasq
//! is left out.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use netboot_mio::tftp::Client;
use netboot_tests::{
    ChildGuard, CpuAccount, cpu_per_gib, find_program, free_udp_port, is_root, unique_name,
    wait_for,
};

const INNER: &str = "NETBOOT_BENCH_INNER";

/// tftp-hpa's server, unpacked by `.ci/install-peers` (its package
/// conflicts with atftpd's).
const TFTPD_HPA: &str = "/opt/tftpd-hpa/usr/sbin/in.tftpd";

/// One busy loop pinned to each core, for `--contended`.
fn cpu_hogs() -> Vec<ChildGuard> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (0..cores)
        .filter_map(|core| {
            ChildGuard::spawn(
                "cpu hog",
                Command::new("taskset").args([
                    "-c",
                    &core.to_string(),
                    "sh",
                    "-c",
                    "while :; do :; done",
                ]),
            )
            .ok()
        })
        .collect()
}

struct Args {
    size_mib: usize,
    runs: usize,
    lossy: bool,
    loss_percent: u64,
    no_spin_too: bool,
    contended: bool,
}

fn parse_args() -> Args {
    let mut args = Args {
        size_mib: 100,
        runs: 5,
        lossy: false,
        loss_percent: 5,
        no_spin_too: false,
        contended: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--size-mib" => args.size_mib = value(),
            "--runs" => args.runs = value().max(1),
            "--loss-percent" => args.loss_percent = value() as u64,
            "--lossy" => args.lossy = true,
            "--no-spin-too" => args.no_spin_too = true,
            "--contended" => args.contended = true,
            _ => usage(),
        }
    }
    args
}

fn usage() -> ! {
    eprintln!(
        "usage: bench_tftp [--size-mib N] [--runs N] [--no-spin-too] [--contended] [--lossy [--loss-percent P]]"
    );
    std::process::exit(2)
}

fn main() {
    let args = parse_args();
    if is_root() && std::env::var_os(INNER).is_none() {
        // Re-run inside a private namespace with loopback up.
        let ns = unique_name("nbbench");
        let ip = |a: &[&str]| {
            Command::new("ip")
                .args(a)
                .status()
                .is_ok_and(|s| s.success())
        };
        // tftp-hpa resolves its --address with AI_ADDRCONFIG, which finds
        // no IPv4 in a namespace that has only loopback: a veth pair inside
        // the namespace with an address (never used) gives it one.
        let created = ip(&["netns", "add", &ns]);
        if created
            && ip(&["-n", &ns, "link", "set", "lo", "up"])
            && ip(&[
                "-n", &ns, "link", "add", "nbv0", "type", "veth", "peer", "name", "nbv1",
            ])
            && ip(&["-n", &ns, "addr", "add", "10.255.255.1/32", "dev", "nbv0"])
            && ip(&["-n", &ns, "link", "set", "nbv0", "up"])
        {
            let status = Command::new("ip")
                .args(["netns", "exec", &ns])
                .arg(std::env::current_exe().unwrap())
                .args(std::env::args().skip(1))
                .env(INNER, "1")
                .status();
            ip(&["netns", "del", &ns]);
            std::process::exit(status.map_or(1, |s| s.code().unwrap_or(1)));
        }
        if created {
            ip(&["netns", "del", &ns]);
        }
        eprintln!("cannot create a network namespace; running on the host's loopback");
    }
    run(&args);
}

/// One server under test.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    cpu: CpuAccount,
    _guard: ChildGuard,
}

impl Server {
    fn new(name: &'static str, addr: SocketAddr, guard: ChildGuard) -> Server {
        Server {
            name,
            addr,
            cpu: CpuAccount::of(guard.id()),
            _guard: guard,
        }
    }

    fn cpu(&self) -> Option<f64> {
        self.cpu.seconds()
    }
}

fn wait_ready(addr: SocketAddr) -> bool {
    let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
    probe
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    wait_for(Duration::from_secs(10), || {
        probe
            .send_to(b"\x00\x01bench-probe\x00octet\x00", addr)
            .ok()?;
        let mut buf = [0u8; 600];
        probe.recv_from(&mut buf).ok().map(|_| ())
    })
    .is_some()
}

/// Starts `netboot tftp serve` on `root` with `extra` flags.
fn start_netboot(name: &'static str, root: &Path, extra: &[&str]) -> Server {
    let netboot = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("netboot");
    let port = free_udp_port();
    let guard = ChildGuard::spawn(
        "netboot",
        Command::new(&netboot)
            .envs(netboot_tests::keep_root())
            .args(["tftp", "serve", "--root"])
            .arg(root)
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--max-windowsize", "64"])
            .args(extra),
    )
    .expect("netboot binary next to bench_tftp (cargo build --release -p netboot-cli)");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(wait_ready(addr), "netboot tftp serve did not start");
    Server::new(name, addr, guard)
}

/// Our server first (the ratios compare it with the peers), then the peers,
/// then (with `no_spin_too`) our server without busy polling, which is not
/// counted as a peer.
fn start_servers(root: &Path, work: &Path, no_spin_too: bool) -> Vec<Server> {
    let mut servers = vec![start_netboot("netboot", root, &[])];
    if let Some(atftpd) = find_program("atftpd") {
        let port = free_udp_port();
        let guard = ChildGuard::spawn(
            "atftpd",
            Command::new(atftpd)
                .args(["--daemon", "--no-fork", "--port", &port.to_string()])
                .args(["--bind-address", "127.0.0.1", "--user", "root.root"])
                .arg("--logfile")
                .arg(work.join("atftpd.log"))
                .arg(root),
        )
        .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        if wait_ready(addr) {
            servers.push(Server::new("atftpd", addr, guard));
        }
    } else {
        eprintln!("atftpd not installed: left out");
    }
    let hpa = Path::new(TFTPD_HPA);
    if hpa.exists() {
        let port = free_udp_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let guard = ChildGuard::spawn(
            "in.tftpd",
            Command::new(hpa)
                .args(["--foreground", "--listen", "--user", "root"])
                .args(["--address", &addr.to_string(), "--secure"])
                .arg(root),
        )
        .unwrap();
        if wait_ready(addr) {
            servers.push(Server::new("tftp-hpa", addr, guard));
        }
    } else {
        eprintln!("{TFTPD_HPA} not installed (bash .ci/install-peers unpacks it): left out");
    }
    if let Some(dnsmasq) = find_program("dnsmasq") {
        if std::env::var_os(INNER).is_some() {
            let guard = ChildGuard::spawn(
                "dnsmasq",
                Command::new(dnsmasq)
                    .args([
                        "--no-daemon",
                        "--conf-file=/dev/null",
                        "--pid-file=",
                        "--port=0",
                        "--enable-tftp",
                        "--listen-address=127.0.0.1",
                        "--bind-interfaces",
                        "--user=root",
                    ])
                    .arg(format!("--tftp-root={}", root.display())),
            )
            .unwrap();
            let addr: SocketAddr = "127.0.0.1:69".parse().unwrap();
            if wait_ready(addr) {
                servers.push(Server::new("dnsmasq", addr, guard));
            }
        } else {
            eprintln!("dnsmasq needs port 69 in a private namespace (run as root): left out");
        }
    }
    if no_spin_too {
        servers.push(start_netboot(
            "netboot no-spin",
            root,
            &["--busy-poll-us", "0"],
        ));
    }
    servers
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Runs `make()` `runs` times; each must produce `out` equal in size to
/// `size`. Returns the median seconds, or None if a run failed.
fn time_runs(
    runs: usize,
    out: &Path,
    size: u64,
    mut make: impl FnMut() -> Result<(), String>,
) -> Result<f64, String> {
    let mut times = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_file(out);
        let start = Instant::now();
        make()?;
        let t = start.elapsed().as_secs_f64();
        let len = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        if len != size {
            return Err(format!("got {len} bytes, expected {size}"));
        }
        times.push(t);
    }
    Ok(median(times))
}

/// Times `run(item)` for every item, `runs` rounds, interleaved (one run
/// of each item per round) so that a slow spell of the machine hits every
/// item alike; returns each item's median.
fn interleave<T>(
    runs: usize,
    items: &[T],
    out: &Path,
    size: u64,
    mut run: impl FnMut(&T) -> Result<(), String>,
) -> Vec<Result<f64, String>> {
    let mut times: Vec<Result<Vec<f64>, String>> = items.iter().map(|_| Ok(Vec::new())).collect();
    for _ in 0..runs {
        for (item, slot) in items.iter().zip(times.iter_mut()) {
            let Ok(list) = slot else { continue };
            match time_runs(1, out, size, || run(item)) {
                Ok(t) => list.push(t),
                Err(e) => *slot = Err(e),
            }
        }
    }
    times.into_iter().map(|t| t.map(median)).collect()
}

fn command(mut cmd: Command) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Runs one row (`run` for each server, interleaved) and prints it, then
/// the servers' CPU seconds per GiB over that row.
fn server_row(
    args: &Args,
    label: &str,
    servers: &[Server],
    out: &Path,
    size: u64,
    run: impl FnMut(&Server) -> Result<(), String>,
) {
    let before: Vec<Option<f64>> = servers.iter().map(Server::cpu).collect();
    let row = interleave(args.runs, servers, out, size, run);
    let cpu: Vec<Result<f64, String>> = servers
        .iter()
        .zip(&before)
        .zip(&row)
        .map(|((s, b), r)| match (r, b, s.cpu()) {
            (Ok(_), Some(b), Some(a)) => Ok(cpu_per_gib(a - b, size * args.runs as u64)),
            (Err(e), _, _) => Err(e.clone()),
            _ => Err("no /proc stat".into()),
        })
        .collect();
    print_row(label, servers, &row);
    print_cpu_row(&format!("{label} CPU s/GiB"), servers, &cpu);
}

fn run(args: &Args) {
    let root = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let size = (args.size_mib as u64) << 20;
    let file = root.path().join("big.bin");
    std::fs::write(&file, netboot_tests::test_bytes(100, size as usize)).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = work.path().join("out.bin");
    let servers = start_servers(root.path(), work.path(), args.no_spin_too);
    let _hogs = if args.contended {
        cpu_hogs()
    } else {
        Vec::new()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    println!(
        "# TFTP benchmark: {} MiB over loopback, median of {} runs ({}, {} CPUs){}\n",
        args.size_mib,
        args.runs,
        cpu,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if args.contended {
            ", a CPU hog pinned to each core"
        } else {
            ""
        }
    );
    let curl = find_program("curl");
    let atftp = find_program("atftp");
    if args.lossy {
        lossy(args, &servers, curl.as_deref(), &out, size);
        return;
    }

    // 1. Same client (curl, lockstep), every server.
    println!("## curl against each server\n");
    println!(
        "| blksize | {} | netboot vs fastest peer |",
        names(&servers)
    );
    println!("|---|{}---|", "---|".repeat(servers.len()));
    if let Some(curl) = &curl {
        for blksize in [512u32, 1468, 65464] {
            server_row(args, &blksize.to_string(), &servers, &out, size, |s| {
                let mut c = Command::new(curl);
                c.args(["-sS", "--tftp-blksize", &blksize.to_string(), "-o"])
                    .arg(&out)
                    .arg(format!("tftp://{}/big.bin", s.addr));
                command(c)
            });
        }
    }

    // 1b. Lockstep again, with our client instead of curl: who is the
    // bottleneck at windowsize 1?
    println!("\n## Our client, lockstep (windowsize 1), against each server\n");
    println!(
        "| blksize | {} | netboot vs fastest peer |",
        names(&servers)
    );
    println!("|---|{}---|", "---|".repeat(servers.len()));
    for blksize in [512u16, 1468, 65464] {
        server_row(args, &blksize.to_string(), &servers, &out, size, |s| {
            let mut c = Client::new(s.addr).blksize(blksize);
            c.get("big.bin", &out)
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    }

    // 2. atftp with windowsize 16, every server.
    println!("\n## atftp --option \"blksize 1468\" --option \"windowsize 16\"\n");
    println!("| client | {} | netboot vs fastest peer |", names(&servers));
    println!("|---|{}---|", "---|".repeat(servers.len()));
    if let Some(atftp) = &atftp {
        server_row(args, "atftp w16", &servers, &out, size, |s| {
            let mut c = Command::new(atftp);
            c.args(["--option", "blksize 1468", "--option", "windowsize 16"])
                .args(["-g", "-r", "big.bin", "-l"])
                .arg(&out)
                .args([s.addr.ip().to_string(), s.addr.port().to_string()]);
            command(c)
        });
    }

    // 3. Our client vs atftp against the same servers.
    println!("\n## Clients against the same server (blksize 1468)\n");
    println!("| server | client | window | median s | MiB/s |");
    println!("|---|---|---|---|---|");
    let netboot = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .join("netboot");
    let mut clients = vec!["netboot (library)", "netboot tftp get"];
    if atftp.is_some() {
        clients.push("atftp");
    }
    for s in servers.iter().filter(|s| s.name != "dnsmasq") {
        for window in [16u16, 64] {
            let rows = interleave(args.runs, &clients, &out, size, |client| match *client {
                "netboot (library)" => {
                    let mut c = Client::new(s.addr).blksize(1468).windowsize(window);
                    c.get("big.bin", &out)
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                "netboot tftp get" => {
                    let mut c = Command::new(&netboot);
                    c.args(["tftp", "get", &s.addr.to_string(), "big.bin"])
                        .arg(&out)
                        .args(["--blksize", "1468", "--windowsize", &window.to_string()]);
                    command(c)
                }
                _ => {
                    let mut c = Command::new(atftp.as_ref().unwrap());
                    c.args(["--option", "blksize 1468"])
                        .args(["--option", &format!("windowsize {window}")])
                        .args(["-g", "-r", "big.bin", "-l"])
                        .arg(&out)
                        .args([s.addr.ip().to_string(), s.addr.port().to_string()]);
                    command(c)
                }
            });
            for (client, r) in clients.iter().zip(&rows) {
                print_client(s.name, client, window, size, r);
            }
        }
    }
}

fn names(servers: &[Server]) -> String {
    servers
        .iter()
        .map(|s| format!("{} s", s.name))
        .collect::<Vec<_>>()
        .join(" | ")
}

fn print_row(label: &str, servers: &[Server], row: &[Result<f64, String>]) {
    print_figures(label, servers, row, 3, "faster");
}

fn print_cpu_row(label: &str, servers: &[Server], row: &[Result<f64, String>]) {
    print_figures(label, servers, row, 2, "less CPU");
}

/// One table row: each server's figure (`digits` decimals; lower is
/// better), and how many times lower ours is than the best peer's.
fn print_figures(
    label: &str,
    servers: &[Server],
    row: &[Result<f64, String>],
    digits: usize,
    better: &str,
) {
    debug_assert_eq!(servers.len(), row.len());
    let cells: Vec<String> = row
        .iter()
        .map(|r| match r {
            Ok(t) => format!("{t:.digits$}"),
            Err(e) => format!("failed ({e})"),
        })
        .collect();
    let ours = row[0].as_ref().ok();
    let best_peer = row[1..]
        .iter()
        .zip(&servers[1..])
        .filter(|(_, s)| !s.name.starts_with("netboot"))
        .filter_map(|(r, _)| r.as_ref().ok())
        .copied()
        .reduce(f64::min);
    let ratio = match (ours, best_peer) {
        (Some(o), Some(p)) if *o > 0.0 => format!("{:.2}x {better}", p / o),
        _ => "n/a".to_string(),
    };
    println!("| {label} | {} | {ratio} |", cells.join(" | "));
}

fn print_client(server: &str, client: &str, window: u16, size: u64, r: &Result<f64, String>) {
    match r {
        Ok(t) => println!(
            "| {server} | {client} | {window} | {t:.3} | {:.0} |",
            size as f64 / (1 << 20) as f64 / t
        ),
        Err(e) => println!("| {server} | {client} | {window} | failed ({e}) | |"),
    }
}

/// curl through a lossy relay, once per server, 120 s at most each.
fn lossy(args: &Args, servers: &[Server], curl: Option<&Path>, out: &Path, size: u64) {
    let Some(curl) = curl else {
        println!("curl not installed");
        return;
    };
    println!(
        "## curl (blksize 512, lockstep) through a relay dropping {}% each way\n",
        args.loss_percent
    );
    println!("| server | time s | result |");
    println!("|---|---|---|");
    for s in servers {
        let relay = relay::Relay::start(s.addr, args.loss_percent * 10, 2024);
        let url = format!("tftp://{}/big.bin", relay.addr());
        let _ = std::fs::remove_file(out);
        let start = Instant::now();
        let status = Command::new(curl)
            .args(["-sS", "--max-time", "120", "-o"])
            .arg(out)
            .arg(&url)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let t = start.elapsed().as_secs_f64();
        let len = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
        let result = match status {
            Ok(st) if st.success() && len == size => "complete".to_string(),
            Ok(st) if st.code() == Some(28) => format!("not finished in 120 s ({len} bytes)"),
            Ok(st) => format!("failed: {st} ({len} bytes)"),
            Err(e) => format!("failed: {e}"),
        };
        println!("| {} | {t:.1} | {result} |", s.name);
    }
}

mod relay {
    //! A UDP relay between one client and a TFTP server that drops a share
    //! of datagrams in each direction. The client talks to the relay's
    //! request port and then to one relay port per server TID, so TIDs
    //! keep working through it.

    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use mio::net::UdpSocket;
    use mio::{Events, Interest, Poll, Token};
    use netboot_core::rng::Rng;

    pub struct Relay {
        addr: SocketAddr,
        stop: Arc<AtomicBool>,
        thread: Option<std::thread::JoinHandle<()>>,
    }

    enum Role {
        /// The relay's request port: client -> server's request port.
        Listen,
        /// Our socket towards the server, for one client.
        Upstream { client: SocketAddr },
        /// The port the client sees for one server TID.
        Downstream { tid: SocketAddr, up: usize },
    }

    impl Relay {
        pub fn start(server: SocketAddr, loss_per_mille: u64, seed: u64) -> Relay {
            let listen = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let addr = listen.local_addr().unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let flag = stop.clone();
            let thread =
                std::thread::spawn(move || run(listen, server, loss_per_mille, seed, &flag));
            Relay {
                addr,
                stop,
                thread: Some(thread),
            }
        }

        pub fn addr(&self) -> SocketAddr {
            self.addr
        }
    }

    impl Drop for Relay {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::Relaxed);
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn run(listen: UdpSocket, server: SocketAddr, loss: u64, seed: u64, stop: &AtomicBool) {
        let mut poll = Poll::new().unwrap();
        let mut rng = Rng::new(seed);
        let mut socks: Vec<(UdpSocket, Role)> = vec![(listen, Role::Listen)];
        poll.registry()
            .register(&mut socks[0].0, Token(0), Interest::READABLE)
            .unwrap();
        let mut upstream: HashMap<SocketAddr, usize> = HashMap::new();
        let mut downstream: HashMap<(SocketAddr, SocketAddr), usize> = HashMap::new();
        let mut events = Events::with_capacity(64);
        let mut buf = vec![0u8; 70_000];
        while !stop.load(Ordering::Relaxed) {
            let _ = poll.poll(&mut events, Some(Duration::from_millis(50)));
            let ready: Vec<usize> = events.iter().map(|e| e.token().0).collect();
            for i in ready {
                while let Ok((n, from)) = socks[i].0.recv_from(&mut buf) {
                    let drop_it = rng.below(1000) < loss;
                    let (via, to) = match socks[i].1 {
                        Role::Listen => {
                            let up = *upstream.entry(from).or_insert_with(|| {
                                let mut s =
                                    UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                                let t = Token(socks.len());
                                poll.registry()
                                    .register(&mut s, t, Interest::READABLE)
                                    .unwrap();
                                socks.push((s, Role::Upstream { client: from }));
                                socks.len() - 1
                            });
                            (up, server)
                        }
                        Role::Upstream { client } => {
                            let up = i;
                            let down = *downstream.entry((client, from)).or_insert_with(|| {
                                let mut s =
                                    UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                                let t = Token(socks.len());
                                poll.registry()
                                    .register(&mut s, t, Interest::READABLE)
                                    .unwrap();
                                socks.push((s, Role::Downstream { tid: from, up }));
                                socks.len() - 1
                            });
                            (down, client)
                        }
                        Role::Downstream { tid, up } => (up, tid),
                    };
                    if !drop_it {
                        let _ = socks[via].0.send_to(&buf[..n], to);
                    }
                }
            }
        }
    }
}
