//! One connection's `message` pushes, put in timeline order.
//!
//! The contract (protocol.md, guarantee 3): every position of the user's timeline after
//! the `last_pos` its login returned reaches a push connection exactly once, as a
//! `message` push or as the ack of its own send, and its pushes arrive in increasing
//! `pos`. On one node, commits are delivered in commit order and that holds by itself;
//! in a cluster, a message committed on another node arrives later than (or never
//! before) one committed here after it. So each connection has a [`Sequencer`]: a push
//! at the next expected position goes out at once (no copy), a later one is held until
//! the gap before it closes, an earlier one is a repeat and is dropped.
//!
//! A gap that does not close by itself (a lost cross-node push) is filled from the store
//! by the gap-fill thread (`gap_fill.rs`), which feeds the missing positions back through
//! [`Sequencer::offer`]. Until the connection's login has read `last_pos` the sequencer
//! is *pending*: it holds what arrives, and [`Sequencer::start`] drops what the client
//! will sync and releases the rest.
//!
//! Bounds: at most [`HELD_MAX`] positions are held per connection. Past that, further
//! pushes are dropped and the sequencer asks for a fill, which reads them from the store
//! (where every pushed message already is). May touch: nothing; plain state, kept by the
//! hub under its shard lock.

use std::collections::BTreeMap;

use crate::model::Pos;

/// Positions held out of order per connection at most.
pub const HELD_MAX: usize = 512;

/// What a held position is waiting to send.
enum Held {
    /// A push frame.
    Frame(Vec<u8>),
    /// The connection's own send: its ack carries the position, nothing is pushed.
    Covered,
}

/// What became of an offered position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    /// It was the next one: sent (or covered), with any held ones it released.
    InOrder,
    /// At or below what the connection has: dropped.
    Repeat,
    /// Ahead of a gap: held until the gap closes.
    Held,
    /// Ahead of a gap with [`HELD_MAX`] held already: dropped; a fill will read it.
    Dropped,
}

/// The push order of one connection.
#[derive(Default)]
pub struct Sequencer {
    /// The next position to send; `None` while the login has not read `last_pos`.
    next: Option<Pos>,
    /// Positions that arrived ahead of `next`.
    held: BTreeMap<Pos, Held>,
    /// The highest position dropped for lack of room (0: none): until the connection
    /// has it, only the store can close the gap.
    dropped_up_to: Pos,
}

impl Sequencer {
    /// A pending sequencer (the login has not read `last_pos` yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// The login read `last_pos`: the client syncs up to it, pushes carry the rest.
    /// Drops what is held at or below it and sends what follows without a gap.
    pub fn start(&mut self, last_pos: Pos, send: &mut dyn FnMut(&[u8])) {
        self.next = Some(last_pos.saturating_add(1));
        self.held = self.held.split_off(&last_pos.saturating_add(1));
        self.release(send);
    }

    /// Offers position `pos`: `Some(frame)` to push it, `None` when the connection's own
    /// send's ack carries it. Sends through `send` whatever is now in order.
    pub fn offer(
        &mut self,
        pos: Pos,
        frame: Option<&[u8]>,
        send: &mut dyn FnMut(&[u8]),
    ) -> Offered {
        match self.next {
            Some(next) if pos < next => Offered::Repeat,
            Some(next) if pos == next => {
                if let Some(frame) = frame {
                    send(frame);
                }
                self.next = Some(next + 1);
                self.held.remove(&pos);
                self.release(send);
                Offered::InOrder
            }
            _ => {
                if self.held.contains_key(&pos) {
                    return Offered::Repeat;
                }
                if self.held.len() >= HELD_MAX {
                    self.dropped_up_to = self.dropped_up_to.max(pos);
                    return Offered::Dropped;
                }
                let held = match frame {
                    Some(frame) => Held::Frame(frame.to_vec()),
                    None => Held::Covered,
                };
                self.held.insert(pos, held);
                Offered::Held
            }
        }
    }

    /// Sends the held positions that follow `next` without a gap.
    fn release(&mut self, send: &mut dyn FnMut(&[u8])) {
        let Some(mut next) = self.next else { return };
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() != next {
                break;
            }
            if let Held::Frame(frame) = entry.remove() {
                send(&frame);
            }
            next += 1;
        }
        self.next = Some(next);
    }

    /// The last position the connection has, once started.
    pub fn delivered(&self) -> Option<Pos> {
        self.next.map(|next| next - 1)
    }

    /// Whether positions are missing before held ones (or were dropped): only the store
    /// can close such a gap if the missing pushes never come.
    pub fn has_gap(&self) -> bool {
        self.next
            .is_some_and(|next| !self.held.is_empty() || next <= self.dropped_up_to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(pos: Pos) -> Vec<u8> {
        format!("m{pos}").into_bytes()
    }

    /// Offers each position and returns what went out.
    fn run(seq: &mut Sequencer, positions: &[Pos]) -> Vec<String> {
        let mut out = Vec::new();
        for &pos in positions {
            let f = frame(pos);
            seq.offer(pos, Some(&f), &mut |b| {
                out.push(String::from_utf8_lossy(b).into_owned())
            });
        }
        out
    }

    fn started(last_pos: Pos) -> Sequencer {
        let mut seq = Sequencer::new();
        seq.start(last_pos, &mut |_| panic!("nothing held"));
        seq
    }

    #[test]
    fn in_order_positions_go_straight_out() {
        let mut seq = started(3);
        assert_eq!(run(&mut seq, &[4, 5, 6]), ["m4", "m5", "m6"]);
        assert_eq!(seq.delivered(), Some(6));
        assert!(!seq.has_gap());
    }

    #[test]
    fn a_gap_holds_later_positions_until_it_closes() {
        let mut seq = started(0);
        assert_eq!(run(&mut seq, &[1, 3, 4]), ["m1"]);
        assert!(seq.has_gap());
        assert_eq!(run(&mut seq, &[2]), ["m2", "m3", "m4"]);
        assert!(!seq.has_gap());
        assert_eq!(seq.delivered(), Some(4));
    }

    #[test]
    fn repeats_are_dropped() {
        let mut seq = started(0);
        assert_eq!(run(&mut seq, &[1, 2, 1, 3, 3, 5, 5]), ["m1", "m2", "m3"]);
        assert_eq!(run(&mut seq, &[4]), ["m4", "m5"]);
    }

    #[test]
    fn a_covered_position_advances_without_a_push() {
        let mut seq = started(0);
        let mut out = Vec::new();
        let f = frame(1);
        seq.offer(1, Some(&f), &mut |b| out.push(b.to_vec()));
        // Position 3 is this connection's own send (acked), 2 comes late.
        assert_eq!(seq.offer(3, None, &mut |_| unreachable!()), Offered::Held);
        let f = frame(4);
        assert_eq!(
            seq.offer(4, Some(&f), &mut |_| unreachable!()),
            Offered::Held
        );
        let f = frame(2);
        seq.offer(2, Some(&f), &mut |b| out.push(b.to_vec()));
        assert_eq!(out, [frame(1), frame(2), frame(4)]);
        assert_eq!(seq.delivered(), Some(4));
    }

    #[test]
    fn pending_holds_then_start_drops_what_the_client_syncs() {
        let mut seq = Sequencer::new();
        assert_eq!(run(&mut seq, &[5, 6, 8]), Vec::<String>::new());
        assert!(!seq.has_gap(), "no gap before start");
        let mut out = Vec::new();
        seq.start(5, &mut |b| {
            out.push(String::from_utf8_lossy(b).into_owned())
        });
        assert_eq!(out, ["m6"]);
        assert!(seq.has_gap(), "7 is missing");
        assert_eq!(run(&mut seq, &[7]), ["m7", "m8"]);
    }

    #[test]
    fn held_positions_are_bounded_and_overflow_asks_for_a_fill() {
        let mut seq = started(0);
        let noop = &mut |_: &[u8]| {};
        for pos in 2..2 + HELD_MAX as Pos {
            assert_eq!(seq.offer(pos, Some(b"x"), noop), Offered::Held);
        }
        let past = 2 + HELD_MAX as Pos;
        assert_eq!(seq.offer(past, Some(b"x"), noop), Offered::Dropped);
        assert!(seq.has_gap());
        let mut sent = 0;
        seq.offer(1, Some(b"x"), &mut |_| sent += 1);
        assert_eq!(sent, 1 + HELD_MAX);
        assert!(seq.has_gap(), "the dropped position is still missing");
        assert_eq!(seq.offer(past, Some(b"x"), noop), Offered::InOrder);
        assert!(!seq.has_gap());
    }
}
