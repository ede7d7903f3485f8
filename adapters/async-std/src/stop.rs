//! Telling a running server to stop: a closed channel wakes every task that
//! waits on it, on any executor.

use async_std::channel::{Receiver, Sender, bounded};

/// Stops a running server from any thread or task; clones stop the same
/// server.
///
/// ```
/// let (stopper, signal) = netboot_async_std::Stopper::new();
/// assert!(!stopper.is_stopped());
/// stopper.stop();
/// assert!(stopper.is_stopped());
/// drop(signal);
/// ```
#[derive(Clone, Debug)]
pub struct Stopper {
    tx: Sender<()>,
}

/// The receiving side of a [`Stopper`]: resolves once it is stopped.
#[derive(Clone, Debug)]
pub struct StopSignal {
    rx: Receiver<()>,
}

impl Stopper {
    /// A new stopper and the signal it controls.
    pub fn new() -> (Stopper, StopSignal) {
        let (tx, rx) = bounded(1);
        (Stopper { tx }, StopSignal { rx })
    }

    /// Asks the server to stop. Running transfers and sessions end with an
    /// error to their peers; partial uploads are discarded.
    pub fn stop(&self) {
        self.tx.close();
    }

    /// True once [`Stopper::stop`] was called.
    pub fn is_stopped(&self) -> bool {
        self.tx.is_closed()
    }
}

impl StopSignal {
    /// Resolves once the server is told to stop.
    pub async fn wait(&self) {
        // Nothing is ever sent: this returns when the channel is closed.
        let _ = self.rx.recv().await;
    }

    /// True once the server is told to stop.
    pub fn is_stopped(&self) -> bool {
        self.rx.is_closed()
    }
}
