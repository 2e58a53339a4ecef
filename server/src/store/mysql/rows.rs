//! Running a statement and decoding its rows without panicking, and turning the rows of
//! `users`, `messages` (with timeline positions) and conversations into model records.
//!
//! A row of the wrong shape becomes a [`StoreError::Internal`](crate::store::StoreError)
//! (through `row_err`), never a panic and never a message holding user data.

use mysql::prelude::{FromRow, Queryable};
use mysql::Params;

use super::errors::{row_err, Fail};
use crate::model::{Conversation, Message, User};

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

/// `user_id, username, nickname, avatar`.
pub(super) type UserRow = (i64, String, String, String);
/// `msg_id, from_id, to_id, text, ts, client_msg_id, pos` (pos: the reading user's).
pub(super) type MessageRow = (i64, i64, i64, String, i64, String, i64);
/// A [`MessageRow`] with the sender's `pos`, then the recipient's `pos`.
pub(super) type OriginalRow = (i64, i64, i64, String, i64, String, i64, i64);

/// A [`UserRow`] (the peer), a [`MessageRow`] (the last message, with the reading user's
/// `pos`), then the unread count.
pub(super) type ConversationRow = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    String,
    i64,
    String,
    i64,
    i64,
);

/// The user of a [`UserRow`].
pub(super) fn user_of((user_id, username, nickname, avatar): UserRow) -> User {
    User {
        user_id,
        username,
        nickname,
        avatar,
    }
}

/// The message of a [`MessageRow`].
pub(super) fn message_of((msg_id, from, to, text, ts, client_msg_id, pos): MessageRow) -> Message {
    Message {
        msg_id,
        from,
        to,
        text,
        ts,
        client_msg_id,
        pos,
    }
}

/// The message of an [`OriginalRow`] (with the sender's `pos`) and the recipient's `pos`.
pub(super) fn original_of(
    (msg_id, from, to, text, ts, client_msg_id, sender_pos, recipient_pos): OriginalRow,
) -> (Message, i64) {
    let message = message_of((msg_id, from, to, text, ts, client_msg_id, sender_pos));
    (message, recipient_pos)
}

/// The conversation of a [`ConversationRow`].
pub(super) fn conversation_of(row: ConversationRow) -> Conversation {
    let (user_id, username, nickname, avatar, msg_id, from, to, text, ts, cid, pos, unread) = row;
    Conversation {
        peer: user_of((user_id, username, nickname, avatar)),
        last: message_of((msg_id, from, to, text, ts, cid, pos)),
        unread: u64::try_from(unread).unwrap_or(0),
    }
}
