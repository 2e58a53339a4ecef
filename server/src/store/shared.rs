//! What both stores share: the schema's version and tables, the username key, the
//! prefix-search bound, and small pieces of query and batch logic. Pure functions;
//! no database access.

use std::collections::BTreeMap;

use super::{StoreError, StoreResult};
use crate::model::{Message, MsgId, UserId};

/// The schema version this code reads and writes (`schema_version.version`).
pub(crate) const SCHEMA_VERSION: i64 = 1;

/// The tables the schema creates; the schema is applied when any is missing.
pub(crate) const TABLES: [&str; 8] = [
    "schema_version",
    "users",
    "tokens",
    "friend_requests",
    "friendships",
    "messages",
    "read_cursors",
    "conversations",
];

/// A friend request needs two different users (the server checks before calling).
pub(crate) fn check_not_self(from: UserId, to: UserId) -> StoreResult<()> {
    if from == to {
        return Err(StoreError::Internal(format!(
            "user {from} cannot send a friend request to themselves"
        )));
    }
    Ok(())
}

/// The uniqueness and search key of a username: its ASCII lowercase.
pub(crate) fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// The least string greater than every string that starts with `prefix`, in code-point
/// order (= byte order of UTF-8), or `None` if there is none (the prefix is empty or all
/// `char::MAX`). `s` starts with `prefix` exactly when `prefix <= s < bound`, which lets an
/// index range serve a prefix search with no LIKE escaping at all.
pub(crate) fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last {
            '\u{D7FF}' => Some('\u{E000}'),
            c => char::from_u32(u32::from(c) + 1),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Merges the rows of two branches (already ordered by the query, ascending or
/// descending), drops the duplicates a message to oneself produces (it is in both
/// branches) and keeps the first `limit`. Each branch was limited to `limit`, so the
/// first `limit` of the union are all there.
pub(crate) fn merge_branches(mut rows: Vec<Message>, limit: usize) -> Vec<Message> {
    rows.dedup_by_key(|m| m.msg_id);
    rows.truncate(limit);
    rows
}

/// The newest message id per (user, peer) of a batch: the conversation rows to upsert,
/// in key order (so concurrent writers lock rows in the same order).
#[derive(Default)]
pub(crate) struct ConversationHeads(pub(crate) BTreeMap<(UserId, UserId), MsgId>);

impl ConversationHeads {
    /// Records a new message for both participants.
    pub(crate) fn record(&mut self, m: &Message) {
        for key in [(m.from, m.to), (m.to, m.from)] {
            let last = self.0.entry(key).or_insert(m.msg_id);
            *last = (*last).max(m.msg_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bounds() {
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_upper_bound("a_").as_deref(), Some("a`"));
        assert_eq!(
            prefix_upper_bound("a\u{D7FF}").as_deref(),
            Some("a\u{E000}")
        );
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_upper_bound("\u{10FFFF}\u{10FFFF}"), None);
    }
}
