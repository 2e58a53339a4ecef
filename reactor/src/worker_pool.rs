//! The worker pool: fixed threads that run the application's [`Handler`] callbacks.
//!
//! Sub-reactors put events into connection mailboxes ([`WorkerPool::dispatch`],
//! [`WorkerPool::dispatch_input`]); a mailbox with work sits once in the run queue
//! (`run_queue`); a worker takes it and runs its events in order for at most `BATCH`
//! events or `SLICE` of time, then puts it at the back of the run queue if more are
//! waiting. So a connection with a backlog holds at most one worker at a time and gets
//! its turn like every other connection; it never takes the whole pool.
//!
//! Bounds and back-pressure (see `backlog`):
//! * Per connection: `dispatch_input` decodes only while the connection's backlog has
//!   room, and reports when it reached its bound; the reactor then stops reading that
//!   connection. The worker that brings the backlog down to half sends the reactor a
//!   `Drained` notice and reading resumes.
//! * In total: `queued_events` and `queued_bytes` count what was dispatched and not yet
//!   handled. At either bound the reactors stop reading every connection (data waits in
//!   the kernel, and TCP flow control slows the peers); when workers bring both down to
//!   half, they wake the reactors. A reactor may overshoot by the frames of one read.
//! * A connection that is gone (its socket dropped, or the application closed it) has
//!   its waiting frames dropped, not run: their answers could not be sent anyway.
//!
//! The run queue holds each connection at most once, so it is bounded by the number of
//! connections. A panicking callback is caught and logged; its connection is closed,
//! the worker lives.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backlog::Backlog;
use crate::conn_shared::ReactorInbox;
use crate::counters::Counters;
use crate::handle::ConnHandle;
use crate::handler::Handler;
use crate::mailbox::{Event, Mailbox, Queue};
use crate::notice::Notice;
use crate::run_queue::RunQueue;
use crate::send_batch::SendBatch;
use parking_lot::MutexGuard;

/// Events handled from one mailbox before it goes to the back of the run queue.
const BATCH: usize = 32;
/// Time one mailbox may hold a worker before the others get their turn (checked between
/// callbacks: a callback that blocks longer still finishes).
const SLICE: Duration = Duration::from_millis(2);

pub(crate) enum Job<S> {
    Run(Arc<Mailbox<S>>),
    Stop,
}

/// The input bounds of a pool.
#[derive(Debug, Clone, Copy)]
pub(crate) struct InputLimits {
    /// What one connection may have waiting before its reactor stops reading it.
    pub(crate) per_conn: Backlog,
    /// What all connections together may have waiting before every reactor stops.
    pub(crate) total: Backlog,
}

/// A reactor thread running one connection's frames itself (see
/// [`WorkerPool::inline_turn`]).
pub(crate) struct InlineTurn<'a, H: Handler> {
    pool: &'a WorkerPool<H>,
    mailbox: &'a Mailbox<H::Session>,
    session: MutexGuard<'a, Option<H::Session>>,
}

impl<H: Handler> InlineTurn<'_, H> {
    /// Runs one frame the handler takes inline, or gives it back for a worker (see
    /// [`Handler::on_frame_inline`]). A panic is caught as on a worker.
    pub(crate) fn run(&mut self, frame: Vec<u8>) -> Result<(), Vec<u8>> {
        let conn = &self.mailbox.conn;
        // A connection that is gone or closing could not be answered: skip (as `handle`).
        let Some(session) = self.session.as_mut().filter(|_| conn.is_open()) else {
            return Ok(());
        };
        let handler = &*self.pool.handler;
        match catch_unwind(AssertUnwindSafe(|| {
            handler.on_frame_inline(conn, session, frame)
        })) {
            Ok(done) => done,
            Err(_) => {
                log::error!(
                    "handler panicked on connection {} ({}); closing it",
                    conn.id(),
                    conn.peer_addr()
                );
                conn.close();
                Ok(())
            }
        }
    }
}

impl<H: Handler> Drop for InlineTurn<'_, H> {
    fn drop(&mut self) {
        self.mailbox.queue.lock().scheduled = false;
    }
}

/// State shared by the reactors (producers) and the workers (consumers).
pub(crate) struct WorkerPool<H: Handler> {
    handler: Arc<H>,
    jobs: RunQueue<Job<H::Session>>,
    counters: Arc<Counters>,
    limits: InputLimits,
    /// Some reactor paused reading because the pool was full.
    reactors_paused: AtomicBool,
    reactors: Vec<Arc<ReactorInbox>>,
}

impl<H: Handler> WorkerPool<H> {
    pub(crate) fn new(
        handler: Arc<H>,
        counters: Arc<Counters>,
        limits: InputLimits,
        reactors: Vec<Arc<ReactorInbox>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            handler,
            jobs: RunQueue::new(),
            counters,
            limits,
            reactors_paused: AtomicBool::new(false),
            reactors,
        })
    }

    /// Events dispatched and not yet handled.
    pub(crate) fn queued(&self) -> usize {
        self.counters.queued_events.load(Ordering::SeqCst)
    }

    fn total(&self) -> Backlog {
        Backlog {
            frames: self.queued(),
            bytes: self.counters.queued_bytes.load(Ordering::SeqCst),
        }
    }

    /// True when reactors should stop reading.
    pub(crate) fn is_full(&self) -> bool {
        self.total().reaches(&self.limits.total)
    }

    /// A reactor paused reading; returns true if the pool drained meanwhile and the
    /// reactor should resume at once (it would otherwise miss the wake-up).
    pub(crate) fn reactor_paused(&self) -> bool {
        self.reactors_paused.store(true, Ordering::SeqCst);
        self.total().at_most_half(&self.limits.total)
    }

    /// Queues one event that is not a frame (connect, close, frame error, rejection).
    pub(crate) fn dispatch(&self, mailbox: &Arc<Mailbox<H::Session>>, event: Event) {
        self.counters.queued_events.fetch_add(1, Ordering::SeqCst);
        let schedule = {
            let mut queue = mailbox.queue.lock();
            queue.events.push_back(event);
            !std::mem::replace(&mut queue.scheduled, true)
        };
        if schedule {
            self.schedule(Arc::clone(mailbox));
        }
    }

    /// Queues a connection's input: `decode` is given the room left under the
    /// connection's bound and returns the frames it cut (stopping once their cost
    /// reaches the room). Runs under the mailbox's lock. Returns true when the backlog
    /// reached the bound: the caller stops reading the connection until a `Drained`
    /// notice.
    pub(crate) fn dispatch_input(
        &self,
        mailbox: &Arc<Mailbox<H::Session>>,
        decode: impl FnOnce(Backlog) -> (Vec<Event>, Backlog),
    ) -> bool {
        let (count, cost, full, schedule) = {
            let mut queue = mailbox.queue.lock();
            let room = queue.backlog.room_in(&self.limits.per_conn);
            let (frames, cost) = decode(room);
            let count = frames.len();
            queue.events.extend(frames);
            queue.backlog += cost;
            let full = queue.backlog.reaches(&self.limits.per_conn);
            queue.reading_paused |= full;
            let schedule = count > 0 && !std::mem::replace(&mut queue.scheduled, true);
            (count, cost, full, schedule)
        };
        if count > 0 {
            self.counters
                .queued_bytes
                .fetch_add(cost.bytes, Ordering::SeqCst);
            self.counters
                .queued_events
                .fetch_add(count, Ordering::SeqCst);
        }
        if schedule {
            self.schedule(Arc::clone(mailbox));
        }
        full
    }

    /// Whether the handler takes `frame` of `mailbox`'s connection inline
    /// ([`Handler::inline`]).
    pub(crate) fn takes_inline(&self, mailbox: &Mailbox<H::Session>, frame: &[u8]) -> bool {
        self.handler.inline(&mailbox.conn, frame)
    }

    /// A turn of the calling reactor thread at `mailbox`'s callbacks, if none of its
    /// events waits for or is held by a worker (so they still run one at a time, in
    /// order): the mailbox stays marked scheduled, keeping workers off it, until the
    /// turn ends. Only this reactor adds events to the mailbox, so none arrive meanwhile.
    pub(crate) fn inline_turn<'a>(
        &'a self,
        mailbox: &'a Mailbox<H::Session>,
    ) -> Option<InlineTurn<'a, H>> {
        {
            let mut queue = mailbox.queue.lock();
            if queue.scheduled || !queue.events.is_empty() {
                return None;
            }
            queue.scheduled = true;
        }
        match mailbox.session.try_lock() {
            Some(session) => Some(InlineTurn {
                pool: self,
                mailbox,
                session,
            }),
            // A worker that has just finished the mailbox still holds it.
            None => {
                mailbox.queue.lock().scheduled = false;
                None
            }
        }
    }

    /// Drops the frames still waiting in a connection's mailbox (the connection is
    /// gone); its other events (connect, close) stay and run. Frames a worker has taken
    /// already are skipped when their turn comes (see `handle`).
    pub(crate) fn discard_frames(&self, mailbox: &Mailbox<H::Session>) {
        let (dropped, cost) = {
            let mut queue = mailbox.queue.lock();
            let before = queue.events.len();
            let mut cost = Backlog::default();
            queue.events.retain(|e| {
                cost += e.cost();
                !matches!(e, Event::Frame(_))
            });
            queue.backlog -= cost;
            (before - queue.events.len(), cost)
        };
        if dropped > 0 {
            self.counters
                .queued_bytes
                .fetch_sub(cost.bytes, Ordering::SeqCst);
            self.events_done(dropped);
        }
    }

    fn schedule(&self, mailbox: Arc<Mailbox<H::Session>>) {
        self.jobs.push(Job::Run(mailbox));
    }

    /// Asks `n` workers to exit once they reach this point of the run queue.
    pub(crate) fn stop_workers(&self, n: usize) {
        for _ in 0..n {
            self.jobs.push(Job::Stop);
        }
    }

    /// A worker thread's loop.
    pub(crate) fn run_worker(&self) {
        while let Job::Run(mailbox) = self.jobs.pop() {
            self.run_mailbox(mailbox);
        }
    }

    fn run_mailbox(&self, mailbox: Arc<Mailbox<H::Session>>) {
        // Take up to a batch under one lock. The mailbox stays `scheduled` while its
        // callbacks run, so no other worker can take it meanwhile. The batch stays
        // charged to the backlog until it has been handled.
        let batch: Vec<Event> = {
            let mut queue = mailbox.queue.lock();
            let n = queue.events.len().min(BATCH);
            queue.events.drain(..n).collect()
        };
        // What the callbacks send leaves when the batch ends: one write per connection.
        let sends = SendBatch::begin();
        let started = Instant::now();
        let mut handled = 0;
        let mut done = Backlog::default();
        let mut events = batch.into_iter();
        {
            let mut session = mailbox.session.lock();
            for event in events.by_ref() {
                done += event.cost();
                self.handle(&mailbox.conn, &mut session, event);
                handled += 1;
                if started.elapsed() >= SLICE {
                    break;
                }
            }
        }
        drop(sends);
        let more = {
            let mut queue = mailbox.queue.lock();
            self.uncharge(&mailbox, &mut queue, done);
            // Put back what the time slice did not reach, in order, at the front.
            for event in events.rev() {
                queue.events.push_front(event);
            }
            if queue.events.is_empty() {
                queue.scheduled = false;
            }
            queue.scheduled
        };
        self.events_done(handled);
        if more {
            self.schedule(mailbox); // to the back of the run queue: others get a turn
        }
    }

    /// Takes `cost` off the connection's and the pool's backlog (called with the
    /// mailbox's queue locked); resumes reading the connection once it is at half.
    fn uncharge(&self, mailbox: &Mailbox<H::Session>, queue: &mut Queue, cost: Backlog) {
        queue.backlog -= cost;
        self.counters
            .queued_bytes
            .fetch_sub(cost.bytes, Ordering::SeqCst);
        if queue.reading_paused && queue.backlog.at_most_half(&self.limits.per_conn) {
            queue.reading_paused = false;
            let shared = mailbox.conn.shared();
            shared.notifier.notify(Notice::Drained(Arc::clone(shared)));
        }
    }

    fn handle(&self, conn: &ConnHandle, session: &mut Option<H::Session>, event: Event) {
        let handler = &*self.handler;
        let outcome = catch_unwind(AssertUnwindSafe(|| match event {
            Event::Connect => *session = Some(handler.on_connect(conn)),
            Event::Frame(frame) => {
                // A connection that is gone or closing could not be answered: skip.
                if let (Some(s), true) = (session.as_mut(), conn.is_open()) {
                    handler.on_frame(conn, s, frame);
                }
            }
            Event::FrameError(e) => {
                if let Some(s) = session.as_mut() {
                    handler.on_frame_error(conn, s, &e);
                }
            }
            Event::Close(reason) => {
                if let Some(s) = session.take() {
                    handler.on_close(conn, s, &reason);
                }
                // The application is done with the connection: flush and release it.
                conn.close();
            }
            Event::Rejected(why) => {
                handler.on_rejected(conn, why);
                conn.close();
            }
        }));
        if outcome.is_err() {
            log::error!(
                "handler panicked on connection {} ({}); closing it",
                conn.id(),
                conn.peer_addr()
            );
            conn.close();
        }
    }

    fn events_done(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.counters.queued_events.fetch_sub(n, Ordering::SeqCst);
        if self.reactors_paused.load(Ordering::SeqCst)
            && self.total().at_most_half(&self.limits.total)
            && self.reactors_paused.swap(false, Ordering::SeqCst)
        {
            for reactor in &self.reactors {
                reactor.notify(Notice::Resume);
            }
        }
    }
}
