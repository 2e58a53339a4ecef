//! The wire contract (`docs/protocol.md`), end to end over TCP against the real binary:
//! accounts.
//!
//! `register`, `login` (password and token), `logout`, what an unauthenticated connection
//! may not do, profiles and `search_user`, on both stores: each scenario is a
//! `fn NAME(store: StoreKind)` run as `sqlite::NAME` and `mysql::NAME` (see
//! [`harness::both_stores`]). Every scenario starts its own server on a fresh store, so
//! scenarios run in parallel. Everything waits generously ([`client::TIMEOUT`]) and asserts
//! exact content. Friends, messages and limits are in `protocol_friends.rs`,
//! `protocol_messages.rs` and `protocol_limits.rs`; the helpers they share are in
//! `support/scenarios.rs`.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[macro_use]
#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

#[path = "support/scenarios.rs"]
mod scenarios;

use std::collections::BTreeSet;

use serde_json::{json, Value};

use client::{int, Client, PASSWORD};
use harness::{StoreKind, TestServer};
use scenarios::{assert_user, emoji, list, more};

both_stores!(
    register_validation,
    login_flow,
    logout_flow,
    unauthenticated_everywhere,
    search_user,
    profiles,
);

// ---- scenarios ----------------------------------------------------------------------

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
