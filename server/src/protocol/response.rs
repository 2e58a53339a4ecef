//! Building outgoing frames: responses (`ok` true/false, echoed `seq`), pushes (no
//! `ok`), and the JSON shapes of users and messages.
//!
//! Every list a response carries goes through [`fit`], which keeps the frame under
//! `max_frame` and says `more: true` when it had to stop early.

use serde_json::{json, Map, Value};

use super::error::{ChatError, ErrorCode};
use crate::model::{Message, User};

/// Bytes kept free for the envelope around a list (type, seq, ok, other fields).
const ENVELOPE: usize = 512;

/// Characters of a request's `type` echoed at most. Only an unknown type can be longer
/// (the contract's are all short); cutting it keeps every response within a frame.
pub const MAX_TYPE_ECHO: usize = 256;

/// `op` as a response echoes it: cut to [`MAX_TYPE_ECHO`] characters.
pub fn type_echo(op: &str) -> &str {
    match op.char_indices().nth(MAX_TYPE_ECHO) {
        Some((cut, _)) => &op[..cut],
        None => op,
    }
}

/// A success response.
pub fn ok(op: &str, seq: Option<u64>, mut result: Map<String, Value>) -> Vec<u8> {
    result.insert("type".into(), Value::String(type_echo(op).into()));
    if let Some(seq) = seq {
        result.insert("seq".into(), Value::from(seq));
    }
    result.insert("ok".into(), Value::Bool(true));
    encode(&Value::Object(result))
}

/// A failure response; `retry_after_ms` goes inside `error` when the error has one.
pub fn error(op: &str, seq: Option<u64>, e: &ChatError) -> Vec<u8> {
    let mut error = json!({ "code": e.code.as_str(), "message": e.message });
    if let (Some(ms), Some(obj)) = (e.retry_after_ms, error.as_object_mut()) {
        obj.insert("retry_after_ms".into(), Value::from(ms));
    }
    let mut v = json!({ "type": type_echo(op), "ok": false, "error": error });
    if let (Some(seq), Some(obj)) = (seq, v.as_object_mut()) {
        obj.insert("seq".into(), Value::from(seq));
    }
    encode(&v)
}

/// The response to a frame that could not be read as a request (`type: "error"`).
pub fn frame_error(code: ErrorCode, message: &str) -> Vec<u8> {
    error("error", None, &ChatError::new(code, message))
}

/// A push: `{"type": event, ...body}` and never an `ok` field.
pub fn push(event: &str, mut body: Map<String, Value>) -> Vec<u8> {
    body.insert("type".into(), Value::String(event.into()));
    encode(&Value::Object(body))
}

fn encode(v: &Value) -> Vec<u8> {
    // Serialising a `Value` cannot fail: its keys are strings.
    serde_json::to_vec(v).unwrap_or_default()
}

/// A user as the wire shows it.
pub fn user(u: &User, online: bool) -> Value {
    json!({
        "user_id": u.user_id,
        "username": u.username,
        "nickname": u.nickname,
        "avatar": u.avatar,
        "online": online,
    })
}

/// A message as the wire shows it.
pub fn message(m: &Message) -> Value {
    json!({
        "msg_id": m.msg_id,
        "from": m.from,
        "to": m.to,
        "text": m.text,
        "ts": m.ts,
        "client_msg_id": m.client_msg_id,
    })
}

/// Takes items in order while the frame stays under `max_frame`; returns them and
/// whether any were left out.
pub fn fit(items: impl IntoIterator<Item = Value>, max_frame: usize) -> (Vec<Value>, bool) {
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

/// A page of a list result: `rows` were fetched with `limit + 1` so that one extra row
/// tells whether more exist. Keeps at most `limit`, cut further to fit the frame;
/// returns the JSON items and `more`.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: usize,
    to_json: impl Fn(&T) -> Value,
    max_frame: usize,
) -> (Vec<Value>, bool) {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let (items, cut) = fit(rows.iter().map(to_json), max_frame);
    (items, more || cut)
}

/// Builds a result object from pairs.
#[macro_export]
macro_rules! result {
    ($($key:literal : $value:expr),* $(,)?) => {{
        #[allow(unused_mut)]
        let mut map = serde_json::Map::new();
        $( map.insert($key.to_string(), serde_json::json!($value)); )*
        map
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_echo_seq_and_pushes_have_no_ok() {
        let r: Value = serde_json::from_slice(&ok("ping", Some(7), Map::new())).unwrap();
        assert_eq!(r, json!({"type": "ping", "seq": 7, "ok": true}));
        let e = ChatError::new(ErrorCode::NotFriends, "no");
        let r: Value = serde_json::from_slice(&error("send_message", None, &e)).unwrap();
        assert_eq!(r["error"]["code"], "not_friends");
        assert!(r.get("seq").is_none());
        let p: Value = serde_json::from_slice(&push("presence", Map::new())).unwrap();
        assert!(p.get("ok").is_none());
    }

    #[test]
    fn fit_stops_before_the_frame_limit() {
        let items = (0..100).map(|i| json!({"n": i, "pad": "x".repeat(100)}));
        let (kept, more) = fit(items, 2048);
        assert!(more);
        assert!(!kept.is_empty());
        let frame = serde_json::to_vec(
            &json!({"type":"sync","ok":true,"seq":1,"messages":kept,"more":true}),
        )
        .unwrap();
        assert!(frame.len() <= 2048);
    }
}
