//! Where an FTP password comes from, in this order (the first that gives
//! one wins):
//!
//! 1. the command line: `ftp://user:password@host/` or `--password TEXT`
//!    (visible to every local user in `ps`; prefer the next ones);
//! 2. `--password-file FILE`: its first line, without the line end;
//! 3. the `NETBOOT_PASSWORD` environment variable;
//! 4. `~/.netrc` (or the file `NETRC` names, as curl does): the `machine`
//!    entry of the host (with the same `login` when a user was given), or
//!    else the `default` entry;
//! 5. anonymous (`anonymous` / `netboot@`) when no user was given.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::exit::CliError;

/// The environment variable holding a password.
pub const PASSWORD_ENV: &str = "NETBOOT_PASSWORD";

/// The password options every FTP client verb takes.
#[derive(Args, Debug, Default, Clone)]
pub struct LoginArgs {
    /// Log in as NAME (overrides a user in the URL).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// The password (visible in `ps`: prefer --password-file,
    /// NETBOOT_PASSWORD or ~/.netrc).
    #[arg(long, value_name = "TEXT")]
    pub password: Option<String>,
    /// Read the password from the first line of FILE.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// A user name and password to log in with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    /// The user name.
    pub user: String,
    /// The password.
    pub password: String,
}

impl Login {
    /// The anonymous login.
    pub fn anonymous() -> Self {
        Login {
            user: "anonymous".into(),
            password: "netboot@".into(),
        }
    }
}

/// Decides the login for `host`: `user` and `password` from the command
/// line (URL or flags), then the other sources in the documented order.
pub fn resolve(
    host: &str,
    user: Option<String>,
    password: Option<String>,
    password_file: Option<&Path>,
) -> Result<Login, CliError> {
    let password = match (password, password_file) {
        (Some(p), _) => Some(p),
        (None, Some(file)) => Some(read_password_file(file)?),
        (None, None) => std::env::var(PASSWORD_ENV).ok(),
    };
    if let (Some(user), Some(password)) = (&user, &password) {
        return Ok(Login {
            user: user.clone(),
            password: password.clone(),
        });
    }
    if let Some(entry) = netrc_file().and_then(|text| netrc_lookup(&text, host, user.as_deref())) {
        return Ok(Login {
            user: user.unwrap_or(entry.user),
            password: password.unwrap_or(entry.password),
        });
    }
    Ok(match user {
        Some(user) => Login {
            user,
            password: password.unwrap_or_default(),
        },
        None => Login::anonymous(),
    })
}

fn read_password_file(path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::config(format!("--password-file {}: {e}", path.display())))?;
    let first = text.lines().next().unwrap_or("");
    Ok(first.trim_end_matches('\r').to_string())
}

/// The text of `$NETRC` or `~/.netrc`, if there is one.
fn netrc_file() -> Option<String> {
    let path = match std::env::var_os("NETRC") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".netrc"),
    };
    std::fs::read_to_string(path).ok()
}

/// Finds the login for `host` in a `.netrc` text: the first `machine host`
/// entry (whose `login` is `user`, when one is given), else `default`.
/// `macdef` bodies (up to an empty line) are skipped.
pub fn netrc_lookup(text: &str, host: &str, user: Option<&str>) -> Option<Login> {
    #[derive(Default)]
    struct Entry {
        machine: Option<String>,
        login: Option<String>,
        password: Option<String>,
    }
    let mut entries: Vec<Entry> = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let mut words = line.split_whitespace();
        while let Some(word) = words.next() {
            match word {
                "machine" => entries.push(Entry {
                    machine: words.next().map(str::to_string),
                    ..Entry::default()
                }),
                "default" => entries.push(Entry::default()),
                "login" | "password" | "account" => {
                    let value = words.next().map(str::to_string);
                    if let Some(e) = entries.last_mut() {
                        match word {
                            "login" => e.login = value,
                            "password" => e.password = value,
                            _ => {}
                        }
                    }
                }
                "macdef" => {
                    for body in lines.by_ref() {
                        if body.trim().is_empty() {
                            break;
                        }
                    }
                    break;
                }
                _ => {}
            }
        }
    }
    let fits = |e: &&Entry| user.is_none_or(|u| e.login.as_deref() == Some(u));
    let found = entries
        .iter()
        .filter(|e| e.machine.as_deref() == Some(host))
        .find(fits)
        .or_else(|| entries.iter().filter(|e| e.machine.is_none()).find(fits))?;
    Some(Login {
        user: found.login.clone().or(user.map(str::to_string))?,
        password: found.password.clone().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NETRC: &str = "machine a.example login al password one\n\
        machine b.example\n  login bo\n  password two\n\
        macdef init\ncd /pub\n\n\
        machine b.example login cy password three\n\
        default login anon password guest\n";

    fn login(user: &str, password: &str) -> Option<Login> {
        Some(Login {
            user: user.into(),
            password: password.into(),
        })
    }

    #[test]
    fn netrc_machine_login_and_default() {
        assert_eq!(netrc_lookup(NETRC, "a.example", None), login("al", "one"));
        assert_eq!(netrc_lookup(NETRC, "b.example", None), login("bo", "two"));
        assert_eq!(
            netrc_lookup(NETRC, "b.example", Some("cy")),
            login("cy", "three")
        );
        assert_eq!(
            netrc_lookup(NETRC, "c.example", None),
            login("anon", "guest")
        );
        assert_eq!(netrc_lookup(NETRC, "a.example", Some("zed")), None);
        assert_eq!(netrc_lookup("", "a.example", None), None);
    }
}
