//! `send_message`: validated here, committed by the batched writer, acked after commit.
//!
//! The worker checks the friendship, takes a ticket in the connection's reply queue and
//! hands the message to the writer. The ticket is answered after the commit, by
//! delivery (or with `server_busy`), so later responses wait behind it in order. Every
//! answer a `send_message` can get is built in `send_job`; the errors given later are
//! counted in the metrics where they are given (here, the writer, its watchdog).

use std::time::Instant;

use super::{CmdResult, Ctx, Reply};
use crate::model::{now_ms, NewMessage, UserId};
use crate::protocol::ErrorCode;
use crate::send_job::Job;

/// Queues the message; the answer comes later.
pub fn run(ctx: &mut Ctx, to: UserId, text: String, client_msg_id: String) -> CmdResult {
    let me = ctx.my_id()?;
    ctx.require_friend(to)?;
    let replies = &ctx.session.replies;
    let job = Job {
        msg: NewMessage {
            from: me,
            to,
            text,
            ts: now_ms(),
            client_msg_id,
        },
        replies: replies.clone(),
        ticket: replies.reserve(),
        seq: ctx.seq,
        origin: ctx.conn.id(),
        accepted: Instant::now(),
    };
    if let Err(refused) = ctx.app.writer.submit(job) {
        refused.job.answer_overloaded(refused.retry_after);
        ctx.app.metrics.request_error(ErrorCode::ServerBusy);
    }
    Ok(Reply::Later)
}
