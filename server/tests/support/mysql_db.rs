//! Test support: a throw-away MySQL/MariaDB database per test.
//!
//! [`TestDb::new`] creates a database with a unique name (`chat_t_<pid>_<nanos>_<n>`) on
//! the server named by `CHAT_TEST_MYSQL` (default `mysql://root@127.0.0.1:3306`, no
//! database in the URL) and drops it again when the guard is dropped, so test runs never
//! share or leak state. Tests use a real server, never a mock.
//!
//! Use it from an integration test with
//! `#[path = "support/mysql_db.rs"] mod mysql_db;`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use mysql::prelude::Queryable;

/// The environment variable naming the test server's base URL.
pub const ENV_VAR: &str = "CHAT_TEST_MYSQL";
/// The base URL used when [`ENV_VAR`] is unset.
pub const DEFAULT_URL: &str = "mysql://root@127.0.0.1:3306";

/// The server's base URL (no database), without a trailing `/`.
pub fn base_url() -> String {
    let url = std::env::var(ENV_VAR).unwrap_or_else(|_| DEFAULT_URL.to_string());
    url.trim_end_matches('/').to_string()
}

/// `base` with `db` as its database (any `?options` of `base` are kept).
fn with_db(base: &str, db: &str) -> String {
    match base.split_once('?') {
        Some((server, options)) => format!("{}/{db}?{options}", server.trim_end_matches('/')),
        None => format!("{base}/{db}"),
    }
}

/// A uniquely named database, dropped when this guard is dropped.
pub struct TestDb {
    name: String,
    url: String,
    base: String,
}

impl TestDb {
    /// Creates a fresh, empty database (utf8mb4). Panics when the server is unreachable:
    /// these tests need a real MySQL/MariaDB (see the module docs).
    pub fn new() -> TestDb {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let name = format!(
            "chat_t_{}_{}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let base = base_url();
        let mut conn = mysql::Conn::new(base.as_str()).unwrap_or_else(|e| {
            panic!("cannot reach the test MySQL server at {base} (set {ENV_VAR}): {e}")
        });
        // The name is generated above (letters, digits, '_'): safe to splice in.
        conn.query_drop(format!(
            "CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        ))
        .unwrap_or_else(|e| panic!("cannot create test database {name}: {e}"));
        let url = with_db(&base, &name);
        TestDb { name, url, base }
    }

    /// The URL of the database, for `MysqlStore::open` or a server's `mysql_url`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Default for TestDb {
    fn default() -> Self {
        TestDb::new()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let dropped = mysql::Conn::new(self.base.as_str()).and_then(|mut conn| {
            conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name))
        });
        if let Err(e) = dropped {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}
