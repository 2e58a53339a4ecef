//! Running a statement and decoding its rows without panicking, and turning the rows of
//! `users` and `messages` into model records.
//!
//! A row of the wrong shape becomes a [`StoreError::Internal`](crate::store::StoreError)
//! (through `row_err`), never a panic and never a message holding user data.

use mysql::prelude::{FromRow, Queryable};
use mysql::Params;

use super::errors::{row_err, Fail};
use crate::model::{Message, User};

/// The first row of a query, decoded without panicking.
pub(super) fn first<T: FromRow, Q: Queryable>(
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
pub(super) fn all<T: FromRow, Q: Queryable>(
    q: &mut Q,
    sql: &str,
    params: impl Into<Params>,
) -> Result<Vec<T>, Fail> {
    q.exec_opt::<T, _, _>(sql, params)?
        .into_iter()
        .map(|row| row.map_err(row_err))
        .collect()
}

pub(super) type UserRow = (i64, String, String, String);
pub(super) type MessageRow = (i64, i64, i64, String, i64, String);

pub(super) fn user_of((user_id, username, nickname, avatar): UserRow) -> User {
    User {
        user_id,
        username,
        nickname,
        avatar,
    }
}

pub(super) fn message_of((msg_id, from, to, text, ts, client_msg_id): MessageRow) -> Message {
    Message {
        msg_id,
        from,
        to,
        text,
        ts,
        client_msg_id,
    }
}
