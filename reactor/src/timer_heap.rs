//! A sub-reactor's deadlines: one min-heap per reactor thread, no thread per timer.
//!
//! Entries are hints, checked lazily: when one expires, the reactor compares it with the
//! connection's current deadline (an atomic the application may have moved) and either
//! fires, re-arms at the later time, or drops the entry. The heap holds at most a few
//! entries per connection: a new one is pushed only when a deadline moves earlier.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Min-heap of `(deadline_ms, slot, conn_id)`.
#[derive(Default)]
pub(crate) struct TimerHeap {
    heap: BinaryHeap<Reverse<(u64, usize, u64)>>,
}

impl TimerHeap {
    pub(crate) fn push(&mut self, deadline_ms: u64, slot: usize, conn_id: u64) {
        self.heap.push(Reverse((deadline_ms, slot, conn_id)));
    }

    /// The earliest deadline, if any.
    pub(crate) fn next_deadline(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// Removes and returns an entry due at `now_ms`, if there is one.
    pub(crate) fn pop_due(&mut self, now_ms: u64) -> Option<(usize, u64)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now_ms => {
                self.heap.pop().map(|Reverse((_, slot, id))| (slot, id))
            }
            _ => None,
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_only_when_due() {
        let mut h = TimerHeap::default();
        h.push(30, 3, 33);
        h.push(10, 1, 11);
        h.push(20, 2, 22);
        assert_eq!(h.next_deadline(), Some(10));
        assert_eq!(h.pop_due(5), None);
        assert_eq!(h.pop_due(25), Some((1, 11)));
        assert_eq!(h.pop_due(25), Some((2, 22)));
        assert_eq!(h.pop_due(25), None);
        assert_eq!(h.len(), 1);
    }
}
