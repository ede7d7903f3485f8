//! `-v` turns on `tracing` logs on standard error; without it only errors
//! reach the user, as one-line messages from `main`.

use tracing_subscriber::EnvFilter;

/// Installs the log subscriber for the given `-v` count.
pub fn init(verbosity: u8) {
    let default = match verbosity {
        0 => return init_from_env_only(),
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn init_from_env_only() {
    if let Ok(filter) = EnvFilter::try_from_default_env() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init();
    }
}
