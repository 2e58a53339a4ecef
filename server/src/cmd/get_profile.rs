//! `get_profile`: one user's public profile with the online flag.

use super::{CmdResult, Ctx, Reply};
use crate::result;

/// Answers `{user}` or `no_such_user`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let user = ctx.user(ctx.req.id("user_id")?)?;
    Ok(Reply::Now(result! { "user": ctx.user_json(&user) }))
}
