//! Opening a database of an earlier release (schema version 1, no timelines; version 2,
//! timelines in a table of their own) migrates it to version 3 without loss, on both
//! stores.
//!
//! The fixtures `fixtures/schema_v1_{sqlite,mysql}.sql` are the version-1 schemas as
//! shipped plus some data (several users, friendships, messages both ways in
//! interleaved conversations, a user without messages, tokens, read cursors,
//! conversation rows, version row 1); `fixtures/schema_v2_{sqlite,mysql}.sql` are the
//! version-2 schemas as shipped with the same data as version 2 holds it (positions,
//! timeline rows, heads, version row 2). Each test loads one into a fresh database (SQLite:
//! a temporary file; MySQL: a fresh database on `CHAT_TEST_MYSQL`, see
//! `support/mysql_db.rs`), reads what version 1 would have answered straight from the
//! tables, opens the store, and checks the result against it ([`check_migrated`]).
//! The MySQL tests also resume interrupted migrations and start several nodes at once;
//! both stores refuse a newer version, and give a timeline head to a user inserted by
//! hand (as `sql/demo.sql` does) when their first message comes.

#[path = "support/mysql_db.rs"]
mod mysql_db;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use chat::model::{Message, MsgId, NewMessage, Pos, UserId};
use chat::store::mysql::MysqlStore;
use chat::store::sqlite::SqliteStore;
use chat::store::{Store, StoreError};
use mysql::prelude::Queryable;

const SQLITE_V1: &str = include_str!("fixtures/schema_v1_sqlite.sql");
const MYSQL_V1: &str = include_str!("fixtures/schema_v1_mysql.sql");
const SQLITE_V2: &str = include_str!("fixtures/schema_v2_sqlite.sql");
const MYSQL_V2: &str = include_str!("fixtures/schema_v2_mysql.sql");
/// The schema version the stores read and write.
const CURRENT: i64 = 3;

/// The users of the fixtures, by name.
const ANN: UserId = 1;
const BOB: UserId = 2;
const CAT: UserId = 3;
const EVE: UserId = 5;
const FAY: UserId = 6;
/// The fixtures' valid token of ann (bob's is valid too; cat's expired).
const ANN_TOKEN: &str = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1";
const CAT_TOKEN: &str = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3";
/// A time when the valid tokens are valid.
const NOW: i64 = 1_800_000_000_000;

/// What the tables hold, read without the store: the basis of every expectation.
#[derive(Debug, Clone, PartialEq)]
struct Raw {
    /// Every user id.
    users: Vec<UserId>,
    /// Every message (pos 0), by msg_id.
    messages: Vec<Message>,
    /// (user, peer) → up_to.
    cursors: BTreeMap<(UserId, UserId), MsgId>,
    /// (user, peer) → last_msg_id.
    conversations: BTreeMap<(UserId, UserId), MsgId>,
}

impl Raw {
    /// `user`'s messages in msg_id order, each with its position 1..n: the timeline the
    /// migration must produce.
    fn timeline(&self, user: UserId) -> Vec<Message> {
        self.messages
            .iter()
            .filter(|m| m.from == user || m.to == user)
            .enumerate()
            .map(|(i, m)| Message {
                pos: i as Pos + 1,
                ..m.clone()
            })
            .collect()
    }

    /// `m` as `user` reads it.
    fn copy_for(&self, user: UserId, msg_id: MsgId) -> Message {
        self.timeline(user)
            .into_iter()
            .find(|m| m.msg_id == msg_id)
            .unwrap_or_else(|| panic!("message {msg_id} is not in {user}'s timeline"))
    }

    /// What `history(me, peer, None, ∞)` answered in version 1, with `me`'s positions.
    fn history(&self, me: UserId, peer: UserId) -> Vec<Message> {
        let mut pair: Vec<Message> = self
            .timeline(me)
            .into_iter()
            .filter(|m| (m.from, m.to) == (me, peer) || (m.from, m.to) == (peer, me))
            .collect();
        pair.reverse();
        pair
    }

    /// What `conversations(me)` answered in version 1: (peer, last message, unread).
    fn conversations(&self, me: UserId) -> Vec<(UserId, Message, u64)> {
        let mut rows: Vec<(UserId, Message, u64)> = self
            .conversations
            .iter()
            .filter(|((user, _), _)| *user == me)
            .map(|(&(_, peer), &last)| {
                let up_to = self.cursors.get(&(me, peer)).copied().unwrap_or(0);
                let unread = self
                    .messages
                    .iter()
                    .filter(|m| m.from == peer && m.to == me && m.msg_id > up_to)
                    .count() as u64;
                (peer, self.copy_for(me, last), unread)
            })
            .collect();
        rows.sort_by_key(|(_, last, _)| std::cmp::Reverse(last.msg_id));
        rows
    }
}

/// Every timeline entry of a version-3 database, (user_id, pos, msg_id), ordered (valid
/// for both engines).
const TIMELINE_ENTRIES: &str = "SELECT from_id, from_pos, msg_id FROM messages \
     UNION ALL SELECT to_id, to_pos, msg_id FROM messages WHERE to_id <> from_id \
     ORDER BY 1, 2";

/// Reading the tables of one database without the store.
trait Tables {
    /// The `schema_version` row.
    fn version(&self) -> i64;
    /// Users, messages, cursors and conversation rows.
    fn raw(&self) -> Raw;
    /// Every timeline entry (user_id, pos, msg_id), ordered: the positions on the
    /// messages' rows, the sender's and the recipient's (one for a message to oneself).
    fn timeline(&self) -> Vec<(UserId, Pos, MsgId)>;
    /// Every head (user_id, last_pos), ordered.
    fn heads(&self) -> Vec<(UserId, Pos)>;
    /// Every message's positions (msg_id, from_pos, to_pos), by msg_id.
    fn positions(&self) -> Vec<(MsgId, Pos, Pos)>;
    /// A description of the schema (tables, columns, indexes) to compare with a fresh
    /// database's.
    fn shape(&self) -> BTreeSet<String>;
}

// ---- the checks -------------------------------------------------------------------------

/// Everything a migrated database must show: `raw` is what the tables held before.
fn check_migrated(store: &dyn Store, tables: &dyn Tables, raw: &Raw) {
    assert_eq!(tables.version(), CURRENT, "schema version");
    // The tables: every user's timeline is exactly 1..n in msg_id order, with both
    // participants' entries (one for a message to oneself), and heads = n.
    let mut expected_rows = Vec::new();
    let mut expected_heads = Vec::new();
    for &user in &raw.users {
        let timeline = raw.timeline(user);
        expected_heads.push((user, timeline.len() as Pos));
        expected_rows.extend(timeline.iter().map(|m| (user, m.pos, m.msg_id)));
    }
    expected_rows.sort_unstable();
    assert_eq!(tables.timeline(), expected_rows, "timeline entries");
    assert_eq!(tables.heads(), expected_heads, "timeline heads");
    // Each message's row holds its sender's and its recipient's position.
    let expected_positions: Vec<(MsgId, Pos, Pos)> = raw
        .messages
        .iter()
        .map(|m| {
            let from = raw.copy_for(m.from, m.msg_id).pos;
            (m.msg_id, from, raw.copy_for(m.to, m.msg_id).pos)
        })
        .collect();
    assert_eq!(
        tables.positions(),
        expected_positions,
        "messages' positions"
    );
    assert_eq!(raw.timeline(ANN).len(), 11, "the fixture's ann");
    assert_eq!(raw.timeline(EVE).len(), 0, "the fixture's eve");
    assert_eq!(raw.timeline(FAY).len(), 2, "the fixture's fay");

    for &user in &raw.users {
        let timeline = raw.timeline(user);
        // sync returns every message of theirs once, in order, with positions.
        assert_eq!(
            store.sync(user, 0, 10_000).unwrap(),
            timeline,
            "sync {user}"
        );
        let mut paged = Vec::new();
        loop {
            let after = paged.last().map_or(0, |m: &Message| m.pos);
            let page = store.sync(user, after, 3).unwrap();
            if page.is_empty() {
                break;
            }
            paged.extend(page);
        }
        assert_eq!(paged, timeline, "sync {user} in pages");
        assert_eq!(store.last_pos(user).unwrap(), timeline.len() as Pos);
        // history and conversations answer what version 1 did (plus positions).
        for &peer in &raw.users {
            assert_eq!(
                store.history(user, peer, None, 100).unwrap(),
                raw.history(user, peer),
                "history {user} {peer}"
            );
        }
        let convs: Vec<(UserId, Message, u64)> = store
            .conversations(user)
            .unwrap()
            .into_iter()
            .map(|c| (c.peer.user_id, c.last, c.unread))
            .collect();
        assert_eq!(convs, raw.conversations(user), "conversations {user}");
    }
    // Spot checks of the reference itself.
    let ann = raw.conversations(ANN);
    let summary: Vec<(UserId, MsgId, u64)> =
        ann.iter().map(|(p, m, u)| (*p, m.msg_id, *u)).collect();
    assert_eq!(
        summary,
        [(FAY, 16, 1), (CAT, 14, 1), (4, 11, 1), (BOB, 10, 1)]
    );
    let history = store.history(BOB, ANN, Some(10), 2).unwrap();
    assert_eq!(
        history
            .iter()
            .map(|m| (m.msg_id, m.pos))
            .collect::<Vec<_>>(),
        [(6, 4), (2, 2)]
    );

    // Accounts, tokens and friends survived.
    assert_eq!(
        store.token_user(ANN_TOKEN, NOW).unwrap().unwrap().user_id,
        ANN
    );
    assert_eq!(store.token_user(CAT_TOKEN, NOW).unwrap(), None);
    let (ann_user, hash) = store.credentials("ANN").unwrap().unwrap();
    assert_eq!(
        (ann_user.user_id, ann_user.nickname.as_str()),
        (ANN, "Ann A.")
    );
    assert!(hash.starts_with("$argon2id$"));
    assert_eq!(store.user(CAT).unwrap().unwrap().nickname, "Cat 🐱");
    assert!(store.are_friends(ANN, BOB).unwrap());
    assert!(!store.are_friends(EVE, BOB).unwrap());
    let pending = store.pending_requests(BOB).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].from.user_id, EVE);
    assert_eq!(store.friend_ids(ANN).unwrap(), [BOB, CAT, 4, FAY]);
}

/// A new message after the migration continues both timelines at n + 1 and gets a
/// higher id than every migrated message; a new user starts at 0.
fn check_new_writes(store: &dyn Store, raw: &Raw) {
    let ann_n = raw.timeline(ANN).len() as Pos;
    let eve_n = raw.timeline(EVE).len() as Pos;
    let out = store
        .insert_messages(&[NewMessage {
            from: EVE,
            to: ANN,
            text: "first words".into(),
            ts: NOW,
            client_msg_id: "e-1".into(),
        }])
        .unwrap();
    assert!(out[0].new);
    assert_eq!(
        (out[0].message.pos, out[0].recipient_pos),
        (eve_n + 1, ann_n + 1)
    );
    let max_id = raw.messages.iter().map(|m| m.msg_id).max().unwrap_or(0);
    assert!(out[0].message.msg_id > max_id);
    assert_eq!(store.last_pos(ANN).unwrap(), ann_n + 1);
    assert_eq!(
        store.sync(ANN, ann_n, 10).unwrap(),
        vec![Message {
            pos: ann_n + 1,
            ..out[0].message.clone()
        }]
    );
    // A retry of a migrated message returns it with its migrated positions.
    let retry = store
        .insert_messages(&[NewMessage {
            from: BOB,
            to: ANN,
            text: "sure (again)".into(),
            ts: NOW,
            client_msg_id: "b-3".into(),
        }])
        .unwrap();
    assert!(!retry[0].new);
    assert_eq!(retry[0].message, raw.copy_for(BOB, 10));
    assert_eq!(retry[0].recipient_pos, raw.copy_for(ANN, 10).pos);
    let newcomer = store.create_user("newcomer", "h", "", None).unwrap();
    assert_eq!(store.last_pos(newcomer).unwrap(), 0);
}

// ---- SQLite -------------------------------------------------------------------------------

/// The tables of an SQLite file.
struct SqliteTables<'a>(&'a Path);

impl SqliteTables<'_> {
    fn conn(&self) -> rusqlite::Connection {
        rusqlite::Connection::open(self.0).unwrap()
    }

    fn rows<T: rusqlite::types::FromSql, U: rusqlite::types::FromSql>(
        &self,
        sql: &str,
    ) -> Vec<(T, U)> {
        let conn = self.conn();
        let mut st = conn.prepare(sql).unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    }
}

impl Tables for SqliteTables<'_> {
    fn version(&self) -> i64 {
        self.conn()
            .query_row("SELECT version FROM schema_version WHERE id = 1", [], |r| {
                r.get(0)
            })
            .unwrap()
    }

    fn raw(&self) -> Raw {
        let conn = self.conn();
        let mut st = conn
            .prepare(
                "SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM messages \
                 ORDER BY msg_id",
            )
            .unwrap();
        let messages = st
            .query_map([], |r| {
                Ok(Message {
                    msg_id: r.get(0)?,
                    from: r.get(1)?,
                    to: r.get(2)?,
                    text: r.get(3)?,
                    ts: r.get(4)?,
                    client_msg_id: r.get(5)?,
                    pos: 0,
                })
            })
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap();
        let users = self
            .rows::<i64, i64>("SELECT user_id, 0 FROM users ORDER BY user_id")
            .into_iter()
            .map(|(u, _)| u)
            .collect();
        let pairs = |sql: &str| -> BTreeMap<(UserId, UserId), MsgId> {
            let conn = self.conn();
            let mut st = conn.prepare(sql).unwrap();
            st.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        Raw {
            users,
            messages,
            cursors: pairs("SELECT user_id, peer_id, up_to FROM read_cursors"),
            conversations: pairs("SELECT user_id, peer_id, last_msg_id FROM conversations"),
        }
    }

    fn timeline(&self) -> Vec<(UserId, Pos, MsgId)> {
        let conn = self.conn();
        let mut st = conn.prepare(TIMELINE_ENTRIES).unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    }

    fn heads(&self) -> Vec<(UserId, Pos)> {
        self.rows("SELECT user_id, last_pos FROM timeline_heads ORDER BY user_id")
    }

    fn positions(&self) -> Vec<(MsgId, Pos, Pos)> {
        let conn = self.conn();
        let mut st = conn
            .prepare("SELECT msg_id, from_pos, to_pos FROM messages ORDER BY msg_id")
            .unwrap();
        st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
    }

    fn shape(&self) -> BTreeSet<String> {
        self.rows::<String, Option<String>>(
            "SELECT type || ' ' || name || ' on ' || tbl_name, sql FROM sqlite_master \
             WHERE name NOT LIKE 'sqlite_%'",
        )
        .into_iter()
        .map(|(what, sql)| format!("{what}: {}", sql.unwrap_or_default()))
        .collect()
    }
}

/// A version-1 SQLite file with the fixture's data, in `dir`.
fn sqlite_v1(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("chat.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(SQLITE_V1).unwrap();
    path
}

#[test]
fn sqlite_version_1_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_v1(dir.path());
    let tables = SqliteTables(&path);
    assert_eq!(tables.version(), 1);
    let raw = tables.raw();
    assert_eq!(raw.messages.len(), 15);

    let store = SqliteStore::open(&path, 2).unwrap();
    check_migrated(&store, &tables, &raw);
    // The migrated schema is the schema of a fresh database.
    let fresh = dir.path().join("fresh.db");
    drop(SqliteStore::open(&fresh, 1).unwrap());
    assert_eq!(tables.shape(), SqliteTables(&fresh).shape());
    drop(store);

    // Opening again changes nothing.
    let before = (tables.timeline(), tables.heads(), tables.shape());
    let store = SqliteStore::open(&path, 2).unwrap();
    assert_eq!((tables.timeline(), tables.heads(), tables.shape()), before);
    assert_eq!(tables.raw(), raw);
    check_migrated(&store, &tables, &raw);
    check_new_writes(&store, &raw);
}

/// `messages` is rebuilt by the SQLite migration: its AUTOINCREMENT counter carries over,
/// so an id taken by a message that is gone is never handed out again.
#[test]
fn sqlite_migration_keeps_the_id_counter() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_v1(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    // Version 1 handed out ids up to 40 (the rows above 16 are gone).
    conn.execute(
        "UPDATE sqlite_sequence SET seq = 40 WHERE name = 'messages'",
        [],
    )
    .unwrap();
    drop(conn);
    let store = SqliteStore::open(&path, 1).unwrap();
    let out = store
        .insert_messages(&[NewMessage {
            from: ANN,
            to: BOB,
            text: "after the migration".into(),
            ts: NOW,
            client_msg_id: "a-new".into(),
        }])
        .unwrap();
    assert_eq!(out[0].message.msg_id, 41);
    let sequences: Vec<(String, i64)> =
        SqliteTables(&path).rows("SELECT name, seq FROM sqlite_sequence ORDER BY name");
    assert!(
        sequences.contains(&("messages".to_string(), 41)),
        "{sequences:?}"
    );
    assert!(!sequences.iter().any(|(name, _)| name == "messages_v1"));
}

#[test]
fn sqlite_newer_version_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = sqlite_v1(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE schema_version SET version = 4", [])
        .unwrap();
    drop(conn);
    let before = SqliteTables(&path).shape();
    match SqliteStore::open(&path, 1) {
        Err(StoreError::Internal(msg)) => {
            assert!(msg.contains("version 4"), "{msg}");
            assert!(msg.contains("version 3"), "{msg}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("version 4 accepted"),
    }
    assert_eq!(SqliteTables(&path).shape(), before);
    assert_eq!(SqliteTables(&path).version(), 4);
}

// ---- MySQL --------------------------------------------------------------------------------

/// The tables of a MySQL database.
struct MysqlTables<'a>(&'a mysql_db::TestDb);

impl MysqlTables<'_> {
    fn conn(&self) -> mysql::Conn {
        mysql::Conn::new(self.0.url().as_str()).unwrap()
    }
}

impl Tables for MysqlTables<'_> {
    fn version(&self) -> i64 {
        self.conn()
            .query_first("SELECT version FROM schema_version WHERE id = 1")
            .unwrap()
            .unwrap()
    }

    fn raw(&self) -> Raw {
        let mut conn = self.conn();
        let messages = conn
            .query_map(
                "SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM messages \
                 ORDER BY msg_id",
                |(msg_id, from, to, text, ts, client_msg_id)| Message {
                    msg_id,
                    from,
                    to,
                    text,
                    ts,
                    client_msg_id,
                    pos: 0,
                },
            )
            .unwrap();
        let users = conn
            .query("SELECT user_id FROM users ORDER BY user_id")
            .unwrap();
        let mut pairs = |sql: &str| -> BTreeMap<(UserId, UserId), MsgId> {
            conn.query_map(sql, |(user, peer, id)| ((user, peer), id))
                .unwrap()
                .into_iter()
                .collect()
        };
        let cursors = pairs("SELECT user_id, peer_id, up_to FROM read_cursors");
        let conversations = pairs("SELECT user_id, peer_id, last_msg_id FROM conversations");
        Raw {
            users,
            messages,
            cursors,
            conversations,
        }
    }

    fn timeline(&self) -> Vec<(UserId, Pos, MsgId)> {
        self.conn().query(TIMELINE_ENTRIES).unwrap()
    }

    fn heads(&self) -> Vec<(UserId, Pos)> {
        self.conn()
            .query("SELECT user_id, last_pos FROM timeline_heads ORDER BY user_id")
            .unwrap()
    }

    fn positions(&self) -> Vec<(MsgId, Pos, Pos)> {
        self.conn()
            .query("SELECT msg_id, from_pos, to_pos FROM messages ORDER BY msg_id")
            .unwrap()
    }

    fn shape(&self) -> BTreeSet<String> {
        let mut conn = self.conn();
        let columns: Vec<(String, String, String, String)> = conn
            .query(
                "SELECT table_name, column_name, column_type, is_nullable \
                 FROM information_schema.columns WHERE table_schema = DATABASE()",
            )
            .unwrap();
        let indexes: Vec<(String, String, i64, String)> = conn
            .query(
                "SELECT table_name, index_name, non_unique, \
                 GROUP_CONCAT(column_name ORDER BY seq_in_index) \
                 FROM information_schema.statistics WHERE table_schema = DATABASE() \
                 GROUP BY table_name, index_name, non_unique",
            )
            .unwrap();
        let keys: Vec<(String, String, String)> = conn
            .query(
                "SELECT table_name, constraint_name, constraint_type \
                 FROM information_schema.table_constraints \
                 WHERE constraint_schema = DATABASE()",
            )
            .unwrap();
        columns
            .into_iter()
            .map(|c| format!("column {c:?}"))
            .chain(indexes.into_iter().map(|i| format!("index {i:?}")))
            .chain(keys.into_iter().map(|k| format!("constraint {k:?}")))
            .collect()
    }
}

/// The statements of a MySQL script: split at lines ending in `;`, whole-line `--`
/// comments skipped (the format rules of `sql/schema.sql`).
fn mysql_statements(script: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in script.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if trimmed.ends_with(';') {
            statements.push(current.trim().trim_end_matches(';').to_string());
            current.clear();
        }
    }
    assert!(current.trim().is_empty(), "unterminated: {current}");
    statements
}

/// A fresh database holding the version-1 fixture.
fn mysql_v1() -> mysql_db::TestDb {
    let db = mysql_db::TestDb::new();
    let mut conn = mysql::Conn::new(db.url().as_str()).unwrap();
    conn.query_drop("SET NAMES utf8mb4").unwrap();
    for statement in mysql_statements(MYSQL_V1) {
        conn.query_drop(&statement)
            .unwrap_or_else(|e| panic!("{e}: {statement}"));
    }
    db
}

/// The schema of a fresh MySQL database.
fn mysql_fresh_shape() -> BTreeSet<String> {
    let db = mysql_db::TestDb::new();
    drop(MysqlStore::open(&db.url(), 1).unwrap());
    MysqlTables(&db).shape()
}

#[test]
fn mysql_version_1_is_migrated() {
    let db = mysql_v1();
    let tables = MysqlTables(&db);
    assert_eq!(tables.version(), 1);
    let raw = tables.raw();
    assert_eq!(raw.messages.len(), 15);

    let store = MysqlStore::open(&db.url(), 4).unwrap();
    check_migrated(&store, &tables, &raw);
    assert_eq!(
        tables.shape(),
        mysql_fresh_shape(),
        "migrated = fresh schema"
    );
    drop(store);

    // Opening again changes nothing.
    let before = (tables.timeline(), tables.heads(), tables.shape());
    let store = MysqlStore::open(&db.url(), 4).unwrap();
    assert_eq!((tables.timeline(), tables.heads(), tables.shape()), before);
    assert_eq!(tables.raw(), raw);
    check_migrated(&store, &tables, &raw);
    check_new_writes(&store, &raw);
}

/// A migration interrupted after each of its steps (done here by hand, the way the
/// migration does them, with a half-done step where there is one to be had), and a node
/// of the old release writing a message after the interruption (refused once messages
/// have the new columns): the next open completes the migration, without loss.
#[test]
fn mysql_interrupted_migration_completes() {
    let schema =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/schema.sql")).unwrap();
    let new_tables: Vec<String> = mysql_statements(&schema)
        .into_iter()
        .filter(|s| s.contains(" timeline_heads"))
        .collect();
    assert_eq!(new_tables.len(), 1);
    let fresh = mysql_fresh_shape();
    for steps_done in 1..=5 {
        eprintln!("--- interrupted after step {steps_done}");
        let db = mysql_v1();
        let mut conn = mysql::Conn::new(db.url().as_str()).unwrap();
        for statement in &new_tables {
            conn.query_drop(statement).unwrap();
        }
        if steps_done >= 2 {
            conn.query_drop("ALTER TABLE tokens ADD INDEX tokens_expires (expires_ms)")
                .unwrap();
        }
        if steps_done == 3 {
            // Half of step 3: one of the two columns.
            conn.query_drop("ALTER TABLE messages ADD COLUMN from_pos BIGINT NOT NULL")
                .unwrap();
        }
        if steps_done >= 4 {
            conn.query_drop(
                "ALTER TABLE messages ADD COLUMN from_pos BIGINT NOT NULL, \
                 ADD COLUMN to_pos BIGINT NOT NULL",
            )
            .unwrap();
            // A fill that committed, but saw only some of the messages, and whose
            // scratch table was not dropped.
            conn.query_drop(
                "CREATE TABLE migrate_timeline (user_id BIGINT NOT NULL, \
                 pos BIGINT NOT NULL, msg_id BIGINT NOT NULL, PRIMARY KEY (user_id, pos))",
            )
            .unwrap();
            conn.query_drop(
                "INSERT INTO migrate_timeline (user_id, pos, msg_id) VALUES (1, 1, 1), \
                 (1, 2, 2), (2, 1, 1), (2, 2, 2)",
            )
            .unwrap();
            conn.query_drop("INSERT INTO timeline_heads (user_id, last_pos) VALUES (1, 2), (2, 2)")
                .unwrap();
            conn.query_drop(
                "UPDATE messages SET from_pos = msg_id, to_pos = msg_id WHERE msg_id <= 2",
            )
            .unwrap();
        }
        if steps_done >= 5 {
            // Half of step 5: messages_pair rebuilt, one position index added,
            // messages_from dropped, messages_to still there.
            conn.query_drop(
                "ALTER TABLE messages DROP INDEX messages_pair, \
                 ADD INDEX messages_pair (to_id, from_id, msg_id)",
            )
            .unwrap();
            conn.query_drop("ALTER TABLE messages ADD INDEX messages_to_pos (to_id, to_pos)")
                .unwrap();
            conn.query_drop("ALTER TABLE messages DROP INDEX messages_from")
                .unwrap();
        }
        // The old release, started again, stores one more message (with version 1's
        // settings), until the new columns refuse it.
        conn.query_drop(
            "SET SESSION sql_mode = \
             'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
        )
        .unwrap();
        let written = conn.query_drop(
            "INSERT INTO messages (from_id, to_id, text, ts, client_msg_id) \
             VALUES (2, 3, 'written by version 1 meanwhile', 1700000099000, 'b-99')",
        );
        if steps_done >= 3 {
            let e = written.expect_err("an old-release insert into the new messages");
            assert!(e.to_string().contains("from_pos"), "{e}");
        } else {
            written.unwrap();
            conn.query_drop(
                "UPDATE conversations SET last_msg_id = LAST_INSERT_ID() \
                 WHERE (user_id, peer_id) IN ((2, 3), (3, 2))",
            )
            .unwrap();
        }
        drop(conn);
        let tables = MysqlTables(&db);
        assert_eq!(tables.version(), 1);
        let raw = tables.raw();
        assert_eq!(raw.messages.len(), if steps_done >= 3 { 15 } else { 16 });

        let store = MysqlStore::open(&db.url(), 2).unwrap();
        check_migrated(&store, &tables, &raw);
        assert_eq!(tables.shape(), fresh, "after step {steps_done}");
        check_new_writes(&store, &raw);
    }
}

#[test]
fn mysql_newer_version_is_refused_untouched() {
    let db = mysql_v1();
    let tables = MysqlTables(&db);
    tables
        .conn()
        .query_drop("UPDATE schema_version SET version = 4")
        .unwrap();
    let before = tables.shape();
    match MysqlStore::open(&db.url(), 1) {
        Err(StoreError::Internal(msg)) => {
            assert!(msg.contains("version 4"), "{msg}");
            assert!(msg.contains("version 3"), "{msg}");
        }
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("version 4 accepted"),
    }
    assert_eq!(tables.shape(), before);
    assert_eq!(tables.version(), 4);
}

/// Three nodes starting at once on a version-1 database: one migrates, the others wait
/// for it (the schema lock) and find the current version.
#[test]
fn mysql_nodes_starting_together_migrate_once() {
    let db = mysql_v1();
    let tables = MysqlTables(&db);
    let raw = tables.raw();
    let url = db.url();
    let stores: Vec<MysqlStore> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| MysqlStore::open(&url, 2).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for store in &stores {
        check_migrated(store, &tables, &raw);
    }
}

// ---- version 2 ---------------------------------------------------------------------------

/// A version-2 database: its positions, heads, messages and everything else are kept as
/// they are; only the timeline's table gives way to the indexes on the positions.
fn check_v2_migrated(
    store: &dyn Store,
    tables: &dyn Tables,
    raw: &Raw,
    v2_positions: &[(MsgId, Pos, Pos)],
) {
    assert_eq!(
        tables.positions(),
        v2_positions,
        "positions kept as they were"
    );
    check_migrated(store, tables, raw);
    check_new_writes(store, raw);
}

#[test]
fn sqlite_version_2_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(SQLITE_V2)
        .unwrap();
    let tables = SqliteTables(&path);
    assert_eq!(tables.version(), 2);
    let raw = tables.raw();
    let v2_positions = tables.positions();
    assert_eq!(raw.messages.len(), 15);

    let store = SqliteStore::open(&path, 2).unwrap();
    let fresh = dir.path().join("fresh.db");
    drop(SqliteStore::open(&fresh, 1).unwrap());
    assert_eq!(
        tables.shape(),
        SqliteTables(&fresh).shape(),
        "migrated = fresh schema"
    );
    check_v2_migrated(&store, &tables, &raw, &v2_positions);
}

/// A fresh database holding the version-2 fixture.
fn mysql_v2() -> mysql_db::TestDb {
    let db = mysql_db::TestDb::new();
    let mut conn = mysql::Conn::new(db.url().as_str()).unwrap();
    conn.query_drop("SET NAMES utf8mb4").unwrap();
    for statement in mysql_statements(MYSQL_V2) {
        conn.query_drop(&statement)
            .unwrap_or_else(|e| panic!("{e}: {statement}"));
    }
    db
}

/// The version-2 migration, also after an interruption (one index added, the other not,
/// the table still there), and opened again: the same result, untouched the second time.
#[test]
fn mysql_version_2_is_migrated() {
    let fresh = mysql_fresh_shape();
    for interrupted in [false, true] {
        let db = mysql_v2();
        let tables = MysqlTables(&db);
        assert_eq!(tables.version(), 2);
        if interrupted {
            tables
                .conn()
                .query_drop("ALTER TABLE messages ADD INDEX messages_from_pos (from_id, from_pos)")
                .unwrap();
        }
        let raw = tables.raw();
        let v2_positions = tables.positions();
        assert_eq!(raw.messages.len(), 15);

        let store = MysqlStore::open(&db.url(), 2).unwrap();
        assert_eq!(
            tables.shape(),
            fresh,
            "migrated = fresh schema (interrupted {interrupted})"
        );
        drop(store);
        let store = MysqlStore::open(&db.url(), 2).unwrap();
        assert_eq!(tables.shape(), fresh);
        check_v2_migrated(&store, &tables, &raw, &v2_positions);
    }
}

// ---- users inserted by hand ---------------------------------------------------------------

/// A user inserted straight into `users` (as `sql/demo.sql` does) has no timeline head:
/// their timeline is empty, and the first message that touches them creates the head.
fn check_user_without_head(store: &dyn Store, hand: UserId, friend: UserId) {
    assert_eq!(store.last_pos(hand).unwrap(), 0);
    let send = |from: UserId, to: UserId, cid: &str| {
        store
            .insert_messages(&[NewMessage {
                from,
                to,
                text: "hello".into(),
                ts: NOW,
                client_msg_id: cid.into(),
            }])
            .unwrap()
            .remove(0)
    };
    let first = send(friend, hand, "h-1");
    assert_eq!((first.message.pos, first.recipient_pos), (1, 1));
    let second = send(hand, friend, "h-2");
    assert_eq!((second.message.pos, second.recipient_pos), (2, 2));
    assert_eq!(store.last_pos(hand).unwrap(), 2);
    assert_eq!(store.sync(hand, 0, 10).unwrap().len(), 2);
}

/// The users row of a hand-made user, valid for both engines.
const HAND_USER: &str = "INSERT INTO users (user_id, username, username_key, password_hash, \
     nickname, avatar, email, created_ms) VALUES (900, 'hand', 'hand', 'h', '', '', NULL, 1)";

#[test]
fn sqlite_user_without_head_gets_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    let store = SqliteStore::open(&path, 1).unwrap();
    let friend = store.create_user("friend", "h", "", None).unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(HAND_USER, [])
        .unwrap();
    check_user_without_head(&store, 900, friend);
    assert!(SqliteTables(&path).heads().contains(&(900, 2)));
}

#[test]
fn mysql_user_without_head_gets_one() {
    let db = mysql_db::TestDb::new();
    let store = MysqlStore::open(&db.url(), 2).unwrap();
    let friend = store.create_user("friend", "h", "", None).unwrap();
    MysqlTables(&db).conn().query_drop(HAND_USER).unwrap();
    check_user_without_head(&store, 900, friend);
    assert!(MysqlTables(&db).heads().contains(&(900, 2)));
}
