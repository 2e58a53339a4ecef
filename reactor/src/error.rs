//! Errors of starting and running a server.

use std::io;
use std::net::SocketAddr;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Binding or listening on the address failed.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: SocketAddr,
        /// What the OS said.
        source: io::Error,
    },
    /// An OS resource (poll, waker, thread) could not be created.
    #[error("cannot {what}: {source}")]
    Os {
        /// What was being created.
        what: &'static str,
        /// What the OS said.
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn os(what: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |source| Self::Os { what, source }
    }
}
