//! `netboot serve`: BOOTP (with DHCP compatibility), TFTP and FTP in one
//! process on one event loop, handing out the provisioning plan: a
//! [`ServerSetup`] from the configuration, run by the mio
//! [`Server`].
//!
//! Settings come from a TOML file (`--config`) and flags override them:
//!
//! ```toml
//! root = "/srv/netboot"               # --root
//!
//! [bootp]                             # the format of `netboot bootp serve`
//! server = "10.0.0.1"
//! subnet = "10.0.0.0/24"
//! pool = { start = "10.0.0.100", end = "10.0.0.199" }
//! interface = "eth1"                  # --interface
//! lease_file = "netboot.leases"       # relative to this file; --lease-file
//! listen = "0.0.0.0:67"               # --bootp-listen
//!
//! [tftp]
//! listen = ["0.0.0.0:69"]             # --tftp-listen (repeatable)
//! max_blksize = 1468
//!
//! [ftp]                               # the format of `netboot ftp serve`
//! listen = "0.0.0.0:21"               # --ftp-listen
//! anonymous = true                    # the default here
//!
//! [plan]
//! stages = ["boot/stage1.ipxe", "manifest.txt"]   # everyone else; --stage
//! reset_after = 300                   # seconds, or "never"; --reset-after
//! progress_file = "netboot.progress"  # --progress-file
//!
//! [[plan.client]]
//! mac = "52:54:00:12:34:56"
//! stages = ["board1/u-boot.img", "board1/manifest.txt"]
//!
//! [[plan.boot]]                       # match rules: see `plan.rs`
//! arch = "efi-x64"
//! chain = "ipxe/ipxe.efi"
//! stages = ["ipxe/uefi.ipxe", "manifest.txt"]
//! ```
//!
//! Without a file, BOOTP needs `--no-bootp` (it cannot guess its subnet).
//! Plain BOOTP clients get pool addresses (`bootp_dynamic` defaults to true
//! here: provisioning clients speak plain BOOTP). Each client step is one
//! line on standard output. SIGINT and SIGTERM stop the server cleanly:
//! running transfers are cancelled, partial uploads discarded, leases and
//! progress saved (when files are configured for them; the closing line says
//! so only when the final save made it). Exit codes: 3 bad configuration,
//! 4 cannot bind.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use netboot_core::plan::Reset;
use netboot_mio::server::Server;
use netboot_std::ftp::FtpConfig;
use netboot_std::setup::ServerSetup;
use serde::Deserialize;

use crate::bootp::config as bootp_config;
use crate::exit::CliError;
use crate::plan::{PlanTable, ResetAfter};

/// Options of `netboot serve`; each overrides the configuration file.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Directory to serve over TFTP and FTP (the jail).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Bind BOOTP to this interface and broadcast through it.
    #[arg(long, value_name = "IF")]
    interface: Option<String>,
    /// BOOTP address and port [default: 0.0.0.0:67].
    #[arg(long, value_name = "ADDR:PORT")]
    bootp_listen: Option<SocketAddr>,
    /// TFTP address and port, repeatable [default: 0.0.0.0:69].
    #[arg(long, value_name = "ADDR:PORT")]
    tftp_listen: Vec<SocketAddr>,
    /// FTP control address and port [default: 0.0.0.0:21].
    #[arg(long, value_name = "ADDR:PORT")]
    ftp_listen: Option<SocketAddr>,
    /// Do not run BOOTP.
    #[arg(long)]
    no_bootp: bool,
    /// Do not run TFTP.
    #[arg(long)]
    no_tftp: bool,
    /// Do not run FTP.
    #[arg(long)]
    no_ftp: bool,
    /// Keep BOOTP leases in this file.
    #[arg(long, value_name = "FILE")]
    lease_file: Option<PathBuf>,
    /// Keep plan progress in this file.
    #[arg(long, value_name = "FILE")]
    progress_file: Option<PathBuf>,
    /// A boot stage of the default plan, in order (repeatable; replaces
    /// the file's `stages`).
    #[arg(long = "stage", value_name = "FILE")]
    stages: Vec<String>,
    /// Seconds of silence after a client's last stage before it is served
    /// again from its first, or `never`.
    #[arg(long, value_name = "SECS|never")]
    reset_after: Option<String>,
    /// Do not print a line per client step.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    root: Option<PathBuf>,
    bootp: Option<bootp_config::Raw>,
    tftp: Option<TftpTable>,
    ftp: Option<FtpConfig>,
    plan: Option<PlanTable>,
}

/// Whether the `[ftp]` table says anything about anonymous logins.
#[derive(Deserialize, Default)]
struct FtpProbe {
    ftp: Option<AnonymousProbe>,
}

#[derive(Deserialize, Default)]
struct AnonymousProbe {
    anonymous: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TftpTable {
    #[serde(default)]
    listen: Vec<SocketAddr>,
    max_blksize: Option<u16>,
    max_windowsize: Option<u16>,
    max_transfers: Option<usize>,
    busy_poll_us: Option<u64>,
}

/// What `serve` runs, once the file and the flags are merged.
struct Settings {
    setup: ServerSetup,
    /// The loop's spin after traffic, when `[tftp] busy_poll_us` sets it.
    spin: Option<Duration>,
    /// What is saved at shutdown, for the closing line.
    saved: Vec<&'static str>,
    root: PathBuf,
    interface: Option<String>,
    clients: usize,
    rules: usize,
    default_stages: Option<usize>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

fn relative_to(config: Option<&Path>, p: PathBuf) -> PathBuf {
    match config.and_then(Path::parent) {
        Some(dir) if p.is_relative() => dir.join(p),
        _ => p,
    }
}

fn parse_reset(text: &str) -> Option<Reset> {
    match text.trim() {
        "never" => Some(Reset::Never),
        secs => secs
            .parse()
            .ok()
            .map(|s| Reset::After(netboot_core::time::Duration::from_secs(s))),
    }
}

/// Builds the server from the file at `path` (if any) and the flags.
fn settings(args: ServeArgs) -> Result<Settings, CliError> {
    let (file, text) = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
            let file: FileConfig =
                toml::from_str(&text).map_err(|e| bootp_config::toml_error(path, &text, &e))?;
            (file, text)
        }
        None => (FileConfig::default(), String::new()),
    };
    let path = args.config.as_deref().unwrap_or(Path::new("(flags)"));
    let at = |span: std::ops::Range<usize>, what: String| {
        CliError::config(format!(
            "{}:{}: {what}",
            path.display(),
            line_of(&text, span.start)
        ))
    };
    let root = args
        .root
        .or_else(|| file.root.map(|r| relative_to(args.config.as_deref(), r)))
        .ok_or_else(|| {
            CliError::config("no root directory: give --root DIR or `root` in --config")
        })?;
    if !root.is_dir() {
        return Err(CliError::config(format!(
            "root {} is not a directory",
            root.display()
        )));
    }

    // The plan.
    let plan = file.plan.unwrap_or_default();
    let stages: Option<Vec<String>> = if args.stages.is_empty() {
        plan.stages.as_ref().map(|s| s.get_ref().clone())
    } else {
        Some(args.stages.clone())
    };
    let src = crate::plan::Source { path, text: &text };
    let profiles = crate::plan::profiles(&src, &plan, stages.as_deref())?;
    for stage in profiles.files() {
        let resolved = netboot_core::path::resolve("", stage, netboot_core::path::DotDot::Reject)
            .map(|p| root.join(p.as_str()));
        if !resolved.as_ref().is_ok_and(|p| p.is_file()) {
            eprintln!(
                "netboot: warning: stage {stage} is not a file in {}",
                root.display()
            );
        }
    }
    let reset = match (&args.reset_after, &plan.reset_after) {
        (Some(flag), _) => parse_reset(flag).ok_or_else(|| {
            CliError::config(format!(
                "--reset-after {flag:?}: expected seconds or `never`"
            ))
        })?,
        (None, Some(r)) => match r.get_ref() {
            ResetAfter::Secs(s) => Reset::After(netboot_core::time::Duration::from_secs(*s)),
            ResetAfter::Word(w) => parse_reset(w).ok_or_else(|| {
                at(
                    r.span(),
                    format!("reset_after {w:?}: expected seconds or \"never\""),
                )
            })?,
        },
        (None, None) => Reset::After(netboot_core::time::Duration::from_secs(300)),
    };
    let clients = plan.client.len();
    let rules = plan.boot.len();
    let default_stages = stages.as_ref().map(Vec::len);

    let mut setup = ServerSetup::new(&root).plan(profiles, reset);
    let mut saved = Vec::new();
    let mut interface = args.interface.clone();
    // BOOTP.
    match (args.no_bootp, file.bootp) {
        (true, _) => setup = setup.no_bootp(),
        (false, None) => {
            return Err(CliError::config(
                "BOOTP needs its subnet: give a [bootp] table (server, subnet, pool) in --config, or --no-bootp",
            ));
        }
        (false, Some(raw)) => {
            let b = bootp_config::check(path, &text, raw, true)?;
            interface = interface.or(b.interface);
            setup = setup
                .bootp(b.server.config().clone())
                .hosts(b.server.hosts().to_vec())
                .bootp_listen(args.bootp_listen.unwrap_or(b.listen));
            if let Some(f) = args.lease_file.clone().or(b.lease_file) {
                setup = setup.lease_file(f);
                saved.push("leases");
            }
        }
    }
    if let Some(i) = &interface {
        setup = setup
            .interface(i)
            .map_err(|e| CliError::config(e.to_string()))?;
    }
    // TFTP.
    let tftp = file.tftp.unwrap_or_default();
    let mut spin = None;
    if args.no_tftp {
        setup = setup.no_tftp();
    } else {
        let listens = if args.tftp_listen.is_empty() {
            tftp.listen.clone()
        } else {
            args.tftp_listen.clone()
        };
        for l in listens {
            setup = setup.tftp_listen(l);
        }
        spin = tftp.busy_poll_us.map(crate::tftp::busy_poll).transpose()?;
        setup = setup.tftp_config(|t| {
            if let Some(n) = tftp.max_blksize {
                t.server.limits.max_blksize = n.clamp(8, 65464);
            }
            if let Some(n) = tftp.max_windowsize {
                t.server.limits.max_windowsize = n.max(1);
            }
            if let Some(n) = tftp.max_transfers {
                t.max_transfers = n.max(1);
            }
        });
    }
    // FTP.
    if args.no_ftp {
        setup = setup.no_ftp();
    } else {
        // Provisioning clients log in anonymously unless told otherwise: an
        // [ftp] table that does not mention `anonymous` allows it.
        let said = toml::from_str::<FtpProbe>(&text)
            .ok()
            .and_then(|p| p.ftp)
            .and_then(|f| f.anonymous);
        let mut ftp = file.ftp.unwrap_or_default();
        ftp.anonymous = said.unwrap_or(true);
        if let Some(l) = args.ftp_listen {
            ftp.listen = l;
        }
        setup = setup.ftp(ftp);
    }
    if let Some(p) = args.progress_file.or_else(|| {
        plan.progress_file
            .map(|p| relative_to(args.config.as_deref(), p))
    }) {
        setup = setup.progress_file(p);
        saved.push("plan progress");
    }
    Ok(Settings {
        setup,
        spin,
        saved,
        root,
        interface,
        clients,
        rules,
        default_stages,
    })
}

/// Runs `netboot serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<(), CliError> {
    let quiet = args.quiet;
    let s = settings(args)?;
    let mut server = Server::bind(s.setup).map_err(|e| {
        CliError::start(
            &e,
            "--bootp-listen, --tftp-listen and --ftp-listen choose other addresses and ports",
        )
    })?;
    if let Some(spin) = s.spin {
        server = server.busy_poll(spin);
    }
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "netboot: serving {}", s.root.display());
        if let Some(a) = server.bootp_addr() {
            match &s.interface {
                Some(i) => {
                    let _ = writeln!(out, "bootp: listening on {a} (interface {i})");
                }
                None => {
                    let _ = writeln!(out, "bootp: listening on {a}");
                }
            }
        }
        for a in server.tftp_addrs() {
            let _ = writeln!(out, "tftp: listening on {a}");
        }
        if let Some(a) = server.ftp_addr() {
            let _ = writeln!(out, "ftp: listening on {a}");
        }
        let _ = writeln!(
            out,
            "plan: {} client(s) with their own stages, {} rule(s), {}",
            s.clients,
            s.rules,
            match s.default_stages {
                Some(n) => format!("{n} stage(s) for everyone else"),
                None => "nothing for anyone else".to_string(),
            }
        );
        let _ = out.flush();
    }
    // One line per client step on standard output.
    let server = server.on_event(move |event| {
        if !quiet && event.is_step() {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{event}");
            let _ = out.flush();
        }
    });
    let signal_thread = crate::signals::stop_on_signals(server.stopper())?;
    let result = server
        .run()
        .map_err(|e| CliError::other(format!("the server failed: {e}")));
    signal_thread.close();
    // The state is said to be saved only when the final save made it.
    if s.saved.is_empty() || result.is_err() {
        println!("netboot: stopped");
    } else {
        println!("netboot: stopped; {} saved", s.saved.join(" and "));
    }
    let _ = std::io::stdout().flush();
    // Give the signal thread a moment to notice it was closed.
    std::thread::sleep(Duration::from_millis(1));
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn with(text: &str, flags: &[&str]) -> Result<Settings, CliError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("serve.toml");
        std::fs::write(&path, text).unwrap();
        let root = dir.path().to_str().unwrap();
        let mut argv = vec!["t", "--config", path.to_str().unwrap(), "--root", root];
        argv.extend_from_slice(flags);
        settings(T::parse_from(argv).args)
    }

    fn err(text: &str, flags: &[&str]) -> String {
        match with(text, flags) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => {
                assert_eq!(e.code(), 3, "{e}");
                e.to_string()
            }
        }
    }

    const BOOTP: &str = "[bootp]\nserver = \"10.0.0.1\"\nsubnet = \"10.0.0.0/24\"\n";

    #[test]
    fn a_lab_configuration_loads() {
        let s = with(
            &format!("{BOOTP}[plan]\nstages = [\"a\", \"b\"]\nreset_after = \"never\"\n[[plan.client]]\nmac = \"52:54:00:00:00:01\"\nstages = [\"x\"]\n[tftp]\nmax_blksize = 1468\n[ftp]\nanonymous = true\n"),
            &["--tftp-listen", "127.0.0.1:6969"],
        )
        .unwrap();
        assert_eq!((s.clients, s.default_stages), (1, Some(2)));
    }

    #[test]
    fn mistakes_name_their_line() {
        let e = err(
            &format!("{BOOTP}[plan]\nstages = [\"../etc/passwd\"]\n"),
            &[],
        );
        assert!(
            e.ends_with("serve.toml:5: plan stages: stage 0: path contains a '..' component"),
            "{e}"
        );
        let e = err(
            &format!("{BOOTP}[plan]\n[[plan.client]]\nmac = \"zz\"\nstages = [\"a\"]\n"),
            &[],
        );
        assert!(
            e.contains("serve.toml:6: plan.client entry 1: mac \"zz\""),
            "{e}"
        );
        let e = err(&format!("{BOOTP}[plan]\nreset_after = \"soon\"\n"), &[]);
        assert!(e.contains("serve.toml:5: reset_after \"soon\""), "{e}");
        let e = err(&format!("{BOOTP}colour = 1\n"), &[]);
        assert!(e.contains("serve.toml:4: unknown field `colour`"), "{e}");
        let e = err("[plan]\nstages = [\"a\"]\n", &[]);
        assert!(e.starts_with("BOOTP needs its subnet"), "{e}");
        let e = err(BOOTP, &["--reset-after", "x"]);
        assert!(e.starts_with("--reset-after \"x\""), "{e}");
    }
}
