//! `netboot check --config FILE`: everything `serve` would check before it
//! binds, and nothing started: the file (syntax, types, unknown
//! keys), BOOTP's subnets, pool and hosts, the plan's rules, the FTP
//! password hashes and passive ports, that the roots are directories,
//! that the lease and progress files can be read and parsed, and that the
//! directories they are saved in are writable. It shares `serve`'s own
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
    /// Print the outcome as one JSON object
    /// (`{"file", "ok", "summary"}` or `{"file", "ok", "errors"}`).
    #[arg(long)]
    json: bool,
}

/// The errors in the file at `path` (none: the summary).
pub fn check(path: &Path) -> Result<String, Vec<CliError>> {
    // TFTP and FTP are checked when the file has a root or their table
    // (a file for `bootp serve` alone has neither), as `serve` runs them.
    let (tftp, ftp) = Config::load(Some(path))
        .map(|c| {
            let top = c.file.root.is_some();
            let (t, f) = c.table_roots();
            let tftp = top || t.is_some() || c.file.tftp.is_some();
            (tftp, top || f.is_some() || c.file.ftp.is_some())
        })
        .map_err(|e| vec![e])?;
    let args = crate::serve::ServeArgs {
        config: Some(path.to_path_buf()),
        no_tftp: !tftp,
        no_ftp: !ftp,
        ..Default::default()
    };
    let settings = crate::serve::settings(&args, false).map_err(|e| vec![e])?;
    let summary = settings.summary();
    let setup = settings.start.setup;
    let state: Vec<PathBuf> = [&setup.lease_file, &setup.progress_file]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
    let prepared = setup
        .prepare(&Clock::new())
        .map_err(|e| vec![CliError::config(format!("{}: {e}", path.display()))])?;
    let mut errors: Vec<CliError> = prepared
        .warnings
        .iter()
        .map(|w| CliError::config(w.clone()))
        .collect();
    for file in state {
        if let Err(e) = writable_dir(&file) {
            errors.push(CliError::config(format!("{}: {e}", path.display())));
        }
    }
    if errors.is_empty() {
        Ok(summary)
    } else {
        Err(errors)
    }
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
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({"file": shown, "ok": true, "summary": summary})
                );
            } else {
                println!("{shown}: ok: {summary}");
            }
            Ok(())
        }
        Err(mut errors) => {
            if args.json {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                println!(
                    "{}",
                    serde_json::json!({"file": shown, "ok": false, "errors": lines})
                );
                return Err(CliError::config(format!(
                    "{shown}: {} error(s)",
                    errors.len()
                )));
            }
            let last = errors.pop().unwrap_or_else(|| CliError::config(shown));
            for e in errors {
                eprintln!("netboot: {e}");
            }
            Err(last)
        }
    }
}
