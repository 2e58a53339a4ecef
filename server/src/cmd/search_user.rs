//! `search_user`: users whose username starts with a prefix.

use proto::answer::Users;
use proto::Answer;

use super::{CmdResult, Ctx, Reply};
use crate::protocol::wire::page;

const MAX_RESULTS: usize = 20;

/// Answers `{users, more}`.
pub fn run(ctx: &mut Ctx, query: &str) -> CmdResult {
    let rows = ctx.app.store.search_users(query, MAX_RESULTS + 1)?;
    let rows = ctx.wire_users(&rows);
    let (users, more) = page(rows, MAX_RESULTS, Clone::clone, ctx.app.settings.max_frame);
    Ok(Reply::Now(Answer::Users(Users { users, more })))
}
