//! `netboot check --config FILE`: everything `serve` would check before it
//! binds, and nothing started: the file (syntax, types, unknown
//! keys), BOOTP's subnets, pool and hosts, the plan's rules, the FTP
//! password hashes and passive ports, that the roots are directories,
//! that the lease and progress files can be read and parsed, that the
//! directories they are saved in are writable, and that the `user` and
//! `group` to run as exist. It shares `serve`'s own
//! code ([`crate::serve::settings`] and the server's preparation), so the
//! two cannot disagree. Exit 0 with a one-line summary, or 3 with one
//! `FILE:LINE: message` line per error found.

use std::path::{Path, PathBuf};

use clap::Args;
use netboot_std::clock::Clock;

use crate::config::Config;
use crate::exit::CliError;

/// Options of `netboot check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The configuration file to check.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// The errors in the file at `path` (none: the summary).
pub fn check(path: &Path) -> Result<String, Vec<CliError>> {
    // TFTP and FTP are checked when the file has a root or their table
    // (a file for `bootp serve` alone has neither), as `serve` runs them.
    let cfg = Config::load(Some(path)).map_err(|e| vec![e])?;
    let top = cfg.file.root.is_some();
    let (t, f) = cfg.table_roots();
    let tftp = top || t.is_some() || cfg.file.tftp.is_some();
    let ftp = top || f.is_some() || cfg.file.ftp.is_some();
    let args = crate::serve::ServeArgs {
        config: Some(path.to_path_buf()),
        no_tftp: !tftp,
        no_ftp: !ftp,
        ..Default::default()
    };
    let settings = crate::serve::settings(&args, false).map_err(|e| vec![e])?;
    let summary = settings.summary();
    let accounts = crate::privilege::missing_accounts(&settings.start.privilege);
    let setup = settings.start.setup;
    let state: Vec<(&str, PathBuf)> =
        [("bootp", &setup.lease_file), ("plan", &setup.progress_file)]
            .into_iter()
            .filter_map(|(table, f)| f.clone().map(|f| (table, f)))
            .collect();
    let prepared = setup
        .prepare(&Clock::new())
        .map_err(|e| vec![CliError::config(format!("{}: {e}", path.display()))])?;
    let mut errors: Vec<CliError> = prepared
        .warnings
        .iter()
        .map(|w| CliError::config(w.clone()))
        .collect();
    for (table, file) in state {
        if let Err(e) = writable_dir(&file) {
            errors.push(cfg.table_err(table, e));
        }
    }
    for (key, message) in accounts {
        let at = top_level_key(&cfg.text, key);
        errors.push(cfg.err(at..at, message));
    }
    if errors.is_empty() {
        Ok(summary)
    } else {
        Err(errors)
    }
}

/// Where the top-level `key` is set in `text` (before the first table),
/// for its line number.
fn top_level_key(text: &str, key: &str) -> usize {
    let mut offset = 0;
    for line in text.lines() {
        let l = line.trim_start();
        if l.starts_with('[') {
            break;
        }
        if l.strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='))
        {
            return offset;
        }
        offset += line.len() + 1;
    }
    0
}

/// Can `file` be saved where it is (a new file beside it, then renamed)?
fn writable_dir(file: &Path) -> Result<(), String> {
    let dir = match file.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let probe = dir.join(format!(".netboot-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            Ok(())
        }
        Err(e) => Err(format!(
            "{} cannot be saved: directory {}: {e}",
            file.display(),
            dir.display()
        )),
    }
}

/// Runs `netboot check`.
pub fn run(args: CheckArgs) -> Result<(), CliError> {
    let shown = args.config.display().to_string();
    match check(&args.config) {
        Ok(summary) => {
            // With the global `--json`: one object,
            // `{"file", "ok", "summary"}` (or `{"file", "ok", "errors"}`).
            if crate::output::json() {
                crate::output::print_json(
                    &serde_json::json!({"file": shown, "ok": true, "summary": summary}),
                )
            } else if crate::output::quiet() {
                Ok(())
            } else {
                crate::output::line(&format!("{shown}: ok: {summary}"))
            }
        }
        Err(mut errors) => {
            if crate::output::json() {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                crate::output::print_json(
                    &serde_json::json!({"file": shown, "ok": false, "errors": lines}),
                )?;
                return Err(CliError::config(format!(
                    "{shown}: {} error(s)",
                    errors.len()
                )));
            }
            let last = errors.pop().unwrap_or_else(|| CliError::config(shown));
            for e in errors {
                crate::output::stderr(&format!("netboot: {e}"));
            }
            Err(last)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unreadable_state_line_and_unwritable_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        let leases = dir.path().join("l");
        std::fs::write(
            &leases,
            "# netboot leases v1\n10.0.0.5 bogus\nnot a line at all\n",
        )
        .unwrap();
        let path = dir.path().join("lab.toml");
        std::fs::write(
            &path,
            "root = \"root\"\n[bootp]\nserver = \"10.0.0.1\"\nsubnet = \"10.0.0.0/24\"\n\
             lease_file = \"l\"\n[plan]\nprogress_file = \"gone/p\"\n",
        )
        .unwrap();
        let errors: Vec<String> = check(&path)
            .unwrap_err()
            .iter()
            .map(|e| {
                assert_eq!(e.code(), 3);
                e.to_string()
            })
            .collect();
        let l = leases.display();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(
            errors[0].starts_with(&format!("{l}:2: ignored lease: ")),
            "{errors:#?}"
        );
        assert!(
            errors[1].starts_with(&format!("{l}:3: ignored lease: ")),
            "{errors:#?}"
        );
        assert!(
            errors[2].starts_with(&format!("{}:6: ", path.display()))
                && errors[2].contains("gone/p cannot be saved"),
            "{errors:#?}"
        );
        // Fixed, it says what it holds.
        std::fs::write(&leases, "").unwrap();
        std::fs::create_dir(dir.path().join("gone")).unwrap();
        assert_eq!(
            check(&path).unwrap(),
            "bootp 10.0.0.0/24 pool 0 addresses, tftp, ftp, plan 0 clients 0 rules"
        );
    }

    #[test]
    fn accounts_that_do_not_exist_are_named_with_their_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lab.toml");
        std::fs::write(
            &path,
            "root = \".\"\n# the account\nuser = \"netboot-nobody-here\"\ngroup=\"root\"\n[tftp]\n",
        )
        .unwrap();
        let errors: Vec<String> = check(&path)
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            errors,
            [format!(
                "{}:3: user \"netboot-nobody-here\" does not exist: create it (useradd --system netboot-nobody-here) or choose another",
                path.display()
            )]
        );
        std::fs::write(&path, "root = \".\"\nuser = \"root\"\ngroup = \"root\"\n").unwrap();
        assert!(check(&path).is_ok());
    }
}
