//! `friends`: the caller's friends with their online flags.

use proto::answer::{fit, Friends};
use proto::Answer;

use super::{CmdResult, Ctx, Reply};

/// Answers `{friends, more}`, ordered by username.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let me = ctx.my_id()?;
    let friends = ctx.app.store.friends(me)?;
    let (friends, more) = fit(ctx.wire_users(&friends), ctx.app.settings.max_frame);
    Ok(Reply::Now(Answer::Friends(Friends { friends, more })))
}
