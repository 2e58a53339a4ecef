//! The delivery seam: "deliver this push to these users' connections".
//!
//! Every push the server sends (messages after their commit, friend events, presence,
//! read receipts) goes through a [`PushRoute`]. Today's implementation is the local
//! [`Hub`](crate::hub::Hub); a cluster's will also carry pushes for users connected to
//! other nodes.
//! May touch: nothing itself; implementations own their routes.

use proto::Push;
use reactor::ConnId;

use crate::model::UserId;

/// Where pushes go.
pub trait PushRoute: Send + Sync {
    /// Sends `push` to every push-taking connection of each of `users`, except the
    /// connection `except` (the sender's own, which gets an ack instead).
    fn push(&self, users: &[UserId], push: &Push, except: Option<ConnId>);
}
