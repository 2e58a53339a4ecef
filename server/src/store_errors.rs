//! A process-wide count of failed store calls, by kind (`chat_store_errors_total`):
//! counted where a store error is handled (a command's answer, the writer, the gap
//! filler, the janitor, the health probe), read by `metrics`. A static, because the
//! conversion of a store error into a command's answer has no app at hand.
//! May touch: nothing but its two counters.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::StoreError;

/// Failed store calls whose error was `Unavailable`.
static UNAVAILABLE: AtomicU64 = AtomicU64::new(0);
/// Failed store calls with any other error.
static OTHER: AtomicU64 = AtomicU64::new(0);

/// Counts one failed store call.
pub fn count_store_error(e: &StoreError) {
    let counter = match e {
        StoreError::Unavailable(_) => &UNAVAILABLE,
        StoreError::Conflict(_) | StoreError::Internal(_) => &OTHER,
    };
    counter.fetch_add(1, Ordering::Relaxed);
}

/// (unavailable, other) so far.
pub fn counts() -> (u64, u64) {
    (
        UNAVAILABLE.load(Ordering::Relaxed),
        OTHER.load(Ordering::Relaxed),
    )
}
