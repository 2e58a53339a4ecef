//! The objects the protocol carries inside results and pushes: [`User`], [`Message`],
//! [`FriendRequest`], [`Conversation`].
//!
//! May touch: nothing; plain values.

use serde::{Deserialize, Serialize};

/// A user's id.
pub type UserId = i64;
/// A message's id: within one conversation it increases in commit order.
pub type MsgId = i64;
/// A place in a user's timeline: 1, 2, 3, … in commit order.
pub type Pos = i64;

/// A user as the wire shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// The user's id.
    pub user_id: UserId,
    /// Login name, as registered.
    pub username: String,
    /// Display name.
    pub nickname: String,
    /// Avatar reference; empty when never set.
    pub avatar: String,
    /// Whether the user has a logged-in connection.
    pub online: bool,
}

/// A message as the wire shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Assigned by the server at commit.
    pub msg_id: MsgId,
    /// Sender.
    pub from: UserId,
    /// Recipient.
    pub to: UserId,
    /// The text, byte for byte as sent.
    pub text: String,
    /// Server time when the message was accepted, ms since the Unix epoch.
    pub ts: i64,
    /// The sender's idempotency key.
    pub client_msg_id: String,
    /// Its place in the timeline of the user who receives this object (the same
    /// message has one `pos` for its sender and another for its recipient).
    pub pos: Pos,
}

/// A pending friend request (in `friend_requests` and the `friend_request` push).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequest {
    /// The request's id.
    pub request_id: i64,
    /// Who asked.
    pub from: User,
    /// The note attached (may be empty).
    pub message: String,
    /// When it was sent, ms since the Unix epoch.
    pub ts: i64,
}

/// One conversation: the peer, the last message either way, the unread count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    /// The other user.
    pub peer: User,
    /// The newest message between the two.
    pub last: Message,
    /// Messages from the peer after my read cursor.
    pub unread: u64,
}
