//! Shared helpers for netboot's integration and interoperability tests.
//!
//! Interop tests drive real programs (curl, atftp, dnsmasq, vsftpd, ...).
//! Those programs and root privileges are installed and available in CI
//! (`.ci/run` sets `CI=true`): there a missing peer or missing root is a test
//! failure. On a developer machine without them the test prints why it skips
//! and passes, so a plain `cargo test` stays useful.
//!
//! Everything here talks only to loopback or to network namespaces the test
//! creates itself.

use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod dhcp;
pub mod fleet;
pub mod lab;
pub mod netns;

/// True when running under `.ci/run`, where nothing may be skipped.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false")
}

/// Skips (returns `false`) with a printed reason outside CI; fails the test
/// inside CI.
pub fn skip(test: &str, why: &str) -> bool {
    if in_ci() {
        panic!("{test}: cannot run in CI: {why}");
    }
    eprintln!("SKIPPED {test}: {why}");
    false
}

/// The full path of `program` if it is on `PATH` (or an absolute path that
/// exists).
pub fn find_program(program: &str) -> Option<PathBuf> {
    let candidate = Path::new(program);
    if candidate.is_absolute() {
        return candidate.exists().then(|| candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// Requires the peer `program`; returns its path, or `None` after printing
/// why the test skips (outside CI only).
pub fn require_program(test: &str, program: &str) -> Option<PathBuf> {
    match find_program(program) {
        Some(p) => Some(p),
        None => {
            skip(
                test,
                &format!("{program} is not installed (bash .ci/install-peers installs it)"),
            );
            None
        }
    }
}

/// Requires `python3` with `module` importable (tftpy, pyftpdlib); `false`
/// after printing why the test skips (outside CI only).
pub fn require_python_module(test: &str, module: &str) -> bool {
    let found = find_program("python3").is_some_and(|python| {
        Command::new(python)
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    found
        || skip(
            test,
            &format!(
                "the Python module {module} is not installed (bash .ci/install-peers installs it)"
            ),
        )
}

/// CPU seconds (user and system) that process `pid` and the children it
/// has reaped have used, from `/proc/PID/stat`; `None` once it is gone.
/// Servers that fork per transfer (tftp-hpa, vsftpd) are counted whole.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces: fields are
    // counted after its closing one (utime is field 14, cstime field 17).
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11..15)?
        .iter()
        .map(|f| f.parse::<u64>().ok())
        .sum::<Option<u64>>()?;
    // USER_HZ, the unit of these fields, is 100 on Linux on every
    // architecture the suite runs on.
    Some(ticks as f64 / 100.0)
}

/// The CPU time of a server process and everything it forks, for the
/// benchmarks: as root, the process is moved into a cgroup (v1 `cpuacct`)
/// of its own, which also counts children it never reaps (tftp-hpa's
/// per-transfer children); otherwise [`process_cpu_seconds`].
#[derive(Debug)]
pub struct CpuAccount {
    pid: u32,
    group: Option<PathBuf>,
}

impl CpuAccount {
    const CPUACCT: &str = "/sys/fs/cgroup/cpuacct";

    /// Starts accounting `pid` (call it before the process forks workers).
    pub fn of(pid: u32) -> CpuAccount {
        Self::mount();
        let group = Path::new(Self::CPUACCT).join(unique_name("nbbench"));
        let moved = std::fs::create_dir(&group).is_ok()
            && std::fs::write(group.join("cgroup.procs"), pid.to_string()).is_ok();
        if !moved {
            let _ = std::fs::remove_dir(&group);
        }
        CpuAccount {
            pid,
            group: moved.then_some(group),
        }
    }

    /// `ip netns exec` gives its command a fresh `/sys` without the cgroup
    /// mounts: mount the `cpuacct` hierarchy again there, once. Only over
    /// an empty `/sys/fs/cgroup` (nothing mounted there), so that no
    /// host's cgroup tree (v1, or v2 with no `cpuacct` directory) is ever
    /// hidden; elsewhere the fallback is [`process_cpu_seconds`].
    fn mount() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let empty = std::fs::read_dir("/sys/fs/cgroup").is_ok_and(|mut d| d.next().is_none());
            if !empty || !is_root() {
                return;
            }
            let mount = |args: &[&str]| {
                Command::new("mount")
                    .args(args)
                    .status()
                    .is_ok_and(|s| s.success())
            };
            let _ = mount(&["-t", "tmpfs", "cgroups", "/sys/fs/cgroup"])
                && std::fs::create_dir(Self::CPUACCT).is_ok()
                && mount(&["-t", "cgroup", "-o", "cpuacct", "cpuacct", Self::CPUACCT]);
        });
    }

    /// CPU seconds used so far.
    pub fn seconds(&self) -> Option<f64> {
        match &self.group {
            Some(g) => std::fs::read_to_string(g.join("cpuacct.usage"))
                .ok()?
                .trim()
                .parse::<u64>()
                .ok()
                .map(|ns| ns as f64 / 1e9),
            None => process_cpu_seconds(self.pid),
        }
    }
}

impl Drop for CpuAccount {
    fn drop(&mut self) {
        if let Some(g) = &self.group {
            // Whatever still runs goes back to the root group, so that the
            // group can go.
            if let Ok(procs) = std::fs::read_to_string(g.join("cgroup.procs")) {
                for pid in procs.split_whitespace() {
                    let _ = std::fs::write(Path::new(Self::CPUACCT).join("cgroup.procs"), pid);
                }
            }
            let _ = std::fs::remove_dir(g);
        }
    }
}

/// CPU seconds per GiB when `cpu` seconds moved `bytes`.
pub fn cpu_per_gib(cpu: f64, bytes: u64) -> f64 {
    if bytes == 0 {
        return 0.0;
    }
    cpu / (bytes as f64 / f64::from(1u32 << 30))
}

/// True when the process runs as root (needed for namespaces, taps, ports
/// below 1024).
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Requires root; prints why the test skips outside CI.
pub fn require_root(test: &str) -> bool {
    is_root() || skip(test, "needs root for network namespaces")
}

/// A free UDP port on loopback (racy by nature; good enough for tests that
/// bind right after).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral UDP port")
}

/// A free TCP port on loopback.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("bind an ephemeral TCP port")
}

/// Deterministic pseudo-random content of `len` bytes: every test file is
/// reproducible from its seed, and no two offsets look alike.
pub fn test_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = netboot_core::rng::Rng::new(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Path of the `netboot` binary built alongside this test.
///
/// `cargo test --workspace` builds it (the CLI crate has integration tests of
/// its own, which makes cargo build its binary before any test runs).
pub fn netboot_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current test executable");
    // target/<profile>/deps/<test> -> target/<profile>/netboot
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let bin = dir.join("netboot");
    assert!(
        bin.exists(),
        "{} not built: run `cargo test --workspace` (or `cargo build -p netboot-cli`) first",
        bin.display()
    );
    bin
}

/// The environment that makes a `netboot` server started by the tests keep
/// root when they run as root (`NETBOOT_USER=root`, as `--user root`), and
/// nothing otherwise (a server not started as root does not switch users).
///
/// A server started as root switches to the `netboot` user once its ports
/// are bound; the directories these tests serve and save leases in are
/// their own temporary ones (mode 0700, root's), which that user could not
/// read. What matters here is the protocols, not the account:
/// `service_cli.rs` tests the switch itself, with directories made for it.
pub fn keep_root() -> Vec<(&'static str, &'static str)> {
    if rustix::process::geteuid().is_root() {
        vec![("NETBOOT_USER", "root")]
    } else {
        Vec::new()
    }
}

/// `netboot` as a command, with [`keep_root`]'s environment.
pub fn netboot_command() -> std::process::Command {
    let mut cmd = std::process::Command::new(netboot_bin());
    cmd.envs(keep_root());
    cmd
}

/// `netboot bootp request --json` for `mac` (plain BOOTP, four tries from
/// 0.5 s apart), unicast to the server on loopback port `port` from a free
/// client port.
pub fn bootp_request_command(port: u16, mac: &str) -> Command {
    let mut cmd = Command::new(netboot_bin());
    cmd.args(["bootp", "request", "--server", &format!("127.0.0.1:{port}")])
        .args(["--client-port", &free_udp_port().to_string()])
        .args([
            "--timeout",
            "0.5",
            "--attempts",
            "4",
            "--json",
            "--mac",
            mac,
        ])
        .stdin(Stdio::null());
    cmd
}

/// Polls `check` every 10 ms until it returns `Some` or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// How long a command run by [`BoundedOutput::bounded_output`] may take.
pub const COMMAND_LIMIT: Duration = Duration::from_secs(120);

/// [`Command::output`] with a watchdog: a peer program or CLI run that
/// hangs is killed after [`COMMAND_LIMIT`] and reported as
/// [`std::io::ErrorKind::TimedOut`] (with its stderr so far), so no test
/// waits for ever.
pub trait BoundedOutput {
    /// Runs the command to completion with stdin closed and its output
    /// captured, or kills it after [`COMMAND_LIMIT`].
    fn bounded_output(&mut self) -> std::io::Result<std::process::Output>;
}

impl BoundedOutput for Command {
    fn bounded_output(&mut self) -> std::io::Result<std::process::Output> {
        let mut child = self
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        // Drain both pipes while waiting, so a talkative child never blocks.
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        );
        let start = Instant::now();
        let status = loop {
            match child.try_wait()? {
                Some(s) => break Some(s),
                None if start.elapsed() < COMMAND_LIMIT => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                None => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        match status {
            Some(status) => Ok(std::process::Output {
                status,
                stdout,
                stderr,
            }),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!(
                    "{:?} did not finish in {COMMAND_LIMIT:?}; stderr: {}",
                    self.get_program(),
                    String::from_utf8_lossy(&stderr)
                ),
            )),
        }
    }
}

/// A child process killed (and reaped) when the guard is dropped, so a
/// failing test never leaves a server behind.
#[derive(Debug)]
pub struct ChildGuard {
    child: Option<Child>,
    name: String,
}

impl ChildGuard {
    /// Spawns `cmd`, capturing its output.
    pub fn spawn(name: &str, cmd: &mut Command) -> std::io::Result<ChildGuard> {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        Ok(ChildGuard {
            child: Some(child),
            name: name.to_string(),
        })
    }

    /// Wraps an already spawned child.
    pub fn new(name: &str, child: Child) -> ChildGuard {
        ChildGuard {
            child: Some(child),
            name: name.to_string(),
        }
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Mutable access to the child (to read its pipes).
    pub fn child(&mut self) -> &mut Child {
        self.child.as_mut().expect("child still owned")
    }

    /// Sends `signal` (e.g. `"TERM"`, `"INT"`) to the process.
    pub fn signal(&self, signal: &str) {
        let _ = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.id().to_string())
            .status();
    }

    /// Waits up to `timeout` for the process to exit; returns its status and
    /// captured output, killing it if it overstays.
    pub fn wait_timeout(
        mut self,
        timeout: Duration,
    ) -> (Option<std::process::ExitStatus>, String, String) {
        let mut child = self.child.take().expect("child still owned");
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let mut out = String::new();
        let mut err = String::new();
        if let Some(mut s) = child.stdout.take() {
            let _ = s.read_to_string(&mut out);
        }
        if let Some(mut s) = child.stderr.take() {
            let _ = s.read_to_string(&mut err);
        }
        (status, out, err)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            if std::thread::panicking() {
                let mut err = String::new();
                if let Some(mut s) = child.stderr.take() {
                    let _ = s.read_to_string(&mut err);
                }
                eprintln!("--- {} stderr ---\n{err}", self.name);
            }
        }
    }
}

/// A process-unique short name (namespaces and interfaces have a 15-byte
/// limit).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id() % 100_000)
}

/// A loopback socket address on `port`.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
