//! The engine's monotonic clock: milliseconds since the first time anyone asked.
//!
//! Deadlines are stored in atomics as these milliseconds, so any thread can set one
//! without talking to the reactor that enforces it. Zero means "no deadline", so the
//! clock starts at 1.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Milliseconds on the engine clock; never 0.
pub(crate) fn now_ms() -> u64 {
    epoch().elapsed().as_millis() as u64 + 1
}

/// The engine-clock time `after` from now.
pub(crate) fn after(after: Duration) -> u64 {
    now_ms().saturating_add(after.as_millis().max(1).min(u64::MAX as u128) as u64)
}
