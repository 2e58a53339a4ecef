//! [`DeliveryMark`]: how far this node's delivery thread has caught up with its writer.
//!
//! A gap fill reads a connection's missing positions from the store. Some of them may
//! be messages that very connection sent, committed but not yet acked: their ack (from
//! the delivery thread) is what carries such a position to the connection, so the fill
//! must not push them too. Before a fill hands what it read to the hub, it waits until
//! delivery has finished every commit attempt the writer had begun when the read ended
//! ([`DeliveryMark::wait_caught_up`]); by then each of those acks has marked its position
//! as covered in the connection's sequencer, and the fill's copy is dropped as a repeat.
//!
//! The writer numbers its store calls ([`DeliveryMark::begin`]) and hands every attempt
//! to the delivery thread, a failed one as an empty batch, so attempts are settled in
//! order ([`DeliveryMark::settle`]). Messages committed by other nodes are never acked
//! here, so only this node's attempts matter.
//! May touch: nothing; two counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The writer's begun and the delivery thread's settled commit attempts.
#[derive(Debug, Default)]
pub struct DeliveryMark {
    begun: AtomicU64,
    settled: AtomicU64,
}

impl DeliveryMark {
    /// The writer is about to call the store: the attempt's number.
    pub fn begin(&self) -> u64 {
        self.begun.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Delivery finished attempt `n` (and, attempts being settled in order, all before).
    pub fn settle(&self, n: u64) {
        self.settled.fetch_max(n, Ordering::AcqRel);
    }

    /// Waits until every attempt begun so far is settled; false after `timeout`.
    pub fn wait_caught_up(&self, timeout: Duration) -> bool {
        let target = self.begun.load(Ordering::Acquire);
        let until = Instant::now() + timeout;
        while self.settled.load(Ordering::Acquire) < target {
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catches_up_once_every_begun_attempt_is_settled() {
        let mark = DeliveryMark::default();
        assert!(mark.wait_caught_up(Duration::ZERO), "nothing begun");
        let a = mark.begin();
        let b = mark.begin();
        assert!(!mark.wait_caught_up(Duration::from_millis(5)));
        mark.settle(a);
        assert!(!mark.wait_caught_up(Duration::from_millis(5)));
        mark.settle(b);
        assert!(mark.wait_caught_up(Duration::ZERO));
        let c = mark.begin();
        mark.settle(c);
        assert!(mark.wait_caught_up(Duration::ZERO));
    }
}
