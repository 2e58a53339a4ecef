//! `friends`: the caller's friends with their online flags.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::response::fit;
use crate::result;

/// Answers `{friends, more}`, ordered by username.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let me = ctx.my_id()?;
    let friends = ctx.app.store.friends(me)?;
    let (friends, more) = fit(
        friends.iter().map(|u| ctx.user_json(u)),
        ctx.app.settings.max_frame,
    );
    Ok(Reply::Now(result! { "friends": friends, "more": more }))
}
