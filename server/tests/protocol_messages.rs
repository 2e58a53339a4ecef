//! The wire contract (`docs/protocol.md`), end to end over TCP against the real binary:
//! messages.
//!
//! `send_message` (its pushes, errors, idempotency and text round trip), `sync`,
//! `history`, `conversations` and `read`, on both stores: each scenario is a
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

#[path = "support/scenarios.rs"]
mod scenarios;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use client::{befriend, error_code, error_message, int, Client, TIMEOUT};
use harness::{StoreKind, TestServer};
use scenarios::{
    assert_recent_ts, assert_user, batch, emoji, friends_pair, ids, list, more, QUIET,
};

both_stores!(
    send_message_pushes,
    send_message_errors,
    text_round_trip,
    idempotent_send,
    sync_paging,
    history_paging,
    conversations_and_read,
    timelines_and_last_pos,
);

// ---- helpers ------------------------------------------------------------------------

/// Asserts `m` is the message object `{msg_id, from, to, text, ts, client_msg_id, pos}`
/// (`pos` a position: at least 1).
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
        BTreeSet::from(["msg_id", "from", "to", "text", "ts", "client_msg_id", "pos"]),
        "message object keys: {m}"
    );
    assert_eq!(m["msg_id"], json!(msg_id), "{m}");
    assert_eq!(m["from"], json!(from), "{m}");
    assert_eq!(m["to"], json!(to), "{m}");
    assert_eq!(m["text"], json!(text), "{m}");
    assert_eq!(m["client_msg_id"], json!(cmid), "{m}");
    assert!(m["pos"].as_i64().is_some_and(|p| p >= 1), "pos: {m}");
    assert_recent_ts(m, "ts");
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

// ---- scenarios ----------------------------------------------------------------------

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

/// v2 timelines: each message takes the next position in its sender's and its
/// recipient's timeline; the ack carries the sender's, pushes the receiver's; `login`
/// answers `last_pos`; `sync` pages by `pos`; a retry answers the original position.
fn timelines_and_last_pos(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut a1 = Client::new_user(addr, "alice");
    let mut b1 = Client::new_user(addr, "bob");
    let mut c1 = Client::new_user(addr, "carol");
    befriend(&mut a1, &mut b1);
    befriend(&mut c1, &mut a1);
    let (alice, bob, carol) = (a1.id(), b1.id(), c1.id());
    let mut fresh = Client::connect(addr);
    let resp = fresh.login("alice", client::PASSWORD, false);
    assert_eq!(resp["last_pos"], json!(0), "an empty timeline: {resp}");

    // alice → bob: alice's position 1, bob's position 1.
    let ack = a1.request_ok(
        "send_message",
        json!({"to": bob, "text": "one", "client_msg_id": "t1"}),
    );
    assert_eq!(ack["pos"], json!(1), "{ack}");
    let m1 = int(&ack, "msg_id");
    assert_eq!(b1.expect_push("message", TIMEOUT)["pos"], json!(1));
    // carol → alice: alice's 2, carol's 1. bob → alice: alice's 3, bob's 2.
    let ack = c1.send_text(alice, "two");
    assert_eq!(ack["pos"], json!(1), "{ack}");
    assert_eq!(a1.expect_push("message", TIMEOUT)["pos"], json!(2));
    let ack = b1.send_text(alice, "three");
    assert_eq!(ack["pos"], json!(2), "{ack}");
    assert_eq!(a1.expect_push("message", TIMEOUT)["pos"], json!(3));

    // A new session starts after position 3 and is pushed from 4 on, as is the old one.
    let mut a2 = Client::connect(addr);
    let resp = a2.login("alice", client::PASSWORD, true);
    assert_eq!(resp["last_pos"], json!(3), "{resp}");
    let ack = b1.send_text(alice, "four");
    assert_eq!(ack["pos"], json!(3), "{ack}");
    for c in [&mut a1, &mut a2] {
        let push = c.expect_push("message", TIMEOUT);
        assert_eq!(push["pos"], json!(4), "{push}");
        assert_eq!(push["from"], json!(bob), "{push}");
    }

    // sync pages by pos: alice's timeline is 1..4 with her positions.
    let all = a1.sync_all(0);
    let positions: Vec<i64> = all.iter().map(|m| int(m, "pos")).collect();
    assert_eq!(positions, [1, 2, 3, 4], "{all:?}");
    let senders: Vec<i64> = all.iter().map(|m| int(m, "from")).collect();
    assert_eq!(senders, [alice, carol, bob, bob]);
    let resp = a1.request_ok("sync", json!({"after": 2, "limit": 1}));
    let page = list(&resp, "messages");
    assert_eq!(page.len(), 1, "{resp}");
    assert_eq!(page[0]["pos"], json!(3), "{resp}");
    assert_eq!(resp["more"], json!(true), "{resp}");
    // bob's timeline holds the same messages at his own positions.
    let bobs: Vec<i64> = b1.sync_all(0).iter().map(|m| int(m, "pos")).collect();
    assert_eq!(bobs, [1, 2, 3]);
    // history and conversations show the reader's positions.
    let history = a1.history_all(bob);
    let hist_pos: Vec<i64> = history.iter().map(|m| int(m, "pos")).collect();
    assert_eq!(hist_pos, [4, 3, 1], "newest first, alice's positions");

    // A retry answers the original msg_id and position, and stores nothing.
    let retry = a1.request_ok(
        "send_message",
        json!({"to": bob, "text": "one", "client_msg_id": "t1"}),
    );
    assert_eq!(retry["msg_id"], json!(m1), "{retry}");
    assert_eq!(retry["pos"], json!(1), "{retry}");
    assert_eq!(a1.sync_all(0).len(), 4);
    let resp = fresh.request_ok("sync", json!({"after": 4}));
    assert_eq!(resp["messages"], json!([]), "{resp}");
}
