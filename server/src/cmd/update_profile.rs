//! `update_profile`: changes the caller's nickname and/or avatar.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::{ChatError, ErrorCode};
use crate::result;

/// Answers the updated `{user}`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let nickname = ctx.req.opt_str("nickname", 64)?;
    let avatar = ctx.req.opt_str("avatar", 256)?;
    let me = ctx.my_id()?;
    let user = ctx
        .app
        .store
        .update_profile(me, nickname, avatar)?
        .ok_or_else(|| ChatError::new(ErrorCode::Internal, "the logged-in user is gone"))?;
    if let Some(identity) = ctx.session.identity.as_mut() {
        identity.user = user.clone();
    }
    Ok(Reply::Now(result! { "user": ctx.user_json(&user) }))
}
