//! The embeddable TFTP server's settings on any std runtime: a
//! [`ServerSetup`] with TFTP alone, its default listening address, and
//! what to do with each finished transfer. The mio and async `TftpServer`
//! builders hold one, get their setters from
//! [`tftp_server_setters!`](crate::tftp_server_setters) (written once
//! here) and keep only how they bind and run it.
//!
//! ```
//! use netboot_std::tftp_server::TftpServerSetup;
//!
//! let root = tempfile::tempdir().unwrap();
//! let s = TftpServerSetup::new(root.path()).port(0).tftp(|t| t.server.writable = true);
//! let (setup, hook) = s.finish();
//! let tftp = setup.tftp.unwrap();
//! assert_eq!(tftp.listen, vec!["0.0.0.0:0".parse().unwrap()]);
//! assert!(tftp.server.writable && hook.is_none() && setup.bootp.is_none() && setup.ftp.is_none());
//! ```

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use netboot_core::server::Event;
pub use netboot_core::tftp::Completion;
use netboot_core::tftp::{EndpointConfig, EndpointEvent};
pub use netboot_core::time::Duration;

use crate::setup::ServerSetup;

/// A callback for every transfer that ends.
pub type OnComplete = Box<dyn FnMut(&Completion) + Send>;

/// What a runtime hands every server event to: prints finished transfers
/// when verbose, and calls the [`OnComplete`] callback.
pub type EventHook = Box<dyn FnMut(&Event) + Send>;

/// A TFTP-only server's settings (see the module docs).
pub struct TftpServerSetup {
    setup: ServerSetup,
    default_bind: SocketAddr,
    on_complete: Option<OnComplete>,
    verbose: bool,
}

impl std::fmt::Debug for TftpServerSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TftpServerSetup")
            .field("setup", &self.setup)
            .field("default_bind", &self.default_bind)
            .field("verbose", &self.verbose)
            .finish_non_exhaustive()
    }
}

impl TftpServerSetup {
    /// A read-only server of `root`, to listen on `0.0.0.0:69` unless a
    /// listening address is added.
    pub fn new(root: impl AsRef<Path>) -> Self {
        TftpServerSetup {
            setup: ServerSetup::new(root).no_bootp().no_ftp(),
            default_bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 69),
            on_complete: None,
            verbose: false,
        }
    }

    /// Adjusts the TFTP endpoint's settings (listening addresses, policy,
    /// limits).
    pub fn tftp(mut self, f: impl FnOnce(&mut EndpointConfig)) -> Self {
        self.setup = self.setup.tftp_config(f);
        self
    }

    /// The address to listen on when none is added (`None`: every IPv4
    /// address).
    pub fn address(mut self, ip: Option<IpAddr>) -> Self {
        self.default_bind
            .set_ip(ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        self
    }

    /// The port to listen on when no address is added.
    pub fn port(mut self, port: u16) -> Self {
        self.default_bind.set_port(port);
        self
    }

    /// Prints the core's line for every finished transfer on standard
    /// error.
    pub fn verbose(mut self, yes: bool) -> Self {
        self.verbose = yes;
        self
    }

    /// Calls `f` whenever a transfer ends.
    pub fn on_complete(mut self, f: impl FnMut(&Completion) + Send + 'static) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }

    /// The server's setup, listening on the added addresses or else the
    /// default one, and the hook for its events (none when neither
    /// verbose nor a callback asks for one).
    pub fn finish(self) -> (ServerSetup, Option<EventHook>) {
        let default = self.default_bind;
        let setup = self.setup.tftp_config(|t| {
            if t.listen.is_empty() {
                t.listen.push(default);
            }
        });
        let (verbose, mut on_complete) = (self.verbose, self.on_complete);
        if !verbose && on_complete.is_none() {
            return (setup, None);
        }
        let hook = move |event: &Event| {
            if let Event::Tftp(e) = event
                && let EndpointEvent::Finished(c) = &**e
            {
                if verbose {
                    eprintln!("{event}");
                }
                if let Some(f) = on_complete.as_mut() {
                    f(c);
                }
            }
        };
        (setup, Some(Box::new(hook)))
    }
}

/// Writes the setters of a runtime's `TftpServer` builder (named so, for
/// the links in these docs), whose field `$field` is its
/// [`TftpServerSetup`].
///
/// ```
/// use netboot_std::tftp_server::TftpServerSetup;
///
/// pub struct TftpServer {
///     setup: TftpServerSetup,
/// }
/// impl TftpServer {
///     netboot_std::tftp_server_setters!(setup);
/// }
/// let s = TftpServer { setup: TftpServerSetup::new("/srv/tftp") };
/// let s = s.writable(true).max_blksize(1);
/// let tftp = s.setup.finish().0.tftp.unwrap();
/// assert_eq!((tftp.server.writable, tftp.server.limits.max_blksize), (true, 8));
/// ```
#[macro_export]
macro_rules! tftp_server_setters {
    ($field:ident) => {
        fn map(
            mut self,
            f: impl FnOnce($crate::tftp_server::TftpServerSetup) -> $crate::tftp_server::TftpServerSetup,
        ) -> Self {
            self.$field = f(self.$field);
            self
        }

        /// The address to listen on when no [`TftpServer::bind`] is given
        /// (`None`: every IPv4 address).
        pub fn address(self, ip: Option<::std::net::IpAddr>) -> Self {
            self.map(|s| s.address(ip))
        }

        /// The port to listen on when no [`TftpServer::bind`] is given (69
        /// for [`TftpServer::new`], 0, any free port, for
        /// [`TftpServer::embedded`]).
        pub fn port(self, port: u16) -> Self {
            self.map(|s| s.port(port))
        }

        /// Prints one line per finished transfer on standard error (the
        /// core's `Completion` line: peer, request, file, bytes and time,
        /// or the failure), besides the `tracing` logs.
        pub fn verbose(self, yes: bool) -> Self {
            self.map(|s| s.verbose(yes))
        }

        /// Listens on `addr` (may be given several times; port 0 picks a
        /// free port; `[::]` accepts IPv4 too).
        pub fn bind(self, addr: ::std::net::SocketAddr) -> Self {
            self.map(|s| s.tftp(|t| t.listen.push(addr)))
        }

        /// Accepts uploads (new files only, unless [`TftpServer::overwrite`]).
        pub fn writable(self, yes: bool) -> Self {
            self.map(|s| s.tftp(|t| t.server.writable = yes))
        }

        /// Lets uploads replace existing files.
        pub fn overwrite(self, yes: bool) -> Self {
            self.map(|s| s.tftp(|t| t.server.overwrite = yes))
        }

        /// Caps the negotiated `blksize` (8..=65464).
        pub fn max_blksize(self, n: u16) -> Self {
            self.map(|s| s.tftp(|t| t.server.limits.max_blksize = n.clamp(8, 65464)))
        }

        /// Caps the negotiated `windowsize` (at least 1).
        pub fn max_windowsize(self, n: u16) -> Self {
            self.map(|s| s.tftp(|t| t.server.limits.max_windowsize = n.max(1)))
        }

        /// Acknowledges a client's `timeout` option and then retransmits
        /// exactly that often, instead of declining it and adapting to the
        /// measured round trip (the default).
        pub fn accept_timeout(self, yes: bool) -> Self {
            self.map(|s| s.tftp(|t| t.server.limits.accept_timeout = yes))
        }

        /// Refuses uploads larger than `bytes` (ERROR 3).
        pub fn max_upload(self, bytes: Option<u64>) -> Self {
            self.map(|s| s.tftp(|t| t.server.limits.max_upload = bytes))
        }

        /// Limits how many transfers run at once (default 1024); a request
        /// beyond that is refused with ERROR 0.
        pub fn max_transfers(self, n: usize) -> Self {
            self.map(|s| s.tftp(|t| t.max_transfers = n.max(1)))
        }

        /// Consecutive timeouts before a transfer is abandoned (default 8).
        pub fn max_retries(self, n: u8) -> Self {
            self.map(|s| s.tftp(|t| t.server.transfer.max_retries = n))
        }

        /// Least time a silent peer is retried before its transfer is
        /// abandoned (default 10 s; see `TransferConfig::give_up_after`).
        pub fn give_up_after(self, d: $crate::tftp_server::Duration) -> Self {
            self.map(|s| s.tftp(|t| t.server.transfer.give_up_after = d))
        }

        /// Bounds of the adaptive retransmission timeout.
        pub fn rto(self, rto: $crate::client::tftp::RtoConfig) -> Self {
            self.map(|s| s.tftp(|t| t.server.transfer.rto = rto))
        }

        /// Least time to linger after the final ACK of an upload.
        pub fn dally(self, d: $crate::tftp_server::Duration) -> Self {
            self.map(|s| s.tftp(|t| t.server.transfer.dally = d))
        }

        /// Calls `f` whenever a transfer ends (on the thread or task that
        /// runs the server), with the core's record of it.
        pub fn on_complete(
            self,
            f: impl FnMut(&$crate::tftp_server::Completion) + Send + 'static,
        ) -> Self {
            self.map(|s| s.on_complete(f))
        }
    };
}
