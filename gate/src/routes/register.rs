//! `POST /api/v1/register` {`username`, `password`, `email`, `code`, `nickname`?}:
//! creates an account whose address the code proves.
//!
//! The fields follow the protocol's `register` rules (`proto::Request::parse`), with
//! `email` required. A password attempt is admitted by the nodes' password guard (per
//! source address, and hashing admission: `429`, `503`). A taken username or address is
//! refused before the code is used (`409`); then the code is checked and used up
//! (`400 invalid_code`), the password hashed (argon2id, the nodes' cost), and the user
//! and their verified address stored in one transaction (a race lost meanwhile is still
//! a `409`; the code is spent then). Answers `201 {ok, user_id}`.

use proto::Op;
use reactor_http::{Request, Response};
use serde_json::json;

use crate::app::Gateway;
use crate::body;
use crate::codes::{Check, Purpose};
use crate::error::ApiError;
use chat::store::{email_key, Registration};

/// `409 user_exists`.
fn user_exists() -> ApiError {
    ApiError::new(409, "user_exists", "this username is taken")
}

/// `409 email_taken`.
fn email_taken() -> ApiError {
    ApiError::new(
        409,
        "email_taken",
        "this address belongs to an account already",
    )
}

/// Answers the request (see the module docs).
pub fn run(gw: &Gateway, req: &Request) -> Result<Response, ApiError> {
    let f = body::fields(req)?;
    let proto::Request::Register {
        username,
        password,
        nickname,
        ..
    } = proto::Request::parse(Op::Register, &f)?
    else {
        log::error!("register parsed as another request");
        return Err(ApiError::internal());
    };
    let email = body::email(&f)?;
    let code = f.str_chars("code", 1, 16)?;
    let ip = req.peer.ip();

    let slot = gw.guard.admit(&gw.hasher, ip, None)?;
    if gw.store.credentials(&username)?.is_some() {
        return Err(user_exists());
    }
    if gw.store.verified_credentials(&email)?.is_some() {
        return Err(email_taken());
    }
    if gw
        .codes
        .consume(&gw.redis, Purpose::Register, &email_key(&email), &code)?
        != Check::Accepted
    {
        return Err(ApiError::invalid_code());
    }
    let hash = gw.hasher.hash(&password)?;
    drop(slot);
    let nickname = nickname.unwrap_or_default();
    match gw
        .store
        .create_verified_user(&username, &hash, &nickname, &email)?
    {
        Registration::Created(user_id) => {
            log::info!("registered user {user_id} ({username}) from {ip}");
            gw.metrics.registered();
            Ok(Response::json(
                201,
                &json!({"ok": true, "user_id": user_id}),
            ))
        }
        Registration::UsernameTaken => Err(user_exists()),
        Registration::EmailTaken => Err(email_taken()),
    }
}
