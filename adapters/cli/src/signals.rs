//! SIGINT and SIGTERM stop a running server cleanly; SIGHUP (what
//! `systemctl reload` sends) makes it read its configuration file again.

use std::path::{Path, PathBuf};

use netboot_mio::runtime::Stopper;
use netboot_mio::server::Reloader;
use signal_hook::iterator::{Handle, Signals};

use crate::config::{Privilege, Start};
use crate::exit::CliError;

/// Builds a server's [`Start`] from its configuration file and flags, again
/// at every reload.
pub type Load = Box<dyn Fn() -> Result<Start, CliError> + Send>;

/// Stops `stopper`'s server on the first SIGINT or SIGTERM (from a thread
/// of its own), telling systemd it is stopping; the handle ends that
/// thread.
pub fn stop_on_signals(stopper: Stopper) -> Result<Handle, CliError> {
    let mut signals = Signals::new([signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM])
        .map_err(|e| CliError::other(format!("cannot install signal handlers: {e}")))?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            crate::notify::stopping();
            stopper.stop();
        }
    });
    Ok(handle)
}

/// Reloads the configuration on every SIGHUP (from a thread of its own),
/// reporting each outcome on standard error (see [`reload`]) and to
/// systemd (`RELOADING=1`, then `READY=1`, see [`crate::notify`]); without a
/// file there is nothing to read again, and SIGHUP says so. The handle
/// ends that thread.
pub fn reload_on_hangup(
    reloader: Reloader,
    path: Option<PathBuf>,
    running: Privilege,
    load: Load,
) -> Result<Handle, CliError> {
    let mut signals = Signals::new([signal_hook::consts::SIGHUP])
        .map_err(|e| CliError::other(format!("cannot install signal handlers: {e}")))?;
    let handle = signals.handle();
    std::thread::spawn(move || {
        for _ in signals.forever() {
            // systemd hears of the reload (RELOADING=1) and of its end
            // (READY=1), whatever came of it.
            crate::notify::reloading();
            let Some(path) = &path else {
                crate::output::stderr("netboot: warning: SIGHUP: no --config file to reload");
                crate::notify::reloaded("nothing to reload (no --config file)");
                continue;
            };
            let outcome = reload(&reloader, &running, &load);
            crate::notify::reloaded(&match &outcome {
                Ok(_) => format!("reloaded {}", path.display()),
                Err(_) => format!(
                    "reload of {} refused; the running configuration stays",
                    path.display()
                ),
            });
            report(path, outcome);
        }
    });
    Ok(handle)
}

/// Reads the configuration again (`load`) and has the running server take
/// it: the settings that stay as they were until a restart, or the error
/// that left the running configuration in place (the server goes on
/// serving it).
pub fn reload(
    reloader: &Reloader,
    running: &Privilege,
    load: &Load,
) -> Result<Vec<&'static str>, CliError> {
    let start = load()?;
    let mut restart = reloader
        .reload(start.setup)
        .map_err(|e| CliError::config(e.to_string()))?;
    if start.privilege.user != running.user {
        restart.push("user");
    }
    if start.privilege.group != running.group {
        restart.push("group");
    }
    Ok(restart)
}

/// One line on standard output for a reload applied, one on standard
/// error for what it could not apply or why it was refused.
fn report(path: &Path, outcome: Result<Vec<&'static str>, CliError>) {
    use std::io::Write;
    match outcome {
        Ok(restart) => {
            tracing::info!("reloaded {}", path.display());
            crate::output::say(&format!("netboot: reloaded {}", path.display()));
            let _ = std::io::stdout().flush();
            if !restart.is_empty() {
                crate::output::stderr(&format!(
                    "netboot: warning: {}: reloaded; needs a restart to change: {}",
                    path.display(),
                    restart.join(", ")
                ));
            }
        }
        Err(e) => {
            crate::output::stderr(&format!(
                "netboot: error: reload refused, the running configuration stays: {e}"
            ));
        }
    }
}
