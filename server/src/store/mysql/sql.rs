//! The SQL text of every statement the MySQL store runs: constants for the fixed ones,
//! functions for the multi-row ones whose placeholders depend on a row count, and the
//! row counts ("shapes") multi-row statements are cut into ([`pieces`]).
//!
//! Text only: nothing here runs a statement. Every statement is parameterised and served
//! by an index; the `every_query_uses_an_index` test below checks the second claim with
//! `EXPLAIN` against a real server.

/// The MySQL schema (`sql/schema.sql`), applied when tables are missing and by the
/// version-1 migration.
pub(super) const SCHEMA: &str = include_str!("../../../../sql/schema.sql");

/// The statements of `sql/schema.sql`: whole-line `--` comments dropped, split at lines
/// ending in `;`.
pub(super) fn schema_statements(schema: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in schema.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            let statement = current.trim().trim_end_matches(';').trim();
            if !statement.is_empty() {
                statements.push(statement.to_string());
            }
            current.clear();
        }
    }
    let rest = current.trim();
    if !rest.is_empty() {
        statements.push(rest.to_string());
    }
    statements
}

/// Rows per multi-row statement at most (keeps statements well under the placeholder
/// limit). A power of two: see [`pieces`].
pub(super) const CHUNK: usize = 512;

/// Pieces of at most this many rows are not cut further: every length up to it is a
/// shape of its own.
pub(super) const EXACT_SHAPES: usize = 16;

/// Splits `items` into the pieces multi-row statements are made of: powers of two,
/// largest first, down to a rest of at most [`EXACT_SHAPES`] rows, which stays whole
/// (100 → 64, 32, 4; 45 → 32, 13; 13 → 13). Multi-row statements then come in at most
/// `EXACT_SHAPES + log2(CHUNK / EXACT_SHAPES)` shapes, each prepared once per connection
/// and then reused from the driver's statement cache: with a shape per batch size,
/// nearly every batch paid for preparing a statement of hundreds of placeholders (and
/// closing an evicted one). The small lengths are exact because each piece is a round
/// trip: in open loop at 10,000 msg/s batches hold tens of messages, and cutting 13 into
/// 8, 4 and 1 tripled the statements of a batch.
pub(super) fn pieces<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut pieces = Vec::new();
    while items.len() > EXACT_SHAPES {
        let (piece, rest) = items.split_at(1 << items.len().ilog2());
        pieces.push(piece);
        items = rest;
    }
    if !items.is_empty() {
        pieces.push(items);
    }
    pieces
}

/// The next power of two at or above `n` (1 for 0): the number of placeholders a list
/// of `n` values is padded to when repeating a value changes nothing (an `IN` list).
pub(super) fn padded_len(n: usize) -> usize {
    n.max(1).next_power_of_two()
}

/// `n` placeholders separated by commas: `?, ?, ?`.
fn placeholders(n: usize) -> String {
    let mut sql = String::with_capacity(n * 3);
    for i in 0..n {
        sql.push_str(if i == 0 { "?" } else { ", ?" });
    }
    sql
}

pub(super) const SQL_CREATE_USER: &str = "INSERT INTO users \
     (username, username_key, password_hash, nickname, avatar, email, created_ms) \
     VALUES (?, ?, ?, ?, '', ?, ?)";
/// A user's timeline head, created with the user (or, for a user created without one,
/// by the first batch that touches them, at the end of their timeline).
pub(super) const SQL_CREATE_HEAD: &str =
    "INSERT INTO timeline_heads (user_id, last_pos) VALUES (?, ?)";
pub(super) const SQL_CREDENTIALS: &str =
    "SELECT user_id, username, nickname, avatar, password_hash \
     FROM users WHERE username_key = ?";
pub(super) const SQL_USER: &str =
    "SELECT user_id, username, nickname, avatar FROM users WHERE user_id = ?";
/// A verified address of a user.
pub(super) const SQL_INSERT_EMAIL: &str =
    "INSERT INTO user_emails (email_key, user_id) VALUES (?, ?)";
/// A user and their password hash by verified address key.
pub(super) const SQL_VERIFIED_CREDENTIALS: &str =
    "SELECT u.user_id, u.username, u.nickname, u.avatar, u.password_hash \
     FROM user_emails e JOIN users u ON u.user_id = e.user_id WHERE e.email_key = ?";
/// A user's new password hash.
pub(super) const SQL_SET_PASSWORD: &str = "UPDATE users SET password_hash = ? WHERE user_id = ?";
/// Every token of a user.
pub(super) const SQL_DELETE_USER_TOKENS: &str = "DELETE FROM tokens WHERE user_id = ?";
/// Forced: for a short prefix the optimizer would rather scan a small table.
pub(super) const SQL_SEARCH_RANGE: &str = "SELECT user_id, username, nickname, avatar \
     FROM users FORCE INDEX (users_username_key) \
     WHERE username_key >= ? AND username_key < ? ORDER BY username_key LIMIT ?";
pub(super) const SQL_SEARCH_FROM: &str = "SELECT user_id, username, nickname, avatar \
     FROM users FORCE INDEX (users_username_key) \
     WHERE username_key >= ? ORDER BY username_key LIMIT ?";
pub(super) const SQL_UPDATE_PROFILE: &str = "UPDATE users SET nickname = COALESCE(?, nickname), \
     avatar = COALESCE(?, avatar) WHERE user_id = ?";
pub(super) const SQL_INSERT_TOKEN: &str =
    "INSERT INTO tokens (token_hash, user_id, expires_ms) VALUES (?, ?, ?)";
pub(super) const SQL_TOKEN_USER: &str = "SELECT u.user_id, u.username, u.nickname, u.avatar \
     FROM tokens t JOIN users u ON u.user_id = t.user_id \
     WHERE t.token_hash = ? AND t.expires_ms > ?";
pub(super) const SQL_DELETE_TOKEN: &str = "DELETE FROM tokens WHERE token_hash = ?";
/// The oldest expired tokens first, on `tokens_expires`, at most `?` of them.
pub(super) const SQL_PURGE_TOKENS: &str =
    "DELETE FROM tokens WHERE expires_ms <= ? ORDER BY expires_ms LIMIT ?";
pub(super) const SQL_ARE_FRIENDS: &str =
    "SELECT 1 FROM friendships WHERE user_id = ? AND friend_id = ?";
pub(super) const SQL_PENDING_PAIR_LOCK: &str = "SELECT request_id FROM friend_requests \
     WHERE from_id = ? AND to_id = ? AND status = 'pending' ORDER BY request_id LIMIT 1 \
     FOR UPDATE";
pub(super) const SQL_UPDATE_REQUEST_NOTE: &str =
    "UPDATE friend_requests SET message = ? WHERE request_id = ?";
pub(super) const SQL_INSERT_REQUEST: &str =
    "INSERT INTO friend_requests (from_id, to_id, message, ts, status) \
     VALUES (?, ?, ?, ?, 'pending')";
pub(super) const SQL_PENDING_TO: &str = "SELECT r.request_id, r.message, r.ts, \
     u.user_id, u.username, u.nickname, u.avatar \
     FROM friend_requests r JOIN users u ON u.user_id = r.from_id \
     WHERE r.to_id = ? AND r.status = 'pending' ORDER BY r.request_id";
pub(super) const SQL_PENDING_BY_ID_LOCK: &str = "SELECT from_id FROM friend_requests \
     WHERE request_id = ? AND to_id = ? AND status = 'pending' FOR UPDATE";
pub(super) const SQL_SET_REQUEST_ACCEPTED: &str =
    "UPDATE friend_requests SET status = 'accepted' WHERE request_id = ?";
pub(super) const SQL_ACCEPT_PAIR: &str = "UPDATE friend_requests SET status = 'accepted' \
     WHERE from_id = ? AND to_id = ? AND status = 'pending'";
pub(super) const SQL_INSERT_FRIENDSHIPS: &str = "INSERT INTO friendships (user_id, friend_id) \
     VALUES (?, ?), (?, ?) ON DUPLICATE KEY UPDATE friend_id = VALUES(friend_id)";
pub(super) const SQL_REJECT: &str = "UPDATE friend_requests SET status = 'rejected' \
     WHERE request_id = ? AND to_id = ? AND status = 'pending'";
pub(super) const SQL_DELETE_FRIENDSHIPS: &str = "DELETE FROM friendships \
     WHERE (user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)";
pub(super) const SQL_FRIENDS: &str = "SELECT u.user_id, u.username, u.nickname, u.avatar \
     FROM friendships f JOIN users u ON u.user_id = f.friend_id \
     WHERE f.user_id = ? ORDER BY u.username_key, u.user_id";
pub(super) const SQL_FRIEND_IDS: &str =
    "SELECT friend_id FROM friendships WHERE user_id = ? ORDER BY friend_id";
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
    ", m.from_pos FROM messages m WHERE m.from_id = ? AND m.client_msg_id = ?"
);
/// A user's timeline head (no row: an empty timeline).
pub(super) const SQL_LAST_POS: &str = "SELECT last_pos FROM timeline_heads WHERE user_id = ?";
/// Moves a user's head forward by `?` (one created behind the end of its timeline).
pub(super) const SQL_MOVE_HEAD: &str =
    "UPDATE timeline_heads SET last_pos = last_pos + ? WHERE user_id = ?";
/// A range of the user's timeline: the messages they received after a position, on
/// `messages_to_pos`, and those they sent, on `messages_from_pos`, each branch in
/// position order with the user's position, merged by position (a message to oneself is
/// in both branches, at the same position: `merge_branches` drops the second).
/// Parameters: me, after, limit, me, after, limit.
pub(super) const SQL_SYNC: &str = concat!(
    "(SELECT ",
    message_cols!(),
    ", m.to_pos AS pos FROM messages m FORCE INDEX (messages_to_pos) \
      WHERE m.to_id = ? AND m.to_pos > ? ORDER BY m.to_pos LIMIT ?) \
     UNION ALL \
     (SELECT ",
    message_cols!(),
    ", m.from_pos AS pos FROM messages m FORCE INDEX (messages_from_pos) \
      WHERE m.from_id = ? AND m.from_pos > ? ORDER BY m.from_pos LIMIT ?) \
     ORDER BY pos"
);
/// Both directions of a pair, each on `messages_pair`, newest first, each message with
/// the asking user's position: the sender's (`from_pos`) in the branch of the messages
/// they sent, the recipient's (`to_pos`) in the other (equal for a message to oneself).
/// Parameters: me, peer, before, limit, peer, me, before, limit.
pub(super) const SQL_HISTORY: &str = concat!(
    "(SELECT ",
    message_cols!(),
    ", m.from_pos FROM messages m FORCE INDEX (messages_pair) \
      WHERE m.from_id = ? AND m.to_id = ? AND m.msg_id < ? ORDER BY m.msg_id DESC LIMIT ?) \
     UNION ALL \
     (SELECT ",
    message_cols!(),
    ", m.to_pos FROM messages m FORCE INDEX (messages_pair) \
      WHERE m.from_id = ? AND m.to_id = ? AND m.msg_id < ? ORDER BY m.msg_id DESC LIMIT ?) \
     ORDER BY msg_id DESC"
);
/// The user's conversation rows by primary key, each with its peer, its last message
/// (with the user's position, from the row) and the count of the peer's messages past
/// the read cursor.
pub(super) const SQL_CONVERSATIONS: &str = concat!(
    "SELECT u.user_id, u.username, u.nickname, u.avatar, ",
    message_cols!(),
    ", CASE WHEN m.from_id = c.user_id THEN m.from_pos ELSE m.to_pos END, \
     (SELECT COUNT(*) FROM messages x FORCE INDEX (messages_pair) \
      WHERE x.from_id = c.peer_id AND x.to_id = c.user_id \
      AND x.msg_id > COALESCE(r.up_to, 0)) AS unread \
     FROM conversations c \
     JOIN users u ON u.user_id = c.peer_id \
     JOIN messages m ON m.msg_id = c.last_msg_id \
     LEFT JOIN read_cursors r ON r.user_id = c.user_id AND r.peer_id = c.peer_id \
     WHERE c.user_id = ? ORDER BY c.last_msg_id DESC"
);
pub(super) const SQL_MARK_READ: &str =
    "INSERT INTO read_cursors (user_id, peer_id, up_to) VALUES (?, ?, ?) \
     ON DUPLICATE KEY UPDATE up_to = GREATEST(up_to, VALUES(up_to))";

/// `(<m>from_id, <m>client_msg_id) IN ((?, ?), ...)` with `n` pairs (`m` is a table
/// alias with its dot, or empty): a range read of the `messages_client` unique index. A
/// row constructor list, not an `OR` of `AND`s: MariaDB and MySQL turn it into index
/// range lookups and test each row against the sorted list, where an `OR` of `n` terms
/// costs `n` comparisons per row.
fn key_list(m: &str, n: usize) -> String {
    let mut sql = String::with_capacity(40 + n * 8);
    sql.push_str(&format!("({m}from_id, {m}client_msg_id) IN ("));
    for i in 0..n {
        sql.push_str(if i == 0 { "(?, ?)" } else { ", (?, ?)" });
    }
    sql.push(')');
    sql
}

/// The messages with any of `n` (from_id, client_msg_id) keys, each with its sender's
/// and its recipient's position.
pub(super) fn sql_messages_by_keys(n: usize) -> String {
    format!(
        "SELECT m.msg_id, m.from_id, m.to_id, m.text, m.ts, m.client_msg_id, m.from_pos, \
         m.to_pos FROM messages m WHERE {}",
        key_list("m.", n)
    )
}

/// The ids of the messages with any of `n` (from_id, client_msg_id) keys.
pub(super) fn sql_ids_by_keys(n: usize) -> String {
    format!(
        "SELECT msg_id, from_id, client_msg_id FROM messages WHERE {}",
        key_list("", n)
    )
}

/// Locks and advances the timeline heads of `n` users in one statement: rows (user_id,
/// number of new positions), in user_id order (the lock order), padded by repeating the
/// last user with 0 (see [`padded_len`]). A missing head is created at that number (see
/// `timeline::advance_heads` for what happens then).
pub(super) fn sql_advance_heads(n: usize) -> String {
    let mut sql = String::from("INSERT INTO timeline_heads (user_id, last_pos) VALUES ");
    for i in 0..n {
        sql.push_str(if i == 0 { "(?, ?)" } else { ", (?, ?)" });
    }
    sql.push_str(" ON DUPLICATE KEY UPDATE last_pos = last_pos + VALUES(last_pos)");
    sql
}

/// [`sql_advance_heads`] returning each row's head as updated, (user_id, last_pos) per
/// row, in one statement: MariaDB >= 10.5 (see `MysqlStore::heads_returning`).
pub(super) fn sql_advance_heads_returning(n: usize) -> String {
    format!("{} RETURNING user_id, last_pos", sql_advance_heads(n))
}

/// The probe of `MysqlStore::heads_returning`: advances the head of user 0 (never a
/// user: ids start at 1) twice in one statement, by 5 then by 1, returning the heads.
/// A server that returns rows as updated answers x + 5, x + 6; run in a transaction that
/// is rolled back.
pub(super) const SQL_PROBE_RETURNING: &str = "INSERT INTO timeline_heads (user_id, last_pos) \
     VALUES (0, 5), (0, 1) ON DUPLICATE KEY UPDATE last_pos = last_pos + VALUES(last_pos) \
     RETURNING last_pos";

/// The end of the timelines of `n` users (a list padded by repeating its last id), for
/// those who have one: (user_id, last position), from the positions on their messages'
/// rows (the last entry of each user's group on `messages_to_pos` and
/// `messages_from_pos`). Parameters: the list twice.
pub(super) fn sql_timeline_ends(n: usize) -> String {
    let list = placeholders(n);
    format!(
        "SELECT user_id, MAX(pos) FROM ( \
           SELECT to_id AS user_id, MAX(to_pos) AS pos \
           FROM messages FORCE INDEX (messages_to_pos) WHERE to_id IN ({list}) GROUP BY to_id \
           UNION ALL \
           SELECT from_id, MAX(from_pos) \
           FROM messages FORCE INDEX (messages_from_pos) WHERE from_id IN ({list}) \
           GROUP BY from_id) AS ends \
         GROUP BY user_id"
    )
}

/// The timeline heads of `n` users (a list padded by repeating its last id), read after
/// [`sql_advance_heads`] in the same transaction: the rows are this transaction's own
/// writes, locked, so a plain read sees exactly what it wrote. Forced onto the primary
/// key: the table is small in tests and the optimizer would rather scan it.
pub(super) fn sql_read_heads(n: usize) -> String {
    format!(
        "SELECT user_id, last_pos FROM timeline_heads FORCE INDEX (PRIMARY) \
         WHERE user_id IN ({})",
        placeholders(n)
    )
}

/// A multi-row upsert of `n` timeline heads (user_id, last_pos): the new value wins (the
/// rows are locked by this transaction, so it is the only writer). Corrects heads that
/// [`sql_advance_heads`] moved too far (the batch held retries).
pub(super) fn sql_upsert_heads(n: usize) -> String {
    let mut sql = String::from("INSERT INTO timeline_heads (user_id, last_pos) VALUES ");
    for i in 0..n {
        sql.push_str(if i == 0 { "(?, ?)" } else { ", (?, ?)" });
    }
    sql.push_str(" ON DUPLICATE KEY UPDATE last_pos = VALUES(last_pos)");
    sql
}

/// A multi-row insert of `n` messages, with their positions.
pub(super) fn sql_insert_messages(n: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO messages (from_id, to_id, text, ts, client_msg_id, from_pos, to_pos) \
         VALUES ",
    );
    for i in 0..n {
        sql.push_str(if i == 0 {
            "(?, ?, ?, ?, ?, ?, ?)"
        } else {
            ", (?, ?, ?, ?, ?, ?, ?)"
        });
    }
    sql
}

/// A multi-row upsert of `n` conversation heads (the newest id wins).
pub(super) fn sql_upsert_conversations(n: usize) -> String {
    let mut sql = String::from("INSERT INTO conversations (user_id, peer_id, last_msg_id) VALUES ");
    for i in 0..n {
        sql.push_str(if i == 0 { "(?, ?, ?)" } else { ", (?, ?, ?)" });
    }
    sql.push_str(
        " ON DUPLICATE KEY UPDATE last_msg_id = GREATEST(last_msg_id, VALUES(last_msg_id))",
    );
    sql
}

#[cfg(test)]
mod tests {
    use mysql::prelude::Queryable;
    use mysql::Value;

    use super::super::test_mysql_db as mysql_db;
    use super::super::MysqlStore;
    use super::*;
    use crate::model::{MsgId, NewMessage};
    use crate::store::shared::TABLES;
    use crate::store::{FriendRequestOutcome, Store};

    #[test]
    fn generated_sql() {
        assert_eq!(
            sql_insert_messages(2),
            "INSERT INTO messages (from_id, to_id, text, ts, client_msg_id, from_pos, to_pos) \
             VALUES (?, ?, ?, ?, ?, ?, ?), (?, ?, ?, ?, ?, ?, ?)"
        );
        assert!(sql_messages_by_keys(2)
            .ends_with("WHERE (m.from_id, m.client_msg_id) IN ((?, ?), (?, ?))"));
        assert!(sql_ids_by_keys(1).ends_with("WHERE (from_id, client_msg_id) IN ((?, ?))"));
        assert!(sql_upsert_conversations(1).contains("VALUES (?, ?, ?) ON DUPLICATE KEY"));
        assert_eq!(
            sql_advance_heads(2),
            "INSERT INTO timeline_heads (user_id, last_pos) VALUES (?, ?), (?, ?) \
             ON DUPLICATE KEY UPDATE last_pos = last_pos + VALUES(last_pos)"
        );
        assert!(sql_read_heads(3).ends_with("WHERE user_id IN (?, ?, ?)"));
        assert!(sql_advance_heads_returning(1)
            .ends_with("last_pos = last_pos + VALUES(last_pos) RETURNING user_id, last_pos"));
        assert!(sql_timeline_ends(2).contains("WHERE to_id IN (?, ?) GROUP BY to_id"));
        assert!(sql_timeline_ends(2).contains("WHERE from_id IN (?, ?) GROUP BY from_id"));
        assert_eq!(
            sql_upsert_heads(2),
            "INSERT INTO timeline_heads (user_id, last_pos) VALUES (?, ?), (?, ?) \
             ON DUPLICATE KEY UPDATE last_pos = VALUES(last_pos)"
        );
        assert_eq!(
            (padded_len(0), padded_len(1), padded_len(5), padded_len(512)),
            (1, 1, 8, 512)
        );
        let sizes =
            |n: usize| -> Vec<usize> { pieces(&vec![0u8; n]).iter().map(|p| p.len()).collect() };
        assert_eq!(sizes(100), [64, 32, 4]);
        assert_eq!(sizes(45), [32, 13]);
        assert_eq!(sizes(13), [13]);
        assert_eq!(sizes(16), [16]);
        assert_eq!(sizes(17), [16, 1]);
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(512), [512]);
        assert!(sizes(0).is_empty());
    }

    /// With some data in the tables, EXPLAIN every query: no full table scan (`ALL`) and no
    /// full index scan (`index`) anywhere.
    #[test]
    fn every_query_uses_an_index() {
        let db = mysql_db::TestDb::new();
        let store = MysqlStore::open(&db.url(), 2).unwrap();
        let mut users = Vec::new();
        for i in 0..40 {
            users.push(
                store
                    .create_user(&format!("user{i:02}"), "h", "", None)
                    .unwrap(),
            );
        }
        let mut batch = Vec::new();
        for i in 0..400 {
            batch.push(NewMessage {
                from: users[i % 40],
                to: users[(i * 7 + 1) % 40],
                text: format!("m{i}"),
                ts: i as i64,
                client_msg_id: format!("c{i}"),
            });
        }
        store.insert_messages(&batch).unwrap();
        for pair in users.windows(2) {
            if let FriendRequestOutcome::Created(id) = store
                .send_friend_request(pair[0], pair[1], "hi", 1)
                .unwrap()
            {
                store.accept_request(id, pair[1]).unwrap();
            }
            store.mark_read(pair[0], pair[1], 100).unwrap();
            store
                .insert_token(&format!("{:064}", pair[0]), pair[0], 5)
                .unwrap();
        }
        let mut conn = store.pool.get_conn().unwrap();
        for table in TABLES {
            conn.query_drop(format!("ANALYZE TABLE {table}")).unwrap();
        }
        let (u, v) = (users[3], users[4]);
        let tok = format!("{:064}", u);
        let big = MsgId::MAX;
        let three_keys: Vec<Value> = vec![
            u.into(),
            "c3".into(),
            v.into(),
            "c4".into(),
            u.into(),
            "zz".into(),
        ];
        let checks: Vec<(String, Vec<Value>)> = vec![
            (SQL_CREDENTIALS.into(), vec!["user03".into()]),
            (
                SQL_VERIFIED_CREDENTIALS.into(),
                vec!["a@example.com".into()],
            ),
            (SQL_SET_PASSWORD.into(), vec!["h".into(), u.into()]),
            (SQL_DELETE_USER_TOKENS.into(), vec![u.into()]),
            (SQL_USER.into(), vec![u.into()]),
            (
                SQL_SEARCH_RANGE.into(),
                vec!["user0".into(), "user1".into(), 20.into()],
            ),
            (SQL_SEARCH_FROM.into(), vec!["user3".into(), 20.into()]),
            (
                SQL_UPDATE_PROFILE.into(),
                vec!["n".into(), Value::NULL, u.into()],
            ),
            (SQL_TOKEN_USER.into(), vec![tok.as_str().into(), 1.into()]),
            (SQL_DELETE_TOKEN.into(), vec![tok.as_str().into()]),
            (SQL_ARE_FRIENDS.into(), vec![u.into(), v.into()]),
            (SQL_PENDING_PAIR_LOCK.into(), vec![u.into(), v.into()]),
            (SQL_UPDATE_REQUEST_NOTE.into(), vec!["x".into(), 1.into()]),
            (SQL_PENDING_TO.into(), vec![u.into()]),
            (SQL_PENDING_BY_ID_LOCK.into(), vec![1.into(), u.into()]),
            (SQL_SET_REQUEST_ACCEPTED.into(), vec![1.into()]),
            (SQL_ACCEPT_PAIR.into(), vec![u.into(), v.into()]),
            (SQL_REJECT.into(), vec![1.into(), u.into()]),
            (
                SQL_DELETE_FRIENDSHIPS.into(),
                vec![u.into(), v.into(), v.into(), u.into()],
            ),
            (SQL_FRIENDS.into(), vec![u.into()]),
            (SQL_FRIEND_IDS.into(), vec![u.into()]),
            (SQL_BY_CLIENT_ID.into(), vec![u.into(), "c3".into()]),
            (sql_ids_by_keys(3), three_keys.clone()),
            (sql_messages_by_keys(3), three_keys),
            (SQL_PURGE_TOKENS.into(), vec![3.into(), 100.into()]),
            (SQL_LAST_POS.into(), vec![u.into()]),
            (SQL_MOVE_HEAD.into(), vec![0.into(), u.into()]),
            (
                sql_timeline_ends(2),
                vec![u.into(), v.into(), u.into(), v.into()],
            ),
            (
                sql_read_heads(4),
                vec![u.into(), v.into(), users[9].into(), users[9].into()],
            ),
            (
                SQL_SYNC.into(),
                vec![u.into(), 3.into(), 50.into(), u.into(), 3.into(), 50.into()],
            ),
            (
                SQL_HISTORY.into(),
                vec![
                    u.into(),
                    v.into(),
                    big.into(),
                    50.into(),
                    v.into(),
                    u.into(),
                    big.into(),
                    50.into(),
                ],
            ),
            (SQL_CONVERSATIONS.into(), vec![u.into()]),
        ];
        let mut scans = Vec::new();
        for (sql, params) in checks {
            let plan: Vec<mysql::Row> = conn.exec(format!("EXPLAIN {sql}"), params).unwrap();
            for row in &plan {
                let access: Option<String> = row.get_opt("type").and_then(|r| r.ok());
                let table: Option<String> = row.get_opt("table").and_then(|r| r.ok());
                let key: Option<String> = row.get_opt("key").and_then(|r| r.ok());
                let is_derived = table
                    .as_deref()
                    .is_none_or(|t| t.starts_with('<') || t.is_empty());
                if !is_derived && matches!(access.as_deref(), Some("ALL") | Some("index")) {
                    scans.push(format!("{access:?} on {table:?} (key {key:?}) in {sql}"));
                }
                // Sync reads each branch in index order (only the merged union, at
                // most twice the page, is sorted).
                let extra: Option<String> = row.get_opt("Extra").and_then(|r| r.ok());
                let sorts = extra.as_deref().unwrap_or("").contains("filesort");
                if sql == SQL_SYNC && !is_derived && sorts {
                    scans.push(format!("a sort ({extra:?}) in {sql}"));
                }
            }
        }
        assert!(scans.is_empty(), "full scans:\n{}", scans.join("\n"));
    }
}
