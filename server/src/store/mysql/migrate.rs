//! The migrations of older MySQL databases to the current version, run at open by
//! [`super::schema`] under its schema lock: version 1 (the first release: no timelines)
//! and version 2 (timelines in a table `timeline` of their own).
//!
//! MySQL commits every DDL statement on its own, so a migration cannot be one
//! transaction. Instead every step is idempotent and the version is written last: a
//! migration interrupted anywhere (a crash, a lost connection) leaves the old version
//! behind and runs again, whole, at the next start.
//!
//! From version 1 ([`from_v1`]):
//! 1. Create the missing tables of `sql/schema.sql` (`timeline_heads`, `user_emails`).
//! 2. Add the index `tokens_expires` unless it exists.
//! 3. Add the columns `from_pos` and `to_pos` to `messages` unless they exist (0 in
//!    every row until step 4; from here on a node of the old release can no longer store
//!    a message, which has no value for them).
//! 4. Empty `timeline_heads` and a scratch table `migrate_timeline` (what an interrupted
//!    run left), then in ONE transaction: number every user's messages 1..n in msg_id
//!    order into the scratch table (a message between A and B enters both timelines, a
//!    message to oneself one), copy each message's two positions into its row (reading
//!    the scratch table in primary-key order and each message by its primary key), and
//!    give every user a head at their last position (0 without messages). Then drop the
//!    scratch table.
//! 5. The indexes, as from version 2 (below), and also: rebuild `messages_pair` with
//!    to_id first unless it is so already, drop the indexes `messages_to` and
//!    `messages_from` unless they are gone (nothing reads them any more).
//! 6. Write the version.
//!
//! From version 2 ([`from_v2`]): create the missing tables of `sql/schema.sql`
//! (`user_emails`), add the indexes `messages_to_pos` and `messages_from_pos` unless they
//! exist (the positions are on the rows already), drop the table `timeline` (its rows
//! repeat those positions), write the version.
//!
//! From version 1 it needs MariaDB >= 10.2 or MySQL >= 8.0 (window functions). Every
//! node of the old release must be stopped first: one still writing would add messages
//! without positions (version 1) or fail to write its timeline rows (version 2). May
//! touch every table of the schema, on the connection it is given.

use std::time::Instant;

use mysql::prelude::Queryable;
use mysql::{Conn, TxOpts};

use super::errors::Fail;
use super::rows::first;
use super::sql::{schema_statements, SCHEMA};
use crate::store::shared::SCHEMA_VERSION;

/// The scratch table of the version-1 migration: the timelines' entries, numbered.
const CREATE_SCRATCH: &str = "CREATE TABLE IF NOT EXISTS migrate_timeline ( \
     user_id BIGINT NOT NULL, pos BIGINT NOT NULL, msg_id BIGINT NOT NULL, \
     PRIMARY KEY (user_id, pos)) ENGINE=InnoDB";

/// Every message's entries, numbered per user in msg_id order.
const FILL_TIMELINE: &str = "INSERT INTO migrate_timeline (user_id, pos, msg_id) \
     SELECT user_id, ROW_NUMBER() OVER (PARTITION BY user_id ORDER BY msg_id), msg_id \
     FROM (SELECT from_id AS user_id, msg_id FROM messages \
           UNION ALL \
           SELECT to_id AS user_id, msg_id FROM messages WHERE to_id <> from_id) AS entries";

/// Each message's sender's position, from the sender's entry.
const FILL_FROM_POS: &str = "UPDATE migrate_timeline t \
     STRAIGHT_JOIN messages m FORCE INDEX (PRIMARY) ON m.msg_id = t.msg_id \
     SET m.from_pos = t.pos WHERE m.from_id = t.user_id";

/// Each message's recipient's position, from the recipient's entry (the same as the
/// sender's for a message to oneself).
const FILL_TO_POS: &str = "UPDATE migrate_timeline t \
     STRAIGHT_JOIN messages m FORCE INDEX (PRIMARY) ON m.msg_id = t.msg_id \
     SET m.to_pos = t.pos WHERE m.to_id = t.user_id";

/// Every user's head: the end of their timeline (one primary-key probe each).
const FILL_HEADS: &str = "INSERT INTO timeline_heads (user_id, last_pos) \
     SELECT u.user_id, \
            COALESCE((SELECT MAX(t.pos) FROM migrate_timeline t WHERE t.user_id = u.user_id), 0) \
     FROM users u";

/// Whether a `SELECT COUNT(*)` on `information_schema` counts anything.
fn exists(conn: &mut Conn, sql: &str, params: impl Into<mysql::Params>) -> Result<bool, Fail> {
    let count: Option<i64> = first(conn, sql, params)?;
    Ok(count.unwrap_or(0) > 0)
}

/// Whether `table` has an index named `index` in the current database.
fn index_exists(conn: &mut Conn, table: &str, index: &str) -> Result<bool, Fail> {
    exists(
        conn,
        "SELECT COUNT(*) FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?",
        (table, index),
    )
}

/// Whether the current database has a table named `table`.
fn table_exists(conn: &mut Conn, table: &str) -> Result<bool, Fail> {
    exists(
        conn,
        "SELECT COUNT(*) FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name = ?",
        (table,),
    )
}

/// Whether `table` has a column named `column` in the current database.
fn column_exists(conn: &mut Conn, table: &str, column: &str) -> Result<bool, Fail> {
    exists(
        conn,
        "SELECT COUNT(*) FROM information_schema.columns \
         WHERE table_schema = DATABASE() AND table_name = ? AND column_name = ?",
        (table, column),
    )
}

/// Whether index `index` of `table` exists and its first column is `column`.
fn index_starts_with(
    conn: &mut Conn,
    table: &str,
    index: &str,
    column: &str,
) -> Result<bool, Fail> {
    let first_column: Option<String> = first(
        conn,
        "SELECT column_name FROM information_schema.statistics \
         WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ? \
         AND seq_in_index = 1",
        (table, index),
    )?;
    Ok(first_column.is_some_and(|c| c.eq_ignore_ascii_case(column)))
}

/// Migrates the current database from version 1 (see the module docs); logs each step
/// with its counts and time. `described` names the database in logs.
pub(super) fn from_v1(conn: &mut Conn, described: &str) -> Result<(), Fail> {
    let started = Instant::now();
    log::info!("{described}: migrating the schema from version 1 to {SCHEMA_VERSION}");
    // The fill reads every message under shared locks: no writer should be running, but
    // do not give up after the store's usual 3 s if one is.
    conn.query_drop("SET SESSION innodb_lock_wait_timeout = 600")?;

    let step = Instant::now();
    for statement in schema_statements(SCHEMA) {
        conn.query_drop(statement)?;
    }
    log::info!(
        "{described}: migration step 1/6: tables timeline_heads, user_emails ready ({} ms)",
        step.elapsed().as_millis()
    );

    let step = Instant::now();
    if index_exists(conn, "tokens", "tokens_expires")? {
        log::info!("{described}: migration step 2/6: index tokens_expires already there");
    } else {
        conn.query_drop("ALTER TABLE tokens ADD INDEX tokens_expires (expires_ms)")?;
        log::info!(
            "{described}: migration step 2/6: index tokens_expires created ({} ms)",
            step.elapsed().as_millis()
        );
    }

    let step = Instant::now();
    let mut added = Vec::new();
    for column in ["from_pos", "to_pos"] {
        if !column_exists(conn, "messages", column)? {
            conn.query_drop(format!(
                "ALTER TABLE messages ADD COLUMN {column} BIGINT NOT NULL"
            ))?;
            added.push(column);
        }
    }
    log::info!(
        "{described}: migration step 3/6: columns of messages: {} ({} ms)",
        if added.is_empty() {
            "already there".to_string()
        } else {
            format!("{} added", added.join(", "))
        },
        step.elapsed().as_millis()
    );

    let step = Instant::now();
    conn.query_drop(CREATE_SCRATCH)?;
    conn.query_drop("TRUNCATE TABLE migrate_timeline")?;
    conn.query_drop("TRUNCATE TABLE timeline_heads")?;
    let mut tx = conn.start_transaction(TxOpts::default())?;
    tx.query_drop(FILL_TIMELINE)?;
    let entries = tx.affected_rows();
    tx.query_drop(FILL_FROM_POS)?;
    tx.query_drop(FILL_TO_POS)?;
    tx.query_drop(FILL_HEADS)?;
    let heads = tx.affected_rows();
    let with_messages: Option<i64> = first(
        &mut tx,
        "SELECT COUNT(*) FROM timeline_heads WHERE last_pos > 0",
        (),
    )?;
    tx.commit()?;
    conn.query_drop("DROP TABLE migrate_timeline")?;
    log::info!(
        "{described}: migration step 4/6: {entries} timeline entries for {} users with \
         messages, copied into the messages' rows, {heads} heads ({} ms)",
        with_messages.unwrap_or(0),
        step.elapsed().as_millis()
    );

    let step = Instant::now();
    let mut done = Vec::new();
    if !index_starts_with(conn, "messages", "messages_pair", "to_id")? {
        conn.query_drop(
            "ALTER TABLE messages DROP INDEX messages_pair, \
             ADD INDEX messages_pair (to_id, from_id, msg_id)",
        )?;
        done.push("messages_pair rebuilt as (to_id, from_id, msg_id)".to_string());
    }
    done.extend(position_indexes(conn)?);
    for index in ["messages_to", "messages_from"] {
        if index_exists(conn, "messages", index)? {
            conn.query_drop(format!("ALTER TABLE messages DROP INDEX {index}"))?;
            done.push(format!("{index} dropped"));
        }
    }
    log::info!(
        "{described}: migration step 5/6: indexes of messages: {} ({} ms)",
        shown(&done),
        step.elapsed().as_millis()
    );
    write_version(conn, described, "6/6", started)
}

/// Migrates the current database from version 2 (see the module docs); logs each step.
pub(super) fn from_v2(conn: &mut Conn, described: &str) -> Result<(), Fail> {
    let started = Instant::now();
    log::info!("{described}: migrating the schema from version 2 to {SCHEMA_VERSION}");
    for statement in schema_statements(SCHEMA) {
        conn.query_drop(statement)?;
    }
    let mut done = vec!["missing tables created".to_string()];
    done.extend(position_indexes(conn)?);
    if table_exists(conn, "timeline")? {
        conn.query_drop("DROP TABLE timeline")?;
        done.push("table timeline dropped".to_string());
    }
    log::info!(
        "{described}: migration step 1/2: {} ({} ms)",
        shown(&done),
        started.elapsed().as_millis()
    );
    write_version(conn, described, "2/2", started)
}

/// Adds the indexes `messages_to_pos` and `messages_from_pos` unless they exist (one
/// `ALTER TABLE` for both); says what it did.
fn position_indexes(conn: &mut Conn) -> Result<Vec<String>, Fail> {
    let mut added = Vec::new();
    for (index, columns) in [
        ("messages_to_pos", "to_id, to_pos"),
        ("messages_from_pos", "from_id, from_pos"),
    ] {
        if !index_exists(conn, "messages", index)? {
            added.push((index, columns));
        }
    }
    if added.is_empty() {
        return Ok(Vec::new());
    }
    let clauses: Vec<String> = added
        .iter()
        .map(|(index, columns)| format!("ADD INDEX {index} ({columns})"))
        .collect();
    conn.query_drop(format!("ALTER TABLE messages {}", clauses.join(", ")))?;
    Ok(added
        .iter()
        .map(|(index, columns)| format!("{index} ({columns}) added"))
        .collect())
}

/// What a step did, for its log line.
fn shown(done: &[String]) -> String {
    if done.is_empty() {
        "already done".to_string()
    } else {
        done.join(", ")
    }
}

/// The last step of a migration: writes [`SCHEMA_VERSION`]. `step` numbers it in the log.
fn write_version(
    conn: &mut Conn,
    described: &str,
    step: &str,
    started: Instant,
) -> Result<(), Fail> {
    conn.exec_drop(
        "INSERT INTO schema_version (id, version) VALUES (1, ?) \
         ON DUPLICATE KEY UPDATE version = VALUES(version)",
        (SCHEMA_VERSION,),
    )?;
    log::info!(
        "{described}: migration step {step}: schema version {SCHEMA_VERSION} written; \
         migration done in {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}
