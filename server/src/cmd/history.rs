//! `history`: the conversation with one peer, newest first, paged with `before`.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::response::{self, page};
use crate::result;

/// Answers `{messages, more}`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let peer = ctx.req.id("peer")?;
    let before = ctx.req.opt_id("before")?;
    let limit = ctx.req.limit("limit", 50, 100)?;
    let me = ctx.my_id()?;
    ctx.user(peer)?;
    let rows = ctx.app.store.history(me, peer, before, limit + 1)?;
    let (messages, more) = page(rows, limit, response::message, ctx.app.settings.max_frame);
    Ok(Reply::Now(result! { "messages": messages, "more": more }))
}
