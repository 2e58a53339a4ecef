//! The chat wire protocol (v2), typed: what a client and `startserv` say to each other.
//!
//! Layout, one idea per file:
//! * [`op`]: [`Op`], every operation and its wire name.
//! * [`envelope`]: a frame read as a request ([`Envelope`]: `type`, `seq`, fields) or
//!   [`NotARequest`]; [`fields`]: typed accessors with the contract's field rules.
//! * [`request`]: [`Request`], one variant per operation, parsed from fields (server)
//!   or built and encoded (clients).
//! * [`answer`]: each operation's typed result, [`Answer`], and the response frames;
//!   [`Response`] for clients reading one back.
//! * [`push`]: [`Push`], every push. [`incoming`]: [`Incoming`], a server frame sorted
//!   into response or push.
//! * [`types`]: [`User`], [`Message`], [`FriendRequest`], [`Conversation`].
//! * [`error`]: [`ErrorCode`] with its wire names, and [`ChatError`], an `error` object.
//!
//! Frame bodies only: the 4-byte length prefix is the transport's (see the `reactor`
//! crate's `LengthPrefixed`). The contract itself is `docs/protocol.md`.
//! May touch: nothing; everything here is plain values and JSON.

#![deny(missing_docs)]

pub mod answer;
pub mod envelope;
pub mod error;
pub mod fields;
pub mod incoming;
pub mod op;
pub mod push;
pub mod request;
pub mod types;

pub use answer::{Answer, Response};
pub use envelope::{Envelope, NotARequest};
pub use error::{ChatError, ErrorCode};
pub use fields::Fields;
pub use incoming::Incoming;
pub use op::Op;
pub use push::Push;
pub use request::{Credentials, Request};
pub use types::{Conversation, FriendRequest, Message, MsgId, Pos, User, UserId};

/// Serialises a value the protocol defines. Cannot fail: every such value is a JSON
/// object with string keys.
fn to_bytes(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}
