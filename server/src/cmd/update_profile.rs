//! `update_profile`: changes the caller's nickname and/or avatar.

use proto::answer::Profile;
use proto::Answer;

use super::{CmdResult, Ctx, Reply};
use crate::protocol::{ChatError, ErrorCode};

/// Answers the updated `{user}`.
pub fn run(ctx: &mut Ctx, nickname: Option<&str>, avatar: Option<&str>) -> CmdResult {
    let me = ctx.my_id()?;
    let user = ctx
        .app
        .store
        .update_profile(me, nickname, avatar)?
        .ok_or_else(|| ChatError::new(ErrorCode::Internal, "the logged-in user is gone"))?;
    if let Some(identity) = ctx.session.identity.as_mut() {
        identity.user = user.clone();
    }
    Ok(Reply::Now(Answer::Profile(Profile {
        user: ctx.wire_user(&user),
    })))
}
