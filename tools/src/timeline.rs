//! [`PosCheck`]: does one push connection see its user's timeline gapless, in order and
//! exactly once (protocol v2, guarantee 3)?
//!
//! Every position of the user's timeline after the `last_pos` its login returned must
//! reach the connection exactly once: as a `message` push, or, for a message this very
//! connection sent, as that send's ack (the server does not push a connection's own
//! message back to it). `message` pushes arrive in increasing `pos`; acks carry `pos` too
//! but the contract does not order them against pushes, so an ack may come after a push
//! of a higher position. Messages sent or received by the user's *other* connections
//! (multi-device) are pushes to this one like any other.
//!
//! The check merges both streams per connection:
//! * A push or ack of a position this connection already had (at or below `last_pos`,
//!   or seen before) is a *reorder* (a duplicate); so is a push below the highest
//!   position pushed so far (the push order broke), even when it fills a hole.
//! * A push that jumps over positions nobody has accounted for opens *holes*. A hole can
//!   still be filled by the ack of a send that was in flight when the push arrived
//!   (responses come back in request order, and a send issued after the push commits
//!   after it, so it gets a higher position). Once every such send is answered the
//!   hole is a confirmed *gap*, one per missing position.
//!
//! Each call returns the [`Tally`] it adds (gaps confirmed, reorders seen), so a caller
//! can count them in whatever measured run is current; [`PosCheck::open_holes`] says
//! how many holes are still waiting for answers (gaps if those never come), and
//! [`PosCheck::held_through`] is where a `sync` must start (`after`) to fetch what this
//! connection misses: the highest position up to which it holds every position.
//!
//! Pure logic: no I/O, no clock, no locks (the caller keeps one per connection).
//! May touch: nothing; plain values.

use std::collections::{BTreeMap, BTreeSet};

/// Most holes one push may open; a larger jump (a garbage position) is counted as that
/// many gaps at once instead of being tracked position by position.
pub const MAX_OPEN_HOLES: u64 = 1 << 20;

/// What a [`PosCheck`] call found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Positions confirmed missing.
    pub gaps: u64,
    /// Positions that came twice, or pushes that came after a higher one.
    pub reorders: u64,
}

impl Tally {
    /// Adds `other` to this tally.
    pub fn add(&mut self, other: Tally) {
        self.gaps += other.gaps;
        self.reorders += other.reorders;
    }
}

/// The position check of one push connection (see the module doc).
#[derive(Debug, Clone)]
pub struct PosCheck {
    /// Every position below this one is accounted for or a confirmed gap.
    next: u64,
    /// The highest position pushed so far (`last_pos` before the first push).
    top_push: u64,
    /// Positions at or above `next` already accounted for (pushed or acked).
    ahead: BTreeSet<u64>,
    /// Open holes: position → answers to sends this connection must have received
    /// before the hole is a confirmed gap. Non-decreasing in the position.
    holes: BTreeMap<u64, u64>,
    /// Sends issued on this connection.
    issued: u64,
    /// Sends answered (with an ack or otherwise).
    answers: u64,
    /// The lowest confirmed gap.
    first_gap: Option<u64>,
    /// Everything found so far.
    total: Tally,
}

impl Default for PosCheck {
    fn default() -> Self {
        PosCheck::new(0)
    }
}

impl PosCheck {
    /// The check of a connection whose login returned `last_pos`.
    pub fn new(last_pos: u64) -> PosCheck {
        PosCheck {
            next: last_pos.saturating_add(1),
            top_push: last_pos,
            ahead: BTreeSet::new(),
            holes: BTreeMap::new(),
            issued: 0,
            answers: 0,
            first_gap: None,
            total: Tally::default(),
        }
    }

    /// A `send_message` was issued on this connection (call it before the request can be
    /// answered: every issued send must later be [`PosCheck::ack`]ed or
    /// [`PosCheck::answered`]).
    pub fn sent(&mut self) {
        self.issued += 1;
    }

    /// A send of this connection was acked with position `pos` of its user's timeline.
    pub fn ack(&mut self, pos: u64) -> Tally {
        self.answers += 1;
        let mut t = Tally::default();
        if pos < self.next || self.ahead.contains(&pos) {
            t.reorders += 1;
        } else if self.holes.remove(&pos).is_some() || pos > self.top_push {
            self.ahead.insert(pos);
        } else {
            // Below the highest push, neither accounted for nor an open hole: a position
            // already confirmed missing turned up as an ack, against commit order.
            t.reorders += 1;
        }
        t.add(self.confirm());
        self.advance();
        self.record(t)
    }

    /// A send of this connection was answered without a position (an error, or its
    /// connection closed first).
    pub fn answered(&mut self) -> Tally {
        self.answers += 1;
        let t = self.confirm();
        self.advance();
        self.record(t)
    }

    /// A `message` push with position `pos` arrived.
    pub fn push(&mut self, pos: u64) -> Tally {
        let mut t = Tally::default();
        if pos < self.next || self.ahead.contains(&pos) {
            t.reorders += 1;
        } else if self.holes.remove(&pos).is_some() {
            // Late: a higher position was pushed first.
            t.reorders += 1;
            self.ahead.insert(pos);
        } else if pos < self.top_push {
            // Late, and its position was already confirmed missing.
            t.reorders += 1;
        } else {
            let from = self.top_push.saturating_add(1).max(self.next);
            let jump = pos - from;
            if jump > MAX_OPEN_HOLES {
                t.gaps += jump;
                self.first_gap.get_or_insert(from);
                // Whatever of the range was acked is forgotten with it.
                let acked: Vec<u64> = self.ahead.range(from..pos).copied().collect();
                for p in acked {
                    self.ahead.remove(&p);
                }
            } else {
                for p in from..pos {
                    if !self.ahead.contains(&p) {
                        self.holes.insert(p, self.issued);
                    }
                }
            }
            self.top_push = pos;
            self.ahead.insert(pos);
        }
        t.add(self.confirm());
        self.advance();
        self.record(t)
    }

    /// Holes still waiting for answers to sends (each a gap if no ack fills it).
    pub fn open_holes(&self) -> u64 {
        self.holes.len() as u64
    }

    /// The highest position up to which this connection holds every position of its
    /// timeline after `last_pos` (open holes and confirmed gaps count as not held): the
    /// `after` of a `sync` that fetches what it misses.
    pub fn held_through(&self) -> u64 {
        let through = self.next - 1;
        match self.first_gap {
            Some(g) => through.min(g - 1),
            None => through,
        }
    }

    /// Everything found so far (open holes not included).
    pub fn total(&self) -> Tally {
        self.total
    }

    fn record(&mut self, t: Tally) -> Tally {
        self.total.add(t);
        t
    }

    /// Confirms the holes whose sends are all answered.
    fn confirm(&mut self) -> Tally {
        let mut t = Tally::default();
        while let Some((&pos, &need)) = self.holes.first_key_value() {
            if need > self.answers {
                break;
            }
            self.holes.remove(&pos);
            t.gaps += 1;
            self.first_gap = Some(self.first_gap.map_or(pos, |g| g.min(pos)));
        }
        t
    }

    /// Moves `next` over accounted positions and confirmed gaps.
    fn advance(&mut self) {
        loop {
            if self.ahead.first() == Some(&self.next) {
                self.ahead.pop_first();
                self.next += 1;
                continue;
            }
            if self.next < self.top_push {
                // Below the highest push every position is accounted for, an open hole
                // or a confirmed gap: skip the gaps up to the next of the others.
                let mut stop = self.top_push;
                if let Some(&h) = self.holes.keys().next() {
                    stop = stop.min(h);
                }
                if let Some(&a) = self.ahead.first() {
                    stop = stop.min(a);
                }
                if stop > self.next {
                    self.next = stop;
                    continue;
                }
            }
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(gaps: u64, reorders: u64) -> Tally {
        Tally { gaps, reorders }
    }

    #[test]
    fn contiguous_pushes_after_last_pos_are_clean() {
        let mut c = PosCheck::new(10);
        for p in 11..=20 {
            assert_eq!(c.push(p), Tally::default());
        }
        assert_eq!(c.total(), Tally::default());
        assert_eq!((c.open_holes(), c.held_through()), (0, 20));
    }

    #[test]
    fn acks_and_pushes_merge() {
        // 11 and 13 are this connection's own sends (acks), 12 and 14 pushes.
        let mut c = PosCheck::new(10);
        c.sent();
        assert_eq!(c.ack(11), Tally::default());
        assert_eq!(c.push(12), Tally::default());
        c.sent();
        assert_eq!(c.ack(13), Tally::default());
        assert_eq!(c.push(14), Tally::default());
        assert_eq!(
            (c.total(), c.open_holes(), c.held_through()),
            (Tally::default(), 0, 14)
        );
    }

    #[test]
    fn an_ack_may_come_after_a_higher_push() {
        // The send that gets 11 is in flight when push 12 arrives: 11 is a hole that
        // its ack fills.
        let mut c = PosCheck::new(10);
        c.sent();
        assert_eq!(c.push(12), Tally::default());
        assert_eq!(c.open_holes(), 1);
        assert_eq!(c.held_through(), 10);
        assert_eq!(c.ack(11), Tally::default());
        assert_eq!((c.open_holes(), c.held_through()), (0, 12));
        // An ack above the highest push, then the pushes below it: all fine.
        c.sent();
        assert_eq!(c.ack(15), Tally::default());
        assert_eq!(c.push(13), Tally::default());
        assert_eq!(c.push(14), Tally::default());
        assert_eq!(c.held_through(), 15);
        assert_eq!(c.total(), Tally::default());
    }

    #[test]
    fn a_hole_nobody_can_fill_is_a_gap_at_once() {
        let mut c = PosCheck::new(0);
        assert_eq!(c.push(1), Tally::default());
        // No send in flight: 2, 3 and 4 can never arrive as acks.
        assert_eq!(c.push(5), tally(3, 0));
        assert_eq!((c.open_holes(), c.held_through()), (0, 1));
        assert_eq!(c.push(6), Tally::default());
        // The late push of a missing position is a reorder, not a fill.
        assert_eq!(c.push(3), tally(0, 1));
        assert_eq!(c.total(), tally(3, 1));
        assert_eq!(c.held_through(), 1, "the gap stays where a sync must start");
    }

    #[test]
    fn a_hole_is_a_gap_once_the_sends_in_flight_are_answered() {
        let mut c = PosCheck::new(0);
        c.sent();
        c.sent();
        assert_eq!(c.push(4), Tally::default()); // 1, 2, 3 open; two sends may fill two
        assert_eq!(c.open_holes(), 3);
        assert_eq!(c.ack(1), Tally::default());
        // A send issued now commits after 4: it cannot fill 2 or 3.
        c.sent();
        assert_eq!(c.answered(), tally(2, 0)); // the second send failed: 2 and 3 missing
        assert_eq!(c.open_holes(), 0);
        assert_eq!(c.ack(5), Tally::default());
        assert_eq!(c.total(), tally(2, 0));
        assert_eq!(c.held_through(), 1);
    }

    #[test]
    fn holes_wait_only_for_the_sends_before_them() {
        let mut c = PosCheck::new(0);
        c.sent(); // send A
        assert_eq!(c.push(2), Tally::default()); // hole 1 needs 1 answer
        c.sent(); // send B
        assert_eq!(c.push(4), Tally::default()); // hole 3 needs 2 answers
        assert_eq!(c.open_holes(), 2);
        assert_eq!(c.ack(1), Tally::default()); // A fills 1
        assert_eq!(c.ack(3), Tally::default()); // B fills 3
        assert_eq!((c.open_holes(), c.held_through()), (0, 4));
        assert_eq!(c.total(), Tally::default());

        let mut c = PosCheck::new(0);
        c.sent();
        c.push(2);
        c.sent();
        c.push(4);
        // A answered without a position: 1 is confirmed missing, 3 still waits for B.
        assert_eq!(c.answered(), tally(1, 0));
        assert_eq!(c.open_holes(), 1);
        assert_eq!(c.ack(3), Tally::default());
        assert_eq!((c.total(), c.held_through()), (tally(1, 0), 0));
    }

    #[test]
    fn duplicates_and_out_of_order_pushes_are_reorders() {
        let mut c = PosCheck::new(5);
        assert_eq!(c.push(5), tally(0, 1), "at or below last_pos: already held");
        assert_eq!(c.push(6), Tally::default());
        assert_eq!(c.push(6), tally(0, 1), "twice");
        c.sent();
        assert_eq!(c.push(8), Tally::default()); // 7 open (a send is in flight)
        assert_eq!(c.push(7), tally(0, 1), "a push after a higher one");
        assert_eq!(c.open_holes(), 0, "but it is not missing");
        c.sent();
        assert_eq!(c.ack(9), tally(0, 0));
        assert_eq!(c.push(9), tally(0, 1), "its own message pushed back");
        c.sent();
        assert_eq!(c.ack(8), tally(0, 1), "an ack of a position already held");
        assert_eq!(c.total(), tally(0, 5));
        assert_eq!(c.held_through(), 9);
    }

    #[test]
    fn other_devices_messages_are_plain_pushes() {
        // The same user sends from another connection: its messages come here as pushes
        // in between the messages it receives and this connection's own acks.
        let mut c = PosCheck::new(0);
        c.sent();
        assert_eq!(c.push(1), Tally::default()); // sent by the other device
        assert_eq!(c.ack(2), Tally::default()); // sent here
        assert_eq!(c.push(3), Tally::default()); // received
        assert_eq!(c.push(4), Tally::default()); // sent by the other device
        assert_eq!((c.total(), c.held_through()), (Tally::default(), 4));
    }

    #[test]
    fn a_garbage_position_does_not_exhaust_memory() {
        let mut c = PosCheck::new(0);
        c.sent();
        let far = MAX_OPEN_HOLES * 1000;
        assert_eq!(c.push(far), tally(far - 1, 0));
        assert_eq!(c.open_holes(), 0);
        assert_eq!(c.held_through(), 0);
        assert_eq!(c.push(far + 1), Tally::default());
        assert_eq!(c.ack(5), tally(0, 1));
    }
}
