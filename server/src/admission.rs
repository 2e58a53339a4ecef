//! Admission to the writer's queue by expected wait (`[writer] max_queue_wait_ms`).
//!
//! A `send_message` is refused at once (`server_busy` with `retry_after_ms`, nothing
//! stored, no work done for it) when the wait it can expect before the writer takes it
//! is over the limit; otherwise it is queued. The expected wait is measured, not
//! modelled from the queue's length (which says nothing without the rate it drains at):
//! * the *sojourn* of the writer's latest batch: how long its oldest message had waited
//!   when the batch went to the store (what CoDel measures of a queue);
//! * while a store call runs, how long it has run so far: a database that stopped
//!   answering makes every new message wait at least that, and no batch would report it.
//!
//! In a steady overload the queue settles where the sojourn is the limit: accepted
//! messages wait about that long, batches stay full (the writer's best rate), and the
//! excess is turned away before it costs anything. A burst the writer absorbs within
//! the limit is never refused, whatever its length. The queue's capacity and the commit
//! deadline stay as the hard bounds behind this.
//!
//! The limit must sit above the wait that clients' own pipelining makes: a bounded
//! population of messages in flight is not an overload (the wait is the population
//! over the writer's rate), and refusing it only burns CPU on refusals and retries.
//! Measured on this project's bench machine, 1,000 connections keeping 16 sends each in
//! flight relayed 30,900 and 33,700 msg/s with no limit and 14,400 and 13,900 msg/s with
//! a 100 ms one; hence the default of 1 s, with lower values for operators who prefer
//! tighter latency under overload to throughput under heavy pipelining.
//!
//! The writer reports ([`Admission::store_call`], [`Admission::store_done`],
//! [`Admission::queue_empty`]); its watchdog reads how long a call has run; senders ask
//! ([`Admission::admit`]) on worker and reactor threads: atomics only, never a lock.
//! May touch: nothing but its own counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// "No store call running", in [`Admission::call_started_us`].
const IDLE: u64 = u64::MAX;

/// See the module docs.
pub struct Admission {
    /// The limit on the expected wait; zero turns admission off.
    max_wait: Duration,
    /// The origin of the microsecond stamps below.
    base: Instant,
    /// The latest batch's sojourn, µs.
    sojourn_us: AtomicU64,
    /// When the running store call started (µs after `base`), or [`IDLE`].
    call_started_us: AtomicU64,
}

impl Admission {
    /// Admission with the limit `max_wait` on the expected wait (zero: everything is
    /// admitted, only the queue's capacity bounds it).
    pub fn new(max_wait: Duration) -> Self {
        Admission {
            max_wait,
            base: Instant::now(),
            sojourn_us: AtomicU64::new(0),
            call_started_us: AtomicU64::new(IDLE),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_micros()).unwrap_or(IDLE - 1)
    }

    /// The writer sends a batch whose oldest message was accepted at `oldest` to the
    /// store.
    pub fn store_call(&self, oldest: Instant) {
        let sojourn = u64::try_from(oldest.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.sojourn_us.store(sojourn, Ordering::Relaxed);
        self.call_started_us.store(self.now_us(), Ordering::Relaxed);
    }

    /// The writer's store call returned.
    pub fn store_done(&self) {
        self.call_started_us.store(IDLE, Ordering::Relaxed);
    }

    /// The writer found its queue empty: nothing waits, whatever the last batch waited.
    pub fn queue_empty(&self) {
        self.sojourn_us.store(0, Ordering::Relaxed);
    }

    /// How long the writer's store call in progress has run, if one is.
    pub fn store_call_running(&self) -> Option<Duration> {
        let started = self.call_started_us.load(Ordering::Relaxed);
        (started != IDLE).then(|| Duration::from_micros(self.now_us().saturating_sub(started)))
    }

    /// How long a message queued now can expect to wait for the writer (see the module
    /// docs).
    pub fn expected_wait(&self) -> Duration {
        let sojourn = Duration::from_micros(self.sojourn_us.load(Ordering::Relaxed));
        sojourn.max(self.store_call_running().unwrap_or_default())
    }

    /// `Ok` when a message may be queued now; otherwise the time after which the sender
    /// may retry: the expected wait, spread over up to twice that so that the refused do
    /// not all come back at once.
    pub fn admit(&self) -> Result<(), Duration> {
        if self.max_wait.is_zero() {
            return Ok(());
        }
        let wait = self.expected_wait();
        if wait <= self.max_wait {
            return Ok(());
        }
        Err(self.retry_after(wait))
    }

    /// The retry hint for a sender refused when `wait` is expected.
    pub fn retry_after(&self, wait: Duration) -> Duration {
        let wait = wait.max(self.max_wait).max(Duration::from_millis(1));
        wait.mul_f64(1.0 + rand::random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_millis(100);

    #[test]
    fn admits_while_the_writer_keeps_up() {
        let a = Admission::new(LIMIT);
        assert!(a.admit().is_ok(), "nothing measured yet");
        a.store_call(Instant::now() - Duration::from_millis(30));
        assert!(a.admit().is_ok(), "30 ms sojourn");
        a.store_done();
        assert!(a.admit().is_ok());
    }

    #[test]
    fn refuses_once_messages_wait_past_the_limit_and_admits_when_it_drains() {
        let a = Admission::new(LIMIT);
        a.store_call(Instant::now() - Duration::from_millis(150));
        a.store_done();
        let retry = a.admit().expect_err("150 ms sojourn");
        assert!(
            (Duration::from_millis(150)..=Duration::from_millis(300)).contains(&retry),
            "{retry:?}"
        );
        a.store_call(Instant::now() - Duration::from_millis(5));
        assert!(a.admit().is_ok(), "the queue drained");
        a.store_call(Instant::now() - Duration::from_millis(150));
        a.store_done();
        assert!(a.admit().is_err());
        a.queue_empty();
        assert!(a.admit().is_ok(), "nothing waits");
    }

    #[test]
    fn a_store_call_that_hangs_refuses_new_messages() {
        let a = Admission::new(Duration::from_millis(20));
        a.store_call(Instant::now());
        assert!(a.admit().is_ok());
        std::thread::sleep(Duration::from_millis(40));
        assert!(a.expected_wait() >= Duration::from_millis(40));
        assert!(a.admit().is_err(), "a call running 40 ms");
        a.store_done();
        assert!(a.admit().is_ok());
    }

    #[test]
    fn a_zero_limit_admits_everything() {
        let a = Admission::new(Duration::ZERO);
        a.store_call(Instant::now() - Duration::from_secs(10));
        assert!(a.admit().is_ok());
    }
}
