//! `POST /api/v1/codes` {`email`, `purpose`}: mails a verification code.
//!
//! Checks, in order: the fields; the source address's hourly budget (`429`); for
//! `register`, that the address is not a user's already (`409 email_taken`); the
//! address's resend wait (`429`). Then a fresh code replaces the old one and its mail is
//! queued (`503 server_busy` if the queue is full: the code is withdrawn). For
//! `reset_password` and an address nobody uses the answer is the same `202` and the
//! resend wait starts alike, but nothing is sent: the endpoint does not tell which
//! addresses have accounts.

use reactor_http::{Request, Response};
use serde_json::json;

use crate::app::Gateway;
use crate::body;
use crate::codes::{Issued, Purpose};
use crate::error::ApiError;
use crate::mail::{code_mail, CodePurpose};
use chat::store::email_key;
use proto::ChatError;

/// Answers the request (see the module docs).
pub fn run(gw: &Gateway, req: &Request) -> Result<Response, ApiError> {
    let f = body::fields(req)?;
    let email = body::email(&f)?;
    let purpose = f.str_chars("purpose", 1, 32)?;
    let purpose = Purpose::from_name(&purpose)
        .ok_or_else(|| ChatError::field("purpose", "must be \"register\" or \"reset_password\""))?;
    let key = email_key(&email);

    if let Some(wait) = gw.limits.take_code(&gw.redis, req.peer.ip())? {
        return Err(ApiError::rate_limited(
            "too many codes asked from your address this hour",
            wait,
        ));
    }
    let account = gw.store.verified_credentials(&email)?;
    if purpose == Purpose::Register && account.is_some() {
        return Err(ApiError::new(
            409,
            "email_taken",
            "this address belongs to an account already; log in or reset the password",
        ));
    }
    let send = purpose == Purpose::Register || account.is_some();
    let code = match gw.codes.issue(&gw.redis, purpose, &key)? {
        Issued::Fresh(code) => code,
        Issued::TooSoon(wait) => {
            return Err(ApiError::rate_limited(
                "a code was sent to this address a moment ago; wait before asking again",
                wait,
            ))
        }
    };
    let settings = gw.codes.settings();
    if send {
        let mail_purpose = match purpose {
            Purpose::Register => CodePurpose::Register,
            Purpose::ResetPassword => CodePurpose::ResetPassword,
        };
        let mail = code_mail(&email, &code, mail_purpose, settings.ttl);
        if gw.mailer.send(mail).is_err() {
            gw.codes.withdraw(&gw.redis, purpose, &key);
            return Err(ApiError::busy(
                "too many mails are waiting to be sent; nothing was sent, retry",
                std::time::Duration::from_secs(5),
            ));
        }
    }
    gw.metrics.code_issued(purpose, send);
    Ok(Response::json(
        202,
        &json!({
            "ok": true,
            "expires_in": settings.ttl.as_secs(),
            "resend_after": settings.resend_after.as_secs(),
        }),
    ))
}
