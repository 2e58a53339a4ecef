//! `delete_friend`: ends a friendship; the other side gets a `friend_removed` push.

use proto::{Answer, Push};

use super::{CmdResult, Ctx, Reply};
use crate::model::UserId;
use crate::protocol::{ChatError, ErrorCode};

/// Answers `{}` or `not_friends`.
pub fn run(ctx: &mut Ctx, other: UserId) -> CmdResult {
    let me = ctx.my_id()?;
    if !ctx.app.store.delete_friend(me, other)? {
        return Err(ChatError::new(
            ErrorCode::NotFriends,
            format!("you and user {other} are not friends"),
        ));
    }
    ctx.app.friends_changed(&[me, other]);
    let push = Push::FriendRemoved { user_id: me };
    ctx.app.pushes.push(&[other], &push);
    Ok(Reply::Now(Answer::Done))
}
