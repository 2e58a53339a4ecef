//! The batched durable writer: one thread that commits messages in groups.
//!
//! `send_message` never writes on the worker that received it: the worker queues a
//! [`Job`] here and moves on. The writer collects up to `batch_max` jobs or waits
//! `batch_wait`, stores them in one transaction, and only after the commit hands the
//! results on ([`Committed`], through the channel it was started with) and goes straight
//! back to the store. Whoever reads that channel (the delivery thread) acks and pushes.
//!
//! Bounds and failure:
//! * A job that can expect to wait over `max_queue_wait` before the writer takes it is
//!   refused at once, `server_busy` with `retry_after_ms` (`admission`: the wait is
//!   measured, not guessed from the queue's length). Behind that, the queue holds
//!   `queue_capacity` jobs; when it is full `send_message` is refused the same way.
//! * A job still waiting when its `commit_deadline` passes is answered `server_busy` and
//!   never stored: before every attempt the writer drops expired jobs. Under overload
//!   this sheds load instead of letting the queue's wait grow without bound.
//! * When the store is unavailable the writer retries with back-off (20 ms doubling to
//!   1 s), shedding expired jobs each time.
//! * A store that hangs (a frozen database) blocks the writer inside one call; the
//!   `watchdog` thread answers for the jobs that wait behind it.
//! * A retried batch whose first attempt may have committed before failing is pushed
//!   again: delivery is at-least-once and clients dedup by `msg_id`.
//! * [`Writer::in_flight`] counts jobs not yet finished, so shutdown can wait for acks.
//! * Each commit is counted in the metrics (messages, batch size, time), and so is every
//!   error answer it gives and every store error it meets.
//!
//! May touch: the store (message inserts only), the batch it shares with its watchdog,
//! the answers of jobs it cannot store, the metrics.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::admission::Admission;
use crate::delivery_mark::DeliveryMark;
use crate::metrics::Metrics;
use crate::model::NewMessage;
use crate::protocol::ErrorCode;
use crate::send_job::{Committed, CommittedBatch, InFlight, Job};
use crate::store::{Store, StoreError, Stored};
use crate::store_errors::count_store_error;
use crate::watchdog::{CommitBatch, Pending, Watchdog};

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
    /// A job that can expect to wait longer than this is refused at once (see
    /// `admission`); zero: only the queue's capacity bounds the wait.
    pub max_queue_wait: Duration,
}

/// Why [`Writer::submit`] gave a job back: it was not queued, and its sender should
/// retry after `retry_after`.
pub struct Refused {
    /// The job, unqueued.
    pub job: Box<Job>,
    /// When the sender may retry.
    pub retry_after: Duration,
}

/// The handle through which workers queue messages.
pub struct Writer {
    jobs: Sender<Pending>,
    in_flight: Arc<AtomicUsize>,
    admission: Arc<Admission>,
}

impl Writer {
    /// The writer's three parts: the handle workers queue jobs through, the loop that
    /// commits them (committed batches go to `committed`), and its watchdog. The caller
    /// runs the loop and the watchdog on threads of their own. The loop returns once
    /// every `Writer` handle is dropped and the queue is drained, closing its end of
    /// `committed`; the watchdog returns when the loop has. Both count in `metrics`,
    /// which reads the queue's depth from now on.
    pub fn new(
        store: Arc<dyn Store>,
        settings: WriterSettings,
        committed: Sender<CommittedBatch>,
        mark: Arc<DeliveryMark>,
        metrics: Arc<Metrics>,
    ) -> (Writer, WriterLoop, Watchdog) {
        let (jobs, rx) = crossbeam_channel::bounded(settings.queue_capacity.max(1));
        let batch = Arc::new(CommitBatch::new(settings.queue_capacity.max(1)));
        let (stop_watchdog, stopped) = crossbeam_channel::bounded::<()>(0);
        let admission = Arc::new(Admission::new(settings.max_queue_wait));
        let watchdog = Watchdog::new(
            Arc::clone(&batch),
            Arc::clone(&admission),
            rx.clone(),
            settings.commit_deadline,
            stopped,
            Arc::clone(&metrics),
        );
        // A receiver does not keep the queue open: the loop still ends with the handles.
        let queue = rx.clone();
        metrics.watch_writer_queue(Box::new(move || queue.len()));
        let writer_loop = WriterLoop {
            admission: Arc::clone(&admission),
            store,
            committed,
            mark,
            metrics,
            settings,
            rx,
            batch,
            _stop_watchdog: stop_watchdog,
        };
        let in_flight = Arc::new(AtomicUsize::new(0));
        let writer = Writer {
            jobs,
            in_flight,
            admission,
        };
        (writer, writer_loop, watchdog)
    }

    /// Queues a job; gives it back when it can expect to wait too long (see
    /// `admission`), when the queue is full or when the writer is gone.
    pub fn submit(&self, job: Job) -> Result<(), Refused> {
        if let Err(retry_after) = self.admission.admit() {
            return Err(Refused {
                job: Box::new(job),
                retry_after,
            });
        }
        let entry = Pending {
            job,
            busy_sent: false,
            counted: InFlight::new(&self.in_flight),
        };
        self.jobs.try_send(entry).map_err(|e| match e {
            TrySendError::Full(entry) | TrySendError::Disconnected(entry) => Refused {
                job: Box::new(entry.job),
                retry_after: self.admission.retry_after(self.admission.expected_wait()),
            },
        })
    }

    /// Jobs accepted and not yet finished (answered and, if committed, pushed).
    pub fn in_flight(&self) -> Arc<AtomicUsize> {
        Arc::clone(&self.in_flight)
    }
}

/// The writer's loop: collects jobs into batches and commits them.
pub struct WriterLoop {
    /// Told what the queue's wait is.
    admission: Arc<Admission>,
    store: Arc<dyn Store>,
    committed: Sender<CommittedBatch>,
    /// Numbers each store call; delivery settles them in order.
    mark: Arc<DeliveryMark>,
    metrics: Arc<Metrics>,
    settings: WriterSettings,
    rx: Receiver<Pending>,
    batch: Arc<CommitBatch>,
    /// Dropped when the loop ends, which stops the watchdog.
    _stop_watchdog: Sender<()>,
}

impl WriterLoop {
    /// Runs until every `Writer` handle is dropped and the queue is drained.
    pub fn run(self) {
        self.commit_until_closed();
    }

    fn commit_until_closed(&self) {
        loop {
            if self.batch.current.lock().is_empty() {
                if self.rx.is_empty() {
                    self.admission.queue_empty();
                }
                match self.rx.recv() {
                    Ok(entry) => self.batch.current.lock().push(entry),
                    Err(_) => return, // every Writer handle is gone and the queue is empty
                }
            }
            let until = Instant::now() + self.settings.batch_wait;
            while self.batch.current.lock().len() < self.settings.batch_max {
                match self.rx.recv_deadline(until) {
                    Ok(entry) => self.batch.current.lock().push(entry),
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
            let (messages, oldest): (Vec<NewMessage>, Option<Instant>) = {
                let mut batch = self.batch.current.lock();
                // Expired jobs were never sent: answer them `server_busy`, store nothing.
                expire(&mut batch, self.settings.commit_deadline, &self.metrics);
                let n = batch.len().min(self.settings.batch_max.max(1) * 4);
                let oldest = batch[..n].iter().map(|e| e.job.accepted).min();
                (
                    batch[..n].iter().map(|e| e.job.msg.clone()).collect(),
                    oldest,
                )
            };
            let Some(oldest) = oldest else {
                return;
            };
            self.admission.store_call(oldest);
            let attempt = self.mark.begin();
            let started = Instant::now();
            let outcome = self.store.insert_messages(&messages);
            let took = started.elapsed();
            self.admission.store_done();
            if let Err(e) = &outcome {
                count_store_error(e);
                self.hand_on(attempt, Vec::new());
            }
            match outcome {
                Ok(stored) => {
                    let new = stored.iter().filter(|s| s.new).count();
                    self.metrics.committed(messages.len(), new, took);
                    if retried {
                        log::info!("store is back: committed {} messages", stored.len());
                    }
                    let done: Vec<Pending> =
                        self.batch.current.lock().drain(..messages.len()).collect();
                    let batch = done
                        .into_iter()
                        .zip(stored)
                        .map(|(entry, stored)| committed(entry, stored, retried))
                        .collect();
                    self.hand_on(attempt, batch);
                    return;
                }
                Err(StoreError::Unavailable(e)) => {
                    if !retried {
                        log::warn!("writer: store unavailable, retrying: {e}");
                    }
                    retried = true;
                    {
                        // Take queued jobs too, so each is answered by its deadline.
                        self.batch.take_queued(&self.rx);
                        let mut batch = self.batch.current.lock();
                        expire(&mut batch, self.settings.commit_deadline, &self.metrics);
                        if batch.is_empty() {
                            return;
                        }
                    }
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    let done: Vec<Pending> =
                        self.batch.current.lock().drain(..messages.len()).collect();
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
    fn commit_alone(&self, entry: Pending, retried: bool) {
        let job = &entry.job;
        let attempt = self.mark.begin();
        let started = Instant::now();
        let outcome = self.store.insert_messages(std::slice::from_ref(&job.msg));
        if let Err(e) = &outcome {
            count_store_error(e);
        }
        let code = match outcome {
            Ok(mut stored) if stored.len() == 1 => {
                let new = usize::from(stored[0].new);
                self.metrics.committed(1, new, started.elapsed());
                self.hand_on(attempt, vec![committed(entry, stored.remove(0), retried)]);
                return;
            }
            Ok(_) => {
                job.answer_error(ErrorCode::Internal, "internal error");
                ErrorCode::Internal
            }
            Err(StoreError::Unavailable(_)) => {
                job.answer_busy();
                ErrorCode::ServerBusy
            }
            Err(e) => {
                log::error!("writer: message from {} failed: {e}", job.msg.from);
                job.answer_error(ErrorCode::Internal, "internal error");
                ErrorCode::Internal
            }
        };
        self.metrics.request_error(code);
        self.hand_on(attempt, Vec::new());
    }
}

impl WriterLoop {
    /// Hands what store call `attempt` committed on (nothing if it failed: delivery
    /// still settles the attempt), waiting while the channel is full.
    fn hand_on(&self, attempt: u64, items: Vec<Committed>) {
        if self
            .committed
            .send(CommittedBatch { attempt, items })
            .is_err()
        {
            // Only a dead delivery thread closes the channel, and that ends the process.
            log::error!("nobody takes committed batches; their acks and pushes are lost");
        }
    }
}

fn committed(entry: Pending, stored: Stored, retried: bool) -> Committed {
    Committed {
        job: entry.job,
        stored,
        retried,
        counted: entry.counted,
    }
}

/// Answers `server_busy` to, and drops, every job past the commit deadline (unless the
/// watchdog answered it already), counting each answer.
fn expire(batch: &mut Vec<Pending>, deadline: Duration, metrics: &Metrics) {
    batch.retain(|entry| {
        let keep = entry.job.accepted.elapsed() < deadline;
        if !keep && !entry.busy_sent {
            entry.job.answer_busy();
            metrics.request_error(ErrorCode::ServerBusy);
        }
        keep
    });
}
