//! The bridge between the OS monotonic clock and the core's [`Instant`].

use std::time::Duration;

use netboot_core::time::Instant;

/// Maps `std::time::Instant` onto the core's microsecond [`Instant`], with
/// the clock's creation as the epoch.
///
/// ```
/// use netboot_std::clock::Clock;
///
/// let clock = Clock::new();
/// let a = clock.now();
/// let b = clock.now();
/// assert!(b >= a);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: std::time::Instant,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

impl Clock {
    /// A clock whose epoch is now.
    pub fn new() -> Self {
        Clock {
            epoch: std::time::Instant::now(),
        }
    }

    /// The current instant.
    pub fn now(&self) -> Instant {
        self.instant(std::time::Instant::now())
    }

    /// Converts an OS instant.
    pub fn instant(&self, t: std::time::Instant) -> Instant {
        let micros = t.saturating_duration_since(self.epoch).as_micros();
        Instant::from_micros(u64::try_from(micros).unwrap_or(u64::MAX))
    }

    /// The Unix time of this clock's epoch (by the wall clock, which may
    /// be stepped later; dates only, for listings).
    pub fn epoch_unix(&self) -> u64 {
        crate::os::unix_now().saturating_sub(self.now().since_epoch().as_secs())
    }

    /// How long to sleep from `now` until `deadline` (zero if it has passed),
    /// rounded up to whole milliseconds for `epoll_wait`.
    pub fn until(&self, now: Instant, deadline: Instant) -> Duration {
        sleep_for(deadline.saturating_duration_since(now))
    }
}

/// How long `poll` may sleep: never negative, rounded up to a whole
/// millisecond so `epoll_wait` does not wake just before the deadline.
fn sleep_for(d: Duration) -> Duration {
    let ms = d.as_micros().div_ceil(1000);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_rounds_up() {
        assert_eq!(
            sleep_for(Duration::from_micros(1)),
            Duration::from_millis(1)
        );
        assert_eq!(
            sleep_for(Duration::from_millis(5)),
            Duration::from_millis(5)
        );
        assert_eq!(sleep_for(Duration::ZERO), Duration::ZERO);
    }
}
