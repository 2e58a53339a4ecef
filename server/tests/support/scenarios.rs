//! Helpers shared by the protocol scenarios (`protocol_accounts.rs`, `protocol_friends.rs`,
//! `protocol_messages.rs`, `protocol_limits.rs`): checks of the protocol's objects and
//! timestamps, list responses, and message batches between two friends.
//!
//! Include it with `#[path = "support/scenarios.rs"] mod scenarios;` next to
//! `#[path = "support/client.rs"] mod client;` and the harness (it uses `crate::client` and
//! `crate::harness`).

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::client::{befriend, int, Client};
use crate::harness::TestServer;

/// How long a negative push check waits.
pub const QUIET: Duration = Duration::from_millis(400);

/// Now, in ms since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Asserts `ts` is a plausible server timestamp (ms since the epoch, within a minute).
pub fn assert_recent_ts(v: &Value, key: &str) {
    let ts = int(v, key);
    let now = now_ms();
    assert!(
        (now - 60_000..=now + 60_000).contains(&ts),
        "{key} = {ts} is not a current ms timestamp (now {now}): {v}"
    );
}

/// Asserts `u` is a user object `{user_id, username, nickname, avatar, online}` for
/// `user_id`/`username`, with exactly those keys.
pub fn assert_user(u: &Value, user_id: i64, username: &str) {
    let keys: BTreeSet<&str> = u
        .as_object()
        .unwrap_or_else(|| panic!("user is not an object: {u}"))
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["user_id", "username", "nickname", "avatar", "online"]),
        "user object keys: {u}"
    );
    assert_eq!(u["user_id"], json!(user_id), "{u}");
    assert_eq!(u["username"], json!(username), "{u}");
    assert!(u["nickname"].is_string(), "{u}");
    assert!(u["avatar"].is_string(), "{u}");
    assert!(u["online"].is_boolean(), "{u}");
}

/// The `more` flag of a list response (asserting it is a bool).
pub fn more(resp: &Value) -> bool {
    resp["more"]
        .as_bool()
        .unwrap_or_else(|| panic!("list response without a bool `more`: {resp}"))
}

/// `resp[key]` as an array.
pub fn list<'a>(resp: &'a Value, key: &str) -> &'a Vec<Value> {
    resp[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key:?} is not an array: {resp}"))
}

/// The `msg_id`s of `messages`, in order.
pub fn ids(messages: &[Value]) -> Vec<i64> {
    messages.iter().map(|m| int(m, "msg_id")).collect()
}

/// Two logged-in friends, alice and bob (pushes on).
pub fn friends_pair(server: &TestServer) -> (Client, Client) {
    let mut alice = Client::new_user(server.addr(), "alice");
    let mut bob = Client::new_user(server.addr(), "bob");
    befriend(&mut alice, &mut bob);
    (alice, bob)
}

/// `n` messages `(client_msg_id, text)` with the given prefix.
pub fn batch(prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("{prefix}-{i}"), format!("{prefix} message {i}")))
        .collect()
}

pub fn emoji(n: usize) -> String {
    "😀".repeat(n)
}
