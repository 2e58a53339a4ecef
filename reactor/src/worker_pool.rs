//! The worker pool: fixed threads that run the application's [`Handler`] callbacks.
//!
//! Sub-reactors put events into connection mailboxes ([`WorkerPool::dispatch`]); a
//! mailbox with work sits once in the run queue (`run_queue`); a worker takes it, runs up to
//! `BATCH` of its events in order, then puts it back if more are waiting (so one busy
//! connection cannot starve the others).
//!
//! Bound and back-pressure: `queued_events` counts events dispatched and not yet
//! handled. At `capacity` the sub-reactors stop reading sockets (data waits in the
//! kernel, and TCP flow control slows the peers); when workers bring it down to half,
//! they wake the reactors, which resume reading. A reactor may overshoot by the frames
//! of the one read that found the pool full. The run queue holds each connection at
//! most once, so it is bounded by the number of connections.
//!
//! A panicking callback is caught and logged; its connection is closed, the worker lives.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::counters::Counters;
use crate::handle::ConnHandle;
use crate::handler::Handler;
use crate::mailbox::{Event, Mailbox};
use crate::notifier::{Notice, Notifier};
use crate::run_queue::RunQueue;

/// Events handled from one mailbox before it goes to the back of the run queue.
const BATCH: usize = 32;

pub(crate) enum Job<S> {
    Run(Arc<Mailbox<S>>),
    Stop,
}

/// State shared by the reactors (producers) and the workers (consumers).
pub(crate) struct WorkerPool<H: Handler> {
    handler: Arc<H>,
    jobs: RunQueue<Job<H::Session>>,
    counters: Arc<Counters>,
    capacity: usize,
    /// Some reactor paused reading because the pool was full.
    reactors_paused: AtomicBool,
    reactors: Vec<Arc<Notifier>>,
}

impl<H: Handler> WorkerPool<H> {
    pub(crate) fn new(
        handler: Arc<H>,
        counters: Arc<Counters>,
        capacity: usize,
        reactors: Vec<Arc<Notifier>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            handler,
            jobs: RunQueue::new(),
            counters,
            capacity: capacity.max(1),
            reactors_paused: AtomicBool::new(false),
            reactors,
        })
    }

    /// Events dispatched and not yet handled.
    pub(crate) fn queued(&self) -> usize {
        self.counters.queued_events.load(Ordering::SeqCst)
    }

    /// True when reactors should stop reading.
    pub(crate) fn is_full(&self) -> bool {
        self.queued() >= self.capacity
    }

    /// A reactor paused reading; returns true if the pool drained meanwhile and the
    /// reactor should resume at once (it would otherwise miss the wake-up).
    pub(crate) fn reactor_paused(&self) -> bool {
        self.reactors_paused.store(true, Ordering::SeqCst);
        self.queued() <= self.capacity / 2
    }

    /// Queues one event for a connection.
    pub(crate) fn dispatch(&self, mailbox: &Arc<Mailbox<H::Session>>, event: Event) {
        self.dispatch_all(mailbox, std::iter::once(event), 1);
    }

    /// Queues `count` events for a connection under one lock (the frames of one read).
    pub(crate) fn dispatch_all(
        &self,
        mailbox: &Arc<Mailbox<H::Session>>,
        events: impl IntoIterator<Item = Event>,
        count: usize,
    ) {
        if count == 0 {
            return;
        }
        self.counters
            .queued_events
            .fetch_add(count, Ordering::SeqCst);
        let schedule = {
            let mut queue = mailbox.queue.lock();
            queue.events.extend(events);
            !std::mem::replace(&mut queue.scheduled, true)
        };
        if schedule {
            self.schedule(Arc::clone(mailbox));
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
        // callbacks run, so no other worker can take it meanwhile.
        let batch: Vec<Event> = {
            let mut queue = mailbox.queue.lock();
            let n = queue.events.len().min(BATCH);
            queue.events.drain(..n).collect()
        };
        let handled = batch.len();
        // Frames the callbacks send collect in the outbox and leave in one write below.
        crate::handle::cork(mailbox.conn.id());
        {
            let mut session = mailbox.session.lock();
            for event in batch {
                self.handle(&mailbox.conn, &mut session, event);
            }
        }
        crate::handle::uncork();
        mailbox.conn.shared().flush();
        self.events_done(handled);
        let more = {
            let mut queue = mailbox.queue.lock();
            if queue.events.is_empty() {
                queue.scheduled = false;
            }
            queue.scheduled
        };
        if more {
            self.schedule(mailbox); // to the back of the run queue: others get a turn
        }
    }

    fn handle(&self, conn: &ConnHandle, session: &mut Option<H::Session>, event: Event) {
        let handler = &*self.handler;
        let outcome = catch_unwind(AssertUnwindSafe(|| match event {
            Event::Connect => *session = Some(handler.on_connect(conn)),
            Event::Frame(frame) => {
                if let Some(s) = session.as_mut() {
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
            Event::Rejected => {
                handler.on_rejected(conn);
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
        let left = self.counters.queued_events.fetch_sub(n, Ordering::SeqCst) - n;
        if left <= self.capacity / 2
            && self.reactors_paused.load(Ordering::SeqCst)
            && self.reactors_paused.swap(false, Ordering::SeqCst)
        {
            for reactor in &self.reactors {
                reactor.notify(Notice::Resume);
            }
        }
    }
}
