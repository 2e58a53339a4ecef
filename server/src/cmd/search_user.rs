//! `search_user`: users whose username starts with a prefix (case-insensitive), ≤ 20;
//! `more` says whether others match.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::response::page;
use crate::result;

const MAX_RESULTS: usize = 20;

/// Answers `{users, more}`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let query = ctx.req.str_chars("query", 1, 32)?;
    let rows = ctx.app.store.search_users(query, MAX_RESULTS + 1)?;
    let to_json = |u: &crate::model::User| ctx.user_json(u);
    let (users, more) = page(rows, MAX_RESULTS, to_json, ctx.app.settings.max_frame);
    Ok(Reply::Now(result! { "users": users, "more": more }))
}
