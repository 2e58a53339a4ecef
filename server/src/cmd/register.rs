//! `register`: creates an account. Does not log in.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::{ChatError, ErrorCode};
use crate::result;
use crate::store::StoreError;

/// Validates, hashes the password (argon2id, on this worker) and creates the user.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let req = ctx.req;
    let username = req.str_chars("username", 3, 32)?;
    if !valid_username(username) {
        return Err(ChatError::field(
            "username",
            "may contain only A-Z a-z 0-9 _ . -",
        ));
    }
    let password = req.str_bytes("password", 8, 128)?;
    let nickname = req.opt_str("nickname", 64)?.unwrap_or(username);
    let email = req.opt_str("email", 254)?;
    if let Some(email) = email {
        if !valid_email(email) {
            return Err(ChatError::field("email", "must look like name@host"));
        }
    }
    let app = ctx.app;
    let _slot = app
        .guard
        .admit(&app.hasher, ctx.conn.peer_addr().ip(), None)?;
    let hash = app.hasher.hash(password).map_err(|e| {
        log::error!("password hashing failed: {e}");
        ChatError::new(ErrorCode::Internal, "internal error")
    })?;
    match ctx.app.store.create_user(username, &hash, nickname, email) {
        Ok(user_id) => {
            log::info!("registered user {user_id} `{username}`");
            Ok(Reply::Now(result! { "user_id": user_id }))
        }
        Err(StoreError::Conflict(_)) => Err(ChatError::new(
            ErrorCode::UserExists,
            format!("username `{username}` is taken"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// 3–32 characters of `A-Z a-z 0-9 _ . -` (the length is checked by the caller).
pub fn valid_username(name: &str) -> bool {
    name.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn valid_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, host)) => {
            !local.is_empty() && !host.is_empty() && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_emails() {
        assert!(valid_username("Al_i.ce-9"));
        assert!(!valid_username("al ice"));
        assert!(!valid_username("alïce"));
        assert!(valid_email("a@b"));
        assert!(!valid_email("a@"));
        assert!(!valid_email("a b@c"));
    }
}
