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
///
/// Spinning only pays while the loop has a core to itself. Spins are
/// measured against the thread's own CPU clock, summed over windows of
/// [`Spin::WINDOW`] of spinning (one spin is too short for the scheduler
/// to show): a window in which the thread ran for less than
/// [`Spin::RAN_SHARE`] tenths of the wall time was preempted (another
/// runnable thread, a CPU hog, the peer itself, or the hypervisor wanted
/// the core), so spinning is off for a cooldown that doubles with every
/// contended window (from [`Spin::COOLDOWN`] up to [`Spin::MAX_COOLDOWN`])
/// and starts over after a clean one. A contended loop therefore sleeps in
/// `epoll_wait` like any server, and gives the core to whoever needs it.
#[derive(Debug)]
pub(crate) struct Spin {
    max: Duration,
    budget: Duration,
    /// Spinning until then.
    until: Option<Instant>,
    /// When the spin under way started, and the thread's CPU time then.
    started: Option<(Instant, Duration)>,
    /// When the last events came.
    last_events: Option<Instant>,
    /// The last poll could sleep.
    slept: bool,
    /// Wall time spun in the current measuring window, and the thread's
    /// CPU time over those spins.
    window: (Duration, Duration),
    /// No spinning before then: the last window was preempted.
    cooldown_until: Option<Instant>,
    /// The next cooldown's length.
    cooldown: Duration,
}

impl Spin {
    /// Below this, a budget is zero.
    const FLOOR: Duration = Duration::from_micros(4);
    /// Spinning time over which contention is judged: several scheduler
    /// slices' worth of chances to be preempted.
    pub(crate) const WINDOW: Duration = Duration::from_millis(10);
    /// The share of a window's wall time the thread must have run (in
    /// tenths) for it to count as uncontended.
    pub(crate) const RAN_SHARE: u32 = 8;
    /// The first cooldown after a preempted spin.
    pub(crate) const COOLDOWN: Duration = Duration::from_millis(20);
    /// The longest cooldown.
    pub(crate) const MAX_COOLDOWN: Duration = Duration::from_secs(1);

    pub(crate) fn new(max: Duration) -> Self {
        Spin {
            max,
            budget: max,
            until: None,
            started: None,
            window: (Duration::ZERO, Duration::ZERO),
            last_events: None,
            slept: false,
            cooldown_until: None,
            cooldown: Self::COOLDOWN,
        }
    }

    /// True: poll without sleeping. `cpu` reads the thread's CPU time; it
    /// is called only when a spin ends.
    pub(crate) fn before_poll(&mut self, now: Instant, cpu: impl FnOnce() -> Duration) -> bool {
        match self.until {
            Some(until) if now < until => return true,
            Some(_) => {
                // The spin caught nothing.
                self.end_spin(now, cpu());
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
    /// `cpu` reads the thread's CPU time; it is called only when a spin
    /// ends or starts.
    pub(crate) fn after_poll(
        &mut self,
        now: Instant,
        events: bool,
        cpu: impl FnOnce() -> Duration,
    ) {
        if !events {
            return;
        }
        let mut cpu = Some(cpu);
        let mut cpu_now = None;
        let mut read =
            || *cpu_now.get_or_insert_with(|| cpu.take().map_or(Duration::ZERO, |f| f()));
        if self.until.take().is_some() {
            // A spin caught these events.
            let c = read();
            self.end_spin(now, c);
        }
        let cooling = self.cooldown_until.is_some_and(|t| now < t);
        if let Some(last) = self.last_events
            && self.slept
            && !cooling
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
        if self.budget.is_zero() || cooling {
            return;
        }
        self.until = Some(now + self.budget);
        self.started = Some((now, read()));
    }

    /// A spin ended at `now` with the thread's CPU time at `cpu`; at the
    /// end of a window, if the thread was preempted, spinning cools down.
    fn end_spin(&mut self, now: Instant, cpu: Duration) {
        let Some((start, start_cpu)) = self.started.take() else {
            return;
        };
        self.window.0 += now.saturating_duration_since(start);
        self.window.1 += cpu.saturating_sub(start_cpu);
        let (wall, ran) = self.window;
        if wall < Self::WINDOW {
            return;
        }
        self.window = (Duration::ZERO, Duration::ZERO);
        if ran * 10 < wall * Self::RAN_SHARE {
            self.cooldown_until = Some(now + self.cooldown);
            self.cooldown = (self.cooldown * 2).min(Self::MAX_COOLDOWN);
        } else {
            self.cooldown = Self::COOLDOWN;
        }
    }
}

/// The calling thread's CPU time (user and system), from
/// `CLOCK_THREAD_CPUTIME_ID`: what [`Spin`] measures its spins against.
pub(crate) fn thread_cpu_time() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(
        t.tv_sec.max(0) as u64,
        t.tv_nsec.clamp(0, 999_999_999) as u32,
    )
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

    /// The CPU clock of a thread that never lost its core: its CPU time
    /// is the wall time since `t0`.
    fn alone(t0: Instant, now: Instant) -> impl FnOnce() -> Duration {
        move || now.saturating_duration_since(t0)
    }

    #[test]
    fn spin_follows_a_quick_peer_and_gives_up_on_a_slow_one() {
        let us = Duration::from_micros;
        let t0 = Instant::from_secs(1);
        let cpu = |now| alone(t0, now);
        let mut spin = Spin::new(us(200));
        // Off: never spins.
        let mut off = Spin::new(Duration::ZERO);
        off.after_poll(t0, true, cpu(t0));
        assert!(!off.before_poll(t0, cpu(t0)));
        // Events: spin for the budget.
        spin.after_poll(t0, true, cpu(t0));
        assert!(spin.before_poll(t0 + us(50), cpu(t0 + us(50))));
        // An answer within the spin keeps the budget.
        spin.after_poll(t0 + us(60), true, cpu(t0 + us(60)));
        assert!(spin.before_poll(t0 + us(250), cpu(t0 + us(250))));
        // Spins that catch nothing halve it, down to nothing.
        let mut t = t0 + us(60);
        for expected in [100_000, 50_000, 25_000, 12_500, 6_250, 0] {
            let end = t + us(1_000);
            assert!(!spin.before_poll(end, cpu(end)), "spun past the budget");
            t += us(10_000);
            spin.after_poll(t, true, cpu(t));
            assert_eq!(spin.budget, Duration::from_nanos(expected));
        }
        assert!(!spin.before_poll(t, cpu(t)));
        // A slow peer (answers after 1 ms of sleep) does not bring it back.
        spin.after_poll(t + us(1_000), true, cpu(t + us(1_000)));
        assert_eq!(spin.budget, Duration::ZERO);
        // A quick one does: an answer 120 µs after the last sets it to
        // twice that, within the maximum.
        assert!(!spin.before_poll(t + us(1_000), cpu(t + us(1_000))));
        spin.after_poll(t + us(1_080), true, cpu(t + us(1_080)));
        assert_eq!(spin.budget, us(160));
        assert!(spin.before_poll(t + us(1_200), cpu(t + us(1_200))));
        spin.after_poll(t + us(1_200), true, cpu(t + us(1_200)));
        // A spin failing once does not stop it for a peer that keeps
        // answering quickly.
        assert!(!spin.before_poll(t + us(1_365), cpu(t + us(1_365))));
        assert_eq!(spin.budget, us(80));
        spin.after_poll(t + us(1_390), true, cpu(t + us(1_390)));
        assert_eq!(spin.budget, us(200));
    }

    /// Spins of 1 ms, each caught by events at its end, during which the
    /// thread runs `ran` of it, from `t` until a window closes; returns
    /// when the last spin ended and the CPU time then.
    fn spin_a_window(
        spin: &mut Spin,
        mut t: Instant,
        mut cpu: Duration,
        ran: Duration,
    ) -> (Instant, Duration) {
        let ms = Duration::from_millis(1);
        spin.after_poll(t, true, || cpu);
        for _ in 0..Spin::WINDOW.as_millis() {
            assert!(spin.before_poll(t + ms / 2, || unreachable!("still spinning")));
            t += ms;
            cpu += ran;
            spin.after_poll(t, true, || cpu);
        }
        (t, cpu)
    }

    #[test]
    fn a_preempted_window_stops_spinning_for_a_growing_cooldown() {
        let us = Duration::from_micros;
        let t0 = Instant::from_secs(1);
        let mut spin = Spin::new(us(2_000));
        // The thread ran 300 µs of every 1 ms spun: preempted.
        let (end, cpu) = spin_a_window(&mut spin, t0, us(1_000), us(300));
        assert_eq!(spin.budget, us(2_000), "the budget itself stays");
        assert_eq!(spin.cooldown_until, Some(end + Spin::COOLDOWN));
        // Events during the cooldown neither spin nor read the clock.
        let mut t = end;
        for _ in 0..5 {
            assert!(!spin.before_poll(t, || unreachable!("no spin to measure")));
            t += us(100);
            spin.after_poll(t, true, || unreachable!("no spin to measure"));
        }
        // After it the loop spins again; preempted again, the cooldown
        // doubles.
        let after = end + Spin::COOLDOWN;
        assert!(!spin.before_poll(after, || unreachable!("no spin to measure")));
        let (end, cpu) = spin_a_window(&mut spin, after, cpu, us(300));
        assert_eq!(spin.cooldown_until, Some(end + Spin::COOLDOWN * 2));
        // A window with the core to itself starts the cooldown over and
        // keeps spinning.
        let later = end + Spin::COOLDOWN * 2;
        assert!(!spin.before_poll(later, || unreachable!("no spin to measure")));
        let (end, _) = spin_a_window(&mut spin, later, cpu, us(1_000));
        assert_eq!(spin.cooldown, Spin::COOLDOWN);
        assert!(spin.before_poll(end + us(10), || unreachable!("still spinning")));
    }

    #[test]
    fn the_thread_cpu_clock_moves_with_work() {
        let before = thread_cpu_time();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        assert!(thread_cpu_time() > before);
    }
}
