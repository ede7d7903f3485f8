//! The one persistence policy: what the server saves, and when.
//!
//! **A lease acknowledged to a client survives a crash of the server.**
//! Everything else follows from that:
//!
//! * a save is asked for as soon as leases or plan progress change, with no
//!   timer: the state is saved by version ([`SaveRequest::version`], which
//!   moves on with every change), and the BOOTP server holds every reply
//!   that hands out an address until the version it reports is saved
//!   ([`Server::hold_until_saved`](crate::bootp::server::Server::hold_until_saved));
//!   offers, NAKs and everything TFTP and FTP do never wait;
//! * one save at a time: changes made while a save runs are collected into
//!   the next one (group commit), so a burst of clients costs a few saves,
//!   not one per client, and no reply waits for more than two;
//! * plan progress is saved with the leases: a client is never handed a
//!   stage that a crash would take back;
//! * a failed save is tried again after [`RETRY`]; meanwhile the replies
//!   that wait for it stay held, and their clients retransmit, so a server
//!   whose disk is failing hands out no address it cannot keep;
//! * at shutdown whatever changed is saved once more, at once (a failed
//!   save waiting for its retry included); a save that fails then is
//!   reported and not retried, so that a runtime answering saves at once
//!   while it stops never loops on a failing disk.
//!
//! With nothing to keep ([`Persist`] all off) nothing is held and nothing
//! saved.

use core::fmt;

use crate::time::{Duration, Instant};

/// How long after a failed save the next attempt comes.
pub const RETRY: Duration = Duration::from_secs(1);

/// What the driver keeps across restarts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Persist {
    /// Leases (a lease file, a database).
    pub leases: bool,
    /// Plan progress.
    pub progress: bool,
}

impl Persist {
    /// True when anything is kept.
    pub const fn any(self) -> bool {
        self.leases || self.progress
    }
}

/// A save to perform: take
/// [`NetbootServer::leases`](super::NetbootServer::leases) and
/// [`NetbootServer::progress`](super::NetbootServer::progress) as they are
/// when the request is handled, write them, and report with
/// [`NetbootServer::saved`](super::NetbootServer::saved).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveRequest {
    /// The state version the save covers.
    pub version: u64,
    /// Save the leases.
    pub leases: bool,
    /// Save the plan progress.
    pub progress: bool,
}

impl fmt::Display for SaveRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "state version {}:", self.version)?;
        if self.leases {
            f.write_str(" leases")?;
        }
        if self.progress {
            f.write_str(" progress")?;
        }
        Ok(())
    }
}

/// A save that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SaveError {
    /// The request that failed.
    pub request: SaveRequest,
    /// It is tried again after [`RETRY`] (not while the server stops).
    pub retrying: bool,
}

impl fmt::Display for SaveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.retrying {
            write!(
                f,
                "saving {} failed; addresses wait for it, trying again in {} s",
                self.request,
                RETRY.as_secs()
            )
        } else {
            write!(
                f,
                "saving {} failed while stopping; the saved state is older",
                self.request
            )
        }
    }
}

/// The policy's state.
#[derive(Debug, Default)]
pub(super) struct Persistence {
    keep: Persist,
    leases_dirty: bool,
    progress_dirty: bool,
    in_flight: Option<SaveRequest>,
    retry_at: Option<Instant>,
    closing: bool,
    /// A save failed while stopping: no more attempts.
    given_up: bool,
}

impl Persistence {
    pub(super) fn new(keep: Persist) -> Self {
        Persistence {
            keep,
            ..Persistence::default()
        }
    }

    pub(super) fn keeps(&self) -> Persist {
        self.keep
    }

    /// Something changed.
    pub(super) fn changed(&mut self, leases: bool, progress: bool) {
        self.leases_dirty |= leases && self.keep.leases;
        self.progress_dirty |= progress && self.keep.progress;
    }

    /// The save to ask for now, if one is due.
    pub(super) fn poll(&mut self, now: Instant, version: u64) -> Option<SaveRequest> {
        if self.in_flight.is_some() || !(self.leases_dirty || self.progress_dirty) {
            return None;
        }
        if self.given_up || self.retry_at.is_some_and(|at| now < at) {
            return None;
        }
        let request = SaveRequest {
            version,
            leases: core::mem::take(&mut self.leases_dirty),
            progress: core::mem::take(&mut self.progress_dirty),
        };
        self.retry_at = None;
        self.in_flight = Some(request);
        Some(request)
    }

    /// The save of `version` ended; returns the request when it succeeded
    /// (its version is now durable), or the error.
    pub(super) fn saved(
        &mut self,
        now: Instant,
        version: u64,
        ok: bool,
    ) -> Option<Result<SaveRequest, SaveError>> {
        let request = self.in_flight.filter(|r| r.version == version)?;
        self.in_flight = None;
        if ok {
            return Some(Ok(request));
        }
        self.leases_dirty |= request.leases;
        self.progress_dirty |= request.progress;
        // While stopping there is no retry: it would come after the
        // runtime has gone.
        self.given_up = self.closing;
        self.retry_at = (!self.closing).then(|| now + RETRY);
        Some(Err(SaveError {
            request,
            retrying: !self.closing,
        }))
    }

    /// When a failed save is tried again.
    pub(super) fn deadline(&self) -> Option<Instant> {
        self.retry_at.filter(|_| self.in_flight.is_none())
    }

    /// The server is stopping: a failed save waiting for its retry is
    /// tried once more at once; one failing after this is not retried.
    pub(super) fn close(&mut self) {
        if !self.closing {
            self.closing = true;
            self.retry_at = None;
        }
    }

    /// True when something kept changed since the last successful save, or
    /// a save runs.
    pub(super) fn unsaved(&self) -> bool {
        self.leases_dirty || self.progress_dirty || self.in_flight.is_some()
    }

    /// True while a save runs.
    pub(super) fn busy(&self) -> bool {
        self.in_flight.is_some()
    }
}
