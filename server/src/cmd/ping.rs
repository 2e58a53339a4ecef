//! `ping`: the server's time; keeps an idle connection alive.

use proto::answer::Pong;
use proto::Answer;

use super::{CmdResult, Reply};
use crate::model::now_ms;

/// Answers `{ts}`.
pub fn run() -> CmdResult {
    Ok(Reply::Now(Answer::Pong(Pong { ts: now_ms() })))
}
