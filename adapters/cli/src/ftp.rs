//! `netboot ftp`: the FTP server and the client verbs.
//!
//! * `serve` runs [`netboot_mio::ftp::FtpServer`] (a server with FTP only)
//!   until SIGINT or SIGTERM. Settings come from the `[ftp]` table of `--config`
//!   and are overridden by flags. `--account NAME:PASSWORD` hashes the
//!   password (argon2id) at start-up; only the hash is kept in memory, and
//!   configuration files hold hashes only (`netboot ftp hash` makes one).
//!   `--user` and `--group` are the account the server runs as, as for
//!   every server (see [`crate::privilege`]).
//! * `get URL [LOCAL]`, `put LOCAL URL`, `ls URL` with URLs
//!   `ftp://[user[:password]@]host[:port]/path` (RFC 1738; anonymous when no
//!   user is given). Errors are one line carrying the server's reply; exit
//!   codes 30-34 (see `exit.rs`).

use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand};
use netboot_core::ftp::client::{ListKind, StoreMode};
use netboot_core::storage::Storage;
use netboot_mio::ftp::{FtpClient, FtpError};
use netboot_std::fs::write_aside;
use netboot_std::ftp::{FtpUser, auth};
use netboot_std::setup::ServerSetup;
use percent_encoding::percent_decode_str;

use crate::config::{Config, Start};
use crate::exit::{self, CliError};
use crate::interrupt;
use crate::login::LoginArgs;
use crate::output;
use crate::progress::Progress;

/// The FTP verbs.
#[derive(Subcommand, Debug)]
pub enum FtpCommand {
    /// Serve a directory over FTP.
    Serve(ServeArgs),
    /// Download ftp://[user[:password]@]host[:port]/path to LOCAL (default:
    /// the file's name, in the current directory; - is standard output).
    #[command(after_help = ftp_help())]
    Get {
        /// The remote file.
        url: String,
        /// Where to write it (a file, a directory, or - for standard output).
        local: Option<PathBuf>,
        /// Continue a partial download: fetch from LOCAL's current length.
        #[arg(long, short = 'c')]
        resume: bool,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// Upload LOCAL (- for standard input) to ftp://.../path (a path ending
    /// in / gets LOCAL's name).
    #[command(after_help = ftp_help())]
    Put {
        /// The local file, or - for standard input.
        local: PathBuf,
        /// Where to put it.
        url: String,
        /// Append to the remote file instead of replacing it.
        #[arg(long)]
        append: bool,
        #[command(flatten)]
        login: LoginArgs,
    },
    /// List a remote directory.
    #[command(after_help = ftp_help())]
    Ls {
        /// The remote directory (or file).
        url: String,
        /// Names only (NLST).
        #[arg(long, conflicts_with = "mlsd")]
        names: bool,
        /// RFC 3659 facts (MLSD).
        #[arg(long)]
        mlsd: bool,
        #[command(flatten)]
        login: LoginArgs,
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
    /// An FTP login, NAME:PASSWORD (repeatable); the password is hashed at
    /// start-up and never stored.
    #[arg(long = "account", value_name = "NAME:PASSWORD")]
    accounts: Vec<String>,
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
    #[command(flatten)]
    pub(crate) privilege: crate::privilege::PrivilegeArgs,
}

/// The client verbs' `--help` epilogue: exit codes and password sources.
fn ftp_help() -> String {
    format!(
        "{}\n\nThe password, first found: the URL or --password, --password-file, \
         NETBOOT_PASSWORD, ~/.netrc (or the file NETRC names); anonymous without a user.",
        exit::help(&[exit::FTP])
    )
}

/// Runs one `netboot ftp` verb.
pub fn run(command: FtpCommand) -> Result<(), CliError> {
    match command {
        FtpCommand::Serve(args) => serve(args),
        FtpCommand::Get {
            url,
            local,
            resume,
            login,
        } => get(&parse_url(&url, &login)?, local, resume),
        FtpCommand::Put {
            local,
            url,
            append,
            login,
        } => put(&local, parse_url(&url, &login)?, append),
        FtpCommand::Ls {
            url,
            names,
            mlsd,
            login,
        } => ls(&parse_url(&url, &login)?, names, mlsd),
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
    if let Some(user) = &args.privilege.user
        && user.contains(':')
    {
        // The value is not repeated: it may hold a password.
        return Err(CliError::config(
            "--user names the user the server runs as, not a login: give an FTP account as --account NAME:PASSWORD",
        ));
    }
    for spec in &args.accounts {
        let (name, password) = spec
            .split_once(':')
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| CliError::config("--account expects NAME:PASSWORD"))?;
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
            "nobody could log in: give --anonymous or at least one --account NAME:PASSWORD",
        ));
    }
    let setup = ServerSetup::new(&config.root)
        .no_bootp()
        .no_tftp()
        .ftp(config);
    Ok(Start {
        setup,
        spin: None,
        privilege: args.privilege.over(cfg.privilege()),
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
            output::say(&format!("ftp: listening on {addr}"));
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
    user: Option<String>,
    password: Option<String>,
    path: String,
}

impl FtpUrl {
    fn user(&self) -> &str {
        self.user.as_deref().unwrap_or("anonymous")
    }
}

fn parse_url(text: &str, login: &LoginArgs) -> Result<FtpUrl, CliError> {
    let mut url = parse_plain_url(text)?;
    let user = login.user.clone().or(url.user.take());
    let password = login.password.clone().or(url.password.take());
    let l = crate::login::resolve(&url.host, user, password, login.password_file.as_deref())?;
    url.user = Some(l.user);
    url.password = Some(l.password);
    Ok(url)
}

/// The URL as written: the user and password only when it names them.
fn parse_plain_url(text: &str) -> Result<FtpUrl, CliError> {
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
    let user = match url.username() {
        "" => None,
        u => Some(decode(u)?),
    };
    let password = url.password().map(decode).transpose()?;
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
    let password = url.password.as_deref().unwrap_or("");
    ftp.login(url.user(), password).map_err(|e| match e {
        FtpError::Refused { .. } => {
            CliError::new(31, format!("login as {} refused: {e}", url.user()))
        }
        e => failure(url, e),
    })?;
    Ok(ftp)
}

/// Maps a failed operation onto the exit-code table.
fn failure(url: &FtpUrl, e: FtpError) -> CliError {
    if let Some(sig) = interrupt::signal() {
        return CliError::interrupted(sig);
    }
    let code = match &e {
        FtpError::Refused { .. } => 32,
        FtpError::Local(_) => 34,
        FtpError::Connect { .. } => 30,
        _ => 33,
    };
    CliError::new(code, format!("/{}: {e}", url.path))
}

fn get(url: &FtpUrl, local: Option<PathBuf>, resume: bool) -> Result<(), CliError> {
    interrupt::install()?;
    let name = Path::new(&url.path).file_name().map(PathBuf::from);
    let local = match local {
        Some(l) if l.is_dir() => {
            l.join(name.ok_or_else(|| CliError::config("the URL names no file"))?)
        }
        Some(l) => l,
        None => name.ok_or_else(|| CliError::config("the URL names no file; give LOCAL"))?,
    };
    let mut ftp = connect(url)?;
    let local_error =
        |e: &dyn std::fmt::Display| CliError::new(34, format!("{}: {e}", local.display()));
    let bytes = if local.as_os_str() == "-" {
        if resume {
            return Err(CliError::config("--resume needs a local file, not -"));
        }
        let mut out = std::io::stdout().lock();
        let result = download(&mut ftp, url, 0, &mut out);
        if let Err(FtpError::Local(e)) = &result
            && e.kind() == std::io::ErrorKind::BrokenPipe
        {
            return Err(output::stdout_error(e));
        }
        result.map_err(|e| failure(url, e))?
    } else if resume {
        // Resuming appends to the file in place, by design.
        let offset = std::fs::metadata(&local).map(|m| m.len()).unwrap_or(0);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&local)
            .map_err(|e| local_error(&e))?;
        download(&mut ftp, url, offset, &mut file).map_err(|e| failure(url, e))?
    } else {
        // A new download is written aside and replaces LOCAL only once it
        // is complete: a failure or a signal leaves an existing file as it
        // was, and no partial file.
        let (mut store, mut writer) = write_aside(&local).map_err(|e| local_error(&e))?;
        let result = match writer.file() {
            Some(mut file) => download(&mut ftp, url, 0, &mut file),
            None => Err(FtpError::Local(std::io::Error::other("cannot write"))),
        };
        match result {
            Ok(n) => {
                store.commit(writer).map_err(|e| local_error(&e))?;
                n
            }
            Err(e) => {
                store.discard(writer);
                return Err(failure(url, e));
            }
        }
    };
    let _ = ftp.quit();
    transferred("ftp get", url, &local, bytes)
}

/// The `--json` result of a get or put.
fn transferred(command: &str, url: &FtpUrl, local: &Path, bytes: u64) -> Result<(), CliError> {
    output::result(serde_json::json!({
        "command": command,
        "server": format!("{}:{}", url.host, url.port),
        "user": url.user(),
        "remote": url.path,
        "local": local.display().to_string(),
        "bytes": bytes,
    }))
}

/// Downloads `url` from `offset` into `sink` with a progress bar; a signal
/// aborts it at the next block.
fn download(
    ftp: &mut FtpClient,
    url: &FtpUrl,
    offset: u64,
    sink: &mut dyn Write,
) -> Result<u64, FtpError> {
    let total = ftp.size(&url.path).ok();
    let bar = Progress::new(&url.path, total);
    bar.set(offset);
    let mut writer = std::io::BufWriter::with_capacity(256 * 1024, interrupt::Checked(sink));
    let result = ftp.get(&url.path, offset, &mut writer, &mut |n, size| {
        if let Some(size) = size {
            bar.set_total(offset + size);
        }
        bar.set(offset + n)
    });
    bar.finish();
    let n = result?;
    writer.flush().map_err(FtpError::Local)?;
    Ok(n)
}

fn put(local: &Path, mut url: FtpUrl, append: bool) -> Result<(), CliError> {
    interrupt::install()?;
    let from_stdin = local.as_os_str() == "-";
    if url.path.is_empty() || url.path.ends_with('/') {
        let name = local
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|_| !from_stdin)
            .ok_or_else(|| CliError::config(format!("{}: no file name", local.display())))?;
        url.path.push_str(name);
    }
    let (mut source, total): (Box<dyn Read>, Option<u64>) = if from_stdin {
        (Box::new(interrupt::Stdin::spawn()), None)
    } else {
        let file = File::open(local)
            .map_err(|e| CliError::new(34, format!("{}: {e}", local.display())))?;
        let total = file.metadata().map(|m| m.len()).ok();
        (Box::new(interrupt::CheckedRead(file)), total)
    };
    let mut ftp = connect(&url)?;
    let bar = Progress::new(&url.path, total);
    let mut reader = std::io::BufReader::with_capacity(256 * 1024, &mut source);
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
    let bytes = result.map_err(|e| failure(&url, e))?;
    let _ = ftp.quit();
    transferred("ftp put", &url, local, bytes)
}

fn ls(url: &FtpUrl, names: bool, mlsd: bool) -> Result<(), CliError> {
    let mut ftp = connect(url)?;
    let kind = match (names, mlsd) {
        (true, _) => ListKind::Names,
        (_, true) => ListKind::Facts,
        _ => ListKind::Long,
    };
    let path = (!url.path.is_empty()).then_some(url.path.as_str());
    let text = ftp.listing(path, kind).map_err(|e| failure(url, e))?;
    let _ = ftp.quit();
    if output::json() {
        return output::result(serde_json::json!({
            "command": "ftp ls",
            "server": format!("{}:{}", url.host, url.port),
            "path": url.path,
            "entries": text.lines().collect::<Vec<_>>(),
        }));
    }
    let mut listing = String::with_capacity(text.len());
    for line in text.lines() {
        listing.push_str(line);
        listing.push('\n');
    }
    output::write(listing.as_bytes())
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
    let hash = auth::hash_password(password).map_err(CliError::config)?;
    if output::json() {
        return output::result(serde_json::json!({ "command": "ftp hash", "hash": hash }));
    }
    output::line(&hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_plain_url("ftp://al%40ce:p%3Ass@[::1]:2121/dir/a%20b.bin").unwrap();
        assert_eq!(
            u,
            FtpUrl {
                host: "::1".into(),
                port: 2121,
                user: Some("al@ce".into()),
                password: Some("p:ss".into()),
                path: "dir/a b.bin".into(),
            }
        );
        let u = parse_plain_url("ftp://example.org/f").unwrap();
        assert_eq!(
            (u.user(), u.password.as_deref(), u.port, u.path.as_str()),
            ("anonymous", None, 21, "f")
        );
        assert_eq!(parse_plain_url("http://x/y").unwrap_err().code(), 3);
        assert_eq!(parse_plain_url("ftp://").unwrap_err().code(), 3);
    }
}
