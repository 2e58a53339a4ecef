//! `ping`: liveness; answers the server's clock.

use super::{CmdResult, Ctx, Reply};
use crate::model::now_ms;
use crate::result;

/// Answers `{ts}`.
pub fn run(_ctx: &mut Ctx) -> CmdResult {
    Ok(Reply::Now(result! { "ts": now_ms() }))
}
