//! The application's side of the engine: the callbacks a server implements.
//!
//! Every callback runs on a worker thread, never on a reactor. The callbacks of one
//! connection run one at a time, in the order the events happened; different
//! connections run in parallel. Callbacks may block (database calls are fine).

use std::fmt;
use std::io;

use crate::codec::FrameError;
use crate::handle::ConnHandle;

/// Callbacks of an application embedded in the engine.
pub trait Handler: Send + Sync + 'static {
    /// Per-connection state, created by `on_connect` and handed back by value to `on_close`.
    type Session: Send + 'static;

    /// A connection was accepted (or, for [`crate::Server::connect`], started). Sends made
    /// here are delivered once the connection is established.
    fn on_connect(&self, conn: &ConnHandle) -> Self::Session;

    /// One complete frame arrived.
    fn on_frame(&self, conn: &ConnHandle, session: &mut Self::Session, frame: Vec<u8>);

    /// The peer broke the framing. Frames sent from here are flushed before the
    /// connection closes; `on_close` follows with [`CloseReason::Frame`].
    fn on_frame_error(&self, conn: &ConnHandle, session: &mut Self::Session, error: &FrameError) {
        let _ = (conn, session, error);
    }

    /// The connection is closing. Sends made from here are still flushed when the
    /// socket allows; afterwards every send returns false.
    fn on_close(&self, conn: &ConnHandle, session: Self::Session, reason: &CloseReason) {
        let _ = (conn, session, reason);
    }

    /// A connection was turned away (see [`Rejection`]). It has no session; frames sent
    /// from here are flushed, then the connection is closed.
    fn on_rejected(&self, conn: &ConnHandle, why: Rejection) {
        let _ = (conn, why);
    }
}

/// Why a connection was turned away at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// `max_connections` connections were open.
    ServerFull,
    /// Its source address (an IPv6 /64) had `max_connections_per_ip` open.
    TooManyFromAddress,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ServerFull => f.write_str("the server is at its connection limit"),
            Self::TooManyFromAddress => f.write_str("this address is at its connection limit"),
        }
    }
}

/// Why a connection closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side.
    PeerClosed,
    /// A read or write failed (reset by the peer, for instance).
    Io(io::ErrorKind),
    /// The peer broke the framing.
    Frame(FrameError),
    /// The peer did not read: its queued output passed the high-water mark.
    OutputOverflow {
        /// Bytes that were queued, counting the frame that did not fit.
        queued: usize,
        /// The configured high-water mark.
        limit: usize,
    },
    /// The deadline set with [`ConnHandle::set_deadline`] passed.
    DeadlineExpired,
    /// The application closed it through a handle.
    Local,
    /// The server is shutting down.
    Shutdown,
    /// An outgoing connection could not be established.
    ConnectFailed(io::ErrorKind),
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PeerClosed => f.write_str("closed by peer"),
            Self::Io(kind) => write!(f, "i/o error: {kind}"),
            Self::Frame(e) => write!(f, "framing error: {e}"),
            Self::OutputOverflow { queued, limit } => {
                write!(f, "output overflow: {queued} bytes queued, limit {limit}")
            }
            Self::DeadlineExpired => f.write_str("deadline expired"),
            Self::Local => f.write_str("closed by the application"),
            Self::Shutdown => f.write_str("server shutting down"),
            Self::ConnectFailed(kind) => write!(f, "connect failed: {kind}"),
        }
    }
}
