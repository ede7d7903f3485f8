//! What every mio loop of this crate shares: the adaptive busy poll that
//! keeps a lockstep peer's round trips off the scheduler, and the handles
//! that stop a loop running on its own thread.
//!
//! The loop itself is [`crate::server::Server`]: one `mio::Poll` driving
//! the core's whole server.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::Waker;
use netboot_core::time::Instant;

/// Adaptive busy polling (see [`Server::busy_poll`](crate::server::Server::busy_poll)): after events, the
/// loop polls without sleeping for up to `budget`. A spin that ends without
/// events halves the budget, so a peer slower than the spin stops costing
/// CPU time; events that came within `max` of the previous ones while the
/// loop slept raise it to twice that gap (a spin would have caught them),
/// up to `max`.
#[derive(Debug)]
pub(crate) struct Spin {
    max: Duration,
    budget: Duration,
    /// Spinning until then.
    until: Option<Instant>,
    /// When the last events came.
    last_events: Option<Instant>,
    /// The last poll could sleep.
    slept: bool,
}

impl Spin {
    /// Below this, a budget is zero.
    const FLOOR: Duration = Duration::from_micros(4);

    pub(crate) fn new(max: Duration) -> Self {
        Spin {
            max,
            budget: max,
            until: None,
            last_events: None,
            slept: false,
        }
    }

    /// True: poll without sleeping.
    pub(crate) fn before_poll(&mut self, now: Instant) -> bool {
        match self.until {
            Some(until) if now < until => return true,
            Some(_) => {
                // The spin caught nothing.
                self.budget /= 2;
                if self.budget < Self::FLOOR {
                    self.budget = Duration::ZERO;
                }
                self.until = None;
            }
            None => {}
        }
        self.slept = true;
        false
    }

    /// The poll returned at `now`, with `events` or only for a timer.
    pub(crate) fn after_poll(&mut self, now: Instant, events: bool) {
        if !events {
            return;
        }
        if let Some(last) = self.last_events
            && self.slept
        {
            let gap = now.saturating_duration_since(last);
            if gap <= self.max {
                // Slept through something a spin of twice the gap would
                // have caught (the gap includes the wake-up, so the peer
                // itself was quicker still).
                self.budget = self.budget.max((gap * 2).min(self.max));
            }
        }
        self.slept = false;
        self.last_events = Some(now);
        self.until = (!self.budget.is_zero()).then(|| now + self.budget);
    }
}

/// Stops a loop from any thread (a signal handler's thread, say).
#[derive(Clone)]
pub struct Stopper {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl std::fmt::Debug for Stopper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stopper")
            .field("stopped", &self.is_stopped())
            .finish()
    }
}

impl Stopper {
    /// A stopper that wakes its loop with `waker`.
    pub(crate) fn new(waker: Arc<Waker>) -> Self {
        Stopper {
            stop: Arc::new(AtomicBool::new(false)),
            waker,
        }
    }

    /// Asks the loop to stop: it stops cleanly (see
    /// [`Server`](crate::server::Server)) and returns.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
    }

    /// True once [`Stopper::stop`] was called.
    pub(crate) fn is_stopped(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// Wakes the loop (to answer a question, say).
    pub(crate) fn wake(&self) {
        // A failed wake means the loop is already gone.
        let _ = self.waker.wake();
    }
}

/// A loop running on its own thread. Dropping the handle stops the loop and
/// waits for it.
#[derive(Debug)]
pub struct LoopHandle {
    stopper: Stopper,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl LoopHandle {
    /// Runs `run` on a new thread named `name`; `stopper` stops it.
    pub(crate) fn spawn(
        name: &str,
        stopper: Stopper,
        run: impl FnOnce() -> io::Result<()> + Send + 'static,
    ) -> io::Result<Self> {
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(run)?;
        Ok(LoopHandle {
            stopper,
            thread: Some(thread),
        })
    }

    /// A stopper for this loop, to hand to a signal handler.
    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// True once the loop thread has ended (stopped or failed).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Stops the loop and waits for it; returns the loop's own error if it
    /// failed.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.stopper.stop();
        self.wait()
    }

    /// Waits for the loop to end without asking it to.
    pub fn join(mut self) -> io::Result<()> {
        self.wait()
    }

    fn wait(&mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("event loop thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for LoopHandle {
    fn drop(&mut self) {
        self.stopper.stop();
        let _ = self.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_follows_a_quick_peer_and_gives_up_on_a_slow_one() {
        let us = Duration::from_micros;
        let t0 = Instant::from_secs(1);
        let mut spin = Spin::new(us(200));
        // Off: never spins.
        let mut off = Spin::new(Duration::ZERO);
        off.after_poll(t0, true);
        assert!(!off.before_poll(t0));
        // Events: spin for the budget.
        spin.after_poll(t0, true);
        assert!(spin.before_poll(t0 + us(50)));
        // An answer within the spin keeps the budget.
        spin.after_poll(t0 + us(60), true);
        assert!(spin.before_poll(t0 + us(250)));
        // Spins that catch nothing halve it, down to nothing.
        let mut t = t0 + us(60);
        for expected in [100_000, 50_000, 25_000, 12_500, 6_250, 0] {
            assert!(!spin.before_poll(t + us(1_000)), "spun past the budget");
            t += us(10_000);
            spin.after_poll(t, true);
            assert_eq!(spin.budget, Duration::from_nanos(expected));
        }
        assert!(!spin.before_poll(t));
        // A slow peer (answers after 1 ms of sleep) does not bring it back.
        spin.after_poll(t + us(1_000), true);
        assert_eq!(spin.budget, Duration::ZERO);
        // A quick one does: an answer 120 µs after the last sets it to
        // twice that, within the maximum.
        assert!(!spin.before_poll(t + us(1_000)));
        spin.after_poll(t + us(1_080), true);
        assert_eq!(spin.budget, us(160));
        assert!(spin.before_poll(t + us(1_200)));
        spin.after_poll(t + us(1_200), true);
        // A spin failing once does not stop it for a peer that keeps
        // answering quickly.
        assert!(!spin.before_poll(t + us(1_365)));
        assert_eq!(spin.budget, us(80));
        spin.after_poll(t + us(1_390), true);
        assert_eq!(spin.budget, us(200));
    }
}
