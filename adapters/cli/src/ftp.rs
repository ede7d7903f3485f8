//! `netboot ftp`: the FTP server and the client verbs.
//!
//! * `serve` runs [`netboot_mio::ftp::FtpServer`] (a server with FTP only)
//!   until SIGINT or SIGTERM. Settings come from the `[ftp]` table of `--config`
//!   and are overridden by flags. `--user NAME:PASSWORD` hashes the
//!   password (argon2id) at start-up; only the hash is kept in memory, and
//!   configuration files hold hashes only (`netboot ftp hash` makes one).
//! * `get URL [LOCAL]`, `put LOCAL URL`, `ls URL` with URLs
//!   `ftp://[user[:password]@]host[:port]/path` (RFC 1738; anonymous when no
//!   user is given). Errors are one line carrying the server's reply; exit
//!   codes 30-34 (see `exit.rs`).

use std::fs::File;
use std::io::{BufRead, Read};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::{Config, Start};
use crate::exit::CliError;
use crate::progress::Progress;
use clap::{Args, Subcommand};
use netboot_core::ftp::client::{ListKind, StoreMode};
use netboot_core::storage::Storage;
use netboot_mio::ftp::{FtpClient, FtpError};
use netboot_std::fs::write_aside;
use netboot_std::ftp::{FtpUser, auth};
use netboot_std::setup::ServerSetup;
use percent_encoding::percent_decode_str;

/// The FTP verbs.
#[derive(Subcommand, Debug)]
pub enum FtpCommand {
    /// Serve a directory over FTP.
    Serve(ServeArgs),
    /// Download ftp://[user[:password]@]host[:port]/path to LOCAL (default:
    /// the file's name, in the current directory).
    Get {
        /// The remote file.
        url: String,
        /// Where to write it.
        local: Option<PathBuf>,
        /// Continue a partial download: fetch from LOCAL's current length.
        #[arg(long, short = 'c')]
        resume: bool,
    },
    /// Upload LOCAL to ftp://.../path (a path ending in / gets LOCAL's name).
    Put {
        /// The local file.
        local: PathBuf,
        /// Where to put it.
        url: String,
        /// Append to the remote file instead of replacing it.
        #[arg(long)]
        append: bool,
    },
    /// List a remote directory.
    Ls {
        /// The remote directory (or file).
        url: String,
        /// Names only (NLST).
        #[arg(long, conflicts_with = "mlsd")]
        names: bool,
        /// RFC 3659 facts (MLSD).
        #[arg(long)]
        mlsd: bool,
    },
    /// Read a password on standard input and print its argon2id hash, for
    /// the `password_hash` of a `[[ftp.users]]` entry.
    Hash,
}

/// `netboot ftp serve` options; each overrides the config file.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// TOML configuration file (its `[ftp]` table).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The served directory.
    #[arg(long)]
    root: Option<PathBuf>,
    /// Control-connection address [default: 0.0.0.0:21].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Allow anonymous read-only logins.
    #[arg(long)]
    anonymous: bool,
    /// An account, NAME:PASSWORD (repeatable); the password is hashed at
    /// start-up and never stored.
    #[arg(long = "user", value_name = "NAME:PASSWORD")]
    users: Vec<String>,
    /// Let accounts modify files (anonymous never can).
    #[arg(long)]
    writable: bool,
    /// Passive ports, A-B.
    #[arg(long, value_name = "A-B")]
    passive_ports: Option<String>,
    /// Address to announce in PASV replies (behind NAT).
    #[arg(long, value_name = "IP")]
    masquerade: Option<IpAddr>,
    /// Most concurrent sessions.
    #[arg(long)]
    max_sessions: Option<usize>,
    /// Most concurrent sessions per client address.
    #[arg(long)]
    max_sessions_per_ip: Option<usize>,
    /// Delay before answering a failed login, in milliseconds.
    #[arg(long)]
    login_delay_ms: Option<u64>,
    /// Failed logins before a session is closed.
    #[arg(long)]
    max_login_attempts: Option<u8>,
}

/// Runs one `netboot ftp` verb.
pub fn run(command: FtpCommand) -> Result<(), CliError> {
    match command {
        FtpCommand::Serve(args) => serve(args),
        FtpCommand::Get { url, local, resume } => get(&url, local, resume),
        FtpCommand::Put { local, url, append } => put(&local, &url, append),
        FtpCommand::Ls { url, names, mlsd } => ls(&url, names, mlsd),
        FtpCommand::Hash => hash(),
    }
}

/// `ftp serve`'s server: the `[ftp]` table and the root (the file's other
/// tables are checked and left alone), and the flags.
pub(crate) fn start(args: &ServeArgs) -> Result<Start, CliError> {
    let mut cfg = Config::load(args.config.as_deref())?;
    let table_root = cfg.table_roots().1.cloned();
    let root = cfg.root(args.root.as_deref(), table_root.as_ref(), "FTP")?;
    let mut config = cfg.ftp(root, false)?;
    cfg.check_others()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    config.anonymous |= args.anonymous;
    config.writable |= args.writable;
    if args.passive_ports.is_some() {
        config.passive_ports.clone_from(&args.passive_ports);
    }
    config.passive_ports().map_err(|e| CliError::config(e.0))?;
    if args.masquerade.is_some() {
        config.masquerade = args.masquerade;
    }
    if let Some(n) = args.max_sessions {
        config.max_sessions = n;
    }
    if let Some(n) = args.max_sessions_per_ip {
        config.max_sessions_per_ip = n;
    }
    if let Some(n) = args.login_delay_ms {
        config.login_delay_ms = n;
    }
    if let Some(n) = args.max_login_attempts {
        config.max_login_attempts = n;
    }
    for spec in &args.users {
        let (name, password) = spec
            .split_once(':')
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| CliError::config("--user expects NAME:PASSWORD"))?;
        let password_hash = auth::hash_password(password).map_err(CliError::config)?;
        config.users.retain(|u| u.name != name);
        config.users.push(FtpUser {
            name: name.to_string(),
            password_hash,
            root: None,
            writable: None,
        });
    }
    if !config.anonymous && config.users.is_empty() {
        return Err(CliError::config(
            "nobody could log in: give --anonymous or at least one --user NAME:PASSWORD",
        ));
    }
    let setup = ServerSetup::new(&config.root)
        .no_bootp()
        .no_tftp()
        .ftp(config);
    Ok(Start {
        setup,
        spin: None,
        privilege: cfg.privilege(),
        saved: Vec::new(),
    })
}

fn serve(args: ServeArgs) -> Result<(), CliError> {
    let start = self::start(&args)?;
    raise_fd_limit();
    let run = crate::run::Run {
        config: args.config.clone(),
        hint: "",
        steps: false,
    };
    let load: crate::signals::Load = Box::new(move || self::start(&args));
    crate::run::serve(run, start, load, |server| {
        if let Some(addr) = server.ftp_addr() {
            println!("ftp: listening on {addr}");
        }
    })
}

fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        let _ = setrlimit(Resource::Nofile, limit);
    }
}

/// A parsed `ftp://` URL.
#[derive(Debug, PartialEq, Eq)]
struct FtpUrl {
    host: String,
    port: u16,
    user: String,
    password: String,
    path: String,
}

fn parse_url(text: &str) -> Result<FtpUrl, CliError> {
    let bad = |why: &str| {
        CliError::config(format!(
            "{text}: {why} (expected ftp://[user[:password]@]host[:port]/path)"
        ))
    };
    let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
    if url.scheme() != "ftp" {
        return Err(bad("not an ftp:// URL"));
    }
    let host = match url.host() {
        Some(url::Host::Domain(d)) => d.to_string(),
        Some(url::Host::Ipv4(a)) => a.to_string(),
        Some(url::Host::Ipv6(a)) => a.to_string(),
        None => return Err(bad("no host")),
    };
    let decode = |s: &str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| bad("not UTF-8"))
    };
    let (user, password) = if url.username().is_empty() {
        ("anonymous".to_string(), "netboot@".to_string())
    } else {
        (
            decode(url.username())?,
            decode(url.password().unwrap_or(""))?,
        )
    };
    let path = decode(url.path().strip_prefix('/').unwrap_or(url.path()))?;
    Ok(FtpUrl {
        host,
        port: url.port().unwrap_or(21),
        user,
        password,
        path,
    })
}

fn connect(url: &FtpUrl) -> Result<FtpClient, CliError> {
    let addrs: Vec<SocketAddr> = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| CliError::new(30, format!("cannot resolve {}: {e}", url.host)))?
        .collect();
    let mut ftp = FtpClient::connect_timeout(&addrs[..], Duration::from_secs(30))
        .map_err(|e| CliError::new(30, e.to_string()))?;
    ftp.login(&url.user, &url.password).map_err(|e| match e {
        FtpError::Refused { .. } => {
            CliError::new(31, format!("login as {} refused: {e}", url.user))
        }
        e => failure(url, e),
    })?;
    Ok(ftp)
}

/// Maps a failed operation onto the exit-code table.
fn failure(url: &FtpUrl, e: FtpError) -> CliError {
    let code = match &e {
        FtpError::Refused { .. } => 32,
        FtpError::Local(_) => 34,
        FtpError::Connect { .. } => 30,
        _ => 33,
    };
    CliError::new(code, format!("/{}: {e}", url.path))
}

fn get(url_text: &str, local: Option<PathBuf>, resume: bool) -> Result<(), CliError> {
    let url = parse_url(url_text)?;
    let name = Path::new(&url.path).file_name().map(PathBuf::from);
    let local = match local {
        Some(l) if l.is_dir() => {
            l.join(name.ok_or_else(|| CliError::config("the URL names no file"))?)
        }
        Some(l) => l,
        None => name.ok_or_else(|| CliError::config("the URL names no file; give LOCAL"))?,
    };
    let mut ftp = connect(&url)?;
    let local_error =
        |e: &dyn std::fmt::Display| CliError::new(34, format!("{}: {e}", local.display()));
    if resume {
        // Resuming appends to the file in place, by design.
        let offset = std::fs::metadata(&local).map(|m| m.len()).unwrap_or(0);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&local)
            .map_err(|e| local_error(&e))?;
        download(&mut ftp, &url, offset, &file).map_err(|e| failure(&url, e))?;
    } else {
        // A new download is written aside and replaces LOCAL only once it
        // is complete: a failure leaves an existing file as it was.
        let (mut store, mut writer) = write_aside(&local).map_err(|e| local_error(&e))?;
        let result = match writer.file() {
            Some(file) => download(&mut ftp, &url, 0, file),
            None => Err(FtpError::Local(std::io::Error::other("cannot write"))),
        };
        match result {
            Ok(_) => store.commit(writer).map_err(|e| local_error(&e))?,
            Err(e) => {
                store.discard(writer);
                return Err(failure(&url, e));
            }
        }
    }
    let _ = ftp.quit();
    Ok(())
}

/// Downloads `url` from `offset` into `file` with a progress bar.
fn download(ftp: &mut FtpClient, url: &FtpUrl, offset: u64, file: &File) -> Result<u64, FtpError> {
    use std::io::Write;
    let total = ftp.size(&url.path).ok();
    let bar = Progress::new(&url.path, total);
    bar.set(offset);
    let mut writer = std::io::BufWriter::with_capacity(256 * 1024, file);
    let result = ftp.get(&url.path, offset, &mut writer, &mut |n, _| {
        bar.set(offset + n)
    });
    bar.finish();
    let n = result?;
    writer.flush().map_err(FtpError::Local)?;
    Ok(n)
}

fn put(local: &Path, url_text: &str, append: bool) -> Result<(), CliError> {
    let mut url = parse_url(url_text)?;
    if url.path.is_empty() || url.path.ends_with('/') {
        let name = local
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| CliError::config(format!("{}: no file name", local.display())))?;
        url.path.push_str(name);
    }
    let mut file =
        File::open(local).map_err(|e| CliError::new(34, format!("{}: {e}", local.display())))?;
    let total = file.metadata().map(|m| m.len()).ok();
    let mut ftp = connect(&url)?;
    let bar = Progress::new(&url.path, total);
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, &mut file);
    let mode = if append {
        StoreMode::Append
    } else {
        StoreMode::Replace
    };
    let result = ftp.store(
        &url.path,
        mode,
        &mut reader as &mut dyn Read,
        &mut |n, _| bar.set(n),
    );
    bar.finish();
    result.map_err(|e| failure(&url, e))?;
    let _ = ftp.quit();
    Ok(())
}

fn ls(url_text: &str, names: bool, mlsd: bool) -> Result<(), CliError> {
    let url = parse_url(url_text)?;
    let mut ftp = connect(&url)?;
    let kind = match (names, mlsd) {
        (true, _) => ListKind::Names,
        (_, true) => ListKind::Facts,
        _ => ListKind::Long,
    };
    let path = (!url.path.is_empty()).then_some(url.path.as_str());
    let text = ftp.listing(path, kind).map_err(|e| failure(&url, e))?;
    for line in text.lines() {
        println!("{line}");
    }
    let _ = ftp.quit();
    Ok(())
}

fn hash() -> Result<(), CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::other(e.to_string()))?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err(CliError::config("empty password on standard input"));
    }
    println!(
        "{}",
        auth::hash_password(password).map_err(CliError::config)?
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("ftp://al%40ce:p%3Ass@[::1]:2121/dir/a%20b.bin").unwrap();
        assert_eq!(
            u,
            FtpUrl {
                host: "::1".into(),
                port: 2121,
                user: "al@ce".into(),
                password: "p:ss".into(),
                path: "dir/a b.bin".into(),
            }
        );
        let u = parse_url("ftp://example.org/f").unwrap();
        assert_eq!(
            (u.user.as_str(), u.port, u.path.as_str()),
            ("anonymous", 21, "f")
        );
        assert_eq!(parse_url("http://x/y").unwrap_err().code(), 3);
        assert_eq!(parse_url("ftp://").unwrap_err().code(), 3);
    }
}
