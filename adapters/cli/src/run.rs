//! Running a server the configuration describes, the same way for `serve`
//! and each protocol's `serve`: take the sockets systemd passed
//! ([`crate::activation`]), bind the rest, give up root
//! ([`crate::privilege`]), say where it listens, tell systemd it is ready
//! ([`crate::notify`]), stop on SIGINT/SIGTERM, reload on SIGHUP.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use netboot_mio::server::{Server, Unsaved};

use crate::config::Start;
use crate::exit::CliError;
use crate::signals::Load;

/// How often at most a `STATUS=` line goes to systemd while serving.
const STATUS_EVERY: Duration = Duration::from_secs(5);

/// How one server command runs.
pub struct Run {
    /// The configuration file, read again at every reload.
    pub config: Option<PathBuf>,
    /// The options that choose other addresses, for a bind error.
    pub hint: &'static str,
    /// Print a line per client step.
    pub steps: bool,
}

/// Binds `start` (or takes the sockets systemd passed for it), switches
/// to its account, says where it listens (`banner`), and runs it until
/// SIGINT or SIGTERM, reloading it with `load` on SIGHUP. A server that
/// stopped without its final save is exit code 5, with what was not saved
/// and why.
pub fn serve(
    run: Run,
    start: Start,
    load: Load,
    banner: impl FnOnce(&Server),
) -> Result<(), CliError> {
    // Before any thread starts (see `activation::take`).
    let passed = crate::activation::take()?;
    let (setup, assigned) = crate::activation::assign(start.setup, passed)?;
    // A reloaded configuration listens where the passed sockets are, as
    // the running one does.
    let load: Load = Box::new(move || {
        load().map(|mut s| {
            s.setup = assigned.readdress(s.setup);
            s
        })
    });
    // systemd's socket is reached while still root (it may not be
    // writable by the account the server switches to).
    let notifying = crate::notify::enabled();
    let bound = setup.clone();
    let mut server = Server::bind(setup).map_err(|e| CliError::start(&e, run.hint))?;
    // Every listener is bound, the root open, the state read: root is no
    // longer needed.
    let who = crate::privilege::drop_for(&bound, &start.privilege)?;
    if let Some(spin) = start.spin {
        server = server.busy_poll(spin);
    }
    banner(&server);
    let _ = std::io::stdout().flush();
    let on = listening(&server);
    let ready = format!("{on}; {who}");
    if run.steps || notifying {
        // One line per client step on standard output, and a status line
        // for systemd now and then.
        let mut status = crate::notify::StatusLine::new(STATUS_EVERY);
        let mut steps = 0u64;
        server = server.on_event(move |event| {
            if !event.is_step() {
                return;
            }
            steps += 1;
            status.update(
                Instant::now(),
                format!("{on}; {steps} client step(s), last: {event}"),
            );
            if run.steps {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{event}");
                let _ = out.flush();
            }
        });
    }
    let stop = crate::signals::stop_on_signals(server.stopper())?;
    let hangup =
        crate::signals::reload_on_hangup(server.reloader(), run.config, start.privilege, load)?;
    crate::notify::ready(&ready);
    let result = server.run();
    stop.close();
    hangup.close();
    // Give the signal threads a moment to notice they were closed.
    std::thread::sleep(Duration::from_millis(1));
    result.map_err(|e| match Unsaved::of(&e) {
        Some(u) => CliError::unsaved(format!("stopped; {} NOT saved: {}", u.what, u.cause)),
        None => CliError::other(format!("the server failed: {e}")),
    })
}

/// `listening on bootp 0.0.0.0:67, tftp 0.0.0.0:69, ftp 0.0.0.0:21`, for
/// systemd's status line.
fn listening(server: &Server) -> String {
    let mut on = Vec::new();
    if let Some(a) = server.bootp_addr() {
        on.push(format!("bootp {a}"));
    }
    for a in server.tftp_addrs() {
        on.push(format!("tftp {a}"));
    }
    if let Some(a) = server.ftp_addr() {
        on.push(format!("ftp {a}"));
    }
    format!("listening on {}", on.join(", "))
}
