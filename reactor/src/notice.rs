//! [`Notice`]: what other threads ask of a sub-reactor, and [`Origin`]: how a socket
//! came to be.
//!
//! Generic over `C`, the connection's shared half (`conn_shared::ConnShared`), so that
//! this file need not know it: the shared half sends notices about itself, and the
//! notices carry it.
//! May touch: nothing; plain values.

use std::sync::Arc;

use crate::close_reason::{CloseReason, Rejection};
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

/// A request for a sub-reactor about connections of shared half `C`.
pub(crate) enum Notice<C> {
    /// Take ownership of a new socket.
    Register {
        stream: Arc<mio::net::TcpStream>,
        shared: Arc<C>,
        origin: Origin,
        /// Its place in the per-source count, held while the connection lives.
        ticket: Option<SourceTicket>,
    },
    /// Output was queued on an idle connection.
    Flush(Arc<C>),
    /// The connection's deadline moved earlier.
    Rearm(Arc<C>),
    /// The application asked to close after flushing.
    Close(Arc<C>),
    /// Close at once (output overflow).
    Abort(Arc<C>, CloseReason),
    /// The worker pool has room again: resume reading paused connections.
    Resume,
    /// This connection's backlog came down to half its bound: resume reading it.
    Drained(Arc<C>),
    /// Stop: flush what can be flushed, close every connection and exit.
    Shutdown,
}
