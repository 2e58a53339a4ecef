//! The migrations of older SQLite databases to the current version, run at open by
//! [`super::schema`] inside its `BEGIN IMMEDIATE` transaction: SQLite's DDL is
//! transactional, so a migration is all or nothing (a crash half-way leaves the old
//! version, and the next open starts again).
//!
//! From version 1 (the first release: no timelines), [`from_v1`]:
//! 1. Move the version-1 `messages` table aside (`messages_v1`) and drop its indexes
//!    (`messages_to` and `messages_from` for good: nothing reads them any more).
//! 2. Create what `schema_sqlite.sql` adds or changes: `messages` with its positions
//!    (`from_pos`, `to_pos`) and its indexes, `timeline_heads`, `user_emails`, the
//!    index `tokens_expires`.
//! 3. Number every user's messages 1..n in msg_id order, in a temporary table (a
//!    message between A and B enters both timelines, a message to oneself one).
//! 4. Copy the messages into the new table with their two positions (found through the
//!    temporary table's index on (user_id, msg_id)), carry over the `AUTOINCREMENT`
//!    counter (ids are never reused), drop `messages_v1`.
//! 5. Give every user a head at their last position (0 without messages).
//! 6. Write the version.
//!
//! From version 2 (timelines in a table `timeline` of their own, whose rows repeat the
//! positions on the messages' rows), [`from_v2`]: create `user_emails` and the indexes
//! `messages_to_pos` and `messages_from_pos`, drop `timeline`, write the version.
//!
//! Rebuilding `messages` rather than adding two columns keeps the migrated schema the
//! text of `schema_sqlite.sql` (SQLite keeps each table's `CREATE` text, and `ADD
//! COLUMN` would append to it and need a default). Needs SQLite >= 3.25 (window
//! functions, and `RENAME` that leaves other tables alone; the bundled one is newer).
//! May touch every table of the schema, inside the transaction it is given; never
//! commits.

use std::time::Instant;

use rusqlite::Transaction;

use super::schema::SCHEMA;
use crate::store::shared::SCHEMA_VERSION;

/// The version-1 messages table and its indexes, moved aside.
const SET_ASIDE: &str = "ALTER TABLE messages RENAME TO messages_v1; \
     DROP INDEX IF EXISTS messages_client; DROP INDEX IF EXISTS messages_pair; \
     DROP INDEX IF EXISTS messages_to; DROP INDEX IF EXISTS messages_from;";

/// The temporary table of the version-1 migration: the timelines' entries, numbered,
/// with an index to find a message's entries.
const CREATE_SCRATCH: &str = "CREATE TEMP TABLE migrate_timeline ( \
       user_id INTEGER NOT NULL, pos INTEGER NOT NULL, msg_id INTEGER NOT NULL, \
       PRIMARY KEY (user_id, pos)) WITHOUT ROWID; \
     CREATE INDEX temp.migrate_timeline_msg ON migrate_timeline (user_id, msg_id);";

/// Every message's entries, numbered per user in msg_id order.
const FILL_TIMELINE: &str = "INSERT INTO migrate_timeline (user_id, pos, msg_id) \
     SELECT user_id, row_number() OVER (PARTITION BY user_id ORDER BY msg_id), msg_id \
     FROM (SELECT from_id AS user_id, msg_id FROM messages_v1 \
           UNION ALL \
           SELECT to_id AS user_id, msg_id FROM messages_v1 WHERE to_id <> from_id)";

/// Every message with its sender's and recipient's positions (the index
/// `migrate_timeline_msg` serves both look-ups).
const COPY_MESSAGES: &str = "INSERT INTO messages \
     (msg_id, from_id, to_id, text, ts, client_msg_id, from_pos, to_pos) \
     SELECT m.msg_id, m.from_id, m.to_id, m.text, m.ts, m.client_msg_id, s.pos, r.pos \
     FROM messages_v1 m \
     JOIN migrate_timeline s ON s.user_id = m.from_id AND s.msg_id = m.msg_id \
     JOIN migrate_timeline r ON r.user_id = m.to_id AND r.msg_id = m.msg_id \
     ORDER BY m.msg_id";

/// The new table's `AUTOINCREMENT` counter: at least the old one's (ids are never
/// reused, even those of rows that are gone).
const CARRY_SEQUENCE: &str = "UPDATE sqlite_sequence SET seq = \
       (SELECT max(seq) FROM sqlite_sequence WHERE name IN ('messages', 'messages_v1')) \
     WHERE name = 'messages'; \
     INSERT INTO sqlite_sequence (name, seq) \
     SELECT 'messages', seq FROM sqlite_sequence WHERE name = 'messages_v1' \
     AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages');";

/// Every user's head: the end of their timeline (one primary-key probe each).
const FILL_HEADS: &str = "INSERT INTO timeline_heads (user_id, last_pos) \
     SELECT u.user_id, \
            COALESCE((SELECT max(t.pos) FROM migrate_timeline t \
                      WHERE t.user_id = u.user_id), 0) \
     FROM users u";

/// Migrates the database from version 1 in `tx` (see the module docs) and logs what it
/// did. `shown` names the database in logs.
pub(super) fn from_v1(tx: &Transaction<'_>, shown: &str) -> rusqlite::Result<()> {
    let started = Instant::now();
    log::info!("{shown}: migrating the schema from version 1 to {SCHEMA_VERSION}");
    tx.execute_batch(SET_ASIDE)?;
    tx.execute_batch(SCHEMA)?;
    // Empty unless created by hand: the migration is one transaction.
    tx.execute_batch("DELETE FROM timeline_heads;")?;
    tx.execute_batch(CREATE_SCRATCH)?;
    let entries = tx.execute(FILL_TIMELINE, [])?;
    let copied = tx.execute(COPY_MESSAGES, [])?;
    let old: usize = tx.query_row("SELECT count(*) FROM messages_v1", [], |r| r.get(0))?;
    if copied != old {
        // Every message has its two timeline entries, by construction: a bug if not.
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_INTERNAL),
            Some(format!("the migration copied {copied} of {old} messages")),
        ));
    }
    tx.execute_batch(CARRY_SEQUENCE)?;
    tx.execute_batch("DROP TABLE messages_v1;")?;
    let heads = tx.execute(FILL_HEADS, [])?;
    tx.execute_batch("DROP TABLE temp.migrate_timeline;")?;
    let with_messages: i64 = tx.query_row(
        "SELECT count(*) FROM timeline_heads WHERE last_pos > 0",
        [],
        |r| r.get(0),
    )?;
    write_version(tx)?;
    log::info!(
        "{shown}: migrated to schema version {SCHEMA_VERSION}: {entries} timeline entries \
         for {with_messages} users with messages, {copied} messages given their positions, \
         {heads} heads, indexes messages_to and messages_from dropped, in {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}

/// Migrates the database from version 2 in `tx` (see the module docs) and logs what it
/// did. `shown` names the database in logs.
pub(super) fn from_v2(tx: &Transaction<'_>, shown: &str) -> rusqlite::Result<()> {
    let started = Instant::now();
    log::info!("{shown}: migrating the schema from version 2 to {SCHEMA_VERSION}");
    // Every statement is IF NOT EXISTS: this creates `user_emails` and the two position
    // indexes only.
    tx.execute_batch(SCHEMA)?;
    tx.execute_batch("DROP TABLE IF EXISTS timeline;")?;
    write_version(tx)?;
    log::info!(
        "{shown}: migrated to schema version {SCHEMA_VERSION}: table user_emails and indexes \
         messages_to_pos and messages_from_pos created, table timeline dropped, in {} ms",
        started.elapsed().as_millis()
    );
    Ok(())
}

/// The last step of a migration: writes [`SCHEMA_VERSION`].
fn write_version(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO schema_version (id, version) VALUES (1, ?1) \
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        [SCHEMA_VERSION],
    )?;
    Ok(())
}
