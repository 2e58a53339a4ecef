//! [`Incoming`]: a frame from the server as a client sorts it: a response (it has `ok`)
//! or a push (it has not).
//!
//! May touch: nothing; plain values.

use serde_json::Value;

use crate::answer::Response;
use crate::push::Push;

/// A frame the server sent.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// An answer to a request.
    Response(Response),
    /// A push.
    Push(Push),
}

/// Why a frame from the server could not be read.
#[derive(Debug, thiserror::Error)]
#[error("malformed frame from the server: {0}")]
pub struct Malformed(#[from] serde_json::Error);

impl Incoming {
    /// Sorts one frame body.
    pub fn parse(frame: &[u8]) -> Result<Incoming, Malformed> {
        let value: Value = serde_json::from_slice(frame)?;
        if value.get("ok").is_some() {
            Ok(Incoming::Response(serde_json::from_value(value)?))
        } else {
            Ok(Incoming::Push(serde_json::from_value(value)?))
        }
    }
}
