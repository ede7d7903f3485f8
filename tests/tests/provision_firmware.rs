//! Real firmware booting from `netboot serve` under QEMU (TCG), on a tap in
//! the server's network namespace:
//!
//! * iPXE gets its address and an iPXE script over TFTP (the plan's first
//!   stage); the script fetches a second script over TFTP (the plan's
//!   second stage), which prints a marker the test reads from the serial
//!   console. The server's plan sees both downloads and falls silent.
//! * U-Boot runs `bootp`, then `tftpboot` of a 3 MiB file (its only stage),
//!   and reports the byte count; asked again, it gets no answer.
//!
//! One VM boot per test; every wait is bounded; QEMU, the server and the
//! namespace are torn down when the test ends, failing or not.

use std::path::Path;
use std::time::Duration;

use netboot_tests::keep_root;
use netboot_tests::lab::{
    Console, FirmwareLab, IPXE_E1000_ROM, IPXE_EFI, OVMF_CODE, OVMF_VARS, Output, OvmfNic, spawn,
};
use netboot_tests::netns::in_netns;
use netboot_tests::{ChildGuard, netboot_bin, test_bytes};

/// `netboot serve` in the lab's namespace on `br0` (subnet
/// 10.`net`.1.0/24, pool from .100), standard ports, with `plan` as the
/// `[[plan.client]]` stages of `mac`.
fn serve(lab: &FirmwareLab, net: u8, mac: &str, stages: &[&str]) -> (ChildGuard, Output) {
    let stages: Vec<String> = stages.iter().map(|s| format!("\"{s}\"")).collect();
    let plan = format!(
        "[[plan.client]]\nmac = \"{mac}\"\nstages = [{}]\n",
        stages.join(", ")
    );
    serve_plan(lab, net, "", &plan, "plan: 1 client(s)")
}

/// `netboot serve` as [`serve`] does, with `bootp` added to the `[bootp]`
/// table and `plan` after `[plan]`; `ready` is the start-up line to wait
/// for.
fn serve_plan(
    lab: &FirmwareLab,
    net: u8,
    bootp: &str,
    plan: &str,
    ready: &str,
) -> (ChildGuard, Output) {
    let dir = lab.dir.path();
    let config = dir.join("lab.toml");
    let pool = if bootp.contains("mode = \"proxy\"") {
        String::new()
    } else {
        format!("pool = {{ start = \"10.{net}.1.100\", end = \"10.{net}.1.150\" }}\n")
    };
    std::fs::write(
        &config,
        format!(
            "root = \"{}\"\n\n[bootp]\nserver = \"10.{net}.1.1\"\nsubnet = \"10.{net}.1.0/24\"\n\
             router = \"10.{net}.1.1\"\ninterface = \"br0\"\n{pool}{bootp}\n\
             [plan]\nreset_after = \"never\"\n\n{plan}",
            dir.join("root").display(),
        ),
    )
    .unwrap();
    let (guard, log) = spawn(
        "netboot serve",
        in_netns(lab.ns(), netboot_bin().to_str().unwrap())
            .envs(keep_root())
            .arg("serve")
            .arg("--config")
            .arg(&config),
    );
    assert!(
        log.wait(ready, Duration::from_secs(20)),
        "serve did not start:\n{}",
        log.text()
    );
    (guard, log)
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, data).unwrap();
}

#[test]
fn ipxe_in_qemu_boots_a_two_stage_plan_from_netboot_serve() {
    let test = "ipxe_in_qemu_boots_a_two_stage_plan_from_netboot_serve";
    let rom = "/usr/lib/ipxe/qemu/efi-e1000.rom";
    let Some(lab) = FirmwareLab::new(test, rom, "ipxe-qemu", 73) else {
        return;
    };
    let mac = "52:54:00:73:00:01";
    let marker = format!("NETBOOT-MARKER-{:016x}", netboot_std::os::os_seed());
    let root = lab.dir.path().join("root");
    write(
        &root,
        "ipxe/boot.ipxe",
        b"#!ipxe\necho netboot stage 1 script running\nchain tftp://${next-server}/ipxe/second.ipxe\n",
    );
    // The marker exists only in the second file: seeing it proves the
    // script fetched it. Before it, the script fetches an empty file and
    // one of exactly one block (iPXE asks for `blksize` and `tsize`), and
    // prints their sizes.
    write(&root, "files/empty.bin", b"");
    write(&root, "files/block.bin", &test_bytes(73, 512));
    write(
        &root,
        "ipxe/second.ipxe",
        format!(
            "#!ipxe\n\
             imgfetch -n empty tftp://${{next-server}}/files/empty.bin && echo EMPTY-FETCHED\n\
             imgfetch -n block tftp://${{next-server}}/files/block.bin && echo BLOCK-FETCHED\n\
             imgstat\n\
             echo {marker}\n"
        )
        .as_bytes(),
    );
    let (_server, log) = serve(&lab, 73, mac, &["ipxe/boot.ipxe", "ipxe/second.ipxe"]);
    let console = lab.boot_ipxe(mac, rom);
    // iPXE asks about 3 s after start and fetches about 13 s later; TCG on a
    // shared machine is slower.
    let got = console.wait(&marker, Duration::from_secs(180));
    let serial = console.text();
    assert!(
        got,
        "the marker never appeared; serial console:\n{serial}\nserver:\n{}",
        log.text()
    );
    assert!(
        serial.contains("netboot stage 1 script running"),
        "{serial}"
    );
    for fetched in ["EMPTY-FETCHED", "BLOCK-FETCHED"] {
        assert!(serial.contains(fetched), "{fetched} missing:\n{serial}");
    }
    let ip = "10.73.1.100";
    let text = log.text();
    for step in [
        format!("bootp: DHCPACK {ip} to {mac} next-server 10.73.1.1 file ipxe/boot.ipxe"),
        format!("plan: {mac} ({ip}) fetched stage 1/2 ipxe/boot.ipxe"),
        format!("plan: {mac} ({ip}) fetched stage 2/2 ipxe/second.ipxe; boot phase complete"),
    ] {
        assert!(
            log.wait(&step, Duration::from_secs(10)),
            "missing {step:?}:\n{text}"
        );
    }
}

#[test]
fn uboot_in_qemu_bootp_then_tftpboot_of_three_mebibytes_from_netboot_serve() {
    let test = "uboot_in_qemu_bootp_then_tftpboot_of_three_mebibytes_from_netboot_serve";
    let rom = "/usr/lib/u-boot/qemu-x86_64/u-boot.rom";
    let Some(lab) = FirmwareLab::new(test, rom, "u-boot-qemu", 74) else {
        return;
    };
    let mac = "52:54:00:74:00:01";
    const SIZE: usize = 3 << 20;
    let root = lab.dir.path().join("root");
    write(&root, "uboot/big.bin", &test_bytes(74, SIZE));
    let (_server, log) = serve(&lab, 74, mac, &["uboot/big.bin"]);
    let mut console = lab.boot_uboot(mac, rom);
    let wait = |console: &Console, what: &str, secs: u64| {
        assert!(
            console.wait(what, Duration::from_secs(secs)),
            "waiting for {what:?}; serial console:\n{}\nserver:\n{}",
            console.text(),
            log.text()
        );
    };
    assert!(console.uboot_prompt(), "{}", console.text());
    console.run("setenv autoload no");
    // This U-Boot's `bootp` speaks DHCP.
    console.run("bootp");
    wait(&console, "DHCP client bound to address 10.74.1.100", 60);
    console.run("echo file=${bootfile} server=${serverip}");
    wait(&console, "file=uboot/big.bin server=10.74.1.1", 10);
    console.run("tftpboot 0x2000000 ${bootfile}");
    wait(&console, "Bytes transferred = 3145728 (300000 hex)", 180);
    let done = "RRQ uboot/big.bin done, 3145728 bytes";
    assert!(log.wait(done, Duration::from_secs(10)), "{}", log.text());
    let finished =
        format!("plan: {mac} (10.74.1.100) fetched stage 1/1 uboot/big.bin; boot phase complete");
    assert!(
        log.wait(&finished, Duration::from_secs(10)),
        "{}",
        log.text()
    );
    // An empty file and one of exactly one block (U-Boot asks for
    // `blksize`, `timeout` and `tsize`).
    write(&root, "uboot/empty.bin", b"");
    write(&root, "uboot/block.bin", &test_bytes(75, 512));
    // U-Boot prints no byte count for an empty file (and leaves
    // `filesize` alone), but the command succeeds: `&&` runs the echo,
    // whose text exists only once the variable is expanded.
    console.run("setenv ok FETCHED");
    console.run("tftpboot 0x3000000 uboot/empty.bin && echo EMPTY-${ok}");
    wait(&console, "EMPTY-FETCHED", 60);
    assert!(
        log.wait("RRQ uboot/empty.bin done, 0 bytes", Duration::from_secs(10)),
        "{}",
        log.text()
    );
    console.run("tftpboot 0x3000000 uboot/block.bin");
    wait(&console, "Bytes transferred = 512 (200 hex)", 60);
    // Asked again, the server stays silent: the boot phase is over.
    console.run("bootp");
    let silent = format!("bootp: no answer to {mac}: the boot policy says it is done");
    assert!(log.wait(&silent, Duration::from_secs(30)), "{}", log.text());
}

/// A mixed fleet on one configuration: a UEFI x64 guest (OVMF, whose own
/// EDK2 PXE is a boot ROM that is not iPXE) and a legacy BIOS guest (QEMU's
/// iPXE ROM under SeaBIOS) boot side by side on one bridge. The rules choose
/// by option 93: the UEFI ROM gets the UEFI iPXE build (`chain`), which asks
/// again as iPXE and gets the UEFI script, not the ROM's file a second time;
/// the BIOS guest, iPXE already, gets the BIOS script straight away. Each
/// script prints its own marker, so each guest proves it ran its
/// architecture's file.
#[test]
fn uefi_and_bios_guests_boot_their_architectures_files_from_one_config() {
    let test = "uefi_and_bios_guests_boot_their_architectures_files_from_one_config";
    let files = [
        (OVMF_CODE, "ovmf"),
        (OVMF_VARS, "ovmf"),
        (IPXE_EFI, "ipxe"),
        (IPXE_E1000_ROM, "ipxe-qemu"),
    ];
    let Some(lab) = FirmwareLab::with_files(test, &files, 75) else {
        return;
    };
    let (uefi, bios) = ("52:54:00:75:00:01", "52:54:00:75:00:02");
    let seed = netboot_std::os::os_seed();
    let (uefi_marker, bios_marker) = (
        format!("NETBOOT-UEFI-{seed:016x}"),
        format!("NETBOOT-BIOS-{seed:016x}"),
    );
    let root = lab.dir.path().join("root");
    write(&root, "efi/ipxe.efi", &std::fs::read(IPXE_EFI).unwrap());
    write(
        &root,
        "efi/boot.ipxe",
        format!("#!ipxe\necho {uefi_marker} ${{platform}}\n").as_bytes(),
    );
    write(
        &root,
        "bios/boot.ipxe",
        format!("#!ipxe\necho {bios_marker} ${{platform}}\n").as_bytes(),
    );
    let plan = "[[plan.boot]]\nname = \"uefi\"\narch = \"efi-x64\"\nchain = \"efi/ipxe.efi\"\n\
                stages = [\"efi/boot.ipxe\"]\n\n\
                [[plan.boot]]\nname = \"bios\"\narch = \"bios\"\nchain = \"bios/undionly.kpxe\"\n\
                stages = [\"bios/boot.ipxe\"]\n";
    let (_server, log) = serve_plan(&lab, 75, "", plan, "2 rule(s)");
    lab.add_tap("tap1");
    let uefi_console = lab.boot_ovmf(uefi, OvmfNic::Edk2);
    let bios_console = lab.boot_ipxe_on("tap1", bios, IPXE_E1000_ROM);
    for (console, marker, platform) in [
        (&bios_console, &bios_marker, "pcbios"),
        (&uefi_console, &uefi_marker, "efi"),
    ] {
        let line = format!("{marker} {platform}");
        assert!(
            console.wait(&line, Duration::from_secs(180)),
            "{line:?} never appeared; serial console:\n{}\nserver:\n{}",
            console.text(),
            log.text()
        );
    }
    // The UEFI guest's own PXE ran first and chainloaded iPXE.
    let serial = uefi_console.text();
    assert!(serial.contains(">>Start PXE over IPv4"), "{serial}");
    assert!(!bios_console.text().contains(&uefi_marker));
    assert!(!serial.contains(&bios_marker));
    let text = log.text();
    for (mac, step) in [
        (uefi, "next-server 10.75.1.1 file efi/ipxe.efi"),
        (
            uefi,
            "fetched chainloader efi/ipxe.efi; iPXE gets stage 1/1 next",
        ),
        (uefi, "next-server 10.75.1.1 file efi/boot.ipxe"),
        (uefi, "fetched stage 1/1 efi/boot.ipxe; boot phase complete"),
        (bios, "next-server 10.75.1.1 file bios/boot.ipxe"),
        (
            bios,
            "fetched stage 1/1 bios/boot.ipxe; boot phase complete",
        ),
    ] {
        let found = netboot_tests::wait_for(Duration::from_secs(10), || {
            log.text()
                .lines()
                .any(|l| l.contains(mac) && l.contains(step))
                .then_some(())
        });
        assert!(found.is_some(), "missing {step:?} for {mac}:\n{text}");
    }
    // The BIOS guest is iPXE already: it was never handed its chainloader.
    assert!(!text.contains("file bios/undionly.kpxe"), "{text}");
}

/// A namespace of its own for another DHCP server, joined to the lab's
/// bridge by a veth pair; deleted (with the veth) when dropped.
struct OtherHost {
    ns: String,
}

impl OtherHost {
    fn join(lab: &FirmwareLab, cidr: &str) -> OtherHost {
        use netboot_tests::netns::ip;
        let id = std::process::id() % 100_000;
        let ns = format!("nbdhcp{id}");
        let (outer, inner) = (format!("vdo{id}"), format!("vdi{id}"));
        ip(&["netns", "add", &ns]);
        let host = OtherHost { ns };
        ip(&[
            "-n",
            lab.ns(),
            "link",
            "add",
            &outer,
            "type",
            "veth",
            "peer",
            "name",
            &inner,
        ]);
        ip(&["-n", lab.ns(), "link", "set", &inner, "netns", &host.ns]);
        ip(&["-n", lab.ns(), "link", "set", &outer, "master", "br0"]);
        ip(&["-n", lab.ns(), "link", "set", &outer, "up"]);
        ip(&["-n", &host.ns, "addr", "add", cidr, "dev", &inner]);
        ip(&["-n", &host.ns, "link", "set", &inner, "up"]);
        ip(&["-n", &host.ns, "link", "set", "lo", "up"]);
        host
    }
}

impl Drop for OtherHost {
    fn drop(&mut self) {
        netboot_tests::netns::ip(&["netns", "del", &self.ns]);
    }
}

/// proxyDHCP beside a DHCP server nobody may replace: dnsmasq, on another
/// host of the same link, gives the address and no boot options; `netboot
/// serve` in `mode = "proxy"` gives only the boot (no address, port 67 and
/// the PXE boot-server port 4011). QEMU's iPXE takes the address from one
/// and the boot file from the other, runs the plan's script, and the
/// script's second stage prints the marker.
#[test]
fn proxy_dhcp_boots_a_guest_beside_dnsmasq_which_gives_the_address() {
    let test = "proxy_dhcp_boots_a_guest_beside_dnsmasq_which_gives_the_address";
    let rom = IPXE_E1000_ROM;
    let Some(lab) = FirmwareLab::new(test, rom, "ipxe-qemu", 76) else {
        return;
    };
    if netboot_tests::require_program(test, "dnsmasq").is_none() {
        return;
    }
    let mac = "52:54:00:76:00:01";
    let marker = format!("NETBOOT-PROXY-{:016x}", netboot_std::os::os_seed());
    let root = lab.dir.path().join("root");
    write(
        &root,
        "ipxe/boot.ipxe",
        // dnsmasq's ACK names itself as next server; the boot server is
        // the proxy's, which iPXE keeps under `proxydhcp/`.
        b"#!ipxe\necho proxy stage 1 running\nchain tftp://${proxydhcp/next-server}/ipxe/second.ipxe\n",
    );
    write(
        &root,
        "ipxe/second.ipxe",
        format!("#!ipxe\necho {marker}\n").as_bytes(),
    );
    let other = OtherHost::join(&lab, "10.76.1.2/24");
    let leases = lab.dir.path().join("dnsmasq.leases");
    let (_dnsmasq, dlog) = spawn(
        "dnsmasq",
        in_netns(&other.ns, "dnsmasq")
            .args([
                "--no-daemon",
                "--conf-file=/dev/null",
                "--port=0",
                "--user=root",
                "--log-dhcp",
                "--bind-interfaces",
                "--listen-address=10.76.1.2",
                "--dhcp-range=10.76.1.200,10.76.1.210,255.255.255.0,1h",
            ])
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg(format!(
                "--pid-file={}",
                lab.dir.path().join("dnsmasq.pid").display()
            )),
    );
    assert!(
        dlog.wait("DHCP, IP range", Duration::from_secs(10)),
        "dnsmasq did not start:\n{}",
        dlog.text()
    );
    let plan = format!(
        "[[plan.client]]\nmac = \"{mac}\"\nstages = [\"ipxe/boot.ipxe\", \"ipxe/second.ipxe\"]\n"
    );
    let (_server, log) = serve_plan(&lab, 76, "mode = \"proxy\"\n", &plan, "plan: 1 client(s)");
    let console = lab.boot_ipxe(mac, rom);
    let got = console.wait(&marker, Duration::from_secs(180));
    let serial = console.text();
    assert!(
        got,
        "the marker never appeared; serial console:\n{serial}\nserver:\n{}\ndnsmasq:\n{}",
        log.text(),
        dlog.text()
    );
    assert!(serial.contains("proxy stage 1 running"), "{serial}");
    // The address is dnsmasq's; netboot never handed one out.
    let text = log.text();
    assert!(
        dlog.text().contains("DHCPACK(") && dlog.text().contains(mac),
        "{}",
        dlog.text()
    );
    let ip = wait_for_lease(&leases, mac);
    assert!(ip.starts_with("10.76.1.2"), "dnsmasq leased {ip}");
    assert!(
        !text.contains("DHCPACK 10.76"),
        "netboot gave an address:\n{text}"
    );
    for step in [
        format!("proxy DHCPOFFER to {mac} next-server 10.76.1.1 file ipxe/boot.ipxe"),
        format!("plan: {mac} ({ip}) fetched stage 1/2 ipxe/boot.ipxe"),
        format!("plan: {mac} ({ip}) fetched stage 2/2 ipxe/second.ipxe; boot phase complete"),
    ] {
        assert!(
            log.wait(&step, Duration::from_secs(10)),
            "missing {step:?}:\n{text}"
        );
    }
}

/// The address dnsmasq's lease file gives `mac`.
fn wait_for_lease(file: &Path, mac: &str) -> String {
    netboot_tests::wait_for(Duration::from_secs(10), || {
        let text = std::fs::read_to_string(file).ok()?;
        text.lines()
            .find(|l| l.contains(mac))
            .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
    })
    .unwrap_or_else(|| panic!("no dnsmasq lease for {mac}"))
}

/// UEFI x64 with QEMU's EFI iPXE ROM: OVMF starts the ROM's iPXE, which
/// announces itself (option 175, architecture 7), so the same UEFI rule
/// hands it the UEFI script directly and never the chainloader.
#[test]
fn uefi_guest_with_qemus_efi_ipxe_rom_boots_the_uefi_script() {
    let test = "uefi_guest_with_qemus_efi_ipxe_rom_boots_the_uefi_script";
    let files = [
        (OVMF_CODE, "ovmf"),
        (OVMF_VARS, "ovmf"),
        (IPXE_E1000_ROM, "ipxe-qemu"),
    ];
    let Some(lab) = FirmwareLab::with_files(test, &files, 77) else {
        return;
    };
    let mac = "52:54:00:77:00:01";
    let marker = format!("NETBOOT-EFIROM-{:016x}", netboot_std::os::os_seed());
    let root = lab.dir.path().join("root");
    write(&root, "efi/ipxe.efi", b"not used: the ROM is iPXE already");
    write(
        &root,
        "efi/boot.ipxe",
        format!("#!ipxe\necho {marker} ${{platform}}\n").as_bytes(),
    );
    let plan = "[[plan.boot]]\nname = \"uefi\"\narch = \"efi-x64\"\nchain = \"efi/ipxe.efi\"\n\
                stages = [\"efi/boot.ipxe\"]\n";
    let (_server, log) = serve_plan(&lab, 77, "", plan, "1 rule(s)");
    let console = lab.boot_ovmf(mac, OvmfNic::IpxeRom(IPXE_E1000_ROM));
    let line = format!("{marker} efi");
    assert!(
        console.wait(&line, Duration::from_secs(180)),
        "{line:?} never appeared; serial console:\n{}\nserver:\n{}",
        console.text(),
        log.text()
    );
    let done =
        format!("plan: {mac} (10.77.1.100) fetched stage 1/1 efi/boot.ipxe; boot phase complete");
    assert!(log.wait(&done, Duration::from_secs(10)), "{}", log.text());
    assert!(!log.text().contains("file efi/ipxe.efi"), "{}", log.text());
}
