//! Exactly-once accounting of a relay run: every acked `msg_id` must be pushed to its
//! recipient exactly once.
//!
//! [`reconcile`] compares what senders had acked with what recipients were pushed and
//! sorts each message into delivered once, duplicated, or missing; and spots pushes
//! nobody had acked and pushes that reached the wrong connection. Missing messages are
//! then looked up with `sync` on the recipient: [`classify`] calls the ones the store
//! returns *late* (stored, never pushed) and the others *lost* (acked, not stored:
//! a broken durable ack). Pure functions; the relay scenario feeds them.

use std::collections::{HashMap, HashSet};

use serde_json::{json, Value};

/// The result of [`reconcile`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// Distinct acked messages.
    pub acked: u64,
    /// Pushes received (every copy).
    pub pushes: u64,
    /// Acked messages pushed exactly once.
    pub exactly_once: u64,
    /// Acked messages pushed more than once.
    pub duplicated: u64,
    /// Copies beyond the first, over all duplicated messages.
    pub extra_copies: u64,
    /// Acked messages never pushed, as `(recipient, msg_id)`, sorted.
    pub missing: Vec<(usize, u64)>,
    /// Distinct pushed messages no send was acked with.
    pub unacked_pushes: u64,
    /// `msg_id`s returned by more than one ack.
    pub acked_twice: u64,
    /// Pushes that reached a connection other than the message's recipient.
    pub misrouted: u64,
}

/// Compares `acked` (`msg_id`, intended recipient) with `pushed` (`msg_id`, recipient
/// that got it), both in any order.
pub fn reconcile(acked: &[(u64, usize)], pushed: &[(u64, usize)]) -> Reconciliation {
    let mut r = Reconciliation {
        pushes: pushed.len() as u64,
        ..Reconciliation::default()
    };
    let mut want: HashMap<u64, usize> = HashMap::with_capacity(acked.len());
    for &(id, to) in acked {
        if want.insert(id, to).is_some() {
            r.acked_twice += 1;
        }
    }
    r.acked = want.len() as u64;
    let mut got: HashMap<u64, u32> = HashMap::with_capacity(pushed.len());
    for &(id, at) in pushed {
        *got.entry(id).or_insert(0) += 1;
        match want.get(&id) {
            Some(&to) if to != at => r.misrouted += 1,
            Some(_) => {}
            None => {}
        }
    }
    for (&id, &to) in &want {
        match got.get(&id).copied().unwrap_or(0) {
            0 => r.missing.push((to, id)),
            1 => r.exactly_once += 1,
            n => {
                r.duplicated += 1;
                r.extra_copies += u64::from(n - 1);
            }
        }
    }
    r.unacked_pushes = got.keys().filter(|id| !want.contains_key(id)).count() as u64;
    r.missing.sort_unstable();
    r
}

/// Splits `missing` into (late, lost): late if `stored` (the `msg_id`s a `sync` of the
/// recipients returned) holds it.
pub fn classify(missing: &[(usize, u64)], stored: &HashSet<u64>) -> (u64, u64) {
    let late = missing.iter().filter(|(_, id)| stored.contains(id)).count() as u64;
    (late, missing.len() as u64 - late)
}

impl Reconciliation {
    /// As JSON, with `late`/`lost` from [`classify`].
    pub fn json(&self, late: u64, lost: u64) -> Value {
        json!({
            "acked": self.acked,
            "pushes": self.pushes,
            "exactly_once": self.exactly_once,
            "duplicated": self.duplicated,
            "extra_copies": self.extra_copies,
            "missing_after_drain": self.missing.len(),
            "late": late,
            "lost": lost,
            "unacked_pushes": self.unacked_pushes,
            "acked_twice": self.acked_twice,
            "misrouted": self.misrouted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_acked_message_is_sorted_into_exactly_one_bucket() {
        // msg 1: once; 2: twice; 3: never; 4: pushed, never acked; 5: to the wrong peer.
        let acked = [(1, 0), (2, 1), (3, 0), (5, 1)];
        let pushed = [(1, 0), (2, 1), (2, 1), (4, 0), (5, 0)];
        let r = reconcile(&acked, &pushed);
        assert_eq!(r.acked, 4);
        assert_eq!(r.pushes, 5);
        assert_eq!(r.exactly_once, 2); // 1 and 5 (5 counted, but misrouted)
        assert_eq!(r.duplicated, 1);
        assert_eq!(r.extra_copies, 1);
        assert_eq!(r.missing, vec![(0, 3)]);
        assert_eq!(r.unacked_pushes, 1);
        assert_eq!(r.misrouted, 1);
        assert_eq!(r.acked_twice, 0);
    }

    #[test]
    fn a_clean_run_balances() {
        let acked: Vec<(u64, usize)> = (1..=1000).map(|i| (i, (i % 7) as usize)).collect();
        let mut pushed = acked.clone();
        pushed.reverse();
        let r = reconcile(&acked, &pushed);
        assert_eq!(r.exactly_once, 1000);
        assert_eq!(
            (r.duplicated, r.missing.len(), r.unacked_pushes, r.misrouted),
            (0, 0, 0, 0)
        );
        assert_eq!(reconcile(&[(9, 0), (9, 0)], &[(9, 0)]).acked_twice, 1);
    }

    #[test]
    fn sync_tells_late_from_lost() {
        let missing = [(0, 10), (1, 11), (1, 12)];
        let stored: HashSet<u64> = [11, 99].into_iter().collect();
        assert_eq!(classify(&missing, &stored), (1, 2));
        assert_eq!(classify(&[], &stored), (0, 0));
    }
}
