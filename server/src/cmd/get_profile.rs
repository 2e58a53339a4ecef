//! `get_profile`: one user's public profile.

use proto::answer::Profile;
use proto::Answer;

use super::{CmdResult, Ctx, Reply};
use crate::model::UserId;

/// Answers `{user}` or `no_such_user`.
pub fn run(ctx: &mut Ctx, user_id: UserId) -> CmdResult {
    let user = ctx.user(user_id)?;
    Ok(Reply::Now(Answer::Profile(Profile {
        user: ctx.wire_user(&user),
    })))
}
