//! What chatload reads off a connection: [`Frame`], the decoded form of whatever the
//! server sends back (responses and pushes), and [`Malformed`], why a body could not be
//! read. JSON bodies (the chat protocol of `startserv`) are read here, through `proto`.
//!
//! Framing (a 4-byte big-endian length, then the body) is done by the reactor's
//! [`reactor::LengthPrefixed`] codec; this module sees bodies. The requests chatload
//! sends are `proto::Request`s; the binary dialect of `relay_floor` is decoded into the
//! same [`Frame`] by `floor`, and `dialect` picks one or the other per connection, so
//! the scenarios do not care which server they talk to.
//!
//! A JSON body is sorted as `proto::Incoming::parse` sorts it (a response has `ok`, a
//! push never has it) and read as a `proto::Response` or `proto::Push`; a successful
//! response's result is read as its operation's typed result (`proto::answer::Sent` for
//! `send_message`, ...). Two rules of the contract are checked on the way and counted
//! apart: `ok: false` carries an `error`, and a push has no `seq` (checked before the
//! push is typed, so such a push is counted as that violation whatever its shape).
//! Anything else that is not what `proto` says the server sends (not JSON, an unknown
//! push or error code, a result of the wrong shape, a negative id, a `retry_after_ms`
//! that is not a non-negative integer) is [`Malformed::Json`]. Nothing here panics on
//! network data: a body that cannot be read is a [`Malformed`] value, which the caller
//! counts.
//!
//! chatload keeps ids as `u64`; the protocol's are `i64` that are never negative:
//! [`wire_id`] converts chatload's for a request.
//!
//! May touch: nothing; plain values.

use std::time::Duration;

use proto::answer::{
    Befriended, Conversations, FriendRequests, Friends, LoggedIn, Messages, Pong, Profile,
    Registered, RequestSent, Sent, Users,
};
use proto::{ChatError, ErrorCode, Message, Op, Push, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Largest body the wire contract allows (the server's default `max_frame`). chatload's
/// own codec accepts more so that an oversized frame is counted instead of closing.
pub const MAX_FRAME: usize = 65_536;

/// The longest `retry_after_ms` chatload honours; larger hints are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// A frame from the server, decoded: the few values the scenarios read, whichever the
/// dialect. A field is `None` when the frame does not carry it.
#[derive(Debug, Clone, Default)]
pub struct Frame {
    /// `type`: the op of a response, the event of a push.
    pub kind: String,
    /// Echoed request `seq` (responses only).
    pub seq: Option<u64>,
    /// Present on every response, never on a push.
    pub ok: Option<bool>,
    /// The error of an `ok: false` response (always there when `ok` is false).
    pub error: Option<ChatError>,
    /// `send_message` result and `message` push.
    pub msg_id: Option<u64>,
    /// The message's place in this connection's user's timeline: the sender's position
    /// in a `send_message` result, the recipient's in a `message` push (JSON only; the
    /// floor dialect has no timelines).
    pub pos: Option<u64>,
    /// `login` result: the end of the user's timeline when the session started.
    pub last_pos: Option<u64>,
    /// `message` push: the sender's id.
    pub from: Option<u64>,
    /// `message` push: the recipient's id.
    pub to: Option<u64>,
    /// `message` push: the sender's `client_msg_id`.
    pub client_msg_id: Option<String>,
    /// `register` / `login` result; `presence` and `friend_removed` push.
    pub user_id: Option<u64>,
    /// `add_friend` result, `friend_request` push.
    pub request_id: Option<u64>,
    /// `sync` / `history` result.
    pub messages: Option<Vec<MessageRec>>,
    /// `sync` / `history` result: more messages are there.
    pub more: Option<bool>,
}

/// A message inside a `sync` or `history` result, with chatload's ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageRec {
    /// Server-assigned id.
    pub msg_id: u64,
    /// Sender.
    pub from: u64,
    /// Recipient.
    pub to: u64,
    /// The sender's id for the message.
    pub client_msg_id: String,
    /// Its place in the timeline of the user who asked (`sync`'s cursor).
    pub pos: u64,
}

impl TryFrom<Message> for MessageRec {
    type Error = Malformed;

    fn try_from(m: Message) -> Result<Self, Malformed> {
        Ok(MessageRec {
            msg_id: id(m.msg_id)?,
            from: id(m.from)?,
            to: id(m.to)?,
            client_msg_id: m.client_msg_id,
            pos: id(m.pos)?,
        })
    }
}

/// Why a body could not be read as a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Not JSON, or not a response or push of the shape `proto` defines.
    #[error("bad json: {0}")]
    Json(String),
    /// Readable, but breaks the protocol's rules (named by the text).
    #[error("protocol violation: {0}")]
    Rule(&'static str),
    /// Larger than the contract's `max_frame`.
    #[error("frame of {0} bytes exceeds 65536")]
    TooLarge(usize),
}

impl Malformed {
    /// A short key for counting: `bad_json`, the rule's text, or `too_large`.
    pub fn key(&self) -> String {
        match self {
            Malformed::Json(_) => "bad_json".into(),
            Malformed::Rule(r) => (*r).into(),
            Malformed::TooLarge(_) => "too_large".into(),
        }
    }
}

fn bad_json(e: impl std::fmt::Display) -> Malformed {
    Malformed::Json(e.to_string())
}

/// A protocol id or position as chatload keeps it; a negative one makes the frame
/// malformed.
fn id(n: i64) -> Result<u64, Malformed> {
    u64::try_from(n).map_err(|_| Malformed::Json(format!("negative id {n}")))
}

/// chatload's id as a request carries it (ids come from the server, so they fit).
pub fn wire_id(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// `retry_after_ms` as a duration, at most [`MAX_RETRY_AFTER`]; `None` when absent.
pub fn retry_after(error: &ChatError) -> Option<Duration> {
    error
        .retry_after_ms
        .map(|ms| Duration::from_millis(ms).min(MAX_RETRY_AFTER))
}

/// The typed result of a successful response.
fn result<T: DeserializeOwned>(response: Response) -> Result<T, Malformed> {
    response.result().map_err(bad_json)
}

impl Frame {
    /// Decodes a JSON body through `proto` and checks the response/push rules of the
    /// contract (see the module doc).
    pub fn decode_json(body: &[u8]) -> Result<Frame, Malformed> {
        if body.len() > MAX_FRAME {
            return Err(Malformed::TooLarge(body.len()));
        }
        let value: Value = serde_json::from_slice(body).map_err(bad_json)?;
        if value.get("ok").is_some() {
            Frame::from_response(serde_json::from_value(value).map_err(bad_json)?)
        } else if value.get("seq").is_some() {
            Err(Malformed::Rule("push_with_seq"))
        } else {
            Frame::from_push(serde_json::from_value(value).map_err(bad_json)?)
        }
    }

    fn from_response(response: Response) -> Result<Frame, Malformed> {
        if !response.ok && response.error.is_none() {
            return Err(Malformed::Rule("ok_false_without_error"));
        }
        let mut f = Frame {
            kind: response.op.clone(),
            seq: response.seq,
            ok: Some(response.ok),
            error: response.error.clone(),
            ..Frame::default()
        };
        // `type: "error"` (a frame that was not a request) and unknown echoes carry no
        // result to read.
        let op = match Op::from_name(&f.kind) {
            Some(op) if response.ok => op,
            _ => return Ok(f),
        };
        match op {
            Op::Register => f.user_id = Some(id(result::<Registered>(response)?.user_id)?),
            Op::Login => {
                let r = result::<LoggedIn>(response)?;
                f.user_id = Some(id(r.user_id)?);
                f.last_pos = Some(id(r.last_pos)?);
            }
            Op::AddFriend => f.request_id = Some(id(result::<RequestSent>(response)?.request_id)?),
            Op::SendMessage => {
                let r = result::<Sent>(response)?;
                f.msg_id = Some(id(r.msg_id)?);
                f.pos = Some(id(r.pos)?);
            }
            Op::Sync | Op::History => {
                let page = result::<Messages>(response)?;
                let messages = page.messages.into_iter().map(MessageRec::try_from);
                f.messages = Some(messages.collect::<Result<_, _>>()?);
                f.more = Some(page.more);
            }
            // Results chatload does not read are still checked for their shape.
            Op::Ping => {
                let _: Pong = result(response)?;
            }
            Op::SearchUser => {
                let _: Users = result(response)?;
            }
            Op::GetProfile | Op::UpdateProfile => {
                let _: Profile = result(response)?;
            }
            Op::FriendRequests => {
                let _: FriendRequests = result(response)?;
            }
            Op::AcceptFriend => {
                let _: Befriended = result(response)?;
            }
            Op::Friends => {
                let _: Friends = result(response)?;
            }
            Op::Conversations => {
                let _: Conversations = result(response)?;
            }
            Op::Logout | Op::RejectFriend | Op::DeleteFriend | Op::Read => {}
        }
        Ok(f)
    }

    fn from_push(push: Push) -> Result<Frame, Malformed> {
        let mut f = Frame {
            kind: push.name().into(),
            ..Frame::default()
        };
        match push {
            Push::Message(m) => {
                f.msg_id = Some(id(m.msg_id)?);
                f.from = Some(id(m.from)?);
                f.to = Some(id(m.to)?);
                f.client_msg_id = Some(m.client_msg_id);
                f.pos = Some(id(m.pos)?);
            }
            Push::FriendRequest(r) => f.request_id = Some(id(r.request_id)?),
            Push::Presence { user_id, .. } | Push::FriendRemoved { user_id } => {
                f.user_id = Some(id(user_id)?)
            }
            Push::FriendAccepted { .. } | Push::Read { .. } | Push::LoggedOut { .. } => {}
        }
        Ok(f)
    }

    /// True for a response (it has `ok`), false for a push.
    pub fn is_reply(&self) -> bool {
        self.ok.is_some()
    }

    /// The error code of a failed response.
    pub fn error_code(&self) -> Option<ErrorCode> {
        self.error.as_ref().map(|e| e.code)
    }

    /// The `retry_after_ms` hint of a failed response (see [`retry_after`]).
    pub fn retry_after(&self) -> Option<Duration> {
        self.error.as_ref().and_then(retry_after)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_pushes_and_malformed_frames() {
        let ack = Frame::decode_json(
            br#"{"type":"send_message","seq":7,"ok":true,"msg_id":42,"ts":1,"pos":12}"#,
        )
        .unwrap();
        assert!(ack.is_reply());
        assert_eq!(
            (ack.seq, ack.msg_id, ack.pos),
            (Some(7), Some(42), Some(12))
        );

        let push = Frame::decode_json(
            br#"{"type":"message","msg_id":3,"from":5,"to":6,"text":"hi","ts":1,"client_msg_id":"1.2","pos":4}"#,
        )
        .unwrap();
        assert!(!push.is_reply());
        assert_eq!((push.from, push.to, push.pos), (Some(5), Some(6), Some(4)));
        assert_eq!(push.client_msg_id.as_deref(), Some("1.2"));

        let login = Frame::decode_json(
            br#"{"type":"login","seq":1,"ok":true,"user_id":5,"username":"a","nickname":"a","token":"t","last_pos":17}"#,
        )
        .unwrap();
        assert_eq!((login.user_id, login.last_pos), (Some(5), Some(17)));

        // A friend_request's `from` is a user object: the request id is read, no sender.
        let fr = Frame::decode_json(
            br#"{"type":"friend_request","request_id":9,"from":{"user_id":1,"username":"a","nickname":"a","avatar":"","online":true},"message":"","ts":1}"#,
        )
        .unwrap();
        assert_eq!(
            (fr.kind.as_str(), fr.request_id, fr.from),
            ("friend_request", Some(9), None)
        );

        let page = Frame::decode_json(
            br#"{"type":"sync","seq":2,"ok":true,"more":true,"messages":[{"msg_id":8,"from":1,"to":2,"text":"x","ts":1,"client_msg_id":"c","pos":3}]}"#,
        )
        .unwrap();
        assert_eq!(page.more, Some(true));
        let m = &page.messages.unwrap()[0];
        assert_eq!((m.msg_id, m.pos), (8, 3));

        let err = Frame::decode_json(
            br#"{"type":"send_message","seq":1,"ok":false,"error":{"code":"not_friends","message":"x"}}"#,
        )
        .unwrap();
        assert_eq!(err.error_code(), Some(ErrorCode::NotFriends));

        for bad in [
            &b"[1,2]"[..],
            b"{\"seq\":1,\"ok\":true}",
            b"{\"type\":1}",
            b"{\"type\":\"x\",\"seq\":\"7\",\"ok\":true}",
            b"not json",
            // Typed through proto: a result of the wrong shape, an unknown push or
            // error code, a negative id.
            b"{\"type\":\"send_message\",\"seq\":1,\"ok\":true}",
            b"{\"type\":\"weather\",\"sunny\":true}",
            b"{\"type\":\"x\",\"seq\":1,\"ok\":false,\"error\":{\"code\":\"oops\",\"message\":\"\"}}",
            b"{\"type\":\"presence\",\"user_id\":-1,\"online\":true}",
            // Protocol v1 shapes: a message, an ack and a login without their positions.
            br#"{"type":"message","msg_id":3,"from":5,"to":6,"text":"hi","ts":1,"client_msg_id":"1.2"}"#,
            br#"{"type":"send_message","seq":7,"ok":true,"msg_id":42,"ts":1}"#,
            br#"{"type":"login","seq":1,"ok":true,"user_id":5,"username":"a","nickname":"a","token":"t"}"#,
            br#"{"type":"message","msg_id":3,"from":5,"to":6,"text":"hi","ts":1,"client_msg_id":"1.2","pos":-1}"#,
        ] {
            assert!(
                matches!(Frame::decode_json(bad), Err(Malformed::Json(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            Frame::decode_json(br#"{"type":"x","seq":1,"ok":false}"#).unwrap_err(),
            Malformed::Rule("ok_false_without_error")
        );
        assert_eq!(
            Frame::decode_json(br#"{"type":"message","seq":1}"#).unwrap_err(),
            Malformed::Rule("push_with_seq")
        );
        assert_eq!(
            Frame::decode_json(&vec![b' '; MAX_FRAME + 1]).unwrap_err(),
            Malformed::TooLarge(MAX_FRAME + 1)
        );
    }

    /// `retry_after_ms` is an integer in the contract, and `proto::ChatError` reads it as
    /// one: chatload used to read any number leniently (a fraction as fractional ms, a
    /// negative or non-numeric hint as no hint); since it reads errors through `proto`,
    /// a hint that is not a non-negative integer makes the frame malformed instead.
    /// Large hints are still cut to [`MAX_RETRY_AFTER`].
    #[test]
    fn retry_after_hints_are_integers() {
        let decode = |error: &str| {
            let body = format!(r#"{{"type":"login","seq":1,"ok":false,"error":{error}}}"#);
            Frame::decode_json(body.as_bytes())
        };
        let hint = |error: &str| decode(error).unwrap().retry_after();
        assert_eq!(
            hint(r#"{"code":"rate_limited","message":"x","retry_after_ms":250}"#),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            hint(r#"{"code":"server_busy","message":"x","retry_after_ms":86400000}"#),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(hint(r#"{"code":"server_busy","message":"x"}"#), None);
        for odd in [r#"12.5"#, "-5", r#""soon""#] {
            let error = format!(r#"{{"code":"server_busy","message":"x","retry_after_ms":{odd}}}"#);
            assert!(matches!(decode(&error), Err(Malformed::Json(_))), "{odd}");
        }
    }

    #[test]
    fn ids_go_out_as_the_protocols() {
        assert_eq!(wire_id(11), 11);
        assert_eq!(wire_id(u64::MAX), i64::MAX);
    }
}
