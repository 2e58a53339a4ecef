//! The wire contract (`docs/protocol.md`), end to end over TCP against the real binary:
//! friends.
//!
//! Friend requests (`add_friend`, `friend_requests`, `accept_friend`, `reject_friend`,
//! `delete_friend` and their pushes), the friends list and presence, on both stores: each
//! scenario is a `fn NAME(store: StoreKind)` run as `sqlite::NAME` and `mysql::NAME` (see
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

#[path = "support/scenarios.rs"]
mod scenarios;

use serde_json::{json, Value};

use client::{befriend, int, Client, PASSWORD, TIMEOUT};
use harness::{StoreKind, TestServer};
use scenarios::{assert_recent_ts, assert_user, list, more, QUIET};

both_stores!(friend_flow, presence);

// ---- scenarios ----------------------------------------------------------------------

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
