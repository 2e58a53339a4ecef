//! Delivery guarantees end to end, on both stores: order of back-to-back messages,
//! offline delivery through `sync`, pushes to every device, and idempotent retries across
//! a reconnect.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[macro_use]
#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use client::{befriend, int, Client, TIMEOUT};
use harness::{StoreKind, TestServer};

both_stores!(
    order_of_1000_back_to_back,
    offline_delivery_via_sync,
    multi_device_pushes,
    idempotent_retry_after_reconnect,
);

fn ids(messages: &[Value]) -> Vec<i64> {
    messages.iter().map(|m| int(m, "msg_id")).collect()
}

/// 1,000 messages written without waiting for acks: acks and pushes carry increasing
/// msg_ids in send order, and the pushes match the acks exactly.
fn order_of_1000_back_to_back(store: StoreKind) {
    let server = TestServer::start(store);
    let mut alice = Client::new_user(server.addr(), "alice");
    let mut bob = Client::new_user(server.addr(), "bob");
    befriend(&mut alice, &mut bob);
    let n = 1000;
    for i in 0..n {
        alice.send_request(
            "send_message",
            json!({"to": bob.id(), "text": format!("msg {i}"), "client_msg_id": format!("o-{i}")}),
        );
    }
    let acks: Vec<i64> = (0..n)
        .map(|_| {
            let resp = alice.read_response();
            assert_eq!(resp["ok"], json!(true), "{resp}");
            int(&resp, "msg_id")
        })
        .collect();
    assert!(
        acks.windows(2).all(|w| w[0] < w[1]),
        "acks are not in increasing msg_id order"
    );
    let pushes = bob.expect_pushes("message", n, Duration::from_secs(60));
    assert_eq!(
        ids(&pushes),
        acks,
        "pushes in send order, matching the acks"
    );
    for (i, p) in pushes.iter().enumerate() {
        assert_eq!(p["text"], json!(format!("msg {i}")), "{p}");
        assert_eq!(p["client_msg_id"], json!(format!("o-{i}")), "{p}");
        assert_eq!(p["from"], json!(alice.id()), "{p}");
    }
    bob.no_push_within(Duration::from_millis(300));
    assert_eq!(ids(&bob.sync_all(0)), acks);
}

/// The recipient is offline during the sends; after logging in, sync returns every
/// message exactly once, in order, across pages.
fn offline_delivery_via_sync(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut alice = Client::new_user(server.addr(), "alice");
    let mut bob = Client::new_user(addr, "bob");
    befriend(&mut alice, &mut bob);
    let bob_id = bob.id();
    drop(bob);

    let msgs: Vec<(String, String)> = (0..300)
        .map(|i| (format!("off-{i}"), format!("while you were away #{i}")))
        .collect();
    let acks: Vec<i64> = alice
        .send_pipelined(bob_id, &msgs, 50)
        .iter()
        .map(|r| {
            assert_eq!(r["ok"], json!(true), "{r}");
            int(r, "msg_id")
        })
        .collect();

    let mut bob = Client::login_as(addr, "bob", true);
    // Old messages are fetched with sync, in pages of 120.
    let mut cursor = 0;
    let mut got: Vec<Value> = Vec::new();
    loop {
        let resp = bob.request_ok("sync", json!({"after": cursor, "limit": 120}));
        let page = resp["messages"].as_array().unwrap().clone();
        if let Some(last) = page.last() {
            cursor = int(last, "pos");
        }
        got.extend(page);
        if resp["more"] == json!(false) {
            break;
        }
        assert!(got.len() <= 300, "sync returns more than was sent");
    }
    assert_eq!(ids(&got), acks, "every message once, in order");
    for (m, (cmid, text)) in got.iter().zip(&msgs) {
        assert_eq!(m["client_msg_id"], json!(cmid), "{m}");
        assert_eq!(m["text"], json!(text), "{m}");
        assert_eq!(m["to"], json!(bob_id), "{m}");
    }
    let resp = bob.request_ok("sync", json!({"after": cursor}));
    assert_eq!(resp["messages"], json!([]), "{resp}");
    assert_eq!(resp["more"], json!(false), "{resp}");

    // New messages are pushed from now on.
    let m = int(&alice.send_text(bob_id, "welcome back"), "msg_id");
    let push = bob.expect_push("message", TIMEOUT);
    assert_eq!(push["msg_id"], json!(m), "{push}");
}

/// Three devices of the recipient and two of the sender: every device but the sending one
/// gets every message, in order.
fn multi_device_pushes(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut a1 = Client::new_user(addr, "alice");
    let mut b1 = Client::new_user(addr, "bob");
    befriend(&mut a1, &mut b1);
    let mut a2 = Client::login_as(addr, "alice", true);
    let mut b2 = Client::login_as(addr, "bob", true);
    let mut b3 = Client::login_as(addr, "bob", true);
    let (alice, bob) = (a1.id(), b1.id());

    let msgs: Vec<(String, String)> = (0..50)
        .map(|i| (format!("md-{i}"), format!("to all devices #{i}")))
        .collect();
    let acks: Vec<i64> = a1
        .send_pipelined(bob, &msgs, 16)
        .iter()
        .map(|r| int(r, "msg_id"))
        .collect();
    for c in [&mut b1, &mut b2, &mut b3, &mut a2] {
        let pushes = c.expect_pushes("message", 50, TIMEOUT);
        assert_eq!(ids(&pushes), acks, "{}", c.name);
        for (p, (cmid, text)) in pushes.iter().zip(&msgs) {
            assert_eq!(p["client_msg_id"], json!(cmid), "{p}");
            assert_eq!(p["text"], json!(text), "{p}");
            assert_eq!(p["from"], json!(alice), "{p}");
            assert_eq!(p["to"], json!(bob), "{p}");
        }
    }
    a1.no_push_within(Duration::from_millis(300));

    // A reply from bob's second device.
    let r = int(&b2.send_text(alice, "reply"), "msg_id");
    for c in [&mut a1, &mut a2, &mut b1, &mut b3] {
        let p = c.expect_push("message", TIMEOUT);
        assert_eq!(p["msg_id"], json!(r), "{}: {p}", c.name);
        assert_eq!(p["from"], json!(bob), "{p}");
    }
    b2.no_push_within(Duration::from_millis(300));
    for c in [&mut a1, &mut a2, &mut b1, &mut b3] {
        c.no_push_within(Duration::ZERO);
    }
}

/// Send, drop the connection before reading the ack, reconnect with the token and resend
/// the same client_msg_ids: each gets one msg_id, and exactly one copy is stored.
fn idempotent_retry_after_reconnect(store: StoreKind) {
    let server = TestServer::start(store);
    let addr = server.addr();
    let mut alice = Client::new_user(addr, "alice");
    let mut bob = Client::new_user(addr, "bob");
    befriend(&mut alice, &mut bob);
    let token = alice.token.clone().unwrap();
    let bob_id = bob.id();

    let msgs: Vec<(String, String)> = (0..20)
        .map(|i| (format!("retry-{i}"), format!("retried #{i}")))
        .collect();
    for round in 0..3 {
        // Fire everything and vanish without reading a single ack.
        let mut c = Client::login_with_token(addr, &token, true);
        for (cmid, text) in &msgs {
            c.send_request(
                "send_message",
                json!({"to": bob_id, "text": text, "client_msg_id": cmid}),
            );
        }
        drop(c);
        if round == 0 {
            // Give the first round a chance to commit some, not necessarily all.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    let mut c = Client::login_with_token(addr, &token, true);
    let acks: Vec<i64> = c
        .send_pipelined(bob_id, &msgs, 20)
        .iter()
        .map(|r| {
            assert_eq!(r["ok"], json!(true), "{r}");
            int(r, "msg_id")
        })
        .collect();
    let distinct: BTreeSet<i64> = acks.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        msgs.len(),
        "each client_msg_id has its own msg_id"
    );
    // Once more: the same ids again.
    let again: Vec<i64> = c
        .send_pipelined(bob_id, &msgs, 20)
        .iter()
        .map(|r| int(r, "msg_id"))
        .collect();
    assert_eq!(again, acks);

    let stored = bob.sync_all(0);
    let mut stored_ids = ids(&stored);
    assert_eq!(
        stored.len(),
        msgs.len(),
        "exactly one copy of each: {stored:?}"
    );
    stored_ids.sort();
    let mut want = acks.clone();
    want.sort();
    assert_eq!(stored_ids, want);
    for m in &stored {
        let cmid = m["client_msg_id"].as_str().unwrap();
        let i: usize = cmid.trim_start_matches("retry-").parse().unwrap();
        assert_eq!(m["msg_id"], json!(acks[i]), "{m}");
        assert_eq!(m["text"], json!(msgs[i].1), "{m}");
    }
    // Pushes are at-least-once: whatever bob got is among the stored ids.
    for p in bob.drain_pushes(Duration::from_millis(300)) {
        if p["type"] == "message" {
            assert!(distinct.contains(&int(&p, "msg_id")), "{p}");
        }
    }
}
