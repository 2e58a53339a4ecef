//! What a request gets back: the typed result of each operation ([`Answer`]), the
//! response frames built from it ([`ok_frame`], [`error_frame`], [`not_a_request_frame`]),
//! and for clients, a response read back ([`Response`]).
//!
//! A response is `{"type": op, "seq": n, "ok": true, ...result}` or
//! `{"type": op, "seq": n, "ok": false, "error": {...}}`. The `type` echo is cut to
//! [`MAX_TYPE_ECHO`] characters and only a valid `seq` is echoed, so every response fits
//! in a frame. Lists go through [`fit`], which keeps them under `max_frame`.
//! May touch: nothing; plain values.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ChatError, ErrorCode};
use crate::types::{Conversation, FriendRequest, Message, MsgId, Pos, User, UserId};

/// Characters of a request's `type` echoed at most. Only an unknown type can be longer
/// (the contract's are all short); cutting it keeps every response within a frame.
pub const MAX_TYPE_ECHO: usize = 256;
/// Bytes kept free for the envelope around a list (type, seq, ok, other fields).
const ENVELOPE: usize = 512;

/// `op` as a response echoes it: cut to [`MAX_TYPE_ECHO`] characters.
pub fn type_echo(op: &str) -> &str {
    match op.char_indices().nth(MAX_TYPE_ECHO) {
        Some((cut, _)) => &op[..cut],
        None => op,
    }
}

/// `ping`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    /// Server time, ms since the Unix epoch.
    pub ts: i64,
}

/// `register`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// The new user's id.
    pub user_id: UserId,
}

/// `login`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedIn {
    /// Who I am.
    pub user_id: UserId,
    /// My username.
    pub username: String,
    /// My nickname.
    pub nickname: String,
    /// The session token (for token logins).
    pub token: String,
    /// The end of my timeline when this session started: sync up to it, then pushes
    /// carry every later position.
    pub last_pos: Pos,
}

/// `search_user`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Users {
    /// At most 20, by username.
    pub users: Vec<User>,
    /// More users match.
    pub more: bool,
}

/// `get_profile`'s and `update_profile`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    /// The user.
    pub user: User,
}

/// `add_friend`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestSent {
    /// The pending request's id.
    pub request_id: i64,
}

/// `friend_requests`' result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendRequests {
    /// Pending requests sent to me, oldest first.
    pub requests: Vec<FriendRequest>,
    /// The list was cut short.
    pub more: bool,
}

/// `accept_friend`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Befriended {
    /// The new friend.
    pub friend: User,
}

/// `friends`' result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Friends {
    /// My friends.
    pub friends: Vec<User>,
    /// The list was cut short.
    pub more: bool,
}

/// `send_message`'s result (sent after the commit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sent {
    /// The message's id.
    pub msg_id: MsgId,
    /// Its server time.
    pub ts: i64,
    /// Its place in my (the sender's) timeline.
    pub pos: Pos,
}

/// `sync`'s and `history`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Messages {
    /// The page.
    pub messages: Vec<Message>,
    /// More are there.
    pub more: bool,
}

/// `conversations`' result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversations {
    /// Most recent first.
    pub conversations: Vec<Conversation>,
    /// The list was cut short.
    pub more: bool,
}

/// The result of any operation, as the server sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Answer {
    /// `logout`, `reject_friend`, `delete_friend`, `read`: nothing but `ok`.
    Done,
    /// `ping`
    Pong(Pong),
    /// `register`
    Registered(Registered),
    /// `login`
    LoggedIn(LoggedIn),
    /// `search_user`
    Users(Users),
    /// `get_profile`, `update_profile`
    Profile(Profile),
    /// `add_friend`
    RequestSent(RequestSent),
    /// `friend_requests`
    FriendRequests(FriendRequests),
    /// `accept_friend`
    Befriended(Befriended),
    /// `friends`
    Friends(Friends),
    /// `send_message`
    Sent(Sent),
    /// `sync`, `history`
    Messages(Messages),
    /// `conversations`
    Conversations(Conversations),
}

/// A success response's frame body.
pub fn ok_frame(op: &str, seq: Option<u64>, answer: &Answer) -> Vec<u8> {
    let mut map = match serde_json::to_value(answer) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    };
    envelope(&mut map, op, seq, true);
    crate::to_bytes(&Value::Object(map))
}

/// A failure response's frame body.
pub fn error_frame(op: &str, seq: Option<u64>, error: &ChatError) -> Vec<u8> {
    let mut map = Map::new();
    map.insert(
        "error".into(),
        serde_json::to_value(error).unwrap_or(Value::Null),
    );
    envelope(&mut map, op, seq, false);
    crate::to_bytes(&Value::Object(map))
}

/// The answer to a frame that could not be read as a request (`type: "error"`).
pub fn not_a_request_frame(seq: Option<u64>, error: &ChatError) -> Vec<u8> {
    error_frame("error", seq, error)
}

/// The answer to a framing violation, after which the connection closes.
pub fn frame_error_frame(code: ErrorCode, message: &str) -> Vec<u8> {
    error_frame("error", None, &ChatError::new(code, message))
}

fn envelope(map: &mut Map<String, Value>, op: &str, seq: Option<u64>, ok: bool) {
    map.insert("type".into(), Value::from(type_echo(op)));
    if let Some(seq) = seq {
        map.insert("seq".into(), Value::from(seq));
    }
    map.insert("ok".into(), Value::Bool(ok));
}

/// Takes items in order while the frame stays under `max_frame`; returns them and
/// whether any were left out.
pub fn fit<T: Serialize>(items: impl IntoIterator<Item = T>, max_frame: usize) -> (Vec<T>, bool) {
    let budget = max_frame.saturating_sub(ENVELOPE);
    let mut used = 0;
    let mut kept = Vec::new();
    for item in items {
        let size = serde_json::to_vec(&item).map_or(usize::MAX, |b| b.len() + 1);
        if used + size > budget {
            return (kept, true);
        }
        used += size;
        kept.push(item);
    }
    (kept, false)
}

/// A response as a client reads it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Response {
    /// The echoed `type` (`"error"` for a frame that was not a request).
    #[serde(rename = "type")]
    pub op: String,
    /// The echoed `seq`.
    #[serde(default)]
    pub seq: Option<u64>,
    /// Success or not.
    pub ok: bool,
    /// Why not.
    #[serde(default)]
    pub error: Option<ChatError>,
    /// The result's fields.
    #[serde(flatten)]
    pub body: Map<String, Value>,
}

impl Response {
    /// The typed result of a successful response, or its error.
    pub fn result<T: DeserializeOwned>(self) -> Result<T, ResponseError> {
        if !self.ok {
            return Err(ResponseError::Failed(self.error.unwrap_or_else(|| {
                ChatError::new(ErrorCode::Internal, "ok: false without an error")
            })));
        }
        serde_json::from_value(Value::Object(self.body)).map_err(ResponseError::Shape)
    }
}

/// Why [`Response::result`] has no result.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// The server answered `ok: false`.
    #[error("{0}")]
    Failed(ChatError),
    /// The result's fields do not have the expected shape.
    #[error("malformed result: {0}")]
    Shape(serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_echo_a_cut_type_and_a_valid_seq() {
        let r: Value =
            serde_json::from_slice(&ok_frame("ping", Some(7), &Answer::Pong(Pong { ts: 1 })))
                .unwrap();
        assert_eq!(
            r,
            serde_json::json!({"type": "ping", "seq": 7, "ok": true, "ts": 1})
        );
        let e = ChatError::new(ErrorCode::NotFriends, "no")
            .retry_after(std::time::Duration::from_millis(5));
        let r: Value = serde_json::from_slice(&error_frame(&"x".repeat(10_000), None, &e)).unwrap();
        assert_eq!(r["type"].as_str().unwrap().len(), MAX_TYPE_ECHO);
        assert_eq!(
            r["error"],
            serde_json::json!({"code": "not_friends", "message": "no", "retry_after_ms": 5})
        );
        assert!(r.get("seq").is_none());
        let done: Value =
            serde_json::from_slice(&ok_frame("logout", Some(1), &Answer::Done)).unwrap();
        assert_eq!(
            done,
            serde_json::json!({"type": "logout", "seq": 1, "ok": true})
        );
    }

    #[test]
    fn a_client_reads_results_and_errors() {
        let r: Response = serde_json::from_slice(&ok_frame(
            "send_message",
            Some(3),
            &Answer::Sent(Sent {
                msg_id: 9,
                ts: 2,
                pos: 3,
            }),
        ))
        .unwrap();
        assert_eq!(r.seq, Some(3));
        assert_eq!(
            r.result::<Sent>().unwrap(),
            Sent {
                msg_id: 9,
                ts: 2,
                pos: 3
            }
        );
        let e = ChatError::new(ErrorCode::ServerBusy, "later");
        let r: Response = serde_json::from_slice(&error_frame("send_message", None, &e)).unwrap();
        match r.result::<Sent>() {
            Err(ResponseError::Failed(got)) => assert_eq!(got, e),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fit_stops_before_the_frame_limit() {
        let items = (0..100).map(|i| serde_json::json!({"n": i, "pad": "x".repeat(100)}));
        let (kept, more) = fit(items, 2048);
        assert!(more && !kept.is_empty());
        let frame = serde_json::to_vec(
            &serde_json::json!({"type":"sync","ok":true,"seq":1,"messages":kept,"more":true}),
        )
        .unwrap();
        assert!(frame.len() <= 2048);
    }
}
