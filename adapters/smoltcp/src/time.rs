//! smoltcp's clock and the core's.
//!
//! smoltcp counts signed microseconds from whatever epoch the firmware's
//! timer uses; the core counts unsigned microseconds from an epoch the
//! caller picks. The conversions use the same epoch and clamp the (never
//! expected) negative values to zero.

use netboot_core::time::Instant;

/// The core instant for a smoltcp instant.
///
/// ```
/// use netboot_smoltcp::time::{from_smoltcp, to_smoltcp};
///
/// let t = smoltcp::time::Instant::from_millis(1_500);
/// assert_eq!(from_smoltcp(t).as_micros(), 1_500_000);
/// assert_eq!(to_smoltcp(from_smoltcp(t)), t);
/// ```
pub fn from_smoltcp(t: smoltcp::time::Instant) -> Instant {
    Instant::from_micros(u64::try_from(t.total_micros()).unwrap_or(0))
}

/// The smoltcp instant for a core instant (clamped to smoltcp's range).
pub fn to_smoltcp(t: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(i64::try_from(t.as_micros()).unwrap_or(i64::MAX))
}
