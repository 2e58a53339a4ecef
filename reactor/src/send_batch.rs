//! [`SendBatch`]: hold back one thread's sends, then write each connection once. The
//! engine's one corking mechanism.
//!
//! A thread that sends many frames (a worker running a connection's requests, a
//! broadcaster, a chat server's delivery thread) would pay one `send` system call per
//! frame if every [`ConnHandle::send`](crate::ConnHandle::send) wrote through to its
//! socket. While a `SendBatch` lives on the thread, sends are only queued in each
//! connection's outbox; when it is dropped every connection it touched is flushed once,
//! so all the frames a connection got in the batch leave in one write. Every worker runs
//! each turn of callbacks inside one, so a handler's answers and pushes are batched
//! without it doing anything.
//!
//! Bounds: a connection's held bytes are written anyway once they pass
//! [`SendBatch::LIMIT`], and every send still counts against the connection's high-water
//! mark. Frames keep their order per connection.
//! May touch: the outboxes of connections sent to on this thread; nothing else.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::conn_shared::ConnShared;
use crate::outbox::Outbox;

thread_local! {
    /// Connections with held frames, while a batch is open on this thread.
    static HELD: RefCell<Option<Vec<Arc<ConnShared>>>> = const { RefCell::new(None) };
    /// The list of the last batch, emptied, kept for the next one: every worker turn opens
    /// a batch, and this saves it an allocation.
    static SPARE: RefCell<Vec<Arc<ConnShared>>> = const { RefCell::new(Vec::new()) };
}

/// Lists longer than this are not kept for reuse (a fan-out to very many connections
/// should not pin its list's memory on the thread).
const SPARE_MAX: usize = 1024;

/// Holds this thread's sends until dropped (see the module docs). Opening a batch while
/// one is open on the thread joins the outer one.
#[must_use = "sends are held only while the SendBatch lives"]
pub struct SendBatch {
    /// Whether this guard opened the batch (an inner one leaves flushing to the outer).
    owner: bool,
    /// Bound to the thread whose sends it holds.
    _not_send: PhantomData<*const ()>,
}

impl SendBatch {
    /// Held bytes past which a connection is written anyway, so that a thread that
    /// sends a lot to one connection streams it.
    pub const LIMIT: usize = 64 * 1024;

    /// Opens a batch on the calling thread.
    pub fn begin() -> SendBatch {
        let owner = HELD.with(|held| {
            let mut held = held.borrow_mut();
            if held.is_some() {
                false
            } else {
                *held = Some(SPARE.with(|spare| std::mem::take(&mut *spare.borrow_mut())));
                true
            }
        });
        SendBatch {
            owner,
            _not_send: PhantomData,
        }
    }
}

impl Drop for SendBatch {
    fn drop(&mut self) {
        if !self.owner {
            return;
        }
        let mut held = HELD
            .with(|held| held.borrow_mut().take())
            .unwrap_or_default();
        for shared in held.drain(..) {
            let mut outbox = shared.outbox.lock();
            outbox.held = false;
            shared.flush_locked(&mut outbox);
        }
        if held.capacity() <= SPARE_MAX {
            SPARE.with(|spare| *spare.borrow_mut() = held);
        }
    }
}

/// Called by a send with the outbox locked: true when a batch is open on this thread and
/// now holds `shared`'s frames (the caller then does not write).
pub(crate) fn hold(shared: &Arc<ConnShared>, outbox: &mut Outbox) -> bool {
    HELD.with(|held| match held.borrow_mut().as_mut() {
        Some(list) => {
            if !outbox.held {
                outbox.held = true;
                list.push(Arc::clone(shared));
            }
            true
        }
        None => false,
    })
}
