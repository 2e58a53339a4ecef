//! The batched durable writer: one thread that commits messages in groups.
//!
//! `send_message` never writes on the worker that received it: the worker queues a
//! [`Job`] here and moves on. The writer collects up to `batch_max` jobs or waits
//! `batch_wait`, stores them in one transaction, and only after the commit answers each
//! sender (through the connection's [`ReplyQueue`], so responses stay in request order)
//! and pushes each new message to the recipient's connections and the sender's others.
//!
//! Bounds and failure: the queue holds `queue_capacity` jobs; when it is full
//! `send_message` answers `server_busy` at once. When the store is unavailable the
//! writer retries with back-off (20 ms doubling to 1 s), answers `server_busy` to every
//! job older than `commit_deadline`, and never acks what is not committed. A retried
//! batch whose first attempt may have committed before failing is pushed again: the
//! contract's delivery is at-least-once and clients dedup by `msg_id`.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use reactor::ConnId;
use serde_json::Value;

use crate::hub::Hub;
use crate::model::NewMessage;
use crate::protocol::{response, ChatError, ErrorCode};
use crate::reply_queue::{ReplyQueue, Ticket};
use crate::result;
use crate::store::{Store, StoreError, Stored};

/// Writer settings (from the `[writer]` config section).
#[derive(Debug, Clone, Copy)]
pub struct WriterSettings {
    /// Messages per transaction at most.
    pub batch_max: usize,
    /// How long to wait for a batch to fill.
    pub batch_wait: Duration,
    /// Jobs waiting at most; beyond it `send_message` gets `server_busy`.
    pub queue_capacity: usize,
    /// A job not committed within this is answered `server_busy`.
    pub commit_deadline: Duration,
}

/// A message waiting to be committed, and where its answer goes.
pub struct Job {
    /// The message.
    pub msg: NewMessage,
    /// The sender connection's ordered responses.
    pub replies: Arc<ReplyQueue>,
    /// The place of the answer among them.
    pub ticket: Ticket,
    /// The request's `seq`, echoed in the answer.
    pub seq: Option<Value>,
    /// The sending connection (it gets the ack, not the push).
    pub origin: ConnId,
    /// When the worker accepted it.
    pub accepted: Instant,
}

impl Job {
    fn answer_error(self, code: ErrorCode, message: &str) {
        let frame = response::error(
            "send_message",
            self.seq.as_ref(),
            &ChatError::new(code, message),
        );
        self.replies.answer(self.ticket, frame);
    }
}

/// The handle through which workers queue messages.
pub struct Writer {
    jobs: Sender<Job>,
}

impl Writer {
    /// Starts the writer thread. It exits once every `Writer` handle is dropped and the
    /// queue is drained.
    pub fn start(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        settings: WriterSettings,
    ) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (jobs, rx) = crossbeam_channel::bounded(settings.queue_capacity.max(1));
        let thread = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || {
                WriterLoop {
                    store,
                    hub,
                    settings,
                    rx,
                }
                .run()
            })?;
        Ok((Writer { jobs }, thread))
    }

    /// Queues a job; gives it back when the queue is full or the writer is gone.
    pub fn submit(&self, job: Job) -> Result<(), Box<Job>> {
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(job) | TrySendError::Disconnected(job) => Box::new(job),
        })
    }

    /// Jobs waiting in the queue.
    pub fn queued(&self) -> usize {
        self.jobs.len()
    }
}

struct WriterLoop {
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    settings: WriterSettings,
    rx: Receiver<Job>,
}

impl WriterLoop {
    fn run(self) {
        let mut batch = Vec::with_capacity(self.settings.batch_max);
        loop {
            if batch.is_empty() {
                match self.rx.recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => return, // every Writer handle is gone and the queue is empty
                }
            }
            let until = Instant::now() + self.settings.batch_wait;
            while batch.len() < self.settings.batch_max {
                match self.rx.recv_deadline(until) {
                    Ok(job) => batch.push(job),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            self.commit(&mut batch);
        }
    }

    /// Commits `batch` (emptying it), retrying while the store is unavailable.
    fn commit(&self, batch: &mut Vec<Job>) {
        let mut backoff = Duration::from_millis(20);
        let mut retried = false;
        loop {
            let messages: Vec<NewMessage> = batch.iter().map(|j| j.msg.clone()).collect();
            match self.store.insert_messages(&messages) {
                Ok(stored) => {
                    if retried {
                        log::info!("store is back: committed {} messages", stored.len());
                    }
                    for (job, stored) in batch.drain(..).zip(stored) {
                        self.deliver(job, stored, retried);
                    }
                    return;
                }
                Err(StoreError::Unavailable(e)) => {
                    if !retried {
                        log::warn!("writer: store unavailable, retrying: {e}");
                    }
                    retried = true;
                    self.expire(batch);
                    self.top_up(batch);
                    if batch.is_empty() {
                        return;
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    log::error!(
                        "writer: batch of {} failed: {e}; storing one by one",
                        batch.len()
                    );
                    self.commit_one_by_one(batch, retried);
                    return;
                }
            }
        }
    }

    /// After a non-transient failure: find the message(s) at fault, store the rest.
    fn commit_one_by_one(&self, batch: &mut Vec<Job>, retried: bool) {
        for job in batch.drain(..) {
            match self.store.insert_messages(std::slice::from_ref(&job.msg)) {
                Ok(mut stored) if stored.len() == 1 => {
                    let stored = stored.remove(0);
                    self.deliver(job, stored, retried);
                }
                Ok(_) => job.answer_error(ErrorCode::Internal, "internal error"),
                Err(StoreError::Unavailable(_)) => job.answer_error(
                    ErrorCode::ServerBusy,
                    "the store is unavailable; the message was not stored, retry",
                ),
                Err(e) => {
                    log::error!("writer: message from {} failed: {e}", job.msg.from);
                    job.answer_error(ErrorCode::Internal, "internal error");
                }
            }
        }
    }

    /// Answers `server_busy` to every job past the commit deadline.
    fn expire(&self, batch: &mut Vec<Job>) {
        let deadline = self.settings.commit_deadline;
        let (expired, kept): (Vec<Job>, Vec<Job>) = batch
            .drain(..)
            .partition(|j| j.accepted.elapsed() >= deadline);
        *batch = kept;
        for job in expired {
            job.answer_error(
                ErrorCode::ServerBusy,
                "the store is unavailable; the message was not stored, retry",
            );
        }
    }

    /// During an outage, keeps taking queued jobs so that each is answered by its deadline.
    fn top_up(&self, batch: &mut Vec<Job>) {
        while batch.len() < self.settings.batch_max {
            match self.rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        self.expire(batch);
    }

    fn deliver(&self, job: Job, stored: Stored, retried: bool) {
        let m = &stored.message;
        let ack = response::ok(
            "send_message",
            job.seq.as_ref(),
            result! { "msg_id": m.msg_id, "ts": m.ts },
        );
        job.replies.answer(job.ticket, ack);
        if stored.new || retried {
            let body = match response::message(m) {
                Value::Object(map) => map,
                _ => serde_json::Map::new(),
            };
            let frame = response::push("message", body);
            self.hub.push(m.to, &frame, None);
            self.hub.push(m.from, &frame, Some(job.origin));
        }
    }
}
