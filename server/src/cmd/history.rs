//! `history`: the conversation with one peer, newest first, paged with `before`.

use proto::answer::Messages;
use proto::{Answer, MsgId};

use super::{CmdResult, Ctx, Reply};
use crate::model::UserId;
use crate::protocol::wire::{self, page};

/// Answers `{messages, more}`.
pub fn run(ctx: &mut Ctx, peer: UserId, before: Option<MsgId>, limit: usize) -> CmdResult {
    let me = ctx.my_id()?;
    ctx.user(peer)?;
    let rows = ctx.app.store.history(me, peer, before, limit + 1)?;
    let (messages, more) = page(rows, limit, wire::message, ctx.app.settings.max_frame);
    Ok(Reply::Now(Answer::Messages(Messages { messages, more })))
}
