//! What a command prints, and where: the global `-q` and `--json` flags,
//! and writes to standard output that end quietly when it is closed.
//!
//! * `-q` silences progress bars, step lines and summaries; data the user
//!   asked for on standard output (a file fetched to `-`, an `ftp ls`
//!   listing, `ftp hash`) is still written, and errors still reach
//!   standard error.
//! * `--json` replaces the human output with one JSON object on standard
//!   output at the end (see [`result`]); steps, if any, go to standard
//!   error, and a failure is printed as `{"success": false, "exit_code": N,
//!   "error": "..."}` on standard output (and on one line on standard
//!   error).
//! * A closed standard output (`netboot ftp ls URL | head -1`) is EPIPE,
//!   never a panic: the command stops, cleans up and exits 141 (128 +
//!   SIGPIPE, the status of a tool killed by SIGPIPE) without a message.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::exit::CliError;

/// The output flags, set once by `main`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// `-q`: nothing but errors (and requested data).
    pub quiet: bool,
    /// `--json`: one JSON object on standard output.
    pub json: bool,
}

static FLAGS: OnceLock<Flags> = OnceLock::new();
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);
static JSON_PRINTED: AtomicBool = AtomicBool::new(false);

/// Records the flags of this run (the first call wins).
pub fn init(flags: Flags) {
    let _ = FLAGS.set(flags);
}

fn flags() -> Flags {
    FLAGS.get().copied().unwrap_or_default()
}

/// True with `-q`.
pub fn quiet() -> bool {
    flags().quiet
}

/// True with `--json`.
pub fn json() -> bool {
    flags().json
}

/// True when human step lines and summaries are wanted (neither `-q` nor
/// `--json`).
pub fn chatty() -> bool {
    let f = flags();
    !f.quiet && !f.json
}

/// True once a write found standard output closed.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Maps a failed write to standard output: EPIPE is the quiet exit 141,
/// anything else exit 1 with its message.
pub fn stdout_error(e: &std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        STDOUT_CLOSED.store(true, Ordering::Relaxed);
        CliError::silent(141)
    } else {
        CliError::other(format!("standard output: {e}"))
    }
}

/// Writes `bytes` to standard output and flushes them.
pub fn write(bytes: &[u8]) -> Result<(), CliError> {
    if stdout_closed() {
        return Err(CliError::silent(141));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| stdout_error(&e))
}

/// Writes `text` and a newline to standard output.
pub fn line(text: &str) -> Result<(), CliError> {
    let mut s = String::with_capacity(text.len() + 1);
    s.push_str(text);
    s.push('\n');
    write(s.as_bytes())
}

/// Writes `text` and a newline to standard error in one `write`, so that
/// a line is never split among other output, or caught half-written by
/// whoever reads the log. (`eprintln!` writes each piece of its format on
/// its own, since standard error is unbuffered.) Errors are dropped: there
/// is nowhere left to report them. Under systemd
/// ([`crate::logging::under_systemd`]) the line starts with the journal's
/// priority: `<4>` for a `netboot: warning:` line, `<3>` for the rest.
pub fn stderr(text: &str) {
    let mut s = String::with_capacity(text.len() + 4);
    // Under systemd the journal reads the line's priority from a `<N>`
    // prefix (see `logging`): these lines are warnings or errors.
    if crate::logging::under_systemd() {
        s.push_str(match text.starts_with("netboot: warning:") {
            true => "<4>",
            false => "<3>",
        });
    }
    s.push_str(text);
    s.push('\n');
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

/// A step line or summary: printed unless `-q` or `--json`; with `--json`
/// it goes to standard error instead (unless `-q`). Never fails: once
/// standard output is closed the line is dropped (see [`stdout_closed`]).
pub fn say(text: &str) {
    let f = flags();
    if f.quiet {
        return;
    }
    if f.json {
        stderr(text);
    } else {
        let _ = line(text);
    }
}

/// Prints the JSON result object of a successful command, adding
/// `"success": true` and `"exit_code": 0` to `fields`, when `--json` was
/// given.
pub fn result(mut fields: serde_json::Value) -> Result<(), CliError> {
    if !json() {
        return Ok(());
    }
    if let Some(map) = fields.as_object_mut() {
        map.insert("success".into(), true.into());
        map.insert("exit_code".into(), 0.into());
    }
    print_json(&fields)
}

/// Prints the one JSON object of this run (a report that carries its own
/// `success` and `exit_code`); `main` then prints no error object.
pub fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    JSON_PRINTED.store(true, Ordering::Relaxed);
    line(&value.to_string())
}

/// True once the run's JSON object was printed.
pub fn json_printed() -> bool {
    JSON_PRINTED.load(Ordering::Relaxed)
}

/// The JSON object of a failure.
pub fn error_json(e: &CliError) -> serde_json::Value {
    serde_json::json!({
        "success": false,
        "exit_code": e.code(),
        "error": e.to_string(),
    })
}
