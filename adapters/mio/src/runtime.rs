//! One mio event loop that hosts any number of protocol services.
//!
//! A [`Service`] owns its sockets and its core machines; the loop owns the
//! `mio::Poll`, the clock and the thread. `netboot tftp serve` runs a loop with
//! one service, `netboot serve` a loop with three: BOOTP, TFTP and FTP share one
//! thread and one `epoll` set.
//!
//! Tokens are split between services: the high bits of a `mio::Token` name
//! the service, the low [`LOCAL_BITS`] bits are the service's own (a slab
//! index, typically). Services register through a [`Context`], which adds the
//! service bits for them, and receive their local token back in
//! [`Service::ready`].
//!
//! Sources are registered edge-triggered (mio's only mode): a service must
//! read or accept until `WouldBlock` every time it is told a source is ready.
//!
//! Sockets are bound by the caller *before* the loop starts, so that a bind
//! failure (port in use, no privilege for a port below 1024) is reported
//! synchronously with its cause, and the bound addresses are known at once.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use mio::event::{Event, Source};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use netboot_core::time::Instant;
use netboot_std::clock::Clock;

/// Bits of a token that belong to the service.
pub const LOCAL_BITS: u32 = 40;
const LOCAL_MASK: usize = (1 << LOCAL_BITS) - 1;
const WAKER: Token = Token(usize::MAX);

/// A protocol server living on an [`EventLoop`].
pub trait Service: Send {
    /// A short name for logs ("tftp", "bootp", "ftp").
    fn name(&self) -> &'static str;

    /// Registers the service's listening sources. Called once, on the loop
    /// thread, before the first poll.
    fn start(&mut self, cx: &mut Context<'_>) -> io::Result<()>;

    /// A source registered under the local token `token` is ready.
    fn ready(&mut self, cx: &mut Context<'_>, token: usize, event: &Event);

    /// Called whenever the loop wakes at or after [`Service::deadline`]. May
    /// be called early or spuriously; it must then do nothing.
    fn timeout(&mut self, cx: &mut Context<'_>);

    /// The earliest instant at which [`Service::timeout`] must run.
    fn deadline(&self) -> Option<Instant>;

    /// The loop is stopping: end in-flight work cleanly (fail transfers,
    /// discard partial uploads, save state). Called once, on the loop thread.
    fn shutdown(&mut self, cx: &mut Context<'_>);
}

/// What a service may do with the loop while it is being called.
pub struct Context<'a> {
    registry: &'a Registry,
    service: usize,
    now: Instant,
    clock: &'a Clock,
}

impl Context<'_> {
    /// The time at which the loop woke up.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The clock the loop uses, for converting instants.
    pub fn clock(&self) -> &Clock {
        self.clock
    }

    /// Re-reads the clock (for work that took a while).
    pub fn refresh(&mut self) -> Instant {
        self.now = self.clock.now();
        self.now
    }

    fn token(&self, local: usize) -> io::Result<Token> {
        if local > LOCAL_MASK {
            return Err(io::Error::other("too many event sources"));
        }
        Ok(Token((self.service << LOCAL_BITS) | local))
    }

    /// Registers `source` under the service's local token `local`.
    pub fn register<S: Source + ?Sized>(
        &self,
        source: &mut S,
        local: usize,
        interest: Interest,
    ) -> io::Result<()> {
        self.registry.register(source, self.token(local)?, interest)
    }

    /// Changes the interest or token of a registered source.
    pub fn reregister<S: Source + ?Sized>(
        &self,
        source: &mut S,
        local: usize,
        interest: Interest,
    ) -> io::Result<()> {
        self.registry
            .reregister(source, self.token(local)?, interest)
    }

    /// Removes a source from the loop (dropping the socket also does).
    pub fn deregister<S: Source + ?Sized>(&self, source: &mut S) -> io::Result<()> {
        self.registry.deregister(source)
    }
}

/// An event loop with its services, not yet running.
pub struct EventLoop {
    poll: Poll,
    services: Vec<Box<dyn Service>>,
    clock: Clock,
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    busy_poll: Duration,
}

impl EventLoop {
    /// A loop with no services.
    pub fn new() -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(EventLoop {
            poll,
            services: Vec::new(),
            clock: Clock::new(),
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            busy_poll: Duration::ZERO,
        })
    }

    /// After a wake-up that brought events, keeps polling without sleeping
    /// for up to `spin` before blocking again (zero, the default: never).
    ///
    /// A lockstep peer (a TFTP client acknowledging each block) answers
    /// within tens of microseconds on a LAN or loopback; a thread that went
    /// to sleep in the meantime pays a scheduler wake-up, on a virtual
    /// machine often longer than the answer took. Spinning briefly keeps
    /// that latency off every round trip, at the price of CPU time while
    /// traffic flows; an idle loop still sleeps.
    pub fn busy_poll(&mut self, spin: Duration) -> &mut Self {
        self.busy_poll = spin;
        self
    }

    /// The clock services should use to stamp instants.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Adds a service; its sockets should already be bound.
    pub fn add(&mut self, service: Box<dyn Service>) -> &mut Self {
        self.services.push(service);
        self
    }

    /// A handle that stops this loop from another thread.
    pub fn stopper(&self) -> Stopper {
        Stopper {
            stop: self.stop.clone(),
            waker: self.waker.clone(),
        }
    }

    /// Runs the loop on a new thread and returns a handle to stop it.
    pub fn spawn(self, name: &str) -> io::Result<LoopHandle> {
        let stopper = self.stopper();
        let thread = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || self.run())?;
        Ok(LoopHandle {
            stopper,
            thread: Some(thread),
        })
    }

    /// Runs the loop on this thread until a [`Stopper`] stops it.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let now = self.clock.now();
        for (index, service) in self.services.iter_mut().enumerate() {
            let mut cx = Context {
                registry: self.poll.registry(),
                service: index,
                now,
                clock: &self.clock,
            };
            service.start(&mut cx)?;
        }
        let mut spin = Spin::new(self.busy_poll);
        while !self.stop.load(Ordering::Acquire) {
            let now = self.clock.now();
            let timeout = if spin.before_poll(now) {
                Some(Duration::ZERO)
            } else {
                self.services
                    .iter()
                    .filter_map(|s| s.deadline())
                    .min()
                    .map(|deadline| self.clock.until(now, deadline))
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            let now = self.clock.now();
            spin.after_poll(now, events.iter().any(|e| e.token() != WAKER));
            for event in events.iter() {
                if event.token() == WAKER {
                    continue;
                }
                let index = event.token().0 >> LOCAL_BITS;
                let Some(service) = self.services.get_mut(index) else {
                    continue;
                };
                let mut cx = Context {
                    registry: self.poll.registry(),
                    service: index,
                    now,
                    clock: &self.clock,
                };
                service.ready(&mut cx, event.token().0 & LOCAL_MASK, event);
            }
            let now = self.clock.now();
            for (index, service) in self.services.iter_mut().enumerate() {
                if service.deadline().is_some_and(|d| d <= now) {
                    let mut cx = Context {
                        registry: self.poll.registry(),
                        service: index,
                        now,
                        clock: &self.clock,
                    };
                    service.timeout(&mut cx);
                }
            }
        }
        let now = self.clock.now();
        for (index, service) in self.services.iter_mut().enumerate() {
            let mut cx = Context {
                registry: self.poll.registry(),
                service: index,
                now,
                clock: &self.clock,
            };
            service.shutdown(&mut cx);
        }
        Ok(())
    }
}

/// Adaptive busy polling (see [`EventLoop::busy_poll`]): after events, the
/// loop polls without sleeping for up to `budget`. A spin that ends without
/// events halves the budget, so a peer slower than the spin stops costing
/// CPU time; events that came within `max` of the previous ones while the
/// loop slept raise it to twice that gap (a spin would have caught them),
/// up to `max`.
#[derive(Debug)]
struct Spin {
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

    fn new(max: Duration) -> Self {
        Spin {
            max,
            budget: max,
            until: None,
            last_events: None,
            slept: false,
        }
    }

    /// True: poll without sleeping.
    fn before_poll(&mut self, now: Instant) -> bool {
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
    fn after_poll(&mut self, now: Instant, events: bool) {
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

/// Stops an [`EventLoop`] from any thread.
#[derive(Clone)]
pub struct Stopper {
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
}

impl Stopper {
    /// Asks the loop to stop; it finishes the current iteration, lets each
    /// service shut down, and returns.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        // A failed wake means the loop is already gone.
        let _ = self.waker.wake();
    }
}

/// A loop running on its own thread. Dropping the handle stops the loop and
/// waits for it.
pub struct LoopHandle {
    stopper: Stopper,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl LoopHandle {
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
        self.stop_and_join()
    }

    /// Waits for the loop to end without asking it to.
    pub fn join(mut self) -> io::Result<()> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("event loop thread panicked"))),
            None => Ok(()),
        }
    }

    fn stop_and_join(&mut self) -> io::Result<()> {
        self.stopper.stop();
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
        let _ = self.stop_and_join();
    }
}

/// Deadlines for many keyed machines, earliest first, at most one live
/// deadline per key.
///
/// A key's deadline is armed only when it is earlier than the one already
/// armed, so a machine whose deadline keeps moving later (an FTP idle timer
/// after every event) costs one entry, not one per event. When the armed
/// deadline comes out of [`pop_due`](Self::pop_due) the key is disarmed: the
/// service checks the machine's own `poll_timeout`, handles the timeout if
/// it is due, and otherwise schedules the later deadline again. Entries
/// superseded by an earlier deadline, or cancelled with
/// [`forget`](Self::forget), are skipped when they come out and pruned when
/// they outnumber the live ones.
#[derive(Debug)]
pub struct TimerQueue<K: Ord> {
    heap: BinaryHeap<Reverse<(Instant, K)>>,
    /// Each key's live deadline; heap entries that differ are stale.
    armed: BTreeMap<K, Instant>,
}

impl<K: Ord + Copy> Default for TimerQueue<K> {
    fn default() -> Self {
        TimerQueue {
            heap: BinaryHeap::new(),
            armed: BTreeMap::new(),
        }
    }
}

impl<K: Ord + Copy> TimerQueue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes sure `key` is woken at `at` or earlier.
    pub fn schedule(&mut self, key: K, at: Instant) {
        if self.armed.get(&key).is_some_and(|armed| *armed <= at) {
            return;
        }
        self.armed.insert(key, at);
        self.heap.push(Reverse((at, key)));
        if self.heap.len() > 64 && self.heap.len() > 2 * self.armed.len() {
            let armed = &self.armed;
            self.heap
                .retain(|Reverse((at, k))| armed.get(k) == Some(at));
        }
    }

    /// Cancels `key`'s deadline (its machine is gone, or its slot reused).
    pub fn forget(&mut self, key: K) {
        self.armed.remove(&key);
    }

    /// The earliest scheduled instant (possibly of a stale entry, which
    /// only means an early wake-up).
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns one key whose armed deadline is at or before
    /// `now`, disarming it.
    pub fn pop_due(&mut self, now: Instant) -> Option<K> {
        while let Some(Reverse((at, key))) = self.heap.peek().copied() {
            if at > now {
                return None;
            }
            self.heap.pop();
            if self.armed.get(&key) == Some(&at) {
                self.armed.remove(&key);
                return Some(key);
            }
        }
        None
    }

    /// Number of heap entries, stale ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// True when nothing is scheduled.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
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

    #[test]
    fn timer_queue_orders_and_pops_due() {
        let mut q = TimerQueue::new();
        q.schedule(2u32, Instant::from_millis(20));
        q.schedule(1u32, Instant::from_millis(10));
        q.schedule(3u32, Instant::from_millis(30));
        assert_eq!(q.next(), Some(Instant::from_millis(10)));
        assert_eq!(q.pop_due(Instant::from_millis(25)), Some(1));
        assert_eq!(q.pop_due(Instant::from_millis(25)), Some(2));
        assert_eq!(q.pop_due(Instant::from_millis(25)), None);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn a_deadline_moving_later_costs_one_entry_and_is_rearmed_after_it_pops() {
        let mut q = TimerQueue::new();
        // An idle timer pushed back by every one of 10,000 events.
        for i in 0..10_000u64 {
            q.schedule(7u32, Instant::from_millis(60_000 + i));
        }
        assert_eq!(q.len(), 1);
        // The first deadline pops and disarms the key; the service finds
        // its machine's real deadline later and schedules it again.
        assert_eq!(q.pop_due(Instant::from_millis(60_000)), Some(7));
        q.schedule(7, Instant::from_millis(69_999));
        assert_eq!(q.pop_due(Instant::from_millis(69_998)), None);
        assert_eq!(q.pop_due(Instant::from_millis(69_999)), Some(7));
        assert!(q.is_empty());
    }

    #[test]
    fn an_earlier_deadline_supersedes_and_stale_entries_are_pruned() {
        let mut q = TimerQueue::new();
        q.schedule(1u32, Instant::from_millis(50));
        q.schedule(1u32, Instant::from_millis(10));
        // The later entry is stale: the key pops once, at 10.
        assert_eq!(q.pop_due(Instant::from_millis(100)), Some(1));
        assert_eq!(q.pop_due(Instant::from_millis(100)), None);
        // Deadlines that keep moving earlier leave stale entries behind,
        // which never outnumber the live ones by much.
        for i in 0..1000u64 {
            q.schedule(2u32, Instant::from_millis(5_000 - i));
            q.schedule(3u32, Instant::from_millis(5_000 - i));
        }
        assert!(q.len() <= 66, "{}", q.len());
        assert_eq!(q.pop_due(Instant::from_millis(5_000)), Some(2));
        assert_eq!(q.pop_due(Instant::from_millis(5_000)), Some(3));
        assert_eq!(q.pop_due(Instant::from_millis(5_000)), None);
        // A forgotten key never pops.
        q.schedule(4u32, Instant::from_millis(6_000));
        q.forget(4);
        assert_eq!(q.pop_due(Instant::from_millis(9_000)), None);
    }

    struct Counter {
        fired: Arc<std::sync::atomic::AtomicUsize>,
        at: Option<Instant>,
    }

    impl Service for Counter {
        fn name(&self) -> &'static str {
            "counter"
        }
        fn start(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
            self.at = Some(cx.now() + Duration::from_millis(5));
            Ok(())
        }
        fn ready(&mut self, _: &mut Context<'_>, _: usize, _: &Event) {}
        fn timeout(&mut self, cx: &mut Context<'_>) {
            if self.at.is_some_and(|at| at <= cx.now()) {
                self.fired.fetch_add(1, Ordering::SeqCst);
                self.at = None;
            }
        }
        fn deadline(&self) -> Option<Instant> {
            self.at
        }
        fn shutdown(&mut self, _: &mut Context<'_>) {
            self.fired.fetch_add(100, Ordering::SeqCst);
        }
    }

    #[test]
    fn loop_fires_deadlines_and_shuts_down() {
        let fired = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut ev = EventLoop::new().unwrap();
        ev.add(Box::new(Counter {
            fired: fired.clone(),
            at: None,
        }));
        let handle = ev.spawn("test-loop").unwrap();
        let start = std::time::Instant::now();
        while fired.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        handle.shutdown().unwrap();
        assert_eq!(fired.load(Ordering::SeqCst), 101);
    }
}
