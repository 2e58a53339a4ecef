//! The writer's watchdog: answers for messages stuck behind a store call that hangs.
//!
//! A frozen database blocks the writer inside one call. When a call has run for more
//! than [`STUCK`], the watchdog answers `server_busy` for the expired jobs of the batch
//! being committed, and takes queued jobs into that batch (never beyond the queue's
//! capacity) so that they too are answered by their deadline. This is the one case where
//! `server_busy` can precede a commit that then succeeds: the database did not answer,
//! so the outcome is unknown; the client's retry with the same `client_msg_id` returns
//! the message (first answer wins, see `reply_queue`). Nothing is acked before its
//! commit.
//! How long the call has run it reads from the writer's `admission`, which the writer
//! tells of each store call.
//! May touch: the [`CommitBatch`] it shares with the writer, the writer's queue, and the
//! answers of the jobs in them (each counted in the metrics).

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;

use crate::admission::Admission;
use crate::metrics::Metrics;
use crate::protocol::ErrorCode;
use crate::send_job::{InFlight, Job};

/// How often the watchdog looks at the batch being committed.
const PERIOD: Duration = Duration::from_millis(100);
/// A store call running longer than this is stuck (commits take milliseconds).
pub const STUCK: Duration = Duration::from_secs(1);

/// A job in the writer's hands.
pub struct Pending {
    /// The job.
    pub job: Job,
    /// The watchdog answered it `server_busy` while its commit was blocked.
    pub busy_sent: bool,
    /// Its count in the writer's in-flight jobs.
    pub counted: InFlight,
}

/// What the writer and its watchdog share.
pub struct CommitBatch {
    /// The batch being committed. The writer sends its first `n` entries to the store;
    /// the watchdog may append (never remove) while the writer is blocked.
    pub current: Mutex<Vec<Pending>>,
    /// Jobs the batch may hold at most (the queue's capacity).
    pub capacity: usize,
}

impl CommitBatch {
    /// An empty batch that may grow to `capacity` jobs.
    pub fn new(capacity: usize) -> Self {
        Self {
            current: Mutex::new(Vec::new()),
            capacity,
        }
    }

    /// Moves queued jobs into the batch, up to its capacity.
    pub fn take_queued(&self, queue: &Receiver<Pending>) {
        let mut batch = self.current.lock();
        while batch.len() < self.capacity {
            match queue.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
    }
}

/// The watchdog of one writer.
pub struct Watchdog {
    batch: Arc<CommitBatch>,
    /// Tells how long the writer's store call in progress has run.
    admission: Arc<Admission>,
    queue: Receiver<Pending>,
    deadline: Duration,
    stopped: Receiver<()>,
    metrics: Arc<Metrics>,
}

impl Watchdog {
    /// Watches `batch` (and the writer's `queue`) while the writer's store call, as
    /// `admission` sees it, runs too long, answering jobs older than `deadline` (counted
    /// in `metrics`); stops when `stopped` closes.
    pub fn new(
        batch: Arc<CommitBatch>,
        admission: Arc<Admission>,
        queue: Receiver<Pending>,
        deadline: Duration,
        stopped: Receiver<()>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            batch,
            admission,
            queue,
            deadline,
            stopped,
            metrics,
        }
    }

    /// The watchdog's loop, until the writer's loop has ended.
    pub fn run(self) {
        watch(
            &self.batch,
            &self.admission,
            &self.queue,
            self.deadline,
            &self.stopped,
            &self.metrics,
        );
    }
}

fn watch(
    batch: &CommitBatch,
    admission: &Admission,
    queue: &Receiver<Pending>,
    deadline: Duration,
    stopped: &Receiver<()>,
    metrics: &Metrics,
) {
    while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(PERIOD) {
        let stuck = admission
            .store_call_running()
            .is_some_and(|ran| ran >= STUCK);
        if !stuck {
            continue;
        }
        batch.take_queued(queue);
        for entry in batch.current.lock().iter_mut() {
            if !entry.busy_sent && entry.job.accepted.elapsed() >= deadline {
                entry.busy_sent = true;
                entry.job.answer_busy();
                metrics.request_error(ErrorCode::ServerBusy);
            }
        }
    }
}
