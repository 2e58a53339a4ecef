//! [`Push`]: every push the server sends, one variant each, serialisable (the cluster
//! carries them between nodes).
//!
//! On the wire a push is `{"type": "<event>", ...}` and never has `ok` or `seq`.
//! May touch: nothing; plain values.

use serde::{Deserialize, Serialize};

use crate::types::{FriendRequest, Message, MsgId, User, UserId};

/// A server-initiated frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Push {
    /// A message to me was stored (also to my other connections when I sent it).
    Message(Message),
    /// Someone asked to be my friend.
    FriendRequest(FriendRequest),
    /// My request was accepted.
    FriendAccepted {
        /// The new friend.
        friend: User,
    },
    /// A friend removed me.
    FriendRemoved {
        /// Who.
        user_id: UserId,
    },
    /// A friend's first connection logged in, or their last one went away.
    Presence {
        /// Who.
        user_id: UserId,
        /// Online now or not.
        online: bool,
    },
    /// The peer read my messages up to `up_to`.
    Read {
        /// Who read.
        by: UserId,
        /// Up to (and including) this message.
        up_to: MsgId,
    },
    /// This session's token was revoked elsewhere; the server closes the connection.
    LoggedOut {
        /// Why, e.g. `password_reset`.
        reason: String,
    },
}

impl Push {
    /// The push as a frame body.
    pub fn encode(&self) -> Vec<u8> {
        crate::to_bytes(self)
    }

    /// Its wire name (`type`).
    pub fn name(&self) -> &'static str {
        match self {
            Push::Message(_) => "message",
            Push::FriendRequest(_) => "friend_request",
            Push::FriendAccepted { .. } => "friend_accepted",
            Push::FriendRemoved { .. } => "friend_removed",
            Push::Presence { .. } => "presence",
            Push::Read { .. } => "read",
            Push::LoggedOut { .. } => "logged_out",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushes_are_flat_objects_named_by_type() {
        let p = Push::Presence {
            user_id: 4,
            online: true,
        };
        let v: serde_json::Value = serde_json::from_slice(&p.encode()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "presence", "user_id": 4, "online": true})
        );
        let m = Push::Message(Message {
            msg_id: 1,
            from: 2,
            to: 3,
            text: "hi".into(),
            ts: 9,
            client_msg_id: "c".into(),
            pos: 5,
        });
        let v: serde_json::Value = serde_json::from_slice(&m.encode()).unwrap();
        assert_eq!(v["type"], "message");
        assert_eq!(v["msg_id"], 1);
        assert_eq!(serde_json::from_value::<Push>(v).unwrap(), m);
        assert_eq!(m.name(), "message");
    }
}
