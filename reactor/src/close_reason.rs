//! Why a connection ended ([`CloseReason`]) or was turned away ([`Rejection`]): what the
//! engine tells the application's `on_close` and `on_rejected`.
//!
//! May touch: nothing; plain values.

use std::fmt;
use std::io;

use crate::codec::FrameError;

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
    /// The deadline set with [`crate::ConnHandle::set_deadline`] passed.
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
