//! `logout`: revokes this session's token; the connection stays, unauthenticated.

use proto::Answer;

use super::{CmdResult, Ctx, Reply};
use crate::presence;

/// Revokes the token first: if the store is down the session stays as it was.
pub fn run(ctx: &mut Ctx) -> CmdResult {
    let Some(identity) = ctx.session.identity.as_ref() else {
        return Ok(Reply::Now(Answer::Done));
    };
    ctx.app.store.delete_token(&identity.token_hash)?;
    if let Some(identity) = ctx.session.identity.take() {
        presence::went_away(ctx.app, ctx.conn, &identity);
    }
    ctx.conn.set_deadline(ctx.app.settings.login_timeout);
    Ok(Reply::Now(Answer::Done))
}
