//! What both stores share: the schema's version and tables, the username key, the
//! prefix-search bound, and small pieces of query and batch logic (merging query
//! branches, conversation heads, timeline positions). Pure functions and plain data;
//! no database access.

use std::collections::{BTreeMap, HashMap};

use super::{StoreError, StoreResult};
use crate::model::{Message, MsgId, Pos, UserId};

/// The schema version this code reads and writes (`schema_version.version`). Version 1
/// (the first release) had no timelines; version 2 kept each user's timeline in a table
/// of its own (`timeline`, two rows per message); version 3 keeps a message's positions
/// on its row only (`from_pos`, `to_pos`, each indexed with its user). Opening a version
/// 1 or 2 database migrates it (see each store's `migrate` module). A newer version is
/// refused.
pub(crate) const SCHEMA_VERSION: i64 = 3;

/// The tables the schema creates; the schema is applied when any is missing.
pub(crate) const TABLES: [&str; 10] = [
    "schema_version",
    "users",
    "user_emails",
    "tokens",
    "friend_requests",
    "friendships",
    "messages",
    "read_cursors",
    "conversations",
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

/// The uniqueness and lookup key of an e-mail address: ASCII lowercase (the domain is
/// case-insensitive, and no mail system in use treats the local part otherwise).
pub fn email_key(email: &str) -> String {
    email.to_ascii_lowercase()
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
/// Starts from each user's head (`timeline_heads.last_pos` before the batch) and gives
/// every new message, in batch order, the next position of its sender and of its
/// recipient; a message to oneself takes one position. The positions are known before
/// the message is inserted (they are columns of its row, `from_pos` and `to_pos`), so a
/// message that turns out not to be new (a client's retry) gives its positions back
/// with [`Positions::unassign`]. Both stores use it, so they number timelines alike;
/// the MySQL store also uses it, from empty heads, to count the positions each user of
/// a batch takes.
#[derive(Default)]
pub(crate) struct Positions {
    /// Each user's last position: (at the start of the batch, now).
    heads: HashMap<UserId, (Pos, Pos)>,
}

impl Positions {
    /// Starts from the given heads (user → last position). A user not given starts at 0.
    pub(crate) fn new(heads: impl IntoIterator<Item = (UserId, Pos)>) -> Positions {
        Positions {
            heads: heads.into_iter().map(|(u, p)| (u, (p, p))).collect(),
        }
    }

    /// The positions the next message from `from` to `to` would get: (sender's,
    /// recipient's). Nothing changes.
    pub(crate) fn peek(&self, from: UserId, to: UserId) -> (Pos, Pos) {
        let next = |user: UserId| self.heads.get(&user).map_or(0, |h| h.1) + 1;
        (next(from), next(to))
    }

    /// Gives a message from `from` to `to` the next position in both timelines; returns
    /// (sender's position, recipient's position), equal for a message to oneself.
    pub(crate) fn assign(&mut self, from: UserId, to: UserId) -> (Pos, Pos) {
        let sender = self.step(from, 1);
        let recipient = if to == from { sender } else { self.step(to, 1) };
        (sender, recipient)
    }

    /// Takes back the positions of the message from `from` to `to` assigned last (call
    /// in the reverse order of [`Positions::assign`]).
    pub(crate) fn unassign(&mut self, from: UserId, to: UserId) {
        self.step(from, -1);
        if to != from {
            self.step(to, -1);
        }
    }

    fn step(&mut self, user: UserId, by: Pos) -> Pos {
        let head = self.heads.entry(user).or_insert((0, 0));
        head.1 += by;
        head.1
    }

    /// Every user's last position now, (user_id, last position), ordered by user_id.
    pub(crate) fn heads(&self) -> Vec<(UserId, Pos)> {
        let mut heads: Vec<(UserId, Pos)> = self
            .heads
            .iter()
            .map(|(&user, &(_, now))| (user, now))
            .collect();
        heads.sort_unstable();
        heads
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
        assert_eq!(p.peek(1, 2), (6, 1));
        assert_eq!(p.assign(1, 2), (6, 1));
        assert_eq!(p.assign(2, 1), (2, 7));
        assert_eq!(p.assign(3, 1), (1, 8), "a user without a head starts at 0");
        assert_eq!(p.peek(3, 3), (2, 2));
        assert_eq!(
            p.assign(3, 3),
            (2, 2),
            "a message to oneself takes one position"
        );
        assert_eq!(p.moved_heads(), [(1, 8), (2, 2), (3, 2)]);
        // A message given back (a retry found after all): its positions are free again.
        assert_eq!(p.assign(2, 3), (3, 3));
        p.unassign(2, 3);
        p.unassign(3, 3);
        assert_eq!(p.assign(2, 3), (3, 2));
        assert_eq!(p.heads(), [(1, 8), (2, 3), (3, 2)]);
        let untouched = Positions::new([(4, 9)]);
        assert!(untouched.moved_heads().is_empty());
        assert_eq!(untouched.heads(), [(4, 9)]);
        // Counting from nothing: how many positions each user takes.
        let mut count = Positions::default();
        count.assign(7, 8);
        count.assign(8, 8);
        count.assign(9, 7);
        assert_eq!(count.moved_heads(), [(7, 2), (8, 2), (9, 1)]);
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
