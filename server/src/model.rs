//! The chat domain's records, as the stores return them and the wire shows them.

use serde::Serialize;

/// Milliseconds since the Unix epoch: the unit of every `ts` (0 before 1970).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// A user's id (`users.user_id`).
pub type UserId = i64;
/// A message's id (`messages.msg_id`): within one conversation it increases in commit
/// order (across conversations, ids from concurrent transactions may commit out of order).
pub type MsgId = i64;
/// A place in a user's timeline: 1, 2, 3, … in commit order, no gap, no repeat.
pub type Pos = i64;

/// A user's public profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The user's id.
    pub user_id: UserId,
    /// Login name, as registered (unique without regard to ASCII case).
    pub username: String,
    /// Display name; empty when never set.
    pub nickname: String,
    /// Avatar reference (a URL or an opaque string); empty when never set.
    pub avatar: String,
}

/// A stored one-to-one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    /// Assigned by the store at commit.
    pub msg_id: MsgId,
    /// Sender.
    pub from: UserId,
    /// Recipient.
    pub to: UserId,
    /// The text, byte for byte as sent.
    pub text: String,
    /// Server time when the message was accepted, ms since the Unix epoch.
    pub ts: i64,
    /// The sender's idempotency key, unique per sender.
    pub client_msg_id: String,
    /// The message's place in the timeline of the user this copy was read for: the
    /// asking user for `sync`, `history` and `conversations`; the sender for
    /// `insert_messages` and `message_by_client_id`.
    pub pos: Pos,
}

/// A message accepted by a worker and waiting for the batched writer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// Sender.
    pub from: UserId,
    /// Recipient.
    pub to: UserId,
    /// The text.
    pub text: String,
    /// Server time of acceptance, ms since the Unix epoch.
    pub ts: i64,
    /// The sender's idempotency key.
    pub client_msg_id: String,
}

impl NewMessage {
    /// The message as stored with id `msg_id`, at the sender's position `pos`.
    pub fn stored_as(&self, msg_id: MsgId, pos: Pos) -> Message {
        Message {
            msg_id,
            from: self.from,
            to: self.to,
            text: self.text.clone(),
            ts: self.ts,
            client_msg_id: self.client_msg_id.clone(),
            pos,
        }
    }
}

/// A pending friend request sent to the asking user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FriendRequest {
    /// The request's id.
    pub request_id: i64,
    /// Who asked.
    pub from: User,
    /// The note attached to the request (may be empty).
    pub message: String,
    /// When it was sent, ms since the Unix epoch.
    pub ts: i64,
}

/// One conversation of a user: the peer, the last message either way, unread count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The other user.
    pub peer: User,
    /// The newest message between the two.
    pub last: Message,
    /// Messages from the peer after the user's read cursor.
    pub unread: u64,
}
