//! FTP benchmark: our server against vsftpd (`use_sendfile=YES`) and
//! pyftpdlib, side by side in one run, on loopback.
//!
//! ```text
//! cargo build --release -p netboot-cli -p netboot-tests
//! target/release/bench_ftp [--size-mib 1024] [--runs 5] [--sessions 1000]
//! ```
//!
//! 1. RETR and STOR of one file (1 GiB by default) with curl as the client;
//!    medians of `--runs` runs, servers interleaved within each round;
//!    ratios against the best peer.
//! 2. `--sessions` concurrent sessions, each login + RETR 1 MiB + QUIT
//!    (our blocking client, one thread per session), against ours and
//!    vsftpd: how many succeed, byte-exact, and the wall time.
//! 3. Resident memory of the server with `--sessions` idle logged-in
//!    sessions: ours, vsftpd (a process per session: the sum) and pyftpdlib.
//!
//! Every loop is bounded by a count and every child process by a timeout.
//! Only loopback addresses are used.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use netboot_mio::ftp::FtpClient;
use netboot_tests::{ChildGuard, CpuAccount, cpu_per_gib, free_tcp_port, test_bytes, wait_for};

struct Args {
    size_mib: u64,
    runs: usize,
    sessions: usize,
}

fn args() -> Args {
    let mut a = Args {
        size_mib: 1024,
        runs: 5,
        sessions: 1000,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let value = pair
            .get(1)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or_else(|| usage());
        match pair[0].as_str() {
            "--size-mib" => a.size_mib = value.clamp(1, 8192),
            "--runs" => a.runs = value.clamp(1, 21) as usize,
            "--sessions" => a.sessions = value.clamp(1, 5000) as usize,
            _ => usage(),
        }
    }
    a
}

fn usage() -> ! {
    eprintln!("usage: bench_ftp [--size-mib N] [--runs N] [--sessions N]");
    std::process::exit(2)
}

struct Server {
    name: &'static str,
    port: u16,
    get_prefix: String,
    put_prefix: String,
    guard: ChildGuard,
}

fn wait_listening(port: u16) {
    wait_for(Duration::from_secs(30), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .unwrap_or_else(|| panic!("nothing listens on {port}"));
}

fn ours(bin: &Path, root: &Path, work: &Path) -> Server {
    let port = free_tcp_port();
    // A cheap hash: the benchmark measures transfers, not argon2.
    let hash = netboot_std::ftp::auth::hash_with_cost("pw", 64, 1).unwrap();
    let conf = work.join("netboot.toml");
    std::fs::write(
        &conf,
        format!(
            "[ftp]\nroot = {root:?}\nlisten = \"127.0.0.1:{port}\"\nanonymous = true\nmax_sessions = 5000\n\
             max_sessions_per_ip = 5000\n\n[[ftp.users]]\nname = \"bench\"\npassword_hash = {hash:?}\nwritable = true\n"
        ),
    )
    .unwrap();
    let guard = ChildGuard::spawn(
        "netboot",
        Command::new(bin)
            .envs(netboot_tests::keep_root())
            .args(["ftp", "serve", "--config"])
            .arg(&conf),
    )
    .unwrap();
    wait_listening(port);
    Server {
        name: "netboot",
        port,
        get_prefix: format!("ftp://127.0.0.1:{port}/"),
        put_prefix: format!("ftp://bench:pw@127.0.0.1:{port}/up/"),
        guard,
    }
}

fn vsftpd(root: &Path, work: &Path) -> Server {
    let port = free_tcp_port();
    std::fs::create_dir_all("/var/run/vsftpd/empty").unwrap();
    let conf = work.join("vsftpd.conf");
    std::fs::write(
        &conf,
        format!(
            "listen=YES\nlisten_address=127.0.0.1\nlisten_port={port}\nanonymous_enable=YES\nanon_root={}\n\
             no_anon_password=YES\nlocal_enable=NO\nwrite_enable=YES\nanon_upload_enable=YES\n\
             anon_other_write_enable=YES\nuse_sendfile=YES\nsecure_chroot_dir=/var/run/vsftpd/empty\n\
             seccomp_sandbox=NO\nrun_as_launching_user=YES\nmax_clients=5000\nmax_per_ip=5000\n",
            root.display()
        ),
    )
    .unwrap();
    let guard = ChildGuard::spawn("vsftpd", Command::new("vsftpd").arg(&conf)).unwrap();
    wait_listening(port);
    Server {
        name: "vsftpd",
        port,
        get_prefix: format!("ftp://127.0.0.1:{port}/"),
        put_prefix: format!("ftp://127.0.0.1:{port}/up/"),
        guard,
    }
}

const PYFTPDLIB: &str = r#"
import sys
from pyftpdlib.authorizers import DummyAuthorizer
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import FTPServer
a = DummyAuthorizer()
a.add_anonymous(sys.argv[2], perm="elradfmw")
h = FTPHandler
h.authorizer = a
s = FTPServer(("127.0.0.1", int(sys.argv[1])), h)
s.max_cons = 5000
s.max_cons_per_ip = 5000
s.serve_forever()
"#;

fn pyftpdlib(root: &Path) -> Server {
    let port = free_tcp_port();
    let guard = ChildGuard::spawn(
        "pyftpdlib",
        Command::new("python3")
            .args(["-c", PYFTPDLIB, &port.to_string()])
            .arg(root),
    )
    .unwrap();
    wait_listening(port);
    Server {
        name: "pyftpdlib",
        port,
        get_prefix: format!("ftp://127.0.0.1:{port}/"),
        put_prefix: format!("ftp://127.0.0.1:{port}/up/"),
        guard,
    }
}

/// Runs curl; returns seconds from its `time_total`.
fn curl(args: &[&str]) -> f64 {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--max-time", "300", "-w", "%{time_total}"])
        .args(args);
    let guard = ChildGuard::spawn("curl", &mut cmd).unwrap();
    let (status, out, err) = guard.wait_timeout(Duration::from_secs(310));
    assert!(status.is_some_and(|s| s.success()), "curl {args:?}: {err}");
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl printed {out:?}"))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn rss_kib(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
        })
        .sum()
}

/// The process and all its descendants.
fn process_tree(root: u32) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() && out.len() < 100_000 {
        let pid = out[i];
        if let Ok(children) = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) {
            out.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
        i += 1;
    }
    out
}

/// `n` sessions at once: login, RETR `small.bin`, QUIT. Returns successes
/// and the wall time.
fn concurrent(port: u16, n: usize, expected: &Arc<Vec<u8>>) -> (usize, f64) {
    let barrier = Arc::new(Barrier::new(n));
    let start = Instant::now();
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            let expected = expected.clone();
            std::thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    barrier.wait();
                    let mut ftp =
                        FtpClient::connect_timeout(("127.0.0.1", port), Duration::from_secs(120))
                            .map_err(|e| e.to_string())?;
                    ftp.login("anonymous", "bench@")
                        .map_err(|e| e.to_string())?;
                    let mut data = Vec::with_capacity(expected.len());
                    ftp.get("small.bin", 0, &mut data, &mut |_, _| {})
                        .map_err(|e| e.to_string())?;
                    ftp.quit().map_err(|e| e.to_string())?;
                    Ok::<bool, String>(data == **expected)
                })
                .unwrap()
        })
        .collect();
    let mut ok = 0;
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok(true)) => ok += 1,
            Ok(Ok(false)) => {
                first_error.get_or_insert_with(|| "content differs".to_string());
            }
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(_) => {
                first_error.get_or_insert_with(|| "thread panicked".to_string());
            }
        }
    }
    if let Some(e) = first_error {
        println!("  (first failure: {e})");
    }
    (ok, start.elapsed().as_secs_f64())
}

/// Opens `n` control connections and logs each in anonymously; keeps them.
fn idle_sessions(port: u16, n: usize) -> Vec<FtpClient> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        match FtpClient::connect_timeout(("127.0.0.1", port), Duration::from_secs(30)) {
            Ok(mut c) => {
                if c.login("anonymous", "bench@").is_ok() {
                    out.push(c);
                }
            }
            Err(e) => {
                println!("  (idle session failed: {e})");
                break;
            }
        }
    }
    out
}

fn main() {
    let args = args();
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().join("netboot");
    assert!(
        bin.exists(),
        "build it first: cargo build --release -p netboot-cli"
    );
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let work = tempfile::tempdir_in(&base).unwrap();
    let root = work.path().join("root");
    std::fs::create_dir_all(root.join("up")).unwrap();
    let big = root.join("big.bin");
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&big).unwrap());
        let chunk = test_bytes(11, 1 << 20);
        for _ in 0..args.size_mib {
            f.write_all(&chunk).unwrap();
        }
    }
    let small = test_bytes(12, 1 << 20);
    std::fs::write(root.join("small.bin"), &small).unwrap();
    let upload_src = work.path().join("upload.bin");
    std::fs::copy(&big, &upload_src).unwrap();
    // vsftpd wants an anonymous root nobody can write; uploads go to up/.
    std::fs::set_permissions(root.join("up"), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o555)).unwrap();
    let size = args.size_mib << 20;
    let servers = vec![
        ours(&bin, &root, work.path()),
        vsftpd(&root, work.path()),
        pyftpdlib(&root),
    ];
    println!(
        "FTP benchmark: {} MiB file, {} runs, curl as client, loopback, files in {}",
        args.size_mib,
        args.runs,
        base.display()
    );

    // Each server's CPU time (its own and its session processes') over
    // the RETRs and over the STORs.
    let accounts: Vec<CpuAccount> = servers
        .iter()
        .map(|s| CpuAccount::of(s.guard.id()))
        .collect();
    let cpu = |i: usize| accounts[i].seconds().unwrap_or(f64::NAN);
    let mut retr: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut stor: Vec<Vec<f64>> = vec![Vec::new(); servers.len()];
    let mut retr_cpu = vec![0.0; servers.len()];
    let mut stor_cpu = vec![0.0; servers.len()];
    for run in 0..args.runs {
        for (i, s) in servers.iter().enumerate() {
            let before = cpu(i);
            retr[i].push(curl(&[
                &format!("{}big.bin", s.get_prefix),
                "-o",
                "/dev/null",
            ]));
            let middle = cpu(i);
            retr_cpu[i] += middle - before;
            let url = format!("{}run{run}.bin", s.put_prefix);
            stor[i].push(curl(&["-T", upload_src.to_str().unwrap(), &url]));
            stor_cpu[i] += cpu(i) - middle;
            let written = root.join("up").join(format!("run{run}.bin"));
            assert_eq!(
                std::fs::metadata(&written).map(|m| m.len()).ok(),
                Some(size),
                "{} STOR size",
                s.name
            );
            std::fs::remove_file(&written).unwrap();
        }
    }
    let mib = args.size_mib as f64;
    let moved = size * args.runs as u64;
    let report = |label: &str, times: &[Vec<f64>], cpu: &[f64]| {
        let medians: Vec<f64> = times.iter().map(|t| median(t.clone())).collect();
        let best_peer = medians[1..].iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "\n{label} ({} MiB, median of {}):",
            args.size_mib, args.runs
        );
        println!(
            "  {:<10} {:>9} {:>10} {:>22} {:>10}",
            "server", "seconds", "MiB/s", "speed vs best peer", "CPU s/GiB"
        );
        for ((s, m), c) in servers.iter().zip(&medians).zip(cpu) {
            println!(
                "  {:<10} {:>9.3} {:>10.0} {:>21.2}x {:>10.2}",
                s.name,
                m,
                mib / m,
                best_peer / m,
                cpu_per_gib(*c, moved)
            );
        }
        for (s, t) in servers.iter().zip(times) {
            let runs: Vec<String> = t.iter().map(|x| format!("{x:.3}")).collect();
            println!("  {:<10} runs: {}", s.name, runs.join(" "));
        }
    };
    report("RETR", &retr, &retr_cpu);
    report("STOR", &stor, &stor_cpu);

    let expected = Arc::new(small);
    println!(
        "\n{} concurrent sessions, each login + RETR 1 MiB + QUIT:",
        args.sessions
    );
    for s in &servers[..2] {
        let (ok, secs) = concurrent(s.port, args.sessions, &expected);
        println!(
            "  {:<10} {ok}/{} succeeded byte-exact in {secs:.2} s",
            s.name, args.sessions
        );
    }

    println!(
        "\nresident memory with {} idle logged-in sessions:",
        args.sessions
    );
    for s in &servers {
        let before = rss_kib(&process_tree(s.guard.id()));
        let sessions = idle_sessions(s.port, args.sessions);
        std::thread::sleep(Duration::from_millis(500));
        let pids = process_tree(s.guard.id());
        let after = rss_kib(&pids);
        println!(
            "  {:<10} {} sessions: {:.1} MiB RSS ({:.1} MiB before; {} process{})",
            s.name,
            sessions.len(),
            after as f64 / 1024.0,
            before as f64 / 1024.0,
            pids.len(),
            if pids.len() == 1 { "" } else { "es" }
        );
        drop(sessions);
    }
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
}
