//! The wire contract (`docs/protocol.md`), end to end over TCP against the real binary:
//! liveness and limits.
//!
//! `ping`, malformed input (bad JSON, bad fields, bad frames, random garbage), slow
//! consumers, the login and idle timeouts, `max_connections` and the rate limit, on both
//! stores: each scenario is a `fn NAME(store: StoreKind)` run as `sqlite::NAME` and
//! `mysql::NAME` (see [`harness::both_stores`]). Every scenario starts its own server on a
//! fresh store, so scenarios run in parallel. Everything waits generously
//! ([`client::TIMEOUT`]) and asserts exact content.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[macro_use]
#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

#[path = "support/scenarios.rs"]
mod scenarios;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{json, Value};

use client::{
    befriend, error_code, error_message, frame_bytes, int, sleep_ms, Client, ReadError, PASSWORD,
    TIMEOUT,
};
use harness::{StoreKind, TestServer};
use scenarios::{assert_recent_ts, batch, emoji, friends_pair, ids, list, more};

both_stores!(
    ping,
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
    let all = again.sync_all(0);
    assert_eq!(ids(&all), acked, "every message stored once, in order");
    let resp = again.request_ok("sync", json!({"after": int(&all[n - 2], "pos")}));
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
