//! What travels on a connection: the requests chatload sends and [`Frame`], the decoded
//! form of whatever the server sends back.
//!
//! Framing (a 4-byte big-endian length, then the body) is done by the reactor's
//! [`reactor::LengthPrefixed`] codec; this module sees bodies. Two dialects share one
//! decoded shape so that the scenarios do not care which server they talk to:
//! * [`Wire::Json`]: the chat protocol (`startserv`). A body is one JSON object; a
//!   response has `ok`, a push never has it.
//! * [`Wire::Floor`]: the binary protocol of `relay_floor` (see [`crate::floor`]),
//!   decoded into the same [`Frame`] fields a JSON `send_message` ack or `message`
//!   push would fill.
//!
//! Nothing here panics on network data: a body that cannot be read is a [`Malformed`]
//! value, which the caller counts.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::floor;

/// Largest body the wire contract allows (the server's default `max_frame`). chatload's
/// own codec accepts more so that an oversized frame is counted instead of closing.
pub const MAX_FRAME: usize = 65_536;

/// A frame from the server, decoded. Fields chatload does not read are skipped; a field
/// chatload reads that has the wrong JSON type makes the frame [`Malformed`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Frame {
    /// `type`: the op of a response, the event of a push.
    #[serde(rename = "type")]
    pub kind: String,
    /// Echoed request `seq` (responses only).
    #[serde(default)]
    pub seq: Option<u64>,
    /// Present on every response, never on a push.
    #[serde(default)]
    pub ok: Option<bool>,
    /// The error of an `ok: false` response.
    #[serde(default)]
    pub error: Option<ErrorBody>,
    /// `send_message` ack and `message` push.
    #[serde(default)]
    pub msg_id: Option<u64>,
    /// `message` push: the sender's id (a user object in `friend_request`, hence `Value`).
    #[serde(default)]
    pub from: Option<Value>,
    /// `message` push: the recipient's id.
    #[serde(default)]
    pub to: Option<Value>,
    /// `message` push: the sender's `client_msg_id`.
    #[serde(default)]
    pub client_msg_id: Option<String>,
    /// `register` / `login` result, `presence` push.
    #[serde(default)]
    pub user_id: Option<u64>,
    /// `add_friend` result, `friend_request` push.
    #[serde(default)]
    pub request_id: Option<u64>,
    /// `sync` / `history` result.
    #[serde(default)]
    pub messages: Option<Vec<MessageRec>>,
    /// List results: the list was cut short.
    #[serde(default)]
    pub more: Option<bool>,
}

/// The `error` object of a failed response.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorBody {
    /// Machine-readable code (`not_friends`, `server_busy`, ...).
    pub code: String,
    /// Human text.
    #[serde(default)]
    pub message: Option<String>,
    /// `rate_limited` / `server_busy`: when the server suggests trying again, in ms. Kept
    /// as a raw value so that an odd one (a float, a string) never makes the frame
    /// malformed; read it with [`ErrorBody::retry_after`].
    #[serde(default)]
    pub retry_after_ms: Option<Value>,
}

/// The longest `retry_after_ms` chatload honours; larger hints are cut to this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

impl ErrorBody {
    /// `retry_after_ms` as a duration (a non-negative number, at most
    /// [`MAX_RETRY_AFTER`]); `None` when absent or not a number.
    pub fn retry_after(&self) -> Option<Duration> {
        let ms = self.retry_after_ms.as_ref()?.as_f64()?;
        if !(ms.is_finite() && ms >= 0.0) {
            return None;
        }
        Some(Duration::from_secs_f64(ms / 1000.0).min(MAX_RETRY_AFTER))
    }
}

/// A message object inside a `sync` result.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct MessageRec {
    /// Server-assigned id.
    pub msg_id: u64,
    /// Sender.
    pub from: u64,
    /// Recipient.
    pub to: u64,
    /// The sender's id for the message.
    #[serde(default)]
    pub client_msg_id: Option<String>,
}

/// Why a body could not be read as a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Not a JSON object with a string `type` (or a known field of the wrong type).
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

impl Frame {
    /// Decodes a JSON body and checks the response/push rules of the contract.
    pub fn decode_json(body: &[u8]) -> Result<Frame, Malformed> {
        if body.len() > MAX_FRAME {
            return Err(Malformed::TooLarge(body.len()));
        }
        let frame: Frame =
            serde_json::from_slice(body).map_err(|e| Malformed::Json(e.to_string()))?;
        frame.check()?;
        Ok(frame)
    }

    /// The contract's shape rules: `ok: false` carries `error.code`; a push has no `seq`.
    pub fn check(&self) -> Result<(), Malformed> {
        match self.ok {
            Some(false) if self.error.is_none() => Err(Malformed::Rule("ok_false_without_error")),
            None if self.seq.is_some() => Err(Malformed::Rule("push_with_seq")),
            _ => Ok(()),
        }
    }

    /// True for a response (it has `ok`), false for a push.
    pub fn is_reply(&self) -> bool {
        self.ok.is_some()
    }

    /// The error code of a failed response.
    pub fn error_code(&self) -> Option<&str> {
        self.error.as_ref().map(|e| e.code.as_str())
    }

    /// The `retry_after_ms` hint of a failed response (see [`ErrorBody::retry_after`]).
    pub fn retry_after(&self) -> Option<Duration> {
        self.error.as_ref().and_then(ErrorBody::retry_after)
    }

    /// `from` as a user id (a `message` push).
    pub fn from_id(&self) -> Option<u64> {
        self.from.as_ref().and_then(Value::as_u64)
    }
}

/// The dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The JSON chat protocol of `startserv`.
    Json,
    /// The binary protocol of `relay_floor`.
    Floor,
}

#[derive(Serialize)]
struct SendReq<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    seq: u64,
    to: u64,
    text: &'a str,
    client_msg_id: &'a str,
}

impl Wire {
    /// Decodes one body from the server.
    pub fn decode(self, body: &[u8]) -> Result<Frame, Malformed> {
        match self {
            Wire::Json => Frame::decode_json(body),
            Wire::Floor => floor::decode_reply(body),
        }
    }

    /// Appends a `send_message` request (JSON) or an `S` frame (floor) to `out`.
    pub fn encode_send(
        self,
        out: &mut Vec<u8>,
        seq: u64,
        to: u64,
        text: &str,
        client_msg_id: &str,
    ) {
        match self {
            Wire::Json => {
                let req = SendReq {
                    kind: "send_message",
                    seq,
                    to,
                    text,
                    client_msg_id,
                };
                // Serialising plain strings and integers into a Vec cannot fail.
                let _ = serde_json::to_writer(out, &req);
            }
            Wire::Floor => floor::encode_send(out, seq, to, client_msg_id, text),
        }
    }

    /// Appends a `ping` request to `out`.
    pub fn encode_ping(self, out: &mut Vec<u8>, seq: u64) {
        match self {
            Wire::Json => encode_request(out, "ping", seq, Map::new()),
            Wire::Floor => floor::encode_ping(out, seq),
        }
    }
}

/// Appends a JSON request `{"type": op, "seq": seq, ...fields}` to `out`.
pub fn encode_request(out: &mut Vec<u8>, op: &str, seq: u64, mut fields: Map<String, Value>) {
    fields.insert("type".into(), Value::String(op.into()));
    fields.insert("seq".into(), Value::from(seq));
    // A map of strings and plain values always serialises.
    let _ = serde_json::to_writer(out, &Value::Object(fields));
}

/// Builds a field map from `(name, value)` pairs.
pub fn fields<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_pushes_and_malformed_frames() {
        let ack =
            Frame::decode_json(br#"{"type":"send_message","seq":7,"ok":true,"msg_id":42,"ts":1}"#)
                .unwrap();
        assert!(ack.is_reply());
        assert_eq!((ack.seq, ack.msg_id), (Some(7), Some(42)));

        let push = Frame::decode_json(
            br#"{"type":"message","msg_id":3,"from":5,"to":6,"text":"hi","ts":1,"client_msg_id":"1.2"}"#,
        )
        .unwrap();
        assert!(!push.is_reply());
        assert_eq!(push.from_id(), Some(5));

        // A friend_request's `from` is a user object: still readable.
        let fr = Frame::decode_json(
            br#"{"type":"friend_request","request_id":9,"from":{"user_id":1},"message":"","ts":1}"#,
        )
        .unwrap();
        assert_eq!((fr.request_id, fr.from_id()), (Some(9), None));

        let err = Frame::decode_json(
            br#"{"type":"send_message","seq":1,"ok":false,"error":{"code":"not_friends","message":"x"}}"#,
        )
        .unwrap();
        assert_eq!(err.error_code(), Some("not_friends"));

        for bad in [
            &b"[1,2]"[..],
            b"{\"seq\":1,\"ok\":true}",
            b"{\"type\":1}",
            b"{\"type\":\"x\",\"seq\":\"7\",\"ok\":true}",
            b"not json",
        ] {
            assert!(matches!(Frame::decode_json(bad), Err(Malformed::Json(_))));
        }
        assert_eq!(
            Frame::decode_json(br#"{"type":"x","seq":1,"ok":false}"#).unwrap_err(),
            Malformed::Rule("ok_false_without_error")
        );
        assert_eq!(
            Frame::decode_json(br#"{"type":"message","seq":1}"#).unwrap_err(),
            Malformed::Rule("push_with_seq")
        );
    }

    #[test]
    fn retry_after_hints_are_read_leniently() {
        let hint = |error: &str| {
            let body = format!(r#"{{"type":"login","seq":1,"ok":false,"error":{error}}}"#);
            Frame::decode_json(body.as_bytes()).unwrap().retry_after()
        };
        assert_eq!(
            hint(r#"{"code":"rate_limited","message":"x","retry_after_ms":250}"#),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            hint(r#"{"code":"server_busy","retry_after_ms":12.5}"#),
            Some(Duration::from_micros(12_500))
        );
        assert_eq!(
            hint(r#"{"code":"server_busy","retry_after_ms":86400000}"#),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(hint(r#"{"code":"server_busy"}"#), None);
        assert_eq!(hint(r#"{"code":"server_busy","retry_after_ms":-5}"#), None);
        assert_eq!(
            hint(r#"{"code":"server_busy","retry_after_ms":"soon"}"#),
            None
        );
    }

    #[test]
    fn send_request_is_the_contracts_json() {
        let mut out = Vec::new();
        Wire::Json.encode_send(&mut out, 3, 11, "hello", "0.5");
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type":"send_message","seq":3,"to":11,"text":"hello","client_msg_id":"0.5"})
        );
    }
}
