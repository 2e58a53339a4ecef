//! Keeps a connection's responses in request order when some are answered later.
//!
//! `send_message` is answered by the batched writer after its commit, while the worker
//! goes on to the connection's next requests. Each request therefore takes a ticket;
//! a response is written only when every earlier ticket has been answered. With no
//! message in flight a response goes straight to the socket.
//!
//! Bound: tickets outstanding are at most the messages of this connection in the
//! writer's queue (itself bounded) plus the responses waiting behind them.

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

    /// Gives the response of `ticket`, and writes every response now in order.
    pub fn answer(&self, ticket: Ticket, frame: Vec<u8>) {
        let mut slots = self.slots.lock();
        let Some(index) = ticket.0.checked_sub(slots.head) else {
            return; // answered already
        };
        if let Some(slot) = slots.waiting.get_mut(index as usize) {
            *slot = Some(frame);
        }
        while let Some(Some(_)) = slots.waiting.front() {
            if let Some(Some(frame)) = slots.waiting.pop_front() {
                self.conn.send(&frame);
            }
            slots.head += 1;
        }
    }

    /// Responses reserved or queued and not yet written.
    pub fn pending(&self) -> usize {
        self.slots.lock().waiting.len()
    }
}
