//! How other threads reach a sub-reactor: a queue of notices plus a `mio::Waker`.
//!
//! Any thread may push; only the owning reactor drains. Wake-ups are coalesced: the
//! waker's eventfd is written only when the reactor has not already been woken since
//! its last drain, so a burst of sends costs one syscall.
//!
//! Bound: the queue holds at most a few notices per live connection (flush notices are
//! deduplicated by a per-connection flag, a re-arm is sent only when a deadline moves
//! earlier, a drained notice only after the reactor paused the connection) plus new
//! connections, which the acceptor limits with `max_connections`.
//! May touch: its own queue and waker.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;

/// The inbox of one sub-reactor, for items of type `T` (the reactor's notices).
pub(crate) struct Notifier<T> {
    queue: Mutex<Vec<T>>,
    waker: mio::Waker,
    woken: AtomicBool,
}

impl<T> Notifier<T> {
    pub(crate) fn new(waker: mio::Waker) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            waker,
            woken: AtomicBool::new(false),
        }
    }

    /// Queues an item and wakes the reactor if it is not awake already.
    pub(crate) fn notify(&self, item: T) {
        self.queue.lock().push(item);
        if !self.woken.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                log::error!("failed to wake a sub-reactor: {e}");
            }
        }
    }

    /// Moves every queued item into `into` (the reactor's own reusable vector).
    pub(crate) fn drain_into(&self, into: &mut Vec<T>) {
        // Clear the flag first: an item pushed after this point wakes the reactor again.
        self.woken.store(false, Ordering::Release);
        std::mem::swap(&mut *self.queue.lock(), into);
    }
}
