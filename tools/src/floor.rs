//! The binary protocol between `chatload relay --floor` and `relay_floor`.
//!
//! Same framing as the chat protocol (4-byte big-endian length, then the body), but the
//! body is binary: its first byte is the op, integers are big-endian. No JSON, no store:
//! the floor measures what relaying costs through our reactor alone.
//!
//! ```text
//! client -> server
//!   'L' seq:u64 user:u32             log in as `user` (replaces a previous login of it)
//!   'S' seq:u64 to:u32 payload...    relay `payload` to the connection logged in as `to`
//!   'P' seq:u64                      ping
//! server -> client (responses in request order, like the chat server)
//!   'l' seq:u64                      logged in
//!   'a' seq:u64 msg_id:u64           send accepted (the "ack"); msg_id is server-wide
//!   'p' seq:u64                      pong
//!   'e' seq:u64 op:u8 code...        request `op` failed: code is UTF-8
//!                                    (`no_such_user`, `unauthenticated`, `bad_request`)
//! server -> client (push)
//!   'm' msg_id:u64 from:u32 payload  a relayed message: the sender's payload, unchanged
//! ```
//!
//! chatload's payload is `cmid_len:u8 cmid text`: the `client_msg_id` (which carries the
//! send time, as in JSON mode) then the text padding, so both modes move similar bytes.

use serde_json::Value;

use crate::wire::{ErrorBody, Frame, Malformed};

/// Log in (client to server).
pub const OP_LOGIN: u8 = b'L';
/// Send (client to server).
pub const OP_SEND: u8 = b'S';
/// Ping (client to server).
pub const OP_PING: u8 = b'P';
/// Logged in (server to client).
pub const R_LOGIN: u8 = b'l';
/// Send accepted (server to client).
pub const R_ACK: u8 = b'a';
/// Pong (server to client).
pub const R_PONG: u8 = b'p';
/// Request failed (server to client).
pub const R_ERROR: u8 = b'e';
/// Relayed message (server push).
pub const R_MESSAGE: u8 = b'm';

/// A request as `relay_floor` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// `L`: log in as `user`.
    Login {
        /// Echoed in the response.
        seq: u64,
        /// The id to be reachable under.
        user: u32,
    },
    /// `S`: relay `payload` to `to`.
    Send {
        /// Echoed in the response.
        seq: u64,
        /// The recipient's id.
        to: u32,
        /// Opaque bytes pushed to the recipient unchanged.
        payload: &'a [u8],
    },
    /// `P`: ping.
    Ping {
        /// Echoed in the response.
        seq: u64,
    },
}

impl Request<'_> {
    /// The op byte of the request.
    pub fn op(&self) -> u8 {
        match self {
            Request::Login { .. } => OP_LOGIN,
            Request::Send { .. } => OP_SEND,
            Request::Ping { .. } => OP_PING,
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    let bytes: [u8; 8] = b.get(at..at + 8)?.try_into().ok()?;
    Some(u64::from_be_bytes(bytes))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let bytes: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_be_bytes(bytes))
}

/// Reads a client request; `Err` carries the seq (0 if unreadable) and op of a bad one.
pub fn parse_request(body: &[u8]) -> Result<Request<'_>, (u64, u8)> {
    let op = body.first().copied().unwrap_or(0);
    let seq = u64_at(body, 1);
    let bad = (seq.unwrap_or(0), op);
    let seq = seq.ok_or(bad)?;
    match op {
        OP_LOGIN if body.len() == 13 => Ok(Request::Login {
            seq,
            user: u32_at(body, 9).ok_or(bad)?,
        }),
        OP_SEND if body.len() >= 13 => Ok(Request::Send {
            seq,
            to: u32_at(body, 9).ok_or(bad)?,
            payload: &body[13..],
        }),
        OP_PING if body.len() == 9 => Ok(Request::Ping { seq }),
        _ => Err(bad),
    }
}

/// Client: appends an `L` request.
pub fn encode_login(out: &mut Vec<u8>, seq: u64, user: u32) {
    out.push(OP_LOGIN);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&user.to_be_bytes());
}

/// Client: appends an `S` request carrying chatload's payload (`client_msg_id`, text).
/// Ids above `u32::MAX` and `client_msg_id`s above 255 bytes are truncated.
pub fn encode_send(out: &mut Vec<u8>, seq: u64, to: u64, client_msg_id: &str, text: &str) {
    out.push(OP_SEND);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&(to.min(u64::from(u32::MAX)) as u32).to_be_bytes());
    let cmid = &client_msg_id.as_bytes()[..client_msg_id.len().min(255)];
    out.push(cmid.len() as u8);
    out.extend_from_slice(cmid);
    out.extend_from_slice(text.as_bytes());
}

/// Client: appends a `P` request.
pub fn encode_ping(out: &mut Vec<u8>, seq: u64) {
    out.push(OP_PING);
    out.extend_from_slice(&seq.to_be_bytes());
}

/// Server: a one-field response (`l` or `p`).
pub fn encode_done(reply: u8, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    out.push(reply);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

/// Server: the ack of a send.
pub fn encode_ack(seq: u64, msg_id: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(17);
    out.push(R_ACK);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&msg_id.to_be_bytes());
    out
}

/// Server: an error response to request `op`.
pub fn encode_error(seq: u64, op: u8, code: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + code.len());
    out.push(R_ERROR);
    out.extend_from_slice(&seq.to_be_bytes());
    out.push(op);
    out.extend_from_slice(code.as_bytes());
    out
}

/// Server: the push of a relayed payload.
pub fn encode_push(msg_id: u64, from: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(13 + payload.len());
    out.push(R_MESSAGE);
    out.extend_from_slice(&msg_id.to_be_bytes());
    out.extend_from_slice(&from.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn op_name(op: u8) -> &'static str {
    match op {
        OP_LOGIN => "login",
        OP_SEND => "send_message",
        OP_PING => "ping",
        _ => "unknown",
    }
}

/// Client: decodes a server frame into the [`Frame`] a JSON server would have produced.
pub fn decode_reply(body: &[u8]) -> Result<Frame, Malformed> {
    let short = Malformed::Rule("floor_short_frame");
    let op = *body.first().ok_or(Malformed::Rule("floor_empty_frame"))?;
    let reply = |kind: &str, seq: u64| Frame {
        kind: kind.into(),
        seq: Some(seq),
        ok: Some(true),
        ..Frame::default()
    };
    match op {
        R_LOGIN | R_PONG if body.len() == 9 => {
            let seq = u64_at(body, 1).ok_or(short)?;
            Ok(reply(if op == R_LOGIN { "login" } else { "ping" }, seq))
        }
        R_ACK if body.len() == 17 => {
            let seq = u64_at(body, 1).ok_or(short.clone())?;
            let mut f = reply("send_message", seq);
            f.msg_id = Some(u64_at(body, 9).ok_or(short)?);
            Ok(f)
        }
        R_ERROR if body.len() >= 10 => {
            let seq = u64_at(body, 1).ok_or(short)?;
            let mut f = reply(op_name(body[9]), seq);
            f.ok = Some(false);
            f.error = Some(ErrorBody {
                code: String::from_utf8_lossy(&body[10..]).into_owned(),
                message: None,
                retry_after_ms: None,
            });
            Ok(f)
        }
        R_MESSAGE if body.len() >= 14 => {
            let msg_id = u64_at(body, 1).ok_or(short.clone())?;
            let from = u32_at(body, 9).ok_or(short)?;
            let len = usize::from(body[13]);
            let cmid = body
                .get(14..14 + len)
                .ok_or(Malformed::Rule("floor_bad_payload"))?;
            Ok(Frame {
                kind: "message".into(),
                msg_id: Some(msg_id),
                from: Some(Value::from(from)),
                client_msg_id: Some(String::from_utf8_lossy(cmid).into_owned()),
                ..Frame::default()
            })
        }
        _ => Err(Malformed::Rule("floor_unknown_frame")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_round_trip() {
        let mut buf = Vec::new();
        encode_send(&mut buf, 9, 4, "12.345", "hello");
        let Ok(Request::Send { seq, to, payload }) = parse_request(&buf) else {
            panic!("not a send: {buf:?}");
        };
        assert_eq!((seq, to), (9, 4));
        let push = decode_reply(&encode_push(77, 3, payload)).unwrap();
        assert_eq!(push.msg_id, Some(77));
        assert_eq!(push.from_id(), Some(3));
        assert_eq!(push.client_msg_id.as_deref(), Some("12.345"));
        assert!(!push.is_reply());

        let ack = decode_reply(&encode_ack(9, 77)).unwrap();
        assert_eq!(
            (ack.kind.as_str(), ack.seq, ack.msg_id),
            ("send_message", Some(9), Some(77))
        );
        let err = decode_reply(&encode_error(5, OP_SEND, "no_such_user")).unwrap();
        assert_eq!(err.error_code(), Some("no_such_user"));
        assert_eq!(err.ok, Some(false));

        buf.clear();
        encode_login(&mut buf, 1, 42);
        assert_eq!(parse_request(&buf), Ok(Request::Login { seq: 1, user: 42 }));
        buf.clear();
        encode_ping(&mut buf, 2);
        assert_eq!(parse_request(&buf), Ok(Request::Ping { seq: 2 }));
        assert_eq!(decode_reply(&encode_done(R_PONG, 2)).unwrap().kind, "ping");
    }

    #[test]
    fn garbage_never_panics() {
        assert!(parse_request(b"").is_err());
        assert!(parse_request(b"L123").is_err());
        assert!(decode_reply(b"").is_err());
        assert!(decode_reply(b"m\0\0\0\0\0\0\0\x01\0\0\0\x01\xff").is_err());
        assert!(decode_reply(b"zzzzzzzzzzzz").is_err());
    }
}
