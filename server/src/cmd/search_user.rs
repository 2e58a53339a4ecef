//! `search_user`: users whose username starts with a prefix (case-insensitive), ≤ 20;
//! `more` says whether others match.

use super::{CmdResult, Ctx, Reply};
use crate::protocol::response::fit;
use crate::result;

const MAX_RESULTS: usize = 20;

/// Answers `{users, more}`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let query = ctx.req.str_chars("query", 1, 32)?;
    let mut users = ctx.app.store.search_users(query, MAX_RESULTS + 1)?;
    let mut more = users.len() > MAX_RESULTS;
    users.truncate(MAX_RESULTS);
    let (users, cut) = fit(
        users.iter().map(|u| ctx.user_json(u)),
        ctx.app.settings.max_frame,
    );
    more |= cut;
    Ok(Reply::Now(result! { "users": users, "more": more }))
}
