//! `login`: by username and password, or by a token from an earlier login.

use super::{CmdResult, Ctx, Reply};
use crate::auth;
use crate::model::now_ms;
use crate::presence;
use crate::protocol::{ChatError, ErrorCode};
use crate::result;
use crate::session::Identity;

fn invalid() -> ChatError {
    ChatError::new(
        ErrorCode::InvalidCredentials,
        "wrong username, password or token",
    )
}

/// Authenticates, issues a token (password login), and joins the online hub.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    if ctx.session.identity.is_some() {
        return Err(ChatError::new(
            ErrorCode::BadRequest,
            "this connection is logged in already; log out first",
        ));
    }
    let req = ctx.req;
    let push = req.bool_or("push", true)?;
    let app = ctx.app;
    let (user, token, token_hash) = if req.has("username") || !req.has("token") {
        let username = req.str_chars("username", 1, 64)?;
        let password = req.str_bytes("password", 1, 1024)?;
        let ip = ctx.conn.peer_addr().ip();
        let _slot = app.guard.admit(&app.hasher, ip, Some(username))?;
        let Some((user, hash)) = app.store.credentials(username)? else {
            app.hasher.dummy_verify(); // same cost as a real check: no user enumeration
            app.guard.failed(ip, username);
            return Err(invalid());
        };
        if !app.hasher.verify(password, &hash) {
            app.guard.failed(ip, username);
            return Err(invalid());
        }
        app.guard.succeeded(ip, username);
        let token = auth::new_token();
        let token_hash = auth::token_hash(&token);
        let expires = now_ms().saturating_add(app.settings.token_ttl.as_millis() as i64);
        app.store.insert_token(&token_hash, user.user_id, expires)?;
        (user, token, token_hash)
    } else {
        let token = req.str_chars("token", 1, 128)?;
        let token_hash = auth::token_hash(token);
        let user = app
            .store
            .token_user(&token_hash, now_ms())?
            .ok_or_else(invalid)?;
        (user, token.to_string(), token_hash)
    };
    let result = result! {
        "user_id": user.user_id,
        "username": user.username,
        "nickname": user.nickname,
        "token": token,
    };
    let identity = Identity {
        user,
        token_hash,
        push,
    };
    presence::arrived(app, ctx.conn, &identity);
    ctx.conn.set_deadline(app.settings.idle_timeout);
    ctx.session.identity = Some(identity);
    Ok(Reply::Now(result))
}
