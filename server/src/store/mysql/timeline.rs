//! Timeline positions in the MySQL batch transaction: locking and advancing the timeline
//! heads of a batch's users, and correcting them. (A timeline has no rows of its own:
//! its entries are the positions on the messages' rows, `from_pos` and `to_pos`.)
//!
//! Why the heads come first: [`advance_heads`] runs before the batch's messages are
//! inserted and takes the heads' row locks in user_id order, in the statement that
//! advances them (`last_pos = last_pos + n`, one multi-row upsert per [`CHUNK`] users).
//! Two transactions (on one node or on several) that share a user therefore run one
//! after the other from that point on, so the second one's auto-increment ids, taken
//! after the first committed, are higher: within a conversation `msg_id` follows commit
//! order, and positions (derived from heads advanced under the lock) never repeat or
//! skip. Transactions lock in one global order, so they cannot deadlock on the heads.
//! Writes `timeline_heads` only (and reads `messages`), inside the transaction it is given;
//! never commits, never retries (`MysqlStore::run` does).

use std::collections::HashMap;

use mysql::prelude::Queryable;
use mysql::{Transaction, Value};

use super::errors::Fail;
use super::rows::all;
use super::sql::{
    padded_len, pieces, sql_advance_heads, sql_advance_heads_returning, sql_read_heads,
    sql_timeline_ends, sql_upsert_heads, CHUNK, SQL_MOVE_HEAD,
};
#[cfg(doc)]
use super::MysqlStore;
use crate::model::{Pos, UserId};
use crate::store::StoreError;

/// `n` statement parameters: the users of `piece`, padded by repeating the last one.
fn padded_ids<T>(piece: &[T], n: usize, user: impl Fn(&T) -> UserId) -> Vec<Value> {
    let last = piece.last().map(&user).unwrap_or_default();
    (0..n)
        .map(|i| Value::from(piece.get(i).map_or(last, &user)))
        .collect()
}

/// Locks the timeline heads of the users of `counts` ((user_id, number of new positions
/// the user takes, at least 1), in user_id order) and advances each by its number;
/// returns each user's last position before the batch, in user_id order.
///
/// One multi-row upsert per [`CHUNK`] users (padded with `+ 0` rows of the last user so
/// that the statement comes in few shapes). With `returning` (see
/// [`MysqlStore::heads_returning`]) the upsert itself returns the heads as advanced;
/// otherwise they are read back, one read per chunk, which needs no lock of its own: the
/// rows are locked by this transaction and hold its own writes.
///
/// A user without a head row (one inserted into `users` by hand, as `sql/demo.sql` once
/// did) gets one from the upsert itself, as if their timeline were empty. So the users
/// who start at 0 (most of them new users with an empty timeline) are checked against
/// the positions on their messages' rows, in one statement: one whose timeline is not empty had no head, and starts
/// at its end ([`SQL_MOVE_HEAD`]). Creating a head can deadlock with a transaction
/// creating the same one; `MysqlStore::run` retries the loser, which then finds the row.
pub(super) fn advance_heads(
    tx: &mut Transaction<'_>,
    counts: &[(UserId, Pos)],
    returning: bool,
) -> Result<Vec<(UserId, Pos)>, Fail> {
    let mut starts: Vec<(UserId, Pos)> = Vec::with_capacity(counts.len());
    for piece in counts.chunks(CHUNK) {
        let n = padded_len(piece.len());
        let Some(&(last, _)) = piece.last() else {
            continue;
        };
        let values: Vec<Value> = (0..n)
            .flat_map(|i| {
                let (user, count) = piece.get(i).copied().unwrap_or((last, 0));
                [Value::from(user), Value::from(count)]
            })
            .collect();
        let heads: Vec<(UserId, Pos)> = if returning {
            all(tx, &sql_advance_heads_returning(n), values)?
        } else {
            tx.exec_drop(sql_advance_heads(n), values)?;
            let ids = padded_ids(piece, n, |&(user, _)| user);
            all(tx, &sql_read_heads(n), ids)?
        };
        let heads: HashMap<UserId, Pos> = heads.into_iter().collect();
        for &(user, count) in piece {
            let Some(&head) = heads.get(&user) else {
                return Err(Fail::Store(StoreError::Internal(format!(
                    "the timeline head of user {user} is missing after it was advanced"
                ))));
            };
            starts.push((user, head - count));
        }
    }
    let empty: Vec<UserId> = starts
        .iter()
        .filter(|&&(_, start)| start == 0)
        .map(|&(user, _)| user)
        .collect();
    for piece in empty.chunks(CHUNK) {
        let n = padded_len(piece.len());
        let mut ids = padded_ids(piece, n, |&user| user);
        ids.extend_from_within(..);
        let ends: Vec<(UserId, Option<Pos>)> = all(tx, &sql_timeline_ends(n), ids)?;
        for (user, end) in ends {
            let Some(end) = end.filter(|&end| end > 0) else {
                continue;
            };
            log::debug!("mysql: user {user} had no timeline head: created at {end}");
            tx.exec_drop(SQL_MOVE_HEAD, (end, user))?;
            if let Ok(i) = starts.binary_search_by_key(&user, |&(u, _)| u) {
                starts[i].1 = end;
            }
        }
    }
    Ok(starts)
}

/// Sets the heads in `heads` ((user_id, last position), in user_id order) that
/// [`advance_heads`] moved too far: the batch held keys stored before (a client's
/// retry), which took no position after all. The rows are locked by this transaction.
pub(super) fn correct_heads(tx: &mut Transaction<'_>, heads: &[(UserId, Pos)]) -> Result<(), Fail> {
    for piece in heads.chunks(CHUNK).flat_map(pieces) {
        let values: Vec<Value> = piece
            .iter()
            .flat_map(|&(user, last)| [Value::from(user), Value::from(last)])
            .collect();
        tx.exec_drop(sql_upsert_heads(piece.len()), values)?;
    }
    Ok(())
}
