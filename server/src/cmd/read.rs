//! `read`: moves the caller's read cursor for a friend; the friend gets a `read` push.

use proto::{Answer, MsgId, Push};

use super::{CmdResult, Ctx, Reply};
use crate::model::UserId;

/// Answers `{}`; `not_friends` (or `no_such_user`) for anyone but a friend.
pub fn run(ctx: &mut Ctx, peer: UserId, up_to: MsgId) -> CmdResult {
    let me = ctx.my_id()?;
    ctx.require_friend(peer)?;
    ctx.app.store.mark_read(me, peer, up_to)?;
    let push = Push::Read { by: me, up_to };
    ctx.app.pushes.push(&[peer], &push);
    Ok(Reply::Now(Answer::Done))
}
