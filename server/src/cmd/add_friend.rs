//! `add_friend`: sends a friend request; the addressee gets a `friend_request` push.

use super::{CmdResult, Ctx, Reply};
use crate::model::now_ms;
use crate::protocol::{response, ChatError, ErrorCode};
use crate::result;
use crate::store::FriendRequestOutcome;

/// Answers `{request_id}`; a repeated pending request answers the same id.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let to = ctx.req.id("user_id")?;
    let note = ctx.req.opt_str("message", 256)?.unwrap_or("");
    let me = ctx.me()?.clone();
    if to == me.user_id {
        return Err(ChatError::field("user_id", "must not be your own id"));
    }
    ctx.user(to)?;
    let ts = now_ms();
    match ctx
        .app
        .store
        .send_friend_request(me.user_id, to, note, ts)?
    {
        FriendRequestOutcome::Created(request_id) => {
            let push = response::push(
                "friend_request",
                result! {
                    "request_id": request_id,
                    "from": ctx.user_json(&me),
                    "message": note,
                    "ts": ts,
                },
            );
            ctx.app.hub.push(to, &push, None);
            Ok(Reply::Now(result! { "request_id": request_id }))
        }
        FriendRequestOutcome::AlreadyPending(request_id) => {
            Ok(Reply::Now(result! { "request_id": request_id }))
        }
        FriendRequestOutcome::AlreadyFriends => Err(ChatError::new(
            ErrorCode::AlreadyFriends,
            format!("you and user {to} are friends already"),
        )),
    }
}
