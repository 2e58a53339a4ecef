//! The WebSocket transport (`/ws` on the node's HTTP port) against the real binary, with
//! two independent clients: tungstenite's (a well-kept implementation, to show that an
//! ordinary client gets through) and frames built here byte by byte (to send what no
//! library would: fragments with a ping between, both long length forms, unmasked and
//! binary frames, oversized messages, a bad close).
//!
//! What is checked: the handshake (RFC 6455's example key, refusals by status), the chat
//! protocol over text messages, a user on TCP and WebSocket at once (pushes reach both),
//! every close status the contract and the RFC name (1002, 1003, 1007, 1009), the close
//! handshake, the login deadline, and that a misbehaving WebSocket client does not
//! disturb another one.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use client::{befriend, Client, PASSWORD, TIMEOUT};
use harness::{free_port, StoreKind, TestServer};

/// The server's `max_frame` (the default).
const MAX_FRAME: usize = 65_536;

/// A node with an HTTP port (SQLite store), its TCP and HTTP addresses.
fn node(extra: &[(&str, &str)]) -> (TestServer, SocketAddr) {
    let port = free_port().to_string();
    let mut overrides = vec![("server.http_port", port.as_str())];
    overrides.extend_from_slice(extra);
    let server = TestServer::start_with(StoreKind::Sqlite, &overrides);
    let http = SocketAddr::from(([127, 0, 0, 1], port.parse().unwrap()));
    let deadline = Instant::now() + TIMEOUT;
    while TcpStream::connect(http).is_err() {
        assert!(Instant::now() < deadline, "HTTP port {http} never opened");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, http)
}

/// One frame as the server sent it.
#[derive(Debug, PartialEq, Eq)]
struct Frame {
    /// Bytes of header: 2, or 4 and 10 for the 16- and 64-bit length forms.
    header_len: usize,
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl Frame {
    /// The status and reason of a close frame.
    fn close_status(&self) -> (u16, String) {
        assert_eq!(self.opcode, 0x8, "not a close frame: {self:?}");
        let code = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        (code, String::from_utf8(self.payload[2..].to_vec()).unwrap())
    }
}

/// A WebSocket client whose frames are built by hand.
struct Ws {
    stream: TcpStream,
    buf: Vec<u8>,
    seq: u64,
}

/// A masked client frame: `first` is the FIN bit and opcode byte; `long` forces the
/// 64-bit length form.
fn client_frame(first: u8, payload: &[u8], masked: bool, long: bool) -> Vec<u8> {
    let mask_bit = if masked { 0x80 } else { 0 };
    let mut out = vec![first];
    let len = payload.len();
    if long || len > 0xFFFF {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    } else if len >= 126 {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(mask_bit | len as u8);
    }
    if !masked {
        out.extend_from_slice(payload);
        return out;
    }
    let mask: [u8; 4] = rand::random();
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

impl Ws {
    /// Sends a handshake with `extra` header lines; returns the answer's head and the
    /// connection (which speaks WebSocket if the status was 101).
    fn handshake(http: SocketAddr, extra: &str) -> (String, Ws) {
        let mut stream = TcpStream::connect(http).unwrap();
        stream.set_read_timeout(Some(TIMEOUT)).unwrap();
        let request = format!(
            "GET /ws HTTP/1.1\r\nHost: {http}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut ws = Ws {
            stream,
            buf: Vec::new(),
            seq: 0,
        };
        let head = loop {
            if let Some(end) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8(ws.buf[..end + 4].to_vec()).unwrap();
                ws.buf.drain(..end + 4);
                break head;
            }
            assert!(ws.fill(), "closed during the handshake");
        };
        (head, ws)
    }

    /// A connection that completed its handshake.
    fn open(http: SocketAddr) -> Ws {
        let (head, ws) = Ws::handshake(http, "");
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        ws
    }

    /// Reads more bytes; false at end of stream.
    fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 65_536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => false,
            Err(e) => panic!("read: {e}"),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// The next server frame; `None` if the connection ended first.
    fn next_frame(&mut self) -> Option<Frame> {
        loop {
            if self.buf.len() >= 2 {
                assert_eq!(self.buf[1] & 0x80, 0, "a server frame must not be masked");
                let (len, at) = match self.buf[1] & 0x7F {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if at > 0 && self.buf.len() >= at + len {
                    let frame = Frame {
                        header_len: at,
                        fin: self.buf[0] & 0x80 != 0,
                        opcode: self.buf[0] & 0x0F,
                        payload: self.buf[at..at + len].to_vec(),
                    };
                    self.buf.drain(..at + len);
                    return Some(frame);
                }
            }
            if !self.fill() {
                return None;
            }
        }
    }

    /// The next text message as JSON.
    fn next_json(&mut self) -> Value {
        let frame = self.next_frame().expect("connection closed");
        assert_eq!((frame.fin, frame.opcode), (true, 0x1), "{frame:?}");
        serde_json::from_slice(&frame.payload).unwrap()
    }

    /// Sends one request as one masked text frame; returns its response (pushes that
    /// arrive first are skipped).
    fn request(&mut self, op: &str, fields: Value) -> Value {
        self.seq += 1;
        let mut body = fields;
        body["type"] = json!(op);
        body["seq"] = json!(self.seq);
        self.send(&client_frame(
            0x81,
            body.to_string().as_bytes(),
            true,
            false,
        ));
        self.response(self.seq)
    }

    fn response(&mut self, seq: u64) -> Value {
        loop {
            let v = self.next_json();
            if v.get("ok").is_some() {
                assert_eq!(v["seq"], json!(seq), "{v}");
                return v;
            }
        }
    }

    /// The close frame the server sends, then the end of the stream.
    fn expect_close(&mut self) -> (u16, String) {
        let close = loop {
            let frame = self.next_frame().expect("closed without a close frame");
            if frame.opcode == 0x8 {
                break frame;
            }
        };
        assert!(self.next_frame().is_none(), "data after the close frame");
        close.close_status()
    }
}

/// The RFC's example handshake, the chat protocol over text frames through tungstenite's
/// client, and a user on TCP and WebSocket at once: a message from a third user reaches
/// both of its sessions, and one sent over WebSocket is acked there and pushed to TCP.
#[test]
fn chat_over_websocket_beside_tcp() {
    let (server, http) = node(&[]);
    let (head, _) = Ws::handshake(http, "Origin: http://127.0.0.1:1\r\n");
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    assert!(head.contains("\r\nUpgrade: websocket\r\n"));
    assert!(
        !head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );

    let mut bob_tcp = Client::new_user(server.addr(), "bob");
    let mut alice = Client::new_user(server.addr(), "alice");
    befriend(&mut alice, &mut bob_tcp);

    let (mut bob_ws, answer) =
        tungstenite::client::connect(format!("ws://{http}/ws")).expect("tungstenite connects");
    assert_eq!(answer.status(), 101);
    let call = |ws: &mut tungstenite::WebSocket<_>, req: Value| -> Value {
        ws.send(tungstenite::Message::text(req.to_string()))
            .unwrap();
        loop {
            match ws.read().unwrap() {
                tungstenite::Message::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v.get("ok").is_some() {
                        return v;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    };
    let login = call(
        &mut bob_ws,
        json!({"type": "login", "seq": 1, "username": "bob", "password": PASSWORD}),
    );
    assert_eq!(login["ok"], json!(true), "{login}");
    assert_eq!(login["user_id"], json!(bob_tcp.id()));
    // The metrics count the WebSocket client among the HTTP port's connections (with the
    // scrape's own), not among the TCP port's, and among the logged-in ones.
    assert_eq!(metric(http, "chat_connections_open"), 2.0);
    assert_eq!(metric(http, "chat_connections_logged_in"), 3.0);
    assert!(metric(http, "chat_http_connections_open") >= 2.0);

    // Alice → Bob: pushed to both of Bob's sessions.
    let sent = alice.send_text(bob_tcp.id(), "héllo 世界 😀");
    let pushed = bob_tcp.expect_push("message", TIMEOUT);
    assert_eq!(pushed["msg_id"], sent["msg_id"]);
    let over_ws = loop {
        if let tungstenite::Message::Text(t) = bob_ws.read().unwrap() {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "message" {
                break v;
            }
        }
    };
    assert_eq!(over_ws["text"], json!("héllo 世界 😀"));
    assert_eq!(over_ws["msg_id"], sent["msg_id"]);
    assert!(over_ws.get("ok").is_none(), "a push has no ok: {over_ws}");

    // Bob over WebSocket → Alice: acked there, pushed to Alice and to Bob's TCP session.
    let ack = call(
        &mut bob_ws,
        json!({"type": "send_message", "seq": 2, "to": alice.id(), "text": "back at you",
               "client_msg_id": "ws-1"}),
    );
    assert_eq!(ack["ok"], json!(true), "{ack}");
    let at_alice = alice.expect_push("message", TIMEOUT);
    assert_eq!(at_alice["msg_id"], ack["msg_id"]);
    assert_eq!(at_alice["text"], json!("back at you"));
    let echo = bob_tcp.expect_push("message", TIMEOUT);
    assert_eq!(echo["msg_id"], ack["msg_id"]);

    // A bad request is answered, not closed, as on TCP.
    let bad = call(&mut bob_ws, json!({"type": "no_such_op", "seq": 3}));
    assert_eq!(bad["error"]["code"], json!("unknown_type"));
    bob_ws.close(None).unwrap();
    loop {
        match bob_ws.read() {
            Ok(_) => {}
            Err(tungstenite::Error::ConnectionClosed) => break,
            Err(e) => panic!("close handshake: {e}"),
        }
    }
    // Closed: only the scrape itself is left on the HTTP port.
    let deadline = Instant::now() + TIMEOUT;
    while metric(http, "chat_http_connections_open") != 1.0 {
        assert!(
            Instant::now() < deadline,
            "the closed WebSocket is still counted"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(http, "chat_connections_logged_in"), 2.0);
}

/// The value of the unlabelled metric `name` in the node's `/metrics` (one request on a
/// connection of its own, which counts among the HTTP port's connections).
fn metric(http: SocketAddr, name: &str) -> f64 {
    let mut s = TcpStream::connect(http).expect("connect to the HTTP port");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let prefix = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("/metrics lacks {name}: {text}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Fragments with a ping between them make one message; the ping is answered with a
/// pong carrying its payload; the 16-bit and 64-bit length forms work both ways.
#[test]
fn fragments_pings_and_long_lengths() {
    let (_server, http) = node(&[]);
    let mut ws = Ws::open(http);
    let request = br#"{"type":"register","seq":1,"username":"carol","password":"password-123"}"#;
    let (a, rest) = request.split_at(10);
    let (b, c) = rest.split_at(20);
    ws.send(&client_frame(0x01, a, true, false));
    ws.send(&client_frame(0x89, b"are you there", true, false));
    ws.send(&client_frame(0x00, b, true, false));
    ws.send(&client_frame(0x00, c, true, false)); // not final yet: nothing is answered
    ws.send(&client_frame(0x80, b"", true, false));
    let pong = ws.next_frame().unwrap();
    assert_eq!(
        pong,
        Frame {
            header_len: 2,
            fin: true,
            opcode: 0xA,
            payload: b"are you there".to_vec()
        }
    );
    let registered = ws.next_json();
    assert_eq!(registered["ok"], json!(true), "{registered}");
    assert_eq!(registered["seq"], json!(1));

    // 126 form: a 300-byte request; 127 form: a request of exactly max_frame bytes.
    let mut sized = |len: usize, seq: u64, long: bool| {
        let head = format!(r#"{{"type":"ping","seq":{seq},"pad":""#);
        let pad = "x".repeat(len - head.len() - 2);
        let body = format!("{head}{pad}\"}}");
        assert_eq!(body.len(), len);
        ws.send(&client_frame(0x81, body.as_bytes(), true, long));
        let answer = ws.next_json();
        assert_eq!(
            (answer["ok"].clone(), answer["seq"].clone()),
            (json!(true), json!(seq))
        );
    };
    sized(300, 2, false);
    sized(MAX_FRAME, 3, false);
    sized(40, 4, true); // a short payload in the 64-bit form is read as well

    // A response over 125 bytes comes in the 16-bit form.
    let login = br#"{"type":"login","seq":5,"username":"carol","password":"password-123"}"#;
    ws.send(&client_frame(0x81, login, true, false));
    let frame = ws.next_frame().unwrap();
    assert_eq!((frame.opcode, frame.header_len), (0x1, 4), "{frame:?}");
    assert!(frame.payload.len() > 125);
    let login: Value = serde_json::from_slice(&frame.payload).unwrap();
    assert_eq!(login["ok"], json!(true), "{login}");
}

/// Each violation gets the close status the RFC and the contract name, then the end of
/// the connection; a well-behaved client on the same node keeps working throughout.
#[test]
fn violations_close_with_their_status() {
    let (_server, http) = node(&[]);
    let mut bystander = Ws::open(http);
    assert_eq!(bystander.request("ping", json!({}))["ok"], json!(true));

    let cases: [(&str, Vec<u8>, u16); 7] = [
        (
            "unmasked",
            client_frame(0x81, br#"{"type":"ping"}"#, false, false),
            1002,
        ),
        ("binary", client_frame(0x82, b"\x00\x01", true, false), 1003),
        (
            "invalid UTF-8",
            client_frame(0x81, b"{\"type\":\"\xff\"}", true, false),
            1007,
        ),
        (
            "over max_frame in one frame",
            client_frame(0x81, &vec![b' '; MAX_FRAME + 1], true, false),
            1009,
        ),
        (
            "continuation first",
            client_frame(0x80, b"x", true, false),
            1002,
        ),
        (
            "reserved opcode",
            client_frame(0x83, b"x", true, false),
            1002,
        ),
        (
            "RSV1 without an extension",
            client_frame(0xC1, b"{}", true, false),
            1002,
        ),
    ];
    for (what, bytes, status) in cases {
        let mut ws = Ws::open(http);
        ws.send(&bytes);
        let (code, reason) = ws.expect_close();
        assert_eq!(code, status, "{what}: {reason}");
        assert!(!reason.is_empty(), "{what}: a reason is given");
    }

    // Over max_frame across fragments.
    let mut ws = Ws::open(http);
    ws.send(&client_frame(
        0x01,
        &vec![b' '; MAX_FRAME / 2 + 1],
        true,
        false,
    ));
    ws.send(&client_frame(
        0x80,
        &vec![b' '; MAX_FRAME / 2 + 1],
        true,
        false,
    ));
    assert_eq!(ws.expect_close().0, 1009);

    // A close status a peer may not send (1005) is a protocol error.
    let mut ws = Ws::open(http);
    ws.send(&client_frame(0x88, &1005u16.to_be_bytes(), true, false));
    assert_eq!(ws.expect_close().0, 1002);

    assert_eq!(bystander.request("ping", json!({}))["ok"], json!(true));
}

/// The close handshake: the client's close is answered with the same status, then the
/// server ends the TCP connection; a logged-in user who closes goes offline for friends.
#[test]
fn close_handshake() {
    let (server, http) = node(&[]);
    let mut friend = Client::new_user(server.addr(), "erin");
    let mut tcp = Client::new_user(server.addr(), "frank");
    befriend(&mut friend, &mut tcp);
    drop(tcp);
    friend.expect_push("presence", TIMEOUT);

    let mut ws = Ws::open(http);
    let login = ws.request("login", json!({"username": "frank", "password": PASSWORD}));
    assert_eq!(login["ok"], json!(true), "{login}");
    let online = friend.expect_push("presence", TIMEOUT);
    assert_eq!(online["online"], json!(true), "{online}");

    let mut payload = 4000u16.to_be_bytes().to_vec();
    payload.extend_from_slice("bye ✓".as_bytes());
    ws.send(&client_frame(0x88, &payload, true, false));
    assert_eq!(ws.expect_close(), (4000, String::new()));
    let offline = friend.expect_push("presence", TIMEOUT);
    assert_eq!(offline["online"], json!(false), "{offline}");
}

/// Handshakes the endpoint refuses, each with its HTTP status; the `Origin` allow-list
/// (same host by default, a configured list otherwise).
#[test]
fn handshake_refusals_and_origins() {
    let (_server, http) = node(&[]);
    let status = |extra: &str| {
        let (head, _) = Ws::handshake(http, extra);
        head.split(' ').nth(1).unwrap().to_owned()
    };
    assert_eq!(status(""), "101");
    assert_eq!(status("Origin: http://127.0.0.1:8080\r\n"), "101");
    assert_eq!(status("Origin: http://evil.example\r\n"), "403");

    let mut stream = TcpStream::connect(http).unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 426 "), "{answer}");
    assert!(answer.contains("Sec-WebSocket-Version: 13\r\n"), "{answer}");

    let (_listed, http) = node(&[("server.ws_origins", r#"["https://chat.example.com"]"#)]);
    let status = |extra: &str| {
        let (head, _) = Ws::handshake(http, extra);
        head.split(' ').nth(1).unwrap().to_owned()
    };
    assert_eq!(status("Origin: https://chat.example.com\r\n"), "101");
    assert_eq!(status("Origin: http://127.0.0.1:8080\r\n"), "403");
    assert_eq!(status(""), "101", "no Origin: not a browser");
}

/// The chat's own deadlines apply: a connection that does not log in in time is closed
/// with 1008 after its last words.
#[test]
fn login_deadline_applies() {
    let (_server, http) = node(&[("server.login_timeout_secs", "1")]);
    let mut ws = Ws::open(http);
    let started = Instant::now();
    let (code, reason) = ws.expect_close();
    assert_eq!((code, reason.as_str()), (1008, "timed out"));
    assert!(started.elapsed() < TIMEOUT);
}

/// A server shutting down says so (1001) before it closes an open session.
#[test]
fn shutdown_says_going_away() {
    let (mut server, http) = node(&[]);
    let mut ws = Ws::open(http);
    ws.request(
        "register",
        json!({"username": "gina", "password": PASSWORD}),
    );
    ws.request("login", json!({"username": "gina", "password": PASSWORD}));
    server.signal("TERM");
    assert_eq!(ws.expect_close(), (1001, "server shutting down".to_owned()));
    server.terminate(TIMEOUT);
}
