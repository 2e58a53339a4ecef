//! `conversations`: the caller's conversations, most recent first, with unread counts.

use proto::answer::{fit, Conversations};
use proto::{Answer, Conversation};

use super::{CmdResult, Ctx, Reply};
use crate::protocol::wire;

/// Answers `{conversations, more}`.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let me = ctx.my_id()?;
    let conversations = ctx.app.store.conversations(me)?;
    let peers = ctx.wire_users(conversations.iter().map(|c| &c.peer));
    let items = conversations
        .iter()
        .zip(peers)
        .map(|(c, peer)| Conversation {
            peer,
            last: wire::message(&c.last),
            unread: c.unread,
        });
    let (conversations, more) = fit(items, ctx.app.settings.max_frame);
    Ok(Reply::Now(Answer::Conversations(Conversations {
        conversations,
        more,
    })))
}
