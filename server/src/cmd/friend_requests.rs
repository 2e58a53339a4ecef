//! `friend_requests`: pending requests sent to the caller.

use proto::answer::{fit, FriendRequests};
use proto::{Answer, FriendRequest};

use super::{CmdResult, Ctx, Reply};

/// Answers `{requests, more}`, oldest first.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let me = ctx.my_id()?;
    let requests = ctx.app.store.pending_requests(me)?;
    let items = requests.iter().map(|r| FriendRequest {
        request_id: r.request_id,
        from: ctx.wire_user(&r.from),
        message: r.message.clone(),
        ts: r.ts,
    });
    let (requests, more) = fit(items, ctx.app.settings.max_frame);
    Ok(Reply::Now(Answer::FriendRequests(FriendRequests {
        requests,
        more,
    })))
}
