//! The password guard: who may make the server do password work, and when.
//!
//! Password work (`login` with a password, `register`) costs an argon2 hash, tens of
//! milliseconds of a core. Three checks run before any of it, cheapest first, and each
//! refusal is answered at once, without hashing:
//!
//! 1. **Per account and source** (logins only): after `failed_logins_before_delay` wrong
//!    passwords for one username from one source address, each further attempt for it
//!    from there must wait 1 s, then 2 s, 4 s, … up to `failed_login_max_delay`
//!    (`rate_limited` with `retry_after_ms`). A right password clears the count; an
//!    hour without failures forgets it. The scheme is keyed by the pair on purpose: an
//!    attacker elsewhere slows only itself and can never lock the owner out, and a
//!    session token (token login) is never throttled at all.
//! 2. **Per source address**: a token bucket (`password_rate_per_ip` per second, up to
//!    `password_burst_per_ip`), `rate_limited` with `retry_after_ms`.
//! 3. **The hashing backlog** ([`PasswordHasher::admit`]): an attempt that would wait
//!    behind more than `hash_backlog` of queued hashing, or find half the workers busy
//!    with password work already, gets `server_busy` with `retry_after_ms`. So workers
//!    never all sit behind argon2, and a burst of logins costs waiting clients at most
//!    about `hash_backlog`.
//!
//! Source addresses are keyed with [`reactor::source_key`] (IPv6 by /64).
//! Bound: both tables are pruned of entries that remember nothing (a full bucket, a
//! forgotten count) once they pass [`MAX_ENTRIES`]; should they still be over, new
//! sources are refused (`server_busy`) rather than the table growing.
//! May touch: its own tables and the hasher's queue.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::auth::{HashSlot, PasswordHasher};
use crate::protocol::{ChatError, ErrorCode};
use crate::rate_limit::RateLimiter;

/// Entries either table holds before it is pruned.
pub const MAX_ENTRIES: usize = 100_000;
/// A count of failures is forgotten after this long without a new one.
const FORGET_FAILURES: Duration = Duration::from_secs(3600);

/// The guard's settings (the `[auth]` section, plus the worker count).
#[derive(Debug, Clone, Copy)]
pub struct GuardSettings {
    /// Password attempts per second a source address earns.
    pub rate_per_ip: u32,
    /// Password attempts a source address may make in a burst.
    pub burst_per_ip: u32,
    /// Queued hashing an attempt may wait behind.
    pub hash_backlog: Duration,
    /// Callers that may hold a place in the hashing queue at once (half the workers).
    pub max_hashing: usize,
    /// Failed passwords per (account, source) before attempts must wait.
    pub failures_before_delay: u32,
    /// The longest wait.
    pub max_delay: Duration,
}

/// Failed passwords for one (account, source) pair.
#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
}

/// See the module docs.
pub struct PasswordGuard {
    settings: GuardSettings,
    per_source: Mutex<HashMap<IpAddr, RateLimiter>>,
    failures: Mutex<HashMap<(String, IpAddr), Failures>>,
}

impl PasswordGuard {
    /// A guard with empty tables.
    pub fn new(settings: GuardSettings) -> Self {
        Self {
            settings,
            per_source: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Lets one password attempt from `ip` through, for `account` (a login's username;
    /// `None` for `register`), or says why not. Hold the slot while hashing.
    pub fn admit<'h>(
        &self,
        hasher: &'h PasswordHasher,
        ip: IpAddr,
        account: Option<&str>,
    ) -> Result<HashSlot<'h>, ChatError> {
        let source = reactor::source_key(ip);
        let now = Instant::now();
        if let Some(account) = account {
            if let Some(wait) = self.account_wait(&account_key(account), source, now) {
                return Err(ChatError::new(
                    ErrorCode::RateLimited,
                    "too many wrong passwords for this account from your address; wait",
                )
                .retry_after(wait));
            }
        }
        self.take_source_token(source, now)?;
        hasher
            .admit(self.settings.hash_backlog, self.settings.max_hashing)
            .map_err(|busy| {
                ChatError::new(
                    ErrorCode::ServerBusy,
                    "too many password checks are queued; nothing was done, retry",
                )
                .retry_after(busy.retry_after)
            })
    }

    /// Records a wrong password (or unknown username) for `account` from `ip`.
    pub fn failed(&self, ip: IpAddr, account: &str) {
        let key = (account_key(account), reactor::source_key(ip));
        let now = Instant::now();
        let mut failures = self.failures.lock();
        if failures.len() >= MAX_ENTRIES && !failures.contains_key(&key) {
            failures.retain(|_, f| now.duration_since(f.last) < FORGET_FAILURES);
            if failures.len() >= MAX_ENTRIES {
                log::warn!("password guard: failure table full; not counting this one");
                return;
            }
        }
        let entry = failures.entry(key).or_insert(Failures {
            count: 0,
            last: now,
        });
        if now.duration_since(entry.last) >= FORGET_FAILURES {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    /// Records a right password: the pair's count is cleared.
    pub fn succeeded(&self, ip: IpAddr, account: &str) {
        let key = (account_key(account), reactor::source_key(ip));
        self.failures.lock().remove(&key);
    }

    /// How long the pair must still wait, if it must.
    fn account_wait(&self, account: &str, source: IpAddr, now: Instant) -> Option<Duration> {
        let failures = self.failures.lock();
        let f = failures.get(&(account.to_string(), source))?;
        let since = now.duration_since(f.last);
        if since >= FORGET_FAILURES || f.count < self.settings.failures_before_delay {
            return None;
        }
        let delay = delay_after(
            f.count - self.settings.failures_before_delay,
            self.settings.max_delay,
        );
        delay.checked_sub(since).filter(|w| !w.is_zero())
    }

    fn take_source_token(&self, source: IpAddr, now: Instant) -> Result<(), ChatError> {
        let s = &self.settings;
        let mut buckets = self.per_source.lock();
        if buckets.len() >= MAX_ENTRIES && !buckets.contains_key(&source) {
            buckets.retain(|_, b| !b.is_full_at(now));
            if buckets.len() >= MAX_ENTRIES {
                return Err(ChatError::new(
                    ErrorCode::ServerBusy,
                    "too many addresses are doing password work; retry",
                )
                .retry_after(Duration::from_secs(1)));
            }
        }
        buckets
            .entry(source)
            .or_insert_with(|| RateLimiter::new(s.rate_per_ip, s.burst_per_ip))
            .allow_at(now)
            .map_err(|wait| {
                ChatError::new(
                    ErrorCode::RateLimited,
                    "too many password attempts from your address; slow down",
                )
                .retry_after(wait)
            })
    }
}

/// The wait after `extra` failures beyond the free ones: 1 s, 2 s, 4 s, … up to `max`.
fn delay_after(extra: u32, max: Duration) -> Duration {
    Duration::from_secs(1u64 << extra.min(30)).min(max)
}

/// Usernames compare case-insensitively here, so that varying the case (which a
/// case-insensitive database collation would match) does not reset the count.
fn account_key(account: &str) -> String {
    account.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Argon2Params;

    fn guard(burst: u32) -> (PasswordGuard, PasswordHasher) {
        let settings = GuardSettings {
            rate_per_ip: 1,
            burst_per_ip: burst,
            hash_backlog: Duration::from_secs(1),
            max_hashing: 4,
            failures_before_delay: 3,
            max_delay: Duration::from_secs(8),
        };
        let hasher = PasswordHasher::new(Argon2Params {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        (PasswordGuard::new(settings), hasher)
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let max = Duration::from_secs(8);
        let waits: Vec<u64> = (0..6).map(|e| delay_after(e, max).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 8, 8]);
    }

    #[test]
    fn the_source_budget_refuses_with_a_retry_time() {
        let (g, h) = guard(2);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        drop(g.admit(&h, ip, None).unwrap());
        drop(g.admit(&h, ip, None).unwrap());
        let Err(e) = g.admit(&h, ip, None) else {
            panic!("a third attempt in the burst of two was let through");
        };
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert!(e.retry_after_ms.is_some_and(|ms| (1..=1000).contains(&ms)));
        assert!(g.admit(&h, "192.0.2.2".parse().unwrap(), None).is_ok());
    }

    #[test]
    fn failures_slow_the_pair_only_and_success_clears_them() {
        let (g, h) = guard(100);
        let attacker: IpAddr = "192.0.2.1".parse().unwrap();
        let owner: IpAddr = "198.51.100.7".parse().unwrap();
        for _ in 0..3 {
            drop(g.admit(&h, attacker, Some("Alice")).unwrap());
            g.failed(attacker, "Alice");
        }
        let Err(e) = g.admit(&h, attacker, Some("alice")) else {
            panic!("no delay after three failures");
        };
        assert_eq!(e.code, ErrorCode::RateLimited);
        assert!(e.retry_after_ms.is_some_and(|ms| ms <= 1000));
        // The owner, elsewhere, is not slowed; nor is another account.
        assert!(g.admit(&h, owner, Some("alice")).is_ok());
        assert!(g.admit(&h, attacker, Some("bob")).is_ok());
        g.succeeded(attacker, "ALICE");
        assert!(g.admit(&h, attacker, Some("alice")).is_ok());
    }

    #[test]
    fn a_full_hashing_queue_answers_busy() {
        let (g, h) = guard(100);
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let held: Vec<_> = (0..4).map(|_| g.admit(&h, ip, None).unwrap()).collect();
        let Err(e) = g.admit(&h, ip, None) else {
            panic!("a fifth caller got a place among four");
        };
        assert_eq!(e.code, ErrorCode::ServerBusy);
        assert!(e.retry_after_ms.is_some());
        drop(held);
        assert!(g.admit(&h, ip, None).is_ok());
    }
}
