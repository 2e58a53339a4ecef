//! The wire contract (`shared/protocol.md`), end to end over TCP against the real binary.
//!
//! Every op, push, error code and limit, on both stores: each scenario is a
//! `fn NAME(store: StoreKind)` run as `sqlite::NAME` and `mysql::NAME` (see
//! [`harness::both_stores`]). Every scenario starts its own server on a fresh store, so
//! scenarios run in parallel. Negative push checks wait [`QUIET`]; everything else waits
//! generously ([`client::TIMEOUT`]) and asserts exact content.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[macro_use]
#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::{json, Value};

use client::{
    befriend, error_code, error_message, frame_bytes, int, sleep_ms, Client, ReadError, PASSWORD,
    TIMEOUT,
};
use harness::{StoreKind, TestServer};

/// How long a negative push check waits.
const QUIET: Duration = Duration::from_millis(400);

both_stores!(
    ping,
    register_validation,
    login_flow,
    logout_flow,
    unauthenticated_everywhere,
    search_user,
    profiles,
    friend_flow,
    presence,
    send_message_pushes,
    send_message_errors,
    text_round_trip,
    idempotent_send,
    sync_paging,
    history_paging,
    conversations_and_read,
    bad_input,
    frame_errors,
    random_garbage,
    slow_consumer_is_disconnected,
    login_timeout,
    idle_timeout,
    max_connections,
    rate_limit,
);

// ---- helpers ------------------------------------------------------------------------

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Asserts `ts` is a plausible server timestamp (ms since the epoch, within a minute).
fn assert_recent_ts(v: &Value, key: &str) {
    let ts = int(v, key);
    let now = now_ms();
    assert!(
        (now - 60_000..=now + 60_000).contains(&ts),
        "{key} = {ts} is not a current ms timestamp (now {now}): {v}"
    );
}

/// Asserts `u` is a user object `{user_id, username, nickname, avatar, online}` for
/// `user_id`/`username`, with exactly those keys.
fn assert_user(u: &Value, user_id: i64, username: &str) {
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

/// Asserts `m` is the message object `{msg_id, from, to, text, ts, client_msg_id}`.
fn assert_message(m: &Value, msg_id: i64, from: i64, to: i64, text: &str, cmid: &str) {
    let keys: BTreeSet<&str> = m
        .as_object()
        .unwrap_or_else(|| panic!("message is not an object: {m}"))
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "type")
        .collect();
    assert_eq!(
        keys,
        BTreeSet::from(["msg_id", "from", "to", "text", "ts", "client_msg_id"]),
        "message object keys: {m}"
    );
    assert_eq!(m["msg_id"], json!(msg_id), "{m}");
    assert_eq!(m["from"], json!(from), "{m}");
    assert_eq!(m["to"], json!(to), "{m}");
    assert_eq!(m["text"], json!(text), "{m}");
    assert_eq!(m["client_msg_id"], json!(cmid), "{m}");
    assert_recent_ts(m, "ts");
}

/// The `more` flag of a list response (asserting it is a bool).
fn more(resp: &Value) -> bool {
    resp["more"]
        .as_bool()
        .unwrap_or_else(|| panic!("list response without a bool `more`: {resp}"))
}

/// `resp[key]` as an array.
fn list<'a>(resp: &'a Value, key: &str) -> &'a Vec<Value> {
    resp[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key:?} is not an array: {resp}"))
}

fn ids(messages: &[Value]) -> Vec<i64> {
    messages.iter().map(|m| int(m, "msg_id")).collect()
}

/// Two logged-in friends, alice and bob (pushes on).
fn friends_pair(server: &TestServer) -> (Client, Client) {
    let mut alice = Client::new_user(server.addr(), "alice");
    let mut bob = Client::new_user(server.addr(), "bob");
    befriend(&mut alice, &mut bob);
    (alice, bob)
}

/// `n` messages `(client_msg_id, text)` with the given prefix.
fn batch(prefix: &str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("{prefix}-{i}"), format!("{prefix} message {i}")))
        .collect()
}

/// Sends a batch pipelined and returns the acked msg_ids (all must be ok).
fn send_all(c: &mut Client, to: i64, msgs: &[(String, String)]) -> Vec<i64> {
    c.send_pipelined(to, msgs, 64)
        .iter()
        .map(|r| {
            assert_eq!(r["ok"], json!(true), "send failed: {r}");
            int(r, "msg_id")
        })
        .collect()
}

fn emoji(n: usize) -> String {
    "😀".repeat(n)
}

/// A frame that could not be read as a request: `{"type":"error","ok":false,...}`.
fn assert_error_frame(frame: &Value, code: &str) {
    assert_eq!(frame["type"], json!("error"), "{frame}");
    assert_eq!(frame["ok"], json!(false), "{frame}");
    assert_eq!(frame["error"]["code"], json!(code), "{frame}");
}

// ---- scenarios ----------------------------------------------------------------------

fn ping(store: StoreKind) {
    let server = TestServer::start(store);
    let mut c = Client::connect(server.addr());
    let resp = c.request_ok("ping", Value::Null);
    assert_recent_ts(&resp, "ts");

    // Without seq: no seq (or null) in the response.
    c.write_json(&json!({"type": "ping"}));
    let resp = c.read_raw_response();
    assert_eq!(resp["type"], json!("ping"), "{resp}");
    assert_eq!(resp["ok"], json!(true), "{resp}");
    assert!(resp.get("seq").is_none_or(Value::is_null), "{resp}");

    // Extreme seqs are echoed exactly; unknown fields are ignored.
    for seq in [0, u64::MAX, 1 << 53] {
        c.write_json(&json!({"type": "ping", "seq": seq, "zzz": {"a": [1, 2]}, "user_id": 5}));
        let resp = c.read_raw_response();
        assert_eq!(resp["seq"], json!(seq), "{resp}");
        assert_eq!(resp["ok"], json!(true), "{resp}");
    }
}

fn register_validation(store: StoreKind) {
    let server = TestServer::start(store);
    let mut c = Client::connect(server.addr());
    let reg = |c: &mut Client, fields: Value| c.request_ok("register", fields);
    let mut ids = BTreeSet::new();
    let mut ok = |c: &mut Client, fields: Value| {
        let resp = reg(c, fields);
        assert!(ids.insert(int(&resp, "user_id")), "user_id reused: {resp}");
    };

    // Valid boundaries.
    ok(&mut c, json!({"username": "abc", "password": "12345678"}));
    ok(
        &mut c,
        json!({"username": "a".repeat(32), "password": "p".repeat(128)}),
    );
    ok(&mut c, json!({"username": "Ab_.-9", "password": PASSWORD}));
    // Passwords count UTF-8 bytes: 4 chars, 8 bytes is valid; 64 chars, 128 bytes too.
    ok(&mut c, json!({"username": "pw_utf8", "password": "éééé"}));
    ok(
        &mut c,
        json!({"username": "pw_utf8_max", "password": "é".repeat(64)}),
    );
    ok(
        &mut c,
        json!({"username": "nick_max", "password": PASSWORD, "nickname": emoji(64)}),
    );
    ok(
        &mut c,
        json!({"username": "with_email", "password": PASSWORD, "email": "x@example.com"}),
    );

    // Usernames: 3..=32 of [A-Za-z0-9_.-].
    for bad in [
        "",
        "ab",
        &"a".repeat(33),
        "a b",
        "ab!",
        "üsr",
        "ab/c",
        "a\u{0}b",
        "abc@d",
        "日本語",
    ] {
        c.request_bad_field(
            "register",
            json!({"username": bad, "password": PASSWORD}),
            "username",
        );
    }
    c.request_bad_field(
        "register",
        json!({"username": 42, "password": PASSWORD}),
        "username",
    );
    c.request_bad_field("register", json!({"password": PASSWORD}), "username");

    // Passwords: 8..=128 bytes.
    for bad in [
        "1234567".to_string(),
        "éééa".to_string(), // 4 chars but 7 bytes
        "p".repeat(129),
        format!("{}a", "é".repeat(64)), // 65 chars, 129 bytes
        String::new(),
    ] {
        c.request_bad_field(
            "register",
            json!({"username": "pw_short", "password": bad}),
            "password",
        );
    }
    c.request_bad_field("register", json!({"username": "pw_short"}), "password");
    c.request_bad_field(
        "register",
        json!({"username": "pw_short", "password": 12345678}),
        "password",
    );

    // Nicknames: at most 64 characters.
    for bad in ["n".repeat(65), emoji(65)] {
        c.request_bad_field(
            "register",
            json!({"username": "nick_long", "password": PASSWORD, "nickname": bad}),
            "nickname",
        );
    }

    // Failed registrations stored nothing.
    ok(
        &mut c,
        json!({"username": "pw_short", "password": PASSWORD}),
    );
    ok(
        &mut c,
        json!({"username": "nick_long", "password": PASSWORD}),
    );

    // Unique without regard to ASCII case.
    ok(&mut c, json!({"username": "alice", "password": PASSWORD}));
    for dup in ["alice", "ALICE", "Alice", "aLiCe"] {
        c.request_err(
            "register",
            json!({"username": dup, "password": PASSWORD}),
            "user_exists",
        );
    }
    // The connection is still usable and unauthenticated.
    c.request_err("friends", Value::Null, "unauthenticated");
    c.request_ok("ping", Value::Null);
}

fn login_flow(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut c1 = Client::connect(addr);
    let id = int(
        &c1.request_ok(
            "register",
            json!({"username": "alice", "password": PASSWORD, "nickname": "Alice A"}),
        ),
        "user_id",
    );
    let resp = c1.login("alice", PASSWORD, true);
    assert_eq!(resp["user_id"], json!(id), "{resp}");
    assert_eq!(resp["username"], json!("alice"), "{resp}");
    assert_eq!(resp["nickname"], json!("Alice A"), "{resp}");
    let token = resp["token"].as_str().unwrap().to_string();
    assert!(!token.is_empty());

    // Already logged in.
    c1.request_err(
        "login",
        json!({"username": "alice", "password": PASSWORD}),
        "bad_request",
    );

    // Case-insensitive username; the registered spelling comes back.
    let mut c2 = Client::connect(addr);
    let resp = c2.login("ALICE", PASSWORD, true);
    assert_eq!(resp["user_id"], json!(id), "{resp}");
    assert_eq!(resp["username"], json!("alice"), "{resp}");
    assert_ne!(resp["token"], json!(token), "each login gets its own token");

    // Wrong password, unknown user; the connection stays usable.
    let mut c3 = Client::connect(addr);
    c3.request_err(
        "login",
        json!({"username": "alice", "password": "wrong password"}),
        "invalid_credentials",
    );
    c3.request_err(
        "login",
        json!({"username": "nobody", "password": PASSWORD}),
        "invalid_credentials",
    );
    c3.request_err("friends", Value::Null, "unauthenticated");
    c3.login("alice", PASSWORD, true);
    c3.request_ok("friends", Value::Null);

    // Token login.
    let mut c4 = Client::connect(addr);
    let resp = c4.request_ok("login", json!({"token": token}));
    assert_eq!(resp["user_id"], json!(id), "{resp}");
    assert_eq!(resp["username"], json!("alice"), "{resp}");
    assert_eq!(resp["nickname"], json!("Alice A"), "{resp}");
    assert!(resp["token"].is_string(), "{resp}");
    c4.request_ok("friends", Value::Null);

    let mut c5 = Client::connect(addr);
    c5.request_err("login", json!({"token": "deadbeef"}), "invalid_credentials");
    c5.request_err("login", json!({}), "bad_request");
    c5.request_bad_field("login", json!({"username": "alice"}), "password");
    c5.request_bad_field(
        "login",
        json!({"username": "alice", "password": PASSWORD, "push": "yes"}),
        "push",
    );
    c5.request_bad_field(
        "login",
        json!({"username": 7, "password": PASSWORD}),
        "username",
    );
    c5.request_err("friends", Value::Null, "unauthenticated");

    // push: false is accepted.
    let mut c6 = Client::connect(addr);
    let resp = c6.login("alice", PASSWORD, false);
    assert_eq!(resp["user_id"], json!(id), "{resp}");
}

fn logout_flow(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut a1 = Client::new_user(addr, "alice");
    let token1 = a1.token.clone().unwrap();
    let mut a2 = Client::login_as(addr, "alice", true);
    let token2 = a2.token.clone().unwrap();

    let resp = a1.request_ok("logout", Value::Null);
    assert_eq!(resp["type"], json!("logout"));
    // Still open, unauthenticated.
    a1.request_ok("ping", Value::Null);
    a1.request_err("friends", Value::Null, "unauthenticated");
    a1.request_err("sync", json!({"after": 0}), "unauthenticated");
    a1.request_err("logout", Value::Null, "unauthenticated");
    // The other session is untouched.
    a2.request_ok("friends", Value::Null);

    // The old token no longer logs in; the other one does.
    let mut c = Client::connect(addr);
    c.request_err("login", json!({"token": token1}), "invalid_credentials");
    c.request_ok("login", json!({"token": token2}));

    // Logging in again on the same connection works.
    a1.login("alice", PASSWORD, true);
    a1.request_ok("friends", Value::Null);
}

fn unauthenticated_everywhere(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let alice = Client::new_user(addr, "alice");
    let id = alice.id();
    let mut c = Client::connect(addr);
    let ops = [
        ("logout", json!({})),
        ("search_user", json!({"query": "ali"})),
        ("get_profile", json!({"user_id": id})),
        ("update_profile", json!({"nickname": "x"})),
        ("add_friend", json!({"user_id": id})),
        ("friend_requests", json!({})),
        ("accept_friend", json!({"request_id": 1})),
        ("reject_friend", json!({"request_id": 1})),
        ("delete_friend", json!({"user_id": id})),
        ("friends", json!({})),
        (
            "send_message",
            json!({"to": id, "text": "hi", "client_msg_id": "x1"}),
        ),
        ("sync", json!({"after": 0})),
        ("history", json!({"peer": id})),
        ("conversations", json!({})),
        ("read", json!({"peer": id, "up_to": 1})),
    ];
    for (op, fields) in &ops {
        c.request_err(op, fields.clone(), "unauthenticated");
    }
    // A failed login does not authenticate either.
    c.request_err(
        "login",
        json!({"username": "alice", "password": "not the password"}),
        "invalid_credentials",
    );
    for (op, fields) in &ops {
        c.request_err(op, fields.clone(), "unauthenticated");
    }
    c.request_ok("ping", Value::Null);
    c.register("carol", PASSWORD);
    c.login("carol", PASSWORD, true);
    c.request_ok("friends", Value::Null);
}

fn search_user(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut reg = Client::connect(addr);
    let mut id_of = std::collections::BTreeMap::new();
    for name in ["carol", "caroline", "Carl", "bob", "a_b", "abc", "axb"] {
        id_of.insert(name, reg.register(name, PASSWORD));
    }
    for i in 0..25 {
        reg.register(&format!("zz{i}"), PASSWORD);
    }
    let _carol = Client::login_as(addr, "carol", true);
    let mut s = Client::new_user(addr, "searcher");

    let search = |s: &mut Client, q: &str| -> (Vec<String>, Value) {
        let resp = s.request_ok("search_user", json!({"query": q}));
        let users = list(&resp, "users");
        let mut names: Vec<String> = users
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        (names, resp)
    };

    let (names, resp) = search(&mut s, "car");
    assert_eq!(names, ["Carl", "carol", "caroline"], "{resp}");
    assert!(!more(&resp));
    for u in list(&resp, "users") {
        let name = u["username"].as_str().unwrap();
        assert_user(u, id_of[name], name);
        assert_eq!(u["online"], json!(name == "carol"), "{u}");
    }
    assert_eq!(search(&mut s, "CAROL").0, ["carol", "caroline"]);
    assert_eq!(search(&mut s, "Carl").0, ["Carl"]);
    // `_` and `%` are literal, not wildcards.
    assert_eq!(search(&mut s, "a_").0, ["a_b"]);
    assert!(search(&mut s, "%").0.is_empty());
    assert!(search(&mut s, "_").0.is_empty());
    assert!(search(&mut s, "nobody").0.is_empty());

    // At most 20, with more.
    let (names, resp) = search(&mut s, "zz");
    assert_eq!(names.len(), 20, "{resp}");
    assert!(more(&resp), "{resp}");
    let (names, resp) = search(&mut s, "zz1");
    assert_eq!(names.len(), 11, "zz1, zz10..zz19: {resp}");
    assert!(!more(&resp), "{resp}");

    s.request_bad_field("search_user", json!({"query": ""}), "query");
    s.request_bad_field("search_user", json!({"query": "q".repeat(33)}), "query");
    s.request_bad_field("search_user", json!({}), "query");
    s.request_bad_field("search_user", json!({"query": 3}), "query");
    assert!(search(&mut s, &"a".repeat(32)).0.is_empty());
}

fn profiles(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut alice = Client::new_user(addr, "alice");
    let mut bob = Client::new_user(addr, "bob");
    let carol_id = Client::connect(addr).register("carol", PASSWORD);

    let resp = alice.request_ok("get_profile", json!({"user_id": alice.id()}));
    assert_user(&resp["user"], alice.id(), "alice");
    assert_eq!(resp["user"]["avatar"], json!(""), "{resp}");
    assert_eq!(resp["user"]["online"], json!(true), "{resp}");
    let resp = alice.request_ok("get_profile", json!({"user_id": bob.id()}));
    assert_user(&resp["user"], bob.id(), "bob");
    let bob_nickname = resp["user"]["nickname"].clone();
    assert_eq!(resp["user"]["online"], json!(true), "{resp}");
    let resp = alice.request_ok("get_profile", json!({"user_id": carol_id}));
    assert_user(&resp["user"], carol_id, "carol");
    assert_eq!(resp["user"]["online"], json!(false), "{resp}");
    alice.request_err(
        "get_profile",
        json!({"user_id": 999_999_999}),
        "no_such_user",
    );
    alice.request_bad_field("get_profile", json!({"user_id": "1"}), "user_id");
    alice.request_bad_field("get_profile", json!({}), "user_id");

    let nickname = "Zoë 🎉 \"q\" \\ 日本";
    let avatar = "https://example.com/a.png?x=1&y=\"2\"";
    let resp = alice.request_ok(
        "update_profile",
        json!({"nickname": nickname, "avatar": avatar}),
    );
    assert_user(&resp["user"], alice.id(), "alice");
    assert_eq!(resp["user"]["nickname"], json!(nickname), "{resp}");
    assert_eq!(resp["user"]["avatar"], json!(avatar), "{resp}");
    let resp = bob.request_ok("get_profile", json!({"user_id": alice.id()}));
    assert_eq!(resp["user"]["nickname"], json!(nickname), "{resp}");
    assert_eq!(resp["user"]["avatar"], json!(avatar), "{resp}");

    // Only the given field changes.
    let resp = alice.request_ok("update_profile", json!({"avatar": emoji(256)}));
    assert_eq!(resp["user"]["avatar"], json!(emoji(256)), "{resp}");
    assert_eq!(resp["user"]["nickname"], json!(nickname), "{resp}");
    let resp = alice.request_ok("update_profile", json!({"nickname": emoji(64)}));
    assert_eq!(resp["user"]["nickname"], json!(emoji(64)), "{resp}");
    assert_eq!(resp["user"]["avatar"], json!(emoji(256)), "{resp}");

    alice.request_bad_field(
        "update_profile",
        json!({"avatar": "a".repeat(257)}),
        "avatar",
    );
    alice.request_bad_field("update_profile", json!({"avatar": emoji(257)}), "avatar");
    alice.request_bad_field(
        "update_profile",
        json!({"nickname": "n".repeat(65)}),
        "nickname",
    );
    alice.request_bad_field("update_profile", json!({"nickname": 5}), "nickname");

    // A user_id in the request cannot redirect the update to someone else.
    let resp = alice.request_ok(
        "update_profile",
        json!({"user_id": bob.id(), "nickname": "pwned"}),
    );
    assert_eq!(resp["user"]["user_id"], json!(alice.id()), "{resp}");
    let resp = bob.request_ok("get_profile", json!({"user_id": bob.id()}));
    assert_eq!(resp["user"]["nickname"], bob_nickname, "{resp}");
    let resp = bob.request_ok("get_profile", json!({"user_id": alice.id()}));
    assert_eq!(resp["user"]["nickname"], json!("pwned"), "{resp}");

    // login reports the current nickname.
    let resp = Client::connect(addr).login("alice", PASSWORD, true);
    assert_eq!(resp["nickname"], json!("pwned"), "{resp}");
}

fn friend_flow(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut alice = Client::new_user(addr, "alice");
    let mut bob = Client::new_user(addr, "bob");
    let mut carol = Client::new_user(addr, "carol");
    let dave_id = Client::connect(addr).register("dave", PASSWORD);
    alice.request_ok("update_profile", json!({"nickname": "Alice"}));

    let note = "let's chat 🙂 \"now\"";
    let resp = alice.request_ok("add_friend", json!({"user_id": bob.id(), "message": note}));
    let r1 = int(&resp, "request_id");
    let push = bob.expect_push("friend_request", TIMEOUT);
    assert_eq!(push["request_id"], json!(r1), "{push}");
    assert_user(&push["from"], alice.id(), "alice");
    assert_eq!(push["from"]["nickname"], json!("Alice"), "{push}");
    assert_eq!(push["message"], json!(note), "{push}");
    assert_recent_ts(&push, "ts");

    // A repeated pending request returns the same request_id.
    let resp = alice.request_ok("add_friend", json!({"user_id": bob.id(), "message": note}));
    assert_eq!(int(&resp, "request_id"), r1, "{resp}");

    let resp = bob.request_ok("friend_requests", Value::Null);
    let reqs = list(&resp, "requests");
    assert!(!more(&resp));
    assert_eq!(reqs.len(), 1, "{resp}");
    assert_eq!(reqs[0]["request_id"], json!(r1), "{resp}");
    assert_user(&reqs[0]["from"], alice.id(), "alice");
    assert_eq!(reqs[0]["message"], json!(note), "{resp}");
    assert_recent_ts(&reqs[0], "ts");
    let resp = alice.request_ok("friend_requests", Value::Null);
    assert!(
        list(&resp, "requests").is_empty(),
        "sent requests are not listed: {resp}"
    );

    // Only the addressee can accept.
    carol.request_err(
        "accept_friend",
        json!({"request_id": r1}),
        "no_such_request",
    );
    alice.request_err(
        "accept_friend",
        json!({"request_id": r1}),
        "no_such_request",
    );

    let resp = bob.request_ok("accept_friend", json!({"request_id": r1}));
    assert_user(&resp["friend"], alice.id(), "alice");
    let push = alice.expect_push("friend_accepted", TIMEOUT);
    assert_user(&push["friend"], bob.id(), "bob");
    let resp = bob.request_ok("friend_requests", Value::Null);
    assert!(list(&resp, "requests").is_empty(), "{resp}");
    bob.request_err(
        "accept_friend",
        json!({"request_id": r1}),
        "no_such_request",
    );
    bob.request_err(
        "reject_friend",
        json!({"request_id": r1}),
        "no_such_request",
    );

    let (a_id, b_id) = (alice.id(), bob.id());
    for (me, other, other_name) in [(&mut alice, b_id, "bob"), (&mut bob, a_id, "alice")] {
        let resp = me.request_ok("friends", Value::Null);
        let friends = list(&resp, "friends");
        assert!(!more(&resp));
        assert_eq!(friends.len(), 1, "{resp}");
        assert_user(&friends[0], other, other_name);
        assert_eq!(friends[0]["online"], json!(true), "{resp}");
    }
    alice.request_err(
        "add_friend",
        json!({"user_id": bob.id()}),
        "already_friends",
    );
    bob.request_err(
        "add_friend",
        json!({"user_id": alice.id()}),
        "already_friends",
    );
    alice.request_err("add_friend", json!({"user_id": alice.id()}), "bad_request");
    alice.request_err(
        "add_friend",
        json!({"user_id": 999_999_999}),
        "no_such_user",
    );
    alice.request_bad_field(
        "add_friend",
        json!({"user_id": carol.id(), "message": "m".repeat(257)}),
        "message",
    );
    alice.request_bad_field("add_friend", json!({"user_id": "x"}), "user_id");
    alice.request_err(
        "accept_friend",
        json!({"request_id": 999_999_999}),
        "no_such_request",
    );
    alice.request_bad_field("accept_friend", json!({"request_id": "x"}), "request_id");
    alice.request_bad_field("reject_friend", json!({}), "request_id");

    // Reject.
    let r2 = int(
        &carol.request_ok(
            "add_friend",
            json!({"user_id": alice.id(), "message": "me too"}),
        ),
        "request_id",
    );
    assert_ne!(r2, r1);
    let push = alice.expect_push("friend_request", TIMEOUT);
    assert_eq!(push["request_id"], json!(r2), "{push}");
    alice.request_ok("reject_friend", json!({"request_id": r2}));
    alice.request_err(
        "reject_friend",
        json!({"request_id": r2}),
        "no_such_request",
    );
    let resp = alice.request_ok("friend_requests", Value::Null);
    assert!(list(&resp, "requests").is_empty(), "{resp}");
    let resp = alice.request_ok("friends", Value::Null);
    assert_eq!(list(&resp, "friends").len(), 1, "{resp}");
    carol.request_err(
        "send_message",
        json!({"to": alice.id(), "text": "hi", "client_msg_id": "c1"}),
        "not_friends",
    );
    carol.no_push_of_type_within("friend_accepted", QUIET);

    // A request to an offline user waits for them.
    let r3 = int(
        &alice.request_ok("add_friend", json!({"user_id": dave_id})),
        "request_id",
    );
    let mut dave = Client::login_as(addr, "dave", true);
    let resp = dave.request_ok("friend_requests", Value::Null);
    let reqs = list(&resp, "requests");
    assert_eq!(reqs.len(), 1, "{resp}");
    assert_eq!(reqs[0]["request_id"], json!(r3), "{resp}");
    assert_eq!(reqs[0]["message"], json!(""), "{resp}");

    // Delete.
    bob.request_ok("delete_friend", json!({"user_id": alice.id()}));
    let push = alice.expect_push("friend_removed", TIMEOUT);
    assert_eq!(push["user_id"], json!(bob.id()), "{push}");
    for me in [&mut alice, &mut bob] {
        let resp = me.request_ok("friends", Value::Null);
        assert!(list(&resp, "friends").is_empty(), "{resp}");
    }
    alice.request_err(
        "send_message",
        json!({"to": bob.id(), "text": "hi", "client_msg_id": "a1"}),
        "not_friends",
    );
    alice.request_bad_field("delete_friend", json!({"user_id": []}), "user_id");
    // They can become friends again.
    befriend(&mut bob, &mut alice);
    alice.send_text(bob.id(), "friends again");
}

fn presence(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut alice = Client::new_user(addr, "alice");
    let mut b0 = Client::new_user(addr, "bob");
    let mut carol = Client::new_user(addr, "carol");
    befriend(&mut alice, &mut b0);
    let bob_id = b0.id();

    // bob's only connection goes away.
    drop(b0);
    let push = alice.expect_push("presence", TIMEOUT);
    assert_eq!(
        push,
        json!({"type": "presence", "user_id": bob_id, "online": false})
    );
    let resp = alice.request_ok("friends", Value::Null);
    assert_eq!(list(&resp, "friends")[0]["online"], json!(false), "{resp}");
    let resp = alice.request_ok("get_profile", json!({"user_id": bob_id}));
    assert_eq!(resp["user"]["online"], json!(false), "{resp}");

    // First connection logs in: online.
    let b1 = Client::login_as(addr, "bob", true);
    let push = alice.expect_push("presence", TIMEOUT);
    assert_eq!(
        push,
        json!({"type": "presence", "user_id": bob_id, "online": true})
    );
    let resp = alice.request_ok("friends", Value::Null);
    assert_eq!(list(&resp, "friends")[0]["online"], json!(true), "{resp}");

    // A second connection: no push; the first leaving: no push.
    let b2 = Client::login_as(addr, "bob", true);
    alice.no_push_within(QUIET);
    drop(b1);
    alice.no_push_within(QUIET);
    let resp = alice.request_ok("friends", Value::Null);
    assert_eq!(list(&resp, "friends")[0]["online"], json!(true), "{resp}");

    // The last one leaving: offline.
    drop(b2);
    let push = alice.expect_push("presence", TIMEOUT);
    assert_eq!(
        push,
        json!({"type": "presence", "user_id": bob_id, "online": false})
    );

    // alice's own second connection does not tell her friends anything.
    let mut b3 = Client::login_as(addr, "bob", true);
    alice.expect_push("presence", TIMEOUT);
    let a2 = Client::login_as(addr, "alice", true);
    b3.no_push_within(QUIET);
    drop(a2);
    b3.no_push_within(QUIET);

    // carol is nobody's friend: she never hears about anyone.
    carol.no_push_within(QUIET);
}

fn send_message_pushes(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut a1 = Client::new_user(addr, "alice");
    let mut b1 = Client::new_user(addr, "bob");
    let mut d1 = Client::new_user(addr, "dave");
    befriend(&mut a1, &mut b1);
    befriend(&mut d1, &mut a1);
    let (alice, bob) = (a1.id(), b1.id());
    let mut a2 = Client::login_as(addr, "alice", true);
    let mut a3 = Client::login_as(addr, "alice", false);
    let mut b2 = Client::login_as(addr, "bob", false);

    let resp = a1.request_ok(
        "send_message",
        json!({"to": bob, "text": "hello", "client_msg_id": "m1"}),
    );
    let m1 = int(&resp, "msg_id");
    assert!(m1 > 0, "{resp}");
    assert_recent_ts(&resp, "ts");
    let ts = int(&resp, "ts");
    for c in [&mut b1, &mut a2] {
        let push = c.expect_push("message", TIMEOUT);
        assert_message(&push, m1, alice, bob, "hello", "m1");
        assert_eq!(push["ts"], json!(ts), "push ts equals ack ts: {push}");
    }
    a1.no_push_within(QUIET);
    let resp = b2.request_ok("sync", json!({"after": 0}));
    let msgs = list(&resp, "messages");
    assert_eq!(msgs.len(), 1, "{resp}");
    assert_message(&msgs[0], m1, alice, bob, "hello", "m1");

    // A reply: alice's push connections get it, bob's other push connection too.
    let b3 = Client::login_as(addr, "bob", true);
    let mut b3 = b3;
    let resp = b1.request_ok(
        "send_message",
        json!({"to": alice, "text": "hi back", "client_msg_id": "r1"}),
    );
    let r1 = int(&resp, "msg_id");
    assert!(r1 > m1, "{resp}");
    for c in [&mut a1, &mut a2, &mut b3] {
        let push = c.expect_push("message", TIMEOUT);
        assert_message(&push, r1, bob, alice, "hi back", "r1");
    }
    b1.no_push_within(QUIET);

    // A "from" in the request is ignored: the session's user is the sender.
    let resp = a1.request_ok(
        "send_message",
        json!({"to": bob, "from": bob, "text": "spoof?", "client_msg_id": "m2"}),
    );
    let m2 = int(&resp, "msg_id");
    let push = b1.expect_push("message", TIMEOUT);
    assert_message(&push, m2, alice, bob, "spoof?", "m2");
    a2.expect_push("message", TIMEOUT);
    b3.expect_push("message", TIMEOUT);

    // Other pushes do not reach push:false connections either.
    drop(d1);
    let push = a1.expect_push("presence", TIMEOUT);
    assert_eq!(push["online"], json!(false), "{push}");
    let _d2 = Client::login_as(addr, "dave", true);
    let push = a1.expect_push("presence", TIMEOUT);
    assert_eq!(push["online"], json!(true), "{push}");
    let mut eve = Client::new_user(addr, "eve");
    eve.request_ok("add_friend", json!({"user_id": alice}));
    a1.expect_push("friend_request", TIMEOUT);
    a2.expect_push("presence", TIMEOUT);
    a2.expect_push("presence", TIMEOUT);
    a2.expect_push("friend_request", TIMEOUT);

    a3.no_push_within(QUIET);
    b2.no_push_within(QUIET);
    // ...and they still work as request/response clients.
    let resp = a3.request_ok("sync", json!({"after": 0}));
    assert_eq!(ids(list(&resp, "messages")), [m1, r1, m2], "{resp}");
    a3.no_push_within(Duration::ZERO);
}

fn send_message_errors(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let (mut alice, mut bob) = friends_pair(&server);
    let mut carol = Client::new_user(addr, "carol");
    let (a, b) = (alice.id(), bob.id());

    let send = |c: &mut Client, to: i64, text: &str, cmid: &str| {
        c.request(
            "send_message",
            json!({"to": to, "text": text, "client_msg_id": cmid}),
        )
    };
    let code = |resp: Value| error_code(&resp).to_string();
    assert_eq!(
        code(send(&mut alice, 999_999_999, "x", "e1")),
        "no_such_user"
    );
    assert_eq!(code(send(&mut alice, carol.id(), "x", "e2")), "not_friends");
    assert_eq!(code(send(&mut carol, a, "x", "e3")), "not_friends");
    assert_eq!(code(send(&mut alice, a, "x", "e4")), "not_friends");

    let field = |c: &mut Client, fields: Value, name: &str| {
        c.request_bad_field("send_message", fields, name);
    };
    field(
        &mut alice,
        json!({"to": b, "text": "", "client_msg_id": "e5"}),
        "text",
    );
    field(
        &mut alice,
        json!({"to": b, "text": emoji(4097), "client_msg_id": "e6"}),
        "text",
    );
    field(
        &mut alice,
        json!({"to": b, "text": "t".repeat(4097), "client_msg_id": "e7"}),
        "text",
    );
    field(
        &mut alice,
        json!({"to": b, "text": "x", "client_msg_id": ""}),
        "client_msg_id",
    );
    field(
        &mut alice,
        json!({"to": b, "text": "x", "client_msg_id": "c".repeat(65)}),
        "client_msg_id",
    );
    field(
        &mut alice,
        json!({"to": b, "text": "x", "client_msg_id": emoji(65)}),
        "client_msg_id",
    );
    field(&mut alice, json!({"to": b, "client_msg_id": "e8"}), "text");
    field(&mut alice, json!({"to": b, "text": "x"}), "client_msg_id");
    field(
        &mut alice,
        json!({"text": "x", "client_msg_id": "e9"}),
        "to",
    );
    field(
        &mut alice,
        json!({"to": "bob", "text": "x", "client_msg_id": "e10"}),
        "to",
    );
    field(
        &mut alice,
        json!({"to": b, "text": 42, "client_msg_id": "e11"}),
        "text",
    );
    field(
        &mut alice,
        json!({"to": b, "text": "x", "client_msg_id": 7}),
        "client_msg_id",
    );

    // Boundaries that are valid.
    let big = emoji(4096);
    let cmid64 = emoji(64);
    let m1 = int(
        &alice.request_ok(
            "send_message",
            json!({"to": b, "text": big, "client_msg_id": "ok1"}),
        ),
        "msg_id",
    );
    let m2 = int(
        &alice.request_ok(
            "send_message",
            json!({"to": b, "text": "t".repeat(4096), "client_msg_id": cmid64}),
        ),
        "msg_id",
    );
    let m3 = int(
        &alice.request_ok(
            "send_message",
            json!({"to": b, "text": "é", "client_msg_id": "c".repeat(64)}),
        ),
        "msg_id",
    );
    assert!(m1 < m2 && m2 < m3);

    // Only the valid messages were stored and pushed.
    let all = bob.sync_all(0);
    assert_eq!(ids(&all), [m1, m2, m3]);
    assert_message(&all[0], m1, a, b, &big, "ok1");
    assert_message(&all[1], m2, a, b, &"t".repeat(4096), &cmid64);
    assert_message(&all[2], m3, a, b, "é", &"c".repeat(64));
    let pushed = bob.expect_pushes("message", 3, TIMEOUT);
    assert_eq!(ids(&pushed), [m1, m2, m3]);
    bob.no_push_within(QUIET);
    assert!(carol.sync_all(0).is_empty());
    carol.no_push_within(Duration::ZERO);
}

fn text_round_trip(store: StoreKind) {
    let server = TestServer::start(store);
    let (mut alice, mut bob) = friends_pair(&server);
    let controls: String = (0u32..0x20)
        .chain([0x7f])
        .map(|c| char::from_u32(c).unwrap())
        .collect();
    let texts: Vec<String> = vec![
        "plain".into(),
        "emoji 😀🎉 family 👩‍👩‍👧‍👦 flag 🇯🇵".into(),
        "quotes \" ' ` and backslashes \\ \\\\ \\n \\u0000 (literal)".into(),
        format!("controls:{controls}:end"),
        "NUL\u{0}in the middle".into(),
        "\u{0}".into(),
        "line1\nline2\r\n\ttab".into(),
        "日本語 עברית العربية".into(),
        "combining e\u{301} a\u{308}".into(),
        "\u{2028}\u{2029} separators".into(),
        "\u{feff}BOM".into(),
        "edge \u{ffff} \u{10ffff} \u{fffd}".into(),
        "<script>alert(1)</script> & ; DROP TABLE messages; --".into(),
        "   leading and trailing spaces   ".into(),
        "%_ like wildcards".into(),
        "{\"type\":\"ping\"}".into(),
        emoji(4096),
    ];
    let mut sent = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let cmid = format!("rt-{i}");
        let resp = alice.request_ok(
            "send_message",
            json!({"to": bob.id(), "text": text, "client_msg_id": cmid}),
        );
        sent.push(int(&resp, "msg_id"));
        let push = bob.expect_push("message", TIMEOUT);
        assert_message(&push, sent[i], alice.id(), bob.id(), text, &cmid);
    }

    // JSON escapes (surrogate pairs, \/) decode to the same characters.
    let raw = format!(
        "{{\"type\":\"send_message\",\"seq\":77,\"to\":{},\"text\":\"\\ud83d\\ude00 \\u00e9 \\/ \\u0000\",\"client_msg_id\":\"rt-raw\"}}",
        bob.id()
    );
    alice.write_frame(raw.as_bytes());
    let resp = alice.read_raw_response();
    assert_eq!(resp["seq"], json!(77), "{resp}");
    assert_eq!(resp["ok"], json!(true), "{resp}");
    sent.push(int(&resp, "msg_id"));
    let mut texts = texts;
    texts.push("😀 é / \u{0}".into());

    let synced = bob.sync_all(0);
    assert_eq!(ids(&synced), sent);
    for (m, text) in synced.iter().zip(&texts) {
        assert_eq!(m["text"], json!(text), "sync: {m}");
    }
    let mut history = alice.history_all(bob.id());
    history.reverse();
    assert_eq!(ids(&history), sent);
    for (m, text) in history.iter().zip(&texts) {
        assert_eq!(m["text"], json!(text), "history: {m}");
    }
}

fn idempotent_send(store: StoreKind) {
    let server = TestServer::start(store);
    let (mut alice, mut bob) = friends_pair(&server);
    let (a, b) = (alice.id(), bob.id());
    let send = |c: &mut Client, to: i64, text: &str, cmid: &str| {
        int(
            &c.request_ok(
                "send_message",
                json!({"to": to, "text": text, "client_msg_id": cmid}),
            ),
            "msg_id",
        )
    };
    let m1 = send(&mut alice, b, "first", "dup-1");
    assert_eq!(send(&mut alice, b, "first", "dup-1"), m1);
    assert_eq!(send(&mut alice, b, "different text", "dup-1"), m1);
    let m2 = send(&mut alice, b, "second", "dup-2");
    assert!(m2 > m1);
    // Pipelined duplicates too.
    let resps = alice.send_pipelined(
        b,
        &[
            ("dup-3".into(), "third".into()),
            ("dup-3".into(), "third".into()),
            ("dup-1".into(), "first".into()),
        ],
        3,
    );
    let m3 = int(&resps[0], "msg_id");
    assert_eq!(int(&resps[1], "msg_id"), m3, "{resps:?}");
    assert_eq!(int(&resps[2], "msg_id"), m1, "{resps:?}");
    // The key is per sender: bob may use the same one.
    let r1 = send(&mut bob, a, "bob's first", "dup-1");
    assert!(r1 != m1 && r1 > m3);

    let synced = bob.sync_all(0);
    assert_eq!(ids(&synced), [m1, m2, m3, r1]);
    assert_message(&synced[0], m1, a, b, "first", "dup-1");
    assert_message(&synced[3], r1, b, a, "bob's first", "dup-1");
    assert_eq!(ids(&alice.history_all(b)), [r1, m3, m2, m1]);
}

fn sync_paging(store: StoreKind) {
    let server = TestServer::start(store);
    let (mut alice, mut bob) = friends_pair(&server);
    let (a, b) = (alice.id(), bob.id());
    let sent = send_all(&mut alice, b, &batch("s", 520));
    assert!(
        sent.windows(2).all(|w| w[0] < w[1]),
        "acks in increasing msg_id order"
    );

    let resp = bob.request_ok("sync", json!({"after": 0}));
    assert_eq!(
        ids(list(&resp, "messages")),
        sent[..200],
        "default limit 200"
    );
    assert!(more(&resp));
    assert_message(
        &list(&resp, "messages")[0],
        sent[0],
        a,
        b,
        "s message 0",
        "s-0",
    );
    let resp = bob.request_ok("sync", json!({"after": 0, "limit": 500}));
    assert_eq!(ids(list(&resp, "messages")), sent[..500]);
    assert!(more(&resp));
    let resp = bob.request_ok("sync", json!({"after": sent[499], "limit": 500}));
    assert_eq!(ids(list(&resp, "messages")), sent[500..]);
    assert!(!more(&resp), "{resp}");
    let resp = bob.request_ok("sync", json!({"after": sent[519]}));
    assert!(list(&resp, "messages").is_empty());
    assert!(!more(&resp));
    let resp = bob.request_ok("sync", json!({"after": sent[10], "limit": 1}));
    assert_eq!(ids(list(&resp, "messages")), [sent[11]]);
    assert!(more(&resp));
    // Above the maximum: refused, or capped at 500.
    let resp = bob.request("sync", json!({"after": 0, "limit": 501}));
    if resp["ok"] == json!(true) {
        assert_eq!(
            list(&resp, "messages").len(),
            500,
            "limit is capped at 500: {resp}"
        );
    } else {
        assert_eq!(error_code(&resp), "bad_request", "{resp}");
        assert!(error_message(&resp).contains("limit"), "{resp}");
    }
    // The sender syncs her own messages too.
    let resp = alice.request_ok("sync", json!({"after": 0, "limit": 500}));
    assert_eq!(ids(list(&resp, "messages")), sent[..500]);

    // Frames stay under max_frame: fewer messages, more: true.
    let big = batch("big", 10)
        .into_iter()
        .map(|(c, _)| (c, emoji(4096)))
        .collect::<Vec<_>>();
    let big_ids = send_all(&mut alice, b, &big);
    let resp = bob.request_ok("sync", json!({"after": sent[519], "limit": 500}));
    let page = ids(list(&resp, "messages"));
    assert!(
        !page.is_empty() && page.len() < 10,
        "got {} big messages in one frame",
        page.len()
    );
    assert_eq!(page, big_ids[..page.len()]);
    assert!(more(&resp));
    assert!(
        bob.max_frame_seen <= 65536,
        "frame of {} bytes",
        bob.max_frame_seen
    );
    assert_eq!(ids(&bob.sync_all(sent[519])), big_ids);
    assert!(
        bob.max_frame_seen <= 65536,
        "frame of {} bytes",
        bob.max_frame_seen
    );

    bob.request_bad_field("sync", json!({}), "after");
    bob.request_bad_field("sync", json!({"after": "0"}), "after");
    bob.request_bad_field("sync", json!({"after": 0, "limit": "10"}), "limit");
}

fn history_paging(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let (mut alice, mut bob) = friends_pair(&server);
    let mut carol = Client::new_user(addr, "carol");
    befriend(&mut carol, &mut alice);
    let (a, b) = (alice.id(), bob.id());

    // 120 messages both ways, with carol's in between.
    let mut ab = Vec::new();
    for round in 0..4 {
        ab.extend(send_all(&mut alice, b, &batch(&format!("a{round}"), 15)));
        send_all(&mut carol, a, &batch(&format!("c{round}"), 3));
        ab.extend(send_all(&mut bob, a, &batch(&format!("b{round}"), 15)));
    }
    let newest_first: Vec<i64> = ab.iter().rev().copied().collect();

    let resp = alice.request_ok("history", json!({"peer": b}));
    assert_eq!(
        ids(list(&resp, "messages")),
        newest_first[..50],
        "default limit 50, newest first"
    );
    assert!(more(&resp));
    let last = &list(&resp, "messages")[0];
    assert_message(last, ab[119], b, a, "b3 message 14", "b3-14");
    let resp = alice.request_ok("history", json!({"peer": b, "limit": 100}));
    assert_eq!(ids(list(&resp, "messages")), newest_first[..100]);
    assert!(more(&resp));
    let resp = alice.request_ok("history", json!({"peer": b, "before": ab[30], "limit": 10}));
    let want: Vec<i64> = ab[20..30].iter().rev().copied().collect();
    assert_eq!(ids(list(&resp, "messages")), want);
    assert!(more(&resp));
    let resp = alice.request_ok("history", json!({"peer": b, "before": ab[10], "limit": 50}));
    let want: Vec<i64> = ab[..10].iter().rev().copied().collect();
    assert_eq!(ids(list(&resp, "messages")), want);
    assert!(!more(&resp), "{resp}");
    let resp = alice.request_ok("history", json!({"peer": b, "before": ab[0]}));
    assert!(list(&resp, "messages").is_empty());
    assert!(!more(&resp));
    let resp = alice.request("history", json!({"peer": b, "limit": 101}));
    if resp["ok"] == json!(true) {
        assert_eq!(
            list(&resp, "messages").len(),
            100,
            "limit is capped at 100: {resp}"
        );
    } else {
        assert_eq!(error_code(&resp), "bad_request", "{resp}");
        assert!(error_message(&resp).contains("limit"), "{resp}");
    }
    // Both sides see the same conversation; carol's messages are elsewhere.
    assert_eq!(ids(&bob.history_all(a)), newest_first);
    assert_eq!(ids(&alice.history_all(b)), newest_first);
    assert_eq!(alice.history_all(carol.id()).len(), 12);

    // Big messages: fewer per frame, more: true.
    let big: Vec<_> = batch("big", 8)
        .into_iter()
        .map(|(c, _)| (c, emoji(4096)))
        .collect();
    let big_ids = send_all(&mut alice, b, &big);
    let resp = bob.request_ok("history", json!({"peer": a, "limit": 100}));
    let page = ids(list(&resp, "messages"));
    assert!(
        !page.is_empty() && page.len() < 8,
        "{} big messages in one frame",
        page.len()
    );
    let want: Vec<i64> = big_ids.iter().rev().take(page.len()).copied().collect();
    assert_eq!(page, want);
    assert!(more(&resp));
    assert!(
        bob.max_frame_seen <= 65536,
        "frame of {} bytes",
        bob.max_frame_seen
    );
    assert_eq!(bob.history_all(a).len(), 128);

    alice.request_bad_field("history", json!({}), "peer");
    alice.request_bad_field("history", json!({"peer": null}), "peer");
    alice.request_bad_field("history", json!({"peer": b, "before": "x"}), "before");
    alice.request_bad_field("history", json!({"peer": b, "limit": -1}), "limit");
}

fn conversations_and_read(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let (mut alice, mut bob) = friends_pair(&server);
    let mut carol = Client::new_user(addr, "carol");
    let mut dave = Client::new_user(addr, "dave");
    befriend(&mut carol, &mut alice);
    befriend(&mut dave, &mut alice);
    let (a, b, c) = (alice.id(), bob.id(), carol.id());

    let bs = send_all(&mut bob, a, &batch("b", 3));
    let cs = send_all(&mut carol, a, &batch("c", 2));
    let resp = alice.request_ok("conversations", Value::Null);
    assert!(!more(&resp));
    let convs = list(&resp, "conversations");
    assert_eq!(convs.len(), 2, "dave has no messages with alice: {resp}");
    assert_user(&convs[0]["peer"], c, "carol");
    assert_message(&convs[0]["last"], cs[1], c, a, "c message 1", "c-1");
    assert_eq!(convs[0]["unread"], json!(2), "{resp}");
    assert_user(&convs[1]["peer"], b, "bob");
    assert_message(&convs[1]["last"], bs[2], b, a, "b message 2", "b-2");
    assert_eq!(convs[1]["unread"], json!(3), "{resp}");

    // alice writes to bob: that conversation is now the most recent; her own message is
    // not unread for her.
    let a1 = send_all(&mut alice, b, &batch("a", 1))[0];
    let resp = alice.request_ok("conversations", Value::Null);
    let convs = list(&resp, "conversations");
    assert_user(&convs[0]["peer"], b, "bob");
    assert_message(&convs[0]["last"], a1, a, b, "a message 0", "a-0");
    assert_eq!(convs[0]["unread"], json!(3), "{resp}");
    assert_user(&convs[1]["peer"], c, "carol");
    let resp = bob.request_ok("conversations", Value::Null);
    let convs = list(&resp, "conversations");
    assert_eq!(convs.len(), 1, "{resp}");
    assert_user(&convs[0]["peer"], a, "alice");
    assert_eq!(convs[0]["unread"], json!(1), "{resp}");

    // read moves the cursor and tells the peer.
    bob.take_pushes();
    alice.request_ok("read", json!({"peer": b, "up_to": bs[1]}));
    let push = bob.expect_push("read", TIMEOUT);
    assert_eq!(push, json!({"type": "read", "by": a, "up_to": bs[1]}));
    let unread = |alice: &mut Client, peer: i64| {
        let resp = alice.request_ok("conversations", Value::Null);
        list(&resp, "conversations")
            .iter()
            .find(|cv| cv["peer"]["user_id"] == json!(peer))
            .unwrap_or_else(|| panic!("no conversation with {peer}: {resp}"))["unread"]
            .clone()
    };
    assert_eq!(unread(&mut alice, b), json!(1));
    // Never backwards.
    alice.request_ok("read", json!({"peer": b, "up_to": bs[0]}));
    assert_eq!(unread(&mut alice, b), json!(1));
    // Up to a later id (alice's own message): all read.
    alice.request_ok("read", json!({"peer": b, "up_to": a1}));
    assert_eq!(unread(&mut alice, b), json!(0));
    assert_eq!(unread(&mut alice, c), json!(2));
    alice.request_ok("read", json!({"peer": c, "up_to": cs[1]}));
    let push = carol.expect_push("read", TIMEOUT);
    assert_eq!(push, json!({"type": "read", "by": a, "up_to": cs[1]}));
    assert_eq!(unread(&mut alice, c), json!(0));
    // bob's unread count is his own.
    assert_eq!(unread(&mut bob, a), json!(1));
    dave.no_push_of_type_within("read", QUIET);

    alice.request_bad_field("read", json!({"peer": b}), "up_to");
    alice.request_bad_field("read", json!({"peer": "bob", "up_to": 1}), "peer");
    alice.request_bad_field("read", json!({"peer": b, "up_to": "1"}), "up_to");
}

fn bad_input(store: StoreKind) {
    let server = TestServer::start(store);
    let (mut alice, bob) = friends_pair(&server);
    let b = bob.id();

    for payload in [
        &b"hello"[..],
        b"[1,2,3]",
        b"42",
        b"\"ping\"",
        b"null",
        b"true",
        b"{\"type\":\"ping\"",
        b"{\"type\":\"ping\",\"seq\":1}}",
        b"\xff\xfe{",
        b"{\"type\":\"ping\",\"seq\":1,\"x\":\"\xc3\x28\"}",
        b" ",
    ] {
        alice.write_frame(payload);
        let resp = alice.read_raw_response();
        assert_error_frame(&resp, "bad_json");
        assert!(
            resp.get("seq").is_none_or(Value::is_null),
            "{:?}: {resp}",
            String::from_utf8_lossy(payload)
        );
    }
    for (payload, seq) in [
        (json!({"seq": 5}), 5),
        (json!({"type": 5, "seq": 6}), 6),
        (json!({"type": null, "seq": 7}), 7),
        (json!({"type": ["ping"], "seq": 8}), 8),
    ] {
        alice.write_json(&payload);
        let resp = alice.read_raw_response();
        assert_error_frame(&resp, "bad_request");
        assert_eq!(resp["seq"], json!(seq), "seq is echoed: {resp}");
        assert!(
            error_message(&resp).contains("type"),
            "names the field: {resp}"
        );
    }
    for (op, seq) in [("frobnicate", 9), ("Ping", 10), ("", 11)] {
        alice.write_json(&json!({"type": op, "seq": seq}));
        let resp = alice.read_raw_response();
        assert_eq!(resp["ok"], json!(false), "{resp}");
        assert_eq!(error_code(&resp), "unknown_type", "{resp}");
        assert_eq!(resp["seq"], json!(seq), "{resp}");
        assert_eq!(
            resp["type"],
            json!(op),
            "the response echoes the op: {resp}"
        );
    }

    // An ill-typed seq is itself a bad field.
    for seq in [json!("1"), json!(-1), json!(1.5)] {
        alice.write_json(&json!({"type": "ping", "seq": seq}));
        let resp = alice.read_raw_response();
        assert_eq!(error_code(&resp), "bad_request", "{resp}");
        assert!(
            error_message(&resp).contains("seq"),
            "names the field: {resp}"
        );
    }

    // Missing or ill-typed fields name the field (and the seq is echoed: request() checks).
    let cases = [
        ("get_profile", json!({}), "user_id"),
        ("get_profile", json!({"user_id": "1"}), "user_id"),
        ("get_profile", json!({"user_id": 1.5}), "user_id"),
        (
            "send_message",
            json!({"to": b, "text": "x"}),
            "client_msg_id",
        ),
        (
            "send_message",
            json!({"to": "bob", "text": "x", "client_msg_id": "1"}),
            "to",
        ),
        (
            "send_message",
            json!({"to": b, "text": 5, "client_msg_id": "1"}),
            "text",
        ),
        ("sync", json!({"after": "0"}), "after"),
        ("history", json!({"peer": null}), "peer"),
        ("add_friend", json!({"user_id": true}), "user_id"),
        ("accept_friend", json!({}), "request_id"),
        ("read", json!({"peer": b}), "up_to"),
        ("search_user", json!({"query": 3}), "query"),
        ("update_profile", json!({"nickname": 5}), "nickname"),
        ("update_profile", json!({"avatar": {}}), "avatar"),
        ("delete_friend", json!({"user_id": "x"}), "user_id"),
    ];
    for (op, fields, name) in cases {
        alice.request_bad_field(op, fields, name);
    }

    // Nothing closed the connection; the session is intact.
    alice.request_ok("ping", Value::Null);
    let resp = alice.request_ok("friends", Value::Null);
    assert_eq!(list(&resp, "friends").len(), 1, "{resp}");

    // Coalesced frames: three requests in one write, answered in order.
    let mut bytes = Vec::new();
    for seq in [100, 101, 102] {
        bytes.extend(frame_bytes(
            json!({"type": "ping", "seq": seq}).to_string().as_bytes(),
        ));
    }
    alice.write_raw(&bytes).unwrap();
    for seq in [100, 101, 102] {
        let resp = alice.read_raw_response();
        assert_eq!(resp["seq"], json!(seq), "{resp}");
        assert_eq!(resp["ok"], json!(true), "{resp}");
    }
    // One request split into single bytes.
    let bytes = frame_bytes(
        json!({"type": "friends", "seq": 200})
            .to_string()
            .as_bytes(),
    );
    for byte in &bytes {
        alice.write_raw(std::slice::from_ref(byte)).unwrap();
        sleep_ms(2);
    }
    let resp = alice.read_raw_response();
    assert_eq!(resp["seq"], json!(200), "{resp}");
    assert_eq!(resp["type"], json!("friends"), "{resp}");
    assert_eq!(resp["ok"], json!(true), "{resp}");
    // A frame split across a header boundary and coalesced with the next one.
    let mut bytes = frame_bytes(json!({"type": "ping", "seq": 300}).to_string().as_bytes());
    bytes.extend(frame_bytes(
        json!({"type": "ping", "seq": 301}).to_string().as_bytes(),
    ));
    alice.write_raw(&bytes[..2]).unwrap();
    sleep_ms(50);
    alice.write_raw(&bytes[2..bytes.len() - 3]).unwrap();
    sleep_ms(50);
    alice.write_raw(&bytes[bytes.len() - 3..]).unwrap();
    for seq in [300, 301] {
        let resp = alice.read_raw_response();
        assert_eq!(resp["seq"], json!(seq), "{resp}");
    }
}

fn frame_errors(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let (mut alice, mut bob) = friends_pair(&server);

    // Length 0.
    let mut c = Client::connect(addr);
    c.write_raw(&[0, 0, 0, 0]).unwrap();
    let frames = c.expect_closed(TIMEOUT);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_error_frame(&frames[0], "bad_frame");

    // Above max_frame (only the header is sent).
    for len in [65537u32, u32::MAX] {
        let mut c = Client::connect(addr);
        c.write_raw(&len.to_be_bytes()).unwrap();
        let frames = c.expect_closed(TIMEOUT);
        assert_eq!(frames.len(), 1, "{frames:?}");
        assert_error_frame(&frames[0], "frame_too_large");
    }

    // Exactly max_frame is fine, on a logged-in connection that then goes too far.
    let mut c = Client::login_as(addr, "alice", true);
    let mut payload = json!({"type": "ping", "seq": 1, "pad": ""}).to_string();
    let pad = 65536 - payload.len();
    payload = json!({"type": "ping", "seq": 1, "pad": "x".repeat(pad)}).to_string();
    assert_eq!(payload.len(), 65536);
    c.write_frame(payload.as_bytes());
    let resp = c.read_raw_response();
    assert_eq!(resp["ok"], json!(true), "{resp}");
    assert_eq!(resp["seq"], json!(1), "{resp}");
    c.write_raw(&65537u32.to_be_bytes()).unwrap();
    let frames = c.expect_closed(TIMEOUT);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_error_frame(&frames[0], "frame_too_large");

    // Other connections are unaffected.
    alice.request_ok("ping", Value::Null);
    let m = int(&alice.send_text(bob.id(), "still here"), "msg_id");
    let push = bob.expect_push("message", TIMEOUT);
    assert_eq!(push["msg_id"], json!(m), "{push}");
}

fn random_garbage(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let (mut alice, mut bob) = friends_pair(&server);
    let mut rng = rand::rng();

    // A frame of random bytes with a valid length: bad_json, the connection stays.
    let mut g = Client::connect(addr);
    let mut junk = vec![0u8; 1000];
    rng.fill(&mut junk[..]);
    junk[0] = 0xff; // never valid UTF-8, so never valid JSON
    g.write_frame(&junk);
    assert_error_frame(&g.read_raw_response(), "bad_json");
    g.request_ok("ping", Value::Null);

    // 64 KiB of random bytes: an error, then the connection is closed.
    let mut junk = vec![0u8; 64 * 1024];
    rng.fill(&mut junk[..]);
    junk[0] |= 0x01; // the length read from it exceeds max_frame
    let _ = g.write_raw(&junk); // the server may close before reading it all
    let frames = g.expect_closed(TIMEOUT);
    assert!(!frames.is_empty(), "no error frame before the close");
    assert_error_frame(&frames[0], "frame_too_large");

    alice.request_ok("ping", Value::Null);
    let m = int(&alice.send_text(bob.id(), "still here"), "msg_id");
    assert_eq!(bob.expect_push("message", TIMEOUT)["msg_id"], json!(m));
}

fn slow_consumer_is_disconnected(store: StoreKind) {
    let server = TestServer::start_with(
        store,
        &[
            ("server.max_frame", "32768"),
            ("server.output_high_water", "65536"),
        ],
    );
    let addr = server.addr();
    let (mut alice, mut slow) = friends_pair(&server);
    let mut carol = Client::new_user(addr, "carol");
    befriend(&mut carol, &mut alice);
    let slow_id = slow.id();

    // ~10 MB of pushes: far more than the kernel buffers plus the 64 KiB bound.
    let n = 600;
    let flood: Vec<_> = batch("flood", n)
        .into_iter()
        .map(|(c, _)| (c, emoji(4096)))
        .collect();
    let acks = alice.send_pipelined(slow_id, &flood, 32);
    for ack in &acks {
        assert_eq!(ack["ok"], json!(true), "{ack}");
    }

    // The server dropped the slow reader: its friend sees it go offline...
    let push = alice.expect_push("presence", TIMEOUT);
    assert_eq!(
        push,
        json!({"type": "presence", "user_id": slow_id, "online": false})
    );
    // ...and draining its socket ends in EOF long before all pushes.
    let frames = slow.expect_closed(TIMEOUT);
    assert!(
        frames.len() < n,
        "slow reader got all {} pushes: it was not disconnected",
        frames.len()
    );

    // Everyone else keeps working, and the messages are all stored.
    carol.request_ok("ping", Value::Null);
    let m = int(&alice.send_text(carol.id(), "hello carol"), "msg_id");
    assert_eq!(carol.expect_push("message", TIMEOUT)["msg_id"], json!(m));
    let acked: Vec<i64> = acks.iter().map(|a| int(a, "msg_id")).collect();
    let mut again = Client::login_as(addr, "bob", false);
    let resp = again.request_ok("sync", json!({"after": acked[n - 2]}));
    assert_eq!(ids(list(&resp, "messages")), [acked[n - 1]]);
    assert!(!more(&resp));
}

fn login_timeout(store: StoreKind) {
    let server = TestServer::start_with(store, &[("server.login_timeout_secs", "1")]);
    let addr = server.addr();
    Client::connect(addr).register("alice", PASSWORD);

    let start = Instant::now();
    let mut silent = Client::connect(addr);
    let mut pinging = Client::connect(addr);
    let mut logged = Client::login_as(addr, "alice", true);

    silent.expect_closed(Duration::from_secs(10));
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(800),
        "closed after {elapsed:?}, before the 1 s login timeout"
    );

    // Pinging does not count as logging in.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seq = 1000;
    loop {
        seq += 1;
        let _ = pinging.write_raw(&frame_bytes(
            json!({"type": "ping", "seq": seq}).to_string().as_bytes(),
        ));
        match pinging.try_read_frame(Instant::now() + Duration::from_millis(200)) {
            Err(ReadError::Closed) => break,
            Ok(_) | Err(ReadError::Timeout) => {}
        }
        assert!(
            Instant::now() < deadline,
            "an unauthenticated connection that only pings was never closed"
        );
        sleep_ms(150);
    }

    // The logged-in connection outlives the login timeout.
    let wait = Duration::from_millis(2500).saturating_sub(start.elapsed());
    std::thread::sleep(wait);
    logged.request_ok("ping", Value::Null);
    logged.request_ok("friends", Value::Null);
}

fn idle_timeout(store: StoreKind) {
    let server = TestServer::start_with(store, &[("server.idle_timeout_secs", "2")]);
    let addr = server.addr();
    let start = Instant::now();
    let mut idle = Client::new_user(addr, "idle");
    let idle_since = Instant::now();
    let mut busy = Client::new_user(addr, "busy");

    // The busy one pings every 500 ms for 4.5 s; meanwhile the idle one is closed.
    let mut idle_closed_after = None;
    while start.elapsed() < Duration::from_millis(4500) {
        busy.request_ok("ping", Value::Null);
        if idle_closed_after.is_none() && idle.is_closed_within(Duration::from_millis(10)) {
            idle_closed_after = Some(idle_since.elapsed());
        }
        sleep_ms(500);
    }
    busy.request_ok("friends", Value::Null);
    let after = idle_closed_after.unwrap_or_else(|| {
        panic!("a silent connection is still open after 4.5 s (idle timeout 2 s)")
    });
    assert!(
        after >= Duration::from_millis(1500),
        "silent connection closed after {after:?}, before the 2 s idle timeout"
    );
}

/// Connects and pings, retrying while the server is still full (a closed connection takes
/// a moment to be noticed).
fn connect_when_room(addr: SocketAddr) -> Client {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = Client::connect(addr);
        c.write_json(&json!({"type": "ping", "seq": 1}));
        match c.try_read_frame(Instant::now() + TIMEOUT) {
            Ok(resp) if resp["ok"] == json!(true) => return c,
            Ok(resp) => assert_error_frame(&resp, "server_full"),
            Err(e) => panic!("ping: {e:?}"),
        }
        assert!(Instant::now() < deadline, "server still full after 10 s");
        sleep_ms(100);
    }
}

fn max_connections(store: StoreKind) {
    let server = TestServer::start_with(store, &[("server.max_connections", "2")]);
    let addr = server.addr();
    let mut c1 = connect_when_room(addr);
    let mut c2 = connect_when_room(addr);

    let mut c3 = Client::connect(addr);
    let frames = c3.expect_closed(TIMEOUT);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_error_frame(&frames[0], "server_full");
    c1.request_ok("ping", Value::Null);
    c2.request_ok("ping", Value::Null);

    drop(c1);
    let mut c4 = connect_when_room(addr);
    c4.request_ok("ping", Value::Null);
    c2.request_ok("ping", Value::Null);
}

fn rate_limit(store: StoreKind) {
    let server = TestServer::start_with(
        store,
        &[
            ("server.rate_limit_per_sec", "5"),
            ("server.rate_limit_burst", "5"),
        ],
    );
    let addr = server.addr();
    let mut c = Client::connect(addr);
    let mut bytes = Vec::new();
    for seq in 1..=10 {
        bytes.extend(frame_bytes(
            json!({"type": "ping", "seq": seq}).to_string().as_bytes(),
        ));
    }
    c.write_raw(&bytes).unwrap();
    let mut limited = 0;
    for seq in 1..=10 {
        let resp = c.read_raw_response();
        assert_eq!(
            resp["seq"],
            json!(seq),
            "one response per request, in order: {resp}"
        );
        assert_eq!(resp["type"], json!("ping"), "{resp}");
        if seq <= 5 {
            assert_eq!(resp["ok"], json!(true), "within the burst: {resp}");
        } else if resp["ok"] == json!(false) {
            assert_eq!(error_code(&resp), "rate_limited", "{resp}");
            limited += 1;
        } else {
            assert!(
                seq > 6,
                "the 6th request of the burst must be limited: {resp}"
            );
        }
    }
    assert!(
        limited >= 4,
        "only {limited} of 5 excess requests were limited"
    );

    // Tokens refill; the limit is per connection.
    std::thread::sleep(Duration::from_millis(1200));
    c.request_ok("ping", Value::Null);
    let mut other = Client::connect(addr);
    for _ in 0..5 {
        other.request_ok("ping", Value::Null);
    }
}
