//! The MySQL/MariaDB implementation of [`Store`], over a `mysql::Pool`.
//!
//! * The database named in the URL must exist (the operator creates it, e.g.
//!   `CREATE DATABASE chat CHARACTER SET utf8mb4`); [`MysqlStore::open`] creates the tables
//!   from `sql/schema.sql` when they are missing and checks the schema version.
//! * Connections have a 5 s connect timeout and 5 s read/write timeouts, and a 3 s InnoDB
//!   lock-wait timeout, so a dead or stuck server turns into
//!   [`StoreError::Unavailable`] quickly instead of a hung worker. Waiting for a pooled
//!   connection is bounded the same way. A connection that failed at the network level is
//!   replaced, never handed out again with a half-read reply in its buffers.
//! * Transactions that die in a deadlock are retried (InnoDB rolled them back whole).
//! * `insert_messages` is one transaction of two multi-row statements in the common case,
//!   whatever the batch size: insert the batch in order (ids are consecutive on MariaDB's
//!   default settings, else read back by key), upsert both participants' conversation
//!   rows. A batch holding a client's retry takes a longer path for the chunk it is in.
//!   Key lookups use `(a, b) IN ((?, ?), ...)`, not an `OR` of `AND`s, whose per-row cost
//!   grows with the batch (it cost MariaDB 31 µs of CPU per message at 256 per batch).
//! * Every statement is parameterised and served by an index (see the `explain` test).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use mysql::prelude::{FromRow, Queryable};
use mysql::{
    Conn, DriverError, Opts, OptsBuilder, Params, Pool, PoolConstraints, PoolOpts, PooledConn,
    Transaction, TxOpts, Value,
};

use super::shared::{
    check_not_self, merge_branches, prefix_upper_bound, username_key, ConversationHeads,
    SCHEMA_VERSION, TABLES,
};
use super::{FriendRequestOutcome, Store, StoreError, StoreResult, Stored};
use crate::model::now_ms;
use crate::model::{Conversation, FriendRequest, Message, MsgId, NewMessage, User, UserId};

/// The MySQL schema, applied when tables are missing.
const SCHEMA: &str = include_str!("../../../sql/schema.sql");

/// TCP connect timeout for new connections.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Read and write timeout of every socket operation.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call waits for a free pooled connection.
const POOL_WAIT: Duration = Duration::from_secs(5);
/// How many times a transaction is tried when it keeps dying in deadlocks. Concurrent
/// friend requests meet in InnoDB's gap locks; the victim retries after a short random
/// pause (see [`MysqlStore::run`]), as InnoDB's own error message advises.
const ATTEMPTS: u32 = 8;
/// Rows per multi-row statement (keeps statements well under the placeholder limit).
/// A power of two: see [`pow2_pieces`].
const CHUNK: usize = 512;
/// Prepared statements each connection keeps: every constant statement and every shape
/// of the multi-row ones, with room to spare.
const STMT_CACHE: usize = 128;
/// Text per multi-row insert, roughly: well under any server's `max_allowed_packet`
/// (4 MiB on old MySQL defaults), whatever the batch size.
const CHUNK_BYTES: usize = 1 << 20;

/// Run on every new connection (and after a reset).
const INIT: [&str; 3] = [
    "SET NAMES utf8mb4",
    // Refuse, rather than silently truncate, values that do not fit.
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
    // Fail a lock wait before the client's read timeout does.
    "SET SESSION innodb_lock_wait_timeout = 3",
];

/// MySQL/MariaDB error codes that mean "try again later".
const UNAVAILABLE_CODES: [u16; 26] = [
    1021, // ER_DISK_FULL
    1040, // ER_CON_COUNT_ERROR (too many connections)
    1053, // ER_SERVER_SHUTDOWN
    1114, // ER_RECORD_FILE_FULL (table is full)
    1152, // ER_ABORTING_CONNECTION
    1158, // ER_NET_READ_ERROR
    1159, // ER_NET_READ_INTERRUPTED
    1160, // ER_NET_ERROR_ON_WRITE
    1161, // ER_NET_WRITE_INTERRUPTED
    1180, // ER_ERROR_DURING_COMMIT
    1203, // ER_TOO_MANY_USER_CONNECTIONS
    1205, // ER_LOCK_WAIT_TIMEOUT
    1213, // ER_LOCK_DEADLOCK
    1226, // ER_USER_LIMIT_REACHED
    1290, // ER_OPTION_PREVENTS_STATEMENT (--read-only)
    1317, // ER_QUERY_INTERRUPTED
    1792, // ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION
    1836, // ER_READ_ONLY_MODE
    1927, // ER_CONNECTION_KILLED (MariaDB)
    1969, // ER_STATEMENT_TIMEOUT (MariaDB)
    2002, // CR_CONNECTION_ERROR
    2003, // CR_CONN_HOST_ERROR
    2006, // CR_SERVER_GONE_ERROR
    2013, // CR_SERVER_LOST
    3024, // ER_QUERY_TIMEOUT (MySQL)
    4031, // ER_CLIENT_INTERACTION_TIMEOUT (MySQL)
];
/// ER_LOCK_DEADLOCK: the transaction was rolled back and may simply be run again.
const ER_LOCK_DEADLOCK: u16 = 1213;
/// ER_DUP_ENTRY.
const ER_DUP_ENTRY: u16 = 1062;
/// ER_BAD_DB_ERROR: the database in the URL does not exist.
const ER_BAD_DB_ERROR: u16 = 1049;

// ---- SQL -------------------------------------------------------------------------------

const SQL_CREATE_USER: &str = "INSERT INTO users \
     (username, username_key, password_hash, nickname, avatar, email, created_ms) \
     VALUES (?, ?, ?, ?, '', ?, ?)";
const SQL_CREDENTIALS: &str = "SELECT user_id, username, nickname, avatar, password_hash \
     FROM users WHERE username_key = ?";
const SQL_USER: &str = "SELECT user_id, username, nickname, avatar FROM users WHERE user_id = ?";
/// Forced: for a short prefix the optimizer would rather scan a small table.
const SQL_SEARCH_RANGE: &str = "SELECT user_id, username, nickname, avatar \
     FROM users FORCE INDEX (users_username_key) \
     WHERE username_key >= ? AND username_key < ? ORDER BY username_key LIMIT ?";
const SQL_SEARCH_FROM: &str = "SELECT user_id, username, nickname, avatar \
     FROM users FORCE INDEX (users_username_key) \
     WHERE username_key >= ? ORDER BY username_key LIMIT ?";
const SQL_UPDATE_PROFILE: &str = "UPDATE users SET nickname = COALESCE(?, nickname), \
     avatar = COALESCE(?, avatar) WHERE user_id = ?";
const SQL_INSERT_TOKEN: &str =
    "INSERT INTO tokens (token_hash, user_id, expires_ms) VALUES (?, ?, ?)";
const SQL_TOKEN_USER: &str = "SELECT u.user_id, u.username, u.nickname, u.avatar \
     FROM tokens t JOIN users u ON u.user_id = t.user_id \
     WHERE t.token_hash = ? AND t.expires_ms > ?";
const SQL_DELETE_TOKEN: &str = "DELETE FROM tokens WHERE token_hash = ?";
const SQL_ARE_FRIENDS: &str = "SELECT 1 FROM friendships WHERE user_id = ? AND friend_id = ?";
const SQL_PENDING_PAIR_LOCK: &str = "SELECT request_id FROM friend_requests \
     WHERE from_id = ? AND to_id = ? AND status = 'pending' ORDER BY request_id LIMIT 1 \
     FOR UPDATE";
const SQL_UPDATE_REQUEST_NOTE: &str = "UPDATE friend_requests SET message = ? WHERE request_id = ?";
const SQL_INSERT_REQUEST: &str =
    "INSERT INTO friend_requests (from_id, to_id, message, ts, status) \
     VALUES (?, ?, ?, ?, 'pending')";
const SQL_PENDING_TO: &str = "SELECT r.request_id, r.message, r.ts, \
     u.user_id, u.username, u.nickname, u.avatar \
     FROM friend_requests r JOIN users u ON u.user_id = r.from_id \
     WHERE r.to_id = ? AND r.status = 'pending' ORDER BY r.request_id";
const SQL_PENDING_BY_ID_LOCK: &str = "SELECT from_id FROM friend_requests \
     WHERE request_id = ? AND to_id = ? AND status = 'pending' FOR UPDATE";
const SQL_SET_REQUEST_ACCEPTED: &str =
    "UPDATE friend_requests SET status = 'accepted' WHERE request_id = ?";
const SQL_ACCEPT_PAIR: &str = "UPDATE friend_requests SET status = 'accepted' \
     WHERE from_id = ? AND to_id = ? AND status = 'pending'";
const SQL_INSERT_FRIENDSHIPS: &str = "INSERT INTO friendships (user_id, friend_id) \
     VALUES (?, ?), (?, ?) ON DUPLICATE KEY UPDATE friend_id = VALUES(friend_id)";
const SQL_REJECT: &str = "UPDATE friend_requests SET status = 'rejected' \
     WHERE request_id = ? AND to_id = ? AND status = 'pending'";
const SQL_DELETE_FRIENDSHIPS: &str = "DELETE FROM friendships \
     WHERE (user_id = ? AND friend_id = ?) OR (user_id = ? AND friend_id = ?)";
const SQL_FRIENDS: &str = "SELECT u.user_id, u.username, u.nickname, u.avatar \
     FROM friendships f JOIN users u ON u.user_id = f.friend_id \
     WHERE f.user_id = ? ORDER BY u.username_key, u.user_id";
const SQL_FRIEND_IDS: &str =
    "SELECT friend_id FROM friendships WHERE user_id = ? ORDER BY friend_id";
const SQL_BY_CLIENT_ID: &str = "SELECT msg_id, from_id, to_id, text, ts, client_msg_id \
     FROM messages WHERE from_id = ? AND client_msg_id = ?";
/// Each branch is ordered and limited on its own index, then the two are merged.
const SQL_SYNC: &str = "(SELECT msg_id, from_id, to_id, text, ts, client_msg_id \
      FROM messages FORCE INDEX (messages_to) \
      WHERE to_id = ? AND msg_id > ? ORDER BY msg_id LIMIT ?) \
     UNION ALL \
     (SELECT msg_id, from_id, to_id, text, ts, client_msg_id \
      FROM messages FORCE INDEX (messages_from) \
      WHERE from_id = ? AND msg_id > ? ORDER BY msg_id LIMIT ?) \
     ORDER BY msg_id";
/// Both directions of a pair, each on `messages_pair`, newest first.
const SQL_HISTORY: &str = "(SELECT msg_id, from_id, to_id, text, ts, client_msg_id \
      FROM messages FORCE INDEX (messages_pair) \
      WHERE from_id = ? AND to_id = ? AND msg_id < ? ORDER BY msg_id DESC LIMIT ?) \
     UNION ALL \
     (SELECT msg_id, from_id, to_id, text, ts, client_msg_id \
      FROM messages FORCE INDEX (messages_pair) \
      WHERE from_id = ? AND to_id = ? AND msg_id < ? ORDER BY msg_id DESC LIMIT ?) \
     ORDER BY msg_id DESC";
const SQL_CONVERSATIONS: &str = "SELECT u.user_id, u.username, u.nickname, u.avatar, \
     m.msg_id, m.from_id, m.to_id, m.text, m.ts, m.client_msg_id, \
     (SELECT COUNT(*) FROM messages x FORCE INDEX (messages_pair) \
      WHERE x.from_id = c.peer_id AND x.to_id = c.user_id \
      AND x.msg_id > COALESCE(r.up_to, 0)) AS unread \
     FROM conversations c \
     JOIN users u ON u.user_id = c.peer_id \
     JOIN messages m ON m.msg_id = c.last_msg_id \
     LEFT JOIN read_cursors r ON r.user_id = c.user_id AND r.peer_id = c.peer_id \
     WHERE c.user_id = ? ORDER BY c.last_msg_id DESC";
const SQL_MARK_READ: &str = "INSERT INTO read_cursors (user_id, peer_id, up_to) VALUES (?, ?, ?) \
     ON DUPLICATE KEY UPDATE up_to = GREATEST(up_to, VALUES(up_to))";

/// `(from_id = ? AND client_msg_id = ?) OR …` for `n` pairs: a range read of the
/// `messages_client` unique index.
/// `(from_id, client_msg_id) IN ((?, ?), ...)` with `n` pairs. A row constructor list, not
/// an `OR` of `AND`s: MariaDB and MySQL turn it into index range lookups and test each row
/// against the sorted list, where an `OR` of `n` terms costs `n` comparisons per row.
fn key_list(n: usize) -> String {
    let mut sql = String::with_capacity(40 + n * 8);
    sql.push_str("(from_id, client_msg_id) IN (");
    for i in 0..n {
        sql.push_str(if i == 0 { "(?, ?)" } else { ", (?, ?)" });
    }
    sql.push(')');
    sql
}

/// The messages with any of `n` (from_id, client_msg_id) keys.
fn sql_messages_by_keys(n: usize) -> String {
    format!(
        "SELECT msg_id, from_id, to_id, text, ts, client_msg_id FROM messages WHERE {}",
        key_list(n)
    )
}

/// The ids of the messages with any of `n` (from_id, client_msg_id) keys.
fn sql_ids_by_keys(n: usize) -> String {
    format!(
        "SELECT msg_id, from_id, client_msg_id FROM messages WHERE {}",
        key_list(n)
    )
}

/// A multi-row insert of `n` messages.
fn sql_insert_messages(n: usize) -> String {
    let mut sql =
        String::from("INSERT INTO messages (from_id, to_id, text, ts, client_msg_id) VALUES ");
    for i in 0..n {
        sql.push_str(if i == 0 {
            "(?, ?, ?, ?, ?)"
        } else {
            ", (?, ?, ?, ?, ?)"
        });
    }
    sql
}

/// A multi-row upsert of `n` conversation heads (the newest id wins).
fn sql_upsert_conversations(n: usize) -> String {
    let mut sql = String::from("INSERT INTO conversations (user_id, peer_id, last_msg_id) VALUES ");
    for i in 0..n {
        sql.push_str(if i == 0 { "(?, ?, ?)" } else { ", (?, ?, ?)" });
    }
    sql.push_str(
        " ON DUPLICATE KEY UPDATE last_msg_id = GREATEST(last_msg_id, VALUES(last_msg_id))",
    );
    sql
}

/// The statements of `sql/schema.sql`: whole-line `--` comments dropped, split at lines
/// ending in `;`.
fn schema_statements(schema: &str) -> Vec<String> {
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

/// Why a closure run on a connection failed: a database error (mapped and maybe retried
/// by [`MysqlStore::run`]) or an already-decided store error.
enum Fail {
    Db(mysql::Error),
    Store(StoreError),
}

impl From<mysql::Error> for Fail {
    fn from(e: mysql::Error) -> Self {
        Fail::Db(e)
    }
}

/// The server error code of `e`, if it is a server error.
fn server_code(e: &mysql::Error) -> Option<u16> {
    match e {
        mysql::Error::MySqlError(me) => Some(me.code),
        _ => None,
    }
}

/// Maps a driver error: connectivity, timeouts, deadlocks, lock waits, a full disk or a
/// read-only server → `Unavailable`; the rest → `Internal`.
fn map_err(what: &str, e: mysql::Error) -> StoreError {
    let unavailable = match &e {
        mysql::Error::MySqlError(me) => {
            UNAVAILABLE_CODES.contains(&me.code)
                || me.message.contains("No space left on device")
                || me.message.contains("errno: 28")
        }
        mysql::Error::DriverError(d) => matches!(
            d,
            DriverError::ConnectTimeout
                | DriverError::CouldNotConnect(_)
                | DriverError::Timeout
                | DriverError::PacketOutOfSync
                | DriverError::SetupError
                | DriverError::PoisonedPoolMutex
        ),
        other => other.is_connectivity_error(),
    };
    if unavailable {
        log::warn!("mysql unavailable while {what}: {e}");
        StoreError::Unavailable(format!("{what}: {e}"))
    } else {
        log::error!("mysql error while {what}: {e}");
        StoreError::Internal(format!("{what}: {e}"))
    }
}

/// A row that does not have the expected shape (never printed: it may hold user data).
fn row_err(_: mysql::FromRowError) -> Fail {
    Fail::Store(StoreError::Internal(
        "a row did not have the expected column types".to_string(),
    ))
}

/// The first row of a query, decoded without panicking.
fn first<T: FromRow, Q: Queryable>(
    q: &mut Q,
    sql: &str,
    params: impl Into<Params>,
) -> Result<Option<T>, Fail> {
    match q.exec_first_opt::<T, _, _>(sql, params)? {
        None => Ok(None),
        Some(Ok(row)) => Ok(Some(row)),
        Some(Err(e)) => Err(row_err(e)),
    }
}

/// All rows of a query, decoded without panicking.
fn all<T: FromRow, Q: Queryable>(
    q: &mut Q,
    sql: &str,
    params: impl Into<Params>,
) -> Result<Vec<T>, Fail> {
    q.exec_opt::<T, _, _>(sql, params)?
        .into_iter()
        .map(|row| row.map_err(row_err))
        .collect()
}

type UserRow = (i64, String, String, String);
type MessageRow = (i64, i64, i64, String, i64, String);

fn user_of((user_id, username, nickname, avatar): UserRow) -> User {
    User {
        user_id,
        username,
        nickname,
        avatar,
    }
}

fn message_of((msg_id, from, to, text, ts, client_msg_id): MessageRow) -> Message {
    Message {
        msg_id,
        from,
        to,
        text,
        ts,
        client_msg_id,
    }
}

/// `limit` as an SQL integer.
fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// Reads one user by id.
fn query_user<Q: Queryable>(q: &mut Q, user_id: UserId) -> Result<Option<User>, Fail> {
    Ok(first::<UserRow, _>(q, SQL_USER, (user_id,))?.map(user_of))
}

/// The MySQL/MariaDB store (see the module docs).
pub struct MysqlStore {
    pool: Pool,
    /// The options every connection is made with (to replace a broken one).
    opts: Opts,
    /// `mysql://host:port/db`, without credentials.
    described: String,
    /// A multi-row `INSERT` gets consecutive ids (`innodb_autoinc_lock_mode` 0 or 1 and
    /// `auto_increment_increment` 1), so inserted ids need not be read back. Read at open;
    /// MySQL 8's default mode 2 (and Galera) interleave ids, and ids are then read back.
    consecutive_ids: bool,
}

impl MysqlStore {
    /// Connects to `url` (`mysql://user:pass@host:port/database`; the database must exist)
    /// with a pool of 1 to `pool_max` connections, creates the tables when they are missing
    /// and checks the schema version.
    pub fn open(url: &str, pool_max: usize) -> StoreResult<MysqlStore> {
        let parsed = Opts::from_url(url)
            .map_err(|e| StoreError::Internal(format!("invalid MySQL URL: {e}")))?;
        let db = match parsed.get_db_name() {
            Some(db) if !db.is_empty() => db.to_string(),
            _ => {
                return Err(StoreError::Internal(
                    "the MySQL URL must name a database (mysql://user@host:3306/chat)".into(),
                ))
            }
        };
        let described = format!(
            "mysql://{}:{}/{db}",
            parsed.get_ip_or_hostname(),
            parsed.get_tcp_port()
        );
        let constraints = PoolConstraints::new(1, pool_max.max(1))
            .ok_or_else(|| StoreError::Internal(format!("invalid MySQL pool size {pool_max}")))?;
        let opts: Opts = OptsBuilder::from_opts(parsed)
            .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
            .read_timeout(Some(IO_TIMEOUT))
            .write_timeout(Some(IO_TIMEOUT))
            .init(INIT.to_vec())
            .stmt_cache_size(STMT_CACHE)
            .pool_opts(
                PoolOpts::default()
                    .with_constraints(constraints)
                    // Sessions keep no state between calls: keep prepared statements.
                    .with_reset_connection(false),
            )
            .into();
        let pool = Pool::new(opts.clone()).map_err(|e| {
            if server_code(&e) == Some(ER_BAD_DB_ERROR) {
                StoreError::Internal(format!(
                    "{described}: database `{db}` does not exist; create it first \
                     (CREATE DATABASE `{db}` CHARACTER SET utf8mb4)"
                ))
            } else {
                map_err(&format!("connecting to {described}"), e)
            }
        })?;
        let mut store = MysqlStore {
            pool,
            opts,
            described,
            consecutive_ids: false,
        };
        store.apply_schema()?;
        store.consecutive_ids = store.ids_are_consecutive()?;
        log::info!(
            "mysql store {} open (pool 1..{})",
            store.described,
            pool_max.max(1)
        );
        Ok(store)
    }

    /// Whether this server hands a multi-row `INSERT` consecutive auto-increment ids.
    fn ids_are_consecutive(&self) -> StoreResult<bool> {
        self.run("reading the auto-increment settings", false, |conn| {
            let settings: Option<(i64, i64)> = first(
                conn,
                "SELECT @@innodb_autoinc_lock_mode, @@auto_increment_increment",
                (),
            )?;
            let consecutive = matches!(settings, Some((0 | 1, 1)));
            log::debug!(
                "{}: auto-increment {settings:?}, consecutive ids: {consecutive}",
                self.described
            );
            Ok(consecutive)
        })
    }

    /// Creates the tables if any is missing, then checks/inserts the version row.
    fn apply_schema(&self) -> StoreResult<()> {
        self.run("applying the schema", false, |conn| {
            let placeholders = vec!["?"; TABLES.len()].join(", ");
            let count_sql = format!(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_schema = DATABASE() AND table_name IN ({placeholders})"
            );
            let names: Vec<Value> = TABLES.iter().map(|t| Value::from(*t)).collect();
            let present: i64 = first(conn, &count_sql, names)?.unwrap_or(0);
            if usize::try_from(present).unwrap_or(0) < TABLES.len() {
                log::info!(
                    "{}: applying sql/schema.sql ({present} of {} tables present)",
                    self.described,
                    TABLES.len()
                );
                for statement in schema_statements(SCHEMA) {
                    conn.query_drop(statement)?;
                }
            }
            conn.exec_drop(
                "INSERT INTO schema_version (id, version) VALUES (1, ?) \
                 ON DUPLICATE KEY UPDATE id = id",
                (SCHEMA_VERSION,),
            )?;
            let version: Option<i64> =
                first(conn, "SELECT version FROM schema_version WHERE id = 1", ())?;
            match version {
                Some(SCHEMA_VERSION) => Ok(()),
                other => Err(Fail::Store(StoreError::Internal(format!(
                    "{}: schema version {other:?}, this server needs {SCHEMA_VERSION}",
                    self.described
                )))),
            }
        })
    }

    /// Runs `f` on a pooled connection. A deadlock (and, with `retry_duplicates`, a
    /// duplicate key raced in by a concurrent transaction) runs `f` again, up to
    /// [`ATTEMPTS`] times; `f` must therefore be one transaction or one statement.
    fn run<T>(
        &self,
        what: &str,
        retry_duplicates: bool,
        mut f: impl FnMut(&mut Conn) -> Result<T, Fail>,
    ) -> StoreResult<T> {
        let mut attempt = 1;
        loop {
            let mut pooled = self
                .pool
                .try_get_conn(POOL_WAIT)
                .map_err(|e| map_err(what, e))?;
            let e = match f(pooled.as_mut()) {
                Ok(value) => return Ok(value),
                Err(Fail::Store(e)) => return Err(e),
                Err(Fail::Db(e)) => e,
            };
            if e.is_connectivity_error() {
                self.discard(&mut pooled);
            }
            let code = server_code(&e);
            let retry =
                code == Some(ER_LOCK_DEADLOCK) || (retry_duplicates && code == Some(ER_DUP_ENTRY));
            if retry && attempt < ATTEMPTS {
                log::debug!("mysql: retrying {what} after {e}");
                // Jitter so that the transactions that collided do not collide again.
                let pause_ms = rand::random_range(1..=2u64 << attempt.min(5));
                std::thread::sleep(Duration::from_millis(pause_ms));
                attempt += 1;
                continue;
            }
            return Err(map_err(what, e));
        }
    }

    /// Keeps a connection that failed at the network level out of the pool: it may hold a
    /// half-read reply. Replaced by a fresh connection when one can be made; otherwise it
    /// is reset on return, which fails on a dead link and drops it.
    fn discard(&self, pooled: &mut PooledConn) {
        match Conn::new(self.opts.clone()) {
            Ok(fresh) => *pooled.as_mut() = fresh,
            Err(e) => {
                log::debug!("mysql: cannot replace a broken connection: {e}");
                pooled.reset_connection(true);
            }
        }
    }
}

/// Splits messages into runs of at most [`CHUNK`] messages and about [`CHUNK_BYTES`]
/// bytes (a run holds at least one message, however long), each run's length a power of
/// two.
fn insert_chunks<'a>(messages: &'a [&'a NewMessage]) -> Vec<&'a [&'a NewMessage]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, m) in messages.iter().enumerate() {
        let size = m.text.len() + m.client_msg_id.len() + 64;
        if i > start && (i - start == CHUNK || bytes + size > CHUNK_BYTES) {
            chunks.push(&messages[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < messages.len() {
        chunks.push(&messages[start..]);
    }
    chunks.into_iter().flat_map(pow2_pieces).collect()
}

/// Splits `items` into pieces whose lengths are powers of two, largest first (100 → 64,
/// 32, 4). Multi-row statements then come in at most `log2(CHUNK) + 1` shapes, each
/// prepared once per connection and then reused from the driver's statement cache;
/// with a shape per batch size, nearly every batch paid for preparing a statement of
/// hundreds of placeholders (and closing an evicted one).
fn pow2_pieces<T>(mut items: &[T]) -> Vec<&[T]> {
    let mut pieces = Vec::new();
    while !items.is_empty() {
        let (piece, rest) = items.split_at(1 << items.len().ilog2());
        pieces.push(piece);
        items = rest;
    }
    pieces
}

/// The `(from_id, client_msg_id)` key of a message.
type Key<'a> = (UserId, &'a str);

/// The `(from_id, client_msg_id)` pairs of `chunk`, flattened as statement parameters.
fn key_values(chunk: &[&NewMessage]) -> Vec<Value> {
    chunk
        .iter()
        .flat_map(|m| [Value::from(m.from), Value::from(m.client_msg_id.as_str())])
        .collect()
}

/// Inserts `chunk` in order with one statement; `Ok(first msg_id)`.
fn insert_rows(tx: &mut Transaction<'_>, chunk: &[&NewMessage]) -> Result<u64, mysql::Error> {
    let values: Vec<Value> = chunk
        .iter()
        .flat_map(|m| {
            [
                Value::from(m.from),
                Value::from(m.to),
                Value::from(m.text.as_str()),
                Value::from(m.ts),
                Value::from(m.client_msg_id.as_str()),
            ]
        })
        .collect();
    tx.exec_drop(sql_insert_messages(chunk.len()), values)?;
    Ok(tx.last_insert_id().unwrap_or(0))
}

/// The ids `chunk`'s rows got from [`insert_rows`], in chunk order. With consecutive
/// auto-increment ids (see [`MysqlStore::consecutive_ids`]) they are `first`, `first + 1`,
/// ...; otherwise they are read back by key.
fn inserted_ids(
    tx: &mut Transaction<'_>,
    chunk: &[&NewMessage],
    first: u64,
    consecutive: bool,
) -> Result<Vec<MsgId>, Fail> {
    let first = i64::try_from(first).unwrap_or(0);
    if consecutive && first > 0 {
        return Ok((0..chunk.len() as i64).map(|i| first + i).collect());
    }
    let sql = sql_ids_by_keys(chunk.len());
    let rows = all::<(i64, i64, String), _>(tx, &sql, key_values(chunk))?;
    let ids: HashMap<Key<'_>, MsgId> = rows
        .iter()
        .map(|(msg_id, from, client_msg_id)| ((*from, client_msg_id.as_str()), *msg_id))
        .collect();
    chunk
        .iter()
        .map(|m| {
            ids.get(&(m.from, m.client_msg_id.as_str()))
                .copied()
                .ok_or_else(|| {
                    Fail::Store(StoreError::Internal(
                        "an inserted message could not be read back".into(),
                    ))
                })
        })
        .collect()
}

/// Notes that this batch stored `m` as `msg_id`.
fn record<'a>(
    m: &'a NewMessage,
    msg_id: MsgId,
    stored: &mut HashMap<Key<'a>, (Message, bool)>,
    heads: &mut ConversationHeads,
) {
    let message = Message {
        msg_id,
        from: m.from,
        to: m.to,
        text: m.text.clone(),
        ts: m.ts,
        client_msg_id: m.client_msg_id.clone(),
    };
    heads.record(&message);
    stored.insert((m.from, m.client_msg_id.as_str()), (message, true));
}

/// Stores a batch in the open transaction `tx` (see [`Store::insert_messages`]).
///
/// The common case is one multi-row `INSERT` per chunk and, when ids are consecutive,
/// nothing else but the conversation upsert. A chunk holding a key stored before (a
/// client's retry) fails that `INSERT` with a duplicate-key error, which rolls back that
/// statement only; the chunk then takes the careful path: look its keys up, insert the
/// new ones, read their ids back.
fn insert_batch(
    tx: &mut Transaction<'_>,
    batch: &[NewMessage],
    consecutive: bool,
) -> Result<Vec<Stored>, Fail> {
    // The distinct keys of the batch, first occurrence first.
    let mut seen: HashSet<Key<'_>> = HashSet::with_capacity(batch.len());
    let distinct: Vec<&NewMessage> = batch
        .iter()
        .filter(|m| seen.insert((m.from, m.client_msg_id.as_str())))
        .collect();

    // Each key's message, and whether this batch stored it.
    let mut stored: HashMap<Key<'_>, (Message, bool)> = HashMap::with_capacity(distinct.len());
    let mut heads = ConversationHeads::default();
    for chunk in insert_chunks(&distinct) {
        match insert_rows(tx, chunk) {
            Ok(first) => {
                let ids = inserted_ids(tx, chunk, first, consecutive)?;
                for (m, msg_id) in chunk.iter().zip(ids) {
                    record(m, msg_id, &mut stored, &mut heads);
                }
            }
            Err(e) if server_code(&e) == Some(ER_DUP_ENTRY) => {
                let sql = sql_messages_by_keys(chunk.len());
                for row in all::<MessageRow, _>(tx, &sql, key_values(chunk))? {
                    let message = message_of(row);
                    let Some(m) = chunk.iter().find(|m| {
                        m.from == message.from && m.client_msg_id == message.client_msg_id
                    }) else {
                        continue;
                    };
                    stored.insert((m.from, m.client_msg_id.as_str()), (message, false));
                }
                let fresh: Vec<&NewMessage> = chunk
                    .iter()
                    .copied()
                    .filter(|m| !stored.contains_key(&(m.from, m.client_msg_id.as_str())))
                    .collect();
                if !fresh.is_empty() {
                    // A duplicate now was raced in by another transaction: the whole
                    // transaction is retried (see `MysqlStore::run`).
                    let first = insert_rows(tx, &fresh)?;
                    let ids = inserted_ids(tx, &fresh, first, consecutive)?;
                    for (m, msg_id) in fresh.iter().zip(ids) {
                        record(m, msg_id, &mut stored, &mut heads);
                    }
                }
            }
            Err(e) => return Err(e.into()),
        }
    }

    // Both participants' conversation lists, in key order (a stable lock order).
    let heads: Vec<((UserId, UserId), MsgId)> = heads.0.into_iter().collect();
    for chunk in heads.chunks(CHUNK).flat_map(pow2_pieces) {
        let values: Vec<Value> = chunk
            .iter()
            .flat_map(|&((user, peer), last)| {
                [Value::from(user), Value::from(peer), Value::from(last)]
            })
            .collect();
        tx.exec_drop(sql_upsert_conversations(chunk.len()), values)?;
    }

    // One result per input: new for the first occurrence of a key this batch stored; a
    // repeated key copies its first occurrence.
    let mut out: Vec<Stored> = Vec::with_capacity(batch.len());
    let mut first_at: HashMap<Key<'_>, usize> = HashMap::with_capacity(distinct.len());
    for m in batch {
        let key = (m.from, m.client_msg_id.as_str());
        if let Some(&i) = first_at.get(&key) {
            let message = out[i].message.clone();
            out.push(Stored {
                message,
                new: false,
            });
            continue;
        }
        let Some((message, new)) = stored.remove(&key) else {
            return Err(Fail::Store(StoreError::Internal(
                "a message of the batch is missing after insert".into(),
            )));
        };
        first_at.insert(key, out.len());
        out.push(Stored { message, new });
    }
    Ok(out)
}

impl Store for MysqlStore {
    fn describe(&self) -> String {
        self.described.clone()
    }

    fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        nickname: &str,
        email: Option<&str>,
    ) -> StoreResult<UserId> {
        let key = username_key(username);
        self.run("creating a user", false, |conn| {
            let params: Vec<Value> = vec![
                username.into(),
                key.as_str().into(),
                password_hash.into(),
                nickname.into(),
                email.into(),
                now_ms().into(),
            ];
            match conn.exec_drop(SQL_CREATE_USER, params) {
                Ok(()) => Ok(i64::try_from(conn.last_insert_id()).unwrap_or(i64::MAX)),
                Err(e) if server_code(&e) == Some(ER_DUP_ENTRY) => Err(Fail::Store(
                    StoreError::Conflict(format!("username {username:?} is taken")),
                )),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn credentials(&self, username: &str) -> StoreResult<Option<(User, String)>> {
        let key = username_key(username);
        self.run("reading credentials", false, |conn| {
            let row: Option<(i64, String, String, String, String)> =
                first(conn, SQL_CREDENTIALS, (key.as_str(),))?;
            Ok(row.map(|(user_id, username, nickname, avatar, hash)| {
                (user_of((user_id, username, nickname, avatar)), hash)
            }))
        })
    }

    fn user(&self, user_id: UserId) -> StoreResult<Option<User>> {
        self.run("reading a user", false, |conn| query_user(conn, user_id))
    }

    fn search_users(&self, prefix: &str, limit: usize) -> StoreResult<Vec<User>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let low = username_key(prefix);
        let high = prefix_upper_bound(&low);
        self.run("searching users", false, |conn| {
            let rows: Vec<UserRow> = match &high {
                Some(high) => all(
                    conn,
                    SQL_SEARCH_RANGE,
                    (low.as_str(), high.as_str(), sql_limit(limit)),
                )?,
                None => all(conn, SQL_SEARCH_FROM, (low.as_str(), sql_limit(limit)))?,
            };
            Ok(rows.into_iter().map(user_of).collect())
        })
    }

    fn update_profile(
        &self,
        user_id: UserId,
        nickname: Option<&str>,
        avatar: Option<&str>,
    ) -> StoreResult<Option<User>> {
        self.run("updating a profile", false, |conn| {
            let mut tx = conn.start_transaction(TxOpts::default())?;
            tx.exec_drop(SQL_UPDATE_PROFILE, (nickname, avatar, user_id))?;
            let user = query_user(&mut tx, user_id)?;
            tx.commit()?;
            Ok(user)
        })
    }

    fn insert_token(&self, token_hash: &str, user_id: UserId, expires_ms: i64) -> StoreResult<()> {
        self.run("storing a token", false, |conn| {
            conn.exec_drop(SQL_INSERT_TOKEN, (token_hash, user_id, expires_ms))?;
            Ok(())
        })
    }

    fn token_user(&self, token_hash: &str, now_ms: i64) -> StoreResult<Option<User>> {
        self.run("reading a token", false, |conn| {
            Ok(first::<UserRow, _>(conn, SQL_TOKEN_USER, (token_hash, now_ms))?.map(user_of))
        })
    }

    fn delete_token(&self, token_hash: &str) -> StoreResult<()> {
        self.run("deleting a token", false, |conn| {
            conn.exec_drop(SQL_DELETE_TOKEN, (token_hash,))?;
            Ok(())
        })
    }

    fn send_friend_request(
        &self,
        from: UserId,
        to: UserId,
        message: &str,
        ts: i64,
    ) -> StoreResult<FriendRequestOutcome> {
        check_not_self(from, to)?;
        self.run("sending a friend request", false, |conn| {
            let mut tx = conn.start_transaction(TxOpts::default())?;
            let friends: Option<i64> = first(&mut tx, SQL_ARE_FRIENDS, (from, to))?;
            let outcome = if friends.is_some() {
                FriendRequestOutcome::AlreadyFriends
            } else if let Some(request_id) =
                first::<i64, _>(&mut tx, SQL_PENDING_PAIR_LOCK, (from, to))?
            {
                tx.exec_drop(SQL_UPDATE_REQUEST_NOTE, (message, request_id))?;
                FriendRequestOutcome::AlreadyPending(request_id)
            } else {
                tx.exec_drop(SQL_INSERT_REQUEST, (from, to, message, ts))?;
                let id = tx.last_insert_id().unwrap_or(0);
                FriendRequestOutcome::Created(i64::try_from(id).unwrap_or(i64::MAX))
            };
            tx.commit()?;
            Ok(outcome)
        })
    }

    fn pending_requests(&self, to: UserId) -> StoreResult<Vec<FriendRequest>> {
        self.run("reading friend requests", false, |conn| {
            let rows: Vec<(i64, String, i64, i64, String, String, String)> =
                all(conn, SQL_PENDING_TO, (to,))?;
            Ok(rows
                .into_iter()
                .map(
                    |(request_id, message, ts, user_id, username, nickname, avatar)| {
                        FriendRequest {
                            request_id,
                            from: user_of((user_id, username, nickname, avatar)),
                            message,
                            ts,
                        }
                    },
                )
                .collect())
        })
    }

    fn accept_request(&self, request_id: i64, me: UserId) -> StoreResult<Option<User>> {
        self.run("accepting a friend request", false, |conn| {
            let mut tx = conn.start_transaction(TxOpts::default())?;
            let Some(from) = first::<i64, _>(&mut tx, SQL_PENDING_BY_ID_LOCK, (request_id, me))?
            else {
                return Ok(None);
            };
            tx.exec_drop(SQL_SET_REQUEST_ACCEPTED, (request_id,))?;
            // A request the other way is settled by this acceptance too.
            tx.exec_drop(SQL_ACCEPT_PAIR, (me, from))?;
            tx.exec_drop(SQL_INSERT_FRIENDSHIPS, (from, me, me, from))?;
            let user = query_user(&mut tx, from)?;
            tx.commit()?;
            Ok(user)
        })
    }

    fn reject_request(&self, request_id: i64, me: UserId) -> StoreResult<bool> {
        self.run("rejecting a friend request", false, |conn| {
            conn.exec_drop(SQL_REJECT, (request_id, me))?;
            Ok(conn.affected_rows() > 0)
        })
    }

    fn delete_friend(&self, me: UserId, other: UserId) -> StoreResult<bool> {
        self.run("deleting a friend", false, |conn| {
            conn.exec_drop(SQL_DELETE_FRIENDSHIPS, (me, other, other, me))?;
            Ok(conn.affected_rows() > 0)
        })
    }

    fn are_friends(&self, a: UserId, b: UserId) -> StoreResult<bool> {
        self.run("checking a friendship", false, |conn| {
            Ok(first::<i64, _>(conn, SQL_ARE_FRIENDS, (a, b))?.is_some())
        })
    }

    fn friends(&self, me: UserId) -> StoreResult<Vec<User>> {
        self.run("reading friends", false, |conn| {
            let rows: Vec<UserRow> = all(conn, SQL_FRIENDS, (me,))?;
            Ok(rows.into_iter().map(user_of).collect())
        })
    }

    fn friend_ids(&self, me: UserId) -> StoreResult<Vec<UserId>> {
        self.run("reading friend ids", false, |conn| {
            all(conn, SQL_FRIEND_IDS, (me,))
        })
    }

    fn insert_messages(&self, batch: &[NewMessage]) -> StoreResult<Vec<Stored>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        self.run("storing messages", true, |conn| {
            let mut tx = conn.start_transaction(TxOpts::default())?;
            let out = insert_batch(&mut tx, batch, self.consecutive_ids)?;
            tx.commit()?;
            Ok(out)
        })
    }

    fn message_by_client_id(
        &self,
        from: UserId,
        client_msg_id: &str,
    ) -> StoreResult<Option<Message>> {
        self.run("reading a message", false, |conn| {
            Ok(
                first::<MessageRow, _>(conn, SQL_BY_CLIENT_ID, (from, client_msg_id))?
                    .map(message_of),
            )
        })
    }

    fn sync(&self, me: UserId, after: MsgId, limit: usize) -> StoreResult<Vec<Message>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let n = sql_limit(limit);
        self.run("syncing messages", false, |conn| {
            let rows: Vec<MessageRow> = all(conn, SQL_SYNC, (me, after, n, me, after, n))?;
            Ok(merge_branches(
                rows.into_iter().map(message_of).collect(),
                limit,
            ))
        })
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
        let n = sql_limit(limit);
        let before = before.unwrap_or(MsgId::MAX);
        self.run("reading history", false, |conn| {
            let params: Vec<Value> = [me, peer, before, n, peer, me, before, n]
                .into_iter()
                .map(Value::from)
                .collect();
            let rows: Vec<MessageRow> = all(conn, SQL_HISTORY, params)?;
            Ok(merge_branches(
                rows.into_iter().map(message_of).collect(),
                limit,
            ))
        })
    }

    fn conversations(&self, me: UserId) -> StoreResult<Vec<Conversation>> {
        self.run("reading conversations", false, |conn| {
            type Row = (
                i64,
                String,
                String,
                String,
                i64,
                i64,
                i64,
                String,
                i64,
                String,
                i64,
            );
            let rows: Vec<Row> = all(conn, SQL_CONVERSATIONS, (me,))?;
            Ok(rows
                .into_iter()
                .map(
                    |(
                        user_id,
                        username,
                        nickname,
                        avatar,
                        msg_id,
                        from,
                        to,
                        text,
                        ts,
                        cid,
                        unread,
                    )| {
                        Conversation {
                            peer: user_of((user_id, username, nickname, avatar)),
                            last: message_of((msg_id, from, to, text, ts, cid)),
                            unread: u64::try_from(unread).unwrap_or(0),
                        }
                    },
                )
                .collect())
        })
    }

    fn mark_read(&self, me: UserId, peer: UserId, up_to: MsgId) -> StoreResult<()> {
        self.run("marking messages read", false, |conn| {
            conn.exec_drop(SQL_MARK_READ, (me, peer, up_to))?;
            Ok(())
        })
    }
}

/// The throw-away test databases of the integration tests, reused by the unit tests.
#[cfg(test)]
#[path = "../../tests/support/mysql_db.rs"]
mod test_mysql_db;

#[cfg(test)]
mod tests {
    use super::test_mysql_db as mysql_db;
    use super::*;

    #[test]
    fn schema_splits_into_create_tables() {
        let statements = schema_statements(SCHEMA);
        assert_eq!(statements.len(), TABLES.len());
        for (statement, table) in statements.iter().zip(TABLES) {
            assert!(
                statement.starts_with(&format!("CREATE TABLE IF NOT EXISTS {table} (")),
                "{statement}"
            );
            assert!(!statement.contains(';'));
        }
    }

    #[test]
    fn generated_sql() {
        assert_eq!(
            sql_insert_messages(2),
            "INSERT INTO messages (from_id, to_id, text, ts, client_msg_id) \
             VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)"
        );
        assert!(
            sql_messages_by_keys(2).ends_with("WHERE (from_id, client_msg_id) IN ((?, ?), (?, ?))")
        );
        assert!(sql_ids_by_keys(1).ends_with("WHERE (from_id, client_msg_id) IN ((?, ?))"));
        assert!(sql_upsert_conversations(1).contains("VALUES (?, ?, ?) ON DUPLICATE KEY"));
    }

    #[test]
    fn insert_chunks_bound_rows_and_bytes() {
        let new = |text: String| NewMessage {
            from: 1,
            to: 2,
            text,
            ts: 0,
            client_msg_id: "c".into(),
        };
        let many: Vec<NewMessage> = (0..1201).map(|_| new("x".into())).collect();
        let refs: Vec<&NewMessage> = many.iter().collect();
        let sizes: Vec<usize> = insert_chunks(&refs).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [512, 512, 128, 32, 16, 1]);
        let big: Vec<NewMessage> = (0..5).map(|_| new("y".repeat(400_000))).collect();
        let refs: Vec<&NewMessage> = big.iter().collect();
        let sizes: Vec<usize> = insert_chunks(&refs).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let huge = [new("z".repeat(3 << 20))];
        let refs: Vec<&NewMessage> = huge.iter().collect();
        assert_eq!(insert_chunks(&refs).len(), 1);
        assert!(insert_chunks(&[]).is_empty());
        let sizes = |n: usize| -> Vec<usize> {
            pow2_pieces(&vec![0u8; n]).iter().map(|p| p.len()).collect()
        };
        assert_eq!(sizes(100), [64, 32, 4]);
        assert_eq!(sizes(1), [1]);
        assert_eq!(sizes(512), [512]);
        assert!(sizes(0).is_empty());
    }

    /// Both ways of learning inserted ids (consecutive ids, read back by key) give every
    /// message the id the database holds, also when retries of stored messages are mixed
    /// into a batch (the duplicate-key path) and a key repeats within the batch.
    #[test]
    fn inserted_ids_match_the_rows_both_ways() {
        let db = mysql_db::TestDb::new();
        let mut store = MysqlStore::open(&db.url(), 2).unwrap();
        assert!(
            store.consecutive_ids,
            "MariaDB's default mode 1 gives consecutive ids"
        );
        let a = store.create_user("ids_a", "h", "", None).unwrap();
        let b = store.create_user("ids_b", "h", "", None).unwrap();
        let msg = |i: usize| NewMessage {
            from: if i.is_multiple_of(2) { a } else { b },
            to: if i.is_multiple_of(2) { b } else { a },
            text: format!("text {i}"),
            ts: i as i64,
            client_msg_id: format!("c{i}"),
        };
        let mut all_stored = Vec::new();
        for consecutive in [true, false] {
            store.consecutive_ids = consecutive;
            let base = if consecutive { 0 } else { 1000 };
            let fresh: Vec<NewMessage> = (base..base + 20).map(msg).collect();
            let stored = store.insert_messages(&fresh).unwrap();
            assert!(stored.iter().all(|s| s.new));
            // Retries of 0..5 of the batch above, new ones, and a key twice.
            let mut mixed: Vec<NewMessage> = (base..base + 5).map(msg).collect();
            mixed.extend((base + 20..base + 30).map(msg));
            mixed.push(msg(base + 25));
            let again = store.insert_messages(&mixed).unwrap();
            assert_eq!(again.len(), mixed.len());
            for (s, m) in again.iter().zip(&mixed) {
                assert_eq!(
                    (s.message.from, &s.message.client_msg_id),
                    (m.from, &m.client_msg_id)
                );
            }
            let news: Vec<bool> = again.iter().map(|s| s.new).collect();
            let mut expect = vec![false; 5];
            expect.extend([true; 10]);
            expect.push(false);
            assert_eq!(news, expect, "consecutive {consecutive}");
            for i in 0..5 {
                assert_eq!(again[i].message.msg_id, stored[i].message.msg_id);
            }
            assert_eq!(again[15].message.msg_id, again[10].message.msg_id);
            all_stored.extend(stored);
            all_stored.extend(again);
        }
        for s in &all_stored {
            let row = store
                .message_by_client_id(s.message.from, &s.message.client_msg_id)
                .unwrap()
                .unwrap();
            assert_eq!(row, s.message);
        }
        let history = store.history(a, b, None, 1000).unwrap();
        assert_eq!(history.len(), 60);
    }

    #[test]
    fn missing_database_is_explained() {
        let url = format!(
            "{}/chat_no_such_db_{}",
            mysql_db::base_url(),
            std::process::id()
        );
        match MysqlStore::open(&url, 2) {
            Err(StoreError::Internal(msg)) => assert!(msg.contains("does not exist"), "{msg}"),
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("opened a database that does not exist"),
        }
    }

    #[test]
    fn dead_server_fails_fast_as_unavailable() {
        // Nothing listens on port 1: the connection is refused at once.
        let started = std::time::Instant::now();
        match MysqlStore::open("mysql://root@127.0.0.1:1/chat", 2) {
            Err(StoreError::Unavailable(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
            Ok(_) => panic!("connected to port 1"),
        }
        assert!(started.elapsed() < Duration::from_secs(10));
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
            (
                SQL_SYNC.into(),
                vec![u.into(), 0.into(), 50.into(), u.into(), 0.into(), 50.into()],
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
            }
        }
        assert!(scans.is_empty(), "full scans:\n{}", scans.join("\n"));
    }
}
