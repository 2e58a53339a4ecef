//! The batched message insert behind [`Store::insert_messages`]: one transaction, in the
//! common case a handful of multi-row statements per chunk of the batch whatever its size.
//!
//! The order of the transaction:
//!
//! 1. Lock and advance the timeline heads of every user of the batch
//!    ([`timeline::advance_heads`]: first, in user_id order, so that transactions
//!    sharing a user serialise before they take message ids), each by the number of
//!    positions the user takes if every distinct key of the batch is new, and learn the
//!    advanced heads (returned by the upsert itself on MariaDB, read back on MySQL): each
//!    user's first new position follows.
//! 2. Insert the messages, in batch order, each with its sender's and recipient's
//!    positions (`from_pos`, `to_pos`), handed out in batch order ([`Positions`]).
//! 3. If the batch held keys stored before (a client's retry: the chunk's insert fails
//!    with a duplicate key), those take no position: the chunk's positions are given
//!    back, its originals are read (with their positions, from their rows), its new
//!    messages inserted with the next positions, and at the end the heads that moved too
//!    far are set where the new messages took them ([`timeline::correct_heads`]: the
//!    rows are still locked, so no other transaction ever sees the overshoot).
//! 4. Upsert both participants' conversation rows of the new messages. (The positions
//!    on the messages' rows are the timelines' entries: nothing else is written.)
//!
//! Why the heads are advanced for every distinct key before knowing which are new:
//! positions are columns of the message row, so they must be known before the insert,
//! and the insert (its unique index) is what finds the retries, which are rare (a lost
//! ack). Finding them first instead costs every batch more: measured on MariaDB 10.11
//! with 1,024-message batches, a look-up of all the batch's keys on `messages_client`
//! before the lock took 7.8 ms a batch (of about 55), and locking with `+ 0` first to
//! advance after that look-up 5.2 ms more; advancing optimistically costs nothing in the
//! common case, and one corrective upsert in a batch that held a retry.
//!
//! A batch is cut into chunks of at most [`CHUNK`] rows and about [`CHUNK_BYTES`] bytes,
//! each a power of two long so that statements come in few shapes (and stay prepared).
//! Inserted ids are `first, first + 1, ...` when the server hands out consecutive ids
//! ([`MysqlStore::consecutive_ids`]), else read back by key. Runs only inside the
//! transaction it is given; never commits, never retries (the caller does).

use std::collections::{HashMap, HashSet};

use mysql::prelude::Queryable;
use mysql::{Transaction, Value};

use super::errors::{server_code, Fail, ER_DUP_ENTRY};
use super::rows::{all, original_of, OriginalRow};
use super::sql::{
    pieces, sql_ids_by_keys, sql_insert_messages, sql_messages_by_keys, sql_upsert_conversations,
    CHUNK,
};
use super::timeline;
#[cfg(doc)]
use super::MysqlStore;
use crate::model::{Message, MsgId, NewMessage, Pos, UserId};
use crate::store::shared::{ConversationHeads, Positions};
#[cfg(doc)]
use crate::store::Store;
use crate::store::{StoreError, Stored};

/// Text per multi-row insert, roughly: well under any server's `max_allowed_packet`
/// (4 MiB on old MySQL defaults), whatever the batch size.
const CHUNK_BYTES: usize = 1 << 20;

/// Splits messages into runs of at most [`CHUNK`] messages and about [`CHUNK_BYTES`]
/// bytes (a run holds at least one message, however long), each run's length a power of
/// two.
fn insert_chunks<'a>(messages: &'a [&'a NewMessage]) -> Vec<&'a [&'a NewMessage]> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, m) in messages.iter().enumerate() {
        let size = m.text.len() + m.client_msg_id.len() + 64;
        if i > start && (i - start == CHUNK || bytes + size > CHUNK_BYTES) {
            chunks.push(&messages[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < messages.len() {
        chunks.push(&messages[start..]);
    }
    chunks.into_iter().flat_map(pieces).collect()
}

/// The `(from_id, client_msg_id)` key of a message.
type Key<'a> = (UserId, &'a str);

/// What the batch knows of one key: the message (with the sender's `pos`), the
/// recipient's `pos`, and whether this batch stored it.
struct Entry {
    message: Message,
    recipient_pos: Pos,
    new: bool,
}

/// The `(from_id, client_msg_id)` pairs of `chunk`, flattened as statement parameters.
fn key_values(chunk: &[&NewMessage]) -> Vec<Value> {
    chunk
        .iter()
        .flat_map(|m| [Value::from(m.from), Value::from(m.client_msg_id.as_str())])
        .collect()
}

/// Inserts `chunk` in order with one statement, each message at its (sender's,
/// recipient's) positions `at`; `Ok(first msg_id)`.
fn insert_rows(
    tx: &mut Transaction<'_>,
    chunk: &[&NewMessage],
    at: &[(Pos, Pos)],
) -> Result<u64, mysql::Error> {
    let values: Vec<Value> = chunk
        .iter()
        .zip(at)
        .flat_map(|(m, &(sender, recipient))| {
            [
                Value::from(m.from),
                Value::from(m.to),
                Value::from(m.text.as_str()),
                Value::from(m.ts),
                Value::from(m.client_msg_id.as_str()),
                Value::from(sender),
                Value::from(recipient),
            ]
        })
        .collect();
    tx.exec_drop(sql_insert_messages(chunk.len()), values)?;
    Ok(tx.last_insert_id().unwrap_or(0))
}

/// The ids `chunk`'s rows got from [`insert_rows`], in chunk order. With consecutive
/// auto-increment ids (see [`MysqlStore::consecutive_ids`]) they are `first`, `first + 1`,
/// ...; otherwise they are read back by key.
fn inserted_ids(
    tx: &mut Transaction<'_>,
    chunk: &[&NewMessage],
    first: u64,
    consecutive: bool,
) -> Result<Vec<MsgId>, Fail> {
    let first = i64::try_from(first).unwrap_or(0);
    if consecutive && first > 0 {
        return Ok((0..chunk.len() as i64).map(|i| first + i).collect());
    }
    let sql = sql_ids_by_keys(chunk.len());
    let rows = all::<(i64, i64, String), _>(tx, &sql, key_values(chunk))?;
    let ids: HashMap<Key<'_>, MsgId> = rows
        .iter()
        .map(|(msg_id, from, client_msg_id)| ((*from, client_msg_id.as_str()), *msg_id))
        .collect();
    chunk
        .iter()
        .map(|m| {
            ids.get(&(m.from, m.client_msg_id.as_str()))
                .copied()
                .ok_or_else(|| {
                    Fail::Store(StoreError::Internal(
                        "an inserted message could not be read back".into(),
                    ))
                })
        })
        .collect()
}

/// Notes that this batch stored `m` as `msg_id` at (sender's, recipient's) positions.
fn record<'a>(
    m: &'a NewMessage,
    msg_id: MsgId,
    (pos, recipient_pos): (Pos, Pos),
    stored: &mut HashMap<Key<'a>, Entry>,
) {
    let entry = Entry {
        message: m.stored_as(msg_id, pos),
        recipient_pos,
        new: true,
    };
    stored.insert((m.from, m.client_msg_id.as_str()), entry);
}

/// Inserts `chunk` at the next positions of `positions`, and records the new messages.
fn insert_new<'a>(
    tx: &mut Transaction<'_>,
    chunk: &[&'a NewMessage],
    positions: &mut Positions,
    consecutive: bool,
    stored: &mut HashMap<Key<'a>, Entry>,
) -> Result<(), Fail> {
    let at: Vec<(Pos, Pos)> = chunk
        .iter()
        .map(|m| positions.assign(m.from, m.to))
        .collect();
    let first = insert_rows(tx, chunk, &at)?;
    let ids = inserted_ids(tx, chunk, first, consecutive)?;
    for ((m, msg_id), at) in chunk.iter().zip(ids).zip(at) {
        record(m, msg_id, at, stored);
    }
    Ok(())
}

/// Stores a batch in the open transaction `tx` (see [`Store::insert_messages`] and the
/// module docs for the order of the statements). `consecutive`: see
/// [`MysqlStore::consecutive_ids`]; `returning`: see [`MysqlStore::heads_returning`].
///
/// The common case is one multi-row `INSERT` per chunk and, when ids are consecutive,
/// nothing else for the messages. A chunk holding a key stored before (a client's
/// retry) fails that `INSERT` with a duplicate-key error, which rolls back that
/// statement only; the chunk then takes the careful path: give its positions back, look
/// its keys up (with their original positions), insert the new ones, read their ids
/// back.
pub(super) fn insert_batch(
    tx: &mut Transaction<'_>,
    batch: &[NewMessage],
    consecutive: bool,
    returning: bool,
) -> Result<Vec<Stored>, Fail> {
    // The distinct keys of the batch, first occurrence first.
    let mut seen: HashSet<Key<'_>> = HashSet::with_capacity(batch.len());
    let distinct: Vec<&NewMessage> = batch
        .iter()
        .filter(|m| seen.insert((m.from, m.client_msg_id.as_str())))
        .collect();

    // First of all, the timeline heads of everyone the batch touches, in user_id order,
    // advanced by the positions the distinct keys take if they are all new.
    let mut tally = Positions::default();
    for m in &distinct {
        tally.assign(m.from, m.to);
    }
    let counts = tally.moved_heads();
    let starts = timeline::advance_heads(tx, &counts, returning)?;
    let advanced: Vec<(UserId, Pos)> = counts
        .iter()
        .zip(&starts)
        .map(|(&(user, count), &(_, start))| (user, start + count))
        .collect();
    let mut positions = Positions::new(starts);

    // Each key's message, and whether this batch stored it.
    let mut stored: HashMap<Key<'_>, Entry> = HashMap::with_capacity(distinct.len());
    for chunk in insert_chunks(&distinct) {
        let e = match insert_new(tx, chunk, &mut positions, consecutive, &mut stored) {
            Ok(()) => continue,
            Err(Fail::Db(e)) if server_code(&e) == Some(ER_DUP_ENTRY) => e,
            Err(e) => return Err(e),
        };
        log::debug!("mysql: a chunk holds keys stored before ({e}): one by one");
        for m in chunk.iter().rev() {
            positions.unassign(m.from, m.to);
        }
        let sql = sql_messages_by_keys(chunk.len());
        for row in all::<OriginalRow, _>(tx, &sql, key_values(chunk))? {
            let (message, recipient_pos) = original_of(row);
            let Some(m) = chunk
                .iter()
                .find(|m| m.from == message.from && m.client_msg_id == message.client_msg_id)
            else {
                continue;
            };
            let entry = Entry {
                message,
                recipient_pos,
                new: false,
            };
            stored.insert((m.from, m.client_msg_id.as_str()), entry);
        }
        let fresh: Vec<&NewMessage> = chunk
            .iter()
            .copied()
            .filter(|m| !stored.contains_key(&(m.from, m.client_msg_id.as_str())))
            .collect();
        if !fresh.is_empty() {
            // The heads of every sender are locked by this transaction, so no other one
            // can store one of these keys now: a duplicate here is a bug, and the whole
            // transaction is retried (see `MysqlStore::run`).
            insert_new(tx, &fresh, &mut positions, consecutive, &mut stored)?;
        }
    }

    // Retries took no position: heads that moved too far go back to the last position
    // handed out (both lists hold the batch's users, in user_id order).
    let now = positions.heads();
    if now != advanced {
        let wrong: Vec<(UserId, Pos)> = now
            .into_iter()
            .zip(&advanced)
            .filter(|(head, advanced)| head != *advanced)
            .map(|(head, _)| head)
            .collect();
        timeline::correct_heads(tx, &wrong)?;
    }

    // The conversation heads the new messages move.
    let mut conversations = ConversationHeads::default();
    for entry in stored.values().filter(|e| e.new) {
        conversations.record(&entry.message);
    }

    // Both participants' conversation lists, in key order (a stable lock order).
    let conversations: Vec<((UserId, UserId), MsgId)> = conversations.0.into_iter().collect();
    for chunk in conversations.chunks(CHUNK).flat_map(pieces) {
        let values: Vec<Value> = chunk
            .iter()
            .flat_map(|&((user, peer), last)| {
                [Value::from(user), Value::from(peer), Value::from(last)]
            })
            .collect();
        tx.exec_drop(sql_upsert_conversations(chunk.len()), values)?;
    }

    // One result per input: new for the first occurrence of a key this batch stored; a
    // repeated key copies its first occurrence.
    let mut out: Vec<Stored> = Vec::with_capacity(batch.len());
    let mut first_at: HashMap<Key<'_>, usize> = HashMap::with_capacity(distinct.len());
    for m in batch {
        let key = (m.from, m.client_msg_id.as_str());
        if let Some(&i) = first_at.get(&key) {
            let repeat = out[i].repeat();
            out.push(repeat);
            continue;
        }
        let Some(entry) = stored.remove(&key) else {
            return Err(Fail::Store(StoreError::Internal(
                "a message of the batch is missing after insert".into(),
            )));
        };
        first_at.insert(key, out.len());
        out.push(Stored {
            message: entry.message,
            recipient_pos: entry.recipient_pos,
            new: entry.new,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_mysql_db as mysql_db;
    use super::super::MysqlStore;
    use super::*;
    use crate::store::Store;

    /// Both ways of learning the advanced heads (returned by the upsert, read back after
    /// it) give the same positions: with a retry in the batch (its heads corrected), a
    /// user without a head row and with an empty timeline (one inserted by hand: starts
    /// at 0), and a user whose head row is gone but whose timeline is not (continues at
    /// its end).
    #[test]
    fn heads_advance_alike_both_ways() {
        let db = mysql_db::TestDb::new();
        let mut store = MysqlStore::open(&db.url(), 2).unwrap();
        let mut conn = store.pool.get_conn().unwrap();
        let version: String = conn.query_first("SELECT VERSION()").unwrap().unwrap();
        assert_eq!(
            store.heads_returning,
            version.contains("MariaDB"),
            "probed on {version}"
        );
        for returning in [true, false] {
            store.heads_returning = returning;
            let name = |n: &str| format!("hd_{n}_{returning}");
            let a = store.create_user(&name("a"), "h", "", None).unwrap();
            let b = store.create_user(&name("b"), "h", "", None).unwrap();
            conn.exec_drop(
                "INSERT INTO users (username, username_key, password_hash, created_ms) \
                 VALUES (?, ?, 'h', 1)",
                (name("hand"), name("hand")),
            )
            .unwrap();
            let hand = i64::try_from(conn.last_insert_id()).unwrap();
            let msg = |from: UserId, to: UserId, key: &str| NewMessage {
                from,
                to,
                text: key.into(),
                ts: 0,
                client_msg_id: key.into(),
            };
            let first = store
                .insert_messages(&[msg(a, b, "1"), msg(b, a, "2"), msg(a, a, "3")])
                .unwrap();
            let got: Vec<(Pos, Pos)> = first
                .iter()
                .map(|s| (s.message.pos, s.recipient_pos))
                .collect();
            assert_eq!(got, [(1, 1), (2, 2), (3, 3)]);
            conn.exec_drop("DELETE FROM timeline_heads WHERE user_id = ?", (b,))
                .unwrap();
            let out = store
                .insert_messages(&[
                    msg(a, b, "1"),
                    msg(b, hand, "4"),
                    msg(hand, a, "5"),
                    msg(a, b, "6"),
                ])
                .unwrap();
            let got: Vec<(bool, Pos, Pos)> = out
                .iter()
                .map(|s| (s.new, s.message.pos, s.recipient_pos))
                .collect();
            assert_eq!(
                got,
                [(false, 1, 1), (true, 3, 1), (true, 2, 4), (true, 5, 4)],
                "returning {returning}"
            );
            for (user, last) in [(a, 5), (b, 4), (hand, 2)] {
                assert_eq!(store.last_pos(user).unwrap(), last, "returning {returning}");
                let positions: Vec<Pos> = store
                    .sync(user, 0, 100)
                    .unwrap()
                    .iter()
                    .map(|m| m.pos)
                    .collect();
                assert_eq!(positions, (1..=last).collect::<Vec<Pos>>());
            }
        }
    }

    #[test]
    fn insert_chunks_bound_rows_and_bytes() {
        let new = |text: String| NewMessage {
            from: 1,
            to: 2,
            text,
            ts: 0,
            client_msg_id: "c".into(),
        };
        let many: Vec<NewMessage> = (0..1201).map(|_| new("x".into())).collect();
        let refs: Vec<&NewMessage> = many.iter().collect();
        let sizes: Vec<usize> = insert_chunks(&refs).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [512, 512, 128, 32, 16, 1]);
        let big: Vec<NewMessage> = (0..5).map(|_| new("y".repeat(400_000))).collect();
        let refs: Vec<&NewMessage> = big.iter().collect();
        let sizes: Vec<usize> = insert_chunks(&refs).iter().map(|c| c.len()).collect();
        assert_eq!(sizes, [2, 2, 1]);
        let huge = [new("z".repeat(3 << 20))];
        let refs: Vec<&NewMessage> = huge.iter().collect();
        assert_eq!(insert_chunks(&refs).len(), 1);
        assert!(insert_chunks(&[]).is_empty());
    }

    /// Both ways of learning inserted ids (consecutive ids, read back by key) give every
    /// message the id the database holds, also when retries of stored messages are mixed
    /// into a batch (the duplicate-key path) and a key repeats within the batch.
    #[test]
    fn inserted_ids_match_the_rows_both_ways() {
        let db = mysql_db::TestDb::new();
        let mut store = MysqlStore::open(&db.url(), 2).unwrap();
        assert!(
            store.consecutive_ids,
            "MariaDB's default mode 1 gives consecutive ids"
        );
        let a = store.create_user("ids_a", "h", "", None).unwrap();
        let b = store.create_user("ids_b", "h", "", None).unwrap();
        let msg = |i: usize| NewMessage {
            from: if i.is_multiple_of(2) { a } else { b },
            to: if i.is_multiple_of(2) { b } else { a },
            text: format!("text {i}"),
            ts: i as i64,
            client_msg_id: format!("c{i}"),
        };
        let mut all_stored = Vec::new();
        for consecutive in [true, false] {
            store.consecutive_ids = consecutive;
            let base = if consecutive { 0 } else { 1000 };
            let fresh: Vec<NewMessage> = (base..base + 20).map(msg).collect();
            let stored = store.insert_messages(&fresh).unwrap();
            assert!(stored.iter().all(|s| s.new));
            // Retries of 0..5 of the batch above, new ones, and a key twice.
            let mut mixed: Vec<NewMessage> = (base..base + 5).map(msg).collect();
            mixed.extend((base + 20..base + 30).map(msg));
            mixed.push(msg(base + 25));
            let again = store.insert_messages(&mixed).unwrap();
            assert_eq!(again.len(), mixed.len());
            for (s, m) in again.iter().zip(&mixed) {
                assert_eq!(
                    (s.message.from, &s.message.client_msg_id),
                    (m.from, &m.client_msg_id)
                );
            }
            let news: Vec<bool> = again.iter().map(|s| s.new).collect();
            let mut expect = vec![false; 5];
            expect.extend([true; 10]);
            expect.push(false);
            assert_eq!(news, expect, "consecutive {consecutive}");
            for i in 0..5 {
                assert_eq!(again[i].message.msg_id, stored[i].message.msg_id);
            }
            assert_eq!(again[15].message.msg_id, again[10].message.msg_id);
            all_stored.extend(stored);
            all_stored.extend(again);
        }
        for s in &all_stored {
            let row = store
                .message_by_client_id(s.message.from, &s.message.client_msg_id)
                .unwrap()
                .unwrap();
            assert_eq!(row, s.message);
        }
        let history = store.history(a, b, None, 1000).unwrap();
        assert_eq!(history.len(), 60);
    }
}
