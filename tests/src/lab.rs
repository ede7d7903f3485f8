//! Running programs whose output a test watches while they run, and the
//! firmware lab: a network namespace with a bridge and a tap for a QEMU
//! guest.
//!
//! Everything is bounded and cleaned up: children are killed by their
//! guards, and the namespace (with the bridge and tap inside it) is deleted
//! when the lab is dropped.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::netns::{NetnsPair, in_netns, ip};
use crate::{ChildGuard, require_program, require_root, skip, wait_for};

/// Everything a child prints (standard output and error), collected by
/// background readers.
#[derive(Clone, Default, Debug)]
pub struct Output(Arc<Mutex<String>>);

impl Output {
    /// What was printed so far.
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }

    /// What was printed so far, without carriage returns (serial consoles).
    pub fn plain(&self) -> String {
        self.text().replace('\r', "")
    }

    /// Waits until the output contains `needle`; false after `timeout`.
    pub fn wait(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, || self.text().contains(needle).then_some(())).is_some()
    }
}

/// Spawns `cmd` with its output collected.
pub fn spawn(name: &str, cmd: &mut Command) -> (ChildGuard, Output) {
    spawn_with_stdin(name, cmd, Stdio::null())
}

/// Spawns `cmd` with the given standard input and its output collected.
pub fn spawn_with_stdin(name: &str, cmd: &mut Command, stdin: Stdio) -> (ChildGuard, Output) {
    let child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut guard = ChildGuard::new(name, child);
    let out = Output::default();
    let child = guard.child();
    let pipes: Vec<Box<dyn Read + Send>> = vec![
        Box::new(child.stdout.take().unwrap()),
        Box::new(child.stderr.take().unwrap()),
    ];
    for mut pipe in pipes {
        let out = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.0
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
    }
    (guard, out)
}

/// A bridge addressed `cidr` with a tap on it, in namespace `ns`.
pub fn bridge_with_tap(ns: &str, bridge: &str, tap: &str, cidr: &str) {
    let run = |args: &[&str]| {
        let mut full = vec!["-n", ns];
        full.extend_from_slice(args);
        ip(&full);
    };
    run(&["link", "add", bridge, "type", "bridge"]);
    run(&["addr", "add", cidr, "dev", bridge]);
    run(&["link", "set", bridge, "up"]);
    run(&["tuntap", "add", tap, "mode", "tap"]);
    run(&["link", "set", tap, "master", bridge]);
    run(&["link", "set", tap, "up"]);
}

/// A namespace with a bridge `br0` addressed 10.`net`.1.1/24 and a tap
/// `tap` on it for a QEMU guest, and a scratch directory. The caller starts
/// its server in [`FirmwareLab::ns`] bound to `br0`.
#[derive(Debug)]
pub struct FirmwareLab {
    /// The namespaces (the server side is the one used).
    pub pair: NetnsPair,
    /// Scratch space for configurations and served files.
    pub dir: tempfile::TempDir,
}

impl FirmwareLab {
    /// `None` (after printing why, outside CI) when root, QEMU or the ROM
    /// (from the Debian `package`) is missing.
    pub fn new(test: &str, rom: &str, package: &str, net: u8) -> Option<FirmwareLab> {
        if !require_root(test) || require_program(test, "qemu-system-x86_64").is_none() {
            return None;
        }
        if !Path::new(rom).exists() {
            skip(
                test,
                &format!("{package} is not installed (bash .ci/install-peers installs it)"),
            );
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let pair = NetnsPair::new(net);
        bridge_with_tap(&pair.server, "br0", "tap", &format!("10.{net}.1.1/24"));
        Some(FirmwareLab { pair, dir })
    }

    /// The namespace the bridge and tap live in.
    pub fn ns(&self) -> &str {
        &self.pair.server
    }
}

impl FirmwareLab {
    /// Boots QEMU (TCG) with network boot first and iPXE from `rom` on an
    /// e1000 with `mac`, on the lab's tap; its serial console is the output.
    pub fn boot_ipxe(&self, mac: &str, rom: &str) -> Console {
        self.qemu(
            &["-m", "128", "-boot", "n"],
            &format!("e1000,netdev=n0,mac={mac},romfile={rom}"),
        )
    }

    /// Boots QEMU (TCG) with U-Boot from `rom` as its BIOS and an e1000 with
    /// `mac` on the lab's tap; type on its serial console with
    /// [`Console::type_line`].
    pub fn boot_uboot(&self, mac: &str, rom: &str) -> Console {
        self.qemu(
            &["-m", "256", "-bios", rom],
            &format!("e1000,netdev=n0,mac={mac}"),
        )
    }

    fn qemu(&self, machine: &[&str], nic: &str) -> Console {
        let (guard, output) = spawn_with_stdin(
            "qemu",
            in_netns(self.ns(), "qemu-system-x86_64")
                .args(["-accel", "tcg", "-nographic", "-no-reboot"])
                .args(machine)
                .args(["-netdev", "tap,id=n0,ifname=tap,script=no,downscript=no"])
                .args(["-device", nic]),
            Stdio::piped(),
        );
        Console { guard, output }
    }
}

/// A QEMU guest's serial console: what it printed, and a keyboard.
#[derive(Debug)]
pub struct Console {
    /// The QEMU process (killed when dropped).
    pub guard: ChildGuard,
    /// Everything the console printed.
    pub output: Output,
}

impl Console {
    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.guard.child().stdin.as_mut().expect("console input");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits until the console shows `needle`.
    pub fn wait(&self, needle: &str, timeout: Duration) -> bool {
        self.output.wait(needle, timeout)
    }

    /// What the console printed, without carriage returns.
    pub fn text(&self) -> String {
        self.output.plain()
    }

    /// Interrupts U-Boot's autoboot and waits for its prompt.
    pub fn uboot_prompt(&mut self) -> bool {
        if !self.wait("Hit any key to stop autoboot", Duration::from_secs(60)) {
            return false;
        }
        self.type_line("");
        self.wait("=> ", Duration::from_secs(10))
    }
}

/// The hardware address of interface `dev` in namespace `ns`.
pub fn hw_addr(ns: &str, dev: &str) -> String {
    let out = in_netns(ns, "cat")
        .arg(format!("/sys/class/net/{dev}/address"))
        .output()
        .expect("read the interface address");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}
