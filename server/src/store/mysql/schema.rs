//! Setting up the MySQL schema at open: a fresh database gets the tables of
//! `sql/schema.sql` and the version row; a version-1 or version-2 database is migrated
//! (see [`super::migrate`]); a database of a newer version is refused, untouched.
//!
//! Runs at open only. [`is_current`] first looks, on an ordinary connection (with the
//! store's timeouts, so a dead server fails fast), whether there is anything to do: on
//! every open but the first of a new version there is not. Otherwise [`apply_schema`]
//! runs on a connection of its own without read timeout (a migration may take minutes),
//! handed in by `MysqlStore::open`, while holding a named lock (`GET_LOCK`) per
//! database, so nodes starting together set up or migrate the schema once, one after
//! the other. Touches no table but through `sql/schema.sql`, the migration and
//! `schema_version`.

use std::collections::BTreeSet;

use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use super::errors::Fail;
use super::migrate;
use super::rows::{all, first};
use super::sql::{schema_statements, SCHEMA};
use crate::store::shared::{newer_schema, unknown_schema, SCHEMA_VERSION, TABLES};
use crate::store::StoreError;

/// Tables of older versions that are gone from the current one: `timeline` (version 2).
const OLD_TABLES: [&str; 1] = ["timeline"];

/// How long a node waits for another one that is setting up or migrating the schema.
const SCHEMA_LOCK_WAIT_S: i64 = 600;

/// The name of the per-database schema lock (named locks are server-wide; at most 64
/// characters).
const LOCK_NAME_SQL: &str = "LEFT(CONCAT('chat_schema:', DATABASE()), 64)";

/// The tables of [`TABLES`] and [`OLD_TABLES`] that exist in the current database.
pub(super) fn present_tables(conn: &mut Conn) -> Result<BTreeSet<String>, Fail> {
    let names: Vec<Value> = TABLES
        .iter()
        .chain(&OLD_TABLES)
        .map(|t| Value::from(*t))
        .collect();
    let placeholders = vec!["?"; names.len()].join(", ");
    let sql = format!(
        "SELECT table_name FROM information_schema.tables \
         WHERE table_schema = DATABASE() AND table_name IN ({placeholders})"
    );
    Ok(all::<String, _>(conn, &sql, names)?.into_iter().collect())
}

/// Whether every table of [`TABLES`] is in `present`.
fn all_present(present: &BTreeSet<String>) -> bool {
    TABLES.iter().all(|t| present.contains(*t))
}

/// Runs every statement of `sql/schema.sql` (each is `CREATE TABLE IF NOT EXISTS`).
fn create_tables(conn: &mut Conn) -> Result<(), Fail> {
    for statement in schema_statements(SCHEMA) {
        conn.query_drop(statement)?;
    }
    Ok(())
}

/// The version of the database's schema: the `schema_version` row, or, without one (the
/// tables created by hand from an `sql/schema.sql`), 1 for the tables of version 1
/// (`messages` without `timeline_heads`), 2 for those of version 2 (with `timeline`),
/// else [`SCHEMA_VERSION`] (an empty database, or one set up from the current file).
fn stored_version(conn: &mut Conn, present: &BTreeSet<String>) -> Result<i64, Fail> {
    if present.contains("schema_version") {
        let row: Option<i64> = first(conn, "SELECT version FROM schema_version WHERE id = 1", ())?;
        if let Some(version) = row {
            return Ok(version);
        }
    }
    if present.contains("messages") && !present.contains("timeline_heads") {
        Ok(1)
    } else if present.contains("timeline") {
        Ok(2)
    } else {
        Ok(SCHEMA_VERSION)
    }
}

/// Whether the database is at [`SCHEMA_VERSION`] with every table present (nothing to
/// do); a newer version is an error. `described` names the database in messages.
pub(super) fn is_current(conn: &mut Conn, described: &str) -> Result<bool, Fail> {
    let present = present_tables(conn)?;
    match stored_version(conn, &present)? {
        v if v > SCHEMA_VERSION => Err(Fail::Store(newer_schema(described, v))),
        v => Ok(v == SCHEMA_VERSION && all_present(&present)),
    }
}

/// Brings the database to [`SCHEMA_VERSION`] (see the module docs) and checks the
/// version row. `described` names the database in messages and logs.
pub(super) fn apply_schema(conn: &mut Conn, described: &str) -> Result<(), Fail> {
    let locked: Option<Option<i64>> = first(
        conn,
        &format!("SELECT GET_LOCK({LOCK_NAME_SQL}, ?)"),
        (SCHEMA_LOCK_WAIT_S,),
    )?;
    if locked.flatten() != Some(1) {
        return Err(Fail::Store(StoreError::Unavailable(format!(
            "{described}: another process has been setting up or migrating the schema \
             for {SCHEMA_LOCK_WAIT_S} s"
        ))));
    }
    let outcome = apply_schema_locked(conn, described);
    // The lock also goes with the connection, which is closed after this.
    let released = conn.query_drop(format!("DO RELEASE_LOCK({LOCK_NAME_SQL})"));
    outcome?;
    released?;
    Ok(())
}

/// [`apply_schema`] under the schema lock.
fn apply_schema_locked(conn: &mut Conn, described: &str) -> Result<(), Fail> {
    let present = present_tables(conn)?;
    let version = stored_version(conn, &present)?;
    match version {
        SCHEMA_VERSION => {
            if !all_present(&present) {
                log::info!(
                    "{described}: applying sql/schema.sql ({} of {} tables present)",
                    TABLES.iter().filter(|t| present.contains(**t)).count(),
                    TABLES.len()
                );
                create_tables(conn)?;
            }
        }
        1 => migrate::from_v1(conn, described)?,
        2 => migrate::from_v2(conn, described)?,
        v if v > SCHEMA_VERSION => return Err(Fail::Store(newer_schema(described, v))),
        v => return Err(Fail::Store(unknown_schema(described, v))),
    }
    conn.exec_drop(
        "INSERT INTO schema_version (id, version) VALUES (1, ?) \
         ON DUPLICATE KEY UPDATE id = id",
        (SCHEMA_VERSION,),
    )?;
    let version: Option<i64> = first(conn, "SELECT version FROM schema_version WHERE id = 1", ())?;
    match version {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(v) if v > SCHEMA_VERSION => Err(Fail::Store(newer_schema(described, v))),
        other => Err(Fail::Store(StoreError::Internal(format!(
            "{described}: schema version {other:?} after setting up the schema, \
             this server needs {SCHEMA_VERSION}"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::shared::TABLES;

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
}
