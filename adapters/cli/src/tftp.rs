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

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Config, Start};
use crate::exit::CliError;
use crate::progress::Progress;
use clap::{Args, Subcommand, ValueEnum};
use netboot_core::tftp::TransferError;
use netboot_core::wire::tftp::{ErrorCode, Mode};
use netboot_mio::tftp::{Client, ClientError};
use netboot_std::setup::ServerSetup;

/// TFTP server and client.
#[derive(Subcommand, Debug)]
pub enum TftpCommand {
    /// Serve a directory over TFTP until interrupted (SIGINT or SIGTERM).
    Serve(ServeArgs),
    /// Download a file: netboot tftp get SERVER[:PORT] REMOTE [LOCAL].
    Get(GetArgs),
    /// Upload a file: netboot tftp put SERVER[:PORT] LOCAL [REMOTE].
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
    /// Server, as HOST, HOST:PORT or [IPV6]:PORT (port 69 by default).
    server: String,
    /// File to fetch.
    remote: String,
    /// Where to store it [default: REMOTE's file name, here].
    local: Option<PathBuf>,
    #[command(flatten)]
    transfer: TransferArgs,
}

/// Arguments of `tftp put`.
#[derive(Args, Debug)]
pub struct PutArgs {
    /// Server, as HOST, HOST:PORT or [IPV6]:PORT (port 69 by default).
    server: String,
    /// File to send.
    local: PathBuf,
    /// Name to store it under [default: LOCAL's file name].
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
        privilege: cfg.privilege(),
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
            println!("netboot tftp: serving {} on {addr}", shown.display());
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

fn get(a: GetArgs) -> Result<(), CliError> {
    let server = resolve_server(&a.server)?;
    let local = a
        .local
        .unwrap_or_else(|| PathBuf::from(netboot_core::path::file_name(&a.remote).to_string()));
    let mut c = client(server, &a.transfer, &a.remote, None);
    let stats = c
        .get(&a.remote, &local)
        .map_err(|e| client_error(&a.remote, server, e))?;
    tracing::info!(
        "tftp: got {} ({} bytes) in {:?}",
        a.remote,
        stats.bytes,
        stats.elapsed
    );
    c.finish();
    Ok(())
}

fn put(a: PutArgs) -> Result<(), CliError> {
    let server = resolve_server(&a.server)?;
    let remote = match a.remote {
        Some(r) => r,
        None => a
            .local
            .file_name()
            .and_then(|n| n.to_str())
            .map(str::to_string)
            .ok_or_else(|| CliError::config(format!("{}: not a file", a.local.display())))?,
    };
    let total = std::fs::metadata(&a.local).ok().map(|m| m.len());
    let label = display(&a.local);
    let mut c = client(server, &a.transfer, &label, total);
    let stats = c
        .put(&a.local, &remote)
        .map_err(|e| client_error(&remote, server, e))?;
    tracing::info!(
        "tftp: put {remote} ({} bytes) in {:?}",
        stats.bytes,
        stats.elapsed
    );
    Ok(())
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
