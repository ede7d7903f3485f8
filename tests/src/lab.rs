//! Running programs whose output a test watches while they run, and the
//! firmware lab: a network namespace with a bridge and taps for QEMU
//! guests (iPXE under SeaBIOS, U-Boot, OVMF for UEFI x64).
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
use crate::{ChildGuard, require_program, require_root, skip, unique_name, wait_for};

/// OVMF's firmware code for UEFI x64 guests (Debian `ovmf`), mapped
/// read-only.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// OVMF's variable store template (Debian `ovmf`); each guest boots from a
/// copy of its own in the lab's directory.
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";
/// QEMU's iPXE option ROM for the e1000 (Debian `ipxe-qemu`): it holds a
/// BIOS image and an EFI image, so it boots under SeaBIOS and under OVMF.
pub const IPXE_E1000_ROM: &str = "/usr/lib/ipxe/qemu/efi-e1000.rom";
/// iPXE as a UEFI x64 program (Debian `ipxe`): the boot file to give
/// EDK2's own PXE client so that iPXE takes over.
pub const IPXE_EFI: &str = "/usr/lib/ipxe/ipxe.efi";
/// iPXE as a PXE network boot program for BIOS (Debian `ipxe`): it drives
/// the NIC through the PXE stack (UNDI) of the ROM that loaded it.
pub const UNDIONLY_KPXE: &str = "/usr/lib/ipxe/undionly.kpxe";

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

    /// Waits until a whole line (one ended by its newline) contains
    /// `needle`; false after `timeout`. Use it before reading the rest of
    /// that line: [`Output::wait`] may return while the line is still
    /// being written.
    pub fn wait_line(&self, needle: &str, timeout: Duration) -> bool {
        wait_for(timeout, || {
            let text = self.text();
            let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            complete.contains(needle).then_some(())
        })
        .is_some()
    }
}

/// Spawns `cmd` with its output collected.
pub fn spawn(name: &str, cmd: &mut Command) -> (ChildGuard, Output) {
    spawn_with_stdin(name, cmd, Stdio::null())
}

/// Spawns `cmd` with the given standard input and its output collected.
pub fn spawn_with_stdin(name: &str, cmd: &mut Command, stdin: Stdio) -> (ChildGuard, Output) {
    let (guard, out) = spawn_piped(name, cmd, stdin);
    let (stdout, stderr) = out;
    let both = Output::default();
    collect(stdout, both.clone());
    collect(stderr, both.clone());
    (guard, both)
}

/// Spawns `cmd` with its standard output and standard error collected
/// apart: `(guard, stdout, stderr)`.
pub fn spawn_split(name: &str, cmd: &mut Command) -> (ChildGuard, Output, Output) {
    let (guard, (stdout, stderr)) = spawn_piped(name, cmd, Stdio::null());
    let (out, err) = (Output::default(), Output::default());
    collect(stdout, out.clone());
    collect(stderr, err.clone());
    (guard, out, err)
}

type Pipe = Box<dyn Read + Send>;

/// Spawns `cmd` with `stdin` and its two output pipes taken.
fn spawn_piped(name: &str, cmd: &mut Command, stdin: Stdio) -> (ChildGuard, (Pipe, Pipe)) {
    let child = cmd
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut guard = ChildGuard::new(name, child);
    let child = guard.child();
    let stdout: Pipe = Box::new(child.stdout.take().unwrap());
    let stderr: Pipe = Box::new(child.stderr.take().unwrap());
    (guard, (stdout, stderr))
}

/// Appends everything `pipe` yields to `out`, from a thread of its own.
fn collect(mut pipe: Pipe, out: Output) {
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

/// Runs `ip -n ns args...`, panicking on failure.
fn ip_in(ns: &str, args: &[&str]) {
    let mut full = vec!["-n", ns];
    full.extend_from_slice(args);
    ip(&full);
}

/// A bridge addressed `cidr` with a tap on it, in namespace `ns`.
pub fn bridge_with_tap(ns: &str, bridge: &str, tap: &str, cidr: &str) {
    ip_in(ns, &["link", "add", bridge, "type", "bridge"]);
    ip_in(ns, &["addr", "add", cidr, "dev", bridge]);
    ip_in(ns, &["link", "set", bridge, "up"]);
    tap_on_bridge(ns, bridge, tap);
}

/// Adds a tap `tap` to the existing bridge `bridge` in namespace `ns` and
/// brings it up.
pub fn tap_on_bridge(ns: &str, bridge: &str, tap: &str) {
    ip_in(ns, &["tuntap", "add", tap, "mode", "tap"]);
    ip_in(ns, &["link", "set", tap, "master", bridge]);
    ip_in(ns, &["link", "set", tap, "up"]);
}

/// The network card an OVMF guest boots from, which decides who asks for
/// an address first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OvmfNic<'a> {
    /// A virtio-net card without an option ROM: OVMF's own virtio driver
    /// and EDK2's PXE client ask first (`>>Start PXE over IPv4.` on the
    /// console; client architecture 7, vendor class
    /// `PXEClient:Arch:00007:UNDI:003000`, no user class, no option 175),
    /// and run the boot file they get as a UEFI program: give them
    /// [`IPXE_EFI`] to chainload iPXE, which then asks again as iPXE.
    Edk2,
    /// An e1000 with the iPXE option ROM `rom` (such as
    /// [`IPXE_E1000_ROM`]): OVMF starts the ROM's EFI image as the boot
    /// option, and iPXE asks first (client architecture 7, user class
    /// `iPXE`, option 175).
    IpxeRom(&'a str),
}

impl OvmfNic<'_> {
    /// The `-device` argument for this card with `mac` on netdev `n0`. The
    /// card gets boot index 1, so OVMF does not try the empty CD drive
    /// first.
    fn device(&self, mac: &str) -> String {
        match self {
            OvmfNic::Edk2 => format!("virtio-net-pci,netdev=n0,mac={mac},romfile=,bootindex=1"),
            OvmfNic::IpxeRom(rom) => {
                format!("e1000,netdev=n0,mac={mac},romfile={rom},bootindex=1")
            }
        }
    }
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
        FirmwareLab::with_files(test, &[(rom, package)], net)
    }

    /// A lab whose guests need `files`, each given with the Debian package
    /// that installs it; `None` (after printing why) when root, QEMU or one
    /// of the files is missing. Outside CI that is a skip; under CI (where
    /// `.ci/install-peers` has installed them) it fails the test.
    ///
    /// For OVMF guests pass [`OVMF_CODE`] and [`OVMF_VARS`] with `ovmf`,
    /// and the ROM or boot files they use ([`IPXE_E1000_ROM`] with
    /// `ipxe-qemu`, [`IPXE_EFI`] with `ipxe`).
    pub fn with_files(test: &str, files: &[(&str, &str)], net: u8) -> Option<FirmwareLab> {
        if !require_root(test) || require_program(test, "qemu-system-x86_64").is_none() {
            return None;
        }
        for (file, package) in files {
            if !Path::new(file).exists() {
                skip(
                    test,
                    &format!("{package} is not installed (bash .ci/install-peers installs it)"),
                );
                return None;
            }
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

    /// Adds another tap `tap` on `br0`, for a second guest at the same time
    /// (boot it with one of the `*_on` methods and a MAC of its own). Two
    /// guests, one OVMF and one SeaBIOS, boot side by side on two cores
    /// about as fast as each alone.
    pub fn add_tap(&self, tap: &str) {
        tap_on_bridge(self.ns(), "br0", tap);
    }
}

impl FirmwareLab {
    /// Boots QEMU (TCG) with network boot first and iPXE from `rom` on an
    /// e1000 with `mac`, on the lab's tap; its serial console is the output.
    pub fn boot_ipxe(&self, mac: &str, rom: &str) -> Console {
        self.boot_ipxe_on("tap", mac, rom)
    }

    /// [`FirmwareLab::boot_ipxe`] on the tap `tap` (see
    /// [`FirmwareLab::add_tap`]). Under SeaBIOS the ROM's iPXE asks with
    /// client architecture 0, user class `iPXE` and option 175; given
    /// [`UNDIONLY_KPXE`] it chainloads it, and that iPXE asks again with the
    /// same options.
    pub fn boot_ipxe_on(&self, tap: &str, mac: &str, rom: &str) -> Console {
        self.qemu(
            tap,
            &["-m", "128", "-boot", "n"],
            &format!("e1000,netdev=n0,mac={mac},romfile={rom}"),
        )
    }

    /// Boots QEMU (TCG) with U-Boot from `rom` as its BIOS and an e1000 with
    /// `mac` on the lab's tap; type on its serial console with
    /// [`Console::type_line`].
    pub fn boot_uboot(&self, mac: &str, rom: &str) -> Console {
        self.qemu(
            "tap",
            &["-m", "256", "-bios", rom],
            &format!("e1000,netdev=n0,mac={mac}"),
        )
    }

    /// Boots QEMU (TCG) as a UEFI x64 machine: OVMF ([`OVMF_CODE`], with a
    /// fresh copy of [`OVMF_VARS`] in the lab's directory), 256 MiB, network
    /// boot first from `nic` with `mac`, on the lab's tap. Its serial
    /// console is the output (OVMF's and iPXE's text, with ANSI escapes).
    pub fn boot_ovmf(&self, mac: &str, nic: OvmfNic) -> Console {
        self.boot_ovmf_on("tap", mac, nic)
    }

    /// [`FirmwareLab::boot_ovmf`] on the tap `tap` (see
    /// [`FirmwareLab::add_tap`]).
    pub fn boot_ovmf_on(&self, tap: &str, mac: &str, nic: OvmfNic) -> Console {
        let vars = self
            .dir
            .path()
            .join(format!("{}.fd", unique_name("ovmf-vars")));
        std::fs::copy(OVMF_VARS, &vars)
            .unwrap_or_else(|e| panic!("copy {OVMF_VARS} to {}: {e}", vars.display()));
        let code = format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}");
        let vars = format!("if=pflash,format=raw,file={}", vars.display());
        self.qemu(
            tap,
            &["-m", "256", "-drive", &code, "-drive", &vars, "-boot", "n"],
            &nic.device(mac),
        )
    }

    fn qemu(&self, tap: &str, machine: &[&str], nic: &str) -> Console {
        let (guard, output) = spawn_with_stdin(
            "qemu",
            in_netns(self.ns(), "qemu-system-x86_64")
                .args(["-accel", "tcg", "-nographic", "-no-reboot"])
                .args(machine)
                .arg("-netdev")
                .arg(format!("tap,id=n0,ifname={tap},script=no,downscript=no"))
                .args(["-device", nic]),
            Stdio::piped(),
        );
        Console {
            guard,
            output,
            prompts_answered: 0,
        }
    }
}

/// A QEMU guest's serial console: what it printed, and a keyboard.
#[derive(Debug)]
pub struct Console {
    /// The QEMU process (killed when dropped).
    pub guard: ChildGuard,
    /// Everything the console printed.
    pub output: Output,
    /// How many U-Boot prompts had been printed when [`Console::command`]
    /// last typed.
    prompts_answered: usize,
}

impl Console {
    /// Types `line` and Enter.
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.guard.child().stdin.as_mut().expect("console input");
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for a U-Boot prompt newer than the one the previous command
    /// was typed at, then types `line`. U-Boot polls the console for Ctrl-C
    /// while a network command is still winding down and throws away what
    /// it reads, so a line typed before the prompt loses characters.
    pub fn command(&mut self, line: &str) -> bool {
        let after = self.prompts_answered;
        let Some(seen) = wait_for(Duration::from_secs(120), || {
            let n = self.text().matches("=> ").count();
            (n > after).then_some(n)
        }) else {
            return false;
        };
        self.prompts_answered = seen;
        self.type_line(line);
        true
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

    /// [`Console::command`], failing the test with the console's text when
    /// no prompt comes.
    pub fn run(&mut self, line: &str) {
        assert!(
            self.command(line),
            "no U-Boot prompt for {line:?}:\n{}",
            self.text()
        );
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
