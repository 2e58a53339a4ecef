//! `POST /api/v1/reset-password` {`email`, `code`, `password`}: sets a new password
//! with a code mailed to the account's verified address.
//!
//! The password follows the protocol's `register` rule (8–128 bytes). The attempt is
//! admitted by the password guard (`429`, `503`); the code is checked and used up
//! (`400 invalid_code`, also for an address nobody uses); the new hash is stored and
//! every token of the user deleted in one transaction, so the old password and tokens
//! stop working at once; then every node is told to push `logged_out`
//! (`password_reset`) to the user's sessions and close them (`crate::revoke`). Answers
//! `200 {ok}`.

use reactor_http::{Request, Response};
use serde_json::json;

use crate::app::Gateway;
use crate::body;
use crate::codes::{Check, Purpose};
use crate::error::ApiError;
use crate::revoke;
use chat::store::email_key;

/// Answers the request (see the module docs).
pub fn run(gw: &Gateway, req: &Request) -> Result<Response, ApiError> {
    let f = body::fields(req)?;
    let email = body::email(&f)?;
    let code = f.str_chars("code", 1, 16)?;
    let password = f.str_bytes("password", 8, 128)?;
    let ip = req.peer.ip();

    let slot = gw.guard.admit(&gw.hasher, ip, None)?;
    let key = email_key(&email);
    if gw
        .codes
        .consume(&gw.redis, Purpose::ResetPassword, &key, &code)?
        != Check::Accepted
    {
        return Err(ApiError::invalid_code());
    }
    let Some((user, _)) = gw.store.verified_credentials(&email)? else {
        return Err(ApiError::invalid_code());
    };
    let hash = gw.hasher.hash(&password)?;
    drop(slot);
    let Some(revoked) = gw.store.reset_password(user.user_id, &hash)? else {
        return Err(ApiError::invalid_code());
    };
    let nodes = revoke::log_out_everywhere(&gw.redis, &gw.keys, user.user_id, "password_reset");
    match nodes {
        Some(n) => log::info!(
            "password reset for user {} from {ip}: {revoked} tokens revoked, {n} nodes told",
            user.user_id
        ),
        None => log::warn!(
            "password reset for user {} from {ip}: {revoked} tokens revoked, but redis is \
             down: sessions on the nodes stay open (their tokens are gone)",
            user.user_id
        ),
    }
    gw.metrics.reset();
    Ok(Response::json(200, &json!({"ok": true})))
}
