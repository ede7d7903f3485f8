//! A mixed fleet's match rules against real DHCP clients: ISC dhclient and
//! busybox udhcpc, across a veth pair, claim to be a legacy BIOS PXE ROM,
//! a UEFI x64 ROM, iPXE on UEFI, a UEFI HTTP-boot client and an ARM64
//! machine no rule names, by sending what those firmware send (options 60,
//! 77, 93 and 175). One `netboot serve` configuration answers each with
//! its own boot file, and with its rule's extra DHCP options (a WPAD URL,
//! a site option in hex, a router that replaces the server's, NTP
//! servers), which the clients' scripts and lease files show. The firmware themselves boot under QEMU in
//! `provision_firmware.rs`.
//!
//! Every wait is bounded; processes are killed before the namespaces go.

use std::path::Path;
use std::time::Duration;

use netboot_tests::dhcp::script;
use netboot_tests::keep_root;
use netboot_tests::lab::{Output, hw_addr, spawn};
use netboot_tests::netns::{NetnsPair, in_netns};
use netboot_tests::{ChildGuard, netboot_bin, require_program, require_root, wait_for};

const NET: u8 = 68;

fn serve(pair: &NetnsPair, dir: &Path) -> (ChildGuard, Output) {
    let root = dir.join("root");
    for f in [
        "bios/undionly.kpxe",
        "bios/boot.ipxe",
        "efi/ipxe.efi",
        "efi/boot.ipxe",
        "other/boot.img",
    ] {
        let p = root.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, f).unwrap();
    }
    let config = dir.join("fleet.toml");
    std::fs::write(
        &config,
        format!(
            r#"root = "{root}"

[bootp]
server = "10.{NET}.0.1"
subnet = "10.{NET}.0.0/24"
router = "10.{NET}.0.1"
interface = "{dev}"
pool = {{ start = "10.{NET}.0.100", end = "10.{NET}.0.150" }}

[plan]
reset_after = "never"
stages = ["other/boot.img"]

[[plan.boot]]
name = "bios"
arch = "bios"
chain = "bios/undionly.kpxe"
stages = ["bios/boot.ipxe"]
options = {{ 252 = "http://10.{NET}.0.1/wpad.dat", 224 = {{ hex = "01:02:ff" }}, 3 = {{ ip = "10.{NET}.0.254" }} }}

[[plan.boot]]
name = "uefi"
arch = ["efi-x64", "efi-bc"]
chain = "efi/ipxe.efi"
stages = ["efi/boot.ipxe"]
next_server = "10.{NET}.0.2"
options = {{ 42 = {{ ip = ["10.{NET}.0.5", "10.{NET}.0.6"] }}, 201 = "uefi-site" }}

[[plan.boot]]
name = "http"
arch = "efi-x64-http"
url = "http://10.{NET}.0.1/efi/ipxe.efi"
"#,
            root = root.display(),
            dev = pair.server_if,
        ),
    )
    .unwrap();
    let (guard, log) = spawn(
        "netboot serve",
        in_netns(&pair.server, netboot_bin().to_str().unwrap())
            .envs(keep_root())
            .args([
                "serve",
                "--no-ftp",
                "--tftp-listen",
                &format!("10.{NET}.0.1:69"),
                "--config",
            ])
            .arg(&config),
    );
    assert!(
        log.wait(
            "plan: 0 client(s) with their own stages, 3 rule(s)",
            Duration::from_secs(20)
        ),
        "serve did not start:\n{}",
        log.text()
    );
    (guard, log)
}

/// One dhclient exchange with `conf` as its configuration: the
/// `file next-server` it was bound with.
fn dhclient(pair: &NetnsPair, dir: &Path, run: &str, conf: &str, log: &Output) -> String {
    let out = dir.join(format!("{run}.out"));
    let sf = script(
        dir,
        &format!("{run}.sh"),
        &format!(
            "[ \"$reason\" = BOUND ] && echo \"$new_filename $new_next_server\" >> {}",
            out.display()
        ),
    );
    let cf = dir.join(format!("{run}.conf"));
    std::fs::write(&cf, conf).unwrap();
    let (_client, clog) = spawn(
        "dhclient",
        pair.in_client("dhclient")
            .args(["-d", "-1", "-cf"])
            .arg(&cf)
            .arg("-sf")
            .arg(&sf)
            .arg("-lf")
            .arg(dir.join(format!("{run}.leases")))
            .arg("-pf")
            .arg(dir.join(format!("{run}.pid")))
            .arg(&pair.client_if),
    );
    wait_for(Duration::from_secs(30), || {
        std::fs::read_to_string(&out)
            .ok()
            .and_then(|t| t.lines().next().map(str::to_string))
    })
    .unwrap_or_else(|| {
        panic!(
            "{run}: dhclient never bound:\n{}\nserver:\n{}",
            clog.text(),
            log.text()
        )
    })
}

/// One udhcpc exchange with `args` added: the `file siaddr` it was bound
/// with.
fn udhcpc(pair: &NetnsPair, dir: &Path, run: &str, args: &[&str], log: &Output) -> String {
    let out = dir.join(format!("{run}.out"));
    let sf = script(
        dir,
        &format!("{run}.sh"),
        &format!(
            "[ \"$1\" = bound ] && env | sort > {} && echo \"$boot_file $siaddr\" >> {}",
            dir.join(format!("{run}.env")).display(),
            out.display()
        ),
    );
    let (client, clog) = spawn(
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
            ])
            .args(args)
            .arg("-s")
            .arg(&sf),
    );
    let (status, _, _) = client.wait_timeout(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "{run}: udhcpc failed:\n{}\nserver:\n{}",
        clog.text(),
        log.text()
    );
    std::fs::read_to_string(&out)
        .unwrap_or_default()
        .trim()
        .to_string()
}

const DECLARE: &str = "option nb-arch code 93 = unsigned integer 16;\n\
                       option nb-ipxe code 175 = string;\n";

#[test]
fn real_clients_claiming_each_firmware_get_that_firmwares_boot_file() {
    let test = "real_clients_claiming_each_firmware_get_that_firmwares_boot_file";
    if !require_root(test)
        || require_program(test, "dhclient").is_none()
        || require_program(test, "udhcpc").is_none()
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let pair = NetnsPair::new(NET);
    let mac = hw_addr(&pair.client, &pair.client_if);
    let (_server, log) = serve(&pair, dir.path());
    let d = dir.path();
    let (server, efi_server) = (format!("10.{NET}.0.1"), format!("10.{NET}.0.2"));

    // A legacy BIOS PXE ROM: vendor class PXEClient, no option 93.
    let got = udhcpc(
        &pair,
        d,
        "bios-rom",
        &["-V", "PXEClient:Arch:00000:UNDI:002001"],
        &log,
    );
    assert_eq!(got, format!("bios/undionly.kpxe {server}"));
    // The rule's options, after the server's: the WPAD URL, the site option
    // (busybox shows codes it has no name for in hex) and the rule's router
    // instead of the server's.
    let env = std::fs::read_to_string(d.join("bios-rom.env")).unwrap();
    for want in [
        format!("wpad=http://10.{NET}.0.1/wpad.dat"),
        "opt224=0102ff".to_string(),
        format!("router=10.{NET}.0.254"),
    ] {
        assert!(
            env.lines().any(|l| l == want),
            "missing {want:?} in:\n{env}"
        );
    }

    // A UEFI x64 ROM (EDK2's PXE sends exactly this): the UEFI iPXE build,
    // from the profile's next server.
    let uefi_rom = format!(
        "{DECLARE}send nb-arch 7;\nsend vendor-class-identifier \"PXEClient:Arch:00007:UNDI:003000\";\n"
    );
    let got = dhclient(&pair, d, "uefi-rom", &uefi_rom, &log);
    assert_eq!(got, format!("efi/ipxe.efi {efi_server}"));
    // dhclient keeps every option it was given in its lease file: the UEFI
    // rule's NTP servers and its site option, and no BIOS rule's WPAD URL.
    let lease = std::fs::read_to_string(d.join("uefi-rom.leases")).unwrap();
    for want in [
        format!("option ntp-servers 10.{NET}.0.5,10.{NET}.0.6;"),
        "option unknown-201 \"uefi-site\";".to_string(),
    ] {
        assert!(lease.contains(&want), "missing {want:?} in:\n{lease}");
    }
    assert!(!lease.contains("wpad.dat"), "{lease}");

    // iPXE on UEFI, the second round: option 175 and user class iPXE. It
    // gets the script stage, not the ROM again.
    let uefi_ipxe = format!("{uefi_rom}send user-class \"iPXE\";\nsend nb-ipxe \"ipxe\";\n");
    let got = dhclient(&pair, d, "uefi-ipxe", &uefi_ipxe, &log);
    assert_eq!(got, format!("efi/boot.ipxe {efi_server}"));

    // UEFI HTTP boot (architecture 16): a URL.
    let got = udhcpc(
        &pair,
        d,
        "http",
        &["-V", "HTTPClient:Arch:00016:UNDI:003001", "-x", "0x5d:0010"],
        &log,
    );
    assert_eq!(got, format!("http://10.{NET}.0.1/efi/ipxe.efi {server}"));

    // ARM64 UEFI: no rule names it, so the default stages.
    let got = udhcpc(
        &pair,
        d,
        "arm64",
        &["-V", "PXEClient:Arch:00011:UNDI:003000", "-x", "0x5d:000b"],
        &log,
    );
    assert_eq!(got, format!("other/boot.img {server}"));

    let text = log.text();
    for want in [
        "file bios/undionly.kpxe".to_string(),
        format!("to {mac} next-server {efi_server} file efi/ipxe.efi"),
        format!("to {mac} next-server {efi_server} file efi/boot.ipxe"),
    ] {
        assert!(text.contains(&want), "missing {want:?}:\n{text}");
    }
}
