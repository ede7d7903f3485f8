//! Running a server the configuration describes, the same way for `serve`
//! and each protocol's `serve`: bind, say where it listens, stop on
//! SIGINT/SIGTERM, reload on SIGHUP.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use netboot_mio::server::Server;

use crate::config::Start;
use crate::exit::CliError;
use crate::signals::Load;

/// How one server command runs.
pub struct Run {
    /// The configuration file, read again at every reload.
    pub config: Option<PathBuf>,
    /// The options that choose other addresses, for a bind error.
    pub hint: &'static str,
    /// Print a line per client step.
    pub steps: bool,
}

/// Binds `start`, says where it listens (`banner`), and runs it until
/// SIGINT or SIGTERM, reloading it with `load` on SIGHUP.
pub fn serve(
    run: Run,
    start: Start,
    load: Load,
    banner: impl FnOnce(&Server),
) -> Result<(), CliError> {
    let mut server = Server::bind(start.setup).map_err(|e| CliError::start(&e, run.hint))?;
    if let Some(spin) = start.spin {
        server = server.busy_poll(spin);
    }
    banner(&server);
    let _ = std::io::stdout().flush();
    if run.steps {
        // One line per client step on standard output.
        server = server.on_event(move |event| {
            if event.is_step() {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{event}");
                let _ = out.flush();
            }
        });
    }
    let stop = crate::signals::stop_on_signals(server.stopper())?;
    let hangup =
        crate::signals::reload_on_hangup(server.reloader(), run.config, start.privilege, load)?;
    let result = server
        .run()
        .map_err(|e| CliError::other(format!("the server failed: {e}")));
    stop.close();
    hangup.close();
    // Give the signal threads a moment to notice they were closed.
    std::thread::sleep(Duration::from_millis(1));
    result
}
