//! Socket activation (sd_listen_fds(3)): listening sockets systemd bound
//! and passed in, used instead of binding.
//!
//! systemd passes `LISTEN_FDS` descriptors from 3 on, for the process whose
//! id is `LISTEN_PID`, named in `LISTEN_FDNAMES` (colon-separated; a
//! socket unit's `FileDescriptorName=`). The variables are read once and
//! removed (as `sd_listen_fds(1)` does) and the descriptors marked
//! close-on-exec.
//!
//! Each socket is given a listener of the server (`serve`, or a protocol's
//! `serve`): by its name (`bootp`, `pxe`, `tftp`: UDP; `ftp`: TCP), which
//! then also sets the listener's address to the socket's (named TFTP
//! sockets replace the configured TFTP addresses), or else by its type and
//! local address against the configured addresses. A socket that matches
//! nothing is an error naming it.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;

use netboot_std::setup::{Inherited, ServerSetup};

use crate::exit::CliError;

/// The first descriptor systemd passes.
const FIRST_FD: i32 = 3;

/// One socket passed in.
#[derive(Debug)]
pub struct Passed {
    /// Its descriptor number.
    pub fd: i32,
    /// Its `FileDescriptorName=` (`unknown` when systemd gave none).
    pub name: String,
    /// Where it is bound.
    pub addr: SocketAddr,
    /// The socket.
    pub socket: Inherited,
}

impl std::fmt::Display for Passed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.socket {
            Inherited::Udp(_) => "UDP",
            Inherited::Tcp(_) => "TCP",
        };
        write!(
            f,
            "passed socket {} (name {:?}, {kind} {})",
            self.fd, self.name, self.addr
        )
    }
}

/// The sockets systemd passed to this process (none without
/// `LISTEN_FDS`, or when `LISTEN_PID` names another process). Call it before
/// any thread is started. Exit code 3 for a descriptor that is not an
/// IP socket of a type a listener can use.
pub fn take() -> Result<Vec<Passed>, CliError> {
    let pid = std::env::var("LISTEN_PID").ok();
    let count = std::env::var("LISTEN_FDS").ok();
    let names = std::env::var("LISTEN_FDNAMES").unwrap_or_default();
    forget_variables();
    let (Some(pid), Some(count)) = (pid, count) else {
        return Ok(Vec::new());
    };
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Ok(Vec::new());
    }
    let count: i32 = count.trim().parse().map_err(|_| {
        CliError::config(format!("LISTEN_FDS={count:?} is not a number of sockets"))
    })?;
    let mut names = names.split(':');
    (FIRST_FD..FIRST_FD.saturating_add(count))
        .map(|fd| {
            let name = names.next().filter(|n| !n.is_empty()).unwrap_or("unknown");
            adopt(fd, name.to_string())
        })
        .collect()
}

/// Removes `LISTEN_*` from the environment, so nothing started later takes
/// them for its own.
#[allow(unsafe_code)]
fn forget_variables() {
    for var in ["LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"] {
        // SAFETY: called from `main`'s thread before any other thread is
        // started (see `take`), so nothing reads the environment meanwhile.
        unsafe { std::env::remove_var(var) };
    }
}

/// Takes ownership of descriptor `fd`.
#[allow(unsafe_code)]
fn own(fd: i32) -> Result<OwnedFd, CliError> {
    // Only an open descriptor is taken: `fcntl` on a closed one fails.
    // SAFETY: the descriptor is open (checked just below through its
    // flags, before anything uses it) and systemd passed it to this process
    // alone; `take` reads LISTEN_FDS once and removes it, so it is owned
    // once.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    match rustix::io::fcntl_getfd(&owned) {
        Ok(flags) => {
            let _ = rustix::io::fcntl_setfd(&owned, flags | rustix::io::FdFlags::CLOEXEC);
            Ok(owned)
        }
        Err(e) => {
            // Not ours to close.
            std::mem::forget(owned);
            Err(CliError::config(format!(
                "LISTEN_FDS names descriptor {fd}, which is not open: {e}"
            )))
        }
    }
}

fn adopt(fd: i32, name: String) -> Result<Passed, CliError> {
    use rustix::net::SocketType;
    let owned = own(fd)?;
    let bad = |why: String| CliError::config(format!("passed socket {fd} (name {name:?}): {why}"));
    let kind =
        rustix::net::sockopt::socket_type(&owned).map_err(|e| bad(format!("not a socket: {e}")))?;
    let socket = match kind {
        SocketType::DGRAM => Inherited::Udp(Arc::new(std::net::UdpSocket::from(owned))),
        SocketType::STREAM => Inherited::Tcp(Arc::new(std::net::TcpListener::from(owned))),
        _ => return Err(bad("neither a UDP nor a TCP socket".into())),
    };
    let addr = socket
        .local_addr()
        .map_err(|e| bad(format!("not an IP socket: {e}")))?;
    Ok(Passed {
        fd,
        name,
        addr,
        socket,
    })
}

/// The listener a passed socket is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Bootp,
    Pxe,
    Tftp,
    Ftp,
}

/// Where the passed sockets went: the listener and address of each, so
/// that a configuration read again (SIGHUP) points its listeners at the
/// same sockets ([`Assigned::readdress`]).
#[derive(Clone, Debug, Default)]
pub struct Assigned {
    /// Each socket's listener, its address, and whether it was named.
    listeners: Vec<(Role, SocketAddr, bool)>,
}

impl Assigned {
    /// `setup` with each listener a socket was passed for at that socket's
    /// address: a named TFTP socket replaces the configured TFTP
    /// addresses, as at start-up.
    pub fn readdress(&self, mut setup: ServerSetup) -> ServerSetup {
        let tftp_named = self
            .listeners
            .iter()
            .any(|&(role, _, named)| role == Role::Tftp && named);
        if let (true, Some(t)) = (tftp_named, setup.tftp.as_mut()) {
            t.listen.clear();
        }
        for &(role, addr, _) in &self.listeners {
            setup = match role {
                Role::Bootp => setup.bootp_listen(addr),
                Role::Pxe => setup.pxe_listen(addr),
                Role::Ftp => setup.ftp_listen(addr),
                Role::Tftp => {
                    if let Some(t) = setup.tftp.as_mut()
                        && !t.listen.contains(&addr)
                    {
                        t.listen.push(addr);
                    }
                    setup
                }
            };
        }
        setup
    }
}

/// Gives each of `passed` to its listener in `setup` (see the [module
/// docs](self)). Exit code 3 for a socket that matches no listener, or
/// whose name and type disagree.
pub fn assign(
    setup: ServerSetup,
    passed: Vec<Passed>,
) -> Result<(ServerSetup, Assigned), CliError> {
    let mut assigned = Assigned::default();
    let mut sockets = Vec::new();
    for p in passed {
        let role = role_of(&setup, &p)?;
        assigned
            .listeners
            .push((role, p.addr, named(&p.name).is_some()));
        sockets.push(p.socket);
    }
    let mut setup = assigned.readdress(setup);
    for socket in sockets {
        setup = setup.inherited(socket);
    }
    Ok((setup, assigned))
}

/// The role a socket's `FileDescriptorName=` names.
fn named(name: &str) -> Option<Role> {
    match name {
        "bootp" => Some(Role::Bootp),
        "pxe" => Some(Role::Pxe),
        "tftp" => Some(Role::Tftp),
        "ftp" => Some(Role::Ftp),
        _ => None,
    }
}

/// The listener of `setup` that `p` is for: by its name, else by its type
/// and address.
fn role_of(setup: &ServerSetup, p: &Passed) -> Result<Role, CliError> {
    let udp = matches!(p.socket, Inherited::Udp(_));
    let role = match named(&p.name) {
        Some(role) => {
            if (role == Role::Ftp) == udp {
                return Err(CliError::config(format!(
                    "{p}: a {} listener needs a {} socket",
                    p.name,
                    if udp { "TCP" } else { "UDP" }
                )));
            }
            role
        }
        None => by_address(setup, udp, p.addr).ok_or_else(|| {
            CliError::config(format!(
                "{p} matches no listener: name it bootp, pxe, tftp or ftp (FileDescriptorName=), or configure a listener on {}",
                p.addr
            ))
        })?,
    };
    let (what, runs) = match role {
        Role::Bootp => ("BOOTP", setup.bootp.is_some()),
        Role::Pxe => ("proxyDHCP", setup.bootp.is_some()),
        Role::Tftp => ("TFTP", setup.tftp.is_some()),
        Role::Ftp => ("FTP", setup.ftp.is_some()),
    };
    if !runs {
        return Err(CliError::config(format!(
            "{p} is for {what}, which this server does not run"
        )));
    }
    Ok(role)
}

/// The listener configured at `addr` for a socket of this type.
fn by_address(setup: &ServerSetup, udp: bool, addr: SocketAddr) -> Option<Role> {
    if !udp {
        return setup
            .ftp
            .as_ref()
            .is_some_and(|f| f.listen == addr)
            .then_some(Role::Ftp);
    }
    if let Some(b) = &setup.bootp {
        if b.listen == addr {
            return Some(Role::Bootp);
        }
        let pxe = b
            .pxe_listen
            .unwrap_or_else(|| SocketAddr::new(b.listen.ip(), netboot_core::wire::bootp::PXE_PORT));
        if b.config.proxy && pxe == addr {
            return Some(Role::Pxe);
        }
    }
    let tftp = setup.tftp.as_ref()?;
    let default = SocketAddr::from(([0, 0, 0, 0], netboot_core::tftp::PORT));
    (tftp.listen.contains(&addr) || (tftp.listen.is_empty() && addr == default))
        .then_some(Role::Tftp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passed(name: &str, socket: Inherited) -> Passed {
        Passed {
            fd: 3,
            name: name.into(),
            addr: socket.local_addr().unwrap(),
            socket,
        }
    }

    fn udp() -> Inherited {
        Inherited::Udp(Arc::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()))
    }

    fn tcp() -> Inherited {
        Inherited::Tcp(Arc::new(
            std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        ))
    }

    #[test]
    fn sockets_go_to_their_listener_by_name_or_address() {
        let root = tempfile::tempdir().unwrap();
        let ftp = tcp();
        let ftp_addr = ftp.local_addr().unwrap();
        let tftp = udp();
        let tftp_addr = tftp.local_addr().unwrap();
        let setup = ServerSetup::new(root.path()).ftp_listen(ftp_addr);
        // The TCP listener by address, the UDP socket by name.
        let (setup, assigned) =
            assign(setup, vec![passed("x", ftp), passed("tftp", tftp)]).unwrap();
        assert_eq!(setup.tftp.as_ref().unwrap().listen, [tftp_addr]);
        assert_eq!(setup.ftp.as_ref().unwrap().listen, ftp_addr);
        assert_eq!(setup.inherited.len(), 2);
        // A configuration read again listens where the sockets are.
        let again = assigned.readdress(ServerSetup::new(root.path()));
        assert_eq!(again.tftp.as_ref().unwrap().listen, [tftp_addr]);
        assert_eq!(again.inherited.len(), 0);
        // A named TFTP socket replaces the configured addresses, but not
        // one of them that a socket was passed for, whatever the order.
        let (configured, named) = (udp(), udp());
        let (a, b) = (
            configured.local_addr().unwrap(),
            named.local_addr().unwrap(),
        );
        let other = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
        let setup = ServerSetup::new(root.path())
            .tftp_listen(other)
            .tftp_listen(a);
        let passed = vec![passed("x", configured), passed("tftp", named)];
        let (setup, _) = assign(setup, passed).unwrap();
        assert_eq!(setup.tftp.as_ref().unwrap().listen, [a, b]);
    }

    #[test]
    fn a_socket_for_nothing_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let stray = udp();
        let addr = stray.local_addr().unwrap();
        let e = assign(
            ServerSetup::new(root.path()),
            vec![passed("unknown", stray)],
        )
        .unwrap_err();
        assert_eq!(e.code(), 3);
        assert_eq!(
            e.to_string(),
            format!(
                "passed socket 3 (name \"unknown\", UDP {addr}) matches no listener: name it bootp, pxe, tftp or ftp (FileDescriptorName=), or configure a listener on {addr}"
            )
        );
        let e = assign(ServerSetup::new(root.path()), vec![passed("ftp", udp())]).unwrap_err();
        assert!(
            e.to_string()
                .ends_with(": a ftp listener needs a TCP socket"),
            "{e}"
        );
        let e = assign(
            ServerSetup::new(root.path()).no_ftp(),
            vec![passed("ftp", tcp())],
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .ends_with(" is for FTP, which this server does not run"),
            "{e}"
        );
    }
}
