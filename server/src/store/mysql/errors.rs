//! How the MySQL store classifies failures: driver and server errors become
//! [`StoreError::Unavailable`] (try again later) or [`StoreError::Internal`], and `Fail`
//! carries either a driver error or an already-decided store error out of a closure run
//! on a connection.
//!
//! Decides and logs; runs no statement and retries nothing (retrying is `MysqlStore::run`,
//! using [`server_code`] and the codes here).

use mysql::DriverError;

#[cfg(doc)]
use super::MysqlStore;
use crate::store::StoreError;

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
pub(super) const ER_LOCK_DEADLOCK: u16 = 1213;
/// ER_DUP_ENTRY.
pub(super) const ER_DUP_ENTRY: u16 = 1062;
/// ER_BAD_DB_ERROR: the database in the URL does not exist.
pub(super) const ER_BAD_DB_ERROR: u16 = 1049;

/// Why a closure run on a connection failed: a database error (mapped and maybe retried
/// by [`MysqlStore::run`]) or an already-decided store error.
pub(super) enum Fail {
    Db(mysql::Error),
    Store(StoreError),
}

impl From<mysql::Error> for Fail {
    fn from(e: mysql::Error) -> Self {
        Fail::Db(e)
    }
}

/// The server error code of `e`, if it is a server error.
pub(super) fn server_code(e: &mysql::Error) -> Option<u16> {
    match e {
        mysql::Error::MySqlError(me) => Some(me.code),
        _ => None,
    }
}

/// Maps a driver error: connectivity, timeouts, deadlocks, lock waits, a full disk or a
/// read-only server → `Unavailable`; the rest → `Internal`.
pub(super) fn map_err(what: &str, e: mysql::Error) -> StoreError {
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
pub(super) fn row_err(_: mysql::FromRowError) -> Fail {
    Fail::Store(StoreError::Internal(
        "a row did not have the expected column types".to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::MysqlStore;
    use super::*;

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
}
