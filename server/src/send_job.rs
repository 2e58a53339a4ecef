//! A `send_message` on its way through the server: the [`Job`] a worker queues for the
//! writer, the [`Committed`] result the writer hands to delivery, and every answer a
//! `send_message` can get. The response to a `send_message` is built here and nowhere
//! else: the ack ([`Job::ack`]) after its commit, or an error ([`Job::answer_busy`] and
//! friends) when it was not stored.
//!
//! Answers go through the sender connection's [`ReplyQueue`], so they keep request order,
//! and the first answer to a job wins (see `reply_queue`).
//! May touch: the sender's reply queue.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reactor::ConnId;

use crate::model::{Message, NewMessage};
use proto::answer::{error_frame, ok_frame, Sent};
use proto::{Answer, Op};

use crate::protocol::{ChatError, ErrorCode};
use crate::reply_queue::{ReplyQueue, Ticket};
use crate::store::Stored;

const OP: &str = Op::SendMessage.name();

/// A message waiting to be committed, and where its answer goes.
pub struct Job {
    /// The message.
    pub msg: NewMessage,
    /// The sender connection's ordered responses.
    pub replies: Arc<ReplyQueue>,
    /// The place of the answer among them.
    pub ticket: Ticket,
    /// The request's `seq`, echoed in the answer.
    pub seq: Option<u64>,
    /// The sending connection (it gets the ack, not the push).
    pub origin: ConnId,
    /// When the worker accepted it.
    pub accepted: Instant,
}

impl Job {
    /// The success answer: `msg_id`, `ts` and the sender's `pos` of the committed
    /// message.
    pub fn ack(&self, m: &Message) {
        let sent = Answer::Sent(Sent {
            msg_id: m.msg_id,
            ts: m.ts,
            pos: m.pos,
        });
        let frame = ok_frame(OP, self.seq, &sent);
        self.replies.answer(self.ticket, frame);
    }

    /// An error answer (unless the job was answered already).
    pub fn answer_error(&self, code: ErrorCode, message: &str) {
        self.answer(&ChatError::new(code, message));
    }

    fn answer(&self, error: &ChatError) {
        self.replies
            .answer(self.ticket, error_frame(OP, self.seq, error));
    }

    /// `server_busy`: the store did not take the message in time; nothing was stored.
    pub fn answer_busy(&self) {
        self.answer_error(
            ErrorCode::ServerBusy,
            "the store is unavailable; the message was not stored, retry",
        );
    }

    /// `server_busy` with `retry_after_ms`: the writer is too far behind to take the
    /// message in time; nothing was stored.
    pub fn answer_overloaded(&self, retry_after: Duration) {
        self.answer(
            &ChatError::new(
                ErrorCode::ServerBusy,
                "the server is overloaded; the message was not stored, retry",
            )
            .retry_after(retry_after),
        );
    }
}

/// One count in the writer's in-flight jobs, given back when dropped.
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    /// Counts one more job in `counter`.
    pub fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A committed message, to be acked and pushed.
pub struct Committed {
    /// The sender's job.
    pub job: Job,
    /// What the store made of it.
    pub stored: Stored,
    /// Its batch was retried after a failure that may have committed it: push it even if
    /// the store reports it as not new (delivery is at-least-once, clients dedup).
    pub retried: bool,
    /// Keeps the message counted in the writer's in-flight jobs until it is delivered.
    pub counted: InFlight,
}

/// What the writer hands the delivery thread for one store call: its attempt number
/// (see [`DeliveryMark`](crate::delivery_mark::DeliveryMark)) and what it committed
/// (nothing when the call failed).
pub struct CommittedBatch {
    /// The writer's attempt number.
    pub attempt: u64,
    /// The committed messages, in commit order.
    pub items: Vec<Committed>,
}
