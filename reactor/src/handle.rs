//! [`ConnHandle`]: the cheap, cloneable, `Send` name of one connection, with which any
//! thread sends frames to it, sets its deadline or closes it.
//!
//! A handle points at the connection's shared half ([`ConnShared`]): the outbox where
//! senders append encoded frames, the byte count that enforces the high-water mark, the
//! close state and the deadline. Connection ids come from one process-wide counter and
//! are never reused, so a handle to a closed connection can never reach a newer one: it
//! only ever sees its own connection's `Closed` state, and every send on it returns false.
//!
//! Write-through: while the socket has nothing queued, a send writes to it at once from
//! the sending thread (one non-blocking `write`, under the outbox lock, so frames never
//! interleave). Only when the socket pushes back (a partial write) does the owning
//! sub-reactor take over, writing on writable readiness until the outbox is empty again.
//! Sends made by the worker running a connection's callbacks are *corked*: they collect
//! in the outbox and leave in one `write` when the worker finishes that connection's
//! batch of events. Either way a frame's header and body leave in the same `write`.
//! The descriptor belongs to the reactor: when it drops the connection it takes the
//! socket out of the outbox under the lock, so no send can touch a closed descriptor.

use std::cell::Cell;
use std::fmt;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock;
use crate::codec::{Codec, FrameError};
use crate::counters::Counters;
use crate::handler::CloseReason;
use crate::notifier::{Notice, Notifier};

/// A connection's id: unique for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Why a frame was not queued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection is closed or closing.
    #[error("connection is closed")]
    Closed,
    /// The codec refused the frame (too large or empty); nothing was queued.
    #[error("frame rejected by the codec: {0}")]
    Frame(#[from] FrameError),
    /// Queuing the frame would pass the high-water mark; the connection is being closed.
    #[error("output overflow: {queued} bytes would be queued, limit {limit}")]
    Overflow {
        /// Bytes that would have been queued.
        queued: usize,
        /// The high-water mark.
        limit: usize,
    },
}

pub(crate) const OPEN: u8 = 0;
pub(crate) const CLOSING: u8 = 1;
pub(crate) const CLOSED: u8 = 2;

/// Frames queued by senders, and the socket they may be written to directly.
pub(crate) struct Outbox {
    pub(crate) buf: Vec<u8>,
    /// A `Flush` notice is on its way to the reactor; no need to send another.
    pub(crate) flush_scheduled: bool,
    /// The reactor owns the output (it holds unwritten bytes, the connection is still
    /// being established, or it is closed): senders queue behind it instead of writing.
    pub(crate) reactor_writes: bool,
    /// The socket, for write-through; `None` once the reactor dropped the connection.
    pub(crate) stream: Option<Arc<mio::net::TcpStream>>,
    /// A [`crate::SendBatch`] open on some thread holds this outbox's frames and will
    /// flush it.
    pub(crate) held: bool,
}

/// Corked bytes are written anyway past this, so a callback that sends a lot streams it.
const CORK_LIMIT: usize = 64 * 1024;

thread_local! {
    /// The connection whose callbacks this (worker) thread is running, if any.
    static CORKED: Cell<u64> = const { Cell::new(0) };
}

/// Marks the calling thread as running `id`'s callbacks: its sends to `id` are corked.
pub(crate) fn cork(id: ConnId) {
    CORKED.with(|c| c.set(id.0));
}

/// Ends the cork; the caller then flushes the connection with [`ConnShared::flush`].
pub(crate) fn uncork() {
    CORKED.with(|c| c.set(0));
}

/// The half of a connection shared between its reactor and every handle.
pub(crate) struct ConnShared {
    pub(crate) id: ConnId,
    pub(crate) peer: SocketAddr,
    /// The reactor's slab key, set once when the reactor registers the socket.
    pub(crate) slot: AtomicUsize,
    pub(crate) notifier: Arc<Notifier>,
    pub(crate) codec: Arc<dyn Codec>,
    pub(crate) high_water: usize,
    pub(crate) outbox: Mutex<Outbox>,
    /// Bytes queued and not yet written: outbox plus the reactor's unwritten tail.
    pub(crate) queued: AtomicUsize,
    pub(crate) state: AtomicU8,
    /// Engine-clock deadline in ms; 0 when none.
    pub(crate) deadline: AtomicU64,
    pub(crate) counters: Arc<Counters>,
}

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

impl ConnShared {
    pub(crate) fn new(
        peer: SocketAddr,
        stream: Arc<mio::net::TcpStream>,
        connecting: bool,
        notifier: Arc<Notifier>,
        codec: Arc<dyn Codec>,
        high_water: usize,
        counters: Arc<Counters>,
    ) -> Arc<Self> {
        Arc::new(Self {
            id: ConnId(NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed)),
            peer,
            slot: AtomicUsize::new(usize::MAX),
            notifier,
            codec,
            high_water,
            outbox: Mutex::new(Outbox {
                buf: Vec::new(),
                flush_scheduled: false,
                reactor_writes: connecting,
                stream: Some(stream),
                held: false,
            }),
            queued: AtomicUsize::new(0),
            state: AtomicU8::new(OPEN),
            deadline: AtomicU64::new(0),
            counters,
        })
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Writes what the outbox holds: straight to the socket when the reactor is not
    /// writing, else by asking the reactor. Called with the outbox locked.
    pub(crate) fn flush_locked(self: &Arc<Self>, outbox: &mut Outbox) {
        if outbox.buf.is_empty() {
            return;
        }
        if !outbox.reactor_writes {
            if let Some(stream) = &outbox.stream {
                // On WouldBlock or Interrupted the reactor waits for writability and
                // retries; any other error it meets again on its own write, and closes.
                if let Ok(n) = (&**stream).write(&outbox.buf) {
                    self.queued.fetch_sub(n, Ordering::AcqRel);
                    self.counters.wrote(n);
                    if n == outbox.buf.len() {
                        outbox.buf.clear();
                        return;
                    }
                    outbox.buf.drain(..n);
                }
            }
            outbox.reactor_writes = true;
        }
        if !outbox.flush_scheduled {
            outbox.flush_scheduled = true;
            self.notifier.notify(Notice::Flush(Arc::clone(self)));
        }
    }

    /// Flushes frames corked while a worker ran this connection's callbacks.
    pub(crate) fn flush(self: &Arc<Self>) {
        let mut outbox = self.outbox.lock();
        self.flush_locked(&mut outbox);
    }

    /// Asks the reactor to flush and close. Returns false if already closing or closed.
    pub(crate) fn request_close(self: &Arc<Self>) -> bool {
        let asked = self
            .state
            .compare_exchange(OPEN, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if asked {
            self.notifier.notify(Notice::Close(Arc::clone(self)));
        }
        asked
    }
}

/// The name of one connection, usable from any thread. Cloning is an atomic increment.
#[derive(Clone)]
pub struct ConnHandle {
    shared: Arc<ConnShared>,
}

impl fmt::Debug for ConnHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnHandle")
            .field("id", &self.shared.id)
            .field("peer", &self.shared.peer)
            .field("open", &self.is_open())
            .finish()
    }
}

impl ConnHandle {
    pub(crate) fn new(shared: Arc<ConnShared>) -> Self {
        Self { shared }
    }

    pub(crate) fn shared(&self) -> &Arc<ConnShared> {
        &self.shared
    }

    /// The connection's process-unique id.
    pub fn id(&self) -> ConnId {
        self.shared.id
    }

    /// The remote address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.peer
    }

    /// True until the connection starts closing.
    pub fn is_open(&self) -> bool {
        self.shared.state() == OPEN
    }

    /// Bytes queued for this connection and not yet written to the socket.
    pub fn queued_bytes(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// Queues one frame; false if it was not queued (see [`ConnHandle::try_send`]).
    pub fn send(&self, frame: &[u8]) -> bool {
        self.try_send(frame).is_ok()
    }

    /// Queues one frame for the connection. Frames sent from one thread leave in the
    /// order they were sent; frames from different threads never interleave their bytes.
    /// Passing the high-water mark closes the connection with
    /// [`CloseReason::OutputOverflow`] and drops the frame.
    pub fn try_send(&self, frame: &[u8]) -> Result<(), SendError> {
        let shared = &self.shared;
        if shared.state() != OPEN {
            return Err(SendError::Closed);
        }
        let mut outbox = shared.outbox.lock();
        let before = outbox.buf.len();
        shared.codec.encode(frame, &mut outbox.buf)?;
        let added = outbox.buf.len() - before;
        let queued = shared.queued.fetch_add(added, Ordering::AcqRel) + added;
        if queued > shared.high_water {
            outbox.buf.truncate(before);
            shared.queued.fetch_sub(added, Ordering::AcqRel);
            drop(outbox);
            let limit = shared.high_water;
            if shared.state.swap(CLOSED, Ordering::AcqRel) != CLOSED {
                let reason = CloseReason::OutputOverflow { queued, limit };
                shared
                    .notifier
                    .notify(Notice::Abort(Arc::clone(shared), reason));
            }
            return Err(SendError::Overflow { queued, limit });
        }
        shared.counters.frame_out();
        let held =
            CORKED.with(Cell::get) == shared.id.0 || crate::send_batch::hold(shared, &mut outbox);
        if !held || outbox.buf.len() >= CORK_LIMIT {
            shared.flush_locked(&mut outbox);
        }
        Ok(())
    }

    /// Closes the connection once everything queued so far has been written. The
    /// application's `on_close` runs with [`CloseReason::Local`] unless it already ran.
    pub fn close(&self) {
        self.shared.request_close();
    }

    /// Closes the connection with [`CloseReason::DeadlineExpired`] unless the deadline is
    /// moved or cleared within `after`. Setting it again replaces the previous one.
    pub fn set_deadline(&self, after: Duration) {
        self.set_deadline_at(clock::after(after));
    }

    /// Removes the deadline.
    pub fn clear_deadline(&self) {
        self.shared.deadline.store(0, Ordering::Release);
    }

    fn set_deadline_at(&self, at: u64) {
        let shared = &self.shared;
        if shared.state() != OPEN {
            return;
        }
        let previous = shared.deadline.swap(at, Ordering::AcqRel);
        // A later deadline needs no notice: the reactor's heap entry for the earlier one
        // fires, finds the later value and re-arms itself.
        if previous == 0 || at < previous {
            shared.notifier.notify(Notice::Rearm(Arc::clone(shared)));
        }
    }
}
