//! `register`: creates an account. Does not log in.

use proto::answer::Registered;
use proto::Answer;

use super::{CmdResult, Ctx, Reply};
use crate::protocol::{ChatError, ErrorCode};
use crate::store::StoreError;

/// Hashes the password (argon2id, on this worker, once the password guard lets it) and
/// creates the user; the nickname defaults to the username.
pub fn run(
    ctx: &mut Ctx,
    username: &str,
    password: &str,
    nickname: Option<String>,
    email: Option<String>,
) -> CmdResult {
    let app = ctx.app;
    if !app.settings.allow_register {
        return Err(ChatError::new(
            ErrorCode::BadRequest,
            "registration is disabled on this server; register through the gateway",
        ));
    }
    // The place in the hashing queue is held for the hash only, not the insert.
    let slot = app
        .guard
        .admit(&app.hasher, ctx.conn.peer_addr().ip(), None)?;
    let hash = app.hasher.hash(password).map_err(|e| {
        log::error!("password hashing failed: {e}");
        ChatError::new(ErrorCode::Internal, "internal error")
    })?;
    drop(slot);
    let nickname = nickname.as_deref().unwrap_or(username);
    match app
        .store
        .create_user(username, &hash, nickname, email.as_deref())
    {
        Ok(user_id) => {
            log::info!("registered user {user_id} `{username}`");
            Ok(Reply::Now(Answer::Registered(Registered { user_id })))
        }
        Err(StoreError::Conflict(_)) => Err(ChatError::new(
            ErrorCode::UserExists,
            format!("username `{username}` is taken"),
        )),
        Err(e) => Err(e.into()),
    }
}
