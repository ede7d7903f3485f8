//! `netboot tftp`: serve a directory, or get and put files.
//!
//! `serve` reads an optional TOML file (`--config`, section `[tftp]`) and
//! lets flags override it:
//!
//! ```toml
//! [tftp]
//! root = "/srv/tftp"
//! listen = ["0.0.0.0:69", "[::]:69"]
//! writable = false
//! overwrite = false
//! max_blksize = 65464
//! max_windowsize = 64
//! max_transfers = 1024
//! max_upload = 104857600
//! accept_timeout = false
//! busy_poll_us = 200
//! ```

use std::io::{Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use netboot_core::tftp::TransferError;
use netboot_core::wire::tftp::{ErrorCode, Mode};
use netboot_mio::tftp::{Client, ClientError};
use netboot_std::setup::ServerSetup;

use crate::config::{Config, Start};
use crate::exit::{self, CliError};
use crate::interrupt;
use crate::output;
use crate::progress::Progress;

/// TFTP server and client.
#[derive(Subcommand, Debug)]
pub enum TftpCommand {
    /// Serve a directory over TFTP until interrupted (SIGINT or SIGTERM).
    Serve(ServeArgs),
    /// Download a file: netboot tftp get tftp://HOST[:PORT]/REMOTE [LOCAL],
    /// or netboot tftp get SERVER[:PORT] REMOTE [LOCAL] (LOCAL - is
    /// standard output).
    #[command(after_help = exit::help(&[exit::TFTP]))]
    Get(GetArgs),
    /// Upload a file: netboot tftp put LOCAL tftp://HOST[:PORT]/REMOTE, or
    /// netboot tftp put SERVER[:PORT] LOCAL [REMOTE] (LOCAL - is standard
    /// input; it is sent without tsize).
    #[command(after_help = exit::help(&[exit::TFTP]))]
    Put(PutArgs),
}

/// Options of `tftp serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Directory to serve (the jail: nothing outside it is reachable).
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Address to listen on; repeat for several [default: 0.0.0.0:69].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Vec<SocketAddr>,
    /// Accept uploads (new files only, unless --overwrite).
    #[arg(long)]
    writable: bool,
    /// Let uploads replace existing files.
    #[arg(long)]
    overwrite: bool,
    /// Largest blksize granted (8..=65464) [default: 65464].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(8..=65464))]
    max_blksize: Option<u16>,
    /// Largest windowsize granted (1..=65535) [default: 64].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    max_windowsize: Option<u16>,
    /// Most transfers at once [default: 1024].
    #[arg(long, value_name = "N")]
    max_transfers: Option<usize>,
    /// Largest upload accepted, in bytes.
    #[arg(long, value_name = "BYTES")]
    max_upload: Option<u64>,
    /// Acknowledge clients' `timeout` option and retransmit exactly that
    /// often, instead of adapting to the measured round trip.
    #[arg(long)]
    accept_timeout: bool,
    /// Microseconds to keep polling without sleeping after traffic, which
    /// takes a scheduler wake-up off every lockstep round trip (0: never)
    /// [default: 200].
    #[arg(long, value_name = "MICROS")]
    busy_poll_us: Option<u64>,

    /// TOML configuration file (section [tftp]); flags override it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) privilege: crate::privilege::PrivilegeArgs,
}

/// Transfer mode on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeArg {
    /// Bytes as they are.
    Octet,
    /// Text with CR LF line ends on the wire.
    Netascii,
}

/// Options shared by `get` and `put`.
#[derive(Args, Debug)]
pub struct TransferArgs {
    /// Block size to ask for (8..=65464).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(8..=65464))]
    blksize: Option<u16>,
    /// Window size to ask for (1..=65535).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    windowsize: Option<u16>,
    /// Fixed retransmission timeout in seconds (1..=255); adaptive without it.
    #[arg(long, value_name = "S", value_parser = clap::value_parser!(u8).range(1..))]
    timeout: Option<u8>,
    /// Transfer mode.
    #[arg(long, value_enum, default_value_t = ModeArg::Octet)]
    mode: ModeArg,
    /// Do not ask for or announce the transfer size.
    #[arg(long)]
    no_tsize: bool,
    /// Give up after this many consecutive timeouts [default: 8, and at
    /// least 10 s of silence].
    #[arg(long, value_name = "N")]
    retries: Option<u8>,
}

/// Arguments of `tftp get`.
#[derive(Args, Debug)]
pub struct GetArgs {
    /// tftp://HOST[:PORT]/PATH, or the server as HOST, HOST:PORT or
    /// [IPV6]:PORT (port 69 by default) followed by REMOTE.
    server: String,
    /// With a server: the file to fetch. With a URL: LOCAL.
    remote: Option<String>,
    /// Where to store it: a file, a directory, or - for standard output
    /// [default: REMOTE's file name, here].
    local: Option<PathBuf>,
    #[command(flatten)]
    transfer: TransferArgs,
}

/// Arguments of `tftp put`.
#[derive(Args, Debug)]
pub struct PutArgs {
    /// The server (HOST, HOST:PORT or [IPV6]:PORT; port 69 by default)
    /// followed by LOCAL [REMOTE]; or LOCAL followed by tftp://HOST[:PORT]/PATH.
    server: String,
    /// With a server: the file to send (- for standard input). With a URL
    /// first: LOCAL; with LOCAL first: the URL.
    local: String,
    /// With a server: the name to store it under [default: LOCAL's file
    /// name].
    remote: Option<String>,
    #[command(flatten)]
    transfer: TransferArgs,
}

/// The server loop's spin after traffic, from `busy_poll_us`: at most a
/// second (a longer spin is a misconfiguration, not a tuning).
pub(crate) fn busy_poll(micros: u64) -> Result<Duration, CliError> {
    if micros > 1_000_000 {
        return Err(CliError::config(
            "busy_poll_us must be at most 1000000 (one second)",
        ));
    }
    Ok(Duration::from_micros(micros))
}

/// Runs a `tftp` subcommand.
pub fn run(cmd: TftpCommand) -> Result<(), CliError> {
    match cmd {
        TftpCommand::Serve(a) => serve(a),
        TftpCommand::Get(a) => get(a),
        TftpCommand::Put(a) => put(a),
    }
}

/// `tftp serve`'s server: the `[tftp]` table and the root (the file's
/// other tables are checked and left alone), and the flags.
pub(crate) fn start(a: &ServeArgs) -> Result<(Start, PathBuf), CliError> {
    let mut cfg = Config::load(a.config.as_deref())?;
    let table_root = cfg.table_roots().0.cloned();
    let root = cfg.root(a.root.as_deref(), table_root.as_ref(), "TFTP")?;
    let mut t = cfg.tftp()?;
    cfg.check_others()?;
    if !a.listen.is_empty() {
        t.listen.clone_from(&a.listen);
    }
    if a.writable {
        t.writable = Some(true);
    }
    if a.overwrite {
        t.overwrite = Some(true);
    }
    if a.accept_timeout {
        t.accept_timeout = Some(true);
    }
    if let Some(b) = a.max_blksize {
        t.max_blksize = Some(toml::Spanned::new(0..0, b));
    }
    if let Some(us) = a.busy_poll_us {
        t.busy_poll_us = Some(toml::Spanned::new(0..0, us));
    }
    t.max_windowsize = a.max_windowsize.or(t.max_windowsize);
    t.max_transfers = a.max_transfers.or(t.max_transfers);
    t.max_upload = a.max_upload.or(t.max_upload);
    if t.listen.is_empty() {
        t.listen.push(SocketAddr::from(([0, 0, 0, 0], 69)));
    }
    let (setup, spin) = t.apply(ServerSetup::new(&root).no_bootp().no_ftp())?;
    let start = Start {
        setup,
        spin,
        privilege: a.privilege.over(cfg.privilege()),
        saved: Vec::new(),
    };
    Ok((start, root))
}

fn serve(a: ServeArgs) -> Result<(), CliError> {
    let (start, root) = self::start(&a)?;
    let run = crate::run::Run {
        config: a.config.clone(),
        hint: "",
        steps: false,
    };
    let load: crate::signals::Load = Box::new(move || self::start(&a).map(|s| s.0));
    crate::run::serve(run, start, load, |server| {
        let shown = std::fs::canonicalize(&root).unwrap_or(root);
        for addr in server.tftp_addrs() {
            output::say(&format!(
                "netboot tftp: serving {} on {addr}",
                shown.display()
            ));
        }
    })
}

fn resolve_server(server: &str) -> Result<SocketAddr, CliError> {
    let with_port = if server.parse::<std::net::IpAddr>().is_ok() {
        // A bare address (IPv6 has colons of its own).
        return Ok(SocketAddr::new(
            server.parse().unwrap_or([0, 0, 0, 0].into()),
            69,
        ));
    } else if server.contains(':') {
        server.to_string()
    } else {
        format!("{server}:69")
    };
    with_port
        .to_socket_addrs()
        .map_err(|e| CliError::config(format!("{server}: {e}")))?
        .next()
        .ok_or_else(|| CliError::config(format!("{server}: no address")))
}

fn client(server: SocketAddr, t: &TransferArgs, label: &str, total: Option<u64>) -> Client {
    let mut c = Client::new(server).tsize(!t.no_tsize).mode(match t.mode {
        ModeArg::Octet => Mode::Octet,
        ModeArg::Netascii => Mode::Netascii,
    });
    if let Some(n) = t.retries {
        // An explicit count alone decides.
        c = c.retries(n).give_up_after(Duration::ZERO);
    }
    if let Some(b) = t.blksize {
        c = c.blksize(b);
    }
    if let Some(w) = t.windowsize {
        c = c.windowsize(w);
    }
    if let Some(s) = t.timeout {
        c = c.timeout(s);
    }
    let bar = Arc::new(Progress::new(label, total));
    if bar.is_visible() {
        let b = bar.clone();
        c = c.progress(move |p| {
            if let Some(total) = p.total {
                b.set_total(total);
            }
            b.set(p.bytes);
            if p.total.is_some_and(|t| p.bytes >= t) {
                b.finish();
            }
        });
    }
    c
}

/// A `tftp://host[:port]/path` URL: the server and the decoded path
/// (`None` when `text` is not a tftp:// URL).
fn parse_url(text: &str) -> Option<Result<(String, String), CliError>> {
    if !text
        .get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("tftp://"))
    {
        return None;
    }
    let bad =
        |why: &str| CliError::config(format!("{text}: {why} (expected tftp://HOST[:PORT]/PATH)"));
    Some((|| {
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let host = match url.host() {
            Some(url::Host::Domain(d)) => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => format!("[{a}]"),
            None => return Err(bad("no host")),
        };
        if !url.username().is_empty() || url.query().is_some() {
            return Err(bad("TFTP has no user, password or query"));
        }
        let server = format!("{host}:{}", url.port().unwrap_or(69));
        let raw = url.path().strip_prefix('/').unwrap_or(url.path());
        let path = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| bad("the path is not UTF-8"))?
            .into_owned();
        Ok((server, path))
    })())
}

/// A file removed when dropped: a download for standard output, or
/// standard input spooled for an upload.
struct Scratch(PathBuf);

impl Scratch {
    fn new(what: &str) -> Self {
        Scratch(std::env::temp_dir().join(format!("netboot-{what}-{}", std::process::id())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

fn get(a: GetArgs) -> Result<(), CliError> {
    let (server_text, remote, local) = match parse_url(&a.server) {
        Some(url) => {
            let (server, path) = url?;
            if a.local.is_some() {
                return Err(CliError::config(
                    "with a tftp:// URL give at most LOCAL after it",
                ));
            }
            (server, path, a.remote.map(PathBuf::from))
        }
        None => {
            let remote = a.remote.ok_or_else(|| {
                CliError::config("give REMOTE after the server, or a tftp://HOST/PATH URL")
            })?;
            (a.server, remote, a.local)
        }
    };
    if remote.is_empty() {
        return Err(CliError::config("no remote file named"));
    }
    let server = resolve_server(&server_text)?;
    let to_stdout = local.as_deref().is_some_and(is_dash);
    let scratch = to_stdout.then(|| Scratch::new("stdout"));
    let local = match (&scratch, local) {
        (Some(s), _) => s.0.clone(),
        (None, Some(l)) => l,
        (None, None) => PathBuf::from(netboot_core::path::file_name(&remote).to_string()),
    };
    let mut c = client(server, &a.transfer, &remote, None).cancel_on(interrupt::install()?);
    let result = c.get(&remote, &local);
    interrupt::check()?;
    let stats = result.map_err(|e| client_error(&remote, server, e))?;
    tracing::info!(
        "tftp: got {remote} ({} bytes) in {:?}",
        stats.bytes,
        stats.elapsed
    );
    if scratch.is_some() {
        copy_to_stdout(&local)?;
    }
    c.finish();
    output::result(stats_json(
        "tftp get",
        server,
        &remote,
        if to_stdout {
            "-".into()
        } else {
            display(&local)
        },
        &stats,
    ))
}

/// Streams a finished download to standard output.
fn copy_to_stdout(path: &Path) -> Result<(), CliError> {
    let mut file = std::fs::File::open(path)
        .map_err(|e| CliError::new(16, format!("{}: {e}", path.display())))?;
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        interrupt::check()?;
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(CliError::new(16, format!("{}: {e}", path.display()))),
        };
        out.write_all(&buf[..n])
            .map_err(|e| output::stdout_error(&e))?;
    }
    out.flush().map_err(|e| output::stdout_error(&e))
}

/// The `--json` result of a transfer.
fn stats_json(
    command: &str,
    server: SocketAddr,
    remote: &str,
    local: String,
    stats: &netboot_mio::tftp::Stats,
) -> serde_json::Value {
    serde_json::json!({
        "command": command,
        "server": server.to_string(),
        "remote": remote,
        "local": local,
        "bytes": stats.bytes,
        "elapsed_ms": stats.elapsed.as_millis() as u64,
        "blksize": stats.negotiated.blksize,
        "windowsize": stats.negotiated.windowsize,
        "tsize": stats.negotiated.tsize,
    })
}

fn put(a: PutArgs) -> Result<(), CliError> {
    let (server_text, local, remote) = match (parse_url(&a.server), parse_url(&a.local)) {
        (Some(url), _) | (None, Some(url)) => {
            let (server, path) = url?;
            if a.remote.is_some() {
                return Err(CliError::config(
                    "with a tftp:// URL give only LOCAL and the URL",
                ));
            }
            let local = if a
                .server
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("tftp://"))
            {
                a.local
            } else {
                a.server
            };
            (
                server,
                PathBuf::from(local),
                (!path.is_empty()).then_some(path),
            )
        }
        (None, None) => (a.server, PathBuf::from(a.local), a.remote),
    };
    let server = resolve_server(&server_text)?;
    let from_stdin = is_dash(&local);
    let remote = match remote {
        Some(r) => r,
        None if from_stdin => {
            return Err(CliError::config(
                "standard input has no name: give the remote name",
            ));
        }
        None => local
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| CliError::config(format!("{}: not a file", local.display())))?,
    };
    let cancel = interrupt::install()?;
    let scratch = if from_stdin {
        Some(spool_stdin()?)
    } else {
        None
    };
    let (path, total, label) = match &scratch {
        Some(s) => (s.0.clone(), None, "stdin".to_string()),
        None => (
            local.clone(),
            std::fs::metadata(&local).ok().map(|m| m.len()),
            display(&local),
        ),
    };
    let mut c = client(server, &a.transfer, &label, total).cancel_on(cancel);
    if from_stdin {
        // The size of a stream is not known before it ends.
        c = c.tsize(false);
    }
    let result = c.put(&path, &remote);
    interrupt::check()?;
    let stats = result.map_err(|e| client_error(&remote, server, e))?;
    tracing::info!(
        "tftp: put {remote} ({} bytes) in {:?}",
        stats.bytes,
        stats.elapsed
    );
    output::result(stats_json(
        "tftp put",
        server,
        &remote,
        display(&local),
        &stats,
    ))
}

/// Copies standard input into a scratch file (TFTP reads its source in
/// blocks by offset), stopping when a signal comes.
fn spool_stdin() -> Result<Scratch, CliError> {
    let scratch = Scratch::new("stdin");
    let local_error = |e: std::io::Error| CliError::new(16, format!("standard input: {e}"));
    // A new file only: never one an attacker placed (or linked) there.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&scratch.0)
        .map_err(local_error)?;
    let copied = std::io::copy(&mut interrupt::Stdin::spawn(), &mut file);
    interrupt::check()?;
    copied.map_err(local_error)?;
    Ok(scratch)
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

/// Turns a client failure into a one-line message with its exit code (see
/// `exit.rs`: 10 not found, 11 access violation, 12 timed out, 13 disk
/// full, 14 file exists, 15 other TFTP error, 16 local file error).
fn client_error(remote: &str, server: SocketAddr, e: ClientError) -> CliError {
    let code = match &e {
        ClientError::Local { .. } => 16,
        ClientError::Transfer { error, .. } => match error {
            TransferError::Peer { code } => match code {
                ErrorCode::FileNotFound => 10,
                ErrorCode::AccessViolation => 11,
                ErrorCode::DiskFull => 13,
                ErrorCode::FileExists => 14,
                _ => 15,
            },
            TransferError::TimedOut { .. } => 12,
            _ => 15,
        },
        _ => 15,
    };
    let message = match &e {
        ClientError::Local { .. } => format!("local file {e}"),
        ClientError::Transfer {
            error: TransferError::TimedOut { retries },
            ..
        } => format!("{remote}: no answer from {server}: timed out after {retries} retries"),
        _ => format!("{remote}: {e}"),
    };
    CliError::new(code, message)
}
