//! HTTP/1.1 against a real server on 127.0.0.1: framing, keep-alive, pipelining,
//! HTTP/1.0, the size limits, refused transfer codings and the deadlines, asserted on the
//! bytes that come back on the socket.

mod support;

use std::time::{Duration, Instant};

use reactor_http::Limits;
use support::{assert_error, error_body, start, start_default, Client};

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n";
const HEALTHZ_REPLY: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}";

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn healthz_answers_exact_bytes() {
    let server = start_default();
    let mut c = Client::connect(server.addr);
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
    c.send("GET /nowhere HTTP/1.1\r\n\r\n");
    let r = c.reply();
    assert_eq!(r.status_line, "HTTP/1.1 404 Not Found");
    assert_eq!(r.text(), error_body("not_found", "no such path"));
    assert_eq!(r.header("Connection"), None);
}

#[test]
fn request_in_one_byte_writes() {
    let server = start_default();
    let mut c = Client::connect(server.addr);
    let req = post("/one/byte", "hello, world");
    for b in req.as_bytes() {
        c.send([*b]);
        std::thread::sleep(Duration::from_millis(1));
    }
    let r = c.reply();
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("X-Path"), Some("/one/byte"));
    assert_eq!(r.body, b"hello, world");
    // Still open: a second request in one write.
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
}

#[test]
fn pipelined_requests_answered_in_order() {
    let server = start_default();
    let mut c = Client::connect(server.addr);
    let mut batch = Vec::new();
    for i in 0..20 {
        if i % 5 == 4 {
            batch.extend_from_slice(HEALTHZ);
        } else {
            batch.extend_from_slice(post(&format!("/p{i}"), &"x".repeat(i)).as_bytes());
        }
    }
    c.send(&batch);
    for i in 0..20 {
        let r = c.reply();
        if i % 5 == 4 {
            assert_eq!(r.raw, HEALTHZ_REPLY, "reply {i}");
        } else {
            assert_eq!(
                r.header("X-Path"),
                Some(format!("/p{i}").as_str()),
                "reply {i}"
            );
            assert_eq!(r.body, "x".repeat(i).as_bytes(), "reply {i}");
        }
    }
    // A pipeline ending in `Connection: close`: the close is answered last, then EOF,
    // and what follows it is never answered.
    c.send(
        [
            post("/a", "1"),
            "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n".into(),
            post("/never", "2"),
        ]
        .concat(),
    );
    assert_eq!(c.reply().body, b"1");
    let last = c.reply();
    assert_eq!(last.status_line, "HTTP/1.1 200 OK");
    assert_eq!(last.header("Connection"), Some("close"));
    c.expect_eof();
}

#[test]
fn keep_alive_then_connection_close() {
    let server = start_default();
    let mut c = Client::connect(server.addr);
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
    c.send(post("/second", "two"));
    let r = c.reply();
    assert_eq!((r.status(), r.body.as_slice()), (200, &b"two"[..]));
    assert_eq!(r.header("Connection"), None);
    c.send("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert_eq!(
        c.reply().raw,
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\
          Connection: close\r\n\r\n{\"ok\":true}"
    );
    c.expect_eof();

    // The service may close too.
    let mut c = Client::connect(server.addr);
    c.send("GET /close HTTP/1.1\r\n\r\n");
    let r = c.reply();
    assert_eq!(r.header("Connection"), Some("close"));
    c.expect_eof();
}

#[test]
fn head_request_gets_the_head_only() {
    let server = start_default();
    let mut c = Client::connect(server.addr);
    c.send("HEAD /healthz HTTP/1.1\r\n\r\n");
    assert_eq!(
        c.head_reply(),
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n"
    );
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
}

#[test]
fn http_1_0() {
    let server = start_default();
    let mut c = Client::connect(server.addr);
    c.send("GET /healthz HTTP/1.0\r\n\r\n");
    let r = c.reply();
    assert_eq!(r.status_line, "HTTP/1.1 200 OK");
    assert_eq!(r.header("Connection"), Some("close"));
    assert_eq!(r.body, b"{\"ok\":true}");
    c.expect_eof();

    let mut c = Client::connect(server.addr);
    c.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(
        c.reply().raw,
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\
          Connection: keep-alive\r\n\r\n{\"ok\":true}"
    );
    c.send("POST /x HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi");
    let r = c.reply();
    assert_eq!(
        (r.body.as_slice(), r.header("Connection")),
        (&b"hi"[..], Some("close"))
    );
    c.expect_eof();
}

#[test]
fn oversized_head_gets_431_and_close() {
    let server = start_default();
    // A head that never ends: answered once 8 KiB have arrived.
    let mut c = Client::connect(server.addr);
    c.send(format!(
        "GET /healthz HTTP/1.1\r\nX-Big: {}",
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

    // A complete head, one byte too long.
    let mut c = Client::connect(server.addr);
    let base = "GET /healthz HTTP/1.1\r\nX: \r\n\r\n".len();
    c.send(format!(
        "GET /healthz HTTP/1.1\r\nX: {}\r\n\r\n",
        "b".repeat(8193 - base)
    ));
    assert_error(
        &c.reply(),
        "HTTP/1.1 431 Request Header Fields Too Large",
        "too_large",
    );
    c.expect_eof();

    // Exactly at the limit it is served.
    let mut c = Client::connect(server.addr);
    c.send(format!(
        "GET /healthz HTTP/1.1\r\nX: {}\r\n\r\n",
        "b".repeat(8192 - base)
    ));
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);

    // Too many header lines.
    let mut c = Client::connect(server.addr);
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
fn body_over_the_limit_gets_413_and_close() {
    let server = start_default();
    let mut c = Client::connect(server.addr);
    // Answered as soon as the head is in, before any body.
    c.send("POST /big HTTP/1.1\r\nContent-Length: 65537\r\n\r\n");
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

    // At the limit it is served.
    let mut c = Client::connect(server.addr);
    let body = "z".repeat(65536);
    c.send(post("/max", &body));
    let r = c.reply();
    assert_eq!((r.status(), r.body.len()), (200, 65536));
}

#[test]
fn transfer_encoding_with_content_length_gets_400_and_close() {
    let server = start_default();
    let mut c = Client::connect(server.addr);
    c.send(
        "POST /smuggle HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n\
         0\r\n\r\nGET /healthz HTTP/1.1\r\n\r\n",
    );
    let r = c.reply();
    assert_error(&r, "HTTP/1.1 400 Bad Request", "bad_request");
    assert_eq!(
        r.text(),
        error_body(
            "bad_request",
            "Transfer-Encoding and Content-Length together"
        )
    );
    c.expect_eof();
}

#[test]
fn differing_content_lengths_get_400_and_close() {
    let server = start_default();
    let mut c = Client::connect(server.addr);
    c.send("POST /x HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd");
    let r = c.reply();
    assert_error(&r, "HTTP/1.1 400 Bad Request", "bad_request");
    assert_eq!(
        r.text(),
        error_body("bad_request", "Content-Length headers that differ")
    );
    c.expect_eof();

    // The same length twice is one length.
    let mut c = Client::connect(server.addr);
    c.send("POST /x HTTP/1.1\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc");
    assert_eq!(c.reply().body, b"abc");

    // Not a number.
    let mut c = Client::connect(server.addr);
    c.send("POST /x HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc");
    assert_error(&c.reply(), "HTTP/1.1 400 Bad Request", "bad_request");
    c.expect_eof();
}

#[test]
fn chunked_body_gets_411_and_other_codings_501() {
    let server = start_default();
    let mut c = Client::connect(server.addr);
    // The chunked body that follows is never read as a request.
    c.send("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    let r = c.reply();
    assert_error(&r, "HTTP/1.1 411 Length Required", "length_required");
    assert_eq!(
        r.text(),
        error_body(
            "length_required",
            "chunked bodies are not accepted; send a Content-Length"
        )
    );
    c.expect_eof();

    let mut c = Client::connect(server.addr);
    c.send("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nxxxx");
    let r = c.reply();
    assert_error(&r, "HTTP/1.1 501 Not Implemented", "not_implemented");
    c.expect_eof();
}

#[test]
fn malformed_requests_get_400_and_close() {
    let server = start_default();
    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\n\n",
        b"GET /healthz HTTP/2.0\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", // a TLS ClientHello
        b"GET /a b HTTP/1.1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n",
    ] {
        let mut c = Client::connect(server.addr);
        c.send(bad);
        let r = c.reply();
        assert_error(&r, "HTTP/1.1 400 Bad Request", "bad_request");
        c.expect_eof();
    }
    // A valid request, then garbage: the first is answered, the garbage closes.
    let mut c = Client::connect(server.addr);
    c.send([HEALTHZ, b"\x00\x01"].concat());
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
    assert_error(&c.reply(), "HTTP/1.1 400 Bad Request", "bad_request");
    c.expect_eof();
}

#[test]
fn slow_head_is_closed_after_the_header_timeout() {
    let server = start(Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let mut c = Client::connect(server.addr);
    let started = Instant::now();
    c.send("GET /healthz HTTP/1.1\r\nHost: t");
    let r = c.reply();
    let waited = started.elapsed();
    assert_error(&r, "HTTP/1.1 408 Request Timeout", "request_timeout");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "408 after {waited:?}"
    );
    c.expect_eof();

    // A client that sends nothing at all is closed the same way.
    let mut c = Client::connect(server.addr);
    assert_error(
        &c.reply(),
        "HTTP/1.1 408 Request Timeout",
        "request_timeout",
    );
    c.expect_eof();

    // In time, the request is served (and the header deadline is gone).
    let mut c = Client::connect(server.addr);
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
}

/// The header deadline is the client's: a service slower than it (600 ms against 300)
/// still answers, on a first request and on a kept-alive one.
#[test]
fn a_slow_service_is_not_cut_by_the_header_deadline() {
    let server = start(Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let mut c = Client::connect(server.addr);
    for _ in 0..2 {
        c.send("GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
        let r = c.reply();
        assert_eq!(r.status_line, "HTTP/1.1 200 OK");
        assert_eq!(r.body, br#"{"ok":true}"#);
    }
}

#[test]
fn idle_keep_alive_is_closed_without_an_answer() {
    let server = start(Limits {
        header_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(500),
        ..Limits::default()
    });
    let mut c = Client::connect(server.addr);
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
    // Past the header timeout but within the idle timeout: still served.
    std::thread::sleep(Duration::from_millis(300));
    c.send(HEALTHZ);
    assert_eq!(c.reply().raw, HEALTHZ_REPLY);
    let idle = Instant::now();
    c.expect_eof();
    let waited = idle.elapsed();
    assert!(
        waited >= Duration::from_millis(400) && waited < Duration::from_secs(5),
        "closed after {waited:?}"
    );
}
