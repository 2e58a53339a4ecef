//! [`ConnId`]: a connection's name for the life of the process.
//!
//! Ids come from one process-wide counter and are never reused, so a handle to a closed
//! connection can never reach a newer one that took its place in a reactor's slab.
//! May touch: the counter.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A connection's id: unique for the life of the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(u64);

static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

impl ConnId {
    /// A fresh id.
    pub(crate) fn next() -> Self {
        Self(NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed))
    }

    /// The id as a number (for logs, metrics and map keys of your own).
    pub fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
