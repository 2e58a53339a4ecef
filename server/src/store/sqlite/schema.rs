//! Setting up the SQLite schema at open: a fresh database gets `schema_sqlite.sql` and
//! the version row; a version-1 or version-2 database is migrated (see
//! [`super::migrate`]); a database of a newer version is refused, untouched.
//!
//! Runs at open only, on the store's first connection, in one `BEGIN IMMEDIATE`
//! transaction: the version is read under the write lock, so two processes opening one
//! file at once set it up (or migrate it) once. Touches no table but through the schema
//! file, the migration and `schema_version`.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior};

use super::{map_err, migrate};
use crate::store::shared::{newer_schema, unknown_schema, SCHEMA_VERSION, TABLES};
use crate::store::{StoreError, StoreResult};

/// The SQLite schema (the twin of `sql/schema.sql`).
pub(super) const SCHEMA: &str = include_str!("../schema_sqlite.sql");

/// Whether the database has a table named `name`.
fn table_exists(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    let found: Option<i64> = conn
        .query_row(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.is_some())
}

/// The version of the database's schema: the `schema_version` row, or, without one (the
/// tables created by hand), 1 for the tables of version 1 (`messages` without
/// `timeline_heads`), 2 for those of version 2 (with `timeline`), else
/// [`SCHEMA_VERSION`] (an empty database, or one set up from the current schema file).
fn stored_version(conn: &Connection) -> rusqlite::Result<i64> {
    if table_exists(conn, "schema_version")? {
        let row: Option<i64> = conn
            .query_row("SELECT version FROM schema_version WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(version) = row {
            return Ok(version);
        }
    }
    if table_exists(conn, "messages")? && !table_exists(conn, "timeline_heads")? {
        Ok(1)
    } else if table_exists(conn, "timeline")? {
        Ok(2)
    } else {
        Ok(SCHEMA_VERSION)
    }
}

/// What [`apply_schema`] decided, inside its transaction.
enum Outcome {
    /// The schema is at [`SCHEMA_VERSION`]: commit.
    Ready,
    /// The database cannot be used: roll back, fail with this.
    Refused(StoreError),
}

/// Brings the database at `path` (open on `conn`) to [`SCHEMA_VERSION`] (see the module
/// docs) and checks the version row.
pub(super) fn apply_schema(conn: &Connection, path: &Path) -> StoreResult<()> {
    let shown = path.display().to_string();
    let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
        .map_err(|e| map_err("locking the database to set up the schema", e))?;
    let outcome = set_up(&tx, &shown).map_err(|e| map_err("setting up the schema", e))?;
    match outcome {
        Outcome::Ready => tx.commit().map_err(|e| map_err("committing the schema", e)),
        // Dropping the transaction rolls it back.
        Outcome::Refused(e) => Err(e),
    }
}

/// [`apply_schema`] inside its transaction.
fn set_up(tx: &Transaction<'_>, shown: &str) -> rusqlite::Result<Outcome> {
    match stored_version(tx)? {
        SCHEMA_VERSION => {
            let mut present = 0usize;
            for table in TABLES {
                present += usize::from(table_exists(tx, table)?);
            }
            if present < TABLES.len() {
                log::info!(
                    "{shown}: applying schema ({present} of {} tables present)",
                    TABLES.len()
                );
                tx.execute_batch(SCHEMA)?;
            }
        }
        1 => migrate::from_v1(tx, shown)?,
        2 => migrate::from_v2(tx, shown)?,
        v if v > SCHEMA_VERSION => return Ok(Outcome::Refused(newer_schema(shown, v))),
        v => return Ok(Outcome::Refused(unknown_schema(shown, v))),
    }
    tx.execute(
        "INSERT OR IGNORE INTO schema_version (id, version) VALUES (1, ?1)",
        [SCHEMA_VERSION],
    )?;
    let version: i64 =
        tx.query_row("SELECT version FROM schema_version WHERE id = 1", [], |r| {
            r.get(0)
        })?;
    Ok(match version {
        SCHEMA_VERSION => Outcome::Ready,
        v if v > SCHEMA_VERSION => Outcome::Refused(newer_schema(shown, v)),
        v => Outcome::Refused(StoreError::Internal(format!(
            "{shown}: schema version {v} after setting up the schema, this server needs \
             {SCHEMA_VERSION}"
        ))),
    })
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::super::SqliteStore;
    use crate::store::{Store, StoreError};

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
