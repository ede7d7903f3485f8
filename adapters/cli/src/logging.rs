//! Logs on standard error, one line per event.
//!
//! Warnings and errors always reach standard error (a failed save, a lease
//! file line that could not be read); `-v` adds steps and details (`-v`
//! info, `-vv` debug, `-vvv` trace) and `RUST_LOG` overrides both. The
//! client-step lines servers print on standard output are not logs and do
//! not depend on any of this.
//!
//! Three shapes, `--log-format`:
//!
//! * `text` (the default): time, level, where, message; colours only when
//!   standard error is a terminal, so redirected logs stay plain text.
//! * `json`: one JSON object per line, with `timestamp`, `level`, `target`
//!   and the event's fields (`message` among them) at the top level.
//! * under systemd (`JOURNAL_STREAM` or `INVOCATION_ID` set) `text` becomes
//!   the journal's own shape: no time (journald stamps each line) and no
//!   colour, with the level as the `<N>` syslog prefix of sd-daemon(3)
//!   (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug and trace), which
//!   journald turns into the entry's priority.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `--log-format`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Plain lines (the journal's shape under systemd).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// True when standard error goes to the journal (or at least the process
/// runs as a systemd unit).
pub fn under_systemd() -> bool {
    static UNDER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *UNDER.get_or_init(|| {
        std::env::var_os("JOURNAL_STREAM").is_some() || std::env::var_os("INVOCATION_ID").is_some()
    })
}

/// The filter for `-v` counted `verbosity` times, unless `RUST_LOG` says.
fn filter(verbosity: u8) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(match verbosity {
            0 => "warn",
            1 => "info",
            2 => "debug",
            _ => "trace",
        })
    })
}

/// Installs the log subscriber for the given `-v` count and format.
pub fn init(verbosity: u8, format: LogFormat) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter(verbosity))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text if under_systemd() => {
            builder.with_ansi(false).event_format(Journal).try_init()
        }
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

/// The syslog priority journald reads from a `<N>` line prefix.
fn priority(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        _ => 7,
    }
}

/// Lines for the journal: `<N>target: message fields`.
struct Journal;

impl<S, N> FormatEvent<S, N> for Journal
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        write!(writer, "<{}>{}: ", priority(meta.level()), meta.target())?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_map_to_sd_daemon_prefixes() {
        let got: Vec<u8> = [
            Level::ERROR,
            Level::WARN,
            Level::INFO,
            Level::DEBUG,
            Level::TRACE,
        ]
        .iter()
        .map(priority)
        .collect();
        assert_eq!(got, [3, 4, 6, 7, 7]);
    }
}
