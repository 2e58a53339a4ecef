//! `sync`: messages to or by the caller after a cursor, ascending; how clients catch up.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::response::{self, page};
use crate::result;

/// Answers `{messages, more}`; `more` when the limit or the frame size cut the list.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let after = ctx.req.id("after")?;
    let limit = ctx.req.limit("limit", 200, 500)?;
    let me = ctx.my_id()?;
    let rows = ctx.app.store.sync(me, after, limit + 1)?;
    let (messages, more) = page(rows, limit, response::message, ctx.app.settings.max_frame);
    Ok(Reply::Now(result! { "messages": messages, "more": more }))
}
