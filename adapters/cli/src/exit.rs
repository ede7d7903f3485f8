//! One-line errors and the exit codes they map to.
//!
//! Codes are stable and documented in the `--help` of each command (from
//! the texts here) and in `docs/cli.md`:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | any other failure |
//! | 2 | bad command line: unknown flag, missing argument (from clap) |
//! | 3 | bad configuration file or argument value (a URL, a MAC, a range) |
//! | 4 | a server could not bind or listen |
//! | 5 | a server stopped, but its final save of leases or plan progress failed |
//! | 10-19 | TFTP client: 10 not found, 11 access violation, 12 timed out, 13 disk full, 14 file exists, 15 other TFTP error, 16 local file error |
//! | 20-29 | BOOTP client: 20 no answer |
//! | 30-39 | FTP client: 30 cannot connect, 31 login refused, 32 file refused by the server, 33 transfer failed, 34 local file error |
//! | 40-49 | provisioning: 40 no BOOTP answer, 41 TFTP failure, 42 bad manifest, 43 FTP failure, 44 digest mismatch |
//! | 130 | interrupted by SIGINT (Ctrl-C); 143 by SIGTERM |
//! | 141 | standard output was closed (EPIPE, as `\| head`) |

use std::fmt;
use std::process::ExitCode;

/// The exit codes every command shares, as `--help` shows them.
pub const COMMON: &str = "  0    success
  1    any other failure
  2    bad command line (unknown flag, missing argument)
  3    bad configuration file or argument value
  130  interrupted (SIGINT, Ctrl-C); 143 for SIGTERM
  141  standard output closed (EPIPE, as with | head)";

/// The TFTP client's exit codes.
pub const TFTP: &str = "  10   file not found on the server
  11   access violation
  12   timed out (no answer)
  13   disk full (server or local)
  14   file exists (the server will not overwrite)
  15   other TFTP error
  16   local file error";

/// The FTP client's exit codes.
pub const FTP: &str = "  30   cannot connect
  31   login refused
  32   file refused by the server (absent, no permission)
  33   transfer failed
  34   local file error";

/// The BOOTP client's exit codes.
pub const BOOTP: &str = "  20   no answer";

/// The provisioning flow's exit codes.
pub const PROVISION: &str = "  40   no BOOTP answer
  41   TFTP failure
  42   bad manifest
  43   FTP failure
  44   digest mismatch";

/// A server's extra exit codes.
pub const SERVER: &str = "  4    a socket could not be bound (port in use, privileged port)
  5    stopped, but the final save of leases or plan progress failed";

/// The exit code of a server that stopped without its final save.
pub const UNSAVED: u8 = 5;

/// The `after_long_help` text listing the common codes and `extra`.
pub fn help(extra: &[&str]) -> String {
    let mut s = String::from("Exit codes:\n");
    s.push_str(COMMON);
    for e in extra {
        s.push('\n');
        s.push_str(e);
    }
    s
}

/// A failure to report on one line, with its exit code.
#[derive(Debug)]
pub struct CliError {
    code: u8,
    message: String,
}

impl CliError {
    /// A failure with an explicit exit code.
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        CliError {
            code,
            message: message.into(),
        }
    }

    /// A failure that has nothing to say (a closed standard output).
    pub fn silent(code: u8) -> Self {
        Self::new(code, "")
    }

    /// True when nothing should be printed for this failure.
    pub fn is_silent(&self) -> bool {
        self.message.is_empty()
    }

    /// Interrupted by `signal`: exit 128 + the signal number (130 for
    /// SIGINT, 143 for SIGTERM).
    pub fn interrupted(signal: i32) -> Self {
        let code = u8::try_from(128 + signal).unwrap_or(130);
        Self::new(code, "interrupted")
    }

    /// Exit code 1: any other failure.
    #[allow(dead_code)]
    pub fn other(message: impl Into<String>) -> Self {
        Self::new(1, message)
    }

    /// Exit code 3: bad configuration or argument value.
    #[allow(dead_code)]
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(3, message)
    }

    /// Exit code 4: a server could not bind or listen.
    #[allow(dead_code)]
    pub fn bind(message: impl Into<String>) -> Self {
        Self::new(4, message)
    }

    /// Exit code 5: a server stopped without saving its state.
    pub fn unsaved(message: impl Into<String>) -> Self {
        Self::new(UNSAVED, message)
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code)
    }

    /// The numeric exit code.
    #[allow(dead_code)]
    pub fn code(&self) -> u8 {
        self.code
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

impl CliError {
    /// A server that could not start: exit code 4 for a socket it could
    /// not bind (the message names the cause and the way out; `hint` names
    /// the options that choose other addresses), 3 for a bad setting (a
    /// root, a file, a hash), 1 for anything else.
    pub fn start(e: &std::io::Error, hint: &str) -> Self {
        use std::io::ErrorKind;
        if netboot_mio::server::BindError::is(e) {
            return match hint {
                "" => CliError::bind(e.to_string()),
                hint => CliError::bind(format!("{e} ({hint})")),
            };
        }
        match e.kind() {
            ErrorKind::InvalidInput
            | ErrorKind::NotFound
            | ErrorKind::PermissionDenied
            | ErrorKind::InvalidData => CliError::config(e.to_string()),
            _ => CliError::other(e.to_string()),
        }
    }
}
