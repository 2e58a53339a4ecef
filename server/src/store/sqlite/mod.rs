//! The SQLite implementation of [`Store`]: an embedded database file, zero set-up.
//!
//! * The file runs in WAL mode with `synchronous=FULL`: a commit returns only after the
//!   write-ahead log is on disk, so an acknowledged message survives `kill -9` and power
//!   loss. `busy_timeout` is 5 s (a busy database then maps to
//!   [`StoreError::Unavailable`]); foreign keys are enforced.
//! * A small pool of connections: readers run in parallel (WAL); writers are serialised by
//!   SQLite, and every multi-statement write is a `BEGIN IMMEDIATE` transaction so it takes
//!   the write lock up front instead of failing on a lock upgrade.
//! * The schema is `schema_sqlite.sql`, embedded and applied when tables are missing; a
//!   version-1 database is migrated in one transaction (see `schema` and `migrate`).
//! * A background thread checkpoints the write-ahead log (see [`super::checkpointer`]);
//!   each connection has a 32 MiB page cache.
//! * Timelines: `insert_messages` gives each new message the next position of its
//!   sender and recipient inside its write transaction (writers are serialised, so
//!   positions and ids follow commit order; the positions are columns of the message
//!   row, `from_pos` and `to_pos`); reads of messages carry the reading user's position
//!   from the row (sync reads the user's two ranges on `messages_to_pos` and
//!   `messages_from_pos`, merged by position).
//!
//! The helpers both stores use (username keys, prefix ranges, merging the two branches
//! of a history or a sync, handing out timeline positions) are in [`super::shared`], so the two
//! stores answer alike.
//!
//! Files: this one holds [`SqliteStore`], its connection settings and the [`Store`]
//! implementation, one method per call. Below it, each depending only on the ones after
//! it in this list:
//!
//! * `insert`: the batched message insert behind `insert_messages`.
//! * `schema`: setting up the schema at open (create, migrate or refuse).
//! * `migrate`: the migration of a version-1 database.
//! * `sql`: the SQL text of every statement.

mod insert;
mod migrate;
mod schema;
mod sql;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::checkpointer::{Checkpointer, BACKSTOP_PAGES};
use super::shared::{check_not_self, email_key, merge_branches, prefix_upper_bound, username_key};
use super::{FriendRequestOutcome, Registration, Store, StoreError, StoreResult, Stored};
use crate::model::{
    now_ms, Conversation, FriendRequest, Message, MsgId, NewMessage, Pos, User, UserId,
};
use sql::*;

/// Page cache per connection, in KiB.
const CACHE_KIB: i64 = 32 * 1024;

/// How long a statement waits for another connection's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

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
        schema::apply_schema(&first, path)?;
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

/// A message from columns `at..at+7` (msg_id, from_id, to_id, text, ts, client_msg_id,
/// pos).
fn message_at(r: &Row<'_>, at: usize) -> rusqlite::Result<Message> {
    Ok(Message {
        msg_id: r.get(at)?,
        from: r.get(at + 1)?,
        to: r.get(at + 2)?,
        text: r.get(at + 3)?,
        ts: r.get(at + 4)?,
        client_msg_id: r.get(at + 5)?,
        pos: r.get(at + 6)?,
    })
}

/// A user from a row of [`user_at`]'s columns.
fn user_row(r: &Row<'_>) -> rusqlite::Result<User> {
    user_at(r, 0)
}

/// A message from a row of [`message_at`]'s columns.
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
/// Inserts a user and their (empty) timeline head in `tx`; `None` if the username is
/// taken (nothing inserted).
fn insert_user(
    tx: &rusqlite::Transaction<'_>,
    username: &str,
    password_hash: &str,
    nickname: &str,
    email: Option<&str>,
) -> rusqlite::Result<Option<UserId>> {
    let inserted = tx.prepare_cached(SQL_CREATE_USER)?.execute(params![
        username,
        username_key(username),
        password_hash,
        nickname,
        email,
        now_ms()
    ]);
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e),
    }
    let user_id = tx.last_insert_rowid();
    tx.prepare_cached(SQL_CREATE_HEAD)?
        .execute(params![user_id, 0])?;
    Ok(Some(user_id))
}

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
        let mut conn = self.conn();
        let created = write_tx(&mut conn, "creating a user", |tx| {
            insert_user(tx, username, password_hash, nickname, email)
        })?;
        created.ok_or_else(|| StoreError::Conflict(format!("username {username:?} is taken")))
    }

    fn create_verified_user(
        &self,
        username: &str,
        password_hash: &str,
        nickname: &str,
        email: &str,
    ) -> StoreResult<Registration> {
        let mut conn = self.conn();
        let key = email_key(email);
        write_tx(&mut conn, "creating a verified user", |tx| {
            // Writers are serialised (BEGIN IMMEDIATE): the address stays free until
            // this transaction commits.
            let taken = tx
                .prepare_cached(SQL_EMAIL_TAKEN)?
                .query_row([&key], |_| Ok(()))
                .optional()?;
            if taken.is_some() {
                return Ok(Registration::EmailTaken);
            }
            let Some(user_id) = insert_user(tx, username, password_hash, nickname, Some(email))?
            else {
                return Ok(Registration::UsernameTaken);
            };
            tx.prepare_cached(SQL_INSERT_EMAIL)?
                .execute(params![key, user_id])?;
            Ok(Registration::Created(user_id))
        })
    }

    fn verified_credentials(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let conn = self.conn();
        conn.prepare_cached(SQL_VERIFIED_CREDENTIALS)
            .and_then(|mut st| {
                st.query_row([email_key(email)], |r| Ok((user_row(r)?, r.get(4)?)))
                    .optional()
            })
            .map_err(|e| map_err("reading credentials by e-mail", e))
    }

    fn reset_password(&self, user_id: UserId, password_hash: &str) -> StoreResult<Option<usize>> {
        let mut conn = self.conn();
        write_tx(&mut conn, "resetting a password", |tx| {
            let set = tx
                .prepare_cached(SQL_SET_PASSWORD)?
                .execute(params![password_hash, user_id])?;
            if set == 0 {
                return Ok(None);
            }
            let revoked = tx
                .prepare_cached(SQL_DELETE_USER_TOKENS)?
                .execute([user_id])?;
            Ok(Some(revoked))
        })
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

    fn purge_expired_tokens(&self, now_ms: i64, limit: usize) -> StoreResult<usize> {
        if limit == 0 {
            return Ok(0);
        }
        let conn = self.conn();
        conn.prepare_cached(SQL_PURGE_TOKENS)
            .and_then(|mut st| st.execute(params![now_ms, sql_limit(limit)]))
            .map_err(|e| map_err("purging expired tokens", e))
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
            insert::insert_batch(tx, batch)
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

    fn last_pos(&self, user: UserId) -> StoreResult<Pos> {
        let conn = self.conn();
        conn.prepare_cached(SQL_LAST_POS)
            .and_then(|mut st| st.query_row([user], |r| r.get(0)).optional())
            .map(|head| head.unwrap_or(0))
            .map_err(|e| map_err("reading a timeline's end", e))
    }

    fn sync(&self, me: UserId, after: Pos, limit: usize) -> StoreResult<Vec<Message>> {
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
                    let unread: i64 = r.get(11)?;
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
}
