//! The delivery seam: "deliver this push to these users' connections", wherever they are.
//!
//! Every push the server sends (messages after their commit, friend events, presence,
//! read receipts) goes through a [`PushRoute`]. On one node it is the local
//! [`Hub`](crate::hub::Hub); in a cluster, `cluster::ClusterRoute`, which delivers here
//! through the hub and publishes to the other nodes that hold the users' connections.
//! May touch: nothing itself; implementations own their routes.

use proto::Push;
use reactor::ConnId;

use crate::model::{Message, Pos, UserId};

/// Where pushes go.
pub trait PushRoute: Send + Sync {
    /// Sends `push` (anything but a `message`) to every push-taking connection of each
    /// of `users`.
    fn push(&self, users: &[UserId], push: &Push);

    /// A committed message: to every push connection of its recipient at
    /// `recipient_pos`, and to the sender's at `message.pos` except `origin` (the
    /// sending connection, whose ack carries that position). Each connection gets its
    /// positions in order (see `sequencer.rs`).
    fn message(&self, message: &Message, recipient_pos: Pos, origin: Option<ConnId>);
}
