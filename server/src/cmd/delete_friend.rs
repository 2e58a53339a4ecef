//! `delete_friend`: ends a friendship both ways; the other gets `friend_removed`.

use serde_json::Map;

use super::{CmdResult, Ctx, Reply};
use crate::protocol::{response, ChatError, ErrorCode};
use crate::result;

/// Answers `{}` or `not_friends`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let other = ctx.req.id("user_id")?;
    let me = ctx.my_id()?;
    if !ctx.app.store.delete_friend(me, other)? {
        return Err(ChatError::new(
            ErrorCode::NotFriends,
            format!("you and user {other} are not friends"),
        ));
    }
    ctx.app.friends.invalidate(&[me, other]);
    let push = response::push("friend_removed", result! { "user_id": me });
    ctx.app.hub.push(other, &push, None);
    Ok(Reply::Now(Map::new()))
}
