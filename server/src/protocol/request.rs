//! A request frame, parsed: `{"type": op, "seq": n, ...fields}`, with typed accessors
//! that turn a missing or ill-typed field into `bad_request` naming the field.
//!
//! Lengths follow the contract: `password` in UTF-8 bytes, every other text in
//! characters (Unicode scalar values).

use serde_json::{Map, Value};

use super::error::{ChatError, ErrorCode};

/// A request that parsed as a JSON object with a string `type`.
#[derive(Debug)]
pub struct Request {
    /// The operation (`type`).
    pub op: String,
    /// The client's `seq` when it is valid (an integer in 0..2^64-1), echoed in the
    /// response. An invalid one is not echoed; [`Request::check_seq`] reports it.
    pub seq: Option<u64>,
    /// A `seq` was given and is not valid.
    bad_seq: bool,
    fields: Map<String, Value>,
}

/// Why a frame is not a request. The response to it has `type: "error"`.
#[derive(Debug)]
pub struct NotARequest {
    /// The `seq` if a valid one could be read, so the client can still correlate.
    pub seq: Option<u64>,
    /// `bad_json` or `bad_request`.
    pub error: ChatError,
}

impl Request {
    /// Parses one frame body.
    pub fn parse(frame: &[u8]) -> Result<Request, NotARequest> {
        let bad_json = |what: &str| NotARequest {
            seq: None,
            error: ChatError::new(ErrorCode::BadJson, what),
        };
        let value: Value = serde_json::from_slice(frame)
            .map_err(|e| bad_json(&format!("the frame is not valid UTF-8 JSON: {e}")))?;
        let Value::Object(mut fields) = value else {
            return Err(bad_json("the frame must be a JSON object"));
        };
        let raw_seq = fields.remove("seq");
        let seq = raw_seq.as_ref().and_then(Value::as_u64);
        let bad_seq = raw_seq.is_some() && seq.is_none();
        let op = match fields.remove("type") {
            Some(Value::String(op)) => op,
            Some(_) => {
                return Err(NotARequest {
                    seq,
                    error: ChatError::field("type", "must be a string"),
                })
            }
            None => {
                return Err(NotARequest {
                    seq,
                    error: ChatError::field("type", "is required"),
                })
            }
        };
        Ok(Request {
            op,
            seq,
            bad_seq,
            fields,
        })
    }

    /// Checks `seq`: absent, or an integer in 0..2^64-1.
    pub fn check_seq(&self) -> Result<(), ChatError> {
        if self.bad_seq {
            return Err(ChatError::field(
                "seq",
                "must be an integer from 0 to 18446744073709551615",
            ));
        }
        Ok(())
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name).filter(|v| !v.is_null())
    }

    /// An optional string field, with its length in characters bounded.
    pub fn opt_str(&self, name: &str, max_chars: usize) -> Result<Option<&str>, ChatError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                if s.chars().count() > max_chars {
                    Err(ChatError::field(
                        name,
                        &format!("must be at most {max_chars} characters"),
                    ))
                } else {
                    Ok(Some(s))
                }
            }
            Some(_) => Err(ChatError::field(name, "must be a string")),
        }
    }

    /// A required string of `min..=max` characters.
    pub fn str_chars(&self, name: &str, min: usize, max: usize) -> Result<&str, ChatError> {
        let s = self
            .opt_str(name, max)?
            .ok_or_else(|| ChatError::field(name, "is required"))?;
        if s.chars().count() < min {
            return Err(ChatError::field(
                name,
                &format!("must be {min} to {max} characters"),
            ));
        }
        Ok(s)
    }

    /// A required string of `min..=max` UTF-8 bytes (passwords).
    pub fn str_bytes(&self, name: &str, min: usize, max: usize) -> Result<&str, ChatError> {
        match self.get(name) {
            Some(Value::String(s)) if (min..=max).contains(&s.len()) => Ok(s),
            Some(Value::String(_)) => Err(ChatError::field(
                name,
                &format!("must be {min} to {max} bytes of UTF-8"),
            )),
            Some(_) => Err(ChatError::field(name, "must be a string")),
            None => Err(ChatError::field(name, "is required")),
        }
    }

    /// An optional non-negative integer no larger than `i64::MAX`.
    pub fn opt_id(&self, name: &str) -> Result<Option<i64>, ChatError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => match v.as_u64().and_then(|n| i64::try_from(n).ok()) {
                Some(n) => Ok(Some(n)),
                None => Err(ChatError::field(name, "must be a non-negative integer")),
            },
        }
    }

    /// A required non-negative integer.
    pub fn id(&self, name: &str) -> Result<i64, ChatError> {
        self.opt_id(name)?
            .ok_or_else(|| ChatError::field(name, "is required"))
    }

    /// An optional `1..=max` count, `default` when absent.
    pub fn limit(&self, name: &str, default: usize, max: usize) -> Result<usize, ChatError> {
        match self.opt_id(name)? {
            None => Ok(default),
            Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
            Some(_) => Err(ChatError::field(name, &format!("must be 1 to {max}"))),
        }
    }

    /// An optional boolean, `default` when absent.
    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ChatError> {
        match self.get(name) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(ChatError::field(name, "must be true or false")),
        }
    }

    /// Whether the request carries the field at all (null counts as absent).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Request {
        Request::parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn non_objects_and_bad_types_are_not_requests() {
        let e = Request::parse(b"[1]").unwrap_err();
        assert_eq!(e.error.code, ErrorCode::BadJson);
        let e = Request::parse(b"\xff").unwrap_err();
        assert_eq!(e.error.code, ErrorCode::BadJson);
        let e = Request::parse(br#"{"seq": 4}"#).unwrap_err();
        assert_eq!(e.error.code, ErrorCode::BadRequest);
        assert_eq!(e.seq, Some(4));
        let e = Request::parse(br#"{"type": 4}"#).unwrap_err();
        assert!(e.error.message.contains("`type`"));
    }

    #[test]
    fn lengths_count_characters_except_for_passwords() {
        let r = parse(r#"{"type":"x","text":"😀😀","password":"😀😀"}"#);
        assert!(r.str_chars("text", 1, 2).is_ok());
        assert!(r.str_bytes("password", 8, 8).is_ok());
        assert!(r.str_bytes("password", 9, 128).is_err());
        assert_eq!(
            r.str_chars("missing", 1, 2).unwrap_err().message,
            "field `missing` is required"
        );
    }

    #[test]
    fn ids_must_be_non_negative_integers() {
        let r = parse(r#"{"type":"x","a":1.5,"b":-1,"c":"1","d":7}"#);
        assert!(r.id("a").is_err());
        assert!(r.id("b").is_err());
        assert!(r.id("c").is_err());
        assert_eq!(r.id("d").unwrap(), 7);
        assert_eq!(r.limit("e", 50, 100).unwrap(), 50);
        assert!(r.limit("d", 50, 5).is_err());
    }
}
