//! How other threads talk to a sub-reactor: a queue of [`Notice`]s plus a `mio::Waker`.
//!
//! Any thread may push; only the owning reactor drains. Wake-ups are coalesced: the
//! waker's eventfd is written only when the reactor has not already been woken since
//! its last drain, so a burst of sends costs one syscall.
//!
//! Bound: the queue holds at most a few notices per live connection (flush notices are
//! deduplicated by a per-connection flag, a re-arm is sent only when a deadline moves
//! earlier, a drained notice only after the reactor paused the connection) plus new
//! connections, which the acceptor limits with `max_connections`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::handle::ConnShared;
use crate::handler::{CloseReason, Rejection};
use crate::source_limit::SourceTicket;

/// How a new socket came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Accepted by the listener.
    Accepted,
    /// Accepted but turned away: only `on_rejected` runs, then it closes.
    Rejected(Rejection),
    /// Started by `Server::connect`; the connection completes asynchronously.
    Connecting,
}

/// A request for a sub-reactor.
pub(crate) enum Notice {
    /// Take ownership of a new socket.
    Register {
        stream: Arc<mio::net::TcpStream>,
        shared: Arc<ConnShared>,
        origin: Origin,
        /// Its place in the per-source count, held while the connection lives.
        ticket: Option<SourceTicket>,
    },
    /// Output was queued on an idle connection.
    Flush(Arc<ConnShared>),
    /// The connection's deadline moved earlier.
    Rearm(Arc<ConnShared>),
    /// The application asked to close after flushing.
    Close(Arc<ConnShared>),
    /// Close at once (output overflow).
    Abort(Arc<ConnShared>, CloseReason),
    /// The worker pool has room again: resume reading paused connections.
    Resume,
    /// This connection's backlog came down to half its bound: resume reading it.
    Drained(Arc<ConnShared>),
    /// Stop: flush what can be flushed, close every connection and exit.
    Shutdown,
}

/// The inbox of one sub-reactor.
pub(crate) struct Notifier {
    queue: Mutex<Vec<Notice>>,
    waker: mio::Waker,
    woken: AtomicBool,
}

impl Notifier {
    pub(crate) fn new(waker: mio::Waker) -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            waker,
            woken: AtomicBool::new(false),
        }
    }

    /// Queues a notice and wakes the reactor if it is not awake already.
    pub(crate) fn notify(&self, notice: Notice) {
        self.queue.lock().push(notice);
        if !self.woken.swap(true, Ordering::AcqRel) {
            if let Err(e) = self.waker.wake() {
                log::error!("failed to wake a sub-reactor: {e}");
            }
        }
    }

    /// Moves every queued notice into `into` (the reactor's own reusable vector).
    pub(crate) fn drain_into(&self, into: &mut Vec<Notice>) {
        // Clear the flag first: a notice pushed after this point wakes the reactor again.
        self.woken.store(false, Ordering::Release);
        std::mem::swap(&mut *self.queue.lock(), into);
    }
}
