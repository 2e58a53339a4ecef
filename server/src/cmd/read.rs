//! `read`: moves the caller's read cursor for a friend; the friend gets a `read` push.

use serde_json::Map;

use super::{CmdResult, Ctx, Reply};
use crate::protocol::response;
use crate::result;

/// Answers `{}`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let peer = ctx.req.id("peer")?;
    let up_to = ctx.req.id("up_to")?;
    let me = ctx.my_id()?;
    ctx.require_friend(peer)?;
    ctx.app.store.mark_read(me, peer, up_to)?;
    let push = response::push("read", result! { "by": me, "up_to": up_to });
    ctx.app.hub.push(peer, &push, None);
    Ok(Reply::Now(Map::new()))
}
