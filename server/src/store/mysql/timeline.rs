//! Timeline positions in the MySQL batch transaction: locking the timeline heads of a
//! batch's users, and writing the timeline rows and the new heads.
//!
//! Why the lock comes first: [`lock_heads`] runs before the batch's messages are
//! inserted, and takes the heads' row locks in user_id order. Two transactions (on one
//! node or on several) that share a user therefore run one after the other from that
//! point on, so the second one's auto-increment ids, taken after the first committed,
//! are higher: within a conversation `msg_id` follows commit order, and positions (read
//! under the lock) never repeat or skip. Transactions lock in one global order, so they
//! cannot deadlock on the heads. May touch `timeline` and `timeline_heads` only, inside
//! the transaction it is given; never commits, never retries (`MysqlStore::run` does).

use std::collections::BTreeSet;

use mysql::prelude::Queryable;
use mysql::{Transaction, Value};

use super::errors::Fail;
use super::rows::{all, first};
use super::sql::{
    padded_len, pow2_pieces, sql_insert_timeline, sql_lock_heads, sql_upsert_heads, CHUNK,
    SQL_CREATE_HEAD, SQL_MAX_POS,
};
use crate::model::{Pos, UserId};
use crate::store::shared::Positions;

/// Locks the timeline heads of `users` (in user_id order, [`CHUNK`] ids per statement)
/// and returns each user's last position.
///
/// A user without a head row (one inserted into `users` by hand, as `sql/demo.sql`
/// does) gets one here, at the end of their timeline (0 when it is empty). That insert
/// comes after the ordered locks, so it can deadlock with a transaction creating the
/// same head; `MysqlStore::run` retries the loser, which then finds the row. It happens
/// once per such user.
pub(super) fn lock_heads(
    tx: &mut Transaction<'_>,
    users: &BTreeSet<UserId>,
) -> Result<Vec<(UserId, Pos)>, Fail> {
    let users: Vec<UserId> = users.iter().copied().collect();
    let mut heads: Vec<(UserId, Pos)> = Vec::with_capacity(users.len());
    for piece in users.chunks(CHUNK) {
        // Padded with the last id, so that the statement comes in few shapes.
        let n = padded_len(piece.len());
        let last = piece.last().copied().unwrap_or_default();
        let ids: Vec<Value> = (0..n)
            .map(|i| Value::from(piece.get(i).copied().unwrap_or(last)))
            .collect();
        heads.extend(all::<(UserId, Pos), _>(tx, &sql_lock_heads(n), ids)?);
    }
    if heads.len() < users.len() {
        let found: BTreeSet<UserId> = heads.iter().map(|&(user, _)| user).collect();
        for &user in users.iter().filter(|u| !found.contains(u)) {
            let end: Option<Option<Pos>> = first(tx, SQL_MAX_POS, (user,))?;
            let end = end.flatten().unwrap_or(0);
            log::debug!("mysql: user {user} had no timeline head: created at {end}");
            tx.exec_drop(SQL_CREATE_HEAD, (user, end))?;
            heads.push((user, end));
        }
    }
    Ok(heads)
}

/// Timeline rows per multi-row insert at most: a message has two, and a row is three
/// integers, so twice [`CHUNK`] (a power of two: see [`pow2_pieces`]).
const TIMELINE_CHUNK: usize = 2 * CHUNK;

/// Inserts the timeline rows `positions` handed out (multi-row, in (user_id, pos)
/// order) and writes the heads that moved (one multi-row upsert per [`CHUNK`]).
pub(super) fn write_positions(tx: &mut Transaction<'_>, positions: &Positions) -> Result<(), Fail> {
    let rows = positions.rows();
    for piece in rows.chunks(TIMELINE_CHUNK).flat_map(pow2_pieces) {
        let values: Vec<Value> = piece
            .iter()
            .flat_map(|&(user, pos, msg_id)| {
                [Value::from(user), Value::from(pos), Value::from(msg_id)]
            })
            .collect();
        tx.exec_drop(sql_insert_timeline(piece.len()), values)?;
    }
    let heads = positions.moved_heads();
    for piece in heads.chunks(CHUNK).flat_map(pow2_pieces) {
        let values: Vec<Value> = piece
            .iter()
            .flat_map(|&(user, last)| [Value::from(user), Value::from(last)])
            .collect();
        tx.exec_drop(sql_upsert_heads(piece.len()), values)?;
    }
    Ok(())
}
