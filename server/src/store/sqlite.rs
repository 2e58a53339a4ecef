//! The SQLite implementation of [`Store`]: an embedded database file, zero set-up.
//!
//! * The file runs in WAL mode with `synchronous=FULL`: a commit returns only after the
//!   write-ahead log is on disk, so an acknowledged message survives `kill -9` and power
//!   loss. `busy_timeout` is 5 s (a busy database then maps to
//!   [`StoreError::Unavailable`]); foreign keys are enforced.
//! * A small pool of connections: readers run in parallel (WAL); writers are serialised by
//!   SQLite, and every multi-statement write is a `BEGIN IMMEDIATE` transaction so it takes
//!   the write lock up front instead of failing on a lock upgrade.
//! * The schema is `schema_sqlite.sql`, embedded and applied when tables are missing.
//! * A background thread checkpoints the write-ahead log (see [`super::checkpointer`]);
//!   each connection has a 32 MiB page cache.
//!
//! The helpers both stores use (username keys, prefix ranges, merging the two branches
//! of a sync) are in [`super::shared`], so the two stores answer alike.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::checkpointer::{Checkpointer, BACKSTOP_PAGES};
use super::shared::{
    check_not_self, merge_branches, prefix_upper_bound, username_key, ConversationHeads,
    SCHEMA_VERSION, TABLES,
};
use super::{FriendRequestOutcome, Store, StoreError, StoreResult, Stored};
use crate::model::{now_ms, Conversation, FriendRequest, Message, MsgId, NewMessage, User, UserId};

/// The SQLite schema (the twin of `sql/schema.sql`).
const SCHEMA: &str = include_str!("schema_sqlite.sql");

/// Page cache per connection, in KiB.
const CACHE_KIB: i64 = 32 * 1024;

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

// ---- SQL -------------------------------------------------------------------------------
// Every statement is a constant so that the unit tests can check each one's query plan.

const SQL_CREATE_USER: &str = "INSERT INTO users \
     (username, username_key, password_hash, nickname, avatar, email, created_ms) \
     VALUES (?1, ?2, ?3, ?4, '', ?5, ?6)";
const SQL_CREDENTIALS: &str = "SELECT user_id, username, nickname, avatar, password_hash \
     FROM users WHERE username_key = ?1";
const SQL_USER: &str = "SELECT user_id, username, nickname, avatar FROM users WHERE user_id = ?1";
const SQL_SEARCH_RANGE: &str = "SELECT user_id, username, nickname, avatar FROM users \
     WHERE username_key >= ?1 AND username_key < ?2 ORDER BY username_key LIMIT ?3";
const SQL_SEARCH_FROM: &str = "SELECT user_id, username, nickname, avatar FROM users \
     WHERE username_key >= ?1 ORDER BY username_key LIMIT ?2";
const SQL_UPDATE_PROFILE: &str = "UPDATE users SET nickname = COALESCE(?1, nickname), \
     avatar = COALESCE(?2, avatar) WHERE user_id = ?3";
const SQL_INSERT_TOKEN: &str =
    "INSERT INTO tokens (token_hash, user_id, expires_ms) VALUES (?1, ?2, ?3)";
const SQL_TOKEN_USER: &str = "SELECT u.user_id, u.username, u.nickname, u.avatar \
     FROM tokens t JOIN users u ON u.user_id = t.user_id \
     WHERE t.token_hash = ?1 AND t.expires_ms > ?2";
const SQL_DELETE_TOKEN: &str = "DELETE FROM tokens WHERE token_hash = ?1";
const SQL_ARE_FRIENDS: &str = "SELECT 1 FROM friendships WHERE user_id = ?1 AND friend_id = ?2";
const SQL_PENDING_PAIR: &str = "SELECT request_id FROM friend_requests \
     WHERE from_id = ?1 AND to_id = ?2 AND status = 'pending' ORDER BY request_id LIMIT 1";
const SQL_UPDATE_REQUEST_NOTE: &str =
    "UPDATE friend_requests SET message = ?1 WHERE request_id = ?2";
const SQL_INSERT_REQUEST: &str =
    "INSERT INTO friend_requests (from_id, to_id, message, ts, status) \
     VALUES (?1, ?2, ?3, ?4, 'pending')";
const SQL_PENDING_TO: &str = "SELECT r.request_id, r.message, r.ts, \
     u.user_id, u.username, u.nickname, u.avatar \
     FROM friend_requests r JOIN users u ON u.user_id = r.from_id \
     WHERE r.to_id = ?1 AND r.status = 'pending' ORDER BY r.request_id";
const SQL_PENDING_BY_ID: &str = "SELECT from_id FROM friend_requests \
     WHERE request_id = ?1 AND to_id = ?2 AND status = 'pending'";
const SQL_SET_REQUEST_ACCEPTED: &str =
    "UPDATE friend_requests SET status = 'accepted' WHERE request_id = ?1";
const SQL_ACCEPT_PAIR: &str = "UPDATE friend_requests SET status = 'accepted' \
     WHERE from_id = ?1 AND to_id = ?2 AND status = 'pending'";
const SQL_INSERT_FRIENDSHIP: &str =
    "INSERT OR IGNORE INTO friendships (user_id, friend_id) VALUES (?1, ?2)";
const SQL_REJECT: &str = "UPDATE friend_requests SET status = 'rejected' \
     WHERE request_id = ?1 AND to_id = ?2 AND status = 'pending'";
const SQL_DELETE_FRIENDSHIP: &str = "DELETE FROM friendships WHERE user_id = ?1 AND friend_id = ?2";
const SQL_FRIENDS: &str = "SELECT u.user_id, u.username, u.nickname, u.avatar \
     FROM friendships f JOIN users u ON u.user_id = f.friend_id \
     WHERE f.user_id = ?1 ORDER BY u.username_key, u.user_id";
const SQL_FRIEND_IDS: &str =
    "SELECT friend_id FROM friendships WHERE user_id = ?1 ORDER BY friend_id";
const SQL_BY_CLIENT_ID: &str = "SELECT msg_id, from_id, to_id, text, ts, client_msg_id \
     FROM messages WHERE from_id = ?1 AND client_msg_id = ?2";
const SQL_INSERT_MESSAGE: &str = "INSERT INTO messages (from_id, to_id, text, ts, client_msg_id) \
     VALUES (?1, ?2, ?3, ?4, ?5)";
const SQL_UPSERT_CONVERSATION: &str = "INSERT INTO conversations (user_id, peer_id, last_msg_id) \
     VALUES (?1, ?2, ?3) ON CONFLICT (user_id, peer_id) \
     DO UPDATE SET last_msg_id = max(last_msg_id, excluded.last_msg_id)";
/// Each branch is ordered and limited on its own index, then the two are merged.
const SQL_SYNC: &str = "SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM \
     (SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM messages \
      WHERE to_id = ?1 AND msg_id > ?2 ORDER BY msg_id LIMIT ?3) \
     UNION ALL \
     SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM \
     (SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM messages \
      WHERE from_id = ?1 AND msg_id > ?2 ORDER BY msg_id LIMIT ?3) \
     ORDER BY msg_id";
/// Both directions of a pair, each on `messages_pair`, newest first.
const SQL_HISTORY: &str = "SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM \
     (SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM messages \
      WHERE from_id = ?1 AND to_id = ?2 AND msg_id < ?3 ORDER BY msg_id DESC LIMIT ?4) \
     UNION ALL \
     SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM \
     (SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM messages \
      WHERE from_id = ?2 AND to_id = ?1 AND msg_id < ?3 ORDER BY msg_id DESC LIMIT ?4) \
     ORDER BY msg_id DESC";
const SQL_CONVERSATIONS: &str = "SELECT u.user_id, u.username, u.nickname, u.avatar, \
     m.msg_id, m.from_id, m.to_id, m.text, m.ts, m.client_msg_id, \
     (SELECT count(*) FROM messages x WHERE x.from_id = c.peer_id AND x.to_id = c.user_id \
      AND x.msg_id > COALESCE(r.up_to, 0)) AS unread \
     FROM conversations c \
     JOIN users u ON u.user_id = c.peer_id \
     JOIN messages m ON m.msg_id = c.last_msg_id \
     LEFT JOIN read_cursors r ON r.user_id = c.user_id AND r.peer_id = c.peer_id \
     WHERE c.user_id = ?1 ORDER BY c.last_msg_id DESC";
const SQL_MARK_READ: &str =
    "INSERT INTO read_cursors (user_id, peer_id, up_to) VALUES (?1, ?2, ?3) \
     ON CONFLICT (user_id, peer_id) DO UPDATE SET up_to = max(up_to, excluded.up_to)";

/// The SQLite store (see the module docs).
pub struct SqliteStore {
    path: PathBuf,
    conns: Vec<Mutex<Connection>>,
    next: AtomicUsize,
    /// Copies the write-ahead log back into the file, off the committing threads.
    _checkpointer: Checkpointer,
}

impl SqliteStore {
    /// Opens (creating if needed, with its parent directories) the database at `path` with
    /// `pool_size` connections (at least 1), applies the schema if tables are missing and
    /// checks the schema version.
    pub fn open(path: &Path, pool_size: usize) -> StoreResult<SqliteStore> {
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(|e| {
                    StoreError::Unavailable(format!("creating {}: {e}", parent.display()))
                })?;
            }
        }
        let pool_size = pool_size.max(1);
        let first = open_connection(path)?;
        let mode: String = first
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(|e| map_err("setting journal_mode=WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!("{}: journal_mode is {mode}, not wal", path.display());
        }
        apply_schema(&first, path)?;
        let mut conns = Vec::with_capacity(pool_size);
        conns.push(Mutex::new(first));
        for _ in 1..pool_size {
            conns.push(Mutex::new(open_connection(path)?));
        }
        let checkpointer = Checkpointer::start(open_connection(path)?, path)
            .map_err(|e| StoreError::Internal(format!("starting the checkpoint thread: {e}")))?;
        log::info!(
            "sqlite store {} open ({pool_size} connections)",
            path.display()
        );
        Ok(SqliteStore {
            path: path.to_path_buf(),
            conns,
            next: AtomicUsize::new(0),
            _checkpointer: checkpointer,
        })
    }

    /// A free connection if there is one, else the next one in turn (waiting for it).
    fn conn(&self) -> MutexGuard<'_, Connection> {
        let n = self.conns.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            if let Some(guard) = self.conns[(start + i) % n].try_lock() {
                return guard;
            }
        }
        self.conns[start].lock()
    }
}

/// Opens one connection with the store's settings.
fn open_connection(path: &Path) -> StoreResult<Connection> {
    let conn =
        Connection::open(path).map_err(|e| map_err(&format!("opening {}", path.display()), e))?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| map_err("setting busy_timeout", e))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(|e| map_err("setting synchronous=FULL", e))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(|e| map_err("enabling foreign keys", e))?;
    // Negative: KiB. SQLite's default (2 MiB) does not hold the message indexes' hot
    // pages; every insert then re-reads pages from the OS with `pread` and spills dirty
    // ones early. Memory is taken as pages are used, up to this per connection.
    conn.pragma_update(None, "cache_size", -CACHE_KIB)
        .map_err(|e| map_err("setting cache_size", e))?;
    // The checkpointer thread keeps the log short; this is the backstop.
    conn.pragma_update(None, "wal_autocheckpoint", BACKSTOP_PAGES)
        .map_err(|e| map_err("setting wal_autocheckpoint", e))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// Creates the schema if any table is missing, then checks/inserts the version row.
fn apply_schema(conn: &Connection, path: &Path) -> StoreResult<()> {
    let mut present = 0usize;
    for table in TABLES {
        let found: Option<i64> = conn
            .query_row(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| map_err("reading sqlite_master", e))?;
        present += usize::from(found.is_some());
    }
    if present < TABLES.len() {
        log::info!(
            "{}: applying schema ({present} of {} tables present)",
            path.display(),
            TABLES.len()
        );
        conn.execute_batch(&format!("BEGIN IMMEDIATE;\n{SCHEMA}\nCOMMIT;"))
            .map_err(|e| {
                // Leave no half-open transaction behind on this connection.
                let _ = conn.execute_batch("ROLLBACK");
                map_err("applying the schema", e)
            })?;
    }
    conn.execute(
        "INSERT OR IGNORE INTO schema_version (id, version) VALUES (1, ?1)",
        [SCHEMA_VERSION],
    )
    .map_err(|e| map_err("writing schema_version", e))?;
    let version: i64 = conn
        .query_row("SELECT version FROM schema_version WHERE id = 1", [], |r| {
            r.get(0)
        })
        .map_err(|e| map_err("reading schema_version", e))?;
    if version != SCHEMA_VERSION {
        return Err(StoreError::Internal(format!(
            "{}: schema version {version}, this server needs {SCHEMA_VERSION}",
            path.display()
        )));
    }
    Ok(())
}

/// Maps a SQLite error: busy/locked/IO/disk full/cannot open → `Unavailable`, the rest →
/// `Internal`. `context` says what was being done.
fn map_err(context: &str, e: rusqlite::Error) -> StoreError {
    let transient = matches!(
        e.sqlite_error_code(),
        Some(
            ErrorCode::DatabaseBusy
                | ErrorCode::DatabaseLocked
                | ErrorCode::DiskFull
                | ErrorCode::SystemIoFailure
                | ErrorCode::CannotOpen
                | ErrorCode::OutOfMemory
                | ErrorCode::FileLockingProtocolFailed
        )
    );
    if transient {
        log::warn!("sqlite unavailable while {context}: {e}");
        StoreError::Unavailable(format!("{context}: {e}"))
    } else {
        log::error!("sqlite error while {context}: {e}");
        StoreError::Internal(format!("{context}: {e}"))
    }
}

/// Whether `e` is a UNIQUE (or primary key) constraint violation.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => {
            f.code == ErrorCode::ConstraintViolation
                && (f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
        }
        _ => false,
    }
}

/// `limit` as an SQL integer.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A user from columns `at..at+4` (user_id, username, nickname, avatar).
fn user_at(r: &Row<'_>, at: usize) -> rusqlite::Result<User> {
    Ok(User {
        user_id: r.get(at)?,
        username: r.get(at + 1)?,
        nickname: r.get(at + 2)?,
        avatar: r.get(at + 3)?,
    })
}

/// A message from columns `at..at+6` (msg_id, from_id, to_id, text, ts, client_msg_id).
fn message_at(r: &Row<'_>, at: usize) -> rusqlite::Result<Message> {
    Ok(Message {
        msg_id: r.get(at)?,
        from: r.get(at + 1)?,
        to: r.get(at + 2)?,
        text: r.get(at + 3)?,
        ts: r.get(at + 4)?,
        client_msg_id: r.get(at + 5)?,
    })
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    user_at(r, 0)
}

fn message_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    message_at(r, 0)
}

/// Runs `f` in a `BEGIN IMMEDIATE` transaction on `conn`, committing on success.
fn write_tx<T>(
    conn: &mut Connection,
    what: &str,
    f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
) -> StoreResult<T> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| map_err(what, e))?;
    let value = f(&tx).map_err(|e| map_err(what, e))?;
    tx.commit().map_err(|e| map_err(what, e))?;
    Ok(value)
}

/// Reads one user by id on `conn`.
fn query_user(conn: &Connection, user_id: UserId) -> rusqlite::Result<Option<User>> {
    conn.prepare_cached(SQL_USER)?
        .query_row([user_id], user_row)
        .optional()
}

impl Store for SqliteStore {
    fn describe(&self) -> String {
        format!("sqlite:{}", self.path.display())
    }

    fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        nickname: &str,
        email: Option<&str>,
    ) -> StoreResult<UserId> {
        let conn = self.conn();
        let key = username_key(username);
        let inserted = conn.prepare_cached(SQL_CREATE_USER).and_then(|mut st| {
            st.execute(params![
                username,
                key,
                password_hash,
                nickname,
                email,
                now_ms()
            ])
        });
        match inserted {
            Ok(_) => Ok(conn.last_insert_rowid()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict(format!(
                "username {username:?} is taken"
            ))),
            Err(e) => Err(map_err("creating a user", e)),
        }
    }

    fn credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let conn = self.conn();
        conn.prepare_cached(SQL_CREDENTIALS)
            .and_then(|mut st| {
                st.query_row([username_key(username)], |r| Ok((user_row(r)?, r.get(4)?)))
                    .optional()
            })
            .map_err(|e| map_err("reading credentials", e))
    }

    fn user(&self, user_id: UserId) -> StoreResult<Option<User>> {
        query_user(&self.conn(), user_id).map_err(|e| map_err("reading a user", e))
    }

    fn search_users(&self, prefix: &str, limit: usize) -> StoreResult<Vec<User>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        let low = username_key(prefix);
        let found = match prefix_upper_bound(&low) {
            Some(high) => conn.prepare_cached(SQL_SEARCH_RANGE).and_then(|mut st| {
                st.query_map(params![low, high, sql_limit(limit)], user_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            }),
            None => conn.prepare_cached(SQL_SEARCH_FROM).and_then(|mut st| {
                st.query_map(params![low, sql_limit(limit)], user_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            }),
        };
        found.map_err(|e| map_err("searching users", e))
    }

    fn update_profile(
        &self,
        user_id: UserId,
        nickname: Option<&str>,
        avatar: Option<&str>,
    ) -> StoreResult<Option<User>> {
        let mut conn = self.conn();
        write_tx(&mut conn, "updating a profile", |tx| {
            tx.prepare_cached(SQL_UPDATE_PROFILE)?
                .execute(params![nickname, avatar, user_id])?;
            query_user(tx, user_id)
        })
    }

    fn insert_token(&self, token_hash: &str, user_id: UserId, expires_ms: i64) -> StoreResult<()> {
        let conn = self.conn();
        conn.prepare_cached(SQL_INSERT_TOKEN)
            .and_then(|mut st| st.execute(params![token_hash, user_id, expires_ms]))
            .map(drop)
            .map_err(|e| map_err("storing a token", e))
    }

    fn token_user(&self, token_hash: &str, now_ms: i64) -> StoreResult<Option<User>> {
        let conn = self.conn();
        conn.prepare_cached(SQL_TOKEN_USER)
            .and_then(|mut st| {
                st.query_row(params![token_hash, now_ms], user_row)
                    .optional()
            })
            .map_err(|e| map_err("reading a token", e))
    }

    fn delete_token(&self, token_hash: &str) -> StoreResult<()> {
        let conn = self.conn();
        conn.prepare_cached(SQL_DELETE_TOKEN)
            .and_then(|mut st| st.execute([token_hash]))
            .map(drop)
            .map_err(|e| map_err("deleting a token", e))
    }

    fn send_friend_request(
        &self,
        from: UserId,
        to: UserId,
        message: &str,
        ts: i64,
    ) -> StoreResult<FriendRequestOutcome> {
        check_not_self(from, to)?;
        let mut conn = self.conn();
        write_tx(&mut conn, "sending a friend request", |tx| {
            let friends = tx
                .prepare_cached(SQL_ARE_FRIENDS)?
                .query_row([from, to], |_| Ok(()))
                .optional()?;
            if friends.is_some() {
                return Ok(FriendRequestOutcome::AlreadyFriends);
            }
            let pending: Option<i64> = tx
                .prepare_cached(SQL_PENDING_PAIR)?
                .query_row([from, to], |r| r.get(0))
                .optional()?;
            if let Some(request_id) = pending {
                tx.prepare_cached(SQL_UPDATE_REQUEST_NOTE)?
                    .execute(params![message, request_id])?;
                return Ok(FriendRequestOutcome::AlreadyPending(request_id));
            }
            tx.prepare_cached(SQL_INSERT_REQUEST)?
                .execute(params![from, to, message, ts])?;
            Ok(FriendRequestOutcome::Created(tx.last_insert_rowid()))
        })
    }

    fn pending_requests(&self, to: UserId) -> StoreResult<Vec<FriendRequest>> {
        let conn = self.conn();
        conn.prepare_cached(SQL_PENDING_TO)
            .and_then(|mut st| {
                st.query_map([to], |r| {
                    Ok(FriendRequest {
                        request_id: r.get(0)?,
                        message: r.get(1)?,
                        ts: r.get(2)?,
                        from: user_at(r, 3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| map_err("reading friend requests", e))
    }

    fn accept_request(&self, request_id: i64, me: UserId) -> StoreResult<Option<User>> {
        let mut conn = self.conn();
        write_tx(&mut conn, "accepting a friend request", |tx| {
            let from: Option<UserId> = tx
                .prepare_cached(SQL_PENDING_BY_ID)?
                .query_row([request_id, me], |r| r.get(0))
                .optional()?;
            let Some(from) = from else {
                return Ok(None);
            };
            tx.prepare_cached(SQL_SET_REQUEST_ACCEPTED)?
                .execute([request_id])?;
            // A request the other way is settled by this acceptance too.
            tx.prepare_cached(SQL_ACCEPT_PAIR)?.execute([me, from])?;
            let mut befriend = tx.prepare_cached(SQL_INSERT_FRIENDSHIP)?;
            befriend.execute([from, me])?;
            befriend.execute([me, from])?;
            query_user(tx, from)
        })
    }

    fn reject_request(&self, request_id: i64, me: UserId) -> StoreResult<bool> {
        let conn = self.conn();
        conn.prepare_cached(SQL_REJECT)
            .and_then(|mut st| st.execute([request_id, me]))
            .map(|n| n > 0)
            .map_err(|e| map_err("rejecting a friend request", e))
    }

    fn delete_friend(&self, me: UserId, other: UserId) -> StoreResult<bool> {
        let mut conn = self.conn();
        write_tx(&mut conn, "deleting a friend", |tx| {
            let mut delete = tx.prepare_cached(SQL_DELETE_FRIENDSHIP)?;
            let n = delete.execute([me, other])? + delete.execute([other, me])?;
            Ok(n > 0)
        })
    }

    fn are_friends(&self, a: UserId, b: UserId) -> StoreResult<bool> {
        let conn = self.conn();
        conn.prepare_cached(SQL_ARE_FRIENDS)
            .and_then(|mut st| st.query_row([a, b], |_| Ok(())).optional())
            .map(|found| found.is_some())
            .map_err(|e| map_err("checking a friendship", e))
    }

    fn friends(&self, me: UserId) -> StoreResult<Vec<User>> {
        let conn = self.conn();
        conn.prepare_cached(SQL_FRIENDS)
            .and_then(|mut st| {
                st.query_map([me], user_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| map_err("reading friends", e))
    }

    fn friend_ids(&self, me: UserId) -> StoreResult<Vec<UserId>> {
        let conn = self.conn();
        conn.prepare_cached(SQL_FRIEND_IDS)
            .and_then(|mut st| {
                st.query_map([me], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| map_err("reading friend ids", e))
    }

    fn insert_messages(&self, batch: &[NewMessage]) -> StoreResult<Vec<Stored>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn();
        write_tx(&mut conn, "storing messages", |tx| {
            let mut out: Vec<Stored> = Vec::with_capacity(batch.len());
            // (from, client_msg_id) → its first result in `out`, for repeats in this batch.
            let mut known: HashMap<(UserId, &str), usize> = HashMap::new();
            let mut latest = ConversationHeads::default();
            let mut find = tx.prepare_cached(SQL_BY_CLIENT_ID)?;
            let mut insert = tx.prepare_cached(SQL_INSERT_MESSAGE)?;
            for m in batch {
                let key = (m.from, m.client_msg_id.as_str());
                if let Some(&i) = known.get(&key) {
                    let message = out[i].message.clone();
                    out.push(Stored {
                        message,
                        new: false,
                    });
                    continue;
                }
                // Insert first: a key stored before (a client's retry) is rare, and the
                // unique index finds it anyway; only then is the original read.
                let inserted = insert.execute(params![m.from, m.to, m.text, m.ts, m.client_msg_id]);
                match inserted {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        let Some(original) = find
                            .query_row(params![m.from, m.client_msg_id], message_row)
                            .optional()?
                        else {
                            return Err(e);
                        };
                        known.insert(key, out.len());
                        out.push(Stored {
                            message: original,
                            new: false,
                        });
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                let message = Message {
                    msg_id: tx.last_insert_rowid(),
                    from: m.from,
                    to: m.to,
                    text: m.text.clone(),
                    ts: m.ts,
                    client_msg_id: m.client_msg_id.clone(),
                };
                latest.record(&message);
                known.insert(key, out.len());
                out.push(Stored { message, new: true });
            }
            let mut upsert = tx.prepare_cached(SQL_UPSERT_CONVERSATION)?;
            for ((user, peer), last) in latest.0 {
                upsert.execute([user, peer, last])?;
            }
            Ok(out)
        })
    }

    fn message_by_client_id(
        &self,
        from: UserId,
        client_msg_id: &str,
    ) -> StoreResult<Option<Message>> {
        let conn = self.conn();
        conn.prepare_cached(SQL_BY_CLIENT_ID)
            .and_then(|mut st| {
                st.query_row(params![from, client_msg_id], message_row)
                    .optional()
            })
            .map_err(|e| map_err("reading a message", e))
    }

    fn sync(&self, me: UserId, after: MsgId, limit: usize) -> StoreResult<Vec<Message>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        let rows = conn
            .prepare_cached(SQL_SYNC)
            .and_then(|mut st| {
                st.query_map(params![me, after, sql_limit(limit)], message_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| map_err("syncing messages", e))?;
        Ok(merge_branches(rows, limit))
    }

    fn history(
        &self,
        me: UserId,
        peer: UserId,
        before: Option<MsgId>,
        limit: usize,
    ) -> StoreResult<Vec<Message>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let conn = self.conn();
        let before = before.unwrap_or(MsgId::MAX);
        let rows = conn
            .prepare_cached(SQL_HISTORY)
            .and_then(|mut st| {
                st.query_map(params![me, peer, before, sql_limit(limit)], message_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| map_err("reading history", e))?;
        Ok(merge_branches(rows, limit))
    }

    fn conversations(&self, me: UserId) -> StoreResult<Vec<Conversation>> {
        let conn = self.conn();
        conn.prepare_cached(SQL_CONVERSATIONS)
            .and_then(|mut st| {
                st.query_map([me], |r| {
                    let unread: i64 = r.get(10)?;
                    Ok(Conversation {
                        peer: user_at(r, 0)?,
                        last: message_at(r, 4)?,
                        unread: u64::try_from(unread).unwrap_or(0),
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| map_err("reading conversations", e))
    }

    fn mark_read(&self, me: UserId, peer: UserId, up_to: MsgId) -> StoreResult<()> {
        let conn = self.conn();
        conn.prepare_cached(SQL_MARK_READ)
            .and_then(|mut st| st.execute([me, peer, up_to]))
            .map(drop)
            .map_err(|e| map_err("marking messages read", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Committed pages reach the database file without any commit checkpointing: the
    /// background checkpointer copies them (writers would only at 10,000 log pages).
    #[test]
    fn the_checkpointer_copies_the_log_into_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        let store = SqliteStore::open(&path, 2).unwrap();
        let a = store.create_user("cp_a", "h", "", None).unwrap();
        let b = store.create_user("cp_b", "h", "", None).unwrap();
        std::thread::sleep(crate::store::checkpointer::PERIOD * 3);
        let before = std::fs::metadata(&path).unwrap().len();
        let batch: Vec<NewMessage> = (0..2000)
            .map(|i| NewMessage {
                from: a,
                to: b,
                text: "x".repeat(1000),
                ts: i,
                client_msg_id: format!("c{i}"),
            })
            .collect();
        store.insert_messages(&batch).unwrap();
        let wal = dir.path().join("chat.db-wal");
        assert!(std::fs::metadata(&wal).unwrap().len() > 2_000_000);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::metadata(&path).unwrap().len() < before + 2_000_000 {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file did not grow: {} → {} bytes",
                before,
                std::fs::metadata(&path).unwrap().len()
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Every statement of the store is served by an index: no `SCAN <table>` in any plan.
    #[test]
    fn every_query_uses_an_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("plan.db"), 1).unwrap();
        let conn = store.conn();
        let statements = [
            SQL_CREATE_USER,
            SQL_CREDENTIALS,
            SQL_USER,
            SQL_SEARCH_RANGE,
            SQL_SEARCH_FROM,
            SQL_UPDATE_PROFILE,
            SQL_INSERT_TOKEN,
            SQL_TOKEN_USER,
            SQL_DELETE_TOKEN,
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
            SQL_INSERT_MESSAGE,
            SQL_UPSERT_CONVERSATION,
            SQL_SYNC,
            SQL_HISTORY,
            SQL_CONVERSATIONS,
            SQL_MARK_READ,
        ];
        let mut scans = Vec::new();
        for sql in statements {
            let mut st = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
            let mut rows = st.raw_query();
            while let Some(row) = rows.next().unwrap() {
                let line: String = row.get(3).unwrap();
                let scans_table = line.starts_with("SCAN ")
                    && !line.starts_with("SCAN (subquery")
                    && !line.contains("CONSTANT ROW");
                if scans_table {
                    scans.push(format!("{line} in {sql}"));
                }
            }
        }
        assert!(scans.is_empty(), "table scans:\n{}", scans.join("\n"));
    }

    #[test]
    fn schema_is_applied_once_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/dir/chat.db");
        let store = SqliteStore::open(&path, 2).unwrap();
        let id = store.create_user("alice", "h", "", None).unwrap();
        drop(store);
        let store = SqliteStore::open(&path, 2).unwrap();
        assert_eq!(store.user(id).unwrap().unwrap().username, "alice");
        assert!(store.describe().starts_with("sqlite:"));
        let conn = store.conn();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .unwrap();
        assert_eq!(sync, 2, "synchronous must be FULL");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
    }

    #[test]
    fn wrong_schema_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chat.db");
        drop(SqliteStore::open(&path, 1).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
        drop(conn);
        match SqliteStore::open(&path, 1) {
            Err(StoreError::Internal(msg)) => assert!(msg.contains("99"), "{msg}"),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("version 99 accepted"),
        }
    }
}
