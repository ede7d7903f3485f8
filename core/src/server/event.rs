//! What a [`NetbootServer`](super::NetbootServer) tells its driver: the
//! sockets and saves it needs, the fast paths and password checks it hands
//! out, and every step of every client, each with its one log line.

use alloc::boxed::Box;
use alloc::collections::BTreeSet;
use core::fmt;
use core::net::{Ipv4Addr, SocketAddr};

use crate::bootp::HwAddr;
use crate::bootp::server::Event as BootpEvent;
use crate::ftp::server::{EndpointEvent as FtpEvent, MAX_USER, Secret};
use crate::path::PathBuf;
use crate::socket::{OpenError, SocketId, SocketRequest};
use crate::tftp::EndpointEvent as TftpEvent;

use super::persist::{SaveError, SaveRequest};

/// Which protocol a listening socket serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// BOOTP/DHCP.
    Bootp,
    /// TFTP.
    Tftp,
    /// FTP.
    Ftp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Bootp => "bootp",
            Protocol::Tftp => "tftp",
            Protocol::Ftp => "ftp",
        })
    }
}

/// How much a [`Event`] matters, for a logger: what a server prints by
/// default, and what only a verbose one does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Details: sockets, dropped datagrams, sessions opening and closing.
    Debug,
    /// A step of some client's boot: an address handed out, a stage or a
    /// file fetched.
    Info,
    /// Something an operator should look at: a refused login, a declined
    /// address, a lease that no longer fits.
    Warn,
    /// Something failed that the server cannot fix itself: a save.
    Error,
}

/// What the server reports or needs.
// A stage's path makes one variant large; events pass through a queue
// whose capacity is reused, so their size costs a copy, not an allocation.
#[allow(clippy::large_enum_variant)]
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Open or close a socket.
    Socket(SocketRequest),
    /// A listening socket could not be opened.
    ListenFailed {
        /// For which protocol.
        protocol: Protocol,
        /// The address.
        local: SocketAddr,
        /// Why.
        error: OpenError,
    },
    /// Save the state named, as it is now, then call
    /// [`NetbootServer::saved`](super::NetbootServer::saved).
    Save(SaveRequest),
    /// A save failed; the server tries again after a while and, meanwhile,
    /// hands out no address it would have to save.
    SaveFailed(SaveError),
    /// Check an FTP password, then call
    /// [`NetbootServer::login_verified`](super::NetbootServer::login_verified).
    VerifyLogin {
        /// The session's control connection.
        socket: SocketId,
        /// The user name.
        user: heapless::String<MAX_USER>,
        /// The password sent.
        password: Secret,
    },
    /// FTP fast path: send the file of
    /// [`NetbootServer::reader`](super::NetbootServer::reader) from `offset`
    /// to the data stream `socket`.
    SendFile {
        /// The data connection.
        socket: SocketId,
        /// Where to start in the file.
        offset: u64,
    },
    /// FTP fast path: move the data stream's bytes into the file of
    /// [`NetbootServer::writer`](super::NetbootServer::writer) until it
    /// ends.
    Splice {
        /// The data connection.
        socket: SocketId,
    },
    /// The BOOTP/DHCP server did something (a reply, a release, a request
    /// ignored).
    Bootp(BootpEvent),
    /// A client fetched its current stage.
    Stage {
        /// The client.
        hw: HwAddr,
        /// The address it fetched from.
        ip: Ipv4Addr,
        /// The stage (0-based).
        index: usize,
        /// How many stages it has.
        of: usize,
        /// The stage's file.
        file: PathBuf,
    },
    /// A boot ROM fetched the iPXE build its profile chains to.
    Chainloaded {
        /// The client.
        hw: HwAddr,
        /// The address it fetched from.
        ip: Ipv4Addr,
        /// The stage iPXE gets next (0-based).
        index: usize,
        /// How many stages it has.
        of: usize,
        /// The iPXE build.
        file: PathBuf,
    },
    /// A client that had finished is served again from its first stage.
    Restarted {
        /// The client.
        hw: HwAddr,
    },
    /// A saved lease was dropped at start: it no longer fits the pool.
    LeaseDropped {
        /// Its address.
        ip: Ipv4Addr,
    },
    /// The TFTP server did something (a transfer started, ended, a request
    /// refused).
    Tftp(Box<TftpEvent>),
    /// The FTP server did something (a session, a login, a transfer).
    Ftp(Box<FtpEvent>),
}

impl Event {
    /// How much the event matters.
    pub fn level(&self) -> Level {
        match self {
            Event::Socket(_) | Event::Save(_) | Event::VerifyLogin { .. } => Level::Debug,
            Event::SendFile { .. } | Event::Splice { .. } => Level::Debug,
            Event::ListenFailed { .. } | Event::SaveFailed(_) => Level::Error,
            Event::LeaseDropped { .. } => Level::Warn,
            Event::Bootp(BootpEvent::Declined { .. }) => Level::Warn,
            Event::Bootp(e) if e.is_client_step() => Level::Info,
            Event::Bootp(_) => Level::Debug,
            Event::Stage { .. } | Event::Chainloaded { .. } | Event::Restarted { .. } => {
                Level::Info
            }
            Event::Tftp(e) => match **e {
                TftpEvent::Finished(_) | TftpEvent::Refused { .. } => Level::Info,
                _ => Level::Debug,
            },
            Event::Ftp(e) => match **e {
                FtpEvent::Transfer(_) | FtpEvent::Login { .. } => Level::Info,
                FtpEvent::LoginRefused { .. }
                | FtpEvent::ForeignDataConnection { .. }
                | FtpEvent::Refused { .. }
                | FtpEvent::PassiveFailed { .. } => Level::Warn,
                _ => Level::Debug,
            },
        }
    }

    /// True for a step of some client's boot: what a server prints by
    /// default, one line each.
    pub fn is_step(&self) -> bool {
        match self {
            Event::Bootp(e) => e.is_client_step(),
            Event::Stage { .. } | Event::Chainloaded { .. } | Event::Restarted { .. } => true,
            Event::Tftp(e) => matches!(**e, TftpEvent::Finished(_)),
            Event::Ftp(e) => matches!(**e, FtpEvent::Transfer(_)),
            _ => false,
        }
    }
}

/// One line for logs: `bootp: DHCPACK 10.0.0.100 to 52:54:00:12:34:56 ...`,
/// `plan: 52:54:00:12:34:56 (10.0.0.100) fetched stage 1/3 boot.ipxe`,
/// `tftp: 10.0.0.100:2000 RRQ boot.ipxe done, ...`, `ftp: ...`.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Socket(r) => write!(f, "socket: {r:?}"),
            Event::ListenFailed {
                protocol,
                local,
                error,
            } => write!(f, "{protocol}: cannot listen on {local}: {error}"),
            Event::Save(r) => write!(f, "save: {r}"),
            Event::SaveFailed(e) => write!(f, "save: {e}"),
            Event::VerifyLogin { user, .. } => write!(f, "ftp: checking the password of {user}"),
            Event::SendFile { socket, offset } => {
                write!(f, "ftp: {socket}: sendfile from {offset}")
            }
            Event::Splice { socket } => write!(f, "ftp: {socket}: splice"),
            Event::Bootp(e) => write!(f, "bootp: {e}"),
            Event::Stage {
                hw,
                ip,
                index,
                of,
                file,
            } => {
                write!(
                    f,
                    "plan: {hw} ({ip}) fetched stage {}/{of} {file}",
                    index + 1
                )?;
                if index + 1 == *of {
                    f.write_str("; boot phase complete, BOOTP silent to it")?;
                }
                Ok(())
            }
            Event::Chainloaded {
                hw,
                ip,
                index,
                of,
                file,
            } => write!(
                f,
                "plan: {hw} ({ip}) fetched chainloader {file}; iPXE gets stage {}/{of} next",
                index + 1
            ),
            Event::Restarted { hw } => write!(f, "plan: {hw} starts again from stage 1"),
            Event::LeaseDropped { ip } => {
                write!(
                    f,
                    "bootp: saved lease of {ip} no longer fits the pool; dropped"
                )
            }
            Event::Tftp(e) => write!(f, "tftp: {e}"),
            Event::Ftp(e) => write!(f, "ftp: {e}"),
        }
    }
}

/// Clients already reported as silenced: a finished client asks about ten
/// times before it concludes that the boot phase is over, and one line says
/// it all. A client is reported again once it has been answered again (its
/// plan was reset).
#[derive(Debug, Default)]
pub(super) struct QuietClients(BTreeSet<HwAddr>);

impl QuietClients {
    /// Bounds the set (a table of every address ever seen would grow
    /// without limit); past it, repeats are reported again.
    const MAX: usize = 65_536;

    /// True when `event` deserves to be reported.
    pub(super) fn report(&mut self, event: &BootpEvent) -> bool {
        match event {
            BootpEvent::Silenced { hw } => {
                if self.0.len() >= Self::MAX {
                    self.0.clear();
                }
                self.0.insert(*hw)
            }
            BootpEvent::Offered { hw, .. }
            | BootpEvent::Acked { hw, .. }
            | BootpEvent::BootpReplied { hw, .. } => {
                self.0.remove(hw);
                true
            }
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silenced_client_is_reported_once_until_it_is_answered_again() {
        let hw = HwAddr::ethernet([2, 0, 0, 0, 0, 1]);
        let other = HwAddr::ethernet([2, 0, 0, 0, 0, 2]);
        let mut quiet = QuietClients::default();
        let silenced = |hw| BootpEvent::Silenced { hw };
        assert!(quiet.report(&silenced(hw)));
        assert!(!quiet.report(&silenced(hw)));
        assert!(quiet.report(&silenced(other)));
        let offered = BootpEvent::Offered {
            hw,
            ip: Ipv4Addr::new(10, 0, 0, 100),
            file: Default::default(),
        };
        assert!(quiet.report(&offered));
        assert!(quiet.report(&silenced(hw)));
        assert!(!quiet.report(&silenced(other)));
    }
}
