//! `friend_requests`: pending requests sent to the caller.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::response::fit;
use crate::result;

/// Answers `{requests, more}`, oldest first.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let me = ctx.my_id()?;
    let requests = ctx.app.store.pending_requests(me)?;
    let items = requests.iter().map(|r| {
        serde_json::json!({
            "request_id": r.request_id,
            "from": ctx.user_json(&r.from),
            "message": r.message,
            "ts": r.ts,
        })
    });
    let (requests, more) = fit(items, ctx.app.settings.max_frame);
    Ok(Reply::Now(result! { "requests": requests, "more": more }))
}
