//! `reject_friend`: declines a pending request addressed to the caller.

use serde_json::Map;

use super::{CmdResult, Ctx, Reply};
use crate::protocol::{ChatError, ErrorCode};

/// Answers `{}` or `no_such_request`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let request_id = ctx.req.id("request_id")?;
    let me = ctx.my_id()?;
    if ctx.app.store.reject_request(request_id, me)? {
        Ok(Reply::Now(Map::new()))
    } else {
        Err(ChatError::new(
            ErrorCode::NoSuchRequest,
            format!("no pending request {request_id} addressed to you"),
        ))
    }
}
