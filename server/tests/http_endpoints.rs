//! The node's HTTP listener (`[server] http_port`, `--http-port`) against the real
//! binary: `GET /healthz` (exact JSON; 503 while the store or Redis is down), `GET
//! /metrics` (Prometheus text; counters that move by exactly what the clients did), 404
//! and 405, and, in cluster mode, the WebSocket URL in the node's registry entry.
//!
//! Each test runs its own server(s) on its own store (a fresh SQLite file or MySQL
//! database, or a private mariadbd / redis-server for the outages) and, on the shared
//! Redis, its own cluster name, whose keys it deletes at the end.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

#[path = "support/cluster.rs"]
mod cluster;

#[path = "support/private_mariadb.rs"]
mod private_mariadb;

#[path = "support/private_redis.rs"]
mod private_redis;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use client::{befriend, Client, TIMEOUT};
use cluster::{
    redis_connection, shared_redis_url, unique_cluster_name, wait_for, wait_until, HEARTBEAT_MS,
    NODE_TTL_MS,
};
use harness::{free_port, StoreKind, TestServer};
use mysql_db::TestDb;
use private_mariadb::PrivateMariaDb;
use private_redis::PrivateRedis;

/// How long the HTTP listener may take to answer after the TCP port does.
const HTTP_READY: Duration = Duration::from_secs(10);
/// How long `/healthz` may take to notice an outage or a recovery (probes run every
/// second and a success is stale after three).
const HEALTH_CHANGE: Duration = Duration::from_secs(20);

/// Every metric name the documentation lists (`server/src/metrics.rs`), as written.
const DOCUMENTED: &[&str] = &[
    "chat_connections_open",
    "chat_http_connections_open",
    "chat_connections_logged_in",
    "chat_connections_accepted_total",
    "chat_connections_rejected_total",
    "chat_frames_received_total",
    "chat_frames_sent_total",
    "chat_received_bytes_total",
    "chat_sent_bytes_total",
    "chat_worker_queued_events",
    "chat_requests_total",
    "chat_request_errors_total",
    "chat_messages_committed_total",
    "chat_commit_batch_size_bucket",
    "chat_commit_batch_size_sum",
    "chat_commit_batch_size_count",
    "chat_commit_duration_seconds_bucket",
    "chat_commit_duration_seconds_sum",
    "chat_commit_duration_seconds_count",
    "chat_writer_queue_depth",
    "chat_store_errors_total",
    "chat_store_up",
    "chat_redis_errors_total",
    "chat_cluster_pushes_published_total",
    "chat_cluster_pushes_lost_total",
    "chat_cluster_pushes_received_total",
    "chat_gap_filled_messages_total",
    "chat_uptime_seconds",
    "chat_node_info",
];

// ---- a minimal HTTP/1.1 client ----------------------------------------------------------

/// One HTTP answer.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

/// Sends one request on a fresh connection (`Connection: close`) and reads the answer.
fn try_request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let text = String::from_utf8(raw).expect("a UTF-8 answer");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no end of head in {text:?}"));
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("header {l:?}"));
            (n.trim().to_string(), v.trim().to_string())
        })
        .collect();
    let reply = Reply {
        status,
        headers,
        body: body.to_string(),
    };
    if method != "HEAD" {
        let length: usize = reply
            .header("Content-Length")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no Content-Length in {head:?}"));
        assert_eq!(length, reply.body.len(), "Content-Length of {path}");
    }
    Ok(reply)
}

fn request(addr: SocketAddr, method: &str, path: &str) -> Reply {
    try_request(addr, method, path).unwrap_or_else(|e| panic!("{method} {path} at {addr}: {e}"))
}

fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path)
}

/// Waits until the HTTP listener answers `/healthz` with `status`; returns that answer.
fn wait_health(addr: SocketAddr, status: u16, timeout: Duration) -> Reply {
    let deadline = Instant::now() + timeout;
    loop {
        let last = try_request(addr, "GET", "/healthz");
        if let Ok(reply) = &last {
            if reply.status == status {
                return last.unwrap();
            }
        }
        if Instant::now() > deadline {
            panic!("/healthz at {addr} did not answer {status} within {timeout:?}; last: {last:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---- Prometheus text ----------------------------------------------------------------

/// Parses the Prometheus text format strictly enough for these tests: every line is a
/// `# HELP`/`# TYPE` comment or `name{label="value",...} value`; returns each series
/// (`name{labels}` as written) and its value.
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("HELP chat_") || comment.starts_with("TYPE chat_"),
                "unexpected comment {line:?}"
            );
            continue;
        }
        let name_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or_else(|| panic!("no value on {line:?}"));
        let name = &line[..name_end];
        assert!(
            name.starts_with("chat_") && !name.starts_with(|c: char| c.is_ascii_digit()),
            "bad metric name on {line:?}"
        );
        let rest = &line[name_end..];
        let (labels, value) = match rest.strip_prefix('{') {
            Some(inner) => {
                let close = labels_end(inner).unwrap_or_else(|| panic!("labels of {line:?}"));
                (&rest[..close + 2], &inner[close + 1..])
            }
            None => ("", rest),
        };
        let value = value
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before the value on {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value {v:?} on {line:?}")),
        };
        let series = format!("{name}{labels}");
        assert!(
            out.insert(series.clone(), value).is_none(),
            "{series} twice"
        );
    }
    out
}

/// In `inner` (what follows `{`), the index of the `}` that ends the label list,
/// checking each `name="value"` pair on the way.
fn labels_end(inner: &str) -> Option<usize> {
    let bytes = inner.as_bytes();
    let mut i = 0;
    loop {
        if bytes.get(i) == Some(&b'}') {
            return Some(i);
        }
        let eq = inner[i..].find('=')? + i;
        let key = &inner[i..eq];
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        if bytes.get(eq + 1) != Some(&b'"') {
            return None;
        }
        let mut j = eq + 2;
        loop {
            match bytes.get(j)? {
                b'\\' => j += 2,
                b'"' => break,
                _ => j += 1,
            }
        }
        i = j + 1;
        if bytes.get(i) == Some(&b',') {
            i += 1;
        }
    }
}

fn scrape(addr: SocketAddr) -> BTreeMap<String, f64> {
    let reply = get(addr, "/metrics");
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.header("Content-Type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    parse_metrics(&reply.body)
}

fn value(m: &BTreeMap<String, f64>, series: &str) -> f64 {
    *m.get(series)
        .unwrap_or_else(|| panic!("no series {series}; have {:?}", m.keys()))
}

/// The sum over every series of metric `name`.
fn total(m: &BTreeMap<String, f64>, name: &str) -> f64 {
    m.iter()
        .filter(|(series, _)| series.split('{').next() == Some(name))
        .map(|(_, v)| v)
        .sum()
}

fn delta(before: &BTreeMap<String, f64>, after: &BTreeMap<String, f64>, series: &str) -> f64 {
    value(after, series) - value(before, series)
}

fn assert_documented_names(m: &BTreeMap<String, f64>) {
    for name in DOCUMENTED {
        assert!(
            m.keys().any(|s| s.split('{').next() == Some(*name)),
            "/metrics lacks {name}"
        );
    }
}

fn http_port_override(port: u16) -> (String, String) {
    ("server.http_port".into(), port.to_string())
}

fn refs(overrides: &[(String, String)]) -> Vec<(&str, &str)> {
    overrides
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn http_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

// ---- single node ----------------------------------------------------------------------

/// `/healthz` is `200` with exactly `{ok, node, store, redis}`; `/metrics` parses, lists
/// every documented name, and after two users log in and one sends N messages, the
/// committed messages, the `send_message` requests and the commit batch sizes' sum have
/// grown by exactly N, nothing else was requested or failed, and frames and bytes moved
/// both ways.
#[test]
fn healthz_and_metrics_count_what_clients_did() {
    const N: usize = 25;
    let port = free_port();
    let overrides = [http_port_override(port)];
    let server = TestServer::start_with(StoreKind::Mysql, &refs(&overrides));
    let http = http_addr(port);
    let health = wait_health(http, 200, HTTP_READY);
    assert_eq!(
        health.json(),
        json!({"ok": true, "node": null, "store": "up", "redis": null})
    );
    assert_eq!(health.header("Content-Type"), Some("application/json"));
    assert_eq!(health.header("Cache-Control"), Some("no-store"));
    let head = request(http, "HEAD", "/healthz");
    assert_eq!(head.status, 200);
    assert_eq!(head.body, "", "HEAD has no body");
    assert_eq!(
        head.header("Content-Length"),
        Some(health.body.len().to_string().as_str())
    );
    assert!(
        server
            .log()
            .contains(&format!("startserv http listening on {http}")),
        "the log names the HTTP address"
    );

    let first = scrape(http);
    assert_documented_names(&first);
    assert!(value(&first, "chat_uptime_seconds") > 0.0);
    assert_eq!(value(&first, "chat_store_up"), 1.0);
    assert!(
        !first.contains_key("chat_redis_up"),
        "no Redis on a single node"
    );

    let mut alice = Client::new_user(server.addr(), "alice");
    let mut bob = Client::new_user(server.addr(), "bob");
    befriend(&mut alice, &mut bob);
    let before = scrape(http);
    for op in ["register", "login"] {
        let series = format!(r#"chat_requests_total{{op="{op}"}}"#);
        assert_eq!(delta(&first, &before, &series), 2.0, "{series}");
    }
    assert_eq!(value(&before, "chat_connections_logged_in"), 2.0);
    assert!(value(&before, "chat_connections_open") >= 2.0);

    for i in 0..N {
        alice.send_text(bob.id(), &format!("metrics message {i}"));
    }
    bob.expect_pushes("message", N, TIMEOUT);
    let after = scrape(http);

    let n = N as f64;
    assert_eq!(delta(&before, &after, "chat_messages_committed_total"), n);
    assert_eq!(
        delta(&before, &after, r#"chat_requests_total{op="send_message"}"#),
        n
    );
    assert_eq!(
        total(&after, "chat_requests_total") - total(&before, "chat_requests_total"),
        n,
        "only send_message was requested"
    );
    assert_eq!(
        total(&after, "chat_request_errors_total"),
        0.0,
        "no error was answered"
    );
    assert_eq!(delta(&before, &after, "chat_commit_batch_size_sum"), n);
    let batches = delta(&before, &after, "chat_commit_batch_size_count");
    assert!((1.0..=n).contains(&batches), "{batches} batches");
    assert_eq!(
        delta(&before, &after, "chat_commit_duration_seconds_count"),
        batches
    );
    assert_eq!(
        delta(
            &before,
            &after,
            r#"chat_commit_batch_size_bucket{le="+Inf"}"#
        ),
        batches
    );
    assert!(delta(&before, &after, "chat_frames_received_total") >= n);
    assert!(
        delta(&before, &after, "chat_frames_sent_total") >= 2.0 * n,
        "acks and pushes"
    );
    assert!(delta(&before, &after, "chat_received_bytes_total") > 0.0);
    assert!(delta(&before, &after, "chat_sent_bytes_total") > 0.0);
    assert_eq!(total(&after, "chat_store_errors_total"), 0.0);
    assert_eq!(value(&after, "chat_writer_queue_depth"), 0.0);
    assert!(value(&after, "chat_uptime_seconds") >= value(&before, "chat_uptime_seconds"));
    let info = format!(
        r#"chat_node_info{{node="",cluster="",version="{}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&after, &info), 1.0);
}

/// Unknown paths are `404 not_found` whatever the method; a known path with a method
/// other than GET or HEAD is `405 method_not_allowed` with `Allow: GET, HEAD`; `/` is
/// the web client's page and `/ws` without a handshake `426 upgrade_required`.
#[test]
fn unknown_paths_and_other_methods() {
    let port = free_port();
    let overrides = [http_port_override(port)];
    let _server = TestServer::start_with(StoreKind::Sqlite, &refs(&overrides));
    let http = http_addr(port);
    wait_health(http, 200, HTTP_READY);
    let page = get(http, "/");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("Content-Type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page.body.contains("<html"), "{}", page.body);
    let ws = get(http, "/ws");
    assert_eq!(ws.status, 426);
    assert_eq!(ws.header("Upgrade"), Some("websocket"));
    assert_eq!(ws.json()["error"]["code"], json!("upgrade_required"));
    for (method, path) in [
        ("GET", "/nope"),
        ("GET", "/healthz/x"),
        ("POST", "/api/v1/login"),
    ] {
        let reply = request(http, method, path);
        assert_eq!(reply.status, 404, "{method} {path}");
        assert_eq!(
            reply.json(),
            json!({"ok": false, "error": {"code": "not_found", "message": "no such path"}}),
            "{method} {path}"
        );
    }
    for (method, path) in [
        ("POST", "/healthz"),
        ("POST", "/"),
        ("PUT", "/metrics"),
        ("DELETE", "/healthz"),
        ("OPTIONS", "/metrics"),
    ] {
        let reply = request(http, method, path);
        assert_eq!(reply.status, 405, "{method} {path}");
        assert_eq!(reply.header("Allow"), Some("GET, HEAD"), "{method} {path}");
        assert_eq!(
            reply.json()["error"]["code"],
            json!("method_not_allowed"),
            "{method} {path}"
        );
        assert_eq!(reply.json()["ok"], json!(false));
    }
    // A query string does not change the path.
    assert_eq!(get(http, "/metrics?name[]=x").status, 200);
}

/// With the store (a private mariadbd) killed, `/healthz` turns `503 unhealthy` naming
/// the store, `chat_store_up` is 0 and store errors are counted; once it is back,
/// `/healthz` is `200` again.
#[test]
fn healthz_is_503_while_the_store_is_down() {
    let mut db = PrivateMariaDb::start();
    let url = db.create_database("chat");
    let port = free_port();
    let overrides = [http_port_override(port)];
    let server = TestServer::start_on_mysql_url(&url, &refs(&overrides));
    let http = http_addr(port);
    wait_health(http, 200, HTTP_READY);

    db.kill();
    let down = wait_health(http, 503, HEALTH_CHANGE);
    let body = down.json();
    assert_eq!(body["ok"], json!(false), "{body}");
    assert_eq!(body["error"]["code"], json!("unhealthy"), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("store "), "{message}");
    let m = scrape(http);
    assert_eq!(value(&m, "chat_store_up"), 0.0);
    assert!(value(&m, r#"chat_store_errors_total{kind="unavailable"}"#) > 0.0);

    db.restart();
    let up = wait_health(http, 200, Duration::from_secs(60));
    assert_eq!(up.json()["store"], json!("up"));
    assert_eq!(value(&scrape(http), "chat_store_up"), 1.0);
    drop(server);
}

// ---- cluster mode ---------------------------------------------------------------------

/// The config overrides of a cluster node.
fn node_overrides(redis_url: &str, name: &str, node: &str) -> Vec<(String, String)> {
    vec![
        ("cluster.redis_url".into(), format!("{redis_url:?}")),
        ("cluster.name".into(), format!("{name:?}")),
        ("cluster.node_id".into(), format!("{node:?}")),
        ("cluster.heartbeat_ms".into(), HEARTBEAT_MS.to_string()),
        ("cluster.node_ttl_ms".into(), NODE_TTL_MS.to_string()),
    ]
}

/// Deletes every key of cluster `name` (on drop, so a failing test cleans up too).
struct ClusterKeys {
    redis_url: String,
    name: String,
}

impl Drop for ClusterKeys {
    fn drop(&mut self) {
        let mut conn = redis_connection(&self.redis_url);
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.name))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(keys).query(&mut conn);
        }
    }
}

/// The registry entry of `node` in cluster `name`, once it is there.
fn registry_entry(redis_url: &str, name: &str, node: &str) -> Value {
    wait_for(Duration::from_secs(20), "the node's registry entry", || {
        let mut conn = redis_connection(redis_url);
        let entry: Option<String> = redis::cmd("HGET")
            .arg(format!("{name}:nodes"))
            .arg(node)
            .query(&mut conn)
            .ok()?;
        serde_json::from_str(&entry?).ok()
    })
}

/// In cluster mode the node's registry entry in Redis carries
/// `ws: "ws://HOST:HTTP_PORT/ws"` (HOST the advertised host), and `null` for a node
/// without an HTTP port; `/healthz` names the node and Redis, `/metrics` has
/// `chat_redis_up` and the node's labels.
#[test]
fn cluster_registry_entry_carries_the_ws_url() {
    let redis_url = shared_redis_url();
    let name = unique_cluster_name();
    let _cleanup = ClusterKeys {
        redis_url: redis_url.clone(),
        name: name.clone(),
    };
    let db = TestDb::new();
    let port = free_port();
    let mut with_http = node_overrides(&redis_url, &name, "n1");
    with_http.push(http_port_override(port));
    let n1 = TestServer::start_on_mysql_url(&db.url(), &refs(&with_http));
    let without = node_overrides(&redis_url, &name, "n2");
    let n2 = TestServer::start_on_mysql_url(&db.url(), &refs(&without));

    let entry = registry_entry(&redis_url, &name, "n1");
    assert_eq!(entry["addr"], json!(n1.addr().to_string()), "{entry}");
    assert_eq!(
        entry["ws"],
        json!(format!("ws://127.0.0.1:{port}/ws")),
        "{entry}"
    );
    let entry = registry_entry(&redis_url, &name, "n2");
    assert_eq!(entry["addr"], json!(n2.addr().to_string()), "{entry}");
    assert_eq!(entry.get("ws"), Some(&Value::Null), "{entry}");

    let http = http_addr(port);
    let health = wait_health(http, 200, HTTP_READY);
    assert_eq!(
        health.json(),
        json!({"ok": true, "node": "n1", "store": "up", "redis": "up"})
    );
    let m = scrape(http);
    assert_documented_names(&m);
    assert_eq!(value(&m, "chat_redis_up"), 1.0);
    let info = format!(
        r#"chat_node_info{{node="n1",cluster="{name}",version="{}"}}"#,
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(value(&m, &info), 1.0);
    assert!(n2.log().contains("startserv listening on"));
    assert!(!n2.log().contains("startserv http listening"));
    drop((n1, n2));
}

/// With the cluster's Redis (a private redis-server) stopped, `/healthz` turns `503
/// unhealthy` naming Redis, `chat_redis_up` is 0 and Redis errors are counted; once it
/// is back, `/healthz` is `200` again.
#[test]
fn healthz_is_503_while_redis_is_down() {
    let mut redis = PrivateRedis::start();
    let db = TestDb::new();
    let port = free_port();
    let name = unique_cluster_name();
    let mut overrides = node_overrides(&redis.url(), &name, "n1");
    overrides.push(http_port_override(port));
    let server = TestServer::start_on_mysql_url(&db.url(), &refs(&overrides));
    let http = http_addr(port);
    wait_health(http, 200, HTTP_READY);

    redis.stop();
    let down = wait_health(http, 503, HEALTH_CHANGE);
    let body = down.json();
    assert_eq!(body["error"]["code"], json!("unhealthy"), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("redis "), "{message}");
    assert!(!message.contains("store"), "the store is up: {message}");
    let m = scrape(http);
    assert_eq!(value(&m, "chat_redis_up"), 0.0);
    assert_eq!(value(&m, "chat_store_up"), 1.0);
    assert!(value(&m, "chat_redis_errors_total") > 0.0);

    redis.restart();
    let up = wait_health(http, 200, HEALTH_CHANGE);
    assert_eq!(up.json()["redis"], json!("up"));
    wait_until(HEALTH_CHANGE, "chat_redis_up is 1 again", || {
        value(&scrape(http), "chat_redis_up") == 1.0
    });
    drop(server);
}
