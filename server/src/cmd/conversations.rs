//! `conversations`: the caller's conversations, most recent first, with unread counts.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::response::{self, fit};
use crate::result;

/// Answers `{conversations, more}`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let me = ctx.my_id()?;
    let conversations = ctx.app.store.conversations(me)?;
    let items = conversations.iter().map(|c| {
        serde_json::json!({
            "peer": ctx.user_json(&c.peer),
            "last": response::message(&c.last),
            "unread": c.unread,
        })
    });
    let (conversations, more) = fit(items, ctx.app.settings.max_frame);
    Ok(Reply::Now(
        result! { "conversations": conversations, "more": more },
    ))
}
