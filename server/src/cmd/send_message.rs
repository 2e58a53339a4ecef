//! `send_message`: validated here, committed by the batched writer, acked after commit.
//!
//! The worker checks the fields and the friendship, takes a ticket in the connection's
//! reply queue and hands the message to the writer. The ticket is answered after the
//! commit, by delivery (or with `server_busy`), so later responses wait behind it in
//! order. Every answer a `send_message` can get is built in `send_job`.

use std::time::Instant;

use super::{CmdResult, Ctx, Reply};
use crate::model::now_ms;
use crate::model::NewMessage;
use crate::send_job::Job;

/// Queues the message; the answer comes later from the writer.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let req = ctx.req;
    let to = req.id("to")?;
    let text = req.str_chars("text", 1, 4096)?;
    let client_msg_id = req.str_chars("client_msg_id", 1, 64)?;
    let me = ctx.my_id()?;
    let app = ctx.app;
    ctx.require_friend(to)?;
    let replies = &ctx.session.replies;
    let ticket = replies.reserve();
    let job = Job {
        msg: NewMessage {
            from: me,
            to,
            text: text.to_string(),
            ts: now_ms(),
            client_msg_id: client_msg_id.to_string(),
        },
        replies: replies.clone(),
        ticket,
        seq: req.seq,
        origin: ctx.conn.id(),
        accepted: Instant::now(),
    };
    if let Err(job) = app.writer.submit(job) {
        job.answer_overloaded();
    }
    Ok(Reply::Later)
}
