//! `history`: the conversation with one peer, newest first, paged with `before`.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::response::{self, fit};
use crate::result;

/// Answers `{messages, more}`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let peer = ctx.req.id("peer")?;
    let before = ctx.req.opt_id("before")?;
    let limit = ctx.req.limit("limit", 50, 100)?;
    let me = ctx.my_id()?;
    ctx.user(peer)?;
    let mut messages = ctx.app.store.history(me, peer, before, limit + 1)?;
    let mut more = messages.len() > limit;
    messages.truncate(limit);
    let (messages, cut) = fit(
        messages.iter().map(response::message),
        ctx.app.settings.max_frame,
    );
    more |= cut;
    Ok(Reply::Now(result! { "messages": messages, "more": more }))
}
