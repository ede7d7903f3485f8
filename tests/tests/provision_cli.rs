//! The `netboot serve`, `netboot provision` and `netboot demo` commands as
//! processes over loopback: the README's main command, a configuration file,
//! one line per client step, a clean stop that saves leases and progress,
//! the exit code of every failure, and the privilege error on standard
//! ports.

mod provision_support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netboot_tests::lab::{Output, spawn};
use netboot_tests::netboot_command;
use netboot_tests::{
    ChildGuard, free_tcp_port, free_udp_port, in_ci, is_root, netboot_bin, require_program,
};
use provision_support::*;

/// `netboot serve` on loopback ports from a configuration file.
struct Serve {
    guard: ChildGuard,
    log: Output,
    bootp: u16,
    tftp: u16,
    ftp: u16,
}

fn write_config(dir: &Path, root: &Path, net: u8, extra: &str) -> (std::path::PathBuf, [u16; 3]) {
    let ports = [free_udp_port(), free_udp_port(), free_tcp_port()];
    let config = dir.join("lab.toml");
    std::fs::write(
        &config,
        format!(
            "root = \"{}\"\n\n[bootp]\nserver = \"127.0.0.1\"\nsubnet = \"127.0.0.0/8\"\n\
             pool = {{ start = \"127.{net}.0.1\", end = \"127.{net}.0.50\" }}\n\
             listen = \"127.0.0.1:{}\"\nlease_file = \"lab.leases\"\n\n\
             [tftp]\nlisten = [\"127.0.0.1:{}\"]\n\n[ftp]\nlisten = \"127.0.0.1:{}\"\nanonymous = true\n\n\
             [plan]\nstages = [\"{}\", \"{}\", \"{}\"]\nprogress_file = \"lab.progress\"\n{extra}",
            root.display(),
            ports[0],
            ports[1],
            ports[2],
            STAGES[0],
            STAGES[1],
            STAGES[2],
        ),
    )
    .unwrap();
    (config, ports)
}

fn serve(config: &Path, ports: [u16; 3], flags: &[&str]) -> Serve {
    let (guard, log) = spawn(
        "netboot serve",
        netboot_command()
            .arg("serve")
            .arg("--config")
            .arg(config)
            .args(flags),
    );
    assert!(
        log.wait("plan: ", Duration::from_secs(20)),
        "serve did not start:\n{}",
        log.text()
    );
    Serve {
        guard,
        log,
        bootp: ports[0],
        tftp: ports[1],
        ftp: ports[2],
    }
}

impl Serve {
    fn ports(&self) -> [u16; 3] {
        [self.bootp, self.tftp, self.ftp]
    }
}

/// Runs `netboot provision` against the server on `ports` (BOOTP, TFTP,
/// FTP); returns exit code, stdout, stderr.
fn provision(ports: [u16; 3], mac: &str, out: &Path, extra: &[&str]) -> (i32, String, String) {
    provision_env(ports, mac, out, extra, &[])
}

/// [`provision`] with these environment variables set.
fn provision_env(
    ports: [u16; 3],
    mac: &str,
    out: &Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> (i32, String, String) {
    let mut cmd = Command::new(netboot_bin());
    cmd.env_remove("NETBOOT_PASSWORD")
        .env("NETRC", out.join("no-netrc"))
        .envs(env.iter().copied());
    cmd.args([
        "provision",
        "--json",
        "--silence",
        "1",
        "--timeout",
        "3",
        "--client-port",
        "0",
    ])
    .args(["--server", &format!("127.0.0.1:{}", ports[0])])
    .args(["--tftp-port", &ports[1].to_string()])
    .args(["--ftp-port", &ports[2].to_string()])
    .args(["--mac", mac])
    .arg("--out")
    .arg(out)
    .args(extra);
    let (status, stdout, stderr) = ChildGuard::spawn("netboot provision", &mut cmd)
        .unwrap()
        .wait_timeout(Duration::from_secs(90));
    let status = status.expect("provision finished in time");
    (status.code().unwrap_or(-1), stdout, stderr)
}

#[test]
fn the_readme_demo_command_exits_zero_with_every_file_identical() {
    let (status, stdout, stderr) = ChildGuard::spawn("netboot demo", netboot_command().arg("demo"))
        .unwrap()
        .wait_timeout(Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("demo: all 7 files arrived byte-identical"),
        "{stdout}"
    );
    // Both sides' steps are shown.
    for step in [
        "server | bootp: BOOTREPLY 127.77.0.1 to 02:6e:62:de:00:01 next-server 127.0.0.1 file boot/stage1.ipxe",
        "server | plan: 02:6e:62:de:00:01 (127.77.0.1) fetched stage 3/3 manifest.txt; boot phase complete",
        "client | bootp: no answer: the boot phase is over",
        "client | ftp: firmware/app.bin: 98304 bytes, sha256 b569cb2748b3e02a verified",
        "provisioned 02:6e:62:de:00:01 as 127.77.0.1",
    ] {
        assert!(stdout.contains(step), "missing {step:?}:\n{stdout}");
    }
}

#[test]
fn serve_and_provision_processes_then_a_clean_stop_saves_state() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write_root(&root);
    let (config, ports) = write_config(dir.path(), &root, 21, "");
    let s = serve(&config, ports, &[]);
    assert!(
        s.log
            .text()
            .contains(&format!("bootp: listening on 127.0.0.1:{}", s.bootp))
    );
    assert!(
        s.log
            .text()
            .contains(&format!("tftp: listening on 127.0.0.1:{}", s.tftp))
    );
    assert!(
        s.log
            .text()
            .contains(&format!("ftp: listening on 127.0.0.1:{}", s.ftp))
    );
    let out = dir.path().join("out");
    let mac = "02:6e:62:00:21:01";
    let (code, stdout, stderr) = provision(s.ports(), mac, &out, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}\nserver:\n{}", s.log.text());
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["success"], true);
    assert_eq!(report["exit_code"], 0);
    assert_eq!(report["address"], "127.21.0.1");
    assert_eq!(report["stages"].as_array().unwrap().len(), 3);
    assert_eq!(report["files"][0]["path"], FILES[0].0);
    assert_eq!(report["files"][0]["verified"], true);
    assert_eq!(report["files"][0]["bytes"], FILES[0].1);
    // Steps went to standard error in JSON mode.
    assert!(
        stderr.contains("manifest: manifest.txt names 4 file(s)"),
        "{stderr}"
    );
    assert_identical(&root, &out);
    // One line per client step on the server's standard output.
    let log = s.log.text();
    for step in [
        format!(
            "bootp: BOOTREPLY 127.21.0.1 to {mac} next-server 127.0.0.1 file {}",
            STAGES[0]
        ),
        "tftp: 127.21.0.1:".to_string(),
        format!("plan: {mac} (127.21.0.1) fetched stage 2/3 {}", STAGES[1]),
        format!("bootp: no answer to {mac}: the boot policy says it is done"),
        format!(
            "anonymous RETR /{} complete, {} bytes",
            FILES[0].0, FILES[0].1
        ),
    ] {
        assert!(log.contains(&step), "missing {step:?}:\n{log}");
    }
    // The client asked several times before concluding it was done; the
    // server said so once.
    assert_eq!(log.matches("no answer to").count(), 1, "{log}");
    let Serve { guard, log, .. } = s;
    guard.signal("TERM");
    let (status, _, _) = guard.wait_timeout(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "serve did not stop cleanly"
    );
    assert!(
        log.wait(
            "netboot: stopped; leases and plan progress saved",
            Duration::from_secs(5)
        ),
        "{}",
        log.text()
    );
    let leases = std::fs::read_to_string(dir.path().join("lab.leases")).unwrap();
    assert!(
        leases.contains(&format!("127.21.0.1 bound never 1-{mac}")),
        "{leases}"
    );
    let progress = std::fs::read_to_string(dir.path().join("lab.progress")).unwrap();
    assert!(progress.contains(&format!("{mac} 3")), "{progress}");
}

#[test]
fn each_failure_has_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write_root(&root);
    let (config, ports) = write_config(dir.path(), &root, 22, "");
    let s = serve(&config, ports, &[]);
    let run = |name: &str, ports: [u16; 3]| {
        let out = dir.path().join(name);
        let (code, stdout, stderr) = provision(ports, &format!("02:6e:62:00:22:{name}"), &out, &[]);
        let report: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{name}: {e}: {stdout}\n{stderr}"));
        assert_eq!(report["exit_code"], code, "{name}");
        (code, report, stderr, out)
    };

    // 44: a digest the file does not have; the file is not kept.
    spoil_digest(&root, FILES[0].0);
    let (code, report, stderr, out) = run("44", s.ports());
    assert_eq!(code, 44, "{stderr}");
    assert_eq!(report["error"]["step"], "digest");
    assert!(stderr.contains("SHA-256 mismatch"), "{stderr}");
    assert!(!out.join(FILES[0].0).exists());
    assert_no_temporaries(&out);

    // 42: a manifest line that does not parse, named by its number.
    std::fs::write(
        root.join(STAGES[2]),
        "kernel: images/kernel.img\nnonsense\n",
    )
    .unwrap();
    let (code, report, stderr, _) = run("42", s.ports());
    assert_eq!(code, 42, "{stderr}");
    assert_eq!(
        report["error"]["message"],
        "manifest.txt: manifest line 2: expected 'key: filename'"
    );

    // 43: the FTP server refuses a file.
    std::fs::write(root.join(STAGES[2]), "kernel: images/missing.img\n").unwrap();
    let (code, report, _, _) = run("43", s.ports());
    assert_eq!(code, 43);
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("FTP server refused images/missing.img: 550"),
        "{report}"
    );

    // 41: a missing stage is a clear error at once.
    std::fs::remove_file(root.join(STAGES[1])).unwrap();
    let (code, report, stderr, out) = run("41", s.ports());
    assert_eq!(code, 41, "{stderr}");
    assert_eq!(
        report["error"]["message"],
        "TFTP download of boot/stage2.bin failed: server: file not found (1)"
    );
    assert!(
        stderr.contains("netboot: TFTP download of boot/stage2.bin failed"),
        "{stderr}"
    );
    assert!(!out.join(STAGES[1]).exists());

    // 40: nobody answers BOOTP.
    let nobody = [free_udp_port(), s.tftp, s.ftp];
    let (code, report, _, _) = run("40", nobody);
    assert_eq!(code, 40);
    assert_eq!(report["error"]["message"], "no BOOTP answer in 3s");
}

/// `netboot` as an ordinary user runs it. As root: every privilege
/// dropped, inside a private network namespace, so that should the standard
/// ports be bindable after all nothing listens or broadcasts on the host's
/// interfaces. Without root there is no private namespace: where this host
/// lets ordinary users bind ports below 69, the run would really listen (and
/// prove nothing), so it says so and gives `None`.
fn unprivileged_netboot(test: &str) -> Option<Command> {
    if is_root() {
        require_program(test, "setpriv")?;
        require_program(test, "unshare")?;
        let mut c = Command::new("unshare");
        c.args([
            "--net",
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(netboot_bin());
        return Some(c);
    }
    let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|v| v.trim().parse::<u32>().ok())
        .unwrap_or(1024);
    if start <= 68 {
        eprintln!(
            "SKIPPED {test}: net.ipv4.ip_unprivileged_port_start is {start}, so ports 67 and \
             68 are not privileged here"
        );
        return None;
    }
    Some(netboot_command())
}

#[test]
fn standard_ports_without_privilege_say_why_and_what_to_do() {
    let test = "standard_ports_without_privilege_say_why_and_what_to_do";
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write_root(&root);
    let config = dir.path().join("std.toml");
    std::fs::write(
        &config,
        format!(
            "root = \"{}\"\n[bootp]\nserver = \"127.0.0.1\"\nsubnet = \"127.0.0.0/8\"\n",
            root.display()
        ),
    )
    .unwrap();
    // Made readable for the unprivileged user below.
    for p in [dir.path(), &root, &config] {
        let _ = Command::new("chmod").arg("a+rx").arg(p).status();
    }
    let Some(mut cmd) = unprivileged_netboot(test) else {
        return;
    };
    cmd.arg("serve").arg("--config").arg(&config);
    let (status, _, stderr) = ChildGuard::spawn("netboot serve", &mut cmd)
        .unwrap()
        .wait_timeout(Duration::from_secs(20));
    let code = status.and_then(|s| s.code());
    if code != Some(4) && !in_ci() && !stderr.contains("privileged") {
        eprintln!("SKIPPED {test}: the standard ports could be bound here: {stderr}");
        return;
    }
    assert_eq!(code, Some(4), "{stderr}");
    assert!(
        stderr.contains("cannot bind 0.0.0.0:67: port 67 is privileged"),
        "{stderr}"
    );
    assert!(
        stderr.contains("run as root (or grant CAP_NET_BIND_SERVICE)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("--bootp-listen, --tftp-listen and --ftp-listen"),
        "{stderr}"
    );

    // The client's port 68 likewise.
    let Some(mut cmd) = unprivileged_netboot(test) else {
        return;
    };
    let out = dir.path().join("client");
    std::fs::create_dir(&out).unwrap();
    let _ = Command::new("chmod").arg("a+rwx").arg(&out).status();
    cmd.args(["provision", "--mac", "02:00:00:00:00:09", "--out"])
        .arg(&out);
    let (status, _, stderr) = ChildGuard::spawn("netboot provision", &mut cmd)
        .unwrap()
        .wait_timeout(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(4), "{stderr}");
    assert!(
        stderr.contains("cannot bind 0.0.0.0:68: port 68 is privileged"),
        "{stderr}"
    );
    assert!(stderr.contains("--client-port 0"), "{stderr}");
}

#[test]
fn a_bad_configuration_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("bad.toml");
    std::fs::write(
        &config,
        format!(
            "root = \"{}\"\n[bootp]\nserver = \"127.0.0.1\"\nsubnet = \"127.0.0.0/8\"\n[plan]\nstages = [\"a\", \"../../etc/shadow\"]\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let (status, _, stderr) = ChildGuard::spawn(
        "netboot serve",
        netboot_command().arg("serve").arg("--config").arg(&config),
    )
    .unwrap()
    .wait_timeout(Duration::from_secs(20));
    assert_eq!(status.and_then(|s| s.code()), Some(3), "{stderr}");
    assert!(
        stderr.contains("bad.toml:6: plan stages: stage 1: path contains a '..' component"),
        "{stderr}"
    );
}

/// Sends one FTP command and reads its reply (single-line replies only, as
/// this server sends for these commands).
fn ftp_command(
    control: &mut std::net::TcpStream,
    reader: &mut std::io::BufReader<std::net::TcpStream>,
    command: &str,
) -> String {
    use std::io::{BufRead, Write};
    if !command.is_empty() {
        control
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
    }
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        // Skip the lines of a multi-line reply up to its last.
        if line.len() >= 4 && line.as_bytes()[3] == b' ' {
            return line.trim_end().to_string();
        }
        assert!(!line.is_empty(), "connection closed after {command}");
    }
}

#[test]
fn a_stop_discards_an_upload_in_flight_and_saves_leases() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write_root(&root);
    let hash = netboot_std::ftp::auth::hash_with_cost("secret", 64, 1).unwrap();
    let (config, ports) = write_config(dir.path(), &root, 23, "");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text = text.replace(
        "anonymous = true\n",
        &format!(
            "anonymous = true\nwritable = true\nusers = [{{ name = \"lab\", password_hash = \"{hash}\" }}]\n"
        ),
    );
    std::fs::write(&config, text).unwrap();
    let s = serve(&config, ports, &[]);
    // A client gets an address first, so there is a lease to save.
    let (code, stdout, stderr) =
        provision(s.ports(), "02:6e:62:00:23:01", &dir.path().join("out"), &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");

    let mut control = std::net::TcpStream::connect(("127.0.0.1", s.ftp)).unwrap();
    control
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut reader = std::io::BufReader::new(control.try_clone().unwrap());
    assert!(ftp_command(&mut control, &mut reader, "").starts_with("220"));
    assert!(ftp_command(&mut control, &mut reader, "USER lab").starts_with("331"));
    assert!(ftp_command(&mut control, &mut reader, "PASS secret").starts_with("230"));
    assert!(ftp_command(&mut control, &mut reader, "TYPE I").starts_with("200"));
    let epsv = ftp_command(&mut control, &mut reader, "EPSV");
    let port: u16 = epsv
        .split("|||")
        .nth(1)
        .and_then(|r| r.split('|').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{epsv}"));
    std::fs::create_dir_all(root.join("incoming")).unwrap();
    let mut data = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let stor = ftp_command(&mut control, &mut reader, "STOR incoming/new.img");
    assert!(stor.starts_with("125") || stor.starts_with("150"), "{stor}");
    data.write_all(&vec![7u8; 200_000]).unwrap();
    // The upload is running (its hidden file exists); the server is told
    // to stop.
    let running = netboot_tests::wait_for(Duration::from_secs(5), || {
        std::fs::read_dir(root.join("incoming"))
            .ok()
            .and_then(|mut d| d.next())
            .map(|_| ())
    });
    assert!(running.is_some(), "the upload never started");
    let Serve { guard, log, .. } = s;
    guard.signal("TERM");
    let (status, _, _) = guard.wait_timeout(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.success()), "{}", log.text());
    drop(data);
    assert!(
        !root.join("incoming/new.img").exists(),
        "the partial upload was published"
    );
    assert_no_temporaries(&root);
    assert!(log.wait(
        "netboot: stopped; leases and plan progress saved",
        Duration::from_secs(5)
    ));
    let leases = std::fs::read_to_string(dir.path().join("lab.leases")).unwrap();
    assert!(leases.contains("127.23.0.1 bound"), "{leases}");
}

#[test]
fn the_ftp_password_comes_from_the_environment_or_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    write_root(&root);
    let hash = netboot_std::ftp::auth::hash_with_cost("secret", 64, 1).unwrap();
    let (config, ports) = write_config(dir.path(), &root, 24, "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "anonymous = true\n",
        &format!("anonymous = false\nusers = [{{ name = \"lab\", password_hash = \"{hash}\" }}]\n"),
    );
    std::fs::write(&config, text).unwrap();
    let s = serve(&config, ports, &[]);
    let env = [("NETBOOT_PASSWORD", "secret")];
    let out = dir.path().join("env");
    let (code, stdout, stderr) = provision_env(
        s.ports(),
        "02:6e:62:00:24:01",
        &out,
        &["--user", "lab"],
        &env,
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["files"].as_array().unwrap().len(), FILES.len());
    // --password-file comes before NETBOOT_PASSWORD: a wrong one fails
    // the FTP step.
    let pw = dir.path().join("pw.txt");
    std::fs::write(&pw, "wrong\n").unwrap();
    let out = dir.path().join("file");
    let (code, stdout, stderr) = provision_env(
        s.ports(),
        "02:6e:62:00:24:02",
        &out,
        &["--user", "lab", "--password-file", pw.to_str().unwrap()],
        &env,
    );
    assert_eq!(code, 43, "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["error"]["step"], "ftp");
}
