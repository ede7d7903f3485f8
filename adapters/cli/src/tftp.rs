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

use clap::{Args, Subcommand, ValueEnum};
use netboot_core::tftp::TransferError;
use netboot_core::wire::tftp::{ErrorCode, Mode};
use netboot_mio::tftp::{Client, ClientError, TftpServer};
use serde::Deserialize;

use crate::exit::CliError;
use crate::progress::Progress;

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

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    tftp: TftpConfig,
}

#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct TftpConfig {
    root: Option<PathBuf>,
    #[serde(default)]
    listen: Vec<SocketAddr>,
    writable: Option<bool>,
    overwrite: Option<bool>,
    max_blksize: Option<u16>,
    max_windowsize: Option<u16>,
    max_transfers: Option<usize>,
    max_upload: Option<u64>,
    accept_timeout: Option<bool>,
    busy_poll_us: Option<u64>,
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

fn serve(a: ServeArgs) -> Result<(), CliError> {
    let file = match &a.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::config(format!("{}: {e}", path.display())))?;
            toml::from_str::<ConfigFile>(&text)
                .map_err(|e| {
                    CliError::config(format!("{}: {}", path.display(), one_line(&e.to_string())))
                })?
                .tftp
        }
        None => TftpConfig::default(),
    };
    let root = a
        .root
        .or(file.root)
        .ok_or_else(|| CliError::config("no directory to serve: give --root DIR"))?;
    if !root.is_dir() {
        return Err(CliError::config(format!(
            "{}: not a directory",
            root.display()
        )));
    }
    let listen = if a.listen.is_empty() {
        file.listen
    } else {
        a.listen
    };
    let listen = if listen.is_empty() {
        vec![SocketAddr::from(([0, 0, 0, 0], 69))]
    } else {
        listen
    };
    let max_blksize = a.max_blksize.or(file.max_blksize);
    if max_blksize.is_some_and(|b| !(8..=65464).contains(&b)) {
        return Err(CliError::config("max_blksize must be within 8..=65464"));
    }
    let mut builder = TftpServer::new(&root)
        .writable(a.writable || file.writable.unwrap_or(false))
        .overwrite(a.overwrite || file.overwrite.unwrap_or(false))
        .max_upload(a.max_upload.or(file.max_upload))
        .accept_timeout(a.accept_timeout || file.accept_timeout.unwrap_or(false));
    for addr in &listen {
        builder = builder.bind(*addr);
    }
    if let Some(b) = max_blksize {
        builder = builder.max_blksize(b);
    }
    if let Some(w) = a.max_windowsize.or(file.max_windowsize) {
        builder = builder.max_windowsize(w);
    }
    if let Some(n) = a.max_transfers.or(file.max_transfers) {
        builder = builder.max_transfers(n);
    }
    if let Some(us) = a.busy_poll_us.or(file.busy_poll_us) {
        builder = builder.busy_poll(busy_poll(us)?);
    }
    let signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| CliError::other(format!("cannot install signal handlers: {e}")))?;
    let server = builder.spawn().map_err(|e| CliError::start(&e, ""))?;
    let shown = std::fs::canonicalize(&root).unwrap_or(root);
    for addr in server.local_addrs() {
        println!("netboot tftp: serving {} on {addr}", shown.display());
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let mut signals = signals;
    loop {
        if let Some(sig) = signals.pending().next() {
            tracing::info!("tftp: signal {sig}, stopping");
            break;
        }
        if server.is_finished() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    server
        .shutdown()
        .map_err(|e| CliError::other(format!("server failed: {e}")))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
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
