//! The one configuration file every netboot server reads: `serve`,
//! `bootp serve`, `tftp serve`, `ftp serve`, and `check`, which validates
//! it. One set of types, one file that works for all of them (the schema,
//! every key and its default: docs/configuration.md).
//!
//! ```toml
//! root = "/srv/netboot"     # what TFTP and FTP serve (relative to this file)
//! user = "nobody"           # the account a server drops to once bound
//! group = "nogroup"
//!
//! [bootp]                   # subnet, pool, options, [[bootp.host]], [[bootp.relayed]]
//! [tftp]                    # root (overrides the top level), listen, limits
//! [ftp]                     # root (overrides the top level), listen, accounts
//! [plan]                    # stages, [[plan.client]], [[plan.boot]]
//! ```
//!
//! Each server reads its own table and still checks the others, so a
//! mistake anywhere in the file is found by whichever server reads it.
//! Unknown tables and keys are errors; every error is `FILE:LINE: message`
//! (exit code 3); `[provision]` belongs to `netboot provision`. Nothing serves a directory nobody named: a server
//! without a root (flag, its table's `root` or the top-level one) refuses
//! to start. A `[store]` table is reserved for the storage back end.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use netboot_std::ftp::FtpConfig;
use netboot_std::setup::ServerSetup;
use serde::Deserialize;
use toml::Spanned;

use crate::bootp::config as bootp_config;
use crate::exit::CliError;
use crate::plan::PlanTable;

/// The file as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// The served directory of TFTP and FTP.
    pub root: Option<Spanned<PathBuf>>,
    /// The user a server runs as once its sockets are bound.
    pub user: Option<String>,
    /// The group a server runs as once its sockets are bound.
    pub group: Option<String>,
    /// BOOTP/DHCP.
    pub bootp: Option<bootp_config::Raw>,
    /// TFTP.
    pub tftp: Option<TftpTable>,
    /// FTP (the keys of [`FtpConfig`]).
    pub ftp: Option<FtpConfig>,
    /// The provisioning plan.
    pub plan: Option<PlanTable>,
    /// `netboot provision`'s settings: its own command checks them, and
    /// the servers leave them alone, so that a lab file can hold them.
    #[serde(rename = "provision")]
    _provision: Option<toml::Table>,
}

/// The `[tftp]` table.
#[derive(Deserialize, Default, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct TftpTable {
    /// The served directory (overrides the top-level `root`).
    pub root: Option<Spanned<PathBuf>>,
    /// Listening addresses [default: 0.0.0.0:69].
    #[serde(default)]
    pub listen: Vec<SocketAddr>,
    /// Accept uploads.
    pub writable: Option<bool>,
    /// Let uploads replace files.
    pub overwrite: Option<bool>,
    /// Cap on the negotiated blksize (8 to 65464).
    pub max_blksize: Option<Spanned<u16>>,
    /// Cap on the negotiated windowsize (at least 1).
    pub max_windowsize: Option<u16>,
    /// Most transfers at once.
    pub max_transfers: Option<usize>,
    /// Largest upload, in bytes.
    pub max_upload: Option<u64>,
    /// Honour the client's timeout option.
    pub accept_timeout: Option<bool>,
    /// Microseconds the loop spins after traffic (at most 1000000).
    pub busy_poll_us: Option<Spanned<u64>>,
}

/// What the `[ftp]` table says about the keys whose absence matters (the
/// FTP settings themselves default every key).
#[derive(Deserialize, Default)]
struct FtpProbe {
    ftp: Option<FtpKeys>,
}

#[derive(Deserialize, Default)]
struct FtpKeys {
    root: Option<Spanned<PathBuf>>,
    anonymous: Option<bool>,
}

/// A loaded file: its text (for line numbers) and its tables.
pub struct Config {
    /// Where it was read from (`(flags)` without a file).
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// Its tables.
    pub file: File,
    ftp_root: Option<Spanned<PathBuf>>,
    ftp_anonymous: Option<bool>,
    named: bool,
}

/// The account a server drops to (the privilege drop is the server's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Privilege {
    /// `user`.
    pub user: Option<String>,
    /// `group`.
    pub group: Option<String>,
}

/// The line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|&b| b == b'\n')
        .count()
        + 1
}

impl Config {
    /// Reads and parses the file at `path`; without one, an empty
    /// configuration that only flags fill in.
    pub fn load(path: Option<&Path>) -> Result<Config, CliError> {
        let Some(path) = path else {
            return Ok(Config {
                path: PathBuf::from("(flags)"),
                text: String::new(),
                file: File::default(),
                ftp_root: None,
                ftp_anonymous: None,
                named: false,
            });
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::config(format!("cannot read {}: {e}", path.display())))?;
        let file: File =
            toml::from_str(&text).map_err(|e| bootp_config::toml_error(path, &text, &e))?;
        let probe = toml::from_str::<FtpProbe>(&text)
            .ok()
            .and_then(|p| p.ftp)
            .unwrap_or_default();
        Ok(Config {
            path: path.to_path_buf(),
            text,
            file,
            ftp_root: probe.root,
            ftp_anonymous: probe.anonymous,
            named: true,
        })
    }

    /// `FILE:LINE: what`, for the value at `span`.
    pub fn err(&self, span: Range<usize>, what: impl std::fmt::Display) -> CliError {
        CliError::config(format!(
            "{}:{}: {what}",
            self.path.display(),
            line_of(&self.text, span.start)
        ))
    }

    /// `p`, relative to the file's directory when it is relative.
    pub fn relative(&self, p: &Path) -> PathBuf {
        match self.path.parent() {
            Some(dir) if self.named && p.is_relative() => dir.join(p),
            _ => p.to_path_buf(),
        }
    }

    /// The account the file names.
    pub fn privilege(&self) -> Privilege {
        Privilege {
            user: self.file.user.clone(),
            group: self.file.group.clone(),
        }
    }

    /// The directory `who` serves: the flag, else its table's `root`, else
    /// the top-level one; it must be a directory.
    pub fn root(
        &self,
        flag: Option<&Path>,
        table: Option<&Spanned<PathBuf>>,
        who: &str,
    ) -> Result<PathBuf, CliError> {
        if let Some(flag) = flag {
            if !flag.is_dir() {
                return Err(CliError::config(format!(
                    "{}: not a directory",
                    flag.display()
                )));
            }
            return Ok(flag.to_path_buf());
        }
        let named = table.or(self.file.root.as_ref()).ok_or_else(|| {
            CliError::config(format!(
                "no directory for {who} to serve: give --root DIR, or `root` in --config"
            ))
        })?;
        let root = self.relative(named.get_ref());
        if !root.is_dir() {
            return Err(self.err(
                named.span(),
                format!("root {} is not a directory", root.display()),
            ));
        }
        Ok(root)
    }

    /// The `[tftp]` table (empty when absent), its values checked.
    pub fn tftp(&self) -> Result<TftpTable, CliError> {
        let t = self.file.tftp.clone().unwrap_or_default();
        if let Some(b) = &t.max_blksize
            && !(8..=65464).contains(b.get_ref())
        {
            return Err(self.err(b.span(), "max_blksize must be within 8..=65464"));
        }
        if let Some(us) = &t.busy_poll_us {
            crate::tftp::busy_poll(*us.get_ref()).map_err(|e| self.err(us.span(), e))?;
        }
        Ok(t)
    }

    /// The `[tftp] root` and `[ftp] root` keys, for the servers that
    /// serve them.
    pub fn table_roots(&self) -> (Option<&Spanned<PathBuf>>, Option<&Spanned<PathBuf>>) {
        (
            self.file.tftp.as_ref().and_then(|t| t.root.as_ref()),
            self.ftp_root.as_ref(),
        )
    }

    /// The `[ftp]` settings (defaults when absent) with `root`; anonymous
    /// logins are `anonymous_default` unless the table says.
    pub fn ftp(&self, root: PathBuf, anonymous_default: bool) -> Result<FtpConfig, CliError> {
        let mut ftp = self.file.ftp.clone().unwrap_or_default();
        ftp.root = root;
        ftp.anonymous = self.ftp_anonymous.unwrap_or(anonymous_default);
        ftp.passive_ports()
            .map_err(|e| self.table_err("ftp", e.0))?;
        for user in &ftp.users {
            netboot_std::ftp::auth::check_hash(&user.password_hash)
                .map_err(|e| self.table_err("ftp.users", format!("user {}: {e}", user.name)))?;
        }
        Ok(ftp)
    }

    /// An error about a table without a span of its own: the line of its
    /// header.
    pub fn table_err(&self, table: &str, what: impl std::fmt::Display) -> CliError {
        let headers = [format!("[{table}]"), format!("[[{table}]]")];
        let offset = self
            .text
            .lines()
            .scan(0, |at, line| {
                let start = *at;
                *at += line.len() + 1;
                Some((start, line.trim()))
            })
            .find(|(_, l)| headers.iter().any(|h| l.starts_with(h.as_str())))
            .map_or(0, |(start, _)| start);
        self.err(offset..offset, what)
    }

    /// The checked `[bootp]` table, if any; `bootp_dynamic` is that
    /// setting's default.
    pub fn bootp(
        &mut self,
        bootp_dynamic: bool,
    ) -> Result<Option<bootp_config::Settings>, CliError> {
        match self.file.bootp.take() {
            Some(raw) => bootp_config::check(&self.path, &self.text, raw, bootp_dynamic).map(Some),
            None => Ok(None),
        }
    }

    /// Checks every table a server does not itself use, so that one file
    /// serves every server and a mistake is found by whichever reads it.
    pub fn check_others(&mut self) -> Result<(), CliError> {
        self.bootp(false)?;
        let plan = self.file.plan.take().unwrap_or_default();
        let src = crate::plan::Source {
            path: &self.path,
            text: &self.text,
        };
        let stages = plan.stages.as_ref().map(|s| s.get_ref().clone());
        crate::plan::profiles(&src, &plan, stages.as_deref())?;
        self.tftp()?;
        let root = self.file.root.as_ref().map(|r| self.relative(r.get_ref()));
        self.ftp(root.unwrap_or_default(), false)?;
        Ok(())
    }
}

impl TftpTable {
    /// `setup` with this table's TFTP settings, and the loop's spin after
    /// traffic when `busy_poll_us` sets it.
    pub fn apply(
        &self,
        mut setup: ServerSetup,
    ) -> Result<(ServerSetup, Option<Duration>), CliError> {
        for l in &self.listen {
            setup = setup.tftp_listen(*l);
        }
        let spin = self
            .busy_poll_us
            .as_ref()
            .map(|us| crate::tftp::busy_poll(*us.get_ref()))
            .transpose()?;
        let setup = setup.tftp_config(|t| {
            if let Some(n) = &self.max_blksize {
                t.server.limits.max_blksize = (*n.get_ref()).clamp(8, 65464);
            }
            if let Some(n) = self.max_windowsize {
                t.server.limits.max_windowsize = n.max(1);
            }
            if let Some(n) = self.max_transfers {
                t.max_transfers = n.max(1);
            }
            if let Some(w) = self.writable {
                t.server.writable = w;
            }
            if let Some(o) = self.overwrite {
                t.server.overwrite = o;
            }
            if self.max_upload.is_some() {
                t.server.limits.max_upload = self.max_upload;
            }
            if let Some(a) = self.accept_timeout {
                t.server.limits.accept_timeout = a;
            }
        });
        Ok((setup, spin))
    }
}

/// What a server starts from: the setup, and what it says once running.
pub struct Start {
    /// The core server's setup.
    pub setup: ServerSetup,
    /// The loop's spin after traffic, when configured.
    pub spin: Option<Duration>,
    /// The account to drop to once bound.
    pub privilege: Privilege,
    /// What is saved at shutdown, for the closing line.
    pub saved: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Bootp {
        #[command(flatten)]
        a: crate::bootp::ServeArgs,
    }
    #[derive(Parser)]
    struct Tftp {
        #[command(flatten)]
        a: crate::tftp::ServeArgs,
    }
    #[derive(Parser)]
    struct Ftp {
        #[command(flatten)]
        a: crate::ftp::ServeArgs,
    }
    #[derive(Parser)]
    struct Serve {
        #[command(flatten)]
        a: crate::serve::ServeArgs,
    }

    /// A directory with `root/` and the file `lab.toml` holding `text`.
    fn lab(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::create_dir(dir.path().join("other")).unwrap();
        let path = dir.path().join("lab.toml");
        std::fs::write(&path, text).unwrap();
        let shown = path.display().to_string();
        (dir, shown)
    }

    const ALL: &str = "root = \"root\"\nuser = \"nobody\"\ngroup = \"nogroup\"\n\
        [bootp]\nserver = \"127.0.0.1\"\nsubnet = \"127.0.0.0/8\"\nlisten = \"127.0.0.1:0\"\n\
        [[bootp.host]]\nmac = \"52:54:00:00:00:01\"\nhostname = \"one\"\n\
        [tftp]\nlisten = [\"127.0.0.1:0\"]\nmax_blksize = 1468\n\
        [ftp]\nlisten = \"127.0.0.1:0\"\nanonymous = true\n\
        [plan]\nstages = [\"a\"]\n";

    fn message(r: Result<impl Sized, CliError>) -> String {
        match r {
            Ok(_) => panic!("accepted"),
            Err(e) => {
                assert_eq!(e.code(), 3, "{e}");
                e.to_string()
            }
        }
    }

    #[test]
    fn one_file_serves_every_server_with_its_own_table() {
        let (dir, path) = lab(ALL);
        let root = dir.path().join("root");
        let (bootp, _, _) =
            crate::bootp::start(&Bootp::parse_from(["t", "--config", &path]).a).unwrap();
        assert!(bootp.setup.bootp.is_some() && bootp.setup.tftp.is_none());
        assert_eq!(
            bootp.privilege,
            Privilege {
                user: Some("nobody".into()),
                group: Some("nogroup".into())
            }
        );
        let (tftp, served) =
            crate::tftp::start(&Tftp::parse_from(["t", "--config", &path]).a).unwrap();
        assert_eq!(served, root);
        let limits = tftp.setup.tftp.as_ref().unwrap().server.limits;
        assert_eq!(limits.max_blksize, 1468);
        assert!(tftp.setup.bootp.is_none() && tftp.setup.ftp.is_none());
        let ftp = crate::ftp::start(&Ftp::parse_from(["t", "--config", &path]).a).unwrap();
        let ftp_config = ftp.setup.ftp.as_ref().unwrap();
        assert!(ftp_config.anonymous);
        assert_eq!(ftp_config.root, root);
        let serve =
            crate::serve::settings(&Serve::parse_from(["t", "--config", &path]).a, true).unwrap();
        assert_eq!(serve.start.setup.root, root);
    }

    #[test]
    fn each_server_still_checks_the_tables_it_does_not_use() {
        let bad = ALL.replace("subnet = \"127.0.0.0/8\"", "subnet = \"127.0.0.0/99\"");
        let (_dir, path) = lab(&bad);
        let want = format!("{path}:6: subnet \"127.0.0.0/99\" is not ADDRESS/PREFIX");
        let e = message(crate::tftp::start(
            &Tftp::parse_from(["t", "--config", &path]).a,
        ));
        assert!(e.starts_with(&want), "{e}");
        let e = message(crate::ftp::start(
            &Ftp::parse_from(["t", "--config", &path]).a,
        ));
        assert!(e.starts_with(&want), "{e}");
        let (_dir, path) = lab(&ALL.replace("[plan]\n", "[plann]\n"));
        let e = message(crate::bootp::start(
            &Bootp::parse_from(["t", "--config", &path]).a,
        ));
        assert!(
            e.starts_with(&format!("{path}:17: unknown field `plann`")),
            "{e}"
        );
        let (_dir, path) = lab(&ALL.replace("anonymous = true", "anonymus = true"));
        let e = message(crate::ftp::start(
            &Ftp::parse_from(["t", "--config", &path]).a,
        ));
        assert!(
            e.starts_with(&format!("{path}:16: unknown field `anonymus`")),
            "{e}"
        );
    }

    #[test]
    fn table_roots_override_the_top_level_and_serve_wants_one() {
        let (dir, path) = lab(&ALL.replace("[ftp]\n", "[ftp]\nroot = \"other\"\n"));
        let ftp = crate::ftp::start(&Ftp::parse_from(["t", "--config", &path]).a).unwrap();
        assert_eq!(ftp.setup.ftp.unwrap().root, dir.path().join("other"));
        let e = message(crate::serve::settings(
            &Serve::parse_from(["t", "--config", &path]).a,
            true,
        ));
        assert!(
            e.starts_with(&format!("{path}:15: serve runs TFTP and FTP from one root")),
            "{e}"
        );
        // The flag names one root for both.
        let root = dir.path().join("root");
        let flags = ["t", "--config", &path, "--root", root.to_str().unwrap()];
        assert!(crate::serve::settings(&Serve::parse_from(flags).a, true).is_ok());
    }

    #[test]
    fn nothing_serves_a_directory_nobody_named() {
        let (_dir, path) = lab("[ftp]\nanonymous = true\n");
        let e = message(crate::ftp::start(
            &Ftp::parse_from(["t", "--config", &path, "--anonymous"]).a,
        ));
        assert!(e.starts_with("no directory for FTP to serve"), "{e}");
        let e = message(crate::tftp::start(&Tftp::parse_from(["t"]).a));
        assert!(e.starts_with("no directory for TFTP to serve"), "{e}");
        let (_dir, path) = lab("root = \"missing\"\n[tftp]\n");
        let e = message(crate::tftp::start(
            &Tftp::parse_from(["t", "--config", &path]).a,
        ));
        assert!(e.starts_with(&format!("{path}:1: root ")), "{e}");
        assert!(e.ends_with("missing is not a directory"), "{e}");
    }
}
