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
//! [bootp]                             # also read by `netboot bootp serve`
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
//! [ftp]                               # also read by `netboot ftp serve`
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
//! so only when the final save made it; when it did not, standard error
//! gets `netboot: stopped; leases NOT saved: CAUSE` and the exit code is
//! 5). Started as root, the server runs as `--user` (default `netboot`)
//! once bound ([`crate::privilege`]); under systemd it takes the sockets
//! it is passed and reports its state ([`crate::activation`],
//! [`crate::notify`]). SIGHUP reads the file again and
//! applies it to new requests (see [`crate::signals::reload`]; in-flight
//! transfers, sessions, leases and progress carry on). The whole schema
//! is in docs/configuration.md ([`crate::config`]). Exit codes: 3 bad
//! configuration, 4 cannot bind, 5 stopped without saving.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::Args;
use netboot_core::plan::Reset;
use netboot_std::setup::ServerSetup;

use crate::config::{Config, Start};
use crate::exit::CliError;
use crate::plan::ResetAfter;

/// Options of `netboot serve`; each overrides the configuration file.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Directory to serve over TFTP and FTP (the jail).
    #[arg(long, value_name = "DIR")]
    pub(crate) root: Option<PathBuf>,
    /// Bind BOOTP to this interface and broadcast through it.
    #[arg(long, value_name = "IF")]
    pub(crate) interface: Option<String>,
    /// BOOTP address and port [default: 0.0.0.0:67].
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) bootp_listen: Option<SocketAddr>,
    /// TFTP address and port, repeatable [default: 0.0.0.0:69].
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) tftp_listen: Vec<SocketAddr>,
    /// FTP control address and port [default: 0.0.0.0:21].
    #[arg(long, value_name = "ADDR:PORT")]
    pub(crate) ftp_listen: Option<SocketAddr>,
    /// Do not run BOOTP.
    #[arg(long)]
    pub(crate) no_bootp: bool,
    /// Do not run TFTP.
    #[arg(long)]
    pub(crate) no_tftp: bool,
    /// Do not run FTP.
    #[arg(long)]
    pub(crate) no_ftp: bool,
    /// Keep BOOTP leases in this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) lease_file: Option<PathBuf>,
    /// Keep plan progress in this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) progress_file: Option<PathBuf>,
    /// A boot stage of the default plan, in order (repeatable; replaces
    /// the file's `stages`).
    #[arg(long = "stage", value_name = "FILE")]
    pub(crate) stages: Vec<String>,
    /// Seconds of silence after a client's last stage before it is served
    /// again from its first, or `never`.
    #[arg(long, value_name = "SECS|never")]
    pub(crate) reset_after: Option<String>,
    #[command(flatten)]
    pub(crate) privilege: crate::privilege::PrivilegeArgs,
}

/// What `serve` runs, once the file and the flags are merged.
pub struct Settings {
    /// The server, and what it says at the end.
    pub start: Start,
    root: PathBuf,
    interface: Option<String>,
    clients: usize,
    rules: usize,
    default_stages: Option<usize>,
    /// BOOTP's subnet and pool, as `check` reports them.
    pub bootp: Option<String>,
}

impl Settings {
    /// `check`'s summary: what runs and what the plan holds.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = &self.bootp {
            parts.push(b.clone());
        }
        if self.start.setup.tftp.is_some() {
            parts.push("tftp".to_string());
        }
        if self.start.setup.ftp.is_some() {
            parts.push("ftp".to_string());
        }
        parts.push(format!(
            "plan {} clients {} rules{}",
            self.clients,
            self.rules,
            match self.default_stages {
                Some(n) => format!(" {n} default stages"),
                None => String::new(),
            }
        ));
        parts.join(", ")
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

/// `10.0.0.0/24 pool 100 addresses`: what `check` says of BOOTP.
fn bootp_summary(config: &netboot_core::bootp::server::ServerConfig) -> String {
    let mask = u32::from(config.net.netmask);
    let network = std::net::Ipv4Addr::from(u32::from(config.server_ip) & mask);
    let pool: u64 = config
        .pools()
        .flatten()
        .map(|(a, b)| u64::from(u32::from(b).saturating_sub(u32::from(a))) + 1)
        .sum();
    format!(
        "bootp {network}/{} pool {pool} addresses",
        mask.leading_ones()
    )
}

/// Builds the server from the file named by `--config` (if any) and the
/// flags. `need_bootp`: a file without `[bootp]` is an error (`serve`)
/// rather than a server without BOOTP (`check`).
pub fn settings(args: &ServeArgs, need_bootp: bool) -> Result<Settings, CliError> {
    let mut cfg = Config::load(args.config.as_deref())?;
    let (tftp_root, ftp_root) = cfg.table_roots();
    let (tftp_root, ftp_root) = (tftp_root.cloned(), ftp_root.cloned());
    let flag = args.root.as_deref();
    let root = if args.no_tftp && args.no_ftp {
        // Nothing is served from it (BOOTP alone): the file's directory.
        match (flag, args.config.as_deref().and_then(Path::parent)) {
            (Some(f), _) => f.to_path_buf(),
            (None, Some(d)) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    } else if args.no_tftp {
        cfg.root(flag, ftp_root.as_ref(), "FTP")?
    } else {
        cfg.root(flag, tftp_root.as_ref(), "TFTP")?
    };
    if !args.no_tftp && !args.no_ftp && flag.is_none() {
        let other = cfg.root(flag, ftp_root.as_ref(), "FTP")?;
        let same = |a: &Path, b: &Path| {
            a == b || std::fs::canonicalize(a).ok() == std::fs::canonicalize(b).ok()
        };
        if !same(&root, &other) {
            let span = ftp_root
                .as_ref()
                .or(tftp_root.as_ref())
                .map_or(0..0, |s| s.span());
            return Err(cfg.err(
                span,
                format!(
                    "serve runs TFTP and FTP from one root, but TFTP would serve {} and FTP {}: \
                     give them the same root, or run `netboot tftp serve` and `netboot ftp serve` apart",
                    root.display(),
                    other.display()
                ),
            ));
        }
    }

    // The plan.
    let plan = cfg.file.plan.take().unwrap_or_default();
    let stages: Option<Vec<String>> = if args.stages.is_empty() {
        plan.stages.as_ref().map(|s| s.get_ref().clone())
    } else {
        Some(args.stages.clone())
    };
    let src = crate::plan::Source {
        path: &cfg.path,
        text: &cfg.text,
    };
    let profiles = crate::plan::profiles(&src, &plan, stages.as_deref())?;
    for stage in profiles.files() {
        let resolved = netboot_core::path::resolve("", stage, netboot_core::path::DotDot::Reject)
            .map(|p| root.join(p.as_str()));
        if !resolved.as_ref().is_ok_and(|p| p.is_file()) {
            crate::output::stderr(&format!(
                "netboot: warning: stage {stage} is not a file in {}",
                root.display()
            ));
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
                cfg.err(
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
    let mut summary = None;
    // BOOTP.
    let bootp = cfg.bootp(true)?;
    match (args.no_bootp, bootp) {
        (true, _) => setup = setup.no_bootp(),
        (false, None) if need_bootp => {
            return Err(CliError::config(
                "BOOTP needs its subnet: give a [bootp] table (server, subnet, pool) in --config, or --no-bootp",
            ));
        }
        (false, None) => setup = setup.no_bootp(),
        (false, Some(b)) => {
            summary = Some(bootp_summary(b.server.config()));
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
    let mut tftp = cfg.tftp()?;
    let mut spin = None;
    if args.no_tftp {
        setup = setup.no_tftp();
    } else {
        if !args.tftp_listen.is_empty() {
            tftp.listen.clone_from(&args.tftp_listen);
        }
        (setup, spin) = tftp.apply(setup)?;
    }
    // FTP: provisioning clients log in anonymously unless told otherwise.
    let mut ftp = cfg.ftp(root.clone(), true)?;
    if args.no_ftp {
        setup = setup.no_ftp();
    } else {
        if let Some(l) = args.ftp_listen {
            ftp.listen = l;
        }
        setup = setup.ftp(ftp);
    }
    if let Some(p) = args
        .progress_file
        .clone()
        .or_else(|| plan.progress_file.as_deref().map(|p| cfg.relative(p)))
    {
        setup = setup.progress_file(p);
        saved.push("plan progress");
    }
    Ok(Settings {
        start: Start {
            setup,
            spin,
            privilege: args.privilege.over(cfg.privilege()),
            saved,
        },
        root,
        interface,
        clients,
        rules,
        default_stages,
        bootp: summary,
    })
}

/// Runs `netboot serve` until SIGINT or SIGTERM; SIGHUP reloads.
pub fn run(args: ServeArgs) -> Result<(), CliError> {
    let s = settings(&args, true)?;
    let saved = s.start.saved.clone();
    let run = crate::run::Run {
        config: args.config.clone(),
        hint: "--bootp-listen, --tftp-listen and --ftp-listen choose other addresses and ports",
        steps: !crate::output::quiet(),
    };
    let reload_args = args.clone();
    let load: crate::signals::Load =
        Box::new(move || settings(&reload_args, true).map(|s| s.start));
    let result = crate::run::serve(run, s.start, load, |server| {
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
    });
    // The state is said to be saved only when the final save made it;
    // when it did not, the error line says what was not saved.
    match &result {
        Err(e) if e.code() == crate::exit::UNSAVED => {}
        Ok(()) if !saved.is_empty() => {
            crate::output::say(&format!("netboot: stopped; {} saved", saved.join(" and ")));
        }
        _ => crate::output::say("netboot: stopped"),
    }
    let _ = std::io::stdout().flush();
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
        settings(&T::parse_from(argv).args, true)
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
        assert_eq!(
            s.summary(),
            "bootp 10.0.0.0/24 pool 0 addresses, tftp, ftp, plan 1 clients 0 rules 2 default stages"
        );
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
