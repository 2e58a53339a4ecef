//! The mail queue: [`Mailer`] takes mails without blocking and one sender thread delivers
//! them, retrying with a doubling back-off.
//!
//! What it may touch: its own thread, its bounded channel and counters, the transport of
//! `transport.rs`, and the `log` facade (recipient addresses and errors; never a body).
//!
//! Bound: at most `queue` mails are in the mailer at once, counting those in the channel,
//! the one being delivered and those waiting for a retry, so a mail server that is down
//! cannot make the gateway's memory grow: the next mail is refused with [`QueueFull`].
//! A mail waiting for its retry does not hold up the mails behind it.

use std::collections::BinaryHeap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use lettre::message::Mailbox;
use lettre::Message;

use super::compose::{build_message, OutgoingMail};
use super::transport::{DeliverError, Delivery};
use super::{MailError, MailSettings, QueueFull};

/// The longest wait between two attempts, however many there are.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// A snapshot of the mailer's counters, for `/metrics`. All but `pending` only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MailStats {
    /// Mails accepted by [`Mailer::send`].
    pub queued: u64,
    /// Mails delivered (handed to the SMTP server, or written as a file).
    pub sent: u64,
    /// Mails given up: every attempt failed, the server refused them for good, they could
    /// not be composed, or [`Mailer::stop`] ran out of time before them.
    pub failed: u64,
    /// Failed attempts after which the mail was scheduled to be tried again.
    pub retried: u64,
    /// Mails refused by [`Mailer::send`] with [`QueueFull`].
    pub rejected: u64,
    /// Mails accepted and neither sent nor failed yet (queued, being sent, or waiting for
    /// a retry); at most the `queue` setting.
    pub pending: u64,
}

/// The gateway's mail sender: a bounded queue and one thread that delivers from it.
///
/// `Mailer` is `Send + Sync`; share it (e.g. in an `Arc`) between request handlers.
/// Dropping it without [`Mailer::stop`] lets the thread deliver what is queued in the
/// background and end.
pub struct Mailer {
    tx: Sender<OutgoingMail>,
    shared: Arc<Shared>,
    capacity: usize,
    /// Dropped by the thread when it ends.
    done: Receiver<()>,
    thread: JoinHandle<()>,
    drain: Duration,
    smtp_timeout: Duration,
    describe: String,
}

/// What the request threads and the sender thread share.
#[derive(Default)]
struct Shared {
    /// Accepted and not finished; bounded by the capacity.
    pending: AtomicUsize,
    queued: AtomicU64,
    sent: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
    rejected: AtomicU64,
    /// Set by [`Mailer::stop`]: when the sender gives up on what is left.
    deadline: OnceLock<Instant>,
}

impl Shared {
    /// Counts `n` mails as finished (sent or failed).
    fn finish(&self, n: usize) {
        self.pending.fetch_sub(n, Ordering::AcqRel);
    }
}

impl Mailer {
    /// Checks the settings (the SMTP URL with lettre, the `From:` mailbox), creates the
    /// mail directory if mail goes to files, and starts the sender thread. It does not
    /// connect to the SMTP server: an unreachable server shows as failed attempts.
    pub fn start(settings: MailSettings) -> Result<Mailer, MailError> {
        let from: Mailbox = settings.from.parse().map_err(|source| MailError::From {
            from: settings.from.clone(),
            source,
        })?;
        let delivery = Delivery::open(&settings.transport, settings.smtp_timeout)?;
        let describe = delivery.describe();
        let capacity = settings.queue.max(1);
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let (done_tx, done) = crossbeam_channel::bounded::<()>(0);
        let shared = Arc::new(Shared::default());
        let worker = Worker {
            rx,
            delivery,
            from,
            shared: Arc::clone(&shared),
            attempts: settings.attempts.max(1),
            backoff: settings.backoff,
            retries: BinaryHeap::new(),
            seq: 0,
        };
        let thread = thread::Builder::new()
            .name("mail-sender".to_owned())
            .spawn(move || {
                let _done = done_tx;
                worker.run();
            })
            .map_err(MailError::Thread)?;
        log::info!("mail: sending to {describe} (queue {capacity})");
        Ok(Mailer {
            tx,
            shared,
            capacity,
            done,
            thread,
            drain: settings.drain,
            smtp_timeout: settings.smtp_timeout,
            describe,
        })
    }

    /// Queues `mail` for delivery and returns at once; it never blocks. When `queue`
    /// mails are already in the mailer the mail is refused with [`QueueFull`] (the
    /// gateway answers `503 server_busy`).
    pub fn send(&self, mail: OutgoingMail) -> Result<(), QueueFull> {
        let before = self.shared.pending.fetch_add(1, Ordering::AcqRel);
        if before >= self.capacity {
            self.shared.finish(1);
            self.shared.rejected.fetch_add(1, Ordering::Relaxed);
            return Err(QueueFull);
        }
        match self.tx.try_send(mail) {
            Ok(()) => {
                self.shared.queued.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                if let TrySendError::Disconnected(_) = e {
                    log::error!(
                        "mail: the sender thread is gone; mail to {} refused",
                        e.into_inner().to
                    );
                }
                self.shared.finish(1);
                self.shared.rejected.fetch_add(1, Ordering::Relaxed);
                Err(QueueFull)
            }
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> MailStats {
        self.shared.stats()
    }

    /// Stops taking mail and delivers what is queued, for at most the `drain` setting;
    /// what is left then counts as failed. Returns within about `drain + smtp_timeout +
    /// 1 s` even when a server hangs (the thread is then left to end by itself), with the
    /// final counters.
    pub fn stop(self) -> MailStats {
        let Mailer {
            tx,
            shared,
            done,
            thread,
            drain,
            smtp_timeout,
            describe,
            ..
        } = self;
        let started = Instant::now();
        // Set before the channel closes, so the thread sees it once it finds the channel
        // closed.
        let _ = shared.deadline.set(started + drain);
        drop(tx);
        let limit = drain + smtp_timeout + Duration::from_secs(1);
        match done.recv_timeout(limit) {
            Err(RecvTimeoutError::Disconnected) | Ok(()) => {
                if thread.join().is_err() {
                    log::error!("mail: the sender thread panicked");
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                log::warn!(
                    "mail: sender to {describe} still busy after {:?}; leaving it to end by itself",
                    started.elapsed()
                );
            }
        }
        let stats = shared.stats();
        log::info!(
            "mail: stopped; sent {}, failed {}, pending {}",
            stats.sent,
            stats.failed,
            stats.pending
        );
        stats
    }
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("to", &self.describe)
            .field("capacity", &self.capacity)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Shared {
    fn stats(&self) -> MailStats {
        MailStats {
            queued: self.queued.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
            pending: self.pending.load(Ordering::Acquire) as u64,
        }
    }
}

/// One mail on its way: the built message and how many attempts it has had.
struct Job {
    to: String,
    message: Message,
    /// Attempts made so far.
    attempts: u32,
}

/// A job waiting for its next attempt; the heap pops the earliest `due` first.
struct Retry {
    due: Instant,
    seq: u64,
    job: Job,
}

impl PartialEq for Retry {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}

impl Eq for Retry {}

impl PartialOrd for Retry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Retry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: BinaryHeap is a max-heap and the earliest is wanted first.
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

/// The sender thread's state.
struct Worker {
    rx: Receiver<OutgoingMail>,
    delivery: Delivery,
    from: Mailbox,
    shared: Arc<Shared>,
    attempts: u32,
    backoff: Duration,
    retries: BinaryHeap<Retry>,
    seq: u64,
}

impl Worker {
    /// Delivers until the channel is closed and empty and no retry is left, or the stop
    /// deadline has passed.
    fn run(mut self) {
        let mut open = true;
        loop {
            let now = Instant::now();
            let deadline = self.shared.deadline.get().copied();
            let next_due = self.retries.peek().map(|r| r.due);
            if let Some(deadline) = deadline {
                // Past the deadline, or the next retry would come after it: give up now.
                if now >= deadline || (!open && next_due.is_some_and(|due| due > deadline)) {
                    self.abandon();
                    return;
                }
            }
            if next_due.is_some_and(|due| due <= now) {
                if let Some(retry) = self.retries.pop() {
                    self.attempt(retry.job);
                }
                continue;
            }
            if !open {
                match next_due {
                    None => return,
                    Some(due) => {
                        thread::sleep(due.saturating_duration_since(now));
                        continue;
                    }
                }
            }
            let wake = match (next_due, deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let received = match wake {
                Some(wake) => self.rx.recv_deadline(wake),
                None => self.rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match received {
                Ok(mail) => self.take(mail),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => open = false,
            }
        }
    }

    /// A new mail from the queue: build its message and make the first attempt.
    fn take(&mut self, mail: OutgoingMail) {
        match build_message(&self.from, &mail) {
            Ok(message) => self.attempt(Job {
                to: mail.to,
                message,
                attempts: 0,
            }),
            Err(e) => {
                log::error!("mail to {:?}: not sent: {e}", mail.to);
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                self.shared.finish(1);
            }
        }
    }

    /// One attempt at `job`: sent, failed for good, or scheduled again.
    fn attempt(&mut self, mut job: Job) {
        job.attempts += 1;
        let result = catch_unwind(AssertUnwindSafe(|| self.delivery.deliver(&job.message)));
        let error = match result {
            Ok(Ok(())) => {
                log::info!("mail to {}: sent (attempt {})", job.to, job.attempts);
                self.shared.sent.fetch_add(1, Ordering::Relaxed);
                self.shared.finish(1);
                return;
            }
            Ok(Err(e)) => e,
            Err(_) => {
                log::error!("mail to {}: delivery panicked; giving up", job.to);
                self.shared.failed.fetch_add(1, Ordering::Relaxed);
                self.shared.finish(1);
                return;
            }
        };
        if error.is_permanent() || job.attempts >= self.attempts {
            self.give_up(&job, &error);
            return;
        }
        let delay = self.delay_after(job.attempts);
        log::warn!(
            "mail to {}: attempt {}/{} failed: {error}; next in {delay:?}",
            job.to,
            job.attempts,
            self.attempts
        );
        self.shared.retried.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let due = now.checked_add(delay).unwrap_or(now);
        self.seq += 1;
        self.retries.push(Retry {
            due,
            seq: self.seq,
            job,
        });
    }

    /// The wait after the `attempts`-th failed attempt: `backoff`, doubling each time, at
    /// most [`MAX_BACKOFF`].
    fn delay_after(&self, attempts: u32) -> Duration {
        let factor = 1u32 << attempts.saturating_sub(1).min(20);
        self.backoff.saturating_mul(factor).min(MAX_BACKOFF)
    }

    fn give_up(&self, job: &Job, error: &DeliverError) {
        let why = if error.is_permanent() {
            "refused for good"
        } else {
            "every attempt failed"
        };
        log::error!(
            "mail to {}: not sent after {} attempt(s), {why}: {error}",
            job.to,
            job.attempts
        );
        self.shared.failed.fetch_add(1, Ordering::Relaxed);
        self.shared.finish(1);
    }

    /// The stop deadline has passed: what is still queued or waiting counts as failed.
    fn abandon(&mut self) {
        let waiting = self.retries.len();
        let queued = self.rx.try_iter().count();
        let left = waiting + queued;
        if left > 0 {
            log::error!(
                "mail: stopping with {left} mail(s) not sent ({waiting} waiting for a retry)"
            );
            self.shared.failed.fetch_add(left as u64, Ordering::Relaxed);
            self.shared.finish(left);
        }
        self.retries.clear();
    }
}
