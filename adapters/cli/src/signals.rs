//! SIGINT and SIGTERM stop a running server cleanly.

use netboot_mio::runtime::Stopper;
use signal_hook::iterator::{Handle, Signals};

use crate::exit::CliError;

/// Stops `stopper`'s server on the first SIGINT or SIGTERM (from a thread
/// of its own); the handle ends that thread.
pub fn stop_on_signals(stopper: Stopper) -> Result<Handle, CliError> {
    let mut signals = Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])
        .map_err(|e| CliError::other(format!("cannot install signal handlers: {e}")))?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stopper.stop();
        }
    });
    Ok(handle)
}
