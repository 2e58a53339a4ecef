//! `accept_friend`: accepts a pending request; the requester gets `friend_accepted`.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::{response, ChatError, ErrorCode};
use crate::result;

/// Answers `{friend}` (the requester) or `no_such_request`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let request_id = ctx.req.id("request_id")?;
    let me = ctx.me()?.clone();
    let friend = ctx
        .app
        .store
        .accept_request(request_id, me.user_id)?
        .ok_or_else(|| {
            ChatError::new(
                ErrorCode::NoSuchRequest,
                format!("no pending request {request_id} addressed to you"),
            )
        })?;
    ctx.app.friends.invalidate(&[me.user_id, friend.user_id]);
    let push = response::push("friend_accepted", result! { "friend": ctx.user_json(&me) });
    ctx.app.hub.push(friend.user_id, &push, None);
    Ok(Reply::Now(result! { "friend": ctx.user_json(&friend) }))
}
