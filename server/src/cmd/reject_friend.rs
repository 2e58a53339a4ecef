//! `reject_friend`: drops a pending request addressed to the caller.

use proto::Answer;

use super::{CmdResult, Ctx, Reply};
use crate::protocol::{ChatError, ErrorCode};

/// Answers `{}` or `no_such_request`.
pub fn run(ctx: &mut Ctx, request_id: i64) -> CmdResult {
    let me = ctx.my_id()?;
    if ctx.app.store.reject_request(request_id, me)? {
        Ok(Reply::Now(Answer::Done))
    } else {
        Err(ChatError::new(
            ErrorCode::NoSuchRequest,
            format!("no pending request {request_id} addressed to you"),
        ))
    }
}
