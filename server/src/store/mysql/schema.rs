//! Setting up the MySQL schema: the tables of `sql/schema.sql` are created when any is
//! missing, and the version row is written and checked.
//!
//! Runs at open only, on one connection handed in by `MysqlStore::open` (through its
//! retry loop); touches no table but through `sql/schema.sql` and `schema_version`.

use mysql::prelude::Queryable;
use mysql::{Conn, Value};

use super::errors::Fail;
use super::rows::first;
use crate::store::shared::{SCHEMA_VERSION, TABLES};
use crate::store::StoreError;

/// The MySQL schema, applied when tables are missing.
const SCHEMA: &str = include_str!("../../../../sql/schema.sql");

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

/// Creates the tables if any is missing, then checks/inserts the version row. `described`
/// names the database in messages.
pub(super) fn apply_schema(conn: &mut Conn, described: &str) -> Result<(), Fail> {
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
            described,
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
    let version: Option<i64> = first(conn, "SELECT version FROM schema_version WHERE id = 1", ())?;
    match version {
        Some(SCHEMA_VERSION) => Ok(()),
        other => Err(Fail::Store(StoreError::Internal(format!(
            "{}: schema version {other:?}, this server needs {SCHEMA_VERSION}",
            described
        )))),
    }
}

#[cfg(test)]
mod tests {
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
}
