//! `login`: by username and password, or by a token from an earlier login.

use proto::answer::{ok_frame, LoggedIn};
use proto::{Answer, Credentials, Op};

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

/// Authenticates, issues a token (password login), joins the online users, reads where
/// the user's timeline ends, answers, and only then lets pushes through.
///
/// The order is what makes "sync up to `last_pos`, then read pushes" lose nothing: the
/// connection is routable (here and, in a cluster, in Redis) before `last_pos` is read,
/// so a message committed after the read is pushed to it, and one committed before is
/// at or below `last_pos`. Pushes that arrive before the answer is queued wait in the
/// connection's sequencer, so the answer goes first.
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
    let user_id = user.user_id;
    let mut answer = LoggedIn {
        user_id,
        username: user.username.clone(),
        nickname: user.nickname.clone(),
        token,
        last_pos: 0,
    };
    let identity = Identity {
        user,
        token_hash,
        push,
    };
    let app = ctx.app;
    presence::arrived(app, ctx.conn, &identity);
    let last_pos = match app.store.last_pos(user_id) {
        Ok(last_pos) => last_pos,
        Err(e) => {
            presence::went_away(app, ctx.conn, &identity);
            return Err(e.into());
        }
    };
    answer.last_pos = last_pos;
    ctx.conn.set_deadline(app.settings.idle_timeout);
    ctx.session.identity = Some(identity);
    let frame = ok_frame(Op::Login.name(), ctx.seq, &Answer::LoggedIn(answer));
    ctx.session.replies.send(frame);
    app.hub.start(user_id, ctx.conn.id(), last_pos);
    Ok(Reply::Later)
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
