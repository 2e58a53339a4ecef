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

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use reactor::{CloseReason, ConnHandle, ConnId, FrameError, Handler, LengthPrefixed, Server};
use serde_json::{Map, Value};

use crate::error::LoadError;
use crate::stats::Counts;
use crate::wire::{encode_request, Frame, Wire};

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
    /// Why connections closed, by reason (`peer_closed`, `io:ConnectionReset`, ...).
    pub closes: Counts,
    /// Connections that could not even be started (`connect` failed at once), by kind.
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
    /// The server answered `ok: false` with this code.
    Server(String),
    /// The connection closed first.
    Closed,
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
    op: &'static str,
    done: Done,
}

struct PeerState {
    next_seq: u64,
    pending: VecDeque<Pending>,
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

    /// Closes the connection after what is queued has been written.
    pub fn close(&self) {
        self.conn.close();
    }

    /// The dialect of this connection.
    pub fn wire(&self) -> Wire {
        self.wire
    }

    /// Sends a request built by `encode(buf, seq)`; `done` runs with its outcome.
    /// Returns false (after running `done` with [`Failure::Closed`]) if it was not sent.
    pub fn request(
        self: &Arc<Self>,
        op: &'static str,
        encode: impl FnOnce(&mut Vec<u8>, u64),
        done: Done,
    ) -> bool {
        let mut st = self.state.lock();
        if !self.is_closed() {
            let seq = st.next_seq;
            let mut buf = Vec::with_capacity(160);
            encode(&mut buf, seq);
            // Sent under the state lock: the wire order of requests is the queue's order.
            if self.conn.send(&buf) {
                st.next_seq += 1;
                st.pending.push_back(Pending { seq, op, done });
                return true;
            }
        }
        drop(st);
        done(self, Err(Failure::Closed));
        false
    }

    /// Sends a JSON request `{"type": op, "seq": .., ...fields}`.
    pub fn request_json(
        self: &Arc<Self>,
        op: &'static str,
        fields: Map<String, Value>,
        done: Done,
    ) -> bool {
        self.request(op, |buf, seq| encode_request(buf, op, seq, fields), done)
    }

    /// Sends a `ping` in this connection's dialect.
    pub fn ping(self: &Arc<Self>, done: Done) -> bool {
        let wire = self.wire;
        self.request("ping", |buf, seq| wire.encode_ping(buf, seq), done)
    }

    fn on_frame(self: &Arc<Self>, body: Vec<u8>) {
        self.health.frames_in.fetch_add(1, Ordering::Relaxed);
        let frame = match self.wire.decode(&body) {
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
            let code = frame.error_code().unwrap_or("none");
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
        if frame.kind != p.op {
            self.health.anomalies.inc("wrong_op");
        }
        let outcome = if frame.ok == Some(true) {
            Ok(frame)
        } else {
            let code = frame.error_code().unwrap_or("none").to_string();
            self.health.errors.inc(&format!("{}:{code}", p.op));
            Err(Failure::Server(code))
        };
        (p.done)(self, outcome);
    }

    fn on_close(self: &Arc<Self>, reason: &CloseReason) {
        self.closed.store(true, Ordering::Release);
        self.health.closes.inc(&close_key(reason));
        let pending: Vec<Pending> = self.state.lock().pending.drain(..).collect();
        let ours = matches!(reason, CloseReason::Local | CloseReason::Shutdown);
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
}

impl Engine {
    /// Starts the engine's threads. `health` collects what goes wrong on every connection.
    pub fn start(threads: Threads, health: Arc<Health>) -> Result<Engine, LoadError> {
        let registry = Arc::new(Registry::default());
        let server = Server::builder()
            .name("chatload")
            .reactors(threads.reactors)
            .workers(threads.workers)
            .codec(LengthPrefixed::new(CLIENT_MAX_FRAME))
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
        })
    }

    /// The health counters shared by every peer of this engine.
    pub fn health(&self) -> &Arc<Health> {
        &self.health
    }

    /// Starts a connection to `addr` (from `local` if given). The peer is usable at once:
    /// requests sent before the connection completes are written when it does.
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
            }),
        });
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

/// Error codes after which the contract says a client may simply retry.
pub fn retryable(code: &str) -> bool {
    matches!(code, "server_busy" | "rate_limited")
}

/// How set-up requests are retried on [`retryable`] errors.
#[derive(Clone)]
pub struct Retry {
    /// Runs the delayed attempts.
    pub delayer: Delayer,
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// Wait before the first retry; doubled each time (with jitter).
    pub backoff: Duration,
    /// Retries made, over every request.
    pub retries: Arc<AtomicU64>,
}

impl Retry {
    /// 10 attempts, from 20 ms back-off (about 10 s in all).
    pub fn new(delayer: Delayer) -> Retry {
        Retry {
            delayer,
            attempts: 10,
            backoff: Duration::from_millis(20),
            retries: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends a JSON request and re-sends it (same fields) after a `server_busy` or
    /// `rate_limited` answer, up to the attempt limit; `done` sees the last outcome.
    pub fn request_json(
        &self,
        peer: &Arc<Peer>,
        op: &'static str,
        fields: Map<String, Value>,
        done: Done,
    ) {
        self.attempt(Arc::clone(peer), op, fields, 1, self.backoff, done);
    }

    fn attempt(
        &self,
        peer: Arc<Peer>,
        op: &'static str,
        fields: Map<String, Value>,
        n: u32,
        backoff: Duration,
        done: Done,
    ) {
        let again = fields.clone();
        let retry = self.clone();
        peer.request_json(
            op,
            fields,
            Box::new(move |peer, outcome| match outcome {
                Err(Failure::Server(code)) if retryable(&code) && n < retry.attempts => {
                    retry.retries.fetch_add(1, Ordering::Relaxed);
                    // Jitter from the connection index spreads the retries of a crowd.
                    let jitter = Duration::from_micros(
                        (peer.index() as u64 * 7919) % 1000 * backoff.as_micros() as u64 / 1000,
                    );
                    let peer = Arc::clone(peer);
                    let r = retry.clone();
                    retry.delayer.after(backoff + jitter, move || {
                        r.attempt(peer, op, again, n + 1, backoff * 2, done)
                    });
                }
                other => done(peer, other),
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
