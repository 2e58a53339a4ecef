//! Test support for cluster mode: several `startserv` nodes on one MySQL database and one
//! Redis, clients on chosen nodes, waiting with deadlines, and checks of timelines.
//!
//! [`TestCluster::start`] creates one [`TestDb`], picks a random cluster name (so keys and
//! channels never collide with other tests or runs on the shared Redis), starts N nodes
//! `n1..nN` with a small heartbeat ([`HEARTBEAT_MS`]) and TTL ([`NODE_TTL_MS`]) and waits
//! until every node has registered (`NAME:node:ID:alive`) and subscribed to its channel
//! (`NAME:push:ID`). On drop it kills the nodes and deletes every `NAME:*` key.
//!
//! [`PushReader`] reads a push connection's `message` pushes on a thread (so that many
//! senders never fill its socket) and [`assert_positions`] checks what a connection
//! received against guarantee 3 of `protocol.md`: every position after its `last_pos`,
//! once, in increasing order.
//!
//! Include it with `#[path = "support/cluster.rs"] mod cluster;` next to the harness,
//! `mysql_db` and `client` modules (it uses `crate::harness`, `crate::mysql_db` and
//! `crate::client`).

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::client::{int, is_response, Client, ReadError, PASSWORD};
use crate::harness::TestServer;
use crate::mysql_db::TestDb;

/// The environment variable naming the shared test Redis.
pub const REDIS_ENV_VAR: &str = "CHAT_TEST_REDIS";
/// The shared Redis used when [`REDIS_ENV_VAR`] is unset.
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";
/// `cluster.heartbeat_ms` of test nodes.
pub const HEARTBEAT_MS: u64 = 200;
/// `cluster.node_ttl_ms` of test nodes.
pub const NODE_TTL_MS: u64 = 1000;
/// How long a cluster may take to be ready after its processes accept connections.
pub const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// The shared Redis URL.
pub fn shared_redis_url() -> String {
    std::env::var(REDIS_ENV_VAR).unwrap_or_else(|_| DEFAULT_REDIS_URL.to_string())
}

/// A cluster name no other test or run uses: `t_<pid>_<nanos>_<n>` (letters, digits, `_`).
pub fn unique_cluster_name() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "t_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A connection to the Redis at `url` with timeouts (panics if it does not answer).
pub fn redis_connection(url: &str) -> redis::Connection {
    try_redis_connection(url, Duration::from_secs(2)).unwrap_or_else(|e| {
        panic!("cannot reach the test Redis at {url} (set {REDIS_ENV_VAR}): {e}")
    })
}

fn try_redis_connection(url: &str, timeout: Duration) -> redis::RedisResult<redis::Connection> {
    let client = redis::Client::open(url)?;
    let conn = client.get_connection_with_timeout(timeout)?;
    conn.set_read_timeout(Some(timeout.max(Duration::from_secs(2))))?;
    conn.set_write_timeout(Some(timeout.max(Duration::from_secs(2))))?;
    Ok(conn)
}

/// Polls `cond` every 10 ms until it holds; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting until {what}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// Polls `f` every 10 ms until it returns `Some`; panics with `what` after `timeout`.
pub fn wait_for<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// N nodes on one database and one Redis under a random cluster name.
pub struct TestCluster {
    /// The cluster name (prefix of every key and channel).
    pub name: String,
    redis_url: String,
    node_ids: Vec<String>,
    nodes: Vec<TestServer>,
    db: TestDb,
}

impl TestCluster {
    /// `n` nodes on the shared Redis.
    pub fn start(n: usize) -> TestCluster {
        TestCluster::start_on(&shared_redis_url(), n)
    }

    /// `n` nodes on the Redis at `redis_url`, ready (registered and subscribed).
    pub fn start_on(redis_url: &str, n: usize) -> TestCluster {
        // Fail early and clearly when Redis is not there.
        drop(redis_connection(redis_url));
        let mut cluster = TestCluster {
            name: unique_cluster_name(),
            redis_url: redis_url.to_string(),
            node_ids: Vec::new(),
            nodes: Vec::new(),
            db: TestDb::new(),
        };
        for i in 0..n {
            let id = format!("n{}", i + 1);
            cluster.node_ids.push(id);
            let overrides = cluster.overrides(i);
            let refs: Vec<(&str, &str)> = overrides
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let node = TestServer::start_on_mysql_url(&cluster.db.url(), &refs);
            cluster.nodes.push(node);
        }
        for i in 0..n {
            cluster.wait_node_ready(i, READY_TIMEOUT);
        }
        cluster
    }

    /// The config overrides of node `i`.
    pub fn overrides(&self, i: usize) -> Vec<(String, String)> {
        vec![
            ("cluster.redis_url".into(), format!("{:?}", self.redis_url)),
            ("cluster.name".into(), format!("{:?}", self.name)),
            ("cluster.node_id".into(), format!("{:?}", self.node_ids[i])),
            ("cluster.heartbeat_ms".into(), HEARTBEAT_MS.to_string()),
            ("cluster.node_ttl_ms".into(), NODE_TTL_MS.to_string()),
        ]
    }

    /// Number of nodes (running or not).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Node `i`'s client address.
    pub fn addr(&self, i: usize) -> SocketAddr {
        self.nodes[i].addr()
    }

    /// Node `i`'s id (`n1`, `n2`, …).
    pub fn node_id(&self, i: usize) -> &str {
        &self.node_ids[i]
    }

    /// Node `i`'s process.
    pub fn node(&self, i: usize) -> &TestServer {
        &self.nodes[i]
    }

    /// Node `i`'s process, mutably (to kill or restart it).
    pub fn node_mut(&mut self, i: usize) -> &mut TestServer {
        &mut self.nodes[i]
    }

    /// The database URL all nodes share.
    pub fn mysql_url(&self) -> String {
        self.db.url()
    }

    /// The Redis URL all nodes share.
    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// A fresh Redis connection (panics if Redis does not answer).
    pub fn redis(&self) -> redis::Connection {
        redis_connection(&self.redis_url)
    }

    /// `NAME:node:ID:alive`.
    pub fn alive_key(&self, i: usize) -> String {
        format!("{}:node:{}:alive", self.name, self.node_ids[i])
    }

    /// `NAME:push:ID`.
    pub fn channel(&self, i: usize) -> String {
        format!("{}:push:{}", self.name, self.node_ids[i])
    }

    /// `NAME:route:USER`.
    pub fn route_key(&self, user: i64) -> String {
        format!("{}:route:{user}", self.name)
    }

    /// Whether node `i` is registered (liveness key present) and subscribed to its
    /// channel; false when Redis does not answer.
    pub fn node_ready(&self, i: usize) -> bool {
        let Ok(mut conn) = try_redis_connection(&self.redis_url, Duration::from_millis(500)) else {
            return false;
        };
        let alive: redis::RedisResult<bool> =
            redis::cmd("EXISTS").arg(self.alive_key(i)).query(&mut conn);
        let subs: redis::RedisResult<HashMap<String, i64>> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(self.channel(i))
            .query(&mut conn);
        matches!(alive, Ok(true))
            && subs.is_ok_and(|s| s.get(&self.channel(i)).copied().unwrap_or(0) >= 1)
    }

    /// Waits until node `i` is registered and subscribed.
    pub fn wait_node_ready(&self, i: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while !self.node_ready(i) {
            if Instant::now() > deadline {
                panic!(
                    "node {} did not register and subscribe in Redis within {timeout:?}\n\
                     --- its log ---\n{}",
                    self.node_ids[i],
                    self.nodes[i].log_tail(60)
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// The user's route (`node id -> connections`); empty when offline (or Redis fails).
    pub fn route(&self, user: i64) -> BTreeMap<String, i64> {
        let Ok(mut conn) = try_redis_connection(&self.redis_url, Duration::from_millis(500)) else {
            return BTreeMap::new();
        };
        redis::cmd("HGETALL")
            .arg(self.route_key(user))
            .query(&mut conn)
            .unwrap_or_default()
    }

    /// Publishes `payload` on every node's channel; returns how many subscribers got it.
    pub fn publish_all(&self, payload: &str) -> i64 {
        let mut conn = self.redis();
        (0..self.len())
            .map(|i| {
                redis::cmd("PUBLISH")
                    .arg(self.channel(i))
                    .arg(payload)
                    .query::<i64>(&mut conn)
                    .unwrap_or_else(|e| panic!("PUBLISH {}: {e}", self.channel(i)))
            })
            .sum()
    }

    /// Deletes every `NAME:*` key (SCAN + DEL); errors are ignored (Redis may be gone).
    pub fn clean_keys(&self) {
        let Ok(mut conn) = try_redis_connection(&self.redis_url, Duration::from_millis(500)) else {
            return;
        };
        let pattern = format!("{}:*", self.name);
        let mut cursor: u64 = 0;
        loop {
            let page: redis::RedisResult<(u64, Vec<String>)> = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000)
                .query(&mut conn);
            let Ok((next, keys)) = page else { return };
            if !keys.is_empty() {
                let _: redis::RedisResult<i64> = redis::cmd("DEL").arg(&keys).query(&mut conn);
            }
            if next == 0 {
                return;
            }
            cursor = next;
        }
    }

    /// The last `lines` lines of every node's log, labelled.
    pub fn logs_tail(&self, lines: usize) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            out.push_str(&format!(
                "--- node {} log (last {lines} lines) ---\n{}\n",
                self.node_ids[i],
                node.log_tail(lines)
            ));
        }
        out
    }

    // ---- users -------------------------------------------------------------------

    /// Registers `name` on node `i` and logs it in there with pushes (its `last_pos` is 0).
    pub fn new_user(&self, i: usize, name: &str) -> Client {
        let mut c = Client::new_user(self.addr(i), name);
        c.name = format!("{name}@{}", self.node_ids[i]);
        c
    }

    /// Logs `name` in on node `i` with its password; returns the client and `last_pos`.
    pub fn login(&self, i: usize, name: &str, push: bool) -> (Client, i64) {
        let mut c = Client::connect(self.addr(i));
        let resp = c.login(name, PASSWORD, push);
        c.name = format!("{name}@{}", self.node_ids[i]);
        (c, int(&resp, "last_pos"))
    }

    /// Logs in with a token on node `i`; returns the client and `last_pos`.
    pub fn login_token(&self, i: usize, token: &str, push: bool) -> (Client, i64) {
        let mut c = Client::connect(self.addr(i));
        let resp = c.login_token(token, push);
        c.name = format!("{}@{}", c.name, self.node_ids[i]);
        (c, int(&resp, "last_pos"))
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.kill();
        }
        self.clean_keys();
        // The nodes' own Drop prints their log tails when the test is panicking.
    }
}

// ---- pushes ------------------------------------------------------------------------

/// Whether `v` is a push of type `ty`.
pub fn is_push(v: &Value, ty: &str) -> bool {
    !is_response(v) && v["type"] == ty
}

/// Waits for a `presence` push about `user` with `online`, skipping other presence pushes
/// (about other users, or a stale state of `user`); panics when one in `forbid` arrives
/// (pairs of user and online flag). Other pushes stay queued.
pub fn expect_presence(
    c: &mut Client,
    user: i64,
    online: bool,
    timeout: Duration,
    forbid: &[(i64, bool)],
) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            panic!(
                "{}: no presence push {{user_id: {user}, online: {online}}} within {timeout:?}",
                c.name
            );
        }
        let p = c.expect_push("presence", left);
        let (u, o) = (int(&p, "user_id"), p["online"].as_bool());
        assert!(o.is_some(), "presence without a bool online: {p}");
        assert!(
            !forbid.contains(&(u, o.unwrap())),
            "{}: unexpected presence push {p}",
            c.name
        );
        if u == user && o == Some(online) {
            return p;
        }
    }
}

/// What a [`PushReader`] collected.
pub struct Collected {
    /// The connection, for further requests or checks.
    pub client: Client,
    /// `message` pushes in arrival order, with their arrival time.
    pub messages: Vec<(Instant, Value)>,
    /// Other pushes in arrival order.
    pub others: Vec<Value>,
    /// Whether the server closed the connection.
    pub closed: bool,
}

impl Collected {
    /// The `pos` of each message push, in arrival order.
    pub fn positions(&self) -> Vec<i64> {
        self.messages.iter().map(|(_, m)| int(m, "pos")).collect()
    }

    /// The highest `pos` received, or `otherwise`.
    pub fn max_pos_or(&self, otherwise: i64) -> i64 {
        self.positions().into_iter().max().unwrap_or(otherwise)
    }

    /// The message pushes (without times).
    pub fn message_values(&self) -> Vec<Value> {
        self.messages.iter().map(|(_, m)| m.clone()).collect()
    }
}

/// Reads one push connection's frames on a thread: `message` pushes are collected with
/// their arrival time, other pushes kept aside. It stops when the connection closes, when
/// a target position is reached ([`PushReader::finish`]) or when told to stop.
pub struct PushReader {
    name: String,
    handle: Option<JoinHandle<Collected>>,
    target: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<i64>>>,
}

impl PushReader {
    /// Starts reading `client` (which must have no request outstanding). Pushes already
    /// queued in the client come first.
    pub fn spawn(mut client: Client) -> PushReader {
        assert_eq!(
            client.outstanding(),
            0,
            "{}: a PushReader needs a connection without outstanding requests",
            client.name
        );
        let name = client.name.clone();
        let target = Arc::new(AtomicI64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (t, s, seen2) = (Arc::clone(&target), Arc::clone(&stop), Arc::clone(&seen));
        let handle = thread::Builder::new()
            .name(format!("reader-{name}"))
            .spawn(move || {
                let mut messages = Vec::new();
                let mut others = Vec::new();
                let mut file = |frame: Value, messages: &mut Vec<(Instant, Value)>| {
                    assert!(
                        !is_response(&frame),
                        "reader: a response with no request outstanding: {frame}"
                    );
                    if frame["type"] == "message" {
                        let pos = int(&frame, "pos");
                        seen2.lock().unwrap().push(pos);
                        messages.push((Instant::now(), frame));
                    } else {
                        others.push(frame);
                    }
                };
                for frame in client.take_pushes() {
                    file(frame, &mut messages);
                }
                let mut closed = false;
                loop {
                    let target = t.load(Ordering::Acquire);
                    let reached = target > 0
                        && seen2.lock().unwrap().iter().copied().max().unwrap_or(0) >= target;
                    if reached || s.load(Ordering::Acquire) {
                        break;
                    }
                    match client.try_read_frame(Instant::now() + Duration::from_millis(50)) {
                        Ok(frame) => file(frame, &mut messages),
                        Err(ReadError::Timeout) => {}
                        Err(ReadError::Closed) => {
                            closed = true;
                            break;
                        }
                    }
                }
                Collected {
                    client,
                    messages,
                    others,
                    closed,
                }
            })
            .expect("spawn reader thread");
        PushReader {
            name,
            handle: Some(handle),
            target,
            stop,
            seen,
        }
    }

    /// Message positions received so far, in arrival order.
    pub fn positions(&self) -> Vec<i64> {
        self.seen.lock().unwrap().clone()
    }

    /// How many message pushes arrived so far.
    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    /// Whether the reader has stopped (the connection closed).
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Waits until a message push with `pos >= target` arrived (or the connection closed,
    /// or `timeout` passed), stops the reader and returns what it collected.
    pub fn finish(mut self, target: i64, timeout: Duration) -> Collected {
        self.target.store(target.max(1), Ordering::Release);
        let deadline = Instant::now() + timeout;
        while !self.is_finished() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        self.stop.store(true, Ordering::Release);
        self.join()
    }

    /// Waits until the server closes the connection (panics after `timeout`).
    pub fn until_closed(mut self, timeout: Duration) -> Collected {
        let deadline = Instant::now() + timeout;
        while !self.is_finished() {
            if Instant::now() > deadline {
                self.stop.store(true, Ordering::Release);
                let got = self.join();
                panic!(
                    "{}: connection still open after {timeout:?} (positions {:?})",
                    self.name,
                    got.positions()
                );
            }
            thread::sleep(Duration::from_millis(5));
        }
        self.join()
    }

    fn join(&mut self) -> Collected {
        let handle = self.handle.take().expect("reader joined twice");
        match handle.join() {
            Ok(c) => c,
            Err(e) => std::panic::resume_unwind(e),
        }
    }
}

impl Drop for PushReader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

// ---- timelines ---------------------------------------------------------------------

/// Asserts that `positions` (in arrival order) are exactly `after + 1 ..= last`: every
/// position once, in increasing order. The message says what is missing, repeated or out
/// of order.
pub fn assert_positions(who: &str, positions: &[i64], after: i64, last: i64) {
    let expected: Vec<i64> = (after + 1..=last).collect();
    if positions == expected.as_slice() {
        return;
    }
    let got: BTreeSet<i64> = positions.iter().copied().collect();
    let missing: Vec<i64> = expected
        .iter()
        .copied()
        .filter(|p| !got.contains(p))
        .collect();
    let mut counts: BTreeMap<i64, usize> = BTreeMap::new();
    for &p in positions {
        *counts.entry(p).or_default() += 1;
    }
    let repeated: Vec<i64> = counts
        .iter()
        .filter(|(_, &n)| n > 1)
        .map(|(&p, _)| p)
        .collect();
    let outside: Vec<i64> = got
        .iter()
        .copied()
        .filter(|p| *p <= after || *p > last)
        .collect();
    let first_bad = positions
        .iter()
        .zip(expected.iter())
        .position(|(a, b)| a != b)
        .unwrap_or(positions.len().min(expected.len()));
    let lo = first_bad.saturating_sub(3);
    let hi = (first_bad + 4).min(positions.len());
    panic!(
        "{who}: positions after {after} up to {last} are not exactly {}..={last} in order: \
         got {} positions; missing {} {:?}; repeated {:?}; outside the range {:?}; \
         first difference at index {first_bad}: got {:?} (around it)",
        after + 1,
        positions.len(),
        missing.len(),
        &missing[..missing.len().min(40)],
        &repeated[..repeated.len().min(40)],
        &outside[..outside.len().min(40)],
        &positions[lo..hi],
    );
}

/// Checks a full timeline from `sync` after 0: positions 1..=N in order; returns it keyed
/// by `pos`.
pub fn timeline_by_pos(who: &str, synced: &[Value]) -> BTreeMap<i64, Value> {
    let positions: Vec<i64> = synced.iter().map(|m| int(m, "pos")).collect();
    assert_positions(
        &format!("{who} (sync from 0)"),
        &positions,
        0,
        synced.len() as i64,
    );
    synced.iter().map(|m| (int(m, "pos"), m.clone())).collect()
}

/// Asserts that each pushed message is the timeline's message at its position (same
/// `msg_id`, sender, recipient, text and client_msg_id).
pub fn assert_match_timeline(who: &str, pushed: &[Value], timeline: &BTreeMap<i64, Value>) {
    for m in pushed {
        let pos = int(m, "pos");
        let t = timeline
            .get(&pos)
            .unwrap_or_else(|| panic!("{who}: pushed pos {pos} is not in the timeline: {m}"));
        for key in ["msg_id", "from", "to", "text", "client_msg_id", "ts"] {
            assert_eq!(
                m[key], t[key],
                "{who}: push at pos {pos} differs from sync in {key}: push {m}, sync {t}"
            );
        }
    }
}

/// `{"to": to, "text": ..., "client_msg_id": ...}` pairs for [`Client::send_pipelined`].
pub fn batch(prefix: &str, range: std::ops::Range<usize>) -> Vec<(String, String)> {
    range
        .map(|i| (format!("{prefix}-{i}"), format!("{prefix} message #{i}")))
        .collect()
}

/// The JSON of a `logged_out` bus publication for `user`.
pub fn logged_out_publication(user: i64, reason: &str) -> String {
    json!([{"kind": "logged_out", "user": user, "reason": reason}]).to_string()
}
