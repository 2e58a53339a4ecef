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
//! One thread, batches in commit order: pushes reach each recipient in `msg_id` order, as
//! when the writer delivered them itself. The channel holds [`DELIVERY_QUEUE`] batches;
//! when it is full the writer waits, its own queue fills up, and `send_message` answers
//! `server_busy`: nothing is dropped and memory stays bounded.
//! May touch: the hub (pushes) and the senders' reply queues. Never the store.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use reactor::SendBatch;
use serde_json::Value;

use crate::hub::Hub;
use crate::protocol::response;
use crate::result;
use crate::store::Stored;
use crate::writer::{InFlight, Job};

/// Committed batches waiting for delivery at most.
pub const DELIVERY_QUEUE: usize = 8;

/// A committed message, to be acked and pushed.
pub struct Delivered {
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

/// The sending half; the thread exits when it is dropped and the queue is drained.
pub struct Delivery {
    batches: Sender<Vec<Delivered>>,
}

impl Delivery {
    /// Starts the delivery thread. It is essential: should it panic, the process ends
    /// (see [`reactor::spawn_essential`]), so a batch handed over is never stranded.
    pub fn start(hub: Arc<Hub>) -> std::io::Result<(Delivery, JoinHandle<()>)> {
        let (batches, rx) = crossbeam_channel::bounded(DELIVERY_QUEUE);
        let thread = reactor::spawn_essential("delivery".into(), move || run(&hub, &rx))?;
        Ok((Delivery { batches }, thread))
    }

    /// Hands over a committed batch, waiting while [`DELIVERY_QUEUE`] batches are queued.
    pub fn send(&self, batch: Vec<Delivered>) {
        if self.batches.send(batch).is_err() {
            // Only a dead delivery thread closes the channel, and that ends the process.
            log::error!("the delivery thread is gone; a committed batch is not delivered");
        }
    }
}

fn run(hub: &Hub, rx: &Receiver<Vec<Delivered>>) {
    for batch in rx {
        // Each connection's acks and pushes of the batch leave in one write.
        let _one_write_each = SendBatch::begin();
        for item in batch {
            deliver(hub, item);
        }
    }
}

/// Acks the sender (in its connection's response order) and pushes the message to the
/// recipient's connections and the sender's other ones.
fn deliver(hub: &Hub, item: Delivered) {
    let Delivered {
        job,
        stored,
        retried,
        counted,
    } = item;
    let m = &stored.message;
    let ack = response::ok(
        "send_message",
        job.seq,
        result! { "msg_id": m.msg_id, "ts": m.ts },
    );
    job.replies.answer(job.ticket, ack);
    if stored.new || retried {
        let body = match response::message(m) {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        let frame = response::push("message", body);
        hub.push(m.to, &frame, None);
        hub.push(m.from, &frame, Some(job.origin));
    }
    drop(counted);
}
