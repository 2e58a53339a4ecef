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
//! Error codes are the chat protocol's (`proto::ErrorCode`, by wire name).
//!
//! Both sides live here: the client encoders and [`decode_reply`], which decodes a server
//! frame into the same [`Frame`] a JSON `send_message` ack or `message` push would fill
//! (so the scenarios read both dialects alike); and the server's [`parse_request`] and
//! encoders (`relay_floor`). Connections pick this dialect through `dialect::Wire`.
//! May touch: nothing; plain values and bytes.

use proto::{ChatError, ErrorCode};
use serde_json::Value;

use crate::wire::{Frame, Malformed};

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

/// Client: an `L` request.
pub fn encode_login(seq: u64, user: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(13);
    out.push(OP_LOGIN);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&user.to_be_bytes());
    out
}

/// Client: an `S` request carrying chatload's payload (`client_msg_id`, text). Ids
/// above `u32::MAX` and `client_msg_id`s above 255 bytes are truncated.
pub fn encode_send(seq: u64, to: u64, client_msg_id: &str, text: &str) -> Vec<u8> {
    let cmid = &client_msg_id.as_bytes()[..client_msg_id.len().min(255)];
    let mut out = Vec::with_capacity(14 + cmid.len() + text.len());
    out.push(OP_SEND);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(&(to.min(u64::from(u32::MAX)) as u32).to_be_bytes());
    out.push(cmid.len() as u8);
    out.extend_from_slice(cmid);
    out.extend_from_slice(text.as_bytes());
    out
}

/// Client: a `P` request.
pub fn encode_ping(seq: u64) -> Vec<u8> {
    encode_done(OP_PING, seq)
}

/// A one-field frame: the server's `l` or `p` response (or the client's `P`).
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
pub fn encode_error(seq: u64, op: u8, code: ErrorCode) -> Vec<u8> {
    let code = code.as_str();
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

/// The error code a floor error names (the chat protocol's wire names).
fn code_named(name: &[u8]) -> Option<ErrorCode> {
    let name = std::str::from_utf8(name).ok()?;
    serde_json::from_value(Value::from(name)).ok()
}

/// Client: decodes a server frame into the [`Frame`] a JSON server would have produced.
/// An error naming no code of the chat protocol is `floor_unknown_code`.
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
            let code = code_named(&body[10..]).ok_or(Malformed::Rule("floor_unknown_code"))?;
            f.error = Some(ChatError::new(code, ""));
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
                from: Some(u64::from(from)),
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
        let buf = encode_send(9, 4, "12.345", "hello");
        let Ok(Request::Send { seq, to, payload }) = parse_request(&buf) else {
            panic!("not a send: {buf:?}");
        };
        assert_eq!((seq, to), (9, 4));
        let push = decode_reply(&encode_push(77, 3, payload)).unwrap();
        assert_eq!(push.msg_id, Some(77));
        assert_eq!(push.from, Some(3));
        assert_eq!(push.client_msg_id.as_deref(), Some("12.345"));
        assert!(!push.is_reply());

        let ack = decode_reply(&encode_ack(9, 77)).unwrap();
        assert_eq!(
            (ack.kind.as_str(), ack.seq, ack.msg_id),
            ("send_message", Some(9), Some(77))
        );
        let err = decode_reply(&encode_error(5, OP_SEND, ErrorCode::NoSuchUser)).unwrap();
        assert_eq!(err.error_code(), Some(ErrorCode::NoSuchUser));
        assert_eq!(err.ok, Some(false));
        let mut odd = encode_error(5, OP_SEND, ErrorCode::NoSuchUser);
        odd.truncate(10);
        odd.extend_from_slice(b"no_such_thing");
        assert_eq!(
            decode_reply(&odd).unwrap_err(),
            Malformed::Rule("floor_unknown_code")
        );

        assert_eq!(
            parse_request(&encode_login(1, 42)),
            Ok(Request::Login { seq: 1, user: 42 })
        );
        assert_eq!(parse_request(&encode_ping(2)), Ok(Request::Ping { seq: 2 }));
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
