//! When each pooled connection was last heard from, so that only idle ones are pinged,
//! and how a connection that failed at the network level is put out of use.
//!
//! The driver's pool can ping every connection it hands out (`check_health`): one extra
//! round trip per store call, paid by both processes. The store turns that off and asks
//! [`Liveness::needs_ping`] instead: a connection that answered within [`IDLE_PING`] is
//! used as it is (a connection pool's usual "alive bypass" window); one idle longer, or
//! never seen, is pinged first. A call that then fails at the network level has its
//! connection replaced or killed ([`kill`]), never handed out again.
//!
//! May touch: the connections it is given (ping, socket shutdown); nothing else.

use std::collections::HashMap;
use std::net::Shutdown;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::{Duration, Instant};

use mysql::Conn;
use parking_lot::Mutex;

/// A connection that answered more recently than this is not pinged before use.
pub const IDLE_PING: Duration = Duration::from_secs(1);

/// Entries kept at most; past it the table is emptied (every connection is then pinged
/// once more). Connections are keyed by their server thread id, and a pool replaces
/// connections over its life, so the table would otherwise grow.
const MAX_ENTRIES: usize = 4096;

/// See the module docs.
#[derive(Default)]
pub struct Liveness {
    heard: Mutex<HashMap<u32, Instant>>,
}

impl Liveness {
    /// Whether `conn` should be pinged before use: not heard from within [`IDLE_PING`].
    pub fn needs_ping(&self, conn: &Conn) -> bool {
        self.heard
            .lock()
            .get(&conn.connection_id())
            .is_none_or(|at| at.elapsed() > IDLE_PING)
    }

    /// `conn` has just answered.
    pub fn heard(&self, conn: &Conn) {
        let mut heard = self.heard.lock();
        if heard.len() >= MAX_ENTRIES {
            heard.clear();
        }
        heard.insert(conn.connection_id(), Instant::now());
    }

    /// `conn` is being replaced or killed: forget it.
    pub fn forget(&self, conn: &Conn) {
        self.heard.lock().remove(&conn.connection_id());
    }
}

/// Shuts `conn`'s socket down both ways, so that everything done on it from now on fails
/// at once, without waiting for a timeout on a server that stopped answering, and
/// without ever reading a reply left over from before.
pub fn kill(conn: &Conn) {
    // SAFETY: `conn` owns this descriptor and is borrowed for the whole life of `fd`,
    // so the descriptor stays open (and is not reused) while `fd` exists.
    let fd = unsafe { BorrowedFd::borrow_raw(conn.as_raw_fd()) };
    if let Err(e) = socket2::SockRef::from(&fd).shutdown(Shutdown::Both) {
        log::debug!("mysql: shutting a broken connection down: {e}");
    }
}
