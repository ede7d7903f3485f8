//! The retransmission timeout: an RFC 6298 estimator with a floor, a ceiling
//! and exponential back-off, or a fixed value negotiated with RFC 2349's
//! `timeout` option.
//!
//! RFC 1350 leaves the timeout to the implementation, and the usual choice
//! (a fixed one to five seconds) stalls a transfer for seconds per lost
//! packet. Here, as long as the peer did not negotiate `timeout`, each side
//! measures round trips and keeps `SRTT` and `RTTVAR` as RFC 6298 section 2
//! describes (alpha = 1/8, beta = 1/4, K = 4, clock granularity 1 ms), clamped
//! to `[min, max]`. A timeout doubles the current RTO up to `max` (section
//! 5.5); the next valid sample recomputes it. Karn's rule (section 3) is the
//! caller's part: it never samples a block that was sent more than once.
//!
//! Departures: the floor defaults to 2 ms rather than RFC 6298's one second,
//! because TFTP runs on LANs and loopback, where a round trip costs
//! microseconds and a lost block should cost about as little; the ceiling
//! defaults to 4 s. A spurious retransmission is cheap (the receiver answers
//! the duplicate, the sender ignores the duplicate ACK) and, by Karn's rule,
//! never skews the estimate. Giving up is not tied to this timer alone: see
//! [`TransferConfig::give_up_after`](super::TransferConfig::give_up_after). A negotiated `timeout` is used exactly, without
//! back-off, as RFC 2349 specifies.

use crate::time::Duration;

/// Bounds and starting point of the estimator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtoConfig {
    /// RTO before the first sample.
    pub initial: Duration,
    /// Floor.
    pub min: Duration,
    /// Ceiling, also the limit of back-off.
    pub max: Duration,
}

impl Default for RtoConfig {
    fn default() -> Self {
        RtoConfig {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(2),
            max: Duration::from_secs(4),
        }
    }
}

const GRANULARITY: Duration = Duration::from_millis(1);

/// The retransmission timer's duration.
///
/// ```
/// use netboot_core::tftp::rto::{Rto, RtoConfig};
/// use netboot_core::time::Duration;
///
/// let mut rto = Rto::adaptive(RtoConfig::default());
/// assert_eq!(rto.current(), Duration::from_secs(1));
/// rto.sample(Duration::from_millis(40));
/// // SRTT 40 ms + max(1 ms, 4 x RTTVAR 20 ms) = 120 ms.
/// assert_eq!(rto.current(), Duration::from_millis(120));
/// rto.back_off();
/// assert_eq!(rto.current(), Duration::from_millis(240));
///
/// let fixed = Rto::fixed(Duration::from_secs(3));
/// assert_eq!(fixed.current(), Duration::from_secs(3));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rto {
    config: RtoConfig,
    srtt: Option<Duration>,
    rttvar: Duration,
    base: Duration,
    current: Duration,
    fixed: bool,
}

impl Rto {
    /// An estimator that adapts to measured round trips.
    pub fn adaptive(config: RtoConfig) -> Self {
        let initial = config.initial.clamp(config.min, config.max.max(config.min));
        Rto {
            config,
            srtt: None,
            rttvar: Duration::ZERO,
            base: initial,
            current: initial,
            fixed: false,
        }
    }

    /// A fixed timeout (a negotiated `timeout` option): samples never
    /// change it, and there is no back-off.
    pub fn fixed(timeout: Duration) -> Self {
        Rto {
            config: RtoConfig {
                initial: timeout,
                min: timeout,
                max: timeout,
            },
            srtt: None,
            rttvar: Duration::ZERO,
            base: timeout,
            current: timeout,
            fixed: true,
        }
    }

    /// True for a negotiated, fixed timeout.
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }

    /// The timeout to use now.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// The smoothed round-trip time, once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// The shortest time in which the peer can have answered a datagram
    /// sent now, as far as the estimate knows: SRTT less twice RTTVAR (a
    /// short round trip), or `None` before the first sample. An answer
    /// that comes sooner was provoked by something sent earlier. On an
    /// erratic path the variance eats the estimate and this falls to zero:
    /// a real answer taken for an old one would cost a timeout.
    pub fn reaction(&self) -> Option<Duration> {
        self.srtt.map(|srtt| srtt.saturating_sub(self.rttvar * 2))
    }

    /// Feeds one round-trip measurement (never of a retransmitted packet).
    /// A fixed timeout stays as negotiated; the round-trip estimate is
    /// still kept (see [`Rto::reaction`]).
    pub fn sample(&mut self, rtt: Duration) {
        match self.srtt {
            None => {
                self.srtt = Some(rtt);
                self.rttvar = rtt / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + delta) / 4;
                self.srtt = Some((srtt * 7 + rtt) / 8);
            }
        }
        if self.fixed {
            return;
        }
        let srtt = self.srtt.unwrap_or(rtt);
        let rto = srtt.saturating_add((self.rttvar * 4).max(GRANULARITY));
        self.base = rto.clamp(self.config.min, self.config.max.max(self.config.min));
        self.current = self.base;
    }

    /// A timeout fired: double the current timeout, up to the ceiling.
    pub fn back_off(&mut self) {
        if !self.fixed {
            self.current = self.current.saturating_mul(2).min(self.config.max);
        }
    }

    /// Forget the back-off (progress was made without a fresh sample).
    pub fn reset_back_off(&mut self) {
        self.current = self.base;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_and_ceiling_hold() {
        let mut r = Rto::adaptive(RtoConfig::default());
        r.sample(Duration::from_micros(30));
        assert_eq!(r.current(), Duration::from_millis(2));
        for _ in 0..20 {
            r.back_off();
        }
        assert_eq!(r.current(), Duration::from_secs(4));
        r.sample(Duration::from_secs(60));
        assert_eq!(r.current(), Duration::from_secs(4));
    }

    #[test]
    fn follows_rfc6298_smoothing() {
        let mut r = Rto::adaptive(RtoConfig {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(1),
            max: Duration::from_secs(60),
        });
        r.sample(Duration::from_millis(100));
        assert_eq!(r.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(r.current(), Duration::from_millis(300));
        r.sample(Duration::from_millis(200));
        // RTTVAR = 3/4 * 50 + 1/4 * 100 = 62.5; SRTT = 7/8 * 100 + 1/8 * 200 = 112.5
        assert_eq!(r.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(r.current(), Duration::from_micros(112_500 + 250_000));
        // Converges on a steady RTT.
        for _ in 0..200 {
            r.sample(Duration::from_millis(20));
        }
        let rto = r.current();
        assert!(
            rto >= Duration::from_millis(20) && rto < Duration::from_millis(25),
            "{rto:?}"
        );
    }

    #[test]
    fn back_off_doubles_until_a_sample() {
        let mut r = Rto::adaptive(RtoConfig::default());
        r.sample(Duration::from_millis(50));
        let base = r.current();
        r.back_off();
        r.back_off();
        assert_eq!(r.current(), base * 4);
        r.reset_back_off();
        assert_eq!(r.current(), base);
        r.back_off();
        r.sample(Duration::from_millis(50));
        assert!(r.current() <= base);
    }

    #[test]
    fn fixed_is_exact() {
        let mut r = Rto::fixed(Duration::from_secs(7));
        r.sample(Duration::from_millis(1));
        r.back_off();
        assert_eq!(r.current(), Duration::from_secs(7));
        assert!(r.is_fixed());
    }
}
