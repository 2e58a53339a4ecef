//! Reading a request's JSON body into [`proto::Fields`], so that the gateway checks
//! `username`, `password`, `nickname` and `email` by the node protocol's own rules
//! (`proto::request`): a body that is not a JSON object is `400 bad_json`; a missing or
//! ill-typed field is `400 bad_request` naming it. May touch: nothing; plain values.

use proto::Fields;
use reactor_http::Request;
use serde_json::{Map, Value};

use crate::error::ApiError;

/// The body of `req` as the fields of a JSON object.
pub fn fields(req: &Request) -> Result<Fields, ApiError> {
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(Value::Object(map)) => Ok(Fields::from(map)),
        Ok(_) => Err(ApiError::new(
            400,
            "bad_json",
            "the body must be a JSON object",
        )),
        Err(e) => Err(ApiError::new(
            400,
            "bad_json",
            format!("the body is not JSON: {e}"),
        )),
    }
}

/// An empty object, for tests and requests without a body.
pub fn empty() -> Fields {
    Fields::from(Map::new())
}

/// The `email` field: required, at most 254 characters, `name@host`.
pub fn email(f: &Fields) -> Result<String, ApiError> {
    let email = f.str_chars("email", 3, 254)?;
    if !proto::request::valid_email(&email) {
        return Err(proto::ChatError::field("email", "must look like name@host").into());
    }
    Ok(email)
}
