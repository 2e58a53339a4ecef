//! The gateway end to end (`../shared/gateway.md`): a `startgate` in this process in
//! front of real `startserv` nodes on MariaDB and Redis, spoken to over HTTP and, with
//! the tokens it hands out, over the nodes' TCP protocol. Mail goes to a directory and
//! the tests read the codes from the `.eml` files, as a user reads their inbox.
//!
//! * [`register_login_and_every_error_row`]: the flow of a new user and every row of
//!   the contract's table (statuses, codes, `Retry-After`), the token on a node.
//! * [`codes_attempts_ttl_ip_cap_and_no_enumeration`]: attempt limit, TTL, per-address
//!   cap, resend cool-down, and `reset_password` for an unknown address (202, no mail).
//! * [`assignment_spreads_prefers_least_loaded_and_skips_a_dead_node`]: three nodes.
//! * [`reset_closes_sessions_on_two_nodes`]: `logged_out` on both nodes within 2 s,
//!   old password and token dead, new password works.
//! * [`login_limit_no_node_and_health`]: the rows left: login `429` (the per-address
//!   bucket in Redis), `503 no_node` (no live node: no token issued), `/healthz` `503`
//!   while Redis is stopped (a private `redis-server`) and `200` once it is back.

#[path = "../../server/tests/support/client.rs"]
mod client;
#[path = "../../server/tests/support/cluster.rs"]
mod cluster;
#[path = "support/gateway.rs"]
mod gateway;
#[path = "../../server/tests/support/harness.rs"]
mod harness;
#[path = "../../server/tests/support/mysql_db.rs"]
mod mysql_db;
#[path = "../../server/tests/support/private_redis.rs"]
mod private_redis;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use client::{error_code, Client};
use cluster::{is_push, wait_until, TestCluster};
use gateway::{Http, TestGate};

const PASSWORD: &str = "correct horse battery";

/// Asks for a register code for `email` and registers `username` with it; the user id.
fn register(gate: &TestGate, username: &str, email: &str) -> i64 {
    let asked = gate.post(
        "/api/v1/codes",
        json!({"email": email, "purpose": "register"}),
    );
    assert_eq!(asked.status, 202, "{:?}", asked.json);
    let n = gate.mails_to(email).len().max(1);
    let code = gate.code_for(email, n);
    let made = gate.post(
        "/api/v1/register",
        json!({"username": username, "password": PASSWORD, "email": email, "code": code}),
    );
    assert_eq!(made.status, 201, "{:?}", made.json);
    made.json["user_id"].as_i64().expect("user_id")
}

/// Logs in through the gateway; (token, node id, node addr).
fn login(gate: &TestGate, username: &str, password: &str) -> (String, String, SocketAddr) {
    let r = gate.post(
        "/api/v1/login",
        json!({"username": username, "password": password}),
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    let node = &r.json["node"];
    (
        r.json["token"].as_str().expect("token").to_string(),
        node["id"].as_str().expect("node id").to_string(),
        node["addr"]
            .as_str()
            .expect("addr")
            .parse()
            .expect("host:port"),
    )
}

#[test]
fn register_login_and_every_error_row() {
    let cluster = TestCluster::start(1);
    let gate = TestGate::start(&cluster, |_| {});
    let email = "Ann.Smith@Example.org";

    // A code: 202 with the real validity; the mail says so too.
    let r = gate.post(
        "/api/v1/codes",
        json!({"email": email, "purpose": "register"}),
    );
    assert_eq!(
        (r.status, &r.json),
        (
            202,
            &json!({"ok": true, "expires_in": 600, "resend_after": 60})
        )
    );
    let code = gate.code_for(email, 1);
    let mail = &gate.mails_to(email)[0];
    assert!(
        mail.contains("10 minutes"),
        "the mail states the validity:\n{mail}"
    );
    assert!(!mail.contains("3 minutes"));

    // Asking again at once: 429 with retry_after and Retry-After.
    let r = gate.post(
        "/api/v1/codes",
        json!({"email": email, "purpose": "register"}),
    );
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    let wait = r.json["retry_after"].as_u64().expect("retry_after");
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(r.header("retry-after"), Some(wait.to_string().as_str()));

    // A wrong code, then the right one, then the right one again (used).
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let body = |code: &str| json!({"username": "ann", "password": PASSWORD, "email": email, "code": code, "nickname": "Ann 🐱"});
    let r = gate.post("/api/v1/register", body(wrong));
    assert_eq!((r.status, r.code()), (400, "invalid_code"));
    let r = gate.post("/api/v1/register", body(&code));
    assert_eq!(r.status, 201, "{:?}", r.json);
    let ann = r.json["user_id"].as_i64().unwrap();
    assert_eq!(r.json, json!({"ok": true, "user_id": ann}));
    let r = gate.post(
        "/api/v1/register",
        json!({"username": "ann2", "password": PASSWORD, "email": email, "code": code}),
    );
    assert_eq!(
        r.status, 409,
        "the address is taken before the code is looked at: {:?}",
        r.json
    );
    assert_eq!(r.code(), "email_taken");

    // The address is taken: a register code for it is refused.
    let r = gate.post(
        "/api/v1/codes",
        json!({"email": "ann.smith@example.ORG", "purpose": "register"}),
    );
    assert_eq!((r.status, r.code()), (409, "email_taken"));
    // The username is taken (ASCII case-insensitive).
    let other = "other@example.org";
    gate.post(
        "/api/v1/codes",
        json!({"email": other, "purpose": "register"}),
    );
    let other_code = gate.code_for(other, 1);
    let r = gate.post(
        "/api/v1/register",
        json!({"username": "ANN", "password": PASSWORD, "email": other, "code": other_code}),
    );
    assert_eq!((r.status, r.code()), (409, "user_exists"));

    // Log in by username and by address; the token logs in on the node.
    let (token, node, addr) = login(&gate, "ann", PASSWORD);
    assert_eq!(node, cluster.node_id(0));
    assert_eq!(addr, cluster.addr(0));
    let r = gate.post(
        "/api/v1/login",
        json!({"email": "ANN.smith@example.org", "password": PASSWORD}),
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(
        (
            r.json["user_id"].as_i64(),
            r.json["username"].as_str(),
            r.json["nickname"].as_str()
        ),
        (Some(ann), Some("ann"), Some("Ann 🐱"))
    );
    assert!(
        r.json["node"].get("ws").is_some(),
        "node.ws is present (null without an HTTP port)"
    );
    let mut c = Client::login_with_token(addr, &token, true);
    assert_eq!(c.id(), ann);
    drop(c);
    c = Client::connect(addr);
    let resp = c.request("login", json!({"token": "not-a-token"}));
    assert_eq!(error_code(&resp), "invalid_credentials");

    // 401 for a wrong password and for nobody; the same message.
    let r1 = gate.post(
        "/api/v1/login",
        json!({"username": "ann", "password": "wrong password"}),
    );
    let r2 = gate.post(
        "/api/v1/login",
        json!({"username": "nobody", "password": "wrong password"}),
    );
    assert_eq!((r1.status, r1.code()), (401, "invalid_credentials"));
    assert_eq!(r1.json, r2.json);

    // Bad requests name the field; bad JSON; unknown paths; wrong methods; too large.
    let r = gate.post("/api/v1/codes", json!({"purpose": "register"}));
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email"),
        "{:?}",
        r.json
    );
    let r = gate.post("/api/v1/codes", json!({"email": "x@y", "purpose": "other"}));
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("purpose"));
    let r = gate.post(
        "/api/v1/register",
        json!({"username": "a b", "password": PASSWORD, "email": "z@y", "code": "123456"}),
    );
    assert_eq!((r.status, r.code()), (400, "bad_request"));
    assert!(r.json["error"]["message"]
        .as_str()
        .unwrap()
        .contains("username"));
    let r = gate.post("/api/v1/login", json!([1, 2]));
    assert_eq!((r.status, r.code()), (400, "bad_json"));
    let mut raw = Http::connect(gate.addr);
    raw.write(b"POST /api/v1/login HTTP/1.1\r\nContent-Length: 5\r\n\r\n{nope");
    let r = raw.read();
    assert_eq!((r.status, r.code()), (400, "bad_json"));
    let r = gate.call("GET", "/api/v1/nothing", None);
    assert_eq!((r.status, r.code()), (404, "not_found"));
    let r = gate.call("GET", "/api/v1/login", None);
    assert_eq!((r.status, r.code()), (405, "method_not_allowed"));
    let r = gate.call("DELETE", "/healthz", None);
    assert_eq!(r.status, 405);
    let big = json!({"email": "x".repeat(70 * 1024)});
    let r = gate.post("/api/v1/codes", big);
    assert_eq!((r.status, r.code()), (413, "too_large"));

    // Health and metrics.
    let r = gate.call("GET", "/healthz", None);
    assert_eq!((r.status, &r.json), (200, &json!({"ok": true})));
    let r = gate.call("GET", "/metrics", None);
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    for name in [
        "chat_gateway_requests_total",
        "chat_gateway_logins_total",
        "chat_gateway_registrations_total",
        "chat_gateway_mail_sent",
        "chat_gateway_uptime_seconds",
    ] {
        assert!(text.contains(name), "{name} in:\n{text}");
    }
    assert!(
        text.contains(r#"chat_gateway_registrations_total 1"#),
        "{text}"
    );
    assert!(
        text.contains(r#"chat_gateway_logins_total{outcome="invalid_credentials"} 2"#),
        "{text}"
    );
}

#[test]
fn codes_attempts_ttl_ip_cap_and_no_enumeration() {
    let cluster = TestCluster::start(1);
    let gate = TestGate::start(&cluster, |c| {
        c.codes.ttl_s = 2;
        c.codes.resend_after_s = 1;
        c.codes.max_attempts = 3;
        c.codes.per_ip_per_hour = 8;
    });

    // Attempts: three wrong tries kill the code; the right one is then refused too.
    let a = "attempts@example.com";
    gate.post("/api/v1/codes", json!({"email": a, "purpose": "register"}));
    let code = gate.code_for(a, 1);
    let wrong = if code == "999999" { "888888" } else { "999999" };
    for _ in 0..3 {
        let r = gate.post(
            "/api/v1/register",
            json!({"username": "att", "password": PASSWORD, "email": a, "code": wrong}),
        );
        assert_eq!(r.code(), "invalid_code");
    }
    let r = gate.post(
        "/api/v1/register",
        json!({"username": "att", "password": PASSWORD, "email": a, "code": code}),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_code"), "a dead code");

    // TTL: a code is refused once it expired (2 s here).
    let t = "ttl@example.com";
    gate.post("/api/v1/codes", json!({"email": t, "purpose": "register"}));
    let code = gate.code_for(t, 1);
    std::thread::sleep(Duration::from_millis(2300));
    let r = gate.post(
        "/api/v1/register",
        json!({"username": "ttl", "password": PASSWORD, "email": t, "code": code}),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_code"),
        "an expired code"
    );
    // A new code replaces the old one (after the 1 s resend wait) and works.
    let r = gate.post("/api/v1/codes", json!({"email": t, "purpose": "register"}));
    assert_eq!(r.status, 202, "{:?}", r.json);
    let code2 = gate.code_for(t, 2);
    let r = gate.post(
        "/api/v1/register",
        json!({"username": "ttl", "password": PASSWORD, "email": t, "code": code2}),
    );
    assert_eq!(r.status, 201, "{:?}", r.json);

    // No enumeration: reset for an address nobody uses answers like any other, sends
    // nothing; for a user's address it sends a code, which resets the password.
    let r = gate.post(
        "/api/v1/codes",
        json!({"email": "nobody@example.com", "purpose": "reset_password"}),
    );
    assert_eq!(
        (r.status, &r.json),
        (
            202,
            &json!({"ok": true, "expires_in": 2, "resend_after": 1})
        )
    );
    let r2 = gate.post(
        "/api/v1/codes",
        json!({"email": t, "purpose": "reset_password"}),
    );
    assert_eq!((r2.status, &r2.json), (r.status, &r.json));
    let reset_code = gate.code_for(t, 3);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        gate.mails_to("nobody@example.com").is_empty(),
        "no mail to an unknown address"
    );
    let r = gate.post(
        "/api/v1/reset-password",
        json!({"email": "nobody@example.com", "code": reset_code, "password": "new password 1"}),
    );
    assert_eq!(
        (r.status, r.code()),
        (400, "invalid_code"),
        "another address's code"
    );

    // Per-address cap: 8 codes an hour from 127.0.0.1 (in this cluster's keys); this
    // test has asked for 5.
    for i in 0..3 {
        let r = gate.post(
            "/api/v1/codes",
            json!({"email": format!("cap{i}@example.com"), "purpose": "register"}),
        );
        assert_eq!(r.status, 202, "code {} of 8: {:?}", 6 + i, r.json);
    }
    let r = gate.post(
        "/api/v1/codes",
        json!({"email": "cap9@example.com", "purpose": "register"}),
    );
    assert_eq!((r.status, r.code()), (429, "rate_limited"));
    let wait = r.json["retry_after"].as_u64().unwrap();
    assert!((1..=3600).contains(&wait), "{wait}");
    assert!(gate.mails_to("cap9@example.com").is_empty());
}

/// How many of `logins` went to each node.
fn spread(gate: &TestGate, users: &[String]) -> BTreeMap<String, usize> {
    let mut by_node = BTreeMap::new();
    for user in users {
        let (_, node, _) = login(gate, user, PASSWORD);
        *by_node.entry(node).or_insert(0) += 1;
    }
    by_node
}

#[test]
fn assignment_spreads_prefers_least_loaded_and_skips_a_dead_node() {
    let mut cluster = TestCluster::start(3);
    let gate = TestGate::start(&cluster, |c| {
        c.gateway.login_per_ip_per_s = 1000.0;
        c.gateway.login_burst = 1000;
        c.codes.per_ip_per_hour = 100;
    });
    let users: Vec<String> = (0..30).map(|i| format!("user{i}")).collect();
    for user in &users {
        register(&gate, user, &format!("{user}@example.com"));
    }

    // A burst of 30 logins spreads over the three idle nodes.
    let by_node = spread(&gate, &users);
    assert_eq!(by_node.len(), 3, "{by_node:?}");
    for (node, n) in &by_node {
        assert!(*n >= 6, "node {node} got {n} of 30: {by_node:?}");
    }

    // Load node 1 with 20 logged-in connections; once its count is published, logins
    // go to the others.
    let (token, _, _) = login(&gate, &users[0], PASSWORD);
    let held: Vec<Client> = (0..20)
        .map(|_| Client::login_with_token(cluster.addr(0), &token, false))
        .collect();
    let n1 = cluster.node_id(0).to_string();
    let mut redis = cluster.redis();
    wait_until(Duration::from_secs(10), "node 1's count published", || {
        let info: Option<String> = redis::cmd("HGET")
            .arg(format!("{}:nodes", cluster.name))
            .arg(&n1)
            .query(&mut redis)
            .unwrap();
        info.and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .and_then(|v| v["conns"].as_u64())
            .is_some_and(|n| n >= 20)
    });
    let by_node = spread(&gate, &users[..10]);
    assert!(
        !by_node.contains_key(&n1),
        "the loaded node got logins: {by_node:?}"
    );
    drop(held);

    // Kill node 2: once its liveness key is gone it gets nothing.
    let n2 = cluster.node_id(1).to_string();
    cluster.node_mut(1).kill();
    let alive = cluster.alive_key(1);
    wait_until(
        Duration::from_secs(10),
        "node 2's liveness key expired",
        || {
            let exists: bool = redis::cmd("EXISTS").arg(&alive).query(&mut redis).unwrap();
            !exists
        },
    );
    let by_node = spread(&gate, &users[..12]);
    assert!(
        !by_node.contains_key(&n2),
        "the dead node got logins: {by_node:?}"
    );
    assert_eq!(by_node.values().sum::<usize>(), 12);
}

#[test]
fn reset_closes_sessions_on_two_nodes() {
    let cluster = TestCluster::start(2);
    let gate = TestGate::start(&cluster, |_| {});
    let email = "reset@example.com";
    let user = register(&gate, "resetme", email);
    let (token, _, _) = login(&gate, "resetme", PASSWORD);
    let mut on1 = Client::login_with_token(cluster.addr(0), &token, true);
    let mut on2 = Client::login_with_token(cluster.addr(1), &token, true);
    assert_eq!((on1.id(), on2.id()), (user, user));

    let r = gate.post(
        "/api/v1/codes",
        json!({"email": email, "purpose": "reset_password"}),
    );
    assert_eq!(r.status, 202);
    let code = gate.code_for(email, 2);
    let started = Instant::now();
    let r = gate.post(
        "/api/v1/reset-password",
        json!({"email": email, "code": code, "password": "a brand new password"}),
    );
    assert_eq!((r.status, &r.json), (200, &json!({"ok": true})));
    for (name, c) in [("node 1", &mut on1), ("node 2", &mut on2)] {
        let frames = c.expect_closed(Duration::from_secs(2));
        let pushed = frames.iter().find(|f| is_push(f, "logged_out"));
        assert_eq!(
            pushed.map(|p| p["reason"].clone()),
            Some(json!("password_reset")),
            "{name}: {frames:?}"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "closed within 2 s"
    );

    // The old token and password are dead; the new password logs in; the code is used.
    let mut c = Client::connect(cluster.addr(0));
    assert_eq!(
        error_code(&c.request("login", json!({"token": token}))),
        "invalid_credentials"
    );
    let r = gate.post(
        "/api/v1/login",
        json!({"username": "resetme", "password": PASSWORD}),
    );
    assert_eq!(r.status, 401);
    login(&gate, "resetme", "a brand new password");
    let r = gate.post(
        "/api/v1/reset-password",
        json!({"email": email, "code": code, "password": "another password"}),
    );
    assert_eq!((r.status, r.code()), (400, "invalid_code"));
}

#[test]
fn login_limit_no_node_and_health() {
    // No node at all: the cluster is a database and a name.
    let cluster = TestCluster::start(0);
    let mut redis = private_redis::PrivateRedis::start();
    let redis_url = redis.url();
    let gate = TestGate::start(&cluster, |c| {
        c.gateway.redis = redis_url.clone();
        c.gateway.login_per_ip_per_s = 0.5;
        c.gateway.login_burst = 2;
    });
    register(&gate, "lonely", "lonely@example.com");

    // Right password, no live node: 503 no_node with a retry hint, and no token issued.
    let r = gate.post(
        "/api/v1/login",
        json!({"username": "lonely", "password": PASSWORD}),
    );
    assert_eq!((r.status, r.code()), (503, "no_node"), "{:?}", r.json);
    assert!(r.header("retry-after").is_some());
    assert!(r.json.get("token").is_none());
    let tokens: i64 = {
        use mysql::prelude::Queryable;
        let mut conn = mysql::Conn::new(cluster.mysql_url().as_str()).unwrap();
        conn.query_first("SELECT COUNT(*) FROM tokens")
            .unwrap()
            .unwrap()
    };
    assert_eq!(tokens, 0, "no token without a node");

    // The bucket holds 2 logins (refilled at 0.5/s): the second passes, the third in a
    // row is 429 with Retry-After.
    let wrong = json!({"username": "lonely", "password": "wrong password"});
    let r = gate.post("/api/v1/login", wrong.clone());
    assert_eq!(
        (r.status, r.code()),
        (401, "invalid_credentials"),
        "{:?}",
        r.json
    );
    let r = gate.post("/api/v1/login", wrong);
    assert_eq!((r.status, r.code()), (429, "rate_limited"), "{:?}", r.json);
    let wait = r.json["retry_after"].as_u64().unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    assert_eq!(r.header("retry-after"), Some(wait.to_string().as_str()));

    // Redis stopped: /healthz says so (503), requests needing Redis are 503 server_busy;
    // back up: 200 again.
    assert_eq!(gate.call("GET", "/healthz", None).status, 200);
    redis.stop();
    let deadline = Instant::now() + Duration::from_secs(10);
    let down = loop {
        let r = gate.call("GET", "/healthz", None);
        if r.status == 503 || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(down.status, 503, "{:?}", down.json);
    assert_eq!(down.json["ok"], json!(false));
    assert!(
        down.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("redis"),
        "{:?}",
        down.json
    );
    let r = gate.post(
        "/api/v1/codes",
        json!({"email": "x@example.com", "purpose": "register"}),
    );
    assert_eq!((r.status, r.code()), (503, "server_busy"), "{:?}", r.json);
    redis.restart();
    wait_until(Duration::from_secs(15), "/healthz 200 again", || {
        gate.call("GET", "/healthz", None).status == 200
    });
}
