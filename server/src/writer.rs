//! The batched durable writer: one thread that commits messages in groups.
//!
//! `send_message` never writes on the worker that received it: the worker queues a
//! [`Job`] here and moves on. The writer collects up to `batch_max` jobs or waits
//! `batch_wait`, stores them in one transaction, and only after the commit hands the batch
//! to the [`crate::delivery`] thread, which answers each sender (through the connection's
//! [`ReplyQueue`], so responses stay in request order) and pushes each new message to the
//! recipient's connections and the sender's others, while the writer commits the next.
//!
//! Bounds and failure:
//! * The queue holds `queue_capacity` jobs; when it is full `send_message` answers
//!   `server_busy` at once.
//! * A job still waiting when its `commit_deadline` passes is answered `server_busy` and
//!   never stored: before every attempt the writer drops expired jobs. Under overload
//!   this sheds load instead of letting the queue's wait grow without bound.
//! * When the store is unavailable the writer retries with back-off (20 ms doubling to
//!   1 s), shedding expired jobs each time.
//! * A store that hangs (a frozen database) blocks the writer inside one call. When a
//!   call has run for more than [`STUCK`], a watchdog thread answers `server_busy` for
//!   the expired jobs of that batch and for queued jobs (moving them into the watched
//!   batch, never beyond `queue_capacity` jobs). This is the one case where `server_busy`
//!   can precede a commit that then succeeds: the database did not answer, so the
//!   outcome is unknown. The message is then stored and pushed, and the client's retry
//!   with the same `client_msg_id` returns its `msg_id` (first answer wins, see
//!   [`ReplyQueue`]). Nothing is ever acked before its commit.
//! * A retried batch whose first attempt may have committed before failing is pushed
//!   again: delivery is at-least-once and clients dedup by `msg_id`.
//! * [`Writer::in_flight`] counts jobs not yet finished, so shutdown can wait for acks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use parking_lot::Mutex;
use reactor::ConnId;

use crate::delivery::{Delivered, Delivery};
use crate::hub::Hub;
use crate::model::NewMessage;
use crate::protocol::{response, ChatError, ErrorCode};
use crate::reply_queue::{ReplyQueue, Ticket};
use crate::store::{Store, StoreError, Stored};

/// How often the watchdog looks at the batch being committed.
const WATCHDOG_PERIOD: Duration = Duration::from_millis(100);
/// A store call running longer than this is stuck (commits take milliseconds).
pub const STUCK: Duration = Duration::from_secs(1);

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
    pub seq: Option<u64>,
    /// The sending connection (it gets the ack, not the push).
    pub origin: ConnId,
    /// When the worker accepted it.
    pub accepted: Instant,
}

impl Job {
    /// Answers the sender with an error (unless it was answered already).
    pub fn answer_error(&self, code: ErrorCode, message: &str) {
        let frame = response::error("send_message", self.seq, &ChatError::new(code, message));
        self.replies.answer(self.ticket, frame);
    }

    fn answer_busy(&self) {
        self.answer_error(
            ErrorCode::ServerBusy,
            "the store is unavailable; the message was not stored, retry",
        );
    }
}

/// A job in the writer's hands.
struct Entry {
    job: Job,
    /// The watchdog answered it `server_busy` while its commit was blocked.
    busy_sent: bool,
    counted: InFlight,
}

/// One count in [`Writer::in_flight`], given back when dropped.
pub struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(counter))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The handle through which workers queue messages.
pub struct Writer {
    jobs: Sender<Entry>,
    in_flight: Arc<AtomicUsize>,
}

impl Writer {
    /// Starts the writer thread (and its watchdog). Both exit once every `Writer` handle
    /// is dropped and the queue is drained.
    pub fn start(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        settings: WriterSettings,
    ) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (jobs, rx) = crossbeam_channel::bounded(settings.queue_capacity.max(1));
        let shared = Arc::new(Shared {
            current: Mutex::new(Vec::new()),
            in_store_since: Mutex::new(None),
            capacity: settings.queue_capacity.max(1),
        });
        let (stop_watchdog, stopped) = crossbeam_channel::bounded::<()>(0);
        let watchdog = {
            let (shared, rx) = (Arc::clone(&shared), rx.clone());
            let deadline = settings.commit_deadline;
            reactor::spawn_essential("writer-watchdog".into(), move || {
                watch(&shared, &rx, deadline, &stopped)
            })?
        };
        let (delivery, delivery_thread) = Delivery::start(hub)?;
        let thread = reactor::spawn_essential("writer".into(), move || {
            WriterLoop {
                store,
                delivery,
                settings,
                rx,
                shared,
            }
            .run();
            // `run` returned: the last batch is handed over, and dropping the loop
            // (and with it the delivery handle) lets the delivery thread finish.
            drop(stop_watchdog);
            if watchdog.join().is_err() {
                log::error!("the writer's watchdog panicked");
            }
            if delivery_thread.join().is_err() {
                log::error!("the delivery thread panicked");
            }
        })?;
        let in_flight = Arc::new(AtomicUsize::new(0));
        Ok((Writer { jobs, in_flight }, thread))
    }

    /// Queues a job; gives it back when the queue is full or the writer is gone.
    pub fn submit(&self, job: Job) -> Result<(), Box<Job>> {
        let entry = Entry {
            job,
            busy_sent: false,
            counted: InFlight::new(&self.in_flight),
        };
        self.jobs.try_send(entry).map_err(|e| match e {
            TrySendError::Full(entry) | TrySendError::Disconnected(entry) => Box::new(entry.job),
        })
    }

    /// Jobs accepted and not yet finished (answered and, if committed, pushed).
    pub fn in_flight(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.in_flight)
    }
}

/// What the writer and its watchdog share.
struct Shared {
    /// The batch being committed. The writer sends its first `n` entries to the store;
    /// the watchdog may append (never remove) while the writer is blocked.
    current: Mutex<Vec<Entry>>,
    /// When the writer entered its current store call, if it is in one.
    in_store_since: Mutex<Option<Instant>>,
    /// Jobs the watchdog may hold in the batch at most (the queue's capacity).
    capacity: usize,
}

/// The watchdog: when the writer has been stuck in one store call for [`STUCK`], answers
/// `server_busy` for the expired jobs of that batch and takes queued jobs into the
/// batch (up to the queue's capacity) so that they too are answered by their deadline.
fn watch(shared: &Shared, rx: &Receiver<Entry>, deadline: Duration, stopped: &Receiver<()>) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(WATCHDOG_PERIOD) {
        let stuck = shared
            .in_store_since
            .lock()
            .is_some_and(|since| since.elapsed() >= STUCK);
        if !stuck {
            continue;
        }
        let mut batch = shared.current.lock();
        while batch.len() < shared.capacity {
            match rx.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        for entry in batch.iter_mut() {
            if !entry.busy_sent && entry.job.accepted.elapsed() >= deadline {
                entry.busy_sent = true;
                entry.job.answer_busy();
            }
        }
    }
}

struct WriterLoop {
    store: Arc<dyn Store>,
    delivery: Delivery,
    settings: WriterSettings,
    rx: Receiver<Entry>,
    shared: Arc<Shared>,
}

impl WriterLoop {
    fn run(&self) {
        loop {
            if self.shared.current.lock().is_empty() {
                match self.rx.recv() {
                    Ok(entry) => self.shared.current.lock().push(entry),
                    Err(_) => return, // every Writer handle is gone and the queue is empty
                }
            }
            let until = Instant::now() + self.settings.batch_wait;
            while self.shared.current.lock().len() < self.settings.batch_max {
                match self.rx.recv_deadline(until) {
                    Ok(entry) => self.shared.current.lock().push(entry),
                    Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
                }
            }
            self.commit();
        }
    }

    /// Commits the current batch, retrying while the store is unavailable. Entries the
    /// watchdog appended meanwhile stay for the next round.
    fn commit(&self) {
        let mut backoff = Duration::from_millis(20);
        let mut retried = false;
        loop {
            let messages: Vec<NewMessage> = {
                let mut batch = self.shared.current.lock();
                // Expired jobs were never sent: answer them `server_busy`, store nothing.
                expire(&mut batch, self.settings.commit_deadline);
                let n = batch.len().min(self.settings.batch_max.max(1) * 4);
                batch[..n].iter().map(|e| e.job.msg.clone()).collect()
            };
            if messages.is_empty() {
                return;
            }
            *self.shared.in_store_since.lock() = Some(Instant::now());
            let outcome = self.store.insert_messages(&messages);
            *self.shared.in_store_since.lock() = None;
            match outcome {
                Ok(stored) => {
                    if retried {
                        log::info!("store is back: committed {} messages", stored.len());
                    }
                    let done: Vec<Entry> =
                        self.shared.current.lock().drain(..messages.len()).collect();
                    let batch = done
                        .into_iter()
                        .zip(stored)
                        .map(|(entry, stored)| entry.delivered(stored, retried))
                        .collect();
                    self.delivery.send(batch);
                    return;
                }
                Err(StoreError::Unavailable(e)) => {
                    if !retried {
                        log::warn!("writer: store unavailable, retrying: {e}");
                    }
                    retried = true;
                    {
                        // Take queued jobs too, so each is answered by its deadline.
                        let mut batch = self.shared.current.lock();
                        while batch.len() < self.shared.capacity {
                            match self.rx.try_recv() {
                                Ok(entry) => batch.push(entry),
                                Err(_) => break,
                            }
                        }
                        expire(&mut batch, self.settings.commit_deadline);
                        if batch.is_empty() {
                            return;
                        }
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    let done: Vec<Entry> =
                        self.shared.current.lock().drain(..messages.len()).collect();
                    log::error!(
                        "writer: batch of {} failed: {e}; storing one by one",
                        done.len()
                    );
                    for entry in done {
                        self.commit_alone(entry, retried);
                    }
                    return;
                }
            }
        }
    }

    /// After a non-transient failure: stores one message alone, to isolate the bad one.
    fn commit_alone(&self, entry: Entry, retried: bool) {
        let job = &entry.job;
        match self.store.insert_messages(std::slice::from_ref(&job.msg)) {
            Ok(mut stored) if stored.len() == 1 => {
                let delivered = entry.delivered(stored.remove(0), retried);
                self.delivery.send(vec![delivered]);
            }
            Ok(_) => job.answer_error(ErrorCode::Internal, "internal error"),
            Err(StoreError::Unavailable(_)) => job.answer_busy(),
            Err(e) => {
                log::error!("writer: message from {} failed: {e}", job.msg.from);
                job.answer_error(ErrorCode::Internal, "internal error");
            }
        }
    }
}

impl Entry {
    fn delivered(self, stored: Stored, retried: bool) -> Delivered {
        Delivered {
            job: self.job,
            stored,
            retried,
            counted: self.counted,
        }
    }
}

/// Answers `server_busy` to, and drops, every job past the commit deadline (unless the
/// watchdog answered it already).
fn expire(batch: &mut Vec<Entry>, deadline: Duration) {
    batch.retain(|entry| {
        let keep = entry.job.accepted.elapsed() < deadline;
        if !keep && !entry.busy_sent {
            entry.job.answer_busy();
        }
        keep
    });
}
