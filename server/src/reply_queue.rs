//! Keeps a connection's responses in request order when some are answered later.
//!
//! `send_message` is answered by the batched writer after its commit, while the worker
//! goes on to the connection's next requests. Each request therefore takes a ticket;
//! a response is written only when every earlier ticket has been answered. With no
//! message in flight a response goes straight to the socket.
//!
//! The first answer to a ticket wins: the writer's watchdog may answer `server_busy`
//! for a message stuck in a commit, and the commit's late ack is then dropped.
//!
//! Bound: a ticket is answered within the writer's commit deadline, so the responses
//! waiting behind it are at most what the connection's rate limit lets in meanwhile.

use std::collections::VecDeque;

use parking_lot::Mutex;
use reactor::ConnHandle;

/// A ticket for a response that will be given later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

struct Slots {
    /// Ticket number of `waiting[0]`.
    head: u64,
    /// Responses not yet written, in request order; `None` until answered.
    waiting: VecDeque<Option<Vec<u8>>>,
}

/// The ordered response queue of one connection.
pub struct ReplyQueue {
    conn: ConnHandle,
    slots: Mutex<Slots>,
}

impl ReplyQueue {
    /// An empty queue for `conn`.
    pub fn new(conn: ConnHandle) -> Self {
        Self {
            conn,
            slots: Mutex::new(Slots {
                head: 0,
                waiting: VecDeque::new(),
            }),
        }
    }

    /// Sends a response now, or as soon as every earlier ticket is answered.
    pub fn send(&self, frame: Vec<u8>) {
        let mut slots = self.slots.lock();
        if slots.waiting.is_empty() {
            self.conn.send(&frame);
        } else {
            slots.waiting.push_back(Some(frame));
        }
    }

    /// Reserves the place of a response that will be given with [`ReplyQueue::answer`].
    pub fn reserve(&self) -> Ticket {
        let mut slots = self.slots.lock();
        slots.waiting.push_back(None);
        Ticket(slots.head + slots.waiting.len() as u64 - 1)
    }

    /// Gives the response of `ticket` unless it has one already, and writes every
    /// response now in order. Returns whether this answer was taken.
    pub fn answer(&self, ticket: Ticket, frame: Vec<u8>) -> bool {
        let mut slots = self.slots.lock();
        let Some(index) = ticket.0.checked_sub(slots.head) else {
            return false; // answered and written already
        };
        match slots.waiting.get_mut(index as usize) {
            Some(slot @ None) => *slot = Some(frame),
            _ => return false, // answered already, or not a ticket of this queue
        }
        while let Some(Some(_)) = slots.waiting.front() {
            if let Some(Some(frame)) = slots.waiting.pop_front() {
                self.conn.send(&frame);
            }
            slots.head += 1;
        }
        true
    }

    /// Responses reserved or queued and not yet written.
    pub fn pending(&self) -> usize {
        self.slots.lock().waiting.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_answer_wins_and_later_responses_wait_in_order() {
        // A handle to a connection that is gone: sends are dropped, queueing still works.
        let server = reactor::Server::builder()
            .reactors(1)
            .workers(1)
            .start(Nop)
            .unwrap();
        let conn = server.connect("127.0.0.1:9".parse().unwrap()).unwrap();
        let q = ReplyQueue::new(conn);
        let t = q.reserve();
        q.send(b"after".to_vec());
        assert_eq!(q.pending(), 2);
        assert!(q.answer(t, b"busy".to_vec()));
        assert!(!q.answer(t, b"late ack".to_vec()));
        assert_eq!(q.pending(), 0);
        // An answer waiting behind an unanswered ticket is not replaced either.
        let (first, second) = (q.reserve(), q.reserve());
        assert!(q.answer(second, b"2".to_vec()));
        assert!(!q.answer(second, b"2 again".to_vec()));
        assert_eq!(q.pending(), 2);
        assert!(q.answer(first, b"1".to_vec()));
        assert_eq!(q.pending(), 0);
    }

    struct Nop;
    impl reactor::Handler for Nop {
        type Session = ();
        fn on_connect(&self, _: &ConnHandle) {}
        fn on_frame(&self, _: &ConnHandle, _: &mut (), _: Vec<u8>) {}
    }
}
