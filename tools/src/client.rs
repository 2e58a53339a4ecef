//! The wire client: our reactor engine used to connect out, and one [`Peer`] per connection.
//!
//! ```text
//!  scenario ── Peer::request(op, encode, done) ──► ConnHandle::send ──► reactor ──► server
//!  server ──► reactor ──► worker: ClientHandler::on_frame ──► Peer::on_frame
//!                                     ├─ response: matched by seq to the oldest pending
//!                                     │  request, its `done` callback runs
//!                                     └─ push: handed to the scenario's PushSink
//! ```
//!
//! * [`Engine`]: `Server::builder()` without `bind`. [`Engine::connect`] registers the new
//!   [`Peer`] under its connection id while holding the registry lock, so a callback for
//!   that connection (which looks the peer up under the same lock) always finds it.
//! * [`Peer`]: pipelined requests. Each takes the next `seq`; responses must come back in
//!   request order with that `seq` echoed. A response with the wrong `seq` or `type`, one
//!   nobody asked for, a malformed body, or a connection closed by the server with
//!   requests unanswered is counted in [`Health`]; nothing panics. When a connection
//!   closes, every pending request's callback runs with [`Failure::Closed`].
//! * Callbacks run on the engine's worker threads, one at a time per connection; they
//!   may send more requests (the state lock is never held while a callback runs).
//! * Requests are `proto::Request`s ([`Peer::send_request`], [`Retry::request`]) or, for
//!   what the floor dialect can say too, encoded by the connection's [`Wire`]; bodies are
//!   decoded by it into a [`Frame`]. [`Retry`] re-sends a request after a retryable error.
//! * [`Transport`]: an engine's connections go to the node's TCP port (length-prefixed
//!   frames) or to `/ws` of its HTTP port ([`Engine::start_with`], framing in
//!   [`crate::ws_codec`]). A WebSocket peer sends the upgrade request as soon as it is
//!   created and holds every request (seq taken, in order) until the `101` arrives; then
//!   it switches the connection's framing and lets them go. A refused handshake counts in
//!   [`Health::connect_errors`] (`ws_handshake:<why>`, `ws_handshake:closed_before_answer`)
//!   and closes the connection; a close
//!   frame from the server is echoed and ends the connection (`ws_close:<status>` in
//!   [`Health::closes`]); a ping is answered. Everything above it (seq matching, pushes,
//!   health) is the same on both transports.
//!
//! May touch: its own connections (sending, closing) and the [`Health`] counters; the
//! scenario's state only through the callbacks and the [`PushSink`] it is given.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use proto::{ChatError, ErrorCode, Op, Request};
use reactor::{CloseReason, ConnHandle, ConnId, FrameError, Handler, LengthPrefixed, Server};
use serde_json::Value;

use crate::dialect::Wire;
use crate::error::LoadError;
use crate::stats::Counts;
use crate::wire::{self, Frame};
use crate::ws_codec::{self, Handshake, ServerFrame, WsClientCodec, MODE_WEBSOCKET};

/// Largest frame chatload's codec accepts: far above the contract's 64 KiB, so that an
/// oversized frame is decoded and counted (`malformed.too_large`) instead of closing.
const CLIENT_MAX_FRAME: usize = 16 * 1024 * 1024;
/// Output chatload may queue on one connection before the engine gives up on it.
const CLIENT_HIGH_WATER: usize = 256 * 1024 * 1024;

/// What went wrong on the wire, for every connection of a run. Reported, never fatal.
#[derive(Default)]
pub struct Health {
    /// Bodies that could not be read, by reason (`bad_json`, `push_with_seq`, ...).
    pub malformed: Counts,
    /// Error responses, keyed `op:code` (`send_message:server_busy`).
    pub errors: Counts,
    /// Protocol anomalies: `wrong_seq`, `wrong_op`, `unexpected_reply`,
    /// `reply_without_seq`, `unanswered_at_close`, `orphan_frame`, `framing`.
    pub anomalies: Counts,
    /// Why connections closed, by reason (`peer_closed`, `io:ConnectionReset`, ...; on
    /// WebSocket `ws_close:<status>` when the server sent a close frame).
    pub closes: Counts,
    /// Connections that could not even be started (`connect` failed at once), by kind;
    /// on WebSocket also refused handshakes (`ws_handshake:status_503`, ...).
    pub connect_errors: Counts,
    /// Frames received.
    pub frames_in: AtomicU64,
}

impl Health {
    /// Everything as one JSON object.
    pub fn json(&self) -> Value {
        serde_json::json!({
            "malformed": self.malformed.json(),
            "errors": self.errors.json(),
            "anomalies": self.anomalies.json(),
            "closes": self.closes.json(),
            "connect_errors": self.connect_errors.json(),
            "frames_in": self.frames_in.load(Ordering::Relaxed),
        })
    }

    /// Bad server behaviour seen: malformed frames plus protocol anomalies.
    pub fn bad_behaviour(&self) -> u64 {
        self.malformed.total() + self.anomalies.total()
    }
}

/// A short counter key for a close reason.
pub fn close_key(reason: &CloseReason) -> String {
    match reason {
        CloseReason::PeerClosed => "peer_closed".into(),
        CloseReason::Io(kind) => format!("io:{kind:?}"),
        CloseReason::Frame(_) => "framing".into(),
        CloseReason::OutputOverflow { .. } => "output_overflow".into(),
        CloseReason::DeadlineExpired => "deadline".into(),
        CloseReason::Local => "local".into(),
        CloseReason::Shutdown => "shutdown".into(),
        CloseReason::ConnectFailed(kind) => format!("connect_failed:{kind:?}"),
    }
}

/// Why a request got no successful response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered `ok: false`.
    Server(ServerError),
    /// The connection closed first.
    Closed,
}

/// The error of an `ok: false` response, as a scenario needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerError {
    /// The error code (`not_friends`, `rate_limited`, ...).
    pub code: ErrorCode,
    /// The server's `retry_after_ms`, when it gave one (see [`crate::wire::retry_after`]).
    pub retry_after: Option<Duration>,
}

impl From<&ChatError> for ServerError {
    fn from(e: &ChatError) -> Self {
        ServerError {
            code: e.code,
            retry_after: wire::retry_after(e),
        }
    }
}

/// The answer to a request: the response frame, or why there is none.
pub type Outcome = Result<Frame, Failure>;

/// Runs once with a request's outcome, on a worker thread (or at once on the caller's
/// thread if the connection was already closed).
pub type Done = Box<dyn FnOnce(&Arc<Peer>, Outcome) + Send>;

/// Receives the pushes of a connection (frames without `ok`).
pub trait PushSink: Send + Sync + 'static {
    /// One push arrived on `peer`.
    fn push(&self, peer: &Arc<Peer>, frame: Frame);
}

/// A [`PushSink`] that only counts pushes by type.
#[derive(Default)]
pub struct CountPushes {
    /// Pushes by `type`.
    pub kinds: Counts,
}

impl PushSink for CountPushes {
    fn push(&self, _peer: &Arc<Peer>, frame: Frame) {
        self.kinds.inc(&frame.kind);
    }
}

struct Pending {
    seq: u64,
    op: Op,
    done: Done,
}

struct PeerState {
    next_seq: u64,
    pending: VecDeque<Pending>,
    /// WebSocket only: the requests sent before the handshake's `101`, in order; `None`
    /// once they went out (and always on TCP).
    held: Option<Vec<Vec<u8>>>,
}

/// How an engine's connections reach the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// The node's TCP port: length-prefixed frames (the wire contract's framing).
    #[default]
    Tcp,
    /// WebSocket at `/ws` of the node's HTTP port: one text message per frame.
    WebSocket,
}

impl Transport {
    /// `tcp` or `ws`, as reports name it.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::WebSocket => "ws",
        }
    }
}

/// One connection to the server, as a scenario sees it.
pub struct Peer {
    index: usize,
    conn: ConnHandle,
    wire: Wire,
    sink: Arc<dyn PushSink>,
    health: Arc<Health>,
    user_id: AtomicU64,
    closed: AtomicBool,
    state: Mutex<PeerState>,
    /// WebSocket only: the handshake whose answer the connection waits for.
    handshake: Option<Handshake>,
    /// WebSocket only: the `101` arrived and the framing switched.
    upgraded: AtomicBool,
    /// WebSocket only: the status of the server's close frame (inner `None`: it gave none).
    server_close: Mutex<Option<Option<u16>>>,
}

impl Peer {
    /// The scenario's index of this connection.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The user id recorded with [`Peer::set_user_id`] (0 before).
    pub fn user_id(&self) -> u64 {
        self.user_id.load(Ordering::Acquire)
    }

    /// Records the user this connection logged in as.
    pub fn set_user_id(&self, id: u64) {
        self.user_id.store(id, Ordering::Release);
    }

    /// True once the connection closed (for any reason).
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Requests sent and not answered yet.
    pub fn pending(&self) -> usize {
        self.state.lock().pending.len()
    }

    /// Closes the connection after what is queued has been written (on an upgraded
    /// WebSocket connection after a close frame, status 1000).
    pub fn close(&self) {
        if self.upgraded.load(Ordering::Acquire) {
            let _ = self.conn.send_raw(&ws_codec::close_frame(1000));
        }
        self.conn.close();
    }

    /// How this connection reaches the server.
    pub fn transport(&self) -> Transport {
        if self.handshake.is_some() {
            Transport::WebSocket
        } else {
            Transport::Tcp
        }
    }

    /// The dialect of this connection.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// Sends a request of operation `op` whose body `encode(seq)` gives, in this
    /// connection's dialect; `done` runs with its outcome. Returns false (after running
    /// `done` with [`Failure::Closed`]) if it was not sent.
    pub fn request(
        self: &Arc<Self>,
        op: Op,
        encode: impl FnOnce(u64) -> Vec<u8>,
        done: Done,
    ) -> bool {
        let mut st = self.state.lock();
        if !self.is_closed() {
            let seq = st.next_seq;
            let buf = encode(seq);
            // Sent (or held until the WebSocket handshake is done) under the state lock:
            // the wire order of requests is the queue's order.
            let sent = match st.held.as_mut() {
                Some(held) => {
                    held.push(buf);
                    true
                }
                None => self.conn.send(&buf),
            };
            if sent {
                st.next_seq += 1;
                st.pending.push_back(Pending { seq, op, done });
                return true;
            }
        }
        drop(st);
        done(self, Err(Failure::Closed));
        false
    }

    /// Sends a JSON request (`proto`'s encoding, with the next `seq`).
    pub fn send_request(self: &Arc<Self>, request: &Request, done: Done) -> bool {
        self.request(request.op(), |seq| request.encode(Some(seq)), done)
    }

    /// Sends a `ping` in this connection's dialect.
    pub fn ping(self: &Arc<Self>, done: Done) -> bool {
        let wire = self.wire;
        self.request(Op::Ping, |seq| wire.encode_ping(seq), done)
    }

    /// One frame from the engine: a message (TCP), or a WebSocket frame or handshake
    /// answer.
    fn on_frame(self: &Arc<Self>, body: Vec<u8>) {
        if self.handshake.is_none() {
            return self.on_message(&body);
        }
        if !self.upgraded.load(Ordering::Acquire) {
            return self.on_handshake(&body);
        }
        match ws_codec::server_frame(&body) {
            Ok(ServerFrame::Text(text)) => self.on_message(text),
            Ok(ServerFrame::Ping(payload)) => {
                let _ = self.conn.send_raw(&ws_codec::pong_frame(payload));
            }
            Ok(ServerFrame::Pong) => {}
            Ok(ServerFrame::Close(status)) => {
                *self.server_close.lock() = Some(status);
                let _ = self.conn.send_raw(&ws_codec::close_frame(1000));
                self.conn.close();
            }
            // The codec let only these kinds through.
            Err(_) => self.health.anomalies.inc("ws_frame"),
        }
    }

    /// The answer to the WebSocket handshake: on a `101` switch the framing and let the
    /// held requests go; otherwise count the refusal and close.
    fn on_handshake(self: &Arc<Self>, head: &[u8]) {
        let Some(handshake) = &self.handshake else {
            return;
        };
        match handshake.check(head) {
            Ok(()) => {
                let mut st = self.state.lock();
                self.conn.set_mode(MODE_WEBSOCKET);
                self.upgraded.store(true, Ordering::Release);
                for buf in st.held.take().unwrap_or_default() {
                    if !self.conn.send(&buf) {
                        break;
                    }
                }
            }
            Err(why) => {
                self.health
                    .connect_errors
                    .inc(&format!("ws_handshake:{why}"));
                // Answered: not counted again when the connection closes.
                self.state.lock().held = None;
                self.conn.close();
            }
        }
    }

    fn on_message(self: &Arc<Self>, body: &[u8]) {
        self.health.frames_in.fetch_add(1, Ordering::Relaxed);
        let frame = match self.wire.decode(body) {
            Ok(frame) => frame,
            Err(e) => {
                self.health.malformed.inc(&e.key());
                return;
            }
        };
        if !frame.is_reply() {
            self.sink.push(self, frame);
            return;
        }
        let Some(seq) = frame.seq else {
            // A frame-level error (`type: "error"`, e.g. `server_full`): answers no request.
            let code = frame.error_code().map_or("none", ErrorCode::as_str);
            self.health.errors.inc(&format!("{}:{code}", frame.kind));
            self.health.anomalies.inc("reply_without_seq");
            return;
        };
        let pending = {
            let mut st = self.state.lock();
            match st.pending.front() {
                Some(p) if p.seq == seq => st.pending.pop_front(),
                Some(_) => {
                    self.health.anomalies.inc("wrong_seq");
                    let at = st.pending.iter().position(|p| p.seq == seq);
                    at.and_then(|i| st.pending.remove(i))
                }
                None => None,
            }
        };
        let Some(p) = pending else {
            self.health.anomalies.inc("unexpected_reply");
            return;
        };
        if frame.kind != p.op.name() {
            self.health.anomalies.inc("wrong_op");
        }
        // Decoding guarantees that `ok: false` carries an error.
        let outcome = match (frame.ok, &frame.error) {
            (Some(false), Some(error)) => {
                self.health
                    .errors
                    .inc(&format!("{}:{}", p.op.name(), error.code));
                Err(Failure::Server(ServerError::from(error)))
            }
            _ => Ok(frame),
        };
        (p.done)(self, outcome);
    }

    fn on_close(self: &Arc<Self>, reason: &CloseReason) {
        self.closed.store(true, Ordering::Release);
        let server_close = self.server_close.lock().take();
        let key = match server_close {
            Some(Some(status)) => format!("ws_close:{status}"),
            Some(None) => "ws_close:none".to_string(),
            None => close_key(reason),
        };
        self.health.closes.inc(&key);
        let (pending, unanswered_handshake) = {
            let mut st = self.state.lock();
            let held = st.held.take();
            (
                st.pending.drain(..).collect::<Vec<Pending>>(),
                held.is_some(),
            )
        };
        if unanswered_handshake {
            // WebSocket: closed before any answer to the upgrade request.
            self.health
                .connect_errors
                .inc("ws_handshake:closed_before_answer");
        }
        let ours =
            server_close.is_none() && matches!(reason, CloseReason::Local | CloseReason::Shutdown);
        if !pending.is_empty() && !ours {
            self.health
                .anomalies
                .add("unanswered_at_close", pending.len() as u64);
        }
        for p in pending {
            (p.done)(self, Err(Failure::Closed));
        }
    }
}

#[derive(Default)]
struct Registry {
    peers: Mutex<HashMap<ConnId, Arc<Peer>>>,
}

impl Registry {
    fn take(&self, id: ConnId) -> Option<Arc<Peer>> {
        self.peers.lock().remove(&id)
    }
}

struct ClientHandler {
    registry: Arc<Registry>,
    health: Arc<Health>,
}

impl ClientHandler {
    fn peer<'a>(
        &self,
        conn: &ConnHandle,
        session: &'a mut Option<Arc<Peer>>,
    ) -> Option<&'a Arc<Peer>> {
        if session.is_none() {
            *session = self.registry.take(conn.id());
        }
        session.as_ref()
    }
}

impl Handler for ClientHandler {
    type Session = Option<Arc<Peer>>;

    fn on_connect(&self, conn: &ConnHandle) -> Option<Arc<Peer>> {
        self.registry.take(conn.id())
    }

    fn on_frame(&self, conn: &ConnHandle, session: &mut Option<Arc<Peer>>, frame: Vec<u8>) {
        match self.peer(conn, session) {
            Some(peer) => peer.on_frame(frame),
            None => self.health.anomalies.inc("orphan_frame"),
        }
    }

    fn on_frame_error(
        &self,
        _conn: &ConnHandle,
        _session: &mut Option<Arc<Peer>>,
        error: &FrameError,
    ) {
        let key = match error {
            FrameError::Empty => "framing_empty",
            FrameError::TooLarge { .. } => "framing_too_large",
            FrameError::Malformed(_) => "framing",
        };
        self.health.anomalies.inc(key);
    }

    fn on_close(&self, conn: &ConnHandle, mut session: Option<Arc<Peer>>, reason: &CloseReason) {
        if let Some(peer) = self.peer(conn, &mut session) {
            peer.on_close(reason);
        }
    }
}

/// Engine threads for the client side.
#[derive(Debug, Clone, Copy)]
pub struct Threads {
    /// Sub-reactor threads (socket I/O).
    pub reactors: usize,
    /// Worker threads (decoding, callbacks).
    pub workers: usize,
}

/// The reactor engine in client mode, and the peers it connected.
pub struct Engine {
    server: Server,
    registry: Arc<Registry>,
    health: Arc<Health>,
    transport: Transport,
}

impl Engine {
    /// Starts the engine's threads, its connections over TCP. `health` collects what goes
    /// wrong on every connection.
    pub fn start(threads: Threads, health: Arc<Health>) -> Result<Engine, LoadError> {
        Self::start_with(threads, health, Transport::Tcp)
    }

    /// Starts the engine's threads; every connection it makes goes over `transport`.
    pub fn start_with(
        threads: Threads,
        health: Arc<Health>,
        transport: Transport,
    ) -> Result<Engine, LoadError> {
        let registry = Arc::new(Registry::default());
        let builder = Server::builder()
            .name("chatload")
            .reactors(threads.reactors)
            .workers(threads.workers);
        let builder = match transport {
            Transport::Tcp => builder.codec(LengthPrefixed::new(CLIENT_MAX_FRAME)),
            Transport::WebSocket => builder.codec(WsClientCodec::new(CLIENT_MAX_FRAME)),
        };
        let server = builder
            .high_water(CLIENT_HIGH_WATER)
            .shutdown_grace(Duration::from_secs(2))
            .close_timeouts(Duration::from_secs(2), Duration::from_secs(5))
            .start(ClientHandler {
                registry: Arc::clone(&registry),
                health: Arc::clone(&health),
            })?;
        Ok(Engine {
            server,
            registry,
            health,
            transport,
        })
    }

    /// How this engine's connections reach the server.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The health counters shared by every peer of this engine.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Starts a connection to `addr` (from `local` if given): the TCP port, or on
    /// WebSocket the HTTP port (the upgrade request goes out at once). The peer is usable
    /// at once: requests sent before the connection completes (or, on WebSocket, before
    /// the handshake's `101`) are written when it does.
    pub fn connect(
        &self,
        index: usize,
        local: Option<SocketAddr>,
        addr: SocketAddr,
        wire: Wire,
        sink: Arc<dyn PushSink>,
    ) -> io::Result<Arc<Peer>> {
        let mut peers = self.registry.peers.lock();
        let conn = self.server.connect_from(local, addr).inspect_err(|e| {
            self.health.connect_errors.inc(&format!("{:?}", e.kind()));
        })?;
        let handshake = (self.transport == Transport::WebSocket).then(Handshake::new);
        let peer = Arc::new(Peer {
            index,
            conn: conn.clone(),
            wire,
            sink,
            health: Arc::clone(&self.health),
            user_id: AtomicU64::new(0),
            closed: AtomicBool::new(false),
            state: Mutex::new(PeerState {
                next_seq: 1,
                pending: VecDeque::new(),
                held: handshake.as_ref().map(|_| Vec::new()),
            }),
            upgraded: AtomicBool::new(false),
            server_close: Mutex::new(None),
            handshake,
        });
        if let Some(handshake) = &peer.handshake {
            // The connection's first bytes; a failure means it is closed already (its
            // `on_close` follows).
            if conn.send_raw(&handshake.request(addr)).is_err() {
                self.health.connect_errors.inc("ws_handshake:send");
            }
        }
        peers.insert(conn.id(), Arc::clone(&peer));
        Ok(peer)
    }

    /// Connections open right now (connecting ones included).
    pub fn open_connections(&self) -> usize {
        self.server.counters().open()
    }

    /// Closes every connection and stops the engine's threads.
    pub fn shutdown(self) {
        self.server.shutdown();
    }
}

/// Runs closures after a delay on one background thread (retries with back-off, without
/// blocking the engine's workers). Cloning shares the thread; it exits once every clone
/// is dropped, dropping the jobs still waiting.
#[derive(Clone)]
pub struct Delayer {
    jobs: crossbeam_channel::Sender<(Instant, Box<dyn FnOnce() + Send>)>,
}

impl Delayer {
    /// Starts the background thread.
    pub fn start() -> Result<Delayer, LoadError> {
        let (tx, rx) = crossbeam_channel::unbounded::<(Instant, Box<dyn FnOnce() + Send>)>();
        std::thread::Builder::new()
            .name("chatload-delayer".into())
            .spawn(move || {
                let mut waiting: Vec<(Instant, Box<dyn FnOnce() + Send>)> = Vec::new();
                loop {
                    let next = waiting.iter().map(|(at, _)| *at).min();
                    let got = match next {
                        Some(at) => rx.recv_deadline(at),
                        None => rx
                            .recv()
                            .map_err(|_| crossbeam_channel::RecvTimeoutError::Disconnected),
                    };
                    match got {
                        Ok(job) => waiting.push(job),
                        Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => return,
                    }
                    let now = Instant::now();
                    let (due, later): (Vec<_>, Vec<_>) =
                        waiting.drain(..).partition(|(at, _)| *at <= now);
                    waiting = later;
                    for (_, job) in due {
                        job();
                    }
                }
            })
            .map_err(LoadError::io("spawn the delayer thread"))?;
        Ok(Delayer { jobs: tx })
    }

    /// Runs `job` after `delay`.
    pub fn after(&self, delay: Duration, job: impl FnOnce() + Send + 'static) {
        let _ = self.jobs.send((Instant::now() + delay, Box::new(job)));
    }
}

/// A pseudo-random value in `0..n` (0 when `n` is 0) from `seed` (splitmix64): jitter
/// and made-up user names do not need a real random generator, only values that differ
/// from one seed to the next.
pub fn spread(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    if n == 0 {
        0
    } else {
        z % n
    }
}

/// Largest back-off [`Retry`] doubles up to (10 un-hinted attempts from 20 ms stay below).
pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Largest jitter added to a server's hint on top of a quarter of the hint: enough to
/// spread a crowd of thousands, small enough that a hashing queue bounded to a few
/// callers (which hints the time of one hash) is kept busy by the crowd's retries.
pub const MAX_HINT_SPREAD: Duration = Duration::from_millis(500);

/// How long to wait before retrying, given the server's `retry_after_ms` (`hint`) and
/// the current exponential `backoff` (which grows with each retry of the request):
/// * with a hint: the hint plus a jitter of up to a quarter of the hint plus the
///   back-off (at most [`MAX_HINT_SPREAD`]). The hint is when the server expects room,
///   so the wait starts there; the jitter spreads a crowd told the same time, more
///   widely the more often its members were turned away (a crowd that keeps colliding
///   thins out);
/// * without one: the back-off plus a jitter of up to the back-off.
///
/// `seed` picks the jitter (differs per connection and attempt).
pub fn retry_delay(hint: Option<Duration>, backoff: Duration, seed: u64) -> Duration {
    let (base, jitter_max) = match hint {
        Some(hint) => (hint, hint / 4 + backoff.min(MAX_HINT_SPREAD)),
        None => (backoff, backoff),
    };
    let jitter_us = spread(seed, jitter_max.as_micros() as u64);
    base + Duration::from_micros(jitter_us)
}

/// How set-up requests are retried on errors the contract says a client may simply
/// retry after ([`ErrorCode::is_retryable`]: `server_busy`, `rate_limited`).
#[derive(Clone)]
pub struct Retry {
    /// Runs the delayed attempts.
    pub delayer: Delayer,
    /// Attempts in all (the first included) while the server gives no `retry_after_ms`.
    pub attempts: u32,
    /// Wait before the first retry without a hint, and the first jitter added to a
    /// hint (see [`retry_delay`]); doubled with each retry, up to [`MAX_BACKOFF`].
    pub backoff: Duration,
    /// While the server says when to come back (`retry_after_ms`), a request is retried
    /// as long as the retry starts within this time of its first attempt (a per-IP
    /// password budget can make a crowd wait many rounds; the hint, not a count, paces it).
    pub patience: Duration,
    /// Retries made, over every request.
    pub retries: Arc<AtomicU64>,
}

impl Retry {
    /// 10 attempts from 20 ms back-off (about 10 s in all) without hints; up to 120 s of
    /// hinted retries.
    pub fn new(delayer: Delayer) -> Retry {
        Retry {
            delayer,
            attempts: 10,
            backoff: Duration::from_millis(20),
            patience: Duration::from_secs(120),
            retries: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends a JSON request and re-sends it (the same request, a new `seq`) after a
    /// `server_busy` or `rate_limited` answer: after the server's `retry_after_ms` (plus
    /// jitter) when it gives one, else with exponential back-off; `done` sees the last
    /// outcome.
    pub fn request(&self, peer: &Arc<Peer>, request: Request, done: Done) {
        let first = Instant::now();
        self.attempt(Arc::clone(peer), request, 1, self.backoff, first, done);
    }

    /// Whether attempt `n` (just failed with `hint`) may be followed by one after `delay`.
    fn may_retry(&self, n: u32, hint: Option<Duration>, first: Instant, delay: Duration) -> bool {
        match hint {
            Some(_) => first.elapsed() + delay <= self.patience,
            None => n < self.attempts,
        }
    }

    fn attempt(
        &self,
        peer: Arc<Peer>,
        request: Request,
        n: u32,
        backoff: Duration,
        first: Instant,
        done: Done,
    ) {
        let retry = self.clone();
        let sent = request.clone();
        peer.send_request(
            &sent,
            Box::new(move |peer, outcome| {
                let hint = match &outcome {
                    Err(Failure::Server(e)) if e.code.is_retryable() => Some(e.retry_after),
                    _ => None,
                };
                let Some(hint) = hint else {
                    return done(peer, outcome);
                };
                // The connection index and the attempt number spread a crowd's retries.
                let seed = ((peer.index() as u64) << 20) ^ u64::from(n);
                let delay = retry_delay(hint, backoff, seed);
                if !retry.may_retry(n, hint, first, delay) {
                    return done(peer, outcome);
                }
                retry.retries.fetch_add(1, Ordering::Relaxed);
                let next_backoff = backoff.saturating_mul(2).min(MAX_BACKOFF);
                let peer = Arc::clone(peer);
                let r = retry.clone();
                retry.delayer.after(delay, move || {
                    r.attempt(peer, request, n + 1, next_backoff, first, done)
                });
            }),
        );
    }
}

/// Polls `done` every few milliseconds until it is true or `deadline` passes.
pub fn wait_until(deadline: Instant, mut done: impl FnMut() -> bool) -> bool {
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_servers_hint_with_jitter() {
        let ms = Duration::from_millis;
        for seed in 0..500 {
            let d = retry_delay(Some(ms(300)), ms(20), seed);
            assert!(d >= ms(300) && d < ms(395), "{d:?}");
            let d = retry_delay(Some(Duration::ZERO), ms(20), seed);
            assert!(d < ms(20), "{d:?}");
            let d = retry_delay(Some(Duration::ZERO), ms(640), seed);
            assert!(d < MAX_HINT_SPREAD, "{d:?}");
            let d = retry_delay(None, MAX_BACKOFF, seed);
            assert!(d >= MAX_BACKOFF && d < 2 * MAX_BACKOFF, "{d:?}");
            let d = retry_delay(None, ms(40), seed);
            assert!(d >= ms(40) && d < ms(80), "{d:?}");
        }
        // The jitter differs between connections.
        let distinct: std::collections::HashSet<Duration> = (0..50)
            .map(|i| retry_delay(Some(ms(300)), ms(20), i << 20))
            .collect();
        assert!(distinct.len() > 40, "{}", distinct.len());
        assert_eq!(spread(7, 0), 0);
    }
}
