//! What both stores share: the schema's version and tables, the username key, the
//! prefix-search bound, and small pieces of query and batch logic (merging query
//! branches, conversation heads, timeline positions). Pure functions and plain data;
//! no database access.

use std::collections::{BTreeMap, HashMap};

use super::{StoreError, StoreResult};
use crate::model::{Message, MsgId, Pos, UserId};

/// The schema version this code reads and writes (`schema_version.version`). Version 1
/// (the previous release) had no timelines; opening a version-1 database migrates it
/// (see each store's `migrate` module). A newer version is refused.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// The tables the schema creates; the schema is applied when any is missing.
pub(crate) const TABLES: [&str; 10] = [
    "schema_version",
    "users",
    "tokens",
    "friend_requests",
    "friendships",
    "messages",
    "read_cursors",
    "conversations",
    "timeline",
    "timeline_heads",
];

/// The error for a database whose schema is newer than this code: it is never touched
/// (an older server must not write to a schema it does not know). `described` names
/// the database.
pub(crate) fn newer_schema(described: &str, version: i64) -> StoreError {
    StoreError::Internal(format!(
        "{described}: the database has schema version {version}, newer than version \
         {SCHEMA_VERSION} that this server reads and writes; run a newer server"
    ))
}

/// The error for a schema version that is neither known nor newer (0 or negative).
pub(crate) fn unknown_schema(described: &str, version: i64) -> StoreError {
    StoreError::Internal(format!(
        "{described}: unknown schema version {version} (this server reads and writes \
         version {SCHEMA_VERSION} and migrates version 1)"
    ))
}

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

/// Timeline positions handed out inside one batch transaction.
///
/// Starts from each user's head (`timeline_heads.last_pos`, read under lock) and gives
/// every new message, in batch order, the next position of its sender and of its
/// recipient; a message to oneself takes one position. Both stores use it, so they
/// number timelines alike.
#[derive(Default)]
pub(crate) struct Positions {
    /// Each user's last position so far: (at the start of the batch, now).
    heads: HashMap<UserId, (Pos, Pos)>,
    /// The timeline rows to insert: (user_id, pos, msg_id).
    rows: Vec<(UserId, Pos, MsgId)>,
}

impl Positions {
    /// Starts from the given heads (user → last position). A user not given starts at 0.
    pub(crate) fn new(heads: impl IntoIterator<Item = (UserId, Pos)>) -> Positions {
        Positions {
            heads: heads.into_iter().map(|(u, p)| (u, (p, p))).collect(),
            rows: Vec::new(),
        }
    }

    /// Gives message `msg_id` from `from` to `to` the next position in both timelines;
    /// returns (sender's position, recipient's position).
    pub(crate) fn assign(&mut self, from: UserId, to: UserId, msg_id: MsgId) -> (Pos, Pos) {
        let sender = self.advance(from, msg_id);
        let recipient = if to == from {
            sender
        } else {
            self.advance(to, msg_id)
        };
        (sender, recipient)
    }

    fn advance(&mut self, user: UserId, msg_id: MsgId) -> Pos {
        let head = self.heads.entry(user).or_insert((0, 0));
        head.1 += 1;
        self.rows.push((user, head.1, msg_id));
        head.1
    }

    /// The timeline rows to insert, ordered by (user_id, pos).
    pub(crate) fn rows(&self) -> Vec<(UserId, Pos, MsgId)> {
        let mut rows = self.rows.clone();
        rows.sort_unstable();
        rows
    }

    /// The heads that moved, (user_id, new last position), ordered by user_id (a stable
    /// lock order for concurrent writers).
    pub(crate) fn moved_heads(&self) -> Vec<(UserId, Pos)> {
        let mut moved: Vec<(UserId, Pos)> = self
            .heads
            .iter()
            .filter(|(_, (start, now))| now != start)
            .map(|(&user, &(_, now))| (user, now))
            .collect();
        moved.sort_unstable();
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_batch_order() {
        let mut p = Positions::new([(1, 5), (2, 0)]);
        assert_eq!(p.assign(1, 2, 100), (6, 1));
        assert_eq!(p.assign(2, 1, 101), (2, 7));
        assert_eq!(
            p.assign(3, 1, 102),
            (1, 8),
            "a user without a head starts at 0"
        );
        assert_eq!(
            p.assign(3, 3, 103),
            (2, 2),
            "a message to oneself takes one position"
        );
        assert_eq!(
            p.rows(),
            [
                (1, 6, 100),
                (1, 7, 101),
                (1, 8, 102),
                (2, 1, 100),
                (2, 2, 101),
                (3, 1, 102),
                (3, 2, 103)
            ]
        );
        assert_eq!(p.moved_heads(), [(1, 8), (2, 2), (3, 2)]);
        let untouched = Positions::new([(4, 9)]);
        assert!(untouched.moved_heads().is_empty());
        assert!(untouched.rows().is_empty());
    }

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
