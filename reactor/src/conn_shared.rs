//! [`ConnShared`]: the half of a connection that its reactor and every handle share.
//!
//! It holds what senders on any thread need (the [`Outbox`], the byte count that
//! enforces the high-water mark, the codec) and what the reactor and the application
//! exchange (the close state, the deadline, the reactor's slot). Its reactor's inbox is
//! a [`Notifier`] of [`ReactorNotice`]s, most of which name a connection by its shared
//! half.
//! May touch: its outbox (under its lock) and its reactor's inbox.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::codec::Codec;
use crate::conn_id::ConnId;
use crate::counters::Counters;
use crate::notice::Notice;
use crate::notifier::Notifier;
use crate::outbox::Outbox;

/// What a sub-reactor's inbox carries.
pub(crate) type ReactorNotice = Notice<ConnShared>;
/// A sub-reactor's inbox.
pub(crate) type ReactorInbox = Notifier<ReactorNotice>;

pub(crate) const OPEN: u8 = 0;
pub(crate) const CLOSING: u8 = 1;
pub(crate) const CLOSED: u8 = 2;

/// The half of a connection shared between its reactor and every handle.
pub(crate) struct ConnShared {
    pub(crate) id: ConnId,
    pub(crate) peer: SocketAddr,
    /// The reactor's slab key, set once when the reactor registers the socket.
    pub(crate) slot: AtomicUsize,
    pub(crate) notifier: Arc<ReactorInbox>,
    pub(crate) codec: Arc<dyn Codec>,
    pub(crate) high_water: usize,
    pub(crate) outbox: Mutex<Outbox>,
    /// Bytes queued and not yet written: outbox plus the reactor's unwritten tail.
    pub(crate) queued: AtomicUsize,
    pub(crate) state: AtomicU8,
    /// Engine-clock deadline in ms; 0 when none.
    pub(crate) deadline: AtomicU64,
    /// The framing mode the codec decodes and encodes in (see `codec`); 0 at first.
    pub(crate) mode: AtomicU8,
    pub(crate) counters: Arc<Counters>,
}

impl ConnShared {
    pub(crate) fn new(
        peer: SocketAddr,
        stream: Arc<mio::net::TcpStream>,
        connecting: bool,
        notifier: Arc<ReactorInbox>,
        codec: Arc<dyn Codec>,
        high_water: usize,
        counters: Arc<Counters>,
    ) -> Arc<Self> {
        Arc::new(Self {
            id: ConnId::next(),
            peer,
            slot: AtomicUsize::new(usize::MAX),
            notifier,
            codec,
            high_water,
            outbox: Mutex::new(Outbox::new(stream, connecting)),
            queued: AtomicUsize::new(0),
            state: AtomicU8::new(OPEN),
            deadline: AtomicU64::new(0),
            mode: AtomicU8::new(0),
            counters,
        })
    }

    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Acquire)
    }

    /// Writes what the outbox holds: straight to the socket when the reactor is not
    /// writing, else by asking the reactor. Called with the outbox locked.
    pub(crate) fn flush_locked(self: &Arc<Self>, outbox: &mut Outbox) {
        let written = outbox.write_through();
        if written > 0 {
            self.queued.fetch_sub(written, Ordering::AcqRel);
            self.counters.wrote(written);
        }
        if !outbox.buf.is_empty() && !outbox.flush_scheduled {
            outbox.flush_scheduled = true;
            self.notifier.notify(Notice::Flush(Arc::clone(self)));
        }
    }

    /// The connection is gone: no sender may write to its socket any more.
    pub(crate) fn release_socket(&self) {
        self.outbox.lock().release();
        self.queued.store(0, Ordering::Release);
    }

    /// Asks the reactor to flush and close, after the codec's farewell for the current
    /// mode (`Codec::farewell_in`). Returns false if already closing or closed.
    pub(crate) fn request_close(self: &Arc<Self>) -> bool {
        let asked = self
            .state
            .compare_exchange(OPEN, CLOSING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        if asked {
            // No sender can queue now (the state is no longer OPEN): the farewell is last.
            let mut outbox = self.outbox.lock();
            let before = outbox.buf.len();
            self.codec
                .farewell_in(self.mode.load(Ordering::Acquire), &mut outbox.buf);
            let added = outbox.buf.len() - before;
            if added > 0 {
                self.queued.fetch_add(added, Ordering::AcqRel);
            }
            drop(outbox);
            self.notifier.notify(Notice::Close(Arc::clone(self)));
        }
        asked
    }
}
