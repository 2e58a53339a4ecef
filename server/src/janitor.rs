//! The janitor thread: deletes expired session tokens, a bounded number at a time.
//!
//! A token stops working the moment it expires (`token_user` compares `expires_ms`); its
//! row only costs space. Every [`PERIOD`] the janitor deletes up to [`PER_CALL`] expired
//! rows per call, calling again while calls come back full, so a backlog is worked off
//! without one long transaction. A failure is logged, counted in the metrics' store
//! errors, and tried next period.
//! May touch: the store (token rows only), the store-error counters.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::model::now_ms;
use crate::store::Store;

/// How often expired tokens are purged.
pub const PERIOD: Duration = Duration::from_secs(600);
/// Rows deleted per call at most.
pub const PER_CALL: usize = 10_000;

/// Runs until `stop` is set; the first purge runs at once.
pub fn run(store: Arc<dyn Store>, stop: Arc<AtomicBool>) {
    let mut next = Instant::now();
    while !stop.load(Ordering::Acquire) {
        if Instant::now() >= next {
            purge(&*store);
            next = Instant::now() + PERIOD;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Deletes every token expired by now, [`PER_CALL`] at a time; returns how many.
pub fn purge(store: &dyn Store) -> usize {
    purge_in_chunks(store, PER_CALL)
}

/// Deletes every token expired by now, `per_call` at a time; returns how many.
fn purge_in_chunks(store: &dyn Store, per_call: usize) -> usize {
    let mut total = 0;
    loop {
        match store.purge_expired_tokens(now_ms(), per_call) {
            Ok(n) => {
                total += n;
                if n < per_call {
                    break;
                }
            }
            Err(e) => {
                crate::store_errors::count_store_error(&e);
                log::warn!("janitor: expired tokens not purged: {e}");
                break;
            }
        }
    }
    if total > 0 {
        log::info!("janitor: purged {total} expired session tokens");
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;

    /// Expired tokens go, live ones stay and still log in, and a backlog larger than one
    /// call is worked off in one purge.
    #[test]
    fn purges_expired_tokens_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("chat.db"), 2).unwrap();
        let user = store.create_user("jan", "h", "", None).unwrap();
        let now = now_ms();
        let per_call = 10;
        let expired = 3 * per_call + 5;
        for i in 0..expired {
            store
                .insert_token(&format!("{i:064x}"), user, now - 1000)
                .unwrap();
        }
        let live = "f".repeat(64);
        store.insert_token(&live, user, now + 60_000).unwrap();
        assert_eq!(purge_in_chunks(&store, per_call), expired);
        assert_eq!(purge(&store), 0);
        assert!(store.token_user(&live, now).unwrap().is_some());
    }
}
