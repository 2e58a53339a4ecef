//! `sync`: the caller's timeline after a position, oldest first.

use proto::answer::Messages;
use proto::{Answer, Pos};

use super::{CmdResult, Ctx, Reply};
use crate::protocol::wire::{self, page};

/// Answers `{messages, more}`; `more` when the limit or the frame size cut the list.
pub fn run(ctx: &mut Ctx, after: Pos, limit: usize) -> CmdResult {
    let me = ctx.my_id()?;
    let rows = ctx.app.store.sync(me, after, limit + 1)?;
    let (messages, more) = page(rows, limit, wire::message, ctx.app.settings.max_frame);
    Ok(Reply::Now(Answer::Messages(Messages { messages, more })))
}
