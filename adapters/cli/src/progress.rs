//! Progress bars on a terminal, silence otherwise.
//!
//! With a known size (TFTP `tsize` from the OACK or the local file of a
//! put; FTP's `SIZE` reply or the 150 reply's "(N bytes)") a bar with the
//! total, the rate and the time left; without one a spinner with the bytes
//! and the rate. Nothing is drawn when standard error is not a terminal,
//! nor with `-q` or `--json`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// A transfer's progress bar, shown only when standard error is a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
}

#[allow(dead_code)]
impl Progress {
    /// A bar labelled `label` for `total` bytes (a spinner when unknown).
    pub fn new(label: &str, total: Option<u64>) -> Self {
        if !std::io::stderr().is_terminal() || !crate::output::chatty() {
            return Progress { bar: None };
        }
        let bar = match total {
            Some(total) => ProgressBar::new(total).with_style(bar_style()),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{msg:20!} {spinner} {bytes} {bytes_per_sec}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            ),
        };
        bar.set_message(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(100));
        Progress { bar: Some(bar) }
    }

    /// True when a bar is drawn (standard error is a terminal).
    pub fn is_visible(&self) -> bool {
        self.bar.is_some()
    }

    /// A progress reporter that never draws anything.
    pub fn hidden() -> Self {
        Progress { bar: None }
    }

    /// Learns the total once it is known (from `tsize` or `SIZE`).
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar
            && bar.length() != Some(total)
        {
            // A spinner becomes a bar once the size is known.
            bar.set_length(total);
            bar.set_style(bar_style());
        }
    }

    /// Reports `done` bytes transferred so far.
    pub fn set(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{msg:20!} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ")
}
