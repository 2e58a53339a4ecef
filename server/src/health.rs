//! Whether this node's dependencies answer: the store and, in cluster mode, Redis. What
//! `GET /healthz` and `chat_store_up` / `chat_redis_up` report.
//!
//! A request never waits on a database: two probe threads (one per dependency, so a
//! hung store cannot make Redis look stale) each make one cheap call every
//! [`PERIOD`] (the store: the end of user 0's timeline, one indexed read; Redis:
//! `PING`) and record the outcome in atomics. [`Health::status`] reads them: a
//! dependency is up when its last probe succeeded and that success is at most
//! [`STALE`] old (a probe that hangs makes it stale, so a frozen database reads as
//! down).
//!
//! May touch: the store (one read per period), Redis (`PING`, through the cluster's
//! link), and its own atomics.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cluster::Cluster;
use crate::store::Store;
use crate::store_errors::count_store_error;

/// Time between two probes of one dependency.
pub const PERIOD: Duration = Duration::from_secs(1);
/// A dependency whose last successful probe is older than this is down.
pub const STALE: Duration = Duration::from_secs(3);

/// What one probe thread has seen of its dependency.
#[derive(Debug, Default)]
struct Probe {
    /// When it last answered, in ms since [`Health`] was made, plus one (0: never).
    answered_at: AtomicU64,
    /// Whether the latest probe failed.
    failing: AtomicBool,
}

/// One dependency's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// It answers.
    Up,
    /// It does not: why, for people.
    Down(String),
}

impl Check {
    /// Whether it answers.
    pub fn is_ok(&self) -> bool {
        matches!(self, Check::Up)
    }
}

/// The node's health as [`Health::status`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The store.
    pub store: Check,
    /// Redis, in cluster mode (`None` on a single node).
    pub redis: Option<Check>,
}

impl Status {
    /// Whether everything the node needs answers.
    pub fn healthy(&self) -> bool {
        self.store.is_ok() && self.redis.as_ref().is_none_or(Check::is_ok)
    }

    /// What is down, one clause per dependency (empty when healthy).
    pub fn problems(&self) -> String {
        [Some(&self.store), self.redis.as_ref()]
            .into_iter()
            .flatten()
            .filter_map(|check| match check {
                Check::Up => None,
                Check::Down(why) => Some(why.as_str()),
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The health state of one node, written by its probe threads.
#[derive(Debug)]
pub struct Health {
    since: Instant,
    store: Probe,
    /// `None` on a single node.
    redis: Option<Probe>,
}

impl Health {
    /// Nothing probed yet (so down until the first probes answer); `cluster`: whether
    /// Redis is a dependency.
    pub fn new(cluster: bool) -> Self {
        Self {
            since: Instant::now(),
            store: Probe::default(),
            redis: cluster.then(Probe::default),
        }
    }

    /// The state now.
    pub fn status(&self) -> Status {
        Status {
            store: self.check("store", &self.store),
            redis: self.redis.as_ref().map(|p| self.check("redis", p)),
        }
    }

    fn check(&self, what: &str, probe: &Probe) -> Check {
        let at = probe.answered_at.load(Ordering::Acquire);
        if at == 0 {
            return Check::Down(format!("{what} has not answered yet"));
        }
        let age = self.now_ms().saturating_sub(at - 1);
        if probe.failing.load(Ordering::Acquire) {
            Check::Down(format!("{what} unavailable (last answered {age} ms ago)"))
        } else if u128::from(age) > STALE.as_millis() {
            Check::Down(format!("{what} not answering (last answered {age} ms ago)"))
        } else {
            Check::Up
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn record(&self, probe: &Probe, answered: bool) {
        if answered {
            probe
                .answered_at
                .store(self.now_ms().saturating_add(1), Ordering::Release);
        }
        probe.failing.store(!answered, Ordering::Release);
    }

    /// Probes the store once.
    pub fn probe_store(&self, store: &dyn Store) {
        let answered = match store.last_pos(0) {
            Ok(_) => true,
            Err(e) => {
                count_store_error(&e);
                log::debug!("health: store probe failed: {e}");
                false
            }
        };
        self.record(&self.store, answered);
    }

    /// Probes Redis once (nothing on a single node).
    pub fn probe_redis(&self, cluster: &Cluster) {
        if let Some(probe) = &self.redis {
            self.record(probe, cluster.ping());
        }
    }
}

/// Probes the store every [`PERIOD`] until `stop` is set.
pub fn run_store_probe(health: Arc<Health>, store: Arc<dyn Store>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        health.probe_store(&*store);
        sleep_unless_stopped(PERIOD, &stop);
    }
}

/// Probes Redis every [`PERIOD`] until `stop` is set.
pub fn run_redis_probe(health: Arc<Health>, cluster: Arc<Cluster>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Acquire) {
        health.probe_redis(&cluster);
        sleep_unless_stopped(PERIOD, &stop);
    }
}

fn sleep_unless_stopped(total: Duration, stop: &AtomicBool) {
    let until = Instant::now() + total;
    while !stop.load(Ordering::Acquire) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_until_answered_then_up_then_down_on_failure() {
        let h = Health::new(true);
        let s = h.status();
        assert!(!s.healthy());
        assert_eq!(
            s.problems(),
            "store has not answered yet; redis has not answered yet"
        );
        h.record(&h.store, true);
        h.record(h.redis.as_ref().unwrap(), true);
        assert!(h.status().healthy());
        assert_eq!(h.status().problems(), "");
        h.record(h.redis.as_ref().unwrap(), false);
        let s = h.status();
        assert!(!s.healthy());
        assert!(s.store.is_ok());
        assert!(
            s.problems()
                .starts_with("redis unavailable (last answered "),
            "{}",
            s.problems()
        );
    }

    #[test]
    fn a_single_node_has_no_redis() {
        let h = Health::new(false);
        h.record(&h.store, true);
        let s = h.status();
        assert_eq!(s.redis, None);
        assert!(s.healthy());
        // A success older than STALE is down.
        let h2 = Health {
            since: Instant::now() - STALE - Duration::from_secs(1),
            store: Probe {
                answered_at: AtomicU64::new(1),
                failing: AtomicBool::new(false),
            },
            redis: None,
        };
        assert!(matches!(h2.status().store, Check::Down(ref why) if why.contains("not answering")));
    }
}
