//! [`LoadError`]: why a chatload run could not be carried out at all.
//!
//! Bad server behaviour is not an error here: it is counted and reported (see
//! [`crate::client::Health`]). These errors stop a run: bad arguments, a client engine
//! that cannot start, a setup phase (registration, login, friending) that failed.

use std::io;

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The command line asks for something impossible.
    #[error("invalid arguments: {0}")]
    Args(String),
    /// The reactor engine used as a client did not start.
    #[error("cannot start the client engine: {0}")]
    Engine(#[from] reactor::Error),
    /// A system call failed.
    #[error("{what}: {source}")]
    Io {
        /// What chatload was doing.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// A setup phase did not complete (accounts, logins, friendships).
    #[error("setup failed: {0}")]
    Setup(String),
    /// A child process (`--procs`) failed.
    #[error("child process: {0}")]
    Child(String),
}

impl LoadError {
    /// An [`LoadError::Io`] saying what was being done.
    pub fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> LoadError {
        let what = what.into();
        move |source| LoadError::Io { what, source }
    }
}
