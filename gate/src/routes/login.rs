//! `POST /api/v1/login` {`username` or `email`, `password`}: checks the password, picks
//! the node to connect to, and issues a session token.
//!
//! In order: the fields (the protocol's `login` rules; an address is looked up among
//! verified ones only); the source address's login bucket, shared by every gateway in
//! Redis (`429`); the nodes' password guard (per source and per account, hashing
//! admission: `429`, `503`); the check (an unknown account costs a dummy hash, so timing
//! tells nothing; `401 invalid_credentials`); the node (`503 no_node` when none is
//! alive: no token is issued then); the token, random, stored as the nodes store them
//! (its SHA-256, with the nodes' lifetime), so that it logs in on any node. Answers
//! `200 {ok, user_id, username, nickname, token, node: {id, addr, ws}}`.

use reactor_http::{Request, Response};
use serde_json::json;

use crate::app::Gateway;
use crate::body;
use crate::error::ApiError;
use chat::auth;
use chat::model::now_ms;
use proto::ChatError;

/// `401 invalid_credentials`.
fn invalid() -> ApiError {
    ApiError::new(
        401,
        "invalid_credentials",
        "wrong username, e-mail address or password",
    )
}

/// Answers the request (see the module docs).
pub fn run(gw: &Gateway, req: &Request) -> Result<Response, ApiError> {
    let f = body::fields(req)?;
    let (account, by_email) = if f.has("username") {
        (f.str_chars("username", 1, 64)?, false)
    } else if f.has("email") {
        (body::email(&f)?, true)
    } else {
        return Err(ChatError::field("username", "or `email` is required").into());
    };
    let password = f.str_bytes("password", 1, 1024)?;
    let ip = req.peer.ip();

    if let Some(wait) = gw.limits.take_login(&gw.redis, ip)? {
        return Err(ApiError::rate_limited(
            "too many logins from your address",
            wait,
        ));
    }
    let slot = gw.guard.admit(&gw.hasher, ip, Some(&account))?;
    let found = if by_email {
        gw.store.verified_credentials(&account)?
    } else {
        gw.store.credentials(&account)?
    };
    let Some((user, hash)) = found else {
        gw.hasher.dummy_verify();
        gw.guard.failed(ip, &account);
        gw.metrics.login(false);
        return Err(invalid());
    };
    let matched = gw.hasher.verify(&password, &hash);
    drop(slot);
    if !matched {
        gw.guard.failed(ip, &account);
        gw.metrics.login(false);
        return Err(invalid());
    }
    gw.guard.succeeded(ip, &account);

    let node = gw.picker.pick(&gw.redis)?;
    let token = auth::new_token();
    let ttl_ms = i64::try_from(gw.token_ttl.as_millis()).unwrap_or(i64::MAX);
    gw.store.insert_token(
        &auth::token_hash(&token),
        user.user_id,
        now_ms().saturating_add(ttl_ms),
    )?;
    gw.metrics.login(true);
    gw.metrics.assigned(&node.id);
    log::info!("login of user {} from {ip}: node {}", user.user_id, node.id);
    Ok(Response::json(
        200,
        &json!({
            "ok": true,
            "user_id": user.user_id,
            "username": user.username,
            "nickname": user.nickname,
            "token": token,
            "node": {"id": node.id, "addr": node.addr, "ws": node.ws},
        }),
    ))
}
