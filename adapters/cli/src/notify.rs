//! Telling systemd how the server is doing (sd_notify(3)): `READY=1` once
//! every listener is bound and privileges are dropped, `STATUS=` lines
//! while it serves, `RELOADING=1` and `READY=1` around a reload, and
//! `STOPPING=1` when it stops.
//!
//! The messages are datagrams to the socket `NOTIFY_SOCKET` names: a path,
//! or an abstract name when it starts with `@`. Without the variable (not
//! run by systemd with `Type=notify`) nothing is sent. A message that cannot
//! be sent is logged at debug level and otherwise ignored: the server goes
//! on serving, as sd_notify's callers do.

use std::os::unix::net::UnixDatagram;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The notification socket, connected once, when systemd gave one.
struct Notifier {
    socket: UnixDatagram,
}

fn notifier() -> Option<&'static Notifier> {
    static NOTIFIER: OnceLock<Option<Notifier>> = OnceLock::new();
    NOTIFIER
        .get_or_init(|| {
            let path = std::env::var_os("NOTIFY_SOCKET")?;
            match connect(&path) {
                Ok(socket) => Some(Notifier { socket }),
                Err(e) => {
                    tracing::warn!("NOTIFY_SOCKET {}: {e}", path.to_string_lossy());
                    None
                }
            }
        })
        .as_ref()
}

fn connect(path: &std::ffi::OsStr) -> std::io::Result<UnixDatagram> {
    use std::os::unix::ffi::OsStrExt;
    let socket = UnixDatagram::unbound()?;
    match path.as_bytes() {
        [b'@', name @ ..] => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            socket.connect_addr(&addr)?;
        }
        _ => socket.connect(path)?,
    }
    Ok(socket)
}

/// True when systemd listens (`NOTIFY_SOCKET` names a socket that could
/// be reached).
pub fn enabled() -> bool {
    notifier().is_some()
}

/// Sends `state` (`KEY=value` lines) when systemd listens.
pub fn notify(state: &str) {
    if let Some(n) = notifier()
        && let Err(e) = n.socket.send(state.as_bytes())
    {
        tracing::debug!("sd_notify {state:?}: {e}");
    }
}

/// Every listener is bound and privileges are dropped; `status` says what
/// is served.
pub fn ready(status: &str) {
    notify(&format!("READY=1\nSTATUS={status}"));
}

/// The server is stopping.
pub fn stopping() {
    notify("STOPPING=1\nSTATUS=stopping");
}

/// A reload begins (SIGHUP): call [`reloaded`] when it is done. systemd
/// wants the monotonic clock's time with `RELOADING=1`
/// (`Type=notify-reload`).
pub fn reloading() {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let usec = now.tv_sec as u64 * 1_000_000 + now.tv_nsec as u64 / 1000;
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}"));
}

/// A reload is done (whether it took or not: `status` says).
pub fn reloaded(status: &str) {
    notify(&format!("READY=1\nSTATUS={status}"));
}

/// Sends `STATUS=` lines when the status changes, at most once per
/// `every`.
#[derive(Debug)]
pub struct StatusLine {
    every: Duration,
    last: Option<(Instant, String)>,
}

impl StatusLine {
    /// At most one line per `every`.
    pub fn new(every: Duration) -> Self {
        StatusLine { every, last: None }
    }

    /// Sends `status` if it changed and the last line is old enough;
    /// returns whether it was sent.
    pub fn update(&mut self, now: Instant, status: String) -> bool {
        if let Some((at, said)) = &self.last
            && (*said == status || now.duration_since(*at) < self.every)
        {
            return false;
        }
        notify(&format!("STATUS={status}"));
        self.last = Some((now, status));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_are_sent_on_change_at_a_low_rate() {
        let mut line = StatusLine::new(Duration::from_secs(5));
        let t0 = Instant::now();
        assert!(line.update(t0, "serving 0 clients".into()));
        assert!(!line.update(t0 + Duration::from_secs(1), "serving 1 clients".into()));
        assert!(!line.update(t0 + Duration::from_secs(9), "serving 0 clients".into()));
        assert!(line.update(t0 + Duration::from_secs(9), "serving 2 clients".into()));
    }

    #[test]
    fn abstract_names_start_with_an_at_sign() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("netboot-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let socket = connect(std::ffi::OsStr::new(&format!("@{name}"))).unwrap();
        socket.send(b"READY=1").unwrap();
        let mut buf = [0u8; 16];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
    }
}
