//! One connection's session: who is logged in, whether it takes pushes, its rate
//! limiter and its ordered response queue. Owned by the reactor's mailbox for the
//! connection; only the worker running that connection touches it.

use std::sync::Arc;

use reactor::ConnHandle;

use crate::model::User;
use crate::rate_limit::RateLimiter;
use crate::reply_queue::ReplyQueue;

/// The logged-in identity of a connection.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The user, as of login (profile edits update it).
    pub user: User,
    /// Hash of the token this session logged in with or was issued.
    pub token_hash: String,
    /// False for strict request/response clients: they get no pushes.
    pub push: bool,
}

/// Per-connection state.
pub struct Session {
    /// Set by `login`, cleared by `logout`.
    pub identity: Option<Identity>,
    /// Requests allowed per second.
    pub limiter: RateLimiter,
    /// Responses in request order.
    pub replies: Arc<ReplyQueue>,
}

impl Session {
    /// A fresh, unauthenticated session.
    pub fn new(conn: &ConnHandle, limiter: RateLimiter) -> Self {
        Self {
            identity: None,
            limiter,
            replies: Arc::new(ReplyQueue::new(conn.clone())),
        }
    }
}
