//! [`Wire`]: the dialect a connection speaks, and the one place that sends a frame's
//! encoding or decoding to it: the JSON chat protocol (requests built as
//! `proto::Request`, bodies read by [`crate::wire`]) or the binary floor protocol
//! ([`crate::floor`]). Both decode into the same [`Frame`].
//!
//! Only what both dialects can say goes through here (`send_message`, `ping`, and
//! reading a body); the rest of a scenario's requests are JSON only and are built as
//! `proto::Request`s where they are sent.
//! May touch: nothing; plain values and bytes.

use proto::Request;

use crate::floor;
use crate::wire::{wire_id, Frame, Malformed};

/// The dialect a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    /// The JSON chat protocol of `startserv`.
    Json,
    /// The binary protocol of `relay_floor`.
    Floor,
}

impl Wire {
    /// Decodes one body from the server.
    pub fn decode(self, body: &[u8]) -> Result<Frame, Malformed> {
        match self {
            Wire::Json => Frame::decode_json(body),
            Wire::Floor => floor::decode_reply(body),
        }
    }

    /// A `send_message` request (JSON) or an `S` frame (floor).
    pub fn encode_send(self, seq: u64, to: u64, text: &str, client_msg_id: &str) -> Vec<u8> {
        match self {
            Wire::Json => Request::SendMessage {
                to: wire_id(to),
                text: text.into(),
                client_msg_id: client_msg_id.into(),
            }
            .encode(Some(seq)),
            Wire::Floor => floor::encode_send(seq, to, client_msg_id, text),
        }
    }

    /// A `ping` request (JSON) or a `P` frame (floor).
    pub fn encode_ping(self, seq: u64) -> Vec<u8> {
        match self {
            Wire::Json => Request::Ping.encode(Some(seq)),
            Wire::Floor => floor::encode_ping(seq),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn json_requests_are_the_contracts() {
        let v: Value =
            serde_json::from_slice(&Wire::Json.encode_send(3, 11, "hello", "0.5")).unwrap();
        assert_eq!(
            v,
            json!({"type":"send_message","seq":3,"to":11,"text":"hello","client_msg_id":"0.5"})
        );
        let v: Value = serde_json::from_slice(&Wire::Json.encode_ping(4)).unwrap();
        assert_eq!(v, json!({"type":"ping","seq":4}));
    }

    #[test]
    fn each_dialect_reads_its_own_frames() {
        let ack = br#"{"type":"send_message","seq":9,"ok":true,"msg_id":77,"ts":1,"pos":2}"#;
        let json = Wire::Json.decode(ack).unwrap();
        let floor = Wire::Floor.decode(&floor::encode_ack(9, 77)).unwrap();
        for f in [&json, &floor] {
            assert_eq!(
                (f.kind.as_str(), f.seq, f.ok, f.msg_id),
                ("send_message", Some(9), Some(true), Some(77))
            );
        }
        assert!(Wire::Floor.decode(ack).is_err());
        assert!(Wire::Json.decode(&floor::encode_ack(9, 77)).is_err());
        let ping = Wire::Floor.encode_ping(2);
        assert_eq!(
            floor::parse_request(&ping),
            Ok(floor::Request::Ping { seq: 2 })
        );
    }
}
