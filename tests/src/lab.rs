//! Running programs whose output a test watches while they run, and the
//! firmware lab: a network namespace with a bridge and a tap for a QEMU
//! guest.
//!
//! Everything is bounded and cleaned up: children are killed by their
//! guards, and the namespace (with the bridge and tap inside it) is deleted
//! when the lab is dropped.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::netns::{NetnsPair, ip};
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
