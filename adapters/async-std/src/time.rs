//! Sleeping until a machine's deadline, on async-io's timers.

use netboot_core::time::Instant;
use netboot_std::clock::Clock;

/// Resolves at `deadline` (at once if it has passed), never without one.
pub(crate) async fn sleep_until(clock: &Clock, deadline: Option<Instant>) {
    match deadline {
        Some(d) => {
            async_io::Timer::after(clock.until(clock.now(), d)).await;
        }
        None => futures_lite::future::pending::<()>().await,
    }
}
