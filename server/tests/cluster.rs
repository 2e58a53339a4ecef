//! Cluster mode end to end (`shared/cluster.md`): several `startserv` nodes on one MariaDB
//! database (`CHAT_TEST_MYSQL`, default `mysql://root@127.0.0.1:3306`) and one Redis (the
//! shared one on 127.0.0.1:6379, `CHAT_TEST_REDIS`, under a random cluster name per test;
//! or a private `redis-server` for the test that stops Redis).
//!
//! * every push kind crosses nodes; one user's devices on several nodes; presence;
//! * many senders on two nodes to one user: one gapless timeline, every push connection
//!   gets every position after its `last_pos` once and in order (guarantee 3);
//! * an idempotent retry on another node;
//! * failures: a node SIGKILLed mid-stream, Redis stopped and restarted mid-stream, a
//!   node frozen (SIGSTOP) past its TTL and resumed;
//! * `logged_out` on the bus closes a user's sessions on every node.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

#[path = "support/cluster.rs"]
mod cluster;

#[path = "support/private_redis.rs"]
mod private_redis;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use client::{befriend, frame_bytes, int, is_response, Client, ReadError, TIMEOUT};
use cluster::{
    assert_match_timeline, assert_positions, batch, expect_presence, logged_out_publication,
    timeline_by_pos, wait_until, PushReader, TestCluster, NODE_TTL_MS,
};
use private_redis::PrivateRedis;

/// How long a cross-node push may take in a healthy cluster.
const PUSH_WAIT: Duration = Duration::from_secs(5);
/// How long a negative check ("nothing more arrives") waits.
const QUIET: Duration = Duration::from_millis(500);

/// `friends`, `search_user` and `get_profile` on `c` all say `user` (named `username`) is
/// `online`.
fn assert_online_everywhere(c: &mut Client, user: i64, username: &str, online: bool) {
    let resp = c.request_ok("friends", Value::Null);
    let friend = resp["friends"]
        .as_array()
        .unwrap_or_else(|| panic!("friends without an array: {resp}"))
        .iter()
        .find(|u| u["user_id"] == json!(user))
        .unwrap_or_else(|| panic!("{}: {user} is not in friends: {resp}", c.name))
        .clone();
    assert_eq!(
        friend["online"],
        json!(online),
        "{}: friends says {username} online={}, expected {online}: {friend}",
        c.name,
        friend["online"]
    );
    let resp = c.request_ok("search_user", json!({"query": username}));
    let found = resp["users"]
        .as_array()
        .unwrap_or_else(|| panic!("search_user without an array: {resp}"))
        .iter()
        .find(|u| u["user_id"] == json!(user))
        .unwrap_or_else(|| panic!("{}: search_user {username:?} misses {user}: {resp}", c.name))
        .clone();
    assert_eq!(
        found["online"],
        json!(online),
        "{}: search_user says {username} online={}, expected {online}: {found}",
        c.name,
        found["online"]
    );
    let resp = c.request_ok("get_profile", json!({"user_id": user}));
    assert_eq!(
        resp["user"]["online"],
        json!(online),
        "{}: get_profile says {username} online={}, expected {online}: {resp}",
        c.name,
        resp["user"]["online"]
    );
}

/// Checks a `message` push against the ack of its send and the receiving user's `pos`.
fn assert_push_of(push: &Value, ack: &Value, from: i64, to: i64, pos: i64) {
    assert_eq!(push["msg_id"], ack["msg_id"], "push {push} vs ack {ack}");
    assert_eq!(push["ts"], ack["ts"], "push {push} vs ack {ack}");
    assert_eq!(push["from"], json!(from), "{push}");
    assert_eq!(push["to"], json!(to), "{push}");
    assert_eq!(
        push["pos"],
        json!(pos),
        "wrong pos for the receiving user: {push}"
    );
}

/// What one sending connection got from [`stream`].
struct Stream {
    /// Index of each acked message -> its ack.
    acks: BTreeMap<usize, Value>,
    /// Messages `0..written` were written to the socket.
    written: usize,
    /// The server closed the connection.
    closed: bool,
    /// `message` pushes this sending connection received (it should get none: its only
    /// messages are its own sends, which reach it as acks).
    message_pushes: Vec<Value>,
}

fn stream_cmid(prefix: &str, i: usize) -> String {
    format!("{prefix}-{i}")
}

fn stream_text(prefix: &str, i: usize) -> String {
    format!("{prefix} message #{i}")
}

/// Streams `send_message`s `prefix-0, prefix-1, …` to `to` with up to `window`
/// outstanding (raw frames, so a connection the server drops ends the stream instead of
/// panicking), writing message `n` only while `want(n)`, `pace` apart. Every response must
/// be an ack (`ok: true` with `msg_id`, `ts`, `pos`); `acked` counts them as they come.
fn stream(
    c: &mut Client,
    to: i64,
    prefix: &str,
    window: usize,
    pace: Duration,
    acked: &AtomicUsize,
    mut want: impl FnMut(usize) -> bool,
) -> Stream {
    assert_eq!(c.outstanding(), 0);
    let mut out = Stream {
        acks: BTreeMap::new(),
        written: 0,
        closed: false,
        message_pushes: Vec::new(),
    };
    let mut in_flight: VecDeque<(u64, usize)> = VecDeque::new();
    let mut last_write = Instant::now() - pace;
    loop {
        while !out.closed && in_flight.len() < window && want(out.written) {
            if !pace.is_zero() {
                let next = last_write + pace;
                let now = Instant::now();
                if next > now {
                    thread::sleep(next - now);
                }
                last_write = Instant::now();
            }
            let n = out.written;
            let seq = 1_000_000 + n as u64;
            let body = json!({
                "type": "send_message",
                "seq": seq,
                "to": to,
                "text": stream_text(prefix, n),
                "client_msg_id": stream_cmid(prefix, n),
            });
            let bytes = frame_bytes(&serde_json::to_vec(&body).unwrap());
            if c.write_raw(&bytes).is_err() {
                out.closed = true;
                break;
            }
            in_flight.push_back((seq, n));
            out.written += 1;
        }
        if in_flight.is_empty() {
            return out;
        }
        match c.try_read_frame(Instant::now() + TIMEOUT) {
            Ok(frame) if is_response(&frame) => {
                let (seq, n) = in_flight.pop_front().unwrap();
                assert_eq!(
                    frame["seq"],
                    json!(seq),
                    "{}: responses out of order: {frame}",
                    c.name
                );
                assert_eq!(
                    frame["ok"],
                    json!(true),
                    "{}: send_message {} was not acked: {frame}",
                    c.name,
                    stream_cmid(prefix, n)
                );
                for key in ["msg_id", "ts", "pos"] {
                    int(&frame, key);
                }
                out.acks.insert(n, frame);
                acked.fetch_add(1, Ordering::AcqRel);
            }
            Ok(frame) => {
                if frame["type"] == "message" {
                    out.message_pushes.push(frame);
                }
            }
            Err(ReadError::Closed) => {
                out.closed = true;
                return out;
            }
            Err(ReadError::Timeout) => panic!(
                "{}: no response within {TIMEOUT:?} ({} outstanding, {} acked)",
                c.name,
                in_flight.len(),
                out.acks.len()
            ),
        }
    }
}

/// Waits until `cond` holds. The streaming `threads` run until told to stop, so one that
/// ends first has failed: its panic is raised here at once (instead of a time-out).
fn wait_streaming(
    threads: &mut Vec<thread::JoinHandle<(Client, Stream)>>,
    timeout: Duration,
    what: &str,
    mut cond: impl FnMut() -> bool,
) {
    wait_until(timeout, what, || {
        cond() || threads.iter().any(|h| h.is_finished())
    });
    if let Some(i) = threads.iter().position(|h| h.is_finished()) {
        match threads.remove(i).join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok((c, _)) => panic!("{}: stopped streaming before {what}", c.name),
        }
    }
}

/// Asserts that a sender whose timeline holds only its own sends got acks at positions
/// `1..=n` in send order.
fn assert_acks_are_own_timeline(who: &str, acks: &BTreeMap<usize, Value>) {
    let positions: Vec<i64> = acks.values().map(|a| int(a, "pos")).collect();
    assert_positions(
        &format!("{who} (ack positions)"),
        &positions,
        0,
        acks.len() as i64,
    );
}

/// 1. Every push kind crosses nodes: each is pushed to a user on another node than the
///    actor's.
#[test]
fn every_push_kind_crosses_nodes() {
    let cl = TestCluster::start(3);
    let mut a = cl.new_user(0, "alice");
    let mut b = cl.new_user(1, "bob");
    let mut c = cl.new_user(2, "carol");
    let (aid, bid, cid) = (a.id(), b.id(), c.id());

    // friend_request: alice (n1) -> bob (n2).
    let resp = a.request_ok("add_friend", json!({"user_id": bid, "message": "hi bob"}));
    let request_id = int(&resp, "request_id");
    let p = b.expect_push("friend_request", PUSH_WAIT);
    assert_eq!(p["request_id"], json!(request_id), "{p}");
    assert_eq!(p["from"]["user_id"], json!(aid), "{p}");
    assert_eq!(p["from"]["username"], json!("alice"), "{p}");
    assert_eq!(p["message"], json!("hi bob"), "{p}");
    int(&p, "ts");

    // friend_accepted: bob (n2) accepts -> alice (n1).
    b.request_ok("accept_friend", json!({"request_id": request_id}));
    let p = a.expect_push("friend_accepted", PUSH_WAIT);
    assert_eq!(p["friend"]["user_id"], json!(bid), "{p}");
    assert_eq!(p["friend"]["username"], json!("bob"), "{p}");

    // carol (n3) -> bob (n2), accepted -> carol (n3).
    let resp = c.request_ok("add_friend", json!({"user_id": bid}));
    let request_id = int(&resp, "request_id");
    let p = b.expect_push("friend_request", PUSH_WAIT);
    assert_eq!(p["request_id"], json!(request_id), "{p}");
    assert_eq!(p["from"]["user_id"], json!(cid), "{p}");
    b.request_ok("accept_friend", json!({"request_id": request_id}));
    let p = c.expect_push("friend_accepted", PUSH_WAIT);
    assert_eq!(p["friend"]["user_id"], json!(bid), "{p}");

    // message: bob (n2) -> carol (n3): position 1 of both timelines.
    let ack = b.send_text(cid, "bob to carol");
    assert_eq!(ack["pos"], json!(1), "{ack}");
    let p = c.expect_push("message", PUSH_WAIT);
    assert_push_of(&p, &ack, bid, cid, 1);
    assert_eq!(p["text"], json!("bob to carol"), "{p}");

    // message: alice (n1) -> bob (n2): alice's position 1, bob's position 2.
    let ack = a.send_text(bid, "alice to bob");
    assert_eq!(ack["pos"], json!(1), "{ack}");
    let p = b.expect_push("message", PUSH_WAIT);
    assert_push_of(&p, &ack, aid, bid, 2);
    assert_eq!(p["text"], json!("alice to bob"), "{p}");
    let cmid = p["client_msg_id"].clone();
    assert!(cmid.is_string(), "{p}");
    let alice_msg = int(&ack, "msg_id");

    // read: bob (n2) reads alice's message -> alice (n1).
    b.request_ok("read", json!({"peer": aid, "up_to": alice_msg}));
    let p = a.expect_push("read", PUSH_WAIT);
    assert_eq!(p["by"], json!(bid), "{p}");
    assert_eq!(p["up_to"], json!(alice_msg), "{p}");

    // presence offline: carol (n3) leaves -> bob (n2).
    drop(c);
    expect_presence(&mut b, cid, false, PUSH_WAIT, &[]);
    // presence online: carol back on n3 -> bob (n2).
    let (mut c, _) = cl.login(2, "carol", true);
    expect_presence(&mut b, cid, true, PUSH_WAIT, &[]);
    // bob (n2) sees carol (n3) come online too.

    // friend_removed: alice (n1) removes bob -> bob (n2).
    a.request_ok("delete_friend", json!({"user_id": bid}));
    let p = b.expect_push("friend_removed", PUSH_WAIT);
    assert_eq!(p["user_id"], json!(aid), "{p}");
    // Friends only, whichever node checks: neither side can send any more.
    let resp = b.send_with_cmid(aid, "after the removal", "removed-1");
    assert_eq!(
        resp["error"]["code"],
        json!("not_friends"),
        "bob (n2) messaged alice after she removed him on n1: {resp}"
    );
    let resp = a.send_with_cmid(bid, "after the removal", "removed-2");
    assert_eq!(
        resp["error"]["code"],
        json!("not_friends"),
        "alice (n1) messaged bob after removing him: {resp}"
    );

    // presence offline: bob (n2) leaves -> carol (n3); alice (no longer a friend) hears
    // nothing.
    drop(b);
    expect_presence(&mut c, bid, false, PUSH_WAIT, &[]);
    a.no_push_of_type_within("presence", QUIET);

    // Each push came once.
    a.no_push_of_type_within("friend_accepted", QUIET);
    a.no_push_of_type_within("read", Duration::ZERO);
    c.no_push_of_type_within("message", Duration::ZERO);
}

/// 2. One user on two nodes, a friend on a third: every message reaches every other
///    connection of both users once, with each receiving user's `pos`.
#[test]
fn multi_device_across_nodes() {
    let cl = TestCluster::start(3);
    let mut a1 = cl.new_user(0, "alice");
    let mut b = cl.new_user(2, "bob");
    befriend(&mut a1, &mut b);
    let (aid, bid) = (a1.id(), b.id());
    let (mut a2, last) = cl.login(1, "alice", true);
    assert_eq!(last, 0, "alice's timeline is empty");

    // B (n3) -> A: both of A's connections (n1, n2) get it at A's position 1.
    let ack = b.send_text(aid, "to both devices");
    assert_eq!(ack["pos"], json!(1), "{ack}");
    let p = a1.expect_push("message", PUSH_WAIT);
    assert_push_of(&p, &ack, bid, aid, 1);
    let p = a2.expect_push("message", PUSH_WAIT);
    assert_push_of(&p, &ack, bid, aid, 1);

    // A sends from n1: the ack has A's pos, A's n2 connection gets it with that pos, B
    // gets it with B's pos.
    let ack = a1.send_text(bid, "from device 1");
    assert_eq!(
        ack["pos"],
        json!(2),
        "A's timeline: 1 received, 2 sent: {ack}"
    );
    let p = a2.expect_push("message", PUSH_WAIT);
    assert_push_of(&p, &ack, aid, bid, 2);
    let p = b.expect_push("message", PUSH_WAIT);
    assert_push_of(&p, &ack, aid, bid, 2);

    // And from n2: the n1 connection gets it (not its own n1 send before it).
    let ack = a2.send_text(bid, "from device 2");
    assert_eq!(ack["pos"], json!(3), "{ack}");
    let p = a1.expect_push("message", PUSH_WAIT);
    assert_push_of(&p, &ack, aid, bid, 3);
    let p = b.expect_push("message", PUSH_WAIT);
    assert_push_of(&p, &ack, aid, bid, 3);

    thread::sleep(QUIET);
    for c in [&mut a1, &mut a2, &mut b] {
        c.no_push_of_type_within("message", Duration::ZERO);
    }
    let a_timeline = a1.sync_all(0);
    let b_timeline = b.sync_all(0);
    timeline_by_pos("alice", &a_timeline);
    timeline_by_pos("bob", &b_timeline);
    let ids = |t: &[Value]| t.iter().map(|m| int(m, "msg_id")).collect::<Vec<_>>();
    assert_eq!(
        ids(&a_timeline),
        ids(&b_timeline),
        "both timelines hold the 3 messages in one order"
    );
}

/// 3. Presence is cluster-wide: online while a logged-in connection is on any node.
#[test]
fn presence_across_nodes() {
    let cl = TestCluster::start(3);
    let mut a = cl.new_user(0, "alice");
    let mut b = cl.new_user(1, "bobby");
    befriend(&mut a, &mut b);
    let (aid, bid) = (a.id(), b.id());

    assert_online_everywhere(&mut a, bid, "bobby", true);
    assert_online_everywhere(&mut b, aid, "alice", true);

    drop(b);
    expect_presence(&mut a, bid, false, PUSH_WAIT, &[]);
    assert_online_everywhere(&mut a, bid, "bobby", false);

    // Back on the third node.
    let (mut b3, _) = cl.login(2, "bobby", true);
    expect_presence(&mut a, bid, true, PUSH_WAIT, &[]);
    assert_online_everywhere(&mut a, bid, "bobby", true);
    assert_online_everywhere(&mut b3, aid, "alice", true);

    // A second connection (n2, push: false) announces nothing; closing the first leaves
    // bobby online; closing the last takes him offline.
    let (b2, _) = cl.login(1, "bobby", false);
    a.no_push_of_type_within("presence", QUIET);
    drop(b3);
    a.no_push_of_type_within("presence", Duration::from_millis(1000));
    assert_online_everywhere(&mut a, bid, "bobby", true);
    drop(b2);
    expect_presence(&mut a, bid, false, PUSH_WAIT, &[]);
    assert_online_everywhere(&mut a, bid, "bobby", false);

    // alice leaving is seen by bobby on another node.
    let (mut b1, _) = cl.login(1, "bobby", true);
    expect_presence(&mut a, bid, true, PUSH_WAIT, &[]);
    drop(a);
    expect_presence(&mut b1, aid, false, PUSH_WAIT, &[]);
    assert_online_everywhere(&mut b1, aid, "alice", false);
}

/// 4. 20 senders on two nodes, 30 pipelined messages each, to one user with a push
///    connection on each node: one timeline 1..=600, and each push connection gets every
///    position once and in order.
#[test]
fn concurrent_senders_one_gapless_timeline() {
    const SENDERS: usize = 20;
    const PER_SENDER: usize = 30;
    const WINDOW: usize = 10;
    let cl = TestCluster::start(2);
    let mut r0 = cl.new_user(0, "rcpt");
    let (r1, r1_last) = cl.login(1, "rcpt", true);
    let rid = r0.id();
    let mut senders = Vec::new();
    for i in 0..SENDERS {
        let mut s = cl.new_user(i % 2, &format!("snd{i:02}"));
        befriend(&mut s, &mut r0);
        senders.push(s);
    }
    let reader0 = PushReader::spawn(r0);
    let reader1 = PushReader::spawn(r1);

    let barrier = Arc::new(Barrier::new(SENDERS));
    let handles: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, mut s)| {
            let barrier = Arc::clone(&barrier);
            thread::spawn(move || {
                let msgs = batch(&format!("s{i:02}"), 0..PER_SENDER);
                barrier.wait();
                let acks = s.send_pipelined(rid, &msgs, WINDOW);
                (s, msgs, acks)
            })
        })
        .collect();
    let mut acked: BTreeMap<i64, (usize, usize)> = BTreeMap::new();
    for (i, h) in handles.into_iter().enumerate() {
        let (s, msgs, acks) = h.join().expect("sender thread");
        assert_eq!(acks.len(), msgs.len());
        for (k, ack) in acks.iter().enumerate() {
            assert_eq!(ack["ok"], json!(true), "{}: send {k} failed: {ack}", s.name);
            // The sender's timeline holds only its own 30 sends, in the order sent.
            assert_eq!(
                ack["pos"],
                json!(k as i64 + 1),
                "{}: ack {k} has the wrong pos: {ack}",
                s.name
            );
            let prev = acked.insert(int(ack, "msg_id"), (i, k));
            assert!(prev.is_none(), "msg_id acked twice: {ack}");
        }
    }

    let n = (SENDERS * PER_SENDER) as i64;
    let (mut check, last) = cl.login(1, "rcpt", false);
    assert_eq!(last, n, "last_pos after all sends");
    let synced = check.sync_all(0);
    assert_eq!(synced.len() as i64, n, "sync returns each message once");
    let timeline = timeline_by_pos("rcpt", &synced);
    let in_timeline: BTreeSet<i64> = synced.iter().map(|m| int(m, "msg_id")).collect();
    let acked_ids: BTreeSet<i64> = acked.keys().copied().collect();
    assert_eq!(
        in_timeline, acked_ids,
        "the timeline is exactly the acked messages"
    );
    // Each sender's messages are in its send order (guarantee 4).
    let mut next_of = [0usize; SENDERS];
    for m in &synced {
        let (i, k) = acked[&int(m, "msg_id")];
        assert_eq!(k, next_of[i], "sender {i}'s messages out of order at {m}");
        next_of[i] += 1;
        assert_eq!(m["client_msg_id"], json!(format!("s{i:02}-{k}")), "{m}");
    }

    for (reader, after) in [(reader0, 0), (reader1, r1_last)] {
        let mut got = reader.finish(n, Duration::from_secs(20));
        let who = got.client.name.clone();
        assert!(!got.closed, "{who}: connection closed");
        assert_positions(&who, &got.positions(), after, n);
        assert_match_timeline(&who, &got.message_values(), &timeline);
        got.client.no_push_of_type_within("message", QUIET);
    }
}

/// 5. A retry of `send_message` on another node returns the original ack and stores
///    and pushes nothing new.
#[test]
fn idempotent_retry_on_another_node() {
    let cl = TestCluster::start(3);
    let mut a0 = cl.new_user(0, "alice");
    let mut b = cl.new_user(1, "bob");
    befriend(&mut a0, &mut b);
    let (aid, bid) = (a0.id(), b.id());
    let (mut a2, _) = cl.login(2, "alice", true);
    let token = a0.token.clone().unwrap();

    let first = a0.send_with_cmid(bid, "only once", "retry-x");
    assert_eq!(first["ok"], json!(true), "{first}");
    // The client lost the ack and reconnects to another node.
    drop(a0);
    let (mut a1, last) = cl.login_token(1, &token, true);
    assert_eq!(
        last,
        int(&first, "pos"),
        "last_pos includes the committed message"
    );
    let again = a1.send_with_cmid(bid, "only once", "retry-x");
    let third = a2.send_with_cmid(bid, "only once", "retry-x");
    for retry in [&again, &third] {
        assert_eq!(retry["ok"], json!(true), "{retry}");
        for key in ["msg_id", "ts", "pos"] {
            assert_eq!(
                retry[key], first[key],
                "retry changed {key}: {first} vs {retry}"
            );
        }
    }

    let p = b.expect_push("message", PUSH_WAIT);
    assert_push_of(&p, &first, aid, bid, 1);
    let p = a2.expect_push("message", PUSH_WAIT);
    assert_push_of(&p, &first, aid, bid, 1);
    thread::sleep(Duration::from_millis(1000));
    b.no_push_of_type_within("message", Duration::ZERO);
    a1.no_push_of_type_within("message", Duration::ZERO);
    a2.no_push_of_type_within("message", Duration::ZERO);
    assert_eq!(b.sync_all(0).len(), 1, "stored once");
    assert_eq!(a1.sync_all(0).len(), 1, "stored once");
}

/// 6. A node is SIGKILLed while senders on it and elsewhere stream to one user: no acked
///    message is lost or duplicated, its users go offline for their friends within
///    `node_ttl_ms` + 3 s, and its clients reconnect elsewhere and miss nothing.
#[test]
fn sigkill_node_mid_stream() {
    const KILLED: usize = 2;
    const KILL_AFTER_ACKS: usize = 60;
    const STEADY_AFTER_KILL: usize = 150;
    const DOOMED_AFTER_RECONNECT: usize = 50;
    let mut cl = TestCluster::start(3);
    let mut r_a = cl.new_user(0, "rcpt");
    let (r_k, r_k_last) = cl.login(KILLED, "rcpt", true);
    let mut k = cl.new_user(KILLED, "doomed");
    let mut s = cl.new_user(1, "steady");
    let mut f = cl.new_user(0, "friend");
    befriend(&mut k, &mut r_a);
    befriend(&mut s, &mut r_a);
    befriend(&mut f, &mut k);
    befriend(&mut f, &mut r_a);
    let (rid, kid) = (r_a.id(), k.id());
    let r_token = r_a.token.clone().unwrap();
    let k_token = k.token.clone().unwrap();
    let reader_a = PushReader::spawn(r_a);
    let reader_k = PushReader::spawn(r_k);

    let killed = Arc::new(AtomicBool::new(false));
    let k_acked = Arc::new(AtomicUsize::new(0));
    let s_acked = Arc::new(AtomicUsize::new(0));
    let k_thread = {
        let k_acked = Arc::clone(&k_acked);
        thread::spawn(move || {
            let res = stream(&mut k, rid, "doomed", 16, Duration::ZERO, &k_acked, |n| {
                n < 5000
            });
            (k, res)
        })
    };
    let s_thread = {
        let (killed, s_acked) = (Arc::clone(&killed), Arc::clone(&s_acked));
        thread::spawn(move || {
            let mut first_after_kill: Option<usize> = None;
            let res = stream(&mut s, rid, "steady", 8, Duration::ZERO, &s_acked, |n| {
                if !killed.load(Ordering::Acquire) {
                    return n < 5000;
                }
                let start = *first_after_kill.get_or_insert(n);
                n < start + STEADY_AFTER_KILL
            });
            (s, res)
        })
    };

    let mut streams = vec![k_thread, s_thread];
    wait_streaming(
        &mut streams,
        Duration::from_secs(20),
        "the sender on the doomed node has some acks",
        || k_acked.load(Ordering::Acquire) >= KILL_AFTER_ACKS,
    );
    let s_thread = streams.pop().unwrap();
    let k_thread = streams.pop().unwrap();
    cl.node_mut(KILLED).kill();
    let killed_at = Instant::now();
    killed.store(true, Ordering::Release);

    // The friend of a user who was only on the dead node sees them go offline in time;
    // the recipient, still on n1, stays online.
    let ttl = Duration::from_millis(NODE_TTL_MS);
    let left = (ttl + Duration::from_secs(3)).saturating_sub(killed_at.elapsed());
    expect_presence(&mut f, kid, false, left, &[(rid, false)]);
    let offline_after = killed_at.elapsed();
    for p in f.drain_pushes(QUIET) {
        assert!(
            !(p["type"] == "presence" && p["user_id"] == json!(rid)),
            "rcpt is still connected on n1, yet: {p}"
        );
    }
    let resp = f.request_ok("friends", Value::Null);
    for u in resp["friends"].as_array().unwrap() {
        let expected = u["user_id"] != json!(kid);
        assert_eq!(u["online"], json!(expected), "after the kill: {resp}");
    }

    // The doomed sender's connection died with the node.
    let (_, k_res) = k_thread.join().expect("doomed sender thread");
    assert!(
        k_res.closed,
        "the doomed sender's connection should have closed"
    );
    let k_held = k_res
        .acks
        .values()
        .map(|a| int(a, "pos"))
        .max()
        .unwrap_or(0);
    // It reconnects to n2, syncs from the highest pos it holds, and resends what was
    // not acked (idempotent), then keeps sending.
    let (mut k2, k_last) = cl.login_token(1, &k_token, true);
    assert!(
        k_last >= k_held,
        "last_pos {k_last} below an acked pos {k_held}"
    );
    let unacked: Vec<usize> = (0..k_res.written)
        .filter(|n| !k_res.acks.contains_key(n))
        .collect();
    let synced: BTreeMap<String, Value> = k2
        .sync_all(k_held)
        .into_iter()
        .map(|m| (m["client_msg_id"].as_str().unwrap().to_string(), m))
        .collect();
    for cmid in synced.keys() {
        assert!(
            unacked.iter().any(|&n| stream_cmid("doomed", n) == *cmid),
            "sync after the highest acked pos returned a message that was acked or never \
             sent: {cmid}"
        );
    }
    let mut k_acks: BTreeMap<usize, Value> = k_res.acks.clone();
    for &n in &unacked {
        let ack = k2.send_with_cmid(rid, &stream_text("doomed", n), &stream_cmid("doomed", n));
        assert_eq!(ack["ok"], json!(true), "resend of {n}: {ack}");
        if let Some(m) = synced.get(&stream_cmid("doomed", n)) {
            assert_eq!(
                ack["msg_id"], m["msg_id"],
                "a retry of a committed send: {ack} vs {m}"
            );
            assert_eq!(
                ack["pos"], m["pos"],
                "a retry of a committed send: {ack} vs {m}"
            );
        }
        k_acks.insert(n, ack);
    }
    let more = (k_res.written..k_res.written + DOOMED_AFTER_RECONNECT)
        .map(|n| (stream_cmid("doomed", n), stream_text("doomed", n)))
        .collect::<Vec<_>>();
    for (i, ack) in k2.send_pipelined(rid, &more, 8).into_iter().enumerate() {
        assert_eq!(ack["ok"], json!(true), "{ack}");
        k_acks.insert(k_res.written + i, ack);
    }
    assert_acks_are_own_timeline("doomed", &k_acks);
    eprintln!(
        "sigkill: doomed acked {} before the kill, {} unacked in flight ({} committed), \
         offline seen after {offline_after:?}",
        k_res.acks.len(),
        unacked.len(),
        synced.len()
    );

    // The recipient's connection on the dead node: gapless up to where it died; then it
    // reconnects to n2, syncs from the highest pos it holds up to its new last_pos, and
    // reads pushes from there.
    let got_k = reader_k.until_closed(Duration::from_secs(5));
    let held = got_k.max_pos_or(r_k_last);
    assert_positions(
        "rcpt@n3 (before the kill)",
        &got_k.positions(),
        r_k_last,
        held,
    );
    let (mut r2, r2_last) = cl.login_token(1, &r_token, true);
    let filled: Vec<Value> = r2
        .sync_all(held)
        .into_iter()
        .filter(|m| int(m, "pos") <= r2_last)
        .collect();
    let filled_pos: Vec<i64> = filled.iter().map(|m| int(m, "pos")).collect();
    assert_positions("rcpt (sync after reconnecting)", &filled_pos, held, r2_last);
    let reader_r2 = PushReader::spawn(r2);

    let (_, s_res) = s_thread.join().expect("steady sender thread");
    assert!(!s_res.closed, "the steady sender's node is alive");
    assert_acks_are_own_timeline("steady", &s_res.acks);
    assert!(
        s_res.message_pushes.is_empty(),
        "{:?}",
        s_res.message_pushes
    );

    // Every acked message exactly once, nothing else.
    let (mut check, _) = cl.login(0, "rcpt", false);
    let synced = check.sync_all(0);
    let timeline = timeline_by_pos("rcpt", &synced);
    let mut by_cmid: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for m in &synced {
        by_cmid
            .entry(m["client_msg_id"].as_str().unwrap().to_string())
            .or_default()
            .push(int(m, "msg_id"));
    }
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for (n, ack) in &k_acks {
        expected.insert(stream_cmid("doomed", *n), int(ack, "msg_id"));
    }
    for (n, ack) in &s_res.acks {
        expected.insert(stream_cmid("steady", *n), int(ack, "msg_id"));
    }
    for (cmid, msg_id) in &expected {
        assert_eq!(
            by_cmid.get(cmid),
            Some(&vec![*msg_id]),
            "acked {cmid} (msg_id {msg_id}) must be in the timeline exactly once"
        );
    }
    assert_eq!(
        synced.len(),
        expected.len(),
        "the timeline holds exactly the acked messages"
    );
    let n = synced.len() as i64;

    for (reader, after) in [(reader_a, 0), (reader_r2, r2_last)] {
        let got = reader.finish(n, Duration::from_secs(15));
        let who = got.client.name.clone();
        assert!(!got.closed, "{who}: connection closed");
        assert_positions(&who, &got.positions(), after, n);
        assert_match_timeline(&who, &got.message_values(), &timeline);
    }
    assert_match_timeline("rcpt@n3", &got_k.message_values(), &timeline);
    assert_match_timeline("rcpt (reconnect sync)", &filled, &timeline);
}

/// 7. Redis (a private one) is stopped and restarted while two senders on two nodes
///    stream to one user: acks and same-node pushes go on meanwhile, and once Redis is
///    back every connection catches up, in order, exactly once.
#[test]
fn redis_restart_mid_stream() {
    const STEP: usize = 20;
    let mut redis = PrivateRedis::start();
    let cl = TestCluster::start_on(&redis.url(), 2);
    let mut r0 = cl.new_user(0, "rcpt");
    let (r1, r1_last) = cl.login(1, "rcpt", true);
    let mut s0 = cl.new_user(0, "sender0");
    let mut s1 = cl.new_user(1, "sender1");
    let mut p0 = cl.new_user(0, "pat");
    let mut q0 = cl.new_user(0, "quinn");
    befriend(&mut s0, &mut r0);
    befriend(&mut s1, &mut r0);
    befriend(&mut p0, &mut q0);
    let rid = r0.id();
    let reader0 = PushReader::spawn(r0);
    let reader1 = PushReader::spawn(r1);

    let stop = Arc::new(AtomicBool::new(false));
    let counters = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let mut senders: Vec<_> = [(s0, "s0"), (s1, "s1")]
        .into_iter()
        .zip(counters.iter().cloned())
        .map(|((mut s, prefix), counter)| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let res = stream(
                    &mut s,
                    rid,
                    prefix,
                    4,
                    Duration::from_millis(8),
                    &counter,
                    |n| !stop.load(Ordering::Acquire) && n < 5000,
                );
                (s, res)
            })
        })
        .collect();
    let acked = |i: usize| counters[i].load(Ordering::Acquire);
    let wait_acks = |senders: &mut Vec<_>, what: &str, from: [usize; 2]| {
        wait_streaming(senders, Duration::from_secs(15), what, || {
            (0..2).all(|i| acked(i) >= from[i] + STEP)
        })
    };

    wait_acks(
        &mut senders,
        "both senders are acked before the outage",
        [0, 0],
    );
    redis.stop();
    let down_at = Instant::now();
    let before = [acked(0), acked(1)];
    wait_acks(
        &mut senders,
        "both senders are acked while Redis is down",
        before,
    );
    // A same-node conversation goes on: pat and quinn are both on n1.
    for i in 1..=3 {
        let ack = p0.send_text(q0.id(), &format!("while redis is down #{i}"));
        let p = q0.expect_push("message", Duration::from_secs(3));
        assert_push_of(&p, &ack, p0.id(), q0.id(), i);
    }
    // Keep Redis down long enough for every node to notice (several heartbeats).
    let min_down = Duration::from_millis(2000);
    if down_at.elapsed() < min_down {
        thread::sleep(min_down - down_at.elapsed());
    }
    let during = [acked(0), acked(1)];
    let r0_during = reader0.count();
    redis.restart();
    let back_at = Instant::now();
    eprintln!(
        "redis was down {:?}: acks {before:?} -> {during:?}, rcpt@n1 has {r0_during} pushes",
        back_at - down_at
    );

    // Every node re-registers itself and its connections.
    for i in 0..2 {
        cl.wait_node_ready(i, Duration::from_secs(10));
    }
    wait_until(
        Duration::from_secs(10),
        "rcpt's route lists both nodes again",
        || cl.route(rid).len() == 2,
    );
    wait_acks(
        &mut senders,
        "both senders are acked after Redis is back",
        during,
    );
    stop.store(true, Ordering::Release);
    let mut results = Vec::new();
    for h in senders {
        let (s, res) = h.join().expect("sender thread");
        assert!(!res.closed, "{}: closed", s.name);
        assert_acks_are_own_timeline(&s.name, &res.acks);
        results.push((s, res));
    }
    let recovered = back_at.elapsed();

    let (mut check, _) = cl.login(1, "rcpt", false);
    let synced = check.sync_all(0);
    let timeline = timeline_by_pos("rcpt", &synced);
    let total: usize = results.iter().map(|(_, r)| r.acks.len()).sum();
    assert_eq!(
        synced.len(),
        total,
        "the timeline is exactly the acked messages"
    );
    let n = synced.len() as i64;
    for (reader, after) in [(reader0, 0), (reader1, r1_last)] {
        let mut got = reader.finish(n, Duration::from_secs(10));
        let who = got.client.name.clone();
        assert!(!got.closed, "{who}: connection closed");
        assert_positions(&who, &got.positions(), after, n);
        assert_match_timeline(&who, &got.message_values(), &timeline);
        got.client.no_push_of_type_within("message", QUIET);
    }
    for (s, res) in &results {
        assert!(
            res.message_pushes.is_empty(),
            "{}: a sender's own sends reach it as acks only, yet it got pushes {:?}",
            s.name,
            res.message_pushes
        );
    }
    for (mut s, _) in results {
        s.no_push_of_type_within("message", QUIET);
    }
    q0.no_push_of_type_within("message", Duration::ZERO);
    eprintln!("redis restart: {n} messages, senders done {recovered:?} after Redis was back");
}

/// 8. A node frozen (SIGSTOP) past its TTL is dead to the others; once resumed its users
///    are online again and get every message, in order, including those sent meanwhile.
#[test]
fn sigstop_node_past_ttl() {
    const FROZEN: usize = 1;
    const EACH: usize = 10;
    let cl = TestCluster::start(2);
    let mut z = cl.new_user(FROZEN, "zed");
    let mut f = cl.new_user(0, "fran");
    let mut s = cl.new_user(0, "sam");
    befriend(&mut f, &mut z);
    befriend(&mut s, &mut z);
    let zid = z.id();
    let reader = PushReader::spawn(z);

    let mut sent = Vec::new();
    for i in 0..EACH {
        sent.push(s.send_text(zid, &format!("before the freeze #{i}")));
    }
    wait_until(PUSH_WAIT, "zed has the first messages", || {
        reader.count() >= EACH
    });

    cl.node(FROZEN).signal("STOP");
    let frozen_at = Instant::now();
    let ttl = Duration::from_millis(NODE_TTL_MS);
    expect_presence(&mut f, zid, false, ttl + Duration::from_secs(3), &[]);
    let offline_after = frozen_at.elapsed();
    assert_online_everywhere(&mut f, zid, "zed", false);
    // Sends to zed do not wait for the frozen node.
    let t = Instant::now();
    for i in 0..EACH {
        sent.push(s.send_text(zid, &format!("while frozen #{i}")));
    }
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "{EACH} sends to a user on a frozen node took {:?}",
        t.elapsed()
    );
    let count_while_frozen = reader.count();

    cl.node(FROZEN).signal("CONT");
    let resumed_at = Instant::now();
    expect_presence(&mut f, zid, true, Duration::from_secs(5), &[]);
    let online_after = resumed_at.elapsed();
    assert_online_everywhere(&mut f, zid, "zed", true);
    for i in 0..EACH {
        sent.push(s.send_text(zid, &format!("after the thaw #{i}")));
    }
    for (i, ack) in sent.iter().enumerate() {
        assert_eq!(ack["pos"], json!(i as i64 + 1), "sam's timeline: {ack}");
    }
    let n = (3 * EACH) as i64;
    let mut got = reader.finish(n, Duration::from_secs(10));
    eprintln!(
        "sigstop: offline seen after {offline_after:?}, online again after {online_after:?}; \
         zed had {count_while_frozen} pushes at the thaw, {} at the end",
        got.messages.len()
    );
    assert!(!got.closed, "zed's connection closed");
    assert_positions("zed@n2", &got.positions(), 0, n);
    let synced = got.client.sync_all(0);
    let timeline = timeline_by_pos("zed", &synced);
    assert_match_timeline("zed@n2", &got.message_values(), &timeline);
    for (i, ack) in sent.iter().enumerate() {
        assert_eq!(
            timeline[&(i as i64 + 1)]["msg_id"],
            ack["msg_id"],
            "zed's pos {}",
            i + 1
        );
    }
    got.client.no_push_of_type_within("message", QUIET);
}

/// 9. A `logged_out` bus item closes the user's sessions on every node: a push session
///    gets the `logged_out` push first, a `push: false` session is closed without it.
#[test]
fn logged_out_closes_sessions_on_every_node() {
    let cl = TestCluster::start(3);
    let mut u0 = cl.new_user(0, "ursula");
    let (mut u1, _) = cl.login(1, "ursula", false);
    let mut f = cl.new_user(2, "friend");
    befriend(&mut f, &mut u0);
    let mut v = cl.new_user(0, "victor");
    let uid = u0.id();

    let receivers = cl.publish_all(&logged_out_publication(uid, "password_reset"));
    let published = Instant::now();
    assert_eq!(receivers, 3, "every node is subscribed to its channel");
    let limit = Duration::from_secs(2);
    let frames = u0.expect_closed(limit);
    let logged_out: Vec<&Value> = frames
        .iter()
        .filter(|f| f["type"] == "logged_out")
        .collect();
    assert_eq!(logged_out.len(), 1, "one logged_out push: {frames:?}");
    assert_eq!(
        logged_out[0]["reason"],
        json!("password_reset"),
        "{frames:?}"
    );
    assert!(!is_response(logged_out[0]), "{frames:?}");
    assert_eq!(
        frames.last().map(|f| &f["type"]),
        Some(&json!("logged_out")),
        "nothing after logged_out: {frames:?}"
    );
    let left = limit
        .saturating_sub(published.elapsed())
        .max(Duration::from_millis(100));
    let frames = u1.expect_closed(left);
    assert!(
        frames.is_empty(),
        "a push: false session gets no push, not even logged_out: {frames:?}"
    );
    eprintln!(
        "logged_out: both sessions closed {:?} after the publication",
        published.elapsed()
    );

    // Ursula is gone everywhere: her friend hears it, her route is gone; others are
    // untouched.
    expect_presence(&mut f, uid, false, PUSH_WAIT, &[]);
    wait_until(PUSH_WAIT, "ursula's route is gone", || {
        cl.route(uid).is_empty()
    });
    v.request_ok("ping", Value::Null);
    f.request_ok("ping", Value::Null);
}
