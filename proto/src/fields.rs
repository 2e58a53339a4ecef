//! [`Fields`]: a request's fields, with typed accessors that apply the contract's rules
//! and turn a missing, ill-typed or out-of-range field into `bad_request` naming it.
//!
//! Lengths follow the contract: `password` in UTF-8 bytes, every other text in
//! characters (Unicode scalar values). `null` counts as absent.
//! May touch: nothing; plain values.

use serde_json::{Map, Value};

use crate::error::ChatError;

/// The fields of a request, `type` and `seq` taken out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Map<String, Value>);

impl From<Map<String, Value>> for Fields {
    fn from(map: Map<String, Value>) -> Self {
        Self(map)
    }
}

impl Fields {
    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// Whether the field is there at all (`null` counts as absent).
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// An optional string of at most `max_chars` characters.
    pub fn opt_str(&self, name: &str, max_chars: usize) -> Result<Option<String>, ChatError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() > max_chars => Err(ChatError::field(
                name,
                &format!("must be at most {max_chars} characters"),
            )),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ChatError::field(name, "must be a string")),
        }
    }

    /// A required string of `min..=max` characters.
    pub fn str_chars(&self, name: &str, min: usize, max: usize) -> Result<String, ChatError> {
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
    pub fn str_bytes(&self, name: &str, min: usize, max: usize) -> Result<String, ChatError> {
        match self.get(name) {
            Some(Value::String(s)) if (min..=max).contains(&s.len()) => Ok(s.clone()),
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(s: &str) -> Fields {
        match serde_json::from_str(s).unwrap() {
            Value::Object(map) => Fields(map),
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn lengths_count_characters_except_for_passwords() {
        let r = fields(r#"{"text":"😀😀","password":"😀😀"}"#);
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
        let r = fields(r#"{"a":1.5,"b":-1,"c":"1","d":7,"n":null}"#);
        assert!(r.id("a").is_err());
        assert!(r.id("b").is_err());
        assert!(r.id("c").is_err());
        assert_eq!(r.id("d").unwrap(), 7);
        assert_eq!(r.opt_id("n").unwrap(), None);
        assert_eq!(r.limit("e", 50, 100).unwrap(), 50);
        assert!(r.limit("d", 50, 5).is_err());
    }
}
