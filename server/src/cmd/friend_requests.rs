//! `friend_requests`: pending requests sent to the caller.

use proto::answer::{fit, FriendRequests};
use proto::{Answer, FriendRequest};

use super::{CmdResult, Ctx, Reply};

/// Answers `{requests, more}`, oldest first.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let me = ctx.my_id()?;
    let requests = ctx.app.store.pending_requests(me)?;
    let senders = ctx.wire_users(requests.iter().map(|r| &r.from));
    let items = requests.iter().zip(senders).map(|(r, from)| FriendRequest {
        request_id: r.request_id,
        from,
        message: r.message.clone(),
        ts: r.ts,
    });
    let (requests, more) = fit(items, ctx.app.settings.max_frame);
    Ok(Reply::Now(Answer::FriendRequests(FriendRequests {
        requests,
        more,
    })))
}
