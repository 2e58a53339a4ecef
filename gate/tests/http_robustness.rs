//! The HTTP layer's robustness against the real gateway (`../shared/gateway.md`, "HTTP
//! handling"): a `startgate` in this process with its real routes, on a fresh MariaDB
//! database and the shared Redis, spoken to with raw bytes on the socket (the blocking
//! client of reactor-http's own tests, which reads responses strictly and sees EOF).
//! Every test asserts the exact status line, the JSON error code and whether the
//! connection is closed.
//!
//! * [`login_in_one_byte_writes_then_reused`]: `POST /api/v1/login` one byte per write
//!   gets its normal `401 invalid_credentials`; the connection stays open and answers
//!   `GET /healthz` byte for byte.
//! * [`pipelined_requests_answered_in_order`]: `/healthz`, a login with a bad body
//!   (`400 bad_json`), `/nope` (`404`), an unknown user (`401`), `GET` on the login route
//!   (`405`) and a closing `/healthz` in one write: answered in order, then EOF, and the
//!   request after the closing one is never answered.
//! * [`oversized_head_gets_431_and_close`]: a head over 8 KiB (unterminated, or complete
//!   and one byte too long) and 65 header lines are `431 too_large` and close; exactly
//!   8 KiB is served.
//! * [`transfer_codings_and_lengths_get_refused_and_close`]: `Content-Length` with
//!   `Transfer-Encoding` and two differing `Content-Length`s are `400 bad_request`, a
//!   chunked body `411 length_required`, another coding `501 not_implemented`, a length
//!   that is not a number `400`; each closes, and nothing smuggled after it is answered.
//! * [`body_over_64k_gets_413_and_close`]: a 64 KiB + 1 body is `413 too_large` as soon
//!   as the head is in, and close; a 64 KiB login body reaches the route (`401`).
//! * [`malformed_requests_get_400_and_close`]: garbage, bare LFs, HTTP/2.0, a TLS hello,
//!   a bad header line: `400 bad_request` and close; a login then garbage: `401`, then
//!   `400` and close.
//! * [`slow_client_is_closed_after_the_header_timeout`]: with `[gateway]
//!   header_timeout_ms = 300`, half a head, a head with half its body, and silence each
//!   get `408 request_timeout` and close after about 300 ms; a prompt request is served.
//! * [`random_malformed_requests_do_not_hurt_the_gateway`]: 10,000 seeded random inputs
//!   (random bytes, and valid requests to every route mutated at random), one connection
//!   each over four threads: every answer is a well-formed response with a status the
//!   gateway may give and the contract's error shape, the errors of the HTTP layer close,
//!   nothing hangs; afterwards `/healthz` answers `200 {"ok":true}` on a fresh
//!   connection, an unknown user's login `401`, and a new user registers with a mailed
//!   code and logs in (`200`, assigned to the cluster's node).

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
#[path = "../../reactor-http/tests/support/mod.rs"]
mod raw;

use std::io::{ErrorKind, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use cluster::TestCluster;
use gate::config::GateConfig;
use gateway::TestGate;
use raw::{assert_error, error_body, Client, Reply};

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
const HEALTHZ_REPLY: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";
const INVALID_CREDENTIALS: &str = "wrong username, e-mail address or password";

/// A gateway (dropped first) and its cluster.
struct Setup {
    gate: TestGate,
    _cluster: TestCluster,
}

/// A gateway in front of a cluster of `nodes` nodes, with the login and code budgets of
/// the source address out of the way (every test connects from 127.0.0.1), changed by
/// `tune`.
fn setup(nodes: usize, tune: impl FnOnce(&mut GateConfig)) -> Setup {
    let cluster = TestCluster::start(nodes);
    let gate = TestGate::start(&cluster, |config| {
        config.gateway.login_per_ip_per_s = 1e6;
        config.gateway.login_burst = 1_000_000;
        config.codes.per_ip_per_hour = 1_000_000;
        tune(config);
    });
    Setup {
        gate,
        _cluster: cluster,
    }
}

/// `POST path` with a JSON `body`, as a client sends it.
fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// A login for a user who does not exist.
fn unknown_login(username: &str) -> String {
    post(
        "/api/v1/login",
        &json!({"username": username, "password": "not a password"}).to_string(),
    )
}

/// The reply's body as JSON.
fn json_of(r: &Reply) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

/// Asserts a route's error: status line, JSON, code, and that it does not close.
fn assert_route_error(r: &Reply, status_line: &str, code: &str) {
    assert_eq!(r.status_line, status_line, "{r:?}");
    assert_eq!(r.header("Content-Type"), Some("application/json"), "{r:?}");
    assert_eq!(
        r.header("Connection"),
        None,
        "a route's error keeps the connection"
    );
    let v = json_of(r);
    assert_eq!(
        (&v["ok"], &v["error"]["code"]),
        (&json!(false), &json!(code)),
        "{v}"
    );
}

/// Asserts `401 invalid_credentials`, body and all, connection kept.
fn assert_invalid_credentials(r: &Reply) {
    assert_route_error(r, "HTTP/1.1 401 Unauthorized", "invalid_credentials");
    assert_eq!(
        json_of(r),
        json!({"ok": false, "error": {"code": "invalid_credentials", "message": INVALID_CREDENTIALS}})
    );
}

#[test]
fn login_in_one_byte_writes_then_reused() {
    let s = setup(0, |_| {});
    let mut c = Client::connect(s.gate.addr);
    for b in unknown_login("one_byte_writer").as_bytes() {
        c.send([*b]);
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_invalid_credentials(&c.reply());
    // Still open: a request in one write, then another one byte at a time.
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
    for b in HEALTHZ {
        c.send([*b]);
    }
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
}

#[test]
fn pipelined_requests_answered_in_order() {
    let s = setup(0, |_| {});
    let mut c = Client::connect(s.gate.addr);
    let batch = [
        String::from_utf8(HEALTHZ.to_vec()).unwrap(),
        post("/api/v1/login", r#"{"username": "#),
        "GET /nope HTTP/1.1\r\nHost: t\r\n\r\n".into(),
        unknown_login("pipelined"),
        "GET /api/v1/login HTTP/1.1\r\nHost: t\r\n\r\n".into(),
        "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".into(),
        unknown_login("never_answered"),
    ]
    .concat();
    c.send(batch);

    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
    let r = c.reply();
    assert_route_error(&r, "HTTP/1.1 400 Bad Request", "bad_json");
    let r = c.reply();
    assert_route_error(&r, "HTTP/1.1 404 Not Found", "not_found");
    assert_eq!(
        json_of(&r),
        json!({"ok": false, "error": {"code": "not_found", "message": "no such path: /nope"}})
    );
    assert_invalid_credentials(&c.reply());
    let r = c.reply();
    assert_route_error(&r, "HTTP/1.1 405 Method Not Allowed", "method_not_allowed");
    assert_eq!(
        c.reply().raw,
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\
          Connection: close\r\n\r\n{\"ok\":true}"
    );
    c.expect_eof();
}

#[test]
fn oversized_head_gets_431_and_close() {
    let s = setup(0, |_| {});
    let addr = s.gate.addr;
    // A head that never ends: answered once 8 KiB have arrived.
    let mut c = Client::connect(addr);
    c.send(format!(
        "POST /api/v1/login HTTP/1.1\r\nX-Big: {}",
        "a".repeat(9000)
    ));
    let r = c.reply();
    assert_error(
        &r,
        "HTTP/1.1 431 Request Header Fields Too Large",
        "too_large",
    );
    assert_eq!(
        r.text(),
        error_body(
            "too_large",
            "the request line and headers are over the limit of 8192 bytes or 64 lines"
        )
    );
    c.expect_eof();

    // A complete head one byte over the limit, then exactly at it.
    let base = "GET /healthz HTTP/1.1\r\nX: \r\n\r\n".len();
    let head = |len: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nX: {}\r\n\r\n",
            "b".repeat(len - base)
        )
    };
    let mut c = Client::connect(addr);
    c.send(head(8193));
    assert_error(
        &c.reply(),
        "HTTP/1.1 431 Request Header Fields Too Large",
        "too_large",
    );
    c.expect_eof();
    let mut c = Client::connect(addr);
    c.send(head(8192));
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);

    // Too many header lines.
    let mut c = Client::connect(addr);
    c.send(format!(
        "GET /healthz HTTP/1.1\r\n{}\r\n",
        "A: b\r\n".repeat(65)
    ));
    assert_error(
        &c.reply(),
        "HTTP/1.1 431 Request Header Fields Too Large",
        "too_large",
    );
    c.expect_eof();
}

#[test]
fn transfer_codings_and_lengths_get_refused_and_close() {
    let s = setup(0, |_| {});
    let login = r#"{"username":"smuggler","password":"x"}"#;
    let cases: [(String, &str, &str, &str); 5] = [
        (
            // Both headers: a request smuggled in the chunked body is never answered.
            format!(
                "POST /api/v1/login HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\
                 Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n{}",
                unknown_login("smuggled")
            ),
            "HTTP/1.1 400 Bad Request",
            "bad_request",
            "Transfer-Encoding and Content-Length together",
        ),
        (
            format!(
                "POST /api/v1/login HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\
                 Content-Length: {}\r\n\r\n{login}",
                login.len(),
                login.len() - 1
            ),
            "HTTP/1.1 400 Bad Request",
            "bad_request",
            "Content-Length headers that differ",
        ),
        (
            format!(
                "POST /api/v1/login HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
                 {:x}\r\n{login}\r\n0\r\n\r\n",
                login.len()
            ),
            "HTTP/1.1 411 Length Required",
            "length_required",
            "chunked bodies are not accepted; send a Content-Length",
        ),
        (
            format!(
                "POST /api/v1/login HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n{login}"
            ),
            "HTTP/1.1 501 Not Implemented",
            "not_implemented",
            "unsupported Transfer-Encoding",
        ),
        (
            format!(
                "POST /api/v1/login HTTP/1.1\r\nHost: t\r\nContent-Length: +{}\r\n\r\n{login}",
                login.len()
            ),
            "HTTP/1.1 400 Bad Request",
            "bad_request",
            "invalid Content-Length",
        ),
    ];
    for (request, status_line, code, message) in cases {
        let mut c = Client::connect(s.gate.addr);
        c.send(&request);
        let r = c.reply();
        assert_error(&r, status_line, code);
        assert_eq!(r.text(), error_body(code, message), "{request:?}");
        c.expect_eof();
    }
    // The same length twice is one length: the route answers.
    let mut c = Client::connect(s.gate.addr);
    let body = json!({"username": "twice", "password": "x"}).to_string();
    c.send(format!(
        "POST /api/v1/login HTTP/1.1\r\nContent-Length: {0}\r\ncontent-length: {0}\r\n\r\n{body}",
        body.len()
    ));
    assert_invalid_credentials(&c.reply());
}

#[test]
fn body_over_64k_gets_413_and_close() {
    let s = setup(0, |_| {});
    // Answered as soon as the head is in, before any body.
    let mut c = Client::connect(s.gate.addr);
    c.send("POST /api/v1/register HTTP/1.1\r\nHost: t\r\nContent-Length: 65537\r\n\r\n");
    let r = c.reply();
    assert_error(&r, "HTTP/1.1 413 Content Too Large", "too_large");
    assert_eq!(
        r.text(),
        error_body(
            "too_large",
            "a body of 65537 bytes is over the limit of 65536 bytes"
        )
    );
    c.expect_eof();

    // Exactly 64 KiB (a login padded with spaces) reaches the route.
    let login = json!({"username": "big_body", "password": "x"}).to_string();
    let body = format!("{login}{}", " ".repeat(65536 - login.len()));
    let mut c = Client::connect(s.gate.addr);
    c.send(post("/api/v1/login", &body));
    assert_invalid_credentials(&c.reply());
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
}

#[test]
fn malformed_requests_get_400_and_close() {
    let s = setup(0, |_| {});
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"POST /api/v1/login HTTP/1.1\nContent-Length: 2\n\n{}",
        b"GET /healthz HTTP/2.0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS ClientHello
        b"GET /api/v1 login HTTP/1.1\r\n\r\n",
        b"POST /api/v1/login HTTP/1.1\r\nBad Header: x\r\n\r\n",
    ] {
        let mut c = Client::connect(s.gate.addr);
        c.send(bad);
        assert_error(&c.reply(), "HTTP/1.1 400 Bad Request", "bad_request");
        c.expect_eof();
    }
    // A valid request, then garbage: the first is answered, the garbage closes.
    let mut c = Client::connect(s.gate.addr);
    c.send([unknown_login("then_garbage").as_bytes(), b"\x00\x01"].concat());
    assert_invalid_credentials(&c.reply());
    assert_error(&c.reply(), "HTTP/1.1 400 Bad Request", "bad_request");
    c.expect_eof();
}

#[test]
fn slow_client_is_closed_after_the_header_timeout() {
    let s = setup(0, |config| config.gateway.header_timeout_ms = 300);
    let login = unknown_login("slow");
    let half_body = &login[..login.len() - 5];
    for (what, sent) in [
        ("half a head", "POST /api/v1/login HTTP/1.1\r\nHost: t"),
        ("a head and half its body", half_body),
        ("nothing", ""),
    ] {
        let mut c = Client::connect(s.gate.addr);
        let started = Instant::now();
        c.send(sent);
        let r = c.reply();
        let waited = started.elapsed();
        assert_error(&r, "HTTP/1.1 408 Request Timeout", "request_timeout");
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
            "{what}: 408 after {waited:?}"
        );
        c.expect_eof();
    }
    // In time, the request is served (and the header deadline is gone).
    let mut c = Client::connect(s.gate.addr);
    c.send(&login);
    assert_invalid_credentials(&c.reply());
    std::thread::sleep(Duration::from_millis(400));
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
}

// ---- 10,000 random malformed requests ----

const CASES: usize = 10_000;
const THREADS: usize = 4;

/// Valid requests to every route, mutated at random.
const TEMPLATES: &[&[u8]] = &[
    b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /api/v1/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 35\r\n\r\n{\"username\":\"fuzz\",\"password\":\"pw\"}",
    b"POST /api/v1/login HTTP/1.1\r\nContent-Length: 43\r\n\r\n{\"email\":\"fuzz@example.org\",\"password\":\"p\"}",
    b"POST /api/v1/codes HTTP/1.1\r\nHost: t\r\nContent-Length: 49\r\n\r\n{\"email\":\"fuzz@example.org\",\"purpose\":\"register\"}",
    b"POST /api/v1/register HTTP/1.1\r\nHost: t\r\nContent-Length: 84\r\n\r\n{\"username\":\"fz\",\"password\":\"correct horse\",\"email\":\"f@example.org\",\"code\":\"123456\"}",
    b"POST /api/v1/reset-password HTTP/1.1\r\nContent-Length: 67\r\n\r\n{\"email\":\"f@example.org\",\"code\":\"000000\",\"password\":\"new password\"}",
    b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /api/v1/login HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n{}\n\r\n0\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n\r\nPOST /api/v1/login HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",
    b"GET /api/v1/codes?x=1 HTTP/1.1\r\nA: 1\r\nConnection: close\r\n\r\n",
];

/// Pieces a mutation may splice in.
const PIECES: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b" ",
    b":",
    b"\"",
    b"{",
    b"\x00",
    b"\xff",
    b"Content-Length: 4\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Content-Length: -1\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n",
    b"HTTP/1.1",
    b"HTTP/9.9",
    b"POST ",
];

/// Statuses of the HTTP layer's own errors: each closes the connection.
const CLOSING: [u16; 5] = [408, 411, 413, 431, 501];
/// Every status the gateway may give these inputs.
const ALLOWED: [u16; 12] = [200, 202, 400, 401, 404, 405, 408, 411, 413, 429, 431, 501];

/// Sends one input on its own connection, half-closes, reads every response until EOF.
/// The statuses, or what went wrong.
fn run_case(addr: SocketAddr, input: &[u8]) -> Result<Vec<u16>, String> {
    let mut c = Client::connect(addr);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    // The gateway may close before it has read everything (an early 400): a failed write
    // is not a failure, the answer is what counts.
    let _ = c.stream.write_all(input);
    c.shutdown_write();
    let mut statuses = Vec::new();
    let mut closed = false;
    loop {
        match c.try_reply() {
            Ok(Some(r)) => {
                let status = r.status();
                if closed {
                    return Err(format!("a response after a closing one: {r:?}"));
                }
                closed = r.header("Connection") == Some("close");
                if !ALLOWED.contains(&status) || (CLOSING.contains(&status) && !closed) {
                    return Err(format!("unexpected response {r:?}"));
                }
                if status >= 400 {
                    let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
                    let code = v["error"]["code"].as_str().unwrap_or("");
                    if v["ok"] != json!(false) || code.is_empty() {
                        return Err(format!("not the contract's error shape: {r:?}"));
                    }
                }
                statuses.push(status);
            }
            Ok(None) => return Ok(statuses),
            Err(e) if e.kind() == ErrorKind::ConnectionReset && !statuses.is_empty() => {
                return Ok(statuses)
            }
            Err(e) => return Err(format!("{e} after {statuses:?}")),
        }
    }
}

#[test]
fn random_malformed_requests_do_not_hurt_the_gateway() {
    let s = setup(1, |config| config.gateway.header_timeout_ms = 2_000);
    let addr = s.gate.addr;
    let started = Instant::now();
    let storm = raw::storm(
        addr,
        (CASES, THREADS, 0x4741_5445),
        TEMPLATES,
        PIECES,
        run_case,
    );
    let seen = &storm.seen;
    eprintln!(
        "{CASES} cases in {:?}; statuses seen: {seen:?}",
        started.elapsed()
    );
    storm.assert_no_failures();
    // The mix reached the routes and the HTTP layer's error paths.
    for status in [200, 400, 401, 404, 411, 431] {
        assert!(seen.contains_key(&status), "no {status} among {seen:?}");
    }

    // The gateway is unhurt: health, a failed login, and a whole new user's flow.
    let mut c = Client::connect(addr);
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
    c.send(unknown_login("after_the_fuzz"));
    assert_invalid_credentials(&c.reply());

    let email = "after.fuzz@example.org";
    let r = s.gate.post(
        "/api/v1/codes",
        json!({"email": email, "purpose": "register"}),
    );
    assert_eq!(r.status, 202, "{:?}", r.json);
    let code = s.gate.code_for(email, 1);
    let r = s.gate.post(
        "/api/v1/register",
        json!({"username": "afterfuzz", "password": "correct horse battery", "email": email, "code": code}),
    );
    assert_eq!(r.status, 201, "{:?}", r.json);
    let r = s.gate.post(
        "/api/v1/login",
        json!({"username": "afterfuzz", "password": "correct horse battery"}),
    );
    assert_eq!(r.status, 200, "{:?}", r.json);
    assert_eq!(r.json["username"], json!("afterfuzz"));
    assert_eq!(r.json["node"]["id"], json!("n1"));
    assert!(r.json["token"].as_str().is_some_and(|t| !t.is_empty()));
}
