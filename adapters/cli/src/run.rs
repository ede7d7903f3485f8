//! Running a server the configuration describes, the same way for `serve`
//! and each protocol's `serve`: take the sockets systemd passed
//! ([`crate::activation`]), bind the rest, give up root
//! ([`crate::privilege`]), say where it listens, tell systemd it is ready
//! ([`crate::notify`]), stop on SIGINT/SIGTERM, reload on SIGHUP.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use netboot_core::ftp::server::EndpointEvent as FtpEvent;
use netboot_core::server::Event;
use netboot_core::tftp::{Direction, EndpointEvent as TftpEvent};
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
    let served = Served::start();
    let tally = served.clone();
    // One line per client step on standard output, a status line for
    // systemd now and then, and the bytes served.
    let mut status = crate::notify::StatusLine::new(STATUS_EVERY);
    let mut steps = 0u64;
    server = server.on_event(move |event| {
        tally.note(event);
        if !event.is_step() {
            return;
        }
        steps += 1;
        if notifying {
            status.update(
                Instant::now(),
                format!("{on}; {steps} client step(s), {tally}; last: {event}"),
            );
        }
        if run.steps {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{event}");
            let _ = out.flush();
        }
    });
    let stop = crate::signals::stop_on_signals(server.stopper())?;
    let hangup =
        crate::signals::reload_on_hangup(server.reloader(), run.config, start.privilege, load)?;
    crate::notify::ready(&ready);
    let result = server.run();
    stop.close();
    hangup.close();
    // Give the signal threads a moment to notice they were closed.
    std::thread::sleep(Duration::from_millis(1));
    crate::output::say(&format!("netboot: {served}"));
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

/// What a server sent its clients (TFTP downloads and FTP `RETR`/`LIST`
/// data) and the CPU time the process used since it started serving:
/// `served 1.50 GiB (TFTP 1.00 GiB, FTP 512.0 MiB) with 1.20 s of CPU,
/// 0.80 s per GiB`. Shared between the event callback and the closing
/// line.
#[derive(Clone)]
struct Served {
    tftp: Arc<AtomicU64>,
    ftp: Arc<AtomicU64>,
    cpu_at_start: Duration,
}

impl Served {
    fn start() -> Self {
        Served {
            tftp: Arc::default(),
            ftp: Arc::default(),
            cpu_at_start: process_cpu_time(),
        }
    }

    /// Counts the bytes of a finished TFTP download or FTP transfer out.
    fn note(&self, event: &Event) {
        match event {
            Event::Tftp(e) => {
                if let TftpEvent::Finished(c) = &**e
                    && c.direction == Direction::Read
                {
                    self.tftp.fetch_add(c.bytes, Ordering::Relaxed);
                }
            }
            Event::Ftp(e) => {
                if let FtpEvent::Transfer(r) = &**e
                    && r.direction != "STOR"
                {
                    self.ftp.fetch_add(r.bytes, Ordering::Relaxed);
                }
            }
            _ => {}
        }
    }
}

impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tftp = self.tftp.load(Ordering::Relaxed);
        let ftp = self.ftp.load(Ordering::Relaxed);
        let cpu = process_cpu_time()
            .saturating_sub(self.cpu_at_start)
            .as_secs_f64();
        let total = tftp + ftp;
        write!(
            f,
            "served {} (TFTP {}, FTP {}) with {cpu:.2} s of CPU",
            size(total),
            size(tftp),
            size(ftp)
        )?;
        if total >= 1 << 20 {
            write!(
                f,
                ", {:.2} s per GiB",
                cpu * (1u64 << 30) as f64 / total as f64
            )?;
        }
        Ok(())
    }
}

/// `512 bytes`, `3.2 MiB`, `1.50 GiB`.
fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1 << 10 => format!("{b} bytes"),
        b if b < 1 << 20 => format!("{:.1} KiB", b as f64 / 1024.0),
        b if b < 1 << 30 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
    }
}

/// CPU time of the whole process (every thread), user and system.
fn process_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(0), "0 bytes");
        assert_eq!(size(1023), "1023 bytes");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(size(3 << 20), "3.0 MiB");
        assert_eq!(size(3 << 29), "1.50 GiB");
    }

    #[test]
    fn the_cpu_clock_counts_this_process() {
        let before = process_cpu_time();
        let mut x = 0u64;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(30) {
            x = x.wrapping_mul(31).wrapping_add(7);
        }
        std::hint::black_box(x);
        assert!(process_cpu_time() > before);
    }
}
