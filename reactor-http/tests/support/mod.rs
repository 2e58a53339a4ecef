//! Shared helpers for the HTTP integration tests: a real server on 127.0.0.1 (port 0)
//! with a tiny test service, and a blocking client that reads responses off the socket.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use reactor::Server;
use reactor_http::{serve, Limits, Request, Response};

/// The test service: `GET`/`HEAD /healthz` is `200 {"ok":true}`, `GET /close` answers
/// and closes, `GET /slow` answers `200 {"ok":true}` after 600 ms, any `POST` echoes its
/// body (`X-Path` names the path), anything else 404.
pub fn service(req: &Request) -> Response {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET" | "HEAD", "/healthz") => Response::json(200, &serde_json::json!({"ok": true})),
        ("GET", "/close") => Response::json(200, &serde_json::json!({"ok": true})).closing(),
        ("GET", "/slow") => {
            std::thread::sleep(Duration::from_millis(600));
            Response::json(200, &serde_json::json!({"ok": true}))
        }
        ("POST", path) => {
            Response::text(200, "application/octet-stream", req.body.clone()).header("X-Path", path)
        }
        _ => Response::error(404, "not_found", "no such path"),
    }
}

/// A running test server; dropping it shuts it down.
pub struct TestServer {
    server: Option<Server>,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

/// The engine the tests run on: a free loopback port, one reactor, two workers.
pub fn builder(name: &str) -> reactor::Builder {
    Server::builder()
        .name(name)
        .bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .reactors(1)
        .workers(2)
        .shutdown_grace(Duration::from_millis(500))
}

/// Starts the test service with `limits` on a free loopback port.
pub fn start(limits: Limits) -> TestServer {
    let server = serve(builder("http-test"), limits, service).expect("start the server");
    let addr = server.local_addr().expect("bound");
    TestServer {
        server: Some(server),
        addr,
    }
}

/// Starts the test service with the default limits.
pub fn start_default() -> TestServer {
    start(Limits::default())
}

/// One response as read off the socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// `HTTP/1.1 200 OK`, without the CRLF.
    pub status_line: String,
    /// Header lines, as sent.
    pub headers: Vec<(String, String)>,
    /// `Content-Length` bytes of body.
    pub body: Vec<u8>,
    /// Every byte of the response, as it came.
    pub raw: Vec<u8>,
}

impl Reply {
    /// The status code.
    pub fn status(&self) -> u16 {
        self.status_line
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// The first header named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }
}

/// A blocking loopback client.
pub struct Client {
    /// The socket.
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects with a 10 s read timeout and no Nagle delay.
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).expect("write");
    }

    /// Shuts down the sending side.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(n)
    }

    /// The next response; `Ok(None)` on EOF with nothing pending. A response cut short
    /// by EOF, or a head that is not an HTTP/1.1 response head, is an error.
    pub fn try_reply(&mut self) -> io::Result<Option<Reply>> {
        let head_end = loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            if self.fill()? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(bad(format!("EOF inside a head: {:?}", self.lossy())))
                };
            }
        };
        let head = std::str::from_utf8(&self.buf[..head_end - 4])
            .map_err(|_| bad("non-UTF-8 head".into()))?
            .to_owned();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default().to_owned();
        let well_formed = status_line.len() >= 13
            && status_line.starts_with("HTTP/1.1 ")
            && status_line.as_bytes()[9..12].iter().all(u8::is_ascii_digit)
            && status_line.as_bytes()[12] == b' ';
        if !well_formed {
            return Err(bad(format!("bad status line {status_line:?}")));
        }
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once(": ")
                .ok_or_else(|| bad(format!("bad header line {line:?}")))?;
            headers.push((name.to_owned(), value.to_owned()));
        }
        let len: usize = headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().map_err(|_| bad(format!("bad length {v:?}"))))
            .transpose()?
            .unwrap_or(0);
        while self.buf.len() < head_end + len {
            if self.fill()? == 0 {
                return Err(bad("EOF inside a body".into()));
            }
        }
        let raw: Vec<u8> = self.buf.drain(..head_end + len).collect();
        Ok(Some(Reply {
            status_line,
            headers,
            body: raw[head_end..].to_vec(),
            raw,
        }))
    }

    /// Like [`Client::try_reply`], for a response that must come.
    pub fn reply(&mut self) -> Reply {
        self.try_reply()
            .expect("read a response")
            .expect("a response before EOF")
    }

    /// A `HEAD` response: the head only, whatever its `Content-Length`.
    pub fn head_reply(&mut self) -> String {
        loop {
            if let Some(at) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head: Vec<u8> = self.buf.drain(..at + 4).collect();
                return String::from_utf8(head).expect("UTF-8 head");
            }
            assert!(self.fill().expect("read") > 0, "EOF before a head");
        }
    }

    /// Asserts that the server closes the connection with nothing more to say.
    pub fn expect_eof(&mut self) {
        match self.fill() {
            Ok(0) => {}
            Ok(_) => panic!("more bytes where EOF was expected: {:?}", self.lossy()),
            Err(e) => panic!("no EOF: {e}"),
        }
        assert!(self.buf.is_empty(), "left over: {:?}", self.lossy());
    }

    fn lossy(&self) -> String {
        String::from_utf8_lossy(&self.buf).into_owned()
    }
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// The contract's error body.
pub fn error_body(code: &str, message: &str) -> String {
    format!(r#"{{"ok":false,"error":{{"code":"{code}","message":"{message}"}}}}"#)
}

/// Asserts an error response: status line, closing, JSON error code.
pub fn assert_error(reply: &Reply, status_line: &str, code: &str) {
    assert_eq!(reply.status_line, status_line, "{reply:?}");
    assert_eq!(reply.header("Content-Type"), Some("application/json"));
    assert_eq!(reply.header("Connection"), Some("close"));
    let prefix = format!(r#"{{"ok":false,"error":{{"code":"{code}","message":""#);
    assert!(reply.text().starts_with(&prefix), "{}", reply.text());
}

/// Random bytes for a malformed-request case: usually up to 300, one time in ten
/// 8,000–12,000 (past the head limit).
pub fn random_bytes(rng: &mut rand::rngs::StdRng) -> Vec<u8> {
    use rand::Rng;
    let len = match rng.random_range(0..10) {
        0 => rng.random_range(8_000..12_000),
        _ => rng.random_range(1..300),
    };
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

/// One of `templates` (valid requests) after 1 to 5 random mutations: a byte replaced
/// or flipped, a few bytes dropped, one of `pieces` spliced in, a cut, a stretch
/// repeated, or a run of up to 9,000 `a`s inserted.
pub fn mutated(rng: &mut rand::rngs::StdRng, templates: &[&[u8]], pieces: &[&[u8]]) -> Vec<u8> {
    use rand::Rng;
    let mut v = templates[rng.random_range(0..templates.len())].to_vec();
    for _ in 0..rng.random_range(1..6) {
        let at = rng.random_range(0..=v.len());
        match rng.random_range(0..7) {
            0 if at < v.len() => v[at] = rng.random(),
            1 if at < v.len() => v[at] ^= 1 << rng.random_range(0..8),
            2 => {
                let end = rng.random_range(at..=v.len().min(at + 8));
                v.drain(at..end);
            }
            3 => {
                let piece = pieces[rng.random_range(0..pieces.len())];
                v.splice(at..at, piece.iter().copied());
            }
            4 => v.truncate(at),
            5 => {
                let end = rng.random_range(at..=v.len());
                let copy = v[at..end].to_vec();
                v.splice(at..at, copy);
            }
            _ => {
                let n = rng.random_range(1..9000);
                v.splice(at..at, std::iter::repeat_n(b'a', n));
            }
        }
    }
    v
}

/// What a storm of malformed requests met (see [`storm`]).
pub struct Storm {
    /// Answers seen, by status.
    pub seen: std::collections::BTreeMap<u16, usize>,
    /// The cases that went wrong, each with its input.
    pub failures: Vec<String>,
}

impl Storm {
    /// Fails the test with the first failures, if there were any.
    pub fn assert_no_failures(&self) {
        assert!(
            self.failures.is_empty(),
            "{} failures, first: {:#?}",
            self.failures.len(),
            &self.failures[..self.failures.len().min(5)]
        );
    }
}

/// Sends `cases` malformed requests to `addr` from `threads` threads, each case on its
/// own connection through `run_case` (the statuses answered, or what went wrong): every
/// other one [`random_bytes`], the rest [`mutated`] from `templates` and `pieces`.
/// Thread `t` seeds its RNG with `seed + t`, so a run repeats exactly.
pub fn storm(
    addr: SocketAddr,
    (cases, threads, seed): (usize, usize, u64),
    templates: &'static [&'static [u8]],
    pieces: &'static [&'static [u8]],
    run_case: fn(SocketAddr, &[u8]) -> Result<Vec<u16>, String>,
) -> Storm {
    use rand::SeedableRng;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed + t as u64);
                let mut storm = Storm {
                    seen: Default::default(),
                    failures: Vec::new(),
                };
                for i in 0..cases / threads {
                    let input = if i % 2 == 0 {
                        random_bytes(&mut rng)
                    } else {
                        mutated(&mut rng, templates, pieces)
                    };
                    match run_case(addr, &input) {
                        Ok(statuses) => {
                            for s in statuses {
                                *storm.seen.entry(s).or_default() += 1;
                            }
                        }
                        Err(e) => storm.failures.push(format!(
                            "thread {t} case {i}: {e}; input {:?}",
                            String::from_utf8_lossy(&input[..input.len().min(300)])
                        )),
                    }
                }
                storm
            })
        })
        .collect();
    let mut total = Storm {
        seen: Default::default(),
        failures: Vec::new(),
    };
    for h in handles {
        let part = h.join().expect("client thread");
        for (k, v) in part.seen {
            *total.seen.entry(k).or_default() += v;
        }
        total.failures.extend(part.failures);
    }
    total
}
