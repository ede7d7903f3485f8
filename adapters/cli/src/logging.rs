//! `-v` turns on `tracing` logs on standard error; without it only errors
//! reach the user, as one-line messages from `main`. Colours are used only
//! when standard error is a terminal, so redirected logs stay plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber for the given `-v` count.
pub fn init(verbosity: u8) {
    let filter = match verbosity {
        // Without `-v`, only what `RUST_LOG` asks for.
        0 => match EnvFilter::try_from_default_env() {
            Ok(filter) => filter,
            Err(_) => return,
        },
        n => EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            EnvFilter::new(match n {
                1 => "info",
                2 => "debug",
                _ => "trace",
            })
        }),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
