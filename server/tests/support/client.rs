//! A blocking test client for the chat protocol (see `docs/protocol.md`).
//!
//! Frames are a 4-byte big-endian length and a UTF-8 JSON object. [`Client::request`] sets
//! an increasing `seq`, writes the request and reads frames until its response, checking on
//! the way that every frame is well formed: a response carries `ok` (and, when false, an
//! `error` with string `code` and `message`), echoes the `seq` of the OLDEST outstanding
//! request (responses come in request order) and the request's `type`; a push carries a
//! string `type` and neither `ok` nor `seq`. Pushes read while waiting are queued for
//! [`Client::expect_push`] and friends. Requests can be pipelined with
//! [`Client::send_request`] / [`Client::read_response`]; raw helpers write arbitrary bytes
//! for malformed-input tests. Typed helpers build their requests with the `proto` crate,
//! and every frame read is checked against `proto`'s response and push types.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};

/// How long to wait for a response or an expected push before failing.
pub const TIMEOUT: Duration = Duration::from_secs(20);
/// The password every test user gets from [`Client::register_and_login`].
pub const PASSWORD: &str = "correct horse battery";

/// Why a frame could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// Nothing complete arrived before the deadline.
    Timeout,
    /// The server closed the connection (EOF, reset or broken pipe).
    Closed,
}

/// One connection to the server.
pub struct Client {
    stream: TcpStream,
    /// Label used in failure messages.
    pub name: String,
    buf: Vec<u8>,
    closed: bool,
    next_seq: u64,
    outstanding: VecDeque<(u64, String)>,
    early: VecDeque<Value>,
    pushes: VecDeque<Value>,
    /// Largest frame received so far, in bytes (without the length prefix).
    pub max_frame_seen: usize,
    /// The logged-in user's id, once logged in through a helper.
    pub user_id: Option<i64>,
    /// The session token, once logged in through a helper.
    pub token: Option<String>,
    /// Whether the session was logged in with pushes (the default).
    pub push: bool,
    msg_counter: u64,
}

/// Encodes one frame: the length prefix and `payload`.
pub fn frame_bytes(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Whether an I/O error means the peer closed the connection.
fn is_closed_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// The `error.code` of a failed response (panics if the frame is not a failed response).
pub fn error_code(resp: &Value) -> &str {
    assert_eq!(
        resp["ok"],
        json!(false),
        "expected a failed response: {resp}"
    );
    resp["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("error without a string code: {resp}"))
}

/// The `error.message` of a failed response.
pub fn error_message(resp: &Value) -> &str {
    resp["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("error without a string message: {resp}"))
}

/// `v[key]` as an i64 (panics with the frame otherwise).
pub fn int(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key:?} is not an integer in {v}"))
}

/// Checks that `payload` is a well-formed frame from the server, by the wire crate's
/// own types: a response (`ok`, and for a failure an `error` with a known `code` and a
/// `message`), or one of the contract's pushes with exactly its fields' types; a push
/// never carries `seq`.
fn check_frame_shape(payload: &[u8], frame: &Value) {
    match proto::Incoming::parse(payload) {
        Ok(proto::Incoming::Response(r)) => assert!(
            r.ok || r.error.is_some(),
            "failed response without an error object: {frame}"
        ),
        Ok(proto::Incoming::Push(_)) => assert!(
            frame.get("seq").is_none(),
            "a push (no `ok`) must not carry a seq: {frame}"
        ),
        Err(e) => panic!("not a frame of the contract ({e}): {frame}"),
    }
}

/// Builds a typed request's fields (the wire crate's encoding) for [`Client::request`].
pub fn fields_of(request: &proto::Request) -> Value {
    Value::Object(request.fields())
}

/// Whether `frame` is a response (it has `ok`) rather than a push.
pub fn is_response(frame: &Value) -> bool {
    frame.get("ok").is_some()
}

impl Client {
    /// Connects to `addr` (TCP_NODELAY on).
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
        Client::over(stream)
    }

    /// Connects to `addr` from the source address `source` (e.g. 127.0.0.2, to be
    /// another client host as far as per-address limits go).
    pub fn connect_from(addr: SocketAddr, source: IpAddr) -> Client {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket
            .bind(&SocketAddr::new(source, 0).into())
            .unwrap_or_else(|e| panic!("bind {source}: {e}"));
        socket
            .connect_timeout(&addr.into(), Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect to {addr} from {source}: {e}"));
        Client::over(socket.into())
    }

    fn over(stream: TcpStream) -> Client {
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        Client {
            stream,
            name: String::from("client"),
            buf: Vec::new(),
            closed: false,
            next_seq: 1,
            outstanding: VecDeque::new(),
            early: VecDeque::new(),
            pushes: VecDeque::new(),
            max_frame_seen: 0,
            user_id: None,
            token: None,
            push: true,
            msg_counter: 0,
        }
    }

    /// Connects, registers `name` with [`PASSWORD`] and logs in with pushes on.
    pub fn new_user(addr: SocketAddr, name: &str) -> Client {
        let mut c = Client::connect(addr);
        c.register_and_login(name);
        c
    }

    /// Connects and logs in as an existing user with [`PASSWORD`].
    pub fn login_as(addr: SocketAddr, name: &str, push: bool) -> Client {
        let mut c = Client::connect(addr);
        c.login(name, PASSWORD, push);
        c
    }

    /// Connects and logs in with a session token.
    pub fn login_with_token(addr: SocketAddr, token: &str, push: bool) -> Client {
        let mut c = Client::connect(addr);
        c.login_token(token, push);
        c
    }

    /// The logged-in user's id (panics if not logged in through a helper).
    pub fn id(&self) -> i64 {
        self.user_id
            .unwrap_or_else(|| panic!("{}: not logged in", self.name))
    }

    // ---- raw I/O -------------------------------------------------------------------

    /// Writes raw bytes; errors (the server may have closed) are returned, not raised.
    pub fn write_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Writes one frame with `payload` as its body.
    pub fn write_frame(&mut self, payload: &[u8]) {
        let bytes = frame_bytes(payload);
        self.write_raw(&bytes)
            .unwrap_or_else(|e| panic!("{}: write frame: {e}", self.name));
    }

    /// Writes `value` as one frame (no seq bookkeeping: read the answer with
    /// [`Client::read_raw_response`]).
    pub fn write_json(&mut self, value: &Value) {
        let payload = serde_json::to_vec(value).unwrap();
        self.write_frame(&payload);
    }

    /// Closes the write side (the server sees EOF).
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Tries to take one complete frame from the buffer.
    fn take_buffered(&mut self) -> Option<Vec<u8>> {
        if self.buf.len() < 4 {
            return None;
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if self.buf.len() < 4 + len {
            return None;
        }
        let payload = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Some(payload)
    }

    /// Reads the next frame (of either kind) as raw bytes before `deadline`.
    pub fn read_frame_bytes(&mut self, deadline: Instant) -> Result<Vec<u8>, ReadError> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            if let Some(payload) = self.take_buffered() {
                return Ok(payload);
            }
            if self.closed {
                return Err(ReadError::Closed);
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(ReadError::Timeout);
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.stream.set_read_timeout(Some(wait)).unwrap();
            match self.stream.read(&mut chunk) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_closed_error(&e) => self.closed = true,
                Err(e) => panic!("{}: read: {e}", self.name),
            }
        }
    }

    /// Reads the next frame (either kind) as JSON, checking its shape.
    pub fn try_read_frame(&mut self, deadline: Instant) -> Result<Value, ReadError> {
        let payload = self.read_frame_bytes(deadline)?;
        self.max_frame_seen = self.max_frame_seen.max(payload.len());
        let value: Value = serde_json::from_slice(&payload).unwrap_or_else(|e| {
            panic!(
                "{}: server frame is not JSON ({e}): {:?}",
                self.name,
                String::from_utf8_lossy(&payload)
            )
        });
        check_frame_shape(&payload, &value);
        Ok(value)
    }

    /// Reads the next frame or panics saying what was being waited for.
    fn read_frame_or_panic(&mut self, deadline: Instant, waiting_for: &str) -> Value {
        match self.try_read_frame(deadline) {
            Ok(v) => v,
            Err(ReadError::Timeout) => panic!(
                "{}: timed out waiting for {waiting_for} (queued pushes: {:?})",
                self.name, self.pushes
            ),
            Err(ReadError::Closed) => panic!(
                "{}: connection closed while waiting for {waiting_for} (queued pushes: {:?})",
                self.name, self.pushes
            ),
        }
    }

    /// Files a frame that arrived while waiting for something else: a push goes to the
    /// push queue; a response must answer the oldest outstanding request and is kept for
    /// [`Client::read_response`].
    fn file_frame(&mut self, frame: Value) {
        if is_response(&frame) {
            let idx = self.early.len();
            let Some((seq, op)) = self.outstanding.get(idx).cloned() else {
                panic!(
                    "{}: response with no request outstanding: {frame}",
                    self.name
                );
            };
            self.check_response_matches(&frame, seq, &op);
            self.early.push_back(frame);
        } else {
            self.pushes.push_back(frame);
        }
    }

    fn check_response_matches(&self, frame: &Value, seq: u64, op: &str) {
        assert_eq!(
            frame.get("seq"),
            Some(&json!(seq)),
            "{}: responses must come in request order: expected seq {seq} ({op}), got {frame}",
            self.name
        );
        assert_eq!(
            frame["type"],
            json!(op),
            "{}: response type must echo the op: {frame}",
            self.name
        );
    }

    /// Reads frames until the next raw response (a frame with `ok`), queueing pushes; for
    /// requests written with [`Client::write_json`] / [`Client::write_frame`].
    pub fn read_raw_response(&mut self) -> Value {
        assert!(
            self.outstanding.is_empty(),
            "{}: raw response read with seq'd requests outstanding",
            self.name
        );
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let frame = self.read_frame_or_panic(deadline, "a raw response");
            if is_response(&frame) {
                return frame;
            }
            self.pushes.push_back(frame);
        }
    }

    // ---- requests ------------------------------------------------------------------

    /// Writes a request with the next seq without waiting; returns the seq.
    pub fn send_request(&mut self, op: &str, fields: Value) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut obj: Map<String, Value> = match fields {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => panic!("request fields must be an object, got {other}"),
        };
        obj.insert("type".into(), json!(op));
        obj.insert("seq".into(), json!(seq));
        let payload = serde_json::to_vec(&Value::Object(obj)).unwrap();
        self.write_frame(&payload);
        self.outstanding.push_back((seq, op.to_string()));
        seq
    }

    /// Reads the response to the oldest outstanding request, queueing pushes.
    pub fn read_response(&mut self) -> Value {
        self.read_response_within(TIMEOUT)
            .unwrap_or_else(|| panic!("{}: no response within {TIMEOUT:?}", self.name))
    }

    /// Like [`Client::read_response`] but returns None on timeout (the request stays
    /// outstanding) and panics if the connection closes.
    pub fn read_response_within(&mut self, timeout: Duration) -> Option<Value> {
        match self.try_read_response(timeout) {
            Ok(frame) => Some(frame),
            Err(ReadError::Timeout) => None,
            Err(ReadError::Closed) => panic!(
                "{}: connection closed while waiting for the response to {:?}",
                self.name,
                self.outstanding.front()
            ),
        }
    }

    /// Like [`Client::read_response`], but returns `Err(ReadError::Closed)` if the
    /// connection closes first (for tests that kill the server).
    pub fn try_read_response(&mut self, timeout: Duration) -> Result<Value, ReadError> {
        let (seq, op) = self
            .outstanding
            .front()
            .cloned()
            .unwrap_or_else(|| panic!("{}: no request outstanding", self.name));
        if let Some(frame) = self.early.pop_front() {
            self.outstanding.pop_front();
            return Ok(frame);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let frame = self.try_read_frame(deadline)?;
            if is_response(&frame) {
                self.check_response_matches(&frame, seq, &op);
                self.outstanding.pop_front();
                return Ok(frame);
            }
            self.pushes.push_back(frame);
        }
    }

    /// Number of requests written whose response has not been read.
    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Sends `op` with `fields` (an object, or `Value::Null` for none) and returns its
    /// response, whatever its `ok`.
    pub fn request(&mut self, op: &str, fields: Value) -> Value {
        assert!(
            self.outstanding.is_empty(),
            "{}: request() with pipelined requests outstanding",
            self.name
        );
        self.send_request(op, fields);
        self.read_response()
    }

    /// Like [`Client::request`], and asserts `ok: true`.
    pub fn request_ok(&mut self, op: &str, fields: Value) -> Value {
        let resp = self.request(op, fields.clone());
        assert_eq!(
            resp["ok"],
            json!(true),
            "{}: {op} {fields} failed: {resp}",
            self.name
        );
        resp
    }

    /// Like [`Client::request`], and asserts it failed with `code`; returns the response.
    pub fn request_err(&mut self, op: &str, fields: Value, code: &str) -> Value {
        let resp = self.request(op, fields.clone());
        assert_eq!(
            resp["ok"],
            json!(false),
            "{}: {op} {fields} should fail with {code}: {resp}",
            self.name
        );
        assert_eq!(
            error_code(&resp),
            code,
            "{}: {op} {fields}: wrong error code: {resp}",
            self.name
        );
        resp
    }

    /// Asserts `op` fails with `bad_request` and that the message names `field`.
    pub fn request_bad_field(&mut self, op: &str, fields: Value, field: &str) -> Value {
        let resp = self.request_err(op, fields.clone(), "bad_request");
        let message = error_message(&resp);
        assert!(
            message.contains(field),
            "{}: {op} {fields}: bad_request message should name {field:?}: {resp}",
            self.name
        );
        resp
    }

    // ---- pushes --------------------------------------------------------------------

    /// Waits up to `timeout` for a push of type `ty` (taking it from the queue if already
    /// read); other pushes stay queued in order.
    pub fn expect_push(&mut self, ty: &str, timeout: Duration) -> Value {
        if let Some(pos) = self.pushes.iter().position(|p| p["type"] == ty) {
            return self.pushes.remove(pos).unwrap();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let frame = self.read_frame_or_panic(deadline, &format!("a {ty:?} push"));
            if !is_response(&frame) && frame["type"] == ty {
                return frame;
            }
            self.file_frame(frame);
        }
    }

    /// Waits for `count` pushes of type `ty` and returns them in arrival order.
    pub fn expect_pushes(&mut self, ty: &str, count: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                panic!(
                    "{}: got only {} of {count} {ty:?} pushes within {timeout:?}",
                    self.name,
                    out.len()
                );
            }
            out.push(self.expect_push(ty, left));
        }
        out
    }

    /// Asserts that no push is queued and none arrives within `wait` (at least 50 ms, so
    /// that whatever already sits in the socket is read).
    pub fn no_push_within(&mut self, wait: Duration) {
        let wait = wait.max(Duration::from_millis(50));
        assert!(
            self.pushes.is_empty(),
            "{}: unexpected pushes: {:?}",
            self.name,
            self.pushes
        );
        let deadline = Instant::now() + wait;
        loop {
            match self.try_read_frame(deadline) {
                Ok(frame) => {
                    assert!(
                        is_response(&frame),
                        "{}: unexpected push: {frame}",
                        self.name
                    );
                    self.file_frame(frame);
                }
                Err(ReadError::Timeout) => return,
                Err(ReadError::Closed) => {
                    panic!("{}: connection closed while checking for pushes", self.name)
                }
            }
        }
    }

    /// Asserts that no push of type `ty` is queued or arrives within `wait` (at least
    /// 50 ms; other pushes are queued).
    pub fn no_push_of_type_within(&mut self, ty: &str, wait: Duration) {
        let wait = wait.max(Duration::from_millis(50));
        let check = |p: &Value| {
            assert!(p["type"] != ty, "unexpected {ty:?} push: {p}");
        };
        self.pushes.iter().for_each(check);
        let deadline = Instant::now() + wait;
        loop {
            match self.try_read_frame(deadline) {
                Ok(frame) => {
                    if !is_response(&frame) {
                        check(&frame);
                    }
                    self.file_frame(frame);
                }
                Err(ReadError::Timeout) => return,
                Err(ReadError::Closed) => {
                    panic!("{}: connection closed while checking for pushes", self.name)
                }
            }
        }
    }

    /// Takes every queued push (without reading more).
    pub fn take_pushes(&mut self) -> Vec<Value> {
        self.pushes.drain(..).collect()
    }

    /// Reads for `wait` and returns every push queued or received meanwhile.
    pub fn drain_pushes(&mut self, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        loop {
            match self.try_read_frame(deadline) {
                Ok(frame) => self.file_frame(frame),
                Err(_) => return self.take_pushes(),
            }
        }
    }

    /// Reads until the server closes the connection (within `timeout`) and returns the
    /// frames that came first. Panics if the connection is still open after `timeout`.
    pub fn expect_closed(&mut self, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let mut frames = Vec::new();
        loop {
            match self.try_read_frame(deadline) {
                Ok(frame) => frames.push(frame),
                Err(ReadError::Closed) => return frames,
                Err(ReadError::Timeout) => panic!(
                    "{}: connection still open after {timeout:?} (frames read: {frames:?})",
                    self.name
                ),
            }
        }
    }

    /// Whether the server has closed the connection, reading (and queueing) whatever
    /// arrives within `wait`.
    pub fn is_closed_within(&mut self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            match self.try_read_frame(deadline) {
                Ok(frame) => self.file_frame(frame),
                Err(ReadError::Closed) => return true,
                Err(ReadError::Timeout) => return false,
            }
        }
    }

    // ---- accounts ------------------------------------------------------------------

    /// Registers `username` with `password`; returns the new user_id.
    pub fn register(&mut self, username: &str, password: &str) -> i64 {
        let register = proto::Request::Register {
            username: username.into(),
            password: password.into(),
            nickname: None,
            email: None,
        };
        let resp = self.request_ok("register", fields_of(&register));
        int(&resp, "user_id")
    }

    /// Logs in with a password; records user_id, token and push mode; returns the response.
    pub fn login(&mut self, username: &str, password: &str, push: bool) -> Value {
        let login = proto::Request::Login {
            credentials: proto::Credentials::Password {
                username: username.into(),
                password: password.into(),
            },
            push,
        };
        let resp = self.request_ok("login", fields_of(&login));
        self.name = username.to_string();
        self.user_id = Some(int(&resp, "user_id"));
        self.token = Some(
            resp["token"]
                .as_str()
                .unwrap_or_else(|| panic!("login without a string token: {resp}"))
                .to_string(),
        );
        self.push = push;
        resp
    }

    /// Registers `name` with [`PASSWORD`] and logs in (pushes on): `(user_id, token)`.
    pub fn register_and_login(&mut self, name: &str) -> (i64, String) {
        let id = self.register(name, PASSWORD);
        self.login(name, PASSWORD, true);
        assert_eq!(
            self.user_id,
            Some(id),
            "login returns the registered user_id"
        );
        (id, self.token.clone().unwrap())
    }

    // ---- messages ------------------------------------------------------------------

    /// A fresh client_msg_id, unique for this client object.
    pub fn next_cmid(&mut self) -> String {
        self.msg_counter += 1;
        format!("{}-{}-{}", self.name, self.next_seq, self.msg_counter)
    }

    /// Sends `text` to `to` with a fresh client_msg_id, asserts the ack and returns it.
    pub fn send_text(&mut self, to: i64, text: &str) -> Value {
        let send = proto::Request::SendMessage {
            to,
            text: text.into(),
            client_msg_id: self.next_cmid(),
        };
        self.request_ok("send_message", fields_of(&send))
    }

    /// Sends each `(client_msg_id, text)` to `to`, keeping at most `window` requests
    /// outstanding, and returns the responses in order (whatever their `ok`).
    pub fn send_pipelined(
        &mut self,
        to: i64,
        msgs: &[(String, String)],
        window: usize,
    ) -> Vec<Value> {
        let mut out = Vec::with_capacity(msgs.len());
        let mut next = 0;
        while out.len() < msgs.len() {
            while next < msgs.len() && self.outstanding() < window {
                let (cmid, text) = &msgs[next];
                self.send_request(
                    "send_message",
                    json!({"to": to, "text": text, "client_msg_id": cmid}),
                );
                next += 1;
            }
            out.push(self.read_response());
        }
        out
    }

    /// Every message of my timeline after position `after`, paging through `sync` with
    /// limit 500 until `more` is false. Checks that positions increase.
    pub fn sync_all(&mut self, after: i64) -> Vec<Value> {
        let mut cursor = after;
        let mut out = Vec::new();
        loop {
            let resp = self.request_ok("sync", json!({"after": cursor, "limit": 500}));
            let page = resp["messages"]
                .as_array()
                .unwrap_or_else(|| panic!("sync without a messages array: {resp}"))
                .clone();
            let more = resp["more"]
                .as_bool()
                .unwrap_or_else(|| panic!("sync without a bool more: {resp}"));
            for m in &page {
                let pos = int(m, "pos");
                assert!(
                    pos > cursor,
                    "{}: sync after {after}: pos {pos} not above {cursor}: {m}",
                    self.name
                );
                cursor = pos;
            }
            let empty = page.is_empty();
            out.extend(page);
            if !more {
                return out;
            }
            assert!(!empty, "sync said more: true with an empty page: {resp}");
        }
    }

    /// The whole history with `peer`, newest first, paging with `before` (limit 100).
    pub fn history_all(&mut self, peer: i64) -> Vec<Value> {
        let mut before: Option<i64> = None;
        let mut out = Vec::new();
        loop {
            let mut fields = json!({"peer": peer, "limit": 100});
            if let Some(b) = before {
                fields["before"] = json!(b);
            }
            let resp = self.request_ok("history", fields);
            let page = resp["messages"]
                .as_array()
                .unwrap_or_else(|| panic!("history without a messages array: {resp}"))
                .clone();
            if page.is_empty() {
                return out;
            }
            before = Some(int(page.last().unwrap(), "msg_id"));
            out.extend(page);
        }
    }
}

/// Makes `a` and `b` friends: `a` asks, `b` accepts. When a side has pushes on, the
/// `friend_request` / `friend_accepted` push it gets is checked and consumed.
pub fn befriend(a: &mut Client, b: &mut Client) {
    let resp = a.request_ok("add_friend", json!({"user_id": b.id(), "message": "hi"}));
    let request_id = int(&resp, "request_id");
    if b.push {
        let push = b.expect_push("friend_request", TIMEOUT);
        assert_eq!(push["request_id"], json!(request_id), "{push}");
        assert_eq!(push["from"]["user_id"], json!(a.id()), "{push}");
    }
    let resp = b.request_ok("accept_friend", json!({"request_id": request_id}));
    assert_eq!(resp["friend"]["user_id"], json!(a.id()), "{resp}");
    if a.push {
        let push = a.expect_push("friend_accepted", TIMEOUT);
        assert_eq!(push["friend"]["user_id"], json!(b.id()), "{push}");
    }
}

/// Sleeps for `ms` milliseconds.
pub fn sleep_ms(ms: u64) {
    thread::sleep(Duration::from_millis(ms));
}

// ---- v2 helpers (timelines: `pos`, `last_pos`) -----------------------------------------

impl Client {
    /// Logs this connection in with a session token; records user_id, token and push mode
    /// and returns the login response (with `last_pos`).
    pub fn login_token(&mut self, token: &str, push: bool) -> Value {
        let login = proto::Request::Login {
            credentials: proto::Credentials::Token(token.into()),
            push,
        };
        let resp = self.request_ok("login", fields_of(&login));
        self.name = resp["username"].as_str().unwrap_or("?").to_string();
        self.user_id = Some(int(&resp, "user_id"));
        self.token = Some(token.to_string());
        self.push = push;
        resp
    }

    /// Sends `text` to `to` with the given client_msg_id and returns the response
    /// (whatever its `ok`).
    pub fn send_with_cmid(&mut self, to: i64, text: &str, client_msg_id: &str) -> Value {
        let send = proto::Request::SendMessage {
            to,
            text: text.into(),
            client_msg_id: client_msg_id.into(),
        };
        self.request("send_message", fields_of(&send))
    }
}
