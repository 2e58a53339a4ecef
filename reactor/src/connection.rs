//! The reactor-owned half of a connection: the socket, the input buffer, the bytes being
//! written, and where the connection is in its life.
//!
//! Only the owning sub-reactor touches this. Lifecycle:
//!
//! ```text
//! Connecting ─► Open ─► AwaitingApp ─► Draining ─► Lingering ─► dropped
//!                 └─────────────────────┘ (app closes)
//! ```
//! * `Open`: frames are read and dispatched.
//! * `AwaitingApp`: the close event was dispatched (peer EOF, deadline, framing error);
//!   the application's `on_close` has not returned yet. Input is discarded.
//! * `Draining`: the application is done; queued output is flushed.
//! * `Lingering`: our side is shut down; input is discarded until the peer closes, so
//!   the last frames are not lost to a reset. Every phase after `Open` is bounded by a
//!   deadline, after which the socket is dropped.

use std::sync::Arc;

use crate::conn_shared::ConnShared;
use crate::input_rate::RateBucket;
use crate::mailbox::Mailbox;
use crate::source_limit::SourceTicket;

/// Where a connection is in its life, seen from its reactor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Connecting,
    Open,
    AwaitingApp,
    Draining,
    Lingering,
}

/// A connection as its sub-reactor holds it.
pub(crate) struct Connection<S> {
    /// The socket; shared with the outbox for write-through until the reactor drops it.
    pub(crate) stream: Arc<mio::net::TcpStream>,
    pub(crate) shared: Arc<ConnShared>,
    pub(crate) mailbox: Arc<Mailbox<S>>,
    pub(crate) phase: Phase,
    /// Bytes read and not yet decoded: an incomplete frame, or the rest of a read that
    /// met the connection's input bound (at most one read plus one frame).
    pub(crate) input: Vec<u8>,
    /// Bytes taken from the outbox and not yet fully written; `output[written..]` is left.
    pub(crate) output: Vec<u8>,
    pub(crate) written: usize,
    /// Registered for writable readiness (only while output is pending).
    pub(crate) want_write: bool,
    /// Not reading because the worker pool is full.
    pub(crate) paused: bool,
    /// Not reading because this connection's own backlog reached its bound.
    pub(crate) backlogged: bool,
    /// Its input rate buckets, when the server limits input rates.
    pub(crate) rate: Option<RateBucket>,
    /// Not reading because it sent faster than its input rate allows.
    pub(crate) throttled: bool,
    /// When its entry in the reactor's timer queue is due, if it has one.
    pub(crate) timer: Option<u64>,
    /// The peer's EOF was seen.
    pub(crate) read_closed: bool,
    /// The application has been told (or will be) that the connection closed.
    pub(crate) close_dispatched: bool,
    /// Accepted and turned away: counted apart from the open connections.
    pub(crate) rejected: bool,
    /// Its place in the per-source count; given back when the connection is dropped.
    _ticket: Option<SourceTicket>,
}

impl<S> Connection<S> {
    pub(crate) fn new(
        stream: Arc<mio::net::TcpStream>,
        shared: Arc<ConnShared>,
        mailbox: Arc<Mailbox<S>>,
        phase: Phase,
        ticket: Option<SourceTicket>,
    ) -> Self {
        Self {
            stream,
            shared,
            mailbox,
            phase,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            want_write: false,
            paused: false,
            backlogged: false,
            rate: None,
            throttled: false,
            timer: None,
            read_closed: false,
            close_dispatched: false,
            rejected: false,
            _ticket: ticket,
        }
    }

    /// Unwritten bytes held by the reactor.
    pub(crate) fn pending_output(&self) -> usize {
        self.output.len() - self.written
    }

    /// Whether the reactor may read the socket now.
    pub(crate) fn may_read(&self) -> bool {
        !(self.read_closed
            || self.paused
            || self.backlogged
            || self.throttled
            || self.phase == Phase::Connecting)
    }

    /// Whether input should be decoded and dispatched.
    pub(crate) fn dispatches_input(&self) -> bool {
        self.phase == Phase::Open
    }
}
