//! `add_friend`: asks another user to be friends.

use proto::answer::RequestSent;
use proto::{Answer, FriendRequest, Push};

use super::{CmdResult, Ctx, Reply};
use crate::model::{now_ms, UserId};
use crate::protocol::{ChatError, ErrorCode};
use crate::store::FriendRequestOutcome;

/// Answers `{request_id}`; a repeated pending request answers the same id (and pushes
/// nothing new).
pub fn run(ctx: &mut Ctx, to: UserId, note: &str) -> CmdResult {
    let me = ctx.me()?.clone();
    if to == me.user_id {
        return Err(ChatError::field("user_id", "must not be your own id"));
    }
    ctx.user(to)?;
    let ts = now_ms();
    let sent = |request_id| Ok(Reply::Now(Answer::RequestSent(RequestSent { request_id })));
    match ctx
        .app
        .store
        .send_friend_request(me.user_id, to, note, ts)?
    {
        FriendRequestOutcome::Created(request_id) => {
            let push = Push::FriendRequest(FriendRequest {
                request_id,
                from: ctx.wire_user(&me),
                message: note.to_string(),
                ts,
            });
            ctx.app.pushes.push(&[to], &push);
            sent(request_id)
        }
        FriendRequestOutcome::AlreadyPending(request_id) => sent(request_id),
        FriendRequestOutcome::AlreadyFriends => Err(ChatError::new(
            ErrorCode::AlreadyFriends,
            format!("you and user {to} are friends already"),
        )),
    }
}
