//! `accept_friend`: accepts a pending request addressed to the caller.

use proto::answer::Befriended;
use proto::{Answer, Push};

use super::{CmdResult, Ctx, Reply};
use crate::protocol::{ChatError, ErrorCode};

/// Answers `{friend}` (the requester) or `no_such_request`; the requester gets a
/// `friend_accepted` push.
pub fn run(ctx: &mut Ctx, request_id: i64) -> CmdResult {
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
    ctx.app.friends_changed(&[me.user_id, friend.user_id]);
    let push = Push::FriendAccepted {
        friend: ctx.wire_user(&me),
    };
    ctx.app.pushes.push(&[friend.user_id], &push);
    Ok(Reply::Now(Answer::Befriended(Befriended {
        friend: ctx.wire_user(&friend),
    })))
}
