//! `login`: by username and password, or by a token from an earlier login.

use proto::answer::LoggedIn;
use proto::{Answer, Credentials};

use super::{CmdResult, Ctx, Reply};
use crate::auth;
use crate::model::{now_ms, User};
use crate::presence;
use crate::protocol::{ChatError, ErrorCode};
use crate::session::Identity;

fn invalid() -> ChatError {
    ChatError::new(
        ErrorCode::InvalidCredentials,
        "wrong username, password or token",
    )
}

/// Authenticates, issues a token (password login), and joins the online hub.
pub fn run(ctx: &mut Ctx, credentials: Credentials, push: bool) -> CmdResult {
    if ctx.session.identity.is_some() {
        return Err(ChatError::new(
            ErrorCode::BadRequest,
            "this connection is logged in already; log out first",
        ));
    }
    let (user, token, token_hash) = match credentials {
        Credentials::Password { username, password } => by_password(ctx, &username, &password)?,
        Credentials::Token(token) => {
            let token_hash = auth::token_hash(&token);
            let user = ctx
                .app
                .store
                .token_user(&token_hash, now_ms())?
                .ok_or_else(invalid)?;
            (user, token, token_hash)
        }
    };
    let answer = LoggedIn {
        user_id: user.user_id,
        username: user.username.clone(),
        nickname: user.nickname.clone(),
        token,
    };
    let identity = Identity {
        user,
        token_hash,
        push,
    };
    let app = ctx.app;
    presence::arrived(app, ctx.conn, &identity);
    ctx.conn.set_deadline(app.settings.idle_timeout);
    ctx.session.identity = Some(identity);
    Ok(Reply::Now(Answer::LoggedIn(answer)))
}

/// Checks the password (once the password guard lets it) and issues a token: the user,
/// the token and its hash.
fn by_password(
    ctx: &Ctx,
    username: &str,
    password: &str,
) -> Result<(User, String, String), ChatError> {
    let app = ctx.app;
    let ip = ctx.conn.peer_addr().ip();
    // The place in the hashing queue is held for the look-up and the check only, not
    // for the token's insert below.
    let slot = app.guard.admit(&app.hasher, ip, Some(username))?;
    let Some((user, hash)) = app.store.credentials(username)? else {
        app.hasher.dummy_verify(); // same cost as a real check: no user enumeration
        app.guard.failed(ip, username);
        return Err(invalid());
    };
    let matched = app.hasher.verify(password, &hash);
    drop(slot);
    if !matched {
        app.guard.failed(ip, username);
        return Err(invalid());
    }
    app.guard.succeeded(ip, username);
    let token = auth::new_token();
    let token_hash = auth::token_hash(&token);
    let expires = now_ms().saturating_add(app.settings.token_ttl.as_millis() as i64);
    app.store.insert_token(&token_hash, user.user_id, expires)?;
    Ok((user, token, token_hash))
}
