//! The MySQL/MariaDB implementation of [`Store`], over a `mysql::Pool`.
//!
//! * The database named in the URL must exist (the operator creates it, e.g.
//!   `CREATE DATABASE chat CHARACTER SET utf8mb4`); [`MysqlStore::open`] creates the tables
//!   from `sql/schema.sql` when they are missing, migrates a version-1 or version-2
//!   database, and checks the schema version.
//! * Connections have a 5 s connect timeout and 5 s read/write timeouts, and a 3 s InnoDB
//!   lock-wait timeout, so a dead or stuck server turns into
//!   [`StoreError::Unavailable`] quickly instead of a hung worker. Waiting for a pooled
//!   connection is bounded the same way. A connection that failed at the network level is
//!   replaced, never handed out again with a half-read reply in its buffers.
//! * Only a connection idle for over a second is pinged before use (`liveness`); one
//!   that fails at the network level has its socket shut down and is replaced.
//! * Transactions that die in a deadlock are retried (InnoDB rolled them back whole).
//! * `insert_messages` is one transaction of a few multi-row statements per chunk in the
//!   common case, whatever the batch size: lock and advance the timeline heads of the
//!   batch's users (one upsert, in user_id order, before anything else, which returns
//!   them on MariaDB; MySQL reads them back), insert the batch in order with its
//!   positions (ids are consecutive on MariaDB's default settings, else read back by
//!   key), upsert both participants' conversation rows. A
//!   batch holding a client's retry takes a longer path for the chunk it is in, and
//!   corrects the heads. Key lookups use `(a, b) IN ((?, ?), ...)`, not an `OR` of
//!   `AND`s, whose per-row cost grows with the batch (it cost MariaDB 31 µs of CPU per
//!   message at 256 per batch).
//! * Reads of messages carry the reading user's timeline position, from the message row
//!   (`from_pos`, `to_pos`): sync reads the user's range on `messages_to_pos` and
//!   `messages_from_pos`; history, conversations and `message_by_client_id` read the
//!   rows they find.
//! * Every statement is parameterised and served by an index (see the `explain` test).
//!
//! Files: this one holds [`MysqlStore`], its connection settings, the retry loop
//! (`run`) and the [`Store`] implementation, one method per call, each a statement or
//! a short transaction. Below it, each depending only on the ones after it in this list:
//!
//! * `liveness`: which pooled connections to ping before use, and killing a broken one.
//! * `batch_insert`: the batched message insert behind `insert_messages`.
//! * `timeline`: locking and advancing timeline heads, and correcting them (the
//!   positions part of that insert).
//! * `schema`: setting up the schema at open (create, migrate or refuse) and checking
//!   the version.
//! * `migrate`: the migrations of version-1 and version-2 databases.
//! * `rows`: running a statement and decoding its rows into model records.
//! * `errors`: classifying driver errors into [`StoreError`], and `Fail`.
//! * `sql`: the SQL text of every statement, constant or generated for `n` rows.

mod batch_insert;
mod errors;
mod liveness;
mod migrate;
mod rows;
mod schema;
mod sql;
mod timeline;

use std::time::Duration;

use mysql::prelude::Queryable;
use mysql::{
    Conn, Opts, OptsBuilder, Pool, PoolConstraints, PoolOpts, PooledConn, Transaction, TxOpts,
    Value,
};

use super::shared::{check_not_self, email_key, merge_branches, prefix_upper_bound, username_key};
use super::{FriendRequestOutcome, Registration, Store, StoreError, StoreResult, Stored};
use crate::model::now_ms;
use crate::model::{Conversation, FriendRequest, Message, MsgId, NewMessage, Pos, User, UserId};
use batch_insert::insert_batch;
use errors::{map_err, server_code, Fail, ER_BAD_DB_ERROR, ER_DUP_ENTRY, ER_LOCK_DEADLOCK};
use liveness::Liveness;
use rows::{
    all, conversation_of, first, message_of, user_of, ConversationRow, MessageRow, UserRow,
};
use sql::*;

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
/// Prepared statements each connection keeps: every constant statement and every shape
/// of the multi-row ones, with room to spare.
const STMT_CACHE: usize = 128;

/// Run on every new connection (and after a reset).
const INIT: [&str; 3] = [
    "SET NAMES utf8mb4",
    // Refuse, rather than silently truncate, values that do not fit.
    "SET SESSION sql_mode = 'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
    // Fail a lock wait before the client's read timeout does.
    "SET SESSION innodb_lock_wait_timeout = 3",
];

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
    /// `INSERT ... ON DUPLICATE KEY UPDATE ... RETURNING` returns the rows as updated
    /// (MariaDB >= 10.5), so the upsert that advances the timeline heads also returns
    /// them; otherwise (MySQL has no `RETURNING`) they are read back. Probed at open.
    heads_returning: bool,
    /// When each pooled connection last answered (only idle ones are pinged).
    liveness: Liveness,
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
                    .with_reset_connection(false)
                    // Only idle connections are pinged before use (`liveness`).
                    .with_check_health(false),
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
            heads_returning: false,
            liveness: Liveness::default(),
        };
        store.apply_schema(&db)?;
        store.consecutive_ids = store.ids_are_consecutive()?;
        store.heads_returning = store.upsert_returns_updated_rows()?;
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

    /// Whether `INSERT ... ON DUPLICATE KEY UPDATE ... RETURNING` returns the rows as
    /// updated, tried on `timeline_heads` ([`SQL_PROBE_RETURNING`]) in a transaction that
    /// is rolled back. Asked of the server's behaviour, not of its version: MySQL refuses
    /// the syntax, and MariaDB's first 10.5 development releases returned the values of
    /// the `INSERT` part.
    fn upsert_returns_updated_rows(&self) -> StoreResult<bool> {
        self.run("probing INSERT ... RETURNING", false, |conn| {
            let mut tx = conn.start_transaction(TxOpts::default())?;
            let probe = tx.exec::<Pos, _, _>(SQL_PROBE_RETURNING, ());
            tx.rollback()?;
            let returning = match probe {
                Ok(heads) => heads.len() == 2 && heads[0] >= 5 && heads[1] == heads[0] + 1,
                // Not supported (a syntax error on MySQL): the heads are read back.
                Err(e) if server_code(&e).is_some() => {
                    log::info!("{}: upserts cannot return rows ({e})", self.described);
                    false
                }
                Err(e) => return Err(e.into()),
            };
            log::debug!(
                "{}: upserts return updated rows: {returning}",
                self.described
            );
            Ok(returning)
        })
    }

    /// Sets the schema up (see [`schema`]: creates it, migrates a version-1 database, or
    /// refuses a newer one). When there is something to do, that runs on a connection of
    /// its own without read or write timeouts (a migration may take minutes), closed
    /// afterwards. `db` is the database's name.
    fn apply_schema(&self, db: &str) -> StoreResult<()> {
        let current = self.run("reading the schema version", false, |conn| {
            schema::is_current(conn, &self.described)
        })?;
        if current {
            return Ok(());
        }
        let what = format!("setting up the schema of {db}");
        let opts: Opts = OptsBuilder::from_opts(self.opts.clone())
            .read_timeout(None)
            .write_timeout(None)
            .into();
        let mut conn = Conn::new(opts).map_err(|e| map_err(&what, e))?;
        match schema::apply_schema(&mut conn, &self.described) {
            Ok(()) => Ok(()),
            Err(Fail::Store(e)) => Err(e),
            Err(Fail::Db(e)) => Err(map_err(&what, e)),
        }
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
            if self.liveness.needs_ping(pooled.as_ref()) {
                if let Err(e) = pooled.as_mut().ping() {
                    log::debug!("mysql: an idle connection did not answer a ping: {e}");
                    if !self.discard(&mut pooled) {
                        return Err(map_err(what, e));
                    }
                }
            }
            let outcome = f(pooled.as_mut());
            if matches!(&outcome, Err(Fail::Db(e)) if e.is_connectivity_error()) {
                self.discard(&mut pooled);
            } else {
                self.liveness.heard(pooled.as_ref());
            }
            let e = match outcome {
                Ok(value) => return Ok(value),
                Err(Fail::Store(e)) => return Err(e),
                Err(Fail::Db(e)) => e,
            };
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

    /// Keeps a connection that failed at the network level out of use: it may hold a
    /// half-read reply. Replaced by a fresh connection when one can be made (`true`);
    /// otherwise its socket is shut down and it is reset on return, which then fails at
    /// once and makes the pool drop it.
    fn discard(&self, pooled: &mut PooledConn) -> bool {
        self.liveness.forget(pooled.as_ref());
        liveness::kill(pooled.as_ref());
        match Conn::new(self.opts.clone()) {
            Ok(fresh) => {
                self.liveness.heard(&fresh);
                *pooled.as_mut() = fresh;
                true
            }
            Err(e) => {
                log::debug!("mysql: cannot replace a broken connection: {e}");
                pooled.reset_connection(true);
                false
            }
        }
    }
}

/// Inserts a user and their (empty) timeline's head in `tx`; `None` if the username is
/// taken (nothing inserted).
fn insert_user(
    tx: &mut Transaction<'_>,
    username: &str,
    password_hash: &str,
    nickname: &str,
    email: Option<&str>,
) -> Result<Option<UserId>, Fail> {
    let params: Vec<Value> = vec![
        username.into(),
        username_key(username).into(),
        password_hash.into(),
        nickname.into(),
        email.into(),
        now_ms().into(),
    ];
    match tx.exec_drop(SQL_CREATE_USER, params) {
        Ok(()) => {}
        Err(e) if server_code(&e) == Some(ER_DUP_ENTRY) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let Some(user_id) = tx.last_insert_id().and_then(|id| i64::try_from(id).ok()) else {
        return Err(Fail::Store(StoreError::Internal(
            "the new user's id could not be read".into(),
        )));
    };
    tx.exec_drop(SQL_CREATE_HEAD, (user_id, 0))?;
    Ok(Some(user_id))
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
        self.run("creating a user", false, |conn| {
            // The user and their (empty) timeline's head, in one transaction.
            let mut tx = conn.start_transaction(TxOpts::default())?;
            let Some(user_id) = insert_user(&mut tx, username, password_hash, nickname, email)?
            else {
                return Err(Fail::Store(StoreError::Conflict(format!(
                    "username {username:?} is taken"
                ))));
            };
            tx.commit()?;
            Ok(user_id)
        })
    }

    fn create_verified_user(
        &self,
        username: &str,
        password_hash: &str,
        nickname: &str,
        email: &str,
    ) -> StoreResult<Registration> {
        let key = email_key(email);
        self.run("creating a verified user", false, |conn| {
            // Dropping the transaction without a commit rolls it back.
            let mut tx = conn.start_transaction(TxOpts::default())?;
            let Some(user_id) =
                insert_user(&mut tx, username, password_hash, nickname, Some(email))?
            else {
                return Ok(Registration::UsernameTaken);
            };
            match tx.exec_drop(SQL_INSERT_EMAIL, (key.as_str(), user_id)) {
                Ok(()) => {}
                Err(e) if server_code(&e) == Some(ER_DUP_ENTRY) => {
                    return Ok(Registration::EmailTaken)
                }
                Err(e) => return Err(e.into()),
            }
            tx.commit()?;
            Ok(Registration::Created(user_id))
        })
    }

    fn verified_credentials(&self, email: &str) -> StoreResult<Option<(User, String)>> {
        let key = email_key(email);
        self.run("reading credentials by e-mail", false, |conn| {
            let row: Option<(i64, String, String, String, String)> =
                first(conn, SQL_VERIFIED_CREDENTIALS, (key.as_str(),))?;
            Ok(row.map(|(user_id, username, nickname, avatar, hash)| {
                (user_of((user_id, username, nickname, avatar)), hash)
            }))
        })
    }

    fn reset_password(&self, user_id: UserId, password_hash: &str) -> StoreResult<Option<usize>> {
        self.run("resetting a password", false, |conn| {
            let mut tx = conn.start_transaction(TxOpts::default())?;
            tx.exec_drop(SQL_SET_PASSWORD, (password_hash, user_id))?;
            if tx.affected_rows() == 0 && query_user(&mut tx, user_id)?.is_none() {
                return Ok(None);
            }
            tx.exec_drop(SQL_DELETE_USER_TOKENS, (user_id,))?;
            let revoked = usize::try_from(tx.affected_rows()).unwrap_or(usize::MAX);
            tx.commit()?;
            Ok(Some(revoked))
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

    fn purge_expired_tokens(&self, now_ms: i64, limit: usize) -> StoreResult<usize> {
        if limit == 0 {
            return Ok(0);
        }
        self.run("purging expired tokens", false, |conn| {
            conn.exec_drop(SQL_PURGE_TOKENS, (now_ms, sql_limit(limit)))?;
            Ok(usize::try_from(conn.affected_rows()).unwrap_or(usize::MAX))
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
            let out = insert_batch(&mut tx, batch, self.consecutive_ids, self.heads_returning)?;
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

    fn last_pos(&self, user: UserId) -> StoreResult<Pos> {
        self.run("reading a timeline's end", false, |conn| {
            Ok(first::<Pos, _>(conn, SQL_LAST_POS, (user,))?.unwrap_or(0))
        })
    }

    fn sync(&self, me: UserId, after: Pos, limit: usize) -> StoreResult<Vec<Message>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.run("syncing messages", false, |conn| {
            let limit_sql = sql_limit(limit);
            let params = (me, after, limit_sql, me, after, limit_sql);
            let rows: Vec<MessageRow> = all(conn, SQL_SYNC, params)?;
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
            let rows: Vec<ConversationRow> = all(conn, SQL_CONVERSATIONS, (me,))?;
            Ok(rows.into_iter().map(conversation_of).collect())
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
#[path = "../../../tests/support/mysql_db.rs"]
mod test_mysql_db;

#[cfg(test)]
mod tests {
    use super::test_mysql_db as mysql_db;
    use super::*;

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
}
