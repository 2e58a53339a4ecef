//! 10,000 malformed requests (random bytes, and valid requests mutated at random, from a
//! seeded RNG) over as many connections: every answer is a well-formed response with a
//! status the server may give, no connection hangs, and afterwards `GET /healthz` on a
//! fresh connection still answers 200.

mod support;

use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::Duration;

use reactor_http::Limits;
use support::{start, Client};

const CASES: usize = 10_000;
const THREADS: usize = 4;

const TEMPLATES: &[&[u8]] = &[
    b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
    b"POST /api/v1/login HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{\"username\":\"a\"}",
    b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    b"GET /a?b=c HTTP/1.1\r\nA: 1\r\nB: 2\r\nConnection: close\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n\r\nPOST /y HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi",
];

/// Pieces a mutation may splice in.
const PIECES: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b"\r\n\r\n",
    b" ",
    b":",
    b"\x00",
    b"\xff",
    b"Content-Length: 4\r\n",
    b"Content-Length: 99999999999999999999\r\n",
    b"Content-Length: -1\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Connection: close\r\n",
    b"HTTP/1.1",
    b"HTTP/9.9",
    b"GET ",
];

/// Sends one case on its own connection (no `HEAD`: the reader expects bodies), half-closes, reads every response until EOF.
/// Returns the statuses, or what went wrong.
fn run_case(addr: SocketAddr, input: &[u8]) -> Result<Vec<u16>, String> {
    let mut c = Client::connect(addr);
    // The server may close before it has read everything (an early 400): a failed write
    // is not a failure, the answer is what counts.
    let _ = std::io::Write::write_all(&mut c.stream, input);
    c.shutdown_write();
    let mut statuses = Vec::new();
    loop {
        match c.try_reply() {
            Ok(Some(r)) => {
                let status = r.status();
                // The server's own errors (all but the service's 404) close.
                if status >= 400 {
                    let shape = r#"{"ok":false,"error":{"code":""#;
                    let closes = r.header("Connection") == Some("close");
                    if !r.body.starts_with(shape.as_bytes()) || (status != 404 && !closes) {
                        return Err(format!("bad error response {r:?}"));
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
fn random_malformed_requests_do_not_hurt_the_server() {
    let server = start(Limits {
        header_timeout: Duration::from_secs(5),
        ..Limits::default()
    });
    let storm = support::storm(
        server.addr,
        (CASES, THREADS, 0x4854_5450),
        TEMPLATES,
        PIECES,
        run_case,
    );
    let seen = &storm.seen;
    eprintln!("statuses seen: {seen:?}");
    storm.assert_no_failures();
    for status in seen.keys() {
        assert!(
            [200, 400, 404, 411, 413, 431, 501].contains(status),
            "unexpected status {status}: {seen:?}"
        );
    }
    // The mix exercised the error paths.
    for status in [200, 400, 411, 431] {
        assert!(seen.contains_key(&status), "no {status} among {seen:?}");
    }

    let mut c = Client::connect(server.addr);
    c.send("GET /healthz HTTP/1.1\r\n\r\n");
    assert_eq!(
        c.reply().raw,
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"
    );
}
