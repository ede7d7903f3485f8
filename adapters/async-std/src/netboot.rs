//! The combined server as a future: BOOTP (with DHCP compatibility), TFTP
//! and FTP sharing one provisioning plan, configured by the very same
//! [`NetbootServer`] builder as the mio adapter's.
//!
//! [`NetbootServer::into_parts`] binds BOOTP, restores leases and plan
//! progress, and wires everything to the shared plan (the plan is the
//! BOOTP server's boot policy; a TFTP download it served advances the
//! client; every client step goes to the `on_step` callback). This module
//! only runs those parts: the async BOOTP, TFTP and FTP servers, and a
//! small loop saving progress, all inside one future that one stopper ends.
//! The semantics are those of
//! [`netboot_mio::legacy::netboot`]: on stop, TFTP transfers in flight are
//! cancelled, FTP sessions get `421`, partial uploads are discarded, and
//! leases and progress are saved.

use std::io;
use std::net::SocketAddr;

use futures_lite::future;
use netboot_core::bootp::HwAddr;
use netboot_mio::legacy::netboot::{NetbootParts, explain_ftp_bind};
use netboot_mio::legacy::plan::{ProgressSaver, SAVE_INTERVAL, SharedPlan};
use netboot_std::clock::Clock;

pub use netboot_mio::legacy::netboot::{NetbootServer, Step, StepCallback};

use crate::bootp::BootpServer;
use crate::ftp::FtpService;
use crate::stop::{StopSignal, Stopper};
use crate::tftp::{TftpServer, TftpService};
use crate::time::sleep_until;

/// The combined server, bound and ready to [`run`](NetbootService::run)
/// on any executor.
///
/// ```
/// use std::net::Ipv4Addr;
/// use netboot_async_std::netboot::{NetbootServer, NetbootService};
/// use netboot_async_std::tftp::Client;
/// use netboot_core::bootp::server::ServerConfig;
/// use netboot_core::plan::{ProfileTable, Reset};
///
/// let root = tempfile::tempdir().unwrap();
/// std::fs::write(root.path().join("stage1"), b"first").unwrap();
/// let mut plan = ProfileTable::new();
/// plan.set_default(&["stage1"]).unwrap();
/// let mut bootp = ServerConfig::new(Ipv4Addr::LOCALHOST, Ipv4Addr::new(255, 0, 0, 0));
/// bootp.pool = Some((Ipv4Addr::new(127, 0, 9, 1), Ipv4Addr::new(127, 0, 9, 20)));
/// let service = NetbootService::build(
///     NetbootServer::new(root.path())
///         .bootp(bootp)
///         .bootp_listen("127.0.0.1:0".parse().unwrap())
///         .tftp_listen("127.0.0.1:0".parse().unwrap())
///         .ftp_listen("127.0.0.1:0".parse().unwrap())
///         .plan(plan, Reset::Never),
/// )
/// .unwrap();
/// let tftp = service.tftp_addrs()[0];
/// assert!(service.bootp_addr().is_some() && service.ftp_addr().is_some());
/// let stopper = service.stopper();
/// smol::block_on(async {
///     let server = smol::spawn(service.run());
///     Client::new(tftp).get("stage1", root.path().join("got")).await.unwrap();
///     stopper.stop();
///     server.await.unwrap();
/// });
/// assert_eq!(std::fs::read(root.path().join("got")).unwrap(), b"first");
/// ```
pub struct NetbootService {
    bootp: Option<BootpServer<SharedPlan>>,
    tftp: Option<TftpService>,
    ftp: Option<FtpService>,
    progress: Option<ProgressSaver>,
    plan: SharedPlan,
    clock: Clock,
    stopper: Stopper,
    signal: StopSignal,
}

impl NetbootService {
    /// Binds every socket (errors name the cause and the way out), restores
    /// leases and progress, and wires the pieces to the plan.
    pub fn build(server: NetbootServer) -> io::Result<NetbootService> {
        let clock = Clock::new();
        let NetbootParts {
            bootp,
            tftp,
            ftp,
            progress,
            plan,
        } = server.into_parts(clock)?;
        let (stopper, signal) = Stopper::new();
        let bootp = match bootp {
            Some((socket, driver)) => {
                Some(BootpServer::with_driver(socket, driver, clock)?.stopped_by(&stopper, &signal))
            }
            None => None,
        };
        let tftp = match tftp {
            Some(builder) => Some(
                TftpServer::from(builder)
                    .build()?
                    .stopped_by(&stopper, &signal),
            ),
            None => None,
        };
        let ftp = match ftp {
            Some((config, on_transfer)) => Some(
                FtpService::bind(&config)
                    .map_err(|e| explain_ftp_bind(config.listen, e))?
                    .on_transfer(on_transfer)
                    .stopped_by(&stopper, &signal),
            ),
            None => None,
        };
        Ok(NetbootService {
            bootp,
            tftp,
            ftp,
            progress,
            plan,
            clock,
            stopper,
            signal,
        })
    }

    /// Where BOOTP listens, if it runs.
    pub fn bootp_addr(&self) -> Option<SocketAddr> {
        self.bootp.as_ref().map(BootpServer::local_addr)
    }

    /// Where TFTP listens (empty if it does not run).
    pub fn tftp_addrs(&self) -> &[SocketAddr] {
        self.tftp.as_ref().map_or(&[], TftpService::local_addrs)
    }

    /// Where FTP listens, if it runs.
    pub fn ftp_addr(&self) -> Option<SocketAddr> {
        self.ftp.as_ref().map(FtpService::local_addr)
    }

    /// A handle that stops [`NetbootService::run`].
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// The plan the servers share (to read a client's progress).
    pub fn plan(&self) -> SharedPlan {
        self.plan.clone()
    }

    /// Serves until stopped; resolves once every server has ended and
    /// leases and progress are saved. The first server error is returned.
    pub async fn run(self) -> io::Result<()> {
        let NetbootService {
            bootp,
            tftp,
            ftp,
            progress,
            clock,
            signal,
            ..
        } = self;
        let bootp = async {
            match bootp {
                Some(s) => s.run().await,
                None => Ok(()),
            }
        };
        let tftp = async {
            match tftp {
                Some(s) => s.run().await,
                None => Ok(()),
            }
        };
        let ftp = async {
            match ftp {
                Some(s) => s.run().await,
                None => Ok(()),
            }
        };
        let progress = async {
            if let Some(saver) = progress {
                save_progress(saver, &clock, &signal).await;
            }
            Ok(())
        };
        let (a, (b, (c, d))) =
            future::zip(bootp, future::zip(tftp, future::zip(ftp, progress))).await;
        a.and(b).and(c).and(d)
    }

    /// Runs the server as an async-std task.
    pub fn spawn(self) -> NetbootHandle {
        NetbootHandle {
            bootp: self.bootp_addr(),
            tftp: self.tftp_addrs().to_vec(),
            ftp: self.ftp_addr(),
            plan: self.plan(),
            stopper: self.stopper(),
            task: async_std::task::spawn(self.run()),
        }
    }
}

/// Saves plan progress when due (re-checking at least every
/// [`SAVE_INTERVAL`], since other servers make it dirty), and once more
/// when stopped.
async fn save_progress(mut saver: ProgressSaver, clock: &Clock, signal: &StopSignal) {
    loop {
        let now = clock.now();
        let due = saver
            .deadline()
            .unwrap_or(now + SAVE_INTERVAL)
            .min(now + SAVE_INTERVAL);
        let stopped = future::or(
            async {
                sleep_until(clock, Some(due)).await;
                false
            },
            async {
                signal.wait().await;
                true
            },
        )
        .await;
        if stopped {
            saver.shutdown(clock.now());
            return;
        }
        saver.handle_timeout(clock.now());
    }
}

/// The combined server running as an async-std task.
pub struct NetbootHandle {
    bootp: Option<SocketAddr>,
    tftp: Vec<SocketAddr>,
    ftp: Option<SocketAddr>,
    plan: SharedPlan,
    stopper: Stopper,
    task: async_std::task::JoinHandle<io::Result<()>>,
}

impl NetbootHandle {
    /// Where BOOTP listens, if it runs.
    pub fn bootp_addr(&self) -> Option<SocketAddr> {
        self.bootp
    }

    /// Where TFTP listens (empty if it does not run).
    pub fn tftp_addrs(&self) -> &[SocketAddr] {
        &self.tftp
    }

    /// Where FTP listens, if it runs.
    pub fn ftp_addr(&self) -> Option<SocketAddr> {
        self.ftp
    }

    /// The stage client `hw` gets next (its stage count once finished), if
    /// the plan tracks it.
    pub fn stage_of(&self, hw: &HwAddr) -> Option<usize> {
        self.plan.lock().plan().stage_of(hw.as_bytes())
    }

    /// A handle that stops the server.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Stops the server cleanly and waits for it.
    pub async fn shutdown(self) -> io::Result<()> {
        self.stopper.stop();
        self.task.await
    }

    /// Waits until the server stops.
    pub async fn join(self) -> io::Result<()> {
        self.task.await
    }
}
