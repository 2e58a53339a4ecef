//! The SQL text of every statement the SQLite store runs, as constants, so that the
//! `every_query_uses_an_index` test below can check each one's query plan.
//!
//! Text only: nothing here runs a statement (but that test). Every statement is
//! parameterised and served by an index.

/// Inserts a user.
pub(super) const SQL_CREATE_USER: &str = "INSERT INTO users \
     (username, username_key, password_hash, nickname, avatar, email, created_ms) \
     VALUES (?1, ?2, ?3, ?4, '', ?5, ?6)";
/// A user's timeline head: created with the user at 0, or, for a user created without
/// one, by the first batch that touches them.
pub(super) const SQL_CREATE_HEAD: &str =
    "INSERT INTO timeline_heads (user_id, last_pos) VALUES (?1, ?2)";
/// A user and their password hash by username key.
pub(super) const SQL_CREDENTIALS: &str =
    "SELECT user_id, username, nickname, avatar, password_hash \
     FROM users WHERE username_key = ?1";
/// Whether an address key is a user's verified address.
pub(super) const SQL_EMAIL_TAKEN: &str = "SELECT 1 FROM user_emails WHERE email_key = ?1";
/// A verified address of a user.
pub(super) const SQL_INSERT_EMAIL: &str =
    "INSERT INTO user_emails (email_key, user_id) VALUES (?1, ?2)";
/// A user and their password hash by verified address key.
pub(super) const SQL_VERIFIED_CREDENTIALS: &str =
    "SELECT u.user_id, u.username, u.nickname, u.avatar, u.password_hash \
     FROM user_emails e JOIN users u ON u.user_id = e.user_id WHERE e.email_key = ?1";
/// A user's new password hash.
pub(super) const SQL_SET_PASSWORD: &str = "UPDATE users SET password_hash = ?1 WHERE user_id = ?2";
/// Every token of a user.
pub(super) const SQL_DELETE_USER_TOKENS: &str = "DELETE FROM tokens WHERE user_id = ?1";
/// A user by id.
pub(super) const SQL_USER: &str =
    "SELECT user_id, username, nickname, avatar FROM users WHERE user_id = ?1";
/// Users whose key is in [?1, ?2), by key.
pub(super) const SQL_SEARCH_RANGE: &str = "SELECT user_id, username, nickname, avatar FROM users \
     WHERE username_key >= ?1 AND username_key < ?2 ORDER BY username_key LIMIT ?3";
/// Users whose key is at least ?1, by key.
pub(super) const SQL_SEARCH_FROM: &str = "SELECT user_id, username, nickname, avatar FROM users \
     WHERE username_key >= ?1 ORDER BY username_key LIMIT ?2";
/// Sets the given profile fields.
pub(super) const SQL_UPDATE_PROFILE: &str = "UPDATE users SET nickname = COALESCE(?1, nickname), \
     avatar = COALESCE(?2, avatar) WHERE user_id = ?3";
/// Stores a token hash.
pub(super) const SQL_INSERT_TOKEN: &str =
    "INSERT INTO tokens (token_hash, user_id, expires_ms) VALUES (?1, ?2, ?3)";
/// The user of an unexpired token.
pub(super) const SQL_TOKEN_USER: &str = "SELECT u.user_id, u.username, u.nickname, u.avatar \
     FROM tokens t JOIN users u ON u.user_id = t.user_id \
     WHERE t.token_hash = ?1 AND t.expires_ms > ?2";
/// Revokes a token.
pub(super) const SQL_DELETE_TOKEN: &str = "DELETE FROM tokens WHERE token_hash = ?1";
/// The oldest expired tokens first, on `tokens_expires`, at most ?2 of them (SQLite's
/// `DELETE ... LIMIT` is a compile-time option: a subquery instead).
pub(super) const SQL_PURGE_TOKENS: &str = "DELETE FROM tokens WHERE token_hash IN \
     (SELECT token_hash FROM tokens WHERE expires_ms <= ?1 ORDER BY expires_ms LIMIT ?2)";
/// Whether ?1 has ?2 as a friend.
pub(super) const SQL_ARE_FRIENDS: &str =
    "SELECT 1 FROM friendships WHERE user_id = ?1 AND friend_id = ?2";
/// The pending request from ?1 to ?2.
pub(super) const SQL_PENDING_PAIR: &str = "SELECT request_id FROM friend_requests \
     WHERE from_id = ?1 AND to_id = ?2 AND status = 'pending' ORDER BY request_id LIMIT 1";
/// Replaces a request's note.
pub(super) const SQL_UPDATE_REQUEST_NOTE: &str =
    "UPDATE friend_requests SET message = ?1 WHERE request_id = ?2";
/// A new pending request.
pub(super) const SQL_INSERT_REQUEST: &str =
    "INSERT INTO friend_requests (from_id, to_id, message, ts, status) \
     VALUES (?1, ?2, ?3, ?4, 'pending')";
/// Pending requests sent to ?1, oldest first, with their senders.
pub(super) const SQL_PENDING_TO: &str = "SELECT r.request_id, r.message, r.ts, \
     u.user_id, u.username, u.nickname, u.avatar \
     FROM friend_requests r JOIN users u ON u.user_id = r.from_id \
     WHERE r.to_id = ?1 AND r.status = 'pending' ORDER BY r.request_id";
/// The sender of pending request ?1 sent to ?2.
pub(super) const SQL_PENDING_BY_ID: &str = "SELECT from_id FROM friend_requests \
     WHERE request_id = ?1 AND to_id = ?2 AND status = 'pending'";
/// Marks a request accepted.
pub(super) const SQL_SET_REQUEST_ACCEPTED: &str =
    "UPDATE friend_requests SET status = 'accepted' WHERE request_id = ?1";
/// Accepts the pending requests from ?1 to ?2.
pub(super) const SQL_ACCEPT_PAIR: &str = "UPDATE friend_requests SET status = 'accepted' \
     WHERE from_id = ?1 AND to_id = ?2 AND status = 'pending'";
/// One direction of a friendship.
pub(super) const SQL_INSERT_FRIENDSHIP: &str =
    "INSERT OR IGNORE INTO friendships (user_id, friend_id) VALUES (?1, ?2)";
/// Rejects pending request ?1 sent to ?2.
pub(super) const SQL_REJECT: &str = "UPDATE friend_requests SET status = 'rejected' \
     WHERE request_id = ?1 AND to_id = ?2 AND status = 'pending'";
/// One direction of a friendship.
pub(super) const SQL_DELETE_FRIENDSHIP: &str =
    "DELETE FROM friendships WHERE user_id = ?1 AND friend_id = ?2";
/// ?1's friends by username.
pub(super) const SQL_FRIENDS: &str = "SELECT u.user_id, u.username, u.nickname, u.avatar \
     FROM friendships f JOIN users u ON u.user_id = f.friend_id \
     WHERE f.user_id = ?1 ORDER BY u.username_key, u.user_id";
/// ?1's friends' ids.
pub(super) const SQL_FRIEND_IDS: &str =
    "SELECT friend_id FROM friendships WHERE user_id = ?1 ORDER BY friend_id";

/// The columns of a message before its position (`m`: the `messages` row).
macro_rules! message_cols {
    () => {
        "m.msg_id, m.from_id, m.to_id, m.text, m.ts, m.client_msg_id"
    };
}

/// A message by its sender's key, with the sender's position.
pub(super) const SQL_BY_CLIENT_ID: &str = concat!(
    "SELECT ",
    message_cols!(),
    ", m.from_pos FROM messages m WHERE m.from_id = ?1 AND m.client_msg_id = ?2"
);
/// A message by its sender's key, with the sender's and the recipient's positions (a
/// client's retry in a batch).
pub(super) const SQL_ORIGINAL: &str = concat!(
    "SELECT ",
    message_cols!(),
    ", m.from_pos, m.to_pos FROM messages m WHERE m.from_id = ?1 AND m.client_msg_id = ?2"
);
/// Inserts a message.
pub(super) const SQL_INSERT_MESSAGE: &str =
    "INSERT INTO messages (from_id, to_id, text, ts, client_msg_id, from_pos, to_pos) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
/// Moves a conversation row forward (never backwards).
pub(super) const SQL_UPSERT_CONVERSATION: &str =
    "INSERT INTO conversations (user_id, peer_id, last_msg_id) \
     VALUES (?1, ?2, ?3) ON CONFLICT (user_id, peer_id) \
     DO UPDATE SET last_msg_id = max(last_msg_id, excluded.last_msg_id)";
/// A user's timeline head (no row: an empty timeline).
pub(super) const SQL_LAST_POS: &str = "SELECT last_pos FROM timeline_heads WHERE user_id = ?1";
/// The end of a user's timeline, for a user whose head row is missing: the last
/// position on the messages they received and sent (each the end of an index range).
pub(super) const SQL_MAX_POS: &str = "SELECT max( \
       COALESCE((SELECT max(to_pos) FROM messages WHERE to_id = ?1), 0), \
       COALESCE((SELECT max(from_pos) FROM messages WHERE from_id = ?1), 0))";
/// A user's new head.
pub(super) const SQL_UPSERT_HEAD: &str = "INSERT INTO timeline_heads (user_id, last_pos) \
     VALUES (?1, ?2) ON CONFLICT (user_id) DO UPDATE SET last_pos = excluded.last_pos";
/// A range of the user's timeline: the messages ?1 received after position ?2, on
/// `messages_to_pos`, and those ?1 sent, on `messages_from_pos`, each branch in
/// position order with ?1's position, merged by position (a message to oneself is in
/// both branches, at the same position: `merge_branches` drops the second).
pub(super) const SQL_SYNC: &str = concat!(
    "SELECT * FROM (SELECT ",
    message_cols!(),
    ", m.to_pos AS pos FROM messages m \
      WHERE m.to_id = ?1 AND m.to_pos > ?2 ORDER BY m.to_pos LIMIT ?3) \
     UNION ALL \
     SELECT * FROM (SELECT ",
    message_cols!(),
    ", m.from_pos AS pos FROM messages m \
      WHERE m.from_id = ?1 AND m.from_pos > ?2 ORDER BY m.from_pos LIMIT ?3) \
     ORDER BY pos"
);
/// Both directions of a pair, each on `messages_pair`, newest first, each message with
/// ?1's position: the sender's (`from_pos`) in the branch of the messages ?1 sent, the
/// recipient's (`to_pos`) in the other (equal for a message to oneself).
pub(super) const SQL_HISTORY: &str = concat!(
    "SELECT * FROM (SELECT ",
    message_cols!(),
    ", m.from_pos FROM messages m \
      WHERE m.from_id = ?1 AND m.to_id = ?2 AND m.msg_id < ?3 \
      ORDER BY m.msg_id DESC LIMIT ?4) \
     UNION ALL \
     SELECT * FROM (SELECT ",
    message_cols!(),
    ", m.to_pos FROM messages m \
      WHERE m.from_id = ?2 AND m.to_id = ?1 AND m.msg_id < ?3 \
      ORDER BY m.msg_id DESC LIMIT ?4) \
     ORDER BY msg_id DESC"
);
/// The user's conversation rows, each with its peer, its last message (with the user's
/// position, from the row) and the count of the peer's messages past the read cursor.
pub(super) const SQL_CONVERSATIONS: &str = concat!(
    "SELECT u.user_id, u.username, u.nickname, u.avatar, ",
    message_cols!(),
    ", CASE WHEN m.from_id = c.user_id THEN m.from_pos ELSE m.to_pos END, \
     (SELECT count(*) FROM messages x WHERE x.from_id = c.peer_id AND x.to_id = c.user_id \
      AND x.msg_id > COALESCE(r.up_to, 0)) AS unread \
     FROM conversations c \
     JOIN users u ON u.user_id = c.peer_id \
     JOIN messages m ON m.msg_id = c.last_msg_id \
     LEFT JOIN read_cursors r ON r.user_id = c.user_id AND r.peer_id = c.peer_id \
     WHERE c.user_id = ?1 ORDER BY c.last_msg_id DESC"
);
/// Moves a read cursor forward (never backwards).
pub(super) const SQL_MARK_READ: &str =
    "INSERT INTO read_cursors (user_id, peer_id, up_to) VALUES (?1, ?2, ?3) \
     ON CONFLICT (user_id, peer_id) DO UPDATE SET up_to = max(up_to, excluded.up_to)";

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use super::*;

    /// Every statement of the store is served by an index: no `SCAN <table>` in any plan.
    #[test]
    fn every_query_uses_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("plan.db"), 1).unwrap();
        let conn = store.conn();
        let statements = [
            SQL_CREATE_USER,
            SQL_CREATE_HEAD,
            SQL_CREDENTIALS,
            SQL_EMAIL_TAKEN,
            SQL_INSERT_EMAIL,
            SQL_VERIFIED_CREDENTIALS,
            SQL_SET_PASSWORD,
            SQL_DELETE_USER_TOKENS,
            SQL_USER,
            SQL_SEARCH_RANGE,
            SQL_SEARCH_FROM,
            SQL_UPDATE_PROFILE,
            SQL_INSERT_TOKEN,
            SQL_TOKEN_USER,
            SQL_DELETE_TOKEN,
            SQL_PURGE_TOKENS,
            SQL_ARE_FRIENDS,
            SQL_PENDING_PAIR,
            SQL_UPDATE_REQUEST_NOTE,
            SQL_INSERT_REQUEST,
            SQL_PENDING_TO,
            SQL_PENDING_BY_ID,
            SQL_SET_REQUEST_ACCEPTED,
            SQL_ACCEPT_PAIR,
            SQL_INSERT_FRIENDSHIP,
            SQL_REJECT,
            SQL_DELETE_FRIENDSHIP,
            SQL_FRIENDS,
            SQL_FRIEND_IDS,
            SQL_BY_CLIENT_ID,
            SQL_ORIGINAL,
            SQL_INSERT_MESSAGE,
            SQL_UPSERT_CONVERSATION,
            SQL_LAST_POS,
            SQL_MAX_POS,
            SQL_UPSERT_HEAD,
            SQL_SYNC,
            SQL_HISTORY,
            SQL_CONVERSATIONS,
            SQL_MARK_READ,
        ];
        let mut scans = Vec::new();
        for sql in statements {
            let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let mut rows = st.raw_query();
            let mut plan = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                let line: String = row.get(3).unwrap();
                let scans_table = line.starts_with("SCAN ")
                    && !line.starts_with("SCAN (subquery")
                    && !line.contains("CONSTANT ROW");
                if scans_table {
                    scans.push(format!("{line} in {sql}"));
                }
                plan.push(line);
            }
            // Sync reads each branch as a range of its position index (SQLite then
            // sorts each branch's page, at most `limit` rows, for the merge).
            let searches = |index: &str| {
                plan.iter()
                    .any(|l| l.starts_with("SEARCH m USING") && l.contains(index))
            };
            if sql == SQL_SYNC && !(searches("messages_to_pos") && searches("messages_from_pos")) {
                scans.push(format!("{plan:?} in {sql}"));
            }
        }
        assert!(scans.is_empty(), "table scans:\n{}", scans.join("\n"));
    }
}
