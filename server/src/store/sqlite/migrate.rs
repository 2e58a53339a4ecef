//! The migration of a version-1 SQLite database (the previous release: no timelines)
//! to version 2, run at open by [`super::schema`] inside its `BEGIN IMMEDIATE`
//! transaction: SQLite's DDL is transactional, so the migration is all or nothing (a
//! crash half-way leaves version 1, and the next open starts again).
//!
//! 1. Create what `schema_sqlite.sql` adds (`timeline`, `timeline_heads`, the indexes
//!    `timeline_msg` and `tokens_expires`).
//! 2. Give every user's messages positions 1..n in msg_id order (a message between A and
//!    B enters both timelines, a message to oneself one) and every user a head at their
//!    last position (0 without messages).
//! 3. Drop the indexes `messages_to` and `messages_from` (nothing reads them any more).
//! 4. Write version 2.
//!
//! Needs SQLite >= 3.25 (window functions; the bundled one is newer). May touch every
//! table of the schema, inside the transaction it is given; never commits.

use std::time::Instant;

use rusqlite::Transaction;

use super::schema::SCHEMA;
use crate::store::shared::SCHEMA_VERSION;

/// Every message's entries, numbered per user in msg_id order.
const FILL_TIMELINE: &str = "INSERT INTO timeline (user_id, pos, msg_id) \
     SELECT user_id, row_number() OVER (PARTITION BY user_id ORDER BY msg_id), msg_id \
     FROM (SELECT from_id AS user_id, msg_id FROM messages \
           UNION ALL \
           SELECT to_id AS user_id, msg_id FROM messages WHERE to_id <> from_id)";

/// Every user's head: the end of their timeline (one primary-key probe each).
const FILL_HEADS: &str = "INSERT INTO timeline_heads (user_id, last_pos) \
     SELECT u.user_id, \
            COALESCE((SELECT max(t.pos) FROM timeline t WHERE t.user_id = u.user_id), 0) \
     FROM users u";

/// Migrates the database from version 1 to 2 in `tx` (see the module docs) and logs
/// what it did. `shown` names the database in logs.
pub(super) fn from_v1(tx: &Transaction<'_>, shown: &str) -> rusqlite::Result<()> {
    let started = Instant::now();
    log::info!("{shown}: migrating the schema from version 1 to {SCHEMA_VERSION}");
    tx.execute_batch(SCHEMA)?;
    // Empty unless created by hand: the migration is one transaction.
    tx.execute_batch("DELETE FROM timeline; DELETE FROM timeline_heads;")?;
    let entries = tx.execute(FILL_TIMELINE, [])?;
    let heads = tx.execute(FILL_HEADS, [])?;
    let with_messages: i64 = tx.query_row(
        "SELECT count(*) FROM timeline_heads WHERE last_pos > 0",
        [],
        |r| r.get(0),
    )?;
    tx.execute_batch("DROP INDEX IF EXISTS messages_to; DROP INDEX IF EXISTS messages_from;")?;
    tx.execute(
        "INSERT INTO schema_version (id, version) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        [SCHEMA_VERSION],
    )?;
    log::info!(
        "{shown}: migrated to schema version {SCHEMA_VERSION}: {entries} timeline entries \
         for {with_messages} users with messages, {heads} heads, indexes messages_to and \
         messages_from dropped, in {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}
