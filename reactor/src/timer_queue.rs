//! A sub-reactor's deadlines: one ordered set per reactor thread, no thread per timer,
//! and at most one entry per connection.
//!
//! The connection's deadline itself is an atomic the application may move from any
//! thread ([`crate::ConnHandle::set_deadline`]). The reactor keeps one entry per
//! connection, at the time it knows of: a deadline moved earlier replaces the entry (the
//! handle sends a `Rearm` notice); one moved later is found when the entry comes due, and
//! the entry is moved there. A connection's entry is removed when it is dropped. So the
//! set never holds more entries than the reactor has connections, however often
//! deadlines move.
//!
//! May touch: nothing but its own set and the shared entry count.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::counters::Counters;

/// Deadlines as `(at_ms, slot, conn_id)`, earliest first.
pub(crate) struct TimerQueue {
    entries: BTreeSet<(u64, usize, u64)>,
    /// Keeps [`crate::CountersSnapshot::timers`], the entries over every reactor.
    counters: Arc<Counters>,
}

impl TimerQueue {
    pub(crate) fn new(counters: Arc<Counters>) -> Self {
        Self {
            entries: BTreeSet::new(),
            counters,
        }
    }

    /// Sets the entry of `(slot, conn_id)` to `at`, replacing `previous` (its current
    /// entry, which the caller tracks). Returns the new entry's time.
    pub(crate) fn set(&mut self, previous: Option<u64>, at: u64, slot: usize, conn_id: u64) -> u64 {
        self.remove(previous, slot, conn_id);
        if self.entries.insert((at, slot, conn_id)) {
            self.counters.timers.fetch_add(1, Ordering::Relaxed);
        }
        at
    }

    /// Removes the entry of `(slot, conn_id)` at `at`, if there is one.
    pub(crate) fn remove(&mut self, at: Option<u64>, slot: usize, conn_id: u64) {
        if let Some(at) = at {
            if self.entries.remove(&(at, slot, conn_id)) {
                self.counters.timers.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.entries.first().map(|&(at, _, _)| at)
    }

    /// Removes and returns an entry due at `now_ms`, if there is one.
    pub(crate) fn pop_due(&mut self, now_ms: u64) -> Option<(usize, u64)> {
        match self.entries.first() {
            Some(&(at, _, _)) if at <= now_ms => {
                let (_, slot, id) = self.entries.pop_first()?;
                self.counters.timers.fetch_sub(1, Ordering::Relaxed);
                Some((slot, id))
            }
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl Drop for TimerQueue {
    fn drop(&mut self) {
        self.counters
            .timers
            .fetch_sub(self.entries.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let mut q = TimerQueue::new(Arc::default());

        q.set(None, 30, 3, 33);
        q.set(None, 10, 1, 11);
        q.set(None, 20, 2, 22);
        assert_eq!(q.next_deadline(), Some(10));
        assert_eq!(q.pop_due(5), None);
        assert_eq!(q.pop_due(25), Some((1, 11)));
        assert_eq!(q.pop_due(25), Some((2, 22)));
        assert_eq!(q.pop_due(25), None);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn moving_a_deadline_replaces_its_entry() {
        let counters = Arc::new(Counters::default());
        let mut q = TimerQueue::new(Arc::clone(&counters));
        let mut at = q.set(None, 1_000, 7, 70);
        for earlier in (1..500).rev() {
            at = q.set(Some(at), earlier, 7, 70);
        }
        assert_eq!(q.len(), 1);
        assert_eq!(counters.snapshot().timers, 1);
        q.remove(Some(at), 7, 70);
        assert_eq!(q.len(), 0);
        assert_eq!(q.next_deadline(), None);
        assert_eq!(counters.snapshot().timers, 0);
    }
}
