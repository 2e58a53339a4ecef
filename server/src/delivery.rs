//! The delivery thread: answers and pushes what the writer committed.
//!
//! Writing an ack and a push to their sockets costs about as much CPU as committing the
//! message (loopback `send`s run the receiver's TCP stack too). Done on the writer's
//! thread, the next batch would wait for it, and the database would sit idle meanwhile.
//! So the writer hands each committed batch here and goes straight back to the store:
//! commit and delivery overlap.
//!
//! Within a batch, sends are held in a [`SendBatch`], so a connection that gets several
//! acks and pushes from one commit gets them in one write.
//!
//! One thread, batches in commit order: this node's commits reach each connection in
//! timeline order (each connection's sequencer also orders what other nodes commit).
//! The channel holds [`DELIVERY_QUEUE`] batches;
//! when it is full the writer waits, its own queue fills up, and `send_message` answers
//! `server_busy`: nothing is dropped and memory stays bounded.
//! May touch: the push route and the senders' reply queues. Never the store.

use crossbeam_channel::Receiver;
use reactor::SendBatch;

use crate::delivery_mark::DeliveryMark;
use crate::push_route::PushRoute;
use crate::send_job::{Committed, CommittedBatch};

/// Committed batches waiting for delivery at most (the capacity of the channel the
/// writer is started with).
pub const DELIVERY_QUEUE: usize = 8;

/// The delivery thread's loop (run it on a thread of its own, an essential one: should
/// it panic, the process ends, so a committed batch is never stranded). Settles each
/// writer attempt in `mark` once its acks and pushes are out. Returns when the writer's
/// end of `committed` closes and the queue is drained.
pub fn run(pushes: &dyn PushRoute, committed: Receiver<CommittedBatch>, mark: &DeliveryMark) {
    for batch in committed {
        {
            // Each connection's acks and pushes of the batch leave in one write.
            let _one_write_each = SendBatch::begin();
            for item in batch.items {
                deliver(pushes, item);
            }
        }
        mark.settle(batch.attempt);
    }
}

/// Acks the sender (in its connection's response order) and pushes the message to the
/// recipient's connections and the sender's other ones.
fn deliver(pushes: &dyn PushRoute, item: Committed) {
    let Committed {
        job,
        stored,
        retried,
        counted,
    } = item;
    let m = &stored.message;
    job.ack(m);
    if stored.new || retried {
        // The sender's own connection (`origin`) gets the ack instead of a push.
        pushes.message(m, stored.recipient_pos, Some(job.origin));
    }
    drop(counted);
}
