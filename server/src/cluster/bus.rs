//! What nodes send each other on their push channels (`NAME:push:ID`).
//!
//! A publication is a JSON array of [`BusItem`]s (one publisher batch for that node).
//! Delivery on the bus is at most once (Redis pub/sub): a lost item is made good by the
//! receiving connection's gap fill (`message`), or not at all (other pushes are
//! notifications whose state a client can read with a request).
//! May touch: nothing; plain values.

use proto::{Message, Push};
use serde::{Deserialize, Serialize};

use crate::model::UserId;

/// One thing for the receiving node to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BusItem {
    /// Position `message.pos` of `user`'s timeline: push it, in order.
    Message {
        /// Whose timeline.
        user: UserId,
        /// The message as that user sees it.
        message: Message,
    },
    /// A push (not a message) for these users' connections.
    Push {
        /// To whom.
        users: Vec<UserId>,
        /// What.
        push: Push,
    },
    /// The user's tokens were revoked: push `logged_out` to each of their sessions (a
    /// `push: false` one gets nothing) and close them all.
    LoggedOut {
        /// Whose sessions.
        user: UserId,
        /// Why, e.g. `password_reset`.
        reason: String,
    },
    /// These users' friendships changed: forget their cached friend lists (sent to
    /// every node).
    FriendsChanged {
        /// Whose lists.
        users: Vec<UserId>,
    },
    /// Pushes may have been lost: check every connection against the store.
    Sweep,
}

impl BusItem {
    /// The users whose nodes get this item; `None`: every node.
    pub fn users(&self) -> Option<&[UserId]> {
        match self {
            BusItem::Message { user, .. } | BusItem::LoggedOut { user, .. } => {
                Some(std::slice::from_ref(user))
            }
            BusItem::Push { users, .. } => Some(users),
            BusItem::FriendsChanged { .. } | BusItem::Sweep => None,
        }
    }
}

/// Encodes one publication.
pub fn encode(items: &[&BusItem]) -> Vec<u8> {
    serde_json::to_vec(items).unwrap_or_default()
}

/// Decodes one publication.
pub fn decode(payload: &[u8]) -> Result<Vec<BusItem>, serde_json::Error> {
    serde_json::from_slice(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip() {
        let items = [
            BusItem::Message {
                user: 7,
                message: Message {
                    msg_id: 1,
                    from: 3,
                    to: 7,
                    text: "hi".into(),
                    ts: 5,
                    client_msg_id: "c".into(),
                    pos: 9,
                },
            },
            BusItem::Push {
                users: vec![1, 2],
                push: Push::Presence {
                    user_id: 3,
                    online: false,
                },
            },
            BusItem::LoggedOut {
                user: 4,
                reason: "password_reset".into(),
            },
            BusItem::FriendsChanged { users: vec![1, 2] },
            BusItem::Sweep,
        ];
        let refs: Vec<&BusItem> = items.iter().collect();
        let bytes = encode(&refs);
        assert_eq!(decode(&bytes).unwrap(), items);
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v[2],
            serde_json::json!({"kind": "logged_out", "user": 4, "reason": "password_reset"})
        );
    }
}
