//! The Lua scripts that change routes: each runs atomically in Redis, so two nodes (or
//! two connections of one user) changing one user's route never see half of each other.
//!
//! A route is the hash `NAME:route:USER` of node id → that user's logged-in connections
//! on the node; the user is online while the hash exists. Counting connections (rather
//! than a flag per node) makes a login and a logout racing on one node commute.
//! May touch: Redis, through the connection it is given.

use redis::{Connection, RedisResult, Script};
use std::sync::LazyLock;

use super::keys::Keys;
use crate::model::UserId;

/// KEYS: route, node users. ARGV: node, user. Returns 1 when the user was offline
/// everywhere before.
static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local n = redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
        redis.call('SADD', KEYS[2], ARGV[2])
        if n == 1 and redis.call('HLEN', KEYS[1]) == 1 then return 1 end
        return 0
        ",
    )
});

/// KEYS: route, node users. ARGV: node, user. Returns 1 when the user is now offline
/// everywhere.
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
        if n > 0 then return 0 end
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('SREM', KEYS[2], ARGV[2])
        if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
        return 0
        ",
    )
});

/// KEYS: route, node users. ARGV: node, user, count. Sets the node's count (0 removes
/// it). Returns 1 when the user came online everywhere, -1 when they went offline
/// everywhere, 0 otherwise.
static SET_COUNT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        local before = redis.call('EXISTS', KEYS[1])
        local n = tonumber(ARGV[3])
        if n > 0 then
            redis.call('HSET', KEYS[1], ARGV[1], n)
            redis.call('SADD', KEYS[2], ARGV[2])
        else
            redis.call('HDEL', KEYS[1], ARGV[1])
            redis.call('SREM', KEYS[2], ARGV[2])
        end
        local after = redis.call('EXISTS', KEYS[1])
        return after - before
        ",
    )
});

/// KEYS: route, dead node's liveness key. ARGV: dead node. Removes the dead node from
/// the route unless it came back. Returns 1 when the user is now offline everywhere.
static REAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
        if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
        if redis.call('EXISTS', KEYS[1]) == 0 then return 1 end
        return 0
        ",
    )
});

/// KEYS: dead node's liveness key, node users, registry. ARGV: dead node. Forgets the
/// node unless it came back.
static FORGET: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        redis.call('DEL', KEYS[2])
        redis.call('HDEL', KEYS[3], ARGV[1])
        return 1
        ",
    )
});

/// One more connection of `user` on `node`; true if the user was offline everywhere.
pub fn join(conn: &mut Connection, keys: &Keys, node: &str, user: UserId) -> RedisResult<bool> {
    let first: i64 = JOIN
        .key(keys.route(user))
        .key(keys.node_users(node))
        .arg(node)
        .arg(user)
        .invoke(conn)?;
    Ok(first == 1)
}

/// One connection fewer; true if the user is now offline everywhere.
pub fn leave(conn: &mut Connection, keys: &Keys, node: &str, user: UserId) -> RedisResult<bool> {
    let last: i64 = LEAVE
        .key(keys.route(user))
        .key(keys.node_users(node))
        .arg(node)
        .arg(user)
        .invoke(conn)?;
    Ok(last == 1)
}

/// Sets the user's count on `node` (re-registration); `Some(true)` when they came
/// online everywhere, `Some(false)` when they went offline everywhere.
pub fn set_count(
    conn: &mut Connection,
    keys: &Keys,
    node: &str,
    user: UserId,
    count: usize,
) -> RedisResult<Option<bool>> {
    let change: i64 = SET_COUNT
        .key(keys.route(user))
        .key(keys.node_users(node))
        .arg(node)
        .arg(user)
        .arg(count)
        .invoke(conn)?;
    Ok(match change {
        1 => Some(true),
        -1 => Some(false),
        _ => None,
    })
}

/// Takes a dead node out of `user`'s route; true if the user is now offline everywhere.
pub fn reap(conn: &mut Connection, keys: &Keys, dead: &str, user: UserId) -> RedisResult<bool> {
    let gone: i64 = REAP
        .key(keys.route(user))
        .key(keys.alive(dead))
        .arg(dead)
        .invoke(conn)?;
    Ok(gone == 1)
}

/// Forgets a dead node's registration and user set (unless it came back).
pub fn forget(conn: &mut Connection, keys: &Keys, dead: &str) -> RedisResult<bool> {
    let done: i64 = FORGET
        .key(keys.alive(dead))
        .key(keys.node_users(dead))
        .key(keys.nodes())
        .arg(dead)
        .invoke(conn)?;
    Ok(done == 1)
}
