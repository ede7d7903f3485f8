//! `netboot leases`: the leases and plan progress a server keeps, read
//! through the same parsers the server restores them with
//! ([`netboot_std::leasefile`], [`netboot_std::progress`]).
//!
//! One line per client: MAC, address, state, expiry (UTC, and `in 3h12m`
//! or `expired`), hostname (from `[[bootp.host]]` when `--config` is
//! given), and plan stage `n/m` (`n` alone without the plan). `--json`
//! prints an array of objects with the fields `mac`, `ip`, `state`,
//! `expires` (Unix seconds, `null` for never), `expired`, `hostname`,
//! `stage` and `stages` (`null` when unknown).

use std::collections::BTreeMap;
use std::path::PathBuf;

use clap::Args;
use netboot_core::bootp::HwAddr;
use netboot_core::bootp::leases::LeaseState;
use netboot_core::ftp::date::DateTime;
use netboot_core::plan::Profiles;
use netboot_core::plan::rules::Client;
use netboot_core::time::Instant;

use crate::config::Config;
use crate::exit::CliError;

/// Options of `netboot leases`.
#[derive(Args, Debug)]
pub struct LeasesArgs {
    /// The server's configuration: where its files are, its hosts and plan.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// The lease file (overrides `[bootp] lease_file`).
    #[arg(long, value_name = "FILE")]
    lease_file: Option<PathBuf>,
    /// The progress file (overrides `[plan] progress_file`).
    #[arg(long, value_name = "FILE")]
    progress_file: Option<PathBuf>,
}

/// One client's row.
#[derive(Debug, Default, PartialEq, Eq)]
struct Row {
    mac: String,
    ip: Option<String>,
    state: Option<&'static str>,
    /// Unix seconds; `None`: never.
    expires: Option<u64>,
    hostname: Option<String>,
    stage: Option<usize>,
    stages: Option<usize>,
}

fn state_name(s: LeaseState) -> &'static str {
    match s {
        LeaseState::Bound => "bound",
        LeaseState::Released => "released",
        LeaseState::Declined => "declined",
        LeaseState::Offered => "offered",
        _ => "reserved",
    }
}

/// `3h12m`, `5m`, `40s`, `2d3h`.
fn span(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, m) => format!("{h}h{m:02}m"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

fn when(expires: Option<u64>, now: u64) -> String {
    match expires {
        None => "never".to_string(),
        Some(t) => {
            let d = DateTime::from_unix(t);
            let date = format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
                d.year, d.month, d.day, d.hour, d.minute, d.second
            );
            if t <= now {
                format!("{date} (expired)")
            } else {
                format!("{date} (in {})", span(t - now))
            }
        }
    }
}

fn rows(args: &LeasesArgs, now: u64) -> Result<Vec<Row>, CliError> {
    let mut cfg = Config::load(args.config.as_deref())?;
    let bootp = cfg.bootp(false)?;
    let plan = cfg.file.plan.take().unwrap_or_default();
    let src = crate::plan::Source {
        path: &cfg.path,
        text: &cfg.text,
    };
    let stages = plan.stages.as_ref().map(|s| s.get_ref().clone());
    let profiles = args
        .config
        .is_some()
        .then(|| crate::plan::profiles(&src, &plan, stages.as_deref()))
        .transpose()?;
    let lease_file = args
        .lease_file
        .clone()
        .or_else(|| bootp.as_ref().and_then(|b| b.lease_file.clone()));
    let progress_file = args
        .progress_file
        .clone()
        .or_else(|| plan.progress_file.as_deref().map(|p| cfg.relative(p)));
    if lease_file.is_none() && progress_file.is_none() {
        return Err(CliError::config(
            "no lease or progress file: give --lease-file, --progress-file, or a --config that names them",
        ));
    }
    let unreadable = |p: &PathBuf, e: std::io::Error| {
        CliError::config(format!("cannot read {}: {e}", p.display()))
    };
    let mut rows: BTreeMap<Vec<u8>, Row> = BTreeMap::new();
    if let Some(path) = &lease_file {
        let (leases, bad) = netboot_std::leasefile::load_at(path, Instant::from_secs(now), now)
            .map_err(|e| unreadable(path, e))?;
        for b in bad {
            crate::output::stderr(&format!(
                "netboot: warning: {}:{}: ignored lease: {}",
                path.display(),
                b.line,
                b.error
            ));
        }
        for l in leases {
            let row = rows.entry(l.hw.as_bytes().to_vec()).or_default();
            row.mac = l.hw.to_string();
            row.ip = Some(l.ip.to_string());
            row.state = Some(state_name(l.state));
            row.expires = (l.expires != Instant::MAX).then(|| l.expires.since_epoch().as_secs());
        }
    }
    if let Some(path) = &progress_file {
        let (entries, bad) = netboot_std::progress::load(path).map_err(|e| unreadable(path, e))?;
        for b in bad {
            crate::output::stderr(&format!(
                "netboot: warning: {}:{}: ignored: {}",
                path.display(),
                b.line,
                b.error
            ));
        }
        for (hw, stage) in entries {
            let row = rows.entry(hw.to_vec()).or_default();
            if row.mac.is_empty() {
                // The file keeps the address bytes alone; they print the
                // same whatever the hardware type.
                row.mac = HwAddr::new(1, &hw).to_string();
            }
            row.stage = Some(stage);
        }
    }
    for (hw, row) in &mut rows {
        if let Some(b) = &bootp {
            row.hostname = b
                .server
                .hosts()
                .iter()
                .find(|h| h.hw.as_bytes() == hw.as_slice())
                .map(|h| h.hostname.to_string())
                .filter(|n| !n.is_empty());
        }
        if let (Some(p), Some(_)) = (&profiles, row.stage) {
            row.stages = p.select(&Client::hw(hw)).map(|id| p.stage_count(id));
        }
    }
    Ok(rows.into_values().collect())
}

fn line(r: &Row, now: u64) -> String {
    let stage = match (r.stage, r.stages) {
        (Some(n), Some(m)) => format!("stage {n}/{m}"),
        (Some(n), None) => format!("stage {n}"),
        (None, _) => "-".to_string(),
    };
    let expiry = if r.state.is_some() {
        when(r.expires, now)
    } else {
        "-".to_string()
    };
    format!(
        "{:<17}  {:<15}  {:<8}  {:<34}  {:<16}  {stage}",
        r.mac,
        r.ip.as_deref().unwrap_or("-"),
        r.state.unwrap_or("-"),
        expiry,
        r.hostname.as_deref().unwrap_or("-"),
    )
}

fn json(r: &Row, now: u64) -> serde_json::Value {
    serde_json::json!({
        "mac": r.mac,
        "ip": r.ip,
        "state": r.state,
        "expires": r.expires,
        "expired": r.expires.is_some_and(|t| t <= now),
        "hostname": r.hostname,
        "stage": r.stage,
        "stages": r.stages,
    })
}

/// Runs `netboot leases`.
pub fn run(args: LeasesArgs) -> Result<(), CliError> {
    let now = netboot_std::os::unix_now();
    let rows = rows(&args, now)?;
    // With the global `--json`: one JSON array.
    if crate::output::json() {
        let all: Vec<_> = rows.iter().map(|r| json(r, now)).collect();
        crate::output::print_json(&serde_json::Value::Array(all))
    } else {
        for r in &rows {
            crate::output::line(&line(r, now))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_and_progress_are_joined_by_mac_with_the_plan_and_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("lab.toml");
        std::fs::write(
            &config,
            "[bootp]\nserver = \"10.0.0.1\"\nsubnet = \"10.0.0.0/24\"\n\
             pool = { start = \"10.0.0.100\", end = \"10.0.0.110\" }\nlease_file = \"l\"\n\
             [[bootp.host]]\nmac = \"52:54:00:00:00:01\"\nip = \"10.0.0.10\"\nhostname = \"one\"\n\
             [plan]\nstages = [\"a\", \"b\", \"c\"]\nprogress_file = \"p\"\n",
        )
        .unwrap();
        let now = 1_700_000_000;
        std::fs::write(
            dir.path().join("l"),
            format!(
                "# netboot leases v1\n10.0.0.100 bound {} 1-52:54:00:00:00:02 hw:01525400000002\n\
                 10.0.0.101 released {} 1-52:54:00:00:00:03 hw:01525400000003\n",
                now + 3 * 3600 + 12 * 60,
                now - 5
            ),
        )
        .unwrap();
        std::fs::write(
            dir.path().join("p"),
            "# netboot plan progress v1\n52:54:00:00:00:01 3\n52:54:00:00:00:02 1\n",
        )
        .unwrap();
        let args = LeasesArgs {
            config: Some(config),
            lease_file: None,
            progress_file: None,
        };
        let rows = rows(&args, now).unwrap();
        let lines: Vec<String> = rows.iter().map(|r| line(r, now)).collect();
        let squeeze = |l: &String| l.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(
            lines.iter().map(squeeze).collect::<Vec<_>>(),
            [
                "52:54:00:00:00:01 - - - one stage 3/3",
                "52:54:00:00:00:02 10.0.0.100 bound 2023-11-15 01:25:20Z (in 3h12m) - stage 1/3",
                "52:54:00:00:00:03 10.0.0.101 released 2023-11-14 22:13:15Z (expired) - -",
            ]
        );
        let second = json(&rows[1], now);
        assert_eq!(second["expires"], now + 3 * 3600 + 12 * 60);
        assert_eq!(second["expired"], false);
        assert_eq!(
            (second["stage"].clone(), second["stages"].clone()),
            (1.into(), 3.into())
        );
        // Without the plan, the stage count is unknown.
        let bare = LeasesArgs {
            config: None,
            lease_file: None,
            progress_file: Some(dir.path().join("p")),
        };
        let rows = super::rows(&bare, now).unwrap();
        assert_eq!(line(&rows[0], now).split_whitespace().last(), Some("3"));
        assert_eq!(rows[0].stages, None);
    }

    #[test]
    fn spans_and_expiry_read_as_people_write_them() {
        assert_eq!(span(40), "40s");
        assert_eq!(span(300), "5m");
        assert_eq!(span(3 * 3600 + 12 * 60), "3h12m");
        assert_eq!(span(2 * 86_400 + 3 * 3600), "2d3h");
        assert_eq!(
            when(Some(1_700_000_000), 1_700_000_000 - 3720),
            "2023-11-14 22:13:20Z (in 1h02m)"
        );
        assert_eq!(
            when(Some(1_700_000_000), 1_700_000_001),
            "2023-11-14 22:13:20Z (expired)"
        );
        assert_eq!(when(None, 5), "never");
    }
}
