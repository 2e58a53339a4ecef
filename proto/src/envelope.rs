//! [`Envelope`]: a frame read as a request — its `type`, its `seq` and its fields —
//! before the operation's own fields are checked; or [`NotARequest`], why it is not one.
//!
//! May touch: nothing; plain values.

use serde_json::Value;

use crate::error::{ChatError, ErrorCode};
use crate::fields::Fields;

/// A frame that parsed as a JSON object with a string `type`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The operation's name (`type`), known or not.
    pub op: String,
    /// The client's `seq` when it is valid (an integer in 0..2^64-1), to echo. An invalid
    /// one is not echoed; [`Envelope::check_seq`] reports it.
    pub seq: Option<u64>,
    bad_seq: bool,
    /// Everything else.
    pub fields: Fields,
}

/// Why a frame is not a request. The response to it has `type: "error"`.
#[derive(Debug, Clone, PartialEq)]
pub struct NotARequest {
    /// The `seq` if a valid one could be read, so the client can still correlate.
    pub seq: Option<u64>,
    /// `bad_json` or `bad_request` (about `type`).
    pub error: ChatError,
}

impl Envelope {
    /// Reads one frame's body.
    pub fn parse(frame: &[u8]) -> Result<Envelope, NotARequest> {
        let bad_json = |what: &str| NotARequest {
            seq: None,
            error: ChatError::new(ErrorCode::BadJson, what),
        };
        let value: Value = serde_json::from_slice(frame)
            .map_err(|e| bad_json(&format!("the frame is not valid UTF-8 JSON: {e}")))?;
        let Value::Object(mut map) = value else {
            return Err(bad_json("the frame must be a JSON object"));
        };
        let raw_seq = map.remove("seq");
        let seq = raw_seq.as_ref().and_then(Value::as_u64);
        let bad_seq = raw_seq.is_some() && seq.is_none();
        let op = match map.remove("type") {
            Some(Value::String(op)) => op,
            other => {
                let problem = if other.is_some() {
                    "must be a string"
                } else {
                    "is required"
                };
                return Err(NotARequest {
                    seq,
                    error: ChatError::field("type", problem),
                });
            }
        };
        Ok(Envelope {
            op,
            seq,
            bad_seq,
            fields: Fields::from(map),
        })
    }

    /// `Ok` when `seq` is absent or an integer in 0..2^64-1.
    pub fn check_seq(&self) -> Result<(), ChatError> {
        if self.bad_seq {
            return Err(ChatError::field(
                "seq",
                "must be an integer from 0 to 18446744073709551615",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_objects_and_bad_types_are_not_requests() {
        let e = Envelope::parse(b"[1]").unwrap_err();
        assert_eq!(e.error.code, ErrorCode::BadJson);
        let e = Envelope::parse(b"\xff").unwrap_err();
        assert_eq!(e.error.code, ErrorCode::BadJson);
        let e = Envelope::parse(br#"{"seq": 4}"#).unwrap_err();
        assert_eq!(e.error.code, ErrorCode::BadRequest);
        assert_eq!(e.seq, Some(4));
        let e = Envelope::parse(br#"{"type": 4}"#).unwrap_err();
        assert!(e.error.message.contains("`type`"));
    }

    #[test]
    fn seq_must_fit_in_u64() {
        for (text, ok) in [
            (r#"{"type":"ping","seq":18446744073709551615}"#, true),
            (r#"{"type":"ping","seq":18446744073709551616}"#, false),
            (r#"{"type":"ping","seq":-1}"#, false),
            (r#"{"type":"ping","seq":"1"}"#, false),
            (r#"{"type":"ping"}"#, true),
        ] {
            let env = Envelope::parse(text.as_bytes()).unwrap();
            assert_eq!(env.check_seq().is_ok(), ok, "{text}");
            assert_eq!(env.seq.is_some(), ok && text.contains("seq"), "{text}");
        }
    }
}
