//! The sub-reactors seen from outside: hands each new socket to the next one, round-robin.
//!
//! Used by the acceptor for accepted sockets and by [`crate::Server::connect`] for
//! outgoing ones. It builds the connection's shared half and posts a `Register` notice;
//! the chosen reactor takes the socket from there.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::codec::Codec;
use crate::conn_shared::{ConnShared, ReactorInbox};
use crate::counters::Counters;
use crate::handle::ConnHandle;
use crate::notice::{Notice, Origin};
use crate::source_limit::SourceTicket;

/// Round-robin assignment of sockets to sub-reactors.
pub(crate) struct LoopPool {
    reactors: Vec<Arc<ReactorInbox>>,
    next: AtomicUsize,
    codec: Arc<dyn Codec>,
    high_water: usize,
    counters: Arc<Counters>,
}

impl LoopPool {
    pub(crate) fn new(
        reactors: Vec<Arc<ReactorInbox>>,
        codec: Arc<dyn Codec>,
        high_water: usize,
        counters: Arc<Counters>,
    ) -> Self {
        Self {
            reactors,
            next: AtomicUsize::new(0),
            codec,
            high_water,
            counters,
        }
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// Gives `stream` to the next sub-reactor and returns its handle. `ticket` is its
    /// place in the per-source count, if it holds one.
    pub(crate) fn assign(
        &self,
        stream: mio::net::TcpStream,
        peer: SocketAddr,
        origin: Origin,
        ticket: Option<SourceTicket>,
    ) -> ConnHandle {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.reactors.len();
        let notifier = &self.reactors[index];
        let stream = Arc::new(stream);
        let shared = ConnShared::new(
            peer,
            Arc::clone(&stream),
            origin == Origin::Connecting,
            Arc::clone(notifier),
            Arc::clone(&self.codec),
            self.high_water,
            Arc::clone(&self.counters),
        );
        if !matches!(origin, Origin::Rejected(_)) {
            self.counters.opened();
        }
        notifier.notify(Notice::Register {
            stream,
            shared: Arc::clone(&shared),
            origin,
            ticket,
        });
        ConnHandle::new(shared)
    }
}
