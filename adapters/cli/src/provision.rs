//! `netboot provision`: the client flow. BOOTP (broadcast on `--interface`,
//! or unicast to `--server`), TFTP each stage into `--out`, repeat until
//! BOOTP is silent, read the last stage as the manifest, fetch its files over
//! FTP, verify their digests, and print a summary (`--json` for a report).
//!
//! Settings may also come from the `[provision]` table of `--config`; flags
//! override it. Exit codes: 40 no BOOTP answer, 41 TFTP failure, 42 bad
//! manifest, 43 FTP failure, 44 digest mismatch (and 2 a bad command line,
//! 3 a bad configuration or argument value, 4 a socket that cannot be
//! bound, 130/143 interrupted, 1 anything else).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use netboot_core::bootp::HwAddr;
use netboot_core::plan::Hex;
use netboot_core::provision::{Event, FailedStep, Report};
use netboot_mio::provision::Provisioner;
use serde::Deserialize;

use crate::exit::CliError;
use crate::interrupt;
use crate::output;
use crate::progress::Progress;

/// Options of `netboot provision`.
#[derive(Args, Debug, Default)]
pub struct ProvisionArgs {
    /// TOML file with a [provision] table; flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Broadcast BOOTP through this interface (its MAC is the default
    /// --mac).
    #[arg(long, value_name = "IF")]
    interface: Option<String>,
    /// Give --interface the address BOOTP assigns (with `ip addr`; needs
    /// CAP_NET_ADMIN), as a DHCP client does, so that stages are fetched
    /// from it.
    #[arg(long)]
    configure_address: bool,
    /// Unicast BOOTP to this server instead of broadcasting (port 67 by
    /// default).
    #[arg(long, value_name = "ADDR[:PORT]", value_parser = parse_v4_server)]
    server: Option<SocketAddrV4>,
    /// The hardware address to ask with.
    #[arg(long, value_name = "MAC")]
    mac: Option<HwAddr>,
    /// Where stages and files are stored [default: .].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The local BOOTP port [default: 68; 0 for any, with --server].
    #[arg(long, value_name = "N")]
    client_port: Option<u16>,
    /// The boot server's TFTP port [default: 69].
    #[arg(long, value_name = "N")]
    tftp_port: Option<u16>,
    /// The FTP port when the address comes from BOOTP [default: 21].
    #[arg(long, value_name = "N")]
    ftp_port: Option<u16>,
    /// Fetch the manifest's files from this FTP server.
    #[arg(long, value_name = "ADDR:PORT")]
    ftp_server: Option<SocketAddr>,
    /// FTP user [default: anonymous].
    #[arg(long, value_name = "NAME")]
    user: Option<String>,
    /// FTP password (visible in `ps`: prefer --password-file,
    /// NETBOOT_PASSWORD or ~/.netrc) [default: netboot@].
    #[arg(long, value_name = "TEXT")]
    password: Option<String>,
    /// Ask with DHCP instead of plain BOOTP.
    #[arg(long)]
    dhcp: bool,
    /// Seconds BOOTP must stay silent after a stage to end the boot phase
    /// [default: 10].
    #[arg(long, value_name = "SECS")]
    silence: Option<f64>,
    /// Seconds to wait for a first BOOTP answer [default: 30].
    #[arg(long, value_name = "SECS")]
    timeout: Option<f64>,
    /// Read the FTP password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

/// The whole file: other tables (a shared lab file) are ignored.
#[derive(Deserialize, Default)]
struct File {
    provision: Option<Table>,
    #[serde(flatten)]
    _other: toml::Table,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Table {
    interface: Option<String>,
    #[serde(default)]
    configure_address: bool,
    server: Option<String>,
    mac: Option<String>,
    out: Option<PathBuf>,
    client_port: Option<u16>,
    tftp_port: Option<u16>,
    ftp_port: Option<u16>,
    ftp_server: Option<SocketAddr>,
    user: Option<String>,
    password: Option<String>,
    #[serde(default)]
    dhcp: bool,
    silence: Option<f64>,
    timeout: Option<f64>,
}

fn parse_v4_server(s: &str) -> Result<SocketAddrV4, String> {
    if let Ok(a) = s.parse::<SocketAddrV4>() {
        return Ok(a);
    }
    s.parse::<Ipv4Addr>()
        .map(|ip| SocketAddrV4::new(ip, netboot_core::wire::bootp::SERVER_PORT))
        .map_err(|_| format!("{s:?} is not IPV4ADDRESS or IPV4ADDRESS:PORT"))
}

fn seconds(what: &str, v: f64) -> Result<Duration, CliError> {
    if v.is_finite() && v > 0.0 && v <= 3600.0 {
        Ok(Duration::from_secs_f64(v))
    } else {
        Err(CliError::config(format!(
            "{what} must be between 0 and 3600 seconds"
        )))
    }
}

/// Merges the `[provision]` table of `--config` under the flags.
fn merge(mut a: ProvisionArgs) -> Result<ProvisionArgs, CliError> {
    let Some(path) = a.config.clone() else {
        return Ok(a);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
    let file: File =
        toml::from_str(&text).map_err(|e| crate::bootp::config::toml_error(&path, &text, &e))?;
    let t = file.provision.unwrap_or_default();
    let bad = |what: &str, v: &str| {
        CliError::config(format!("{}: {what} {v:?} is not valid", path.display()))
    };
    a.interface = a.interface.or(t.interface);
    a.configure_address |= t.configure_address;
    if a.server.is_none()
        && let Some(s) = t.server
    {
        a.server = Some(parse_v4_server(&s).map_err(|_| bad("server", &s))?);
    }
    if a.mac.is_none()
        && let Some(m) = t.mac
    {
        a.mac = Some(m.parse().map_err(|_| bad("mac", &m))?);
    }
    a.out = a.out.or(t.out);
    a.client_port = a.client_port.or(t.client_port);
    a.tftp_port = a.tftp_port.or(t.tftp_port);
    a.ftp_port = a.ftp_port.or(t.ftp_port);
    a.ftp_server = a.ftp_server.or(t.ftp_server);
    a.user = a.user.or(t.user);
    a.password = a.password.or(t.password);
    a.dhcp |= t.dhcp;
    a.silence = a.silence.or(t.silence);
    a.timeout = a.timeout.or(t.timeout);
    Ok(a)
}

/// The exit code of a failed flow.
pub fn exit_code(step: FailedStep) -> u8 {
    match step {
        FailedStep::Bootp => 40,
        FailedStep::Tftp => 41,
        FailedStep::Manifest => 42,
        FailedStep::Ftp => 43,
        FailedStep::Digest => 44,
        FailedStep::Local => 1,
    }
}

/// One line for an event worth showing, or `None`.
pub fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Assigned {
            ip, server, file, ..
        } => {
            format!("bootp: got {ip}; next stage {file} from {server}")
        }
        Event::StageDone { index, file, bytes } => {
            format!("tftp: stage {} {file}: {bytes} bytes", index + 1)
        }
        Event::StageRetry { file, error } => {
            format!("tftp: {file} failed ({error}); asking BOOTP again")
        }
        Event::BootDone => "bootp: no answer: the boot phase is over".to_string(),
        Event::ManifestRead {
            file,
            files,
            server,
        } => format!("manifest: {file} names {files} file(s) on {server}"),
        Event::LoggedIn { server } => format!("ftp: logged in to {server}"),
        Event::FileDone {
            path,
            bytes,
            sha256,
            verified,
            ..
        } => format!(
            "ftp: {path}: {bytes} bytes, sha256 {}{}",
            &Hex(sha256).to_string()[..16],
            if *verified { " verified" } else { "" }
        ),
        Event::FtpRetry { path, reason } => match path {
            Some(p) => format!("ftp: {p} failed ({reason}); reconnecting"),
            None => format!("ftp: {reason}; reconnecting"),
        },
        _ => return None,
    })
}

/// The closing summary of a run.
pub fn summary(hw: &HwAddr, report: &Report) -> String {
    let mut s = String::new();
    let took = report.elapsed.map_or(0.0, |d| d.as_micros() as f64 / 1e6);
    let stage_bytes: u64 = report.stages.iter().map(|x| x.bytes).sum();
    let file_bytes: u64 = report.files.iter().map(|x| x.bytes).sum();
    let verified = report.files.iter().filter(|f| f.verified).count();
    match &report.error {
        None => s.push_str(&format!(
            "provisioned {hw} as {} in {took:.1} s\n",
            report.address.map_or("-".to_string(), |a| a.to_string())
        )),
        Some((_, e)) => s.push_str(&format!("provisioning {hw} failed: {e}\n")),
    }
    s.push_str(&format!(
        "  {} stage(s), {stage_bytes} bytes: {}\n",
        report.stages.len(),
        report
            .stages
            .iter()
            .map(|x| x.file.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ));
    s.push_str(&format!(
        "  {} file(s), {file_bytes} bytes, {verified} verified by SHA-256{}\n",
        report.files.len(),
        report
            .ftp_server
            .map_or(String::new(), |a| format!(", from {a}"))
    ));
    for f in &report.files {
        s.push_str(&format!(
            "    {:<32} {:>10}  {}{}\n",
            f.path,
            f.bytes,
            Hex(&f.sha256),
            if f.verified { "  verified" } else { "" }
        ));
    }
    if report.retries > 0 {
        s.push_str(&format!("  {} retried download(s)\n", report.retries));
    }
    s
}

/// The machine-readable report.
pub fn json(hw: &HwAddr, report: &Report) -> serde_json::Value {
    serde_json::json!({
        "mac": hw.to_string(),
        "success": report.is_success(),
        "exit_code": report.error.as_ref().map_or(0, |(step, _)| exit_code(*step)),
        "address": report.address.map(|a| a.to_string()),
        "elapsed_ms": report.elapsed.map(|d| d.as_micros() / 1000),
        "stages": report.stages.iter().map(|s| serde_json::json!({
            "file": s.file, "server": s.server.to_string(), "bytes": s.bytes,
        })).collect::<Vec<_>>(),
        "manifest": report.manifest,
        "ftp_server": report.ftp_server.map(|a| a.to_string()),
        "files": report.files.iter().map(|f| serde_json::json!({
            "path": f.path, "bytes": f.bytes, "sha256": Hex(&f.sha256).to_string(),
            "verified": f.verified,
        })).collect::<Vec<_>>(),
        "retries": report.retries,
        "error": report.error.as_ref().map(|(step, message)| serde_json::json!({
            "step": format!("{step:?}").to_lowercase(), "message": message,
        })),
    })
}

/// Shows a progress bar per download when standard error is a terminal.
#[derive(Clone, Default)]
pub struct Bars(Arc<Mutex<Option<Progress>>>);

impl Bars {
    /// Starts, updates or removes the bar for `event`.
    pub fn event(&self, event: &Event) {
        let mut bar = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            Event::StageStarted { file, .. } => *bar = Some(Progress::new(file, None)),
            Event::FileStarted { path, size, .. } => *bar = Some(Progress::new(path, *size)),
            Event::StageDone { .. }
            | Event::StageRetry { .. }
            | Event::FileDone { .. }
            | Event::FtpRetry { .. }
            | Event::Finished
            | Event::Failed => {
                if let Some(b) = bar.take() {
                    b.finish();
                }
            }
            _ => {}
        }
    }

    /// Moves the current bar.
    pub fn progress(&self, p: netboot_core::provision::Progress) {
        let bar = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = bar.as_ref() {
            if let Some(t) = p.total {
                b.set_total(t);
            }
            b.set(p.bytes);
        }
    }
}

/// Runs `netboot provision`.
pub fn run(args: ProvisionArgs) -> Result<(), CliError> {
    let args = merge(args)?;
    let hw = match (args.mac, &args.interface) {
        (Some(mac), _) => mac,
        (None, Some(i)) => {
            netboot_std::os::interface_hw_addr(i).map_err(|e| CliError::config(e.to_string()))?
        }
        (None, None) => {
            return Err(CliError::config(
                "give --interface IF (to broadcast through it) or --mac MAC",
            ));
        }
    };
    let out = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
    // Made here so that the only permission problem left to `run` is a port.
    std::fs::create_dir_all(&out)
        .map_err(|e| CliError::other(format!("cannot create {}: {e}", out.display())))?;
    let mut p = Provisioner::new(hw, &out);
    if let Some(s) = args.server {
        p = p.server(s);
    }
    if let Some(i) = &args.interface {
        p = p.interface(i.clone());
    }
    if args.configure_address {
        if args.interface.is_none() {
            return Err(CliError::config("--configure-address needs --interface"));
        }
        p = p.configure_address(true);
    }
    if let Some(n) = args.client_port {
        p = p.client_port(n);
    }
    if let Some(n) = args.tftp_port {
        p = p.tftp_port(n);
    }
    if let Some(n) = args.ftp_port {
        p = p.ftp_port(n);
    }
    if let Some(a) = args.ftp_server {
        p = p.ftp_server(a);
    }
    // The password: --password (or the config file's), --password-file,
    // NETBOOT_PASSWORD, then .netrc for the FTP server's address.
    let host = args
        .ftp_server
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let login = crate::login::resolve(
        &host,
        args.user.clone(),
        args.password.clone(),
        args.password_file.as_deref(),
    )?;
    if login != crate::login::Login::anonymous() {
        p = p
            .login(&login.user, &login.password)
            .map_err(|e| CliError::config(e.to_string()))?;
    }
    if let Some(s) = args.silence {
        p = p.silence(seconds("--silence", s)?);
    }
    if let Some(s) = args.timeout {
        p = p.first_answer(seconds("--timeout", s)?);
    }
    p = p.dhcp(args.dhcp);
    let bars = Bars::default();
    let b = bars.clone();
    p = p.on_event(move |event| {
        b.event(event);
        if let Some(line) = describe(event) {
            // On standard error with --json, not at all with -q.
            output::say(&line);
        }
    });
    p = p.on_progress(move |progress| bars.progress(progress));
    p = p.cancel_on(interrupt::install()?);
    let report = p.run().map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::AddrInUse => CliError::bind(
            format!("{e} (with --server, --client-port 0 asks from any free port)"),
        ),
        _ => CliError::other(e.to_string()),
    })?;
    interrupt::check()?;
    if output::json() {
        output::print_json(&json(&hw, &report))?;
    } else if output::chatty() {
        output::write(summary(&hw, &report).as_bytes())?;
    }
    match &report.error {
        None => Ok(()),
        Some((step, message)) => Err(CliError::new(exit_code(*step), message.clone())),
    }
}
