//! [`ConnHandle`]: the cheap, cloneable, `Send` name of one connection, with which any
//! thread sends frames to it, sets its deadline or closes it.
//!
//! A handle points at the connection's shared half (`conn_shared`). A send encodes the
//! frame into the connection's outbox (`outbox`), counts it against the high-water mark,
//! and then either writes it through to the socket at once or, while a [`SendBatch`] is
//! open on the calling thread, leaves it for the batch to write (see the crate docs,
//! "Write path"). A handle to a closed connection only ever sees its own connection's
//! closed state (ids are never reused), and every send on it fails.
//! May touch: the connection's shared half, and the reactor's inbox through it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::clock;
use crate::close_reason::CloseReason;
use crate::codec::FrameError;
use crate::conn_id::ConnId;
use crate::conn_shared::{ConnShared, CLOSED, OPEN};
use crate::notice::Notice;
use crate::send_batch::{self, SendBatch};

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
        let mode = self.shared.mode.load(Ordering::Acquire);
        let codec = &self.shared.codec;
        self.queue(|out| codec.encode_in(mode, frame, out))
    }

    /// Queues `bytes` as they are, without the codec: bytes the application framed
    /// itself (an HTTP response, a WebSocket control frame). Otherwise as
    /// [`ConnHandle::try_send`].
    pub fn send_raw(&self, bytes: &[u8]) -> Result<(), SendError> {
        self.queue(|out| {
            out.extend_from_slice(bytes);
            Ok(())
        })
    }

    /// The connection's framing mode (see [`ConnHandle::set_mode`]).
    pub fn mode(&self) -> u8 {
        self.shared.mode.load(Ordering::Acquire)
    }

    /// Switches the framing the codec applies to this connection, both ways, to `mode`
    /// (see [`crate::Codec::decode_in`]): frames sent from now on are encoded in it, and
    /// input the reactor reads from now on is decoded in it. Switch before answering the
    /// request that asked for it, so that the peer's next bytes meet the new framing.
    pub fn set_mode(&self, mode: u8) {
        self.shared.mode.store(mode, Ordering::Release);
    }

    /// Appends one frame to the outbox with `write`, enforces the high-water mark, then
    /// holds the bytes for the open batch or flushes them.
    fn queue(
        &self,
        write: impl FnOnce(&mut Vec<u8>) -> Result<(), FrameError>,
    ) -> Result<(), SendError> {
        let shared = &self.shared;
        // The state is read under the outbox's lock: a close's farewell, appended under
        // it too, stays the last thing queued.
        let mut outbox = shared.outbox.lock();
        if shared.state() != OPEN {
            return Err(SendError::Closed);
        }
        let before = outbox.buf.len();
        write(&mut outbox.buf)?;
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
        if !send_batch::hold(shared, &mut outbox) || outbox.buf.len() >= SendBatch::LIMIT {
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
