//! The attackers of `chatload abuse`: misbehaving clients, each on a source IP of its
//! own, that a server must survive without hurting its normal clients.
//!
//! Attacker `i` connects from 127.0.1.`i+1` ([`attacker_ip`]; the normal clients use
//! 127.0.0.2..=127.0.0.254, see [`crate::accounts::source_addr`]) and is of kind
//! `i mod 3` ([`Kind::of`]):
//! * [`Kind::BigFrames`]: one connection that writes 64 KiB frames (a `login` padded
//!   with an unknown field to [`BIG_BODY`] bytes) as fast as the socket takes them and
//!   never reads;
//! * [`Kind::Pipelined`]: writes `pipeline` (70,000) small `login` frames (a made-up
//!   user name, a wrong password) in one go, closes, reconnects and does it again. It
//!   reads what the server answers while writing, to count the error codes;
//! * [`Kind::HalfOpen`]: holds `half_open` connections that each sent a frame header
//!   announcing 65,536 bytes and a few bytes of body, and never the rest; one the
//!   server closes is opened again (at most every [`RECONNECT_PAUSE`]).
//!
//! Counters per kind ([`KindReport`]): connections opened, refused (by reason), closed
//! by the server, bytes and frames sent, frames received and the error codes in them.
//!
//! Safety of the exercise: [`launch`] attacks only an IPv4 loopback address, and every
//! loop ends by itself: on [`Attack::stop`], or at the time limit given to [`launch`].
//! Sockets are plain non-blocking ones ([`crate::rawconn`]), polled every [`TICK`], so a
//! stop is seen within a tick (plus a connect in progress, at most [`CONNECT_TIMEOUT`]).
//!
//! The frames are built from `proto::Request` (a `login` with a wrong password); a big
//! frame breaks the rules on purpose with an unknown `pad` field, and a half-open one is
//! raw bytes. What the server answers is read through [`crate::wire`] (hence `proto`).
//! May touch: the sockets and threads of its attackers (all ended by [`Attack::stop`]
//! or the time limit), and their counters.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use proto::{Credentials, ErrorCode, Request};
use serde_json::{json, Value};

use crate::client::spread;
use crate::error::LoadError;
use crate::rawconn::{connect_from, poll};
use crate::stats::Counts;
use crate::wire::{Frame, MAX_FRAME};

/// Body bytes of a big frame: just under the contract's 65,536-byte `max_frame`.
pub const BIG_BODY: usize = MAX_FRAME - 16;
/// The length a half-open connection announces (and never sends).
pub const HALF_OPEN_ANNOUNCED: u32 = MAX_FRAME as u32;
/// The body bytes a half-open connection does send.
pub const HALF_OPEN_BODY: &[u8] = br#"{"type":"lo"#;
/// Most attackers: one source address each, 127.0.1.1..=127.0.1.254.
pub const MAX_ATTACKERS: usize = 254;
/// The wrong password every attacking `login` carries.
pub const WRONG_PASSWORD: &str = "wrong-password";
/// How long an attacker waits in `poll` before looking at its stop flag again.
pub const TICK: Duration = Duration::from_millis(50);
/// Pause after a refused connection or one the server closed, before the next.
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(100);
/// How long a connect may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A response longer than this is not a frame of the contract: the reader gives up on
/// the connection's stream (counted as `unreadable`).
const MAX_READ_FRAME: usize = 16 * 1024 * 1024;
/// Bytes read from one socket per readiness, so that a flood of answers does not keep
/// a pipelining attacker from writing.
const READ_BUDGET: usize = 256 * 1024;

/// What an attacker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 64 KiB frames, never reading.
    BigFrames,
    /// Many small pipelined logins, then close.
    Pipelined,
    /// Connections stopped in the middle of a frame.
    HalfOpen,
}

impl Kind {
    /// Every kind, in the order attackers take them.
    pub const ALL: [Kind; 3] = [Kind::BigFrames, Kind::Pipelined, Kind::HalfOpen];

    /// The kind of attacker `i`: the three in turn.
    pub fn of(i: usize) -> Kind {
        Kind::ALL[i % 3]
    }

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::BigFrames => "big_frames",
            Kind::Pipelined => "pipelined_logins",
            Kind::HalfOpen => "half_open",
        }
    }

    fn index(self) -> usize {
        match self {
            Kind::BigFrames => 0,
            Kind::Pipelined => 1,
            Kind::HalfOpen => 2,
        }
    }
}

/// The source address of attacker `i` (127.0.1.`i+1`); `None` past [`MAX_ATTACKERS`].
pub fn attacker_ip(i: usize) -> Option<Ipv4Addr> {
    (i < MAX_ATTACKERS).then(|| Ipv4Addr::new(127, 0, 1, (i + 1) as u8))
}

/// How many attackers of each kind `attackers` makes (in [`Kind::ALL`] order).
pub fn kind_counts(attackers: usize) -> [usize; 3] {
    let mut n = [0; 3];
    for i in 0..attackers {
        n[Kind::of(i).index()] += 1;
    }
    n
}

/// What to attack with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttackPlan {
    /// Attackers (one thread and one source address each).
    pub attackers: usize,
    /// Frames per burst of a [`Kind::Pipelined`] attacker.
    pub pipeline: usize,
    /// Connections held by a [`Kind::HalfOpen`] attacker.
    pub half_open: usize,
}

/// A user name no one registered: `atk` and 12 base-36 characters drawn from `seed`.
fn made_up_user(seed: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut name = String::from("atk");
    for j in 0..12u64 {
        name.push(char::from(DIGITS[spread(seed ^ (j << 56), 36) as usize]));
    }
    name
}

/// `body` with its 4-byte big-endian length in front.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// A `login` (no `seq`) as a made-up user with the wrong password.
fn wrong_login(seed: u64) -> Request {
    Request::Login {
        credentials: Credentials::Password {
            username: made_up_user(seed),
            password: WRONG_PASSWORD.into(),
        },
        push: true,
    }
}

/// The body of a big frame: a `login` with a wrong password and a `pad` field (unknown
/// to the server, so ignored) that brings it to exactly [`BIG_BODY`] bytes.
pub fn big_login(seed: u64) -> Vec<u8> {
    let login = wrong_login(seed);
    let mut body = login.fields();
    body.insert("type".into(), Value::from(login.op().name()));
    body.insert("pad".into(), Value::from(""));
    // `x` needs no escaping: each one adds exactly one byte.
    let bare = serde_json::to_vec(&body).map_or(0, |b| b.len());
    let pad = "x".repeat(BIG_BODY.saturating_sub(bare));
    body.insert("pad".into(), Value::from(pad));
    serde_json::to_vec(&body).unwrap_or_default()
}

/// `n` framed `login` requests of equal length (made-up user names, a wrong password),
/// back to back; returns the bytes and the length of one frame.
pub fn pipeline_burst(seed: u64, n: usize) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut len = 0;
    for k in 0..n as u64 {
        let login = wrong_login(seed.wrapping_add(k.wrapping_mul(0x2545_F491_4F6C_DD1D)));
        let frame = framed(&login.encode(None));
        len = frame.len();
        out.extend_from_slice(&frame);
    }
    (out, len)
}

/// The bytes a half-open connection sends: a header announcing
/// [`HALF_OPEN_ANNOUNCED`] bytes, then [`HALF_OPEN_BODY`].
pub fn half_open_bytes() -> Vec<u8> {
    let mut out = HALF_OPEN_ANNOUNCED.to_be_bytes().to_vec();
    out.extend_from_slice(HALF_OPEN_BODY);
    out
}

/// The counters of one kind of attacker.
#[derive(Default)]
struct KindStats {
    connections: AtomicU64,
    refused: Counts,
    closed_by_server: AtomicU64,
    bytes_sent: AtomicU64,
    frames_sent: AtomicU64,
    bursts: AtomicU64,
    frames_in: AtomicU64,
    errors: Counts,
}

/// One kind's counters at the end of an attack.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindReport {
    /// Attackers of this kind.
    pub attackers: usize,
    /// Connections established.
    pub connections: u64,
    /// Connections that could not be established, by reason (`refused`, `timeout`, ...).
    pub refused: BTreeMap<String, u64>,
    /// Established connections the server closed (end of stream, reset, broken pipe).
    pub closed_by_server: u64,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Frames written in full (a half-open connection's frame never is).
    pub frames_sent: u64,
    /// Bursts of `pipeline` frames written in full (pipelined attackers).
    pub bursts: u64,
    /// Frames received.
    pub frames_in: u64,
    /// Error codes in the frames received (`rate_limited`, `server_full`, ...; `ok` for
    /// a success, `unreadable` for a stream that was not frames of the contract).
    pub errors: BTreeMap<String, u64>,
}

fn map_json(m: &BTreeMap<String, u64>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::from(*v)))
            .collect(),
    )
}

impl KindReport {
    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "attackers": self.attackers,
            "connections": self.connections,
            "refused": map_json(&self.refused),
            "closed_by_server": self.closed_by_server,
            "bytes_sent": self.bytes_sent,
            "frames_sent": self.frames_sent,
            "bursts": self.bursts,
            "frames_in": self.frames_in,
            "errors": map_json(&self.errors),
        })
    }

    /// Adds `other`'s counters to these.
    pub fn add(&mut self, other: &KindReport) {
        self.attackers += other.attackers;
        self.connections += other.connections;
        self.closed_by_server += other.closed_by_server;
        self.bytes_sent += other.bytes_sent;
        self.frames_sent += other.frames_sent;
        self.bursts += other.bursts;
        self.frames_in += other.frames_in;
        for (into, from) in [
            (&mut self.refused, &other.refused),
            (&mut self.errors, &other.errors),
        ] {
            for (k, v) in from {
                *into.entry(k.clone()).or_insert(0) += v;
            }
        }
    }
}

/// Every kind's counters at the end of an attack.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttackReport {
    /// Seconds the attack lasted.
    pub secs: f64,
    /// By kind, in [`Kind::ALL`] order.
    pub kinds: [KindReport; 3],
}

impl AttackReport {
    /// Every kind added up.
    pub fn total(&self) -> KindReport {
        let mut t = KindReport::default();
        for k in &self.kinds {
            t.add(k);
        }
        t
    }

    /// As JSON: each kind by name, and `total`.
    pub fn json(&self) -> Value {
        let mut m = serde_json::Map::new();
        for kind in Kind::ALL {
            m.insert(kind.name().into(), self.kinds[kind.index()].json());
        }
        m.insert("total".into(), self.total().json());
        m.insert("secs".into(), crate::report::num1(self.secs));
        Value::Object(m)
    }
}

/// Attackers at work; [`Attack::stop`] ends them.
pub struct Attack {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    stats: Arc<[KindStats; 3]>,
    counts: [usize; 3],
    started: Instant,
}

impl Attack {
    /// Stops every attacker, waits for them, and returns the counters.
    pub fn stop(self) -> AttackReport {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        let secs = self.started.elapsed().as_secs_f64();
        let mut kinds: [KindReport; 3] = Default::default();
        for (i, k) in self.stats.iter().enumerate() {
            kinds[i] = KindReport {
                attackers: self.counts[i],
                connections: k.connections.load(Ordering::Relaxed),
                refused: k.refused.snapshot(),
                closed_by_server: k.closed_by_server.load(Ordering::Relaxed),
                bytes_sent: k.bytes_sent.load(Ordering::Relaxed),
                frames_sent: k.frames_sent.load(Ordering::Relaxed),
                bursts: k.bursts.load(Ordering::Relaxed),
                frames_in: k.frames_in.load(Ordering::Relaxed),
                errors: k.errors.snapshot(),
            };
        }
        AttackReport { secs, kinds }
    }
}

/// Starts `plan.attackers` attackers against `server`, which must be an IPv4 loopback
/// address. Each stops by itself after `limit` if [`Attack::stop`] is not called first.
pub fn launch(server: SocketAddr, plan: &AttackPlan, limit: Duration) -> Result<Attack, LoadError> {
    let server = match server {
        SocketAddr::V4(a) if a.ip().is_loopback() => a,
        _ => {
            return Err(LoadError::Args(format!(
                "attacks go only to an IPv4 loopback server, not {server}"
            )))
        }
    };
    if plan.attackers > MAX_ATTACKERS {
        return Err(LoadError::Args(format!(
            "at most {MAX_ATTACKERS} attackers (one source address each)"
        )));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stats: Arc<[KindStats; 3]> = Arc::new(Default::default());
    let started = Instant::now();
    let until = started + limit;
    let mut attack = Attack {
        stop: Arc::clone(&stop),
        threads: Vec::new(),
        stats: Arc::clone(&stats),
        counts: kind_counts(plan.attackers),
        started,
    };
    for i in 0..plan.attackers {
        let Some(ip) = attacker_ip(i) else { break };
        let kind = Kind::of(i);
        let cx = Attacker {
            server,
            ip,
            stop: Arc::clone(&stop),
            until,
            stats: Arc::clone(&stats),
            kind,
            seed: started.elapsed().as_nanos() as u64 ^ ((i as u64) << 40),
        };
        let (pipeline, half_open) = (plan.pipeline, plan.half_open);
        let spawned = std::thread::Builder::new()
            .name(format!("chatload-attack-{i}"))
            .spawn(move || match kind {
                Kind::BigFrames => cx.big_frames(),
                Kind::Pipelined => cx.pipelined(pipeline),
                Kind::HalfOpen => cx.half_open(half_open),
            });
        match spawned {
            Ok(t) => attack.threads.push(t),
            Err(e) => {
                attack.stop();
                return Err(LoadError::Io {
                    what: "spawn an attacker thread".into(),
                    source: e,
                });
            }
        }
    }
    Ok(attack)
}

/// The short key of a connect failure.
fn refusal_key(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => "refused".into(),
        io::ErrorKind::TimedOut => "timeout".into(),
        kind => format!("{kind:?}"),
    }
}

fn would_block(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
    )
}

/// Reads the frames the server sends on one connection and tallies their error codes
/// locally (added to the shared counters once, by [`FrameTally::flush`]).
#[derive(Default)]
struct FrameTally {
    buf: Vec<u8>,
    frames: u64,
    codes: BTreeMap<String, u64>,
    unreadable: bool,
}

impl FrameTally {
    /// Reads what is there (up to [`READ_BUDGET`]); false once the stream ended or failed.
    fn read_from(&mut self, s: &mut TcpStream) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let mut got = 0;
        let open = loop {
            match s.read(&mut chunk) {
                Ok(0) => break false,
                Ok(n) => {
                    got += n;
                    if !self.unreadable {
                        self.buf.extend_from_slice(&chunk[..n]);
                    }
                    if got >= READ_BUDGET {
                        break true;
                    }
                }
                Err(e) if would_block(&e) => break true,
                Err(_) => break false,
            }
        };
        self.parse();
        open
    }

    fn parse(&mut self) {
        let mut at = 0;
        while self.buf.len() - at >= 4 {
            let mut len = [0u8; 4];
            len.copy_from_slice(&self.buf[at..at + 4]);
            let len = u32::from_be_bytes(len) as usize;
            if len > MAX_READ_FRAME {
                self.unreadable = true;
                *self.codes.entry("unreadable".into()).or_insert(0) += 1;
                self.buf.clear();
                return;
            }
            if self.buf.len() - at - 4 < len {
                break;
            }
            let body = &self.buf[at + 4..at + 4 + len];
            self.frames += 1;
            let key = match Frame::decode_json(body) {
                Ok(f) => f.error_code().map_or("ok", ErrorCode::as_str).to_string(),
                Err(_) => "unreadable".to_string(),
            };
            *self.codes.entry(key).or_insert(0) += 1;
            at += 4 + len;
        }
        self.buf.drain(..at);
    }

    fn flush(&mut self, k: &KindStats) {
        k.frames_in.fetch_add(self.frames, Ordering::Relaxed);
        for (code, n) in std::mem::take(&mut self.codes) {
            k.errors.add(&code, n);
        }
        self.frames = 0;
    }
}

/// One attacker's thread.
struct Attacker {
    server: SocketAddrV4,
    ip: Ipv4Addr,
    stop: Arc<AtomicBool>,
    until: Instant,
    stats: Arc<[KindStats; 3]>,
    kind: Kind,
    seed: u64,
}

impl Attacker {
    fn k(&self) -> &KindStats {
        &self.stats[self.kind.index()]
    }

    fn going(&self) -> bool {
        !self.stop.load(Ordering::Relaxed) && Instant::now() < self.until
    }

    /// Sleeps `d` unless stopping.
    fn pause(&self, d: Duration) {
        if self.going() {
            std::thread::sleep(d);
        }
    }

    fn connect(&self) -> Option<TcpStream> {
        match connect_from(self.ip, self.server, CONNECT_TIMEOUT) {
            Ok(s) => {
                self.k().connections.fetch_add(1, Ordering::Relaxed);
                Some(s)
            }
            Err(e) => {
                self.k().refused.inc(&refusal_key(&e));
                None
            }
        }
    }

    /// Writes from `buf[*off..]` once; false when the server closed the connection.
    /// Counts bytes, and frames of `frame_len` bytes completed.
    fn write_some(&self, s: &mut TcpStream, buf: &[u8], off: &mut usize, frame_len: usize) -> bool {
        match s.write(&buf[*off..]) {
            Ok(0) => false,
            Ok(n) => {
                let k = self.k();
                k.bytes_sent.fetch_add(n as u64, Ordering::Relaxed);
                let done = (*off + n) / frame_len - *off / frame_len;
                k.frames_sent.fetch_add(done as u64, Ordering::Relaxed);
                *off += n;
                true
            }
            Err(e) => would_block(&e),
        }
    }

    fn server_closed(&self) {
        self.k().closed_by_server.fetch_add(1, Ordering::Relaxed);
        self.pause(RECONNECT_PAUSE);
    }

    /// [`Kind::BigFrames`].
    fn big_frames(&self) {
        let frame = framed(&big_login(self.seed));
        while self.going() {
            let Some(mut s) = self.connect() else {
                self.pause(RECONNECT_PAUSE);
                continue;
            };
            let mut off = 0;
            while self.going() {
                match poll(&[(&s, false, true)], TICK) {
                    Ok(r) if r[0].writable => {}
                    Ok(_) => continue,
                    Err(_) => break,
                }
                if !self.write_some(&mut s, &frame, &mut off, frame.len()) {
                    self.server_closed();
                    break;
                }
                if off == frame.len() {
                    off = 0;
                }
            }
        }
    }

    /// [`Kind::Pipelined`].
    fn pipelined(&self, n: usize) {
        let (burst, frame_len) = pipeline_burst(self.seed, n);
        while self.going() {
            let Some(mut s) = self.connect() else {
                self.pause(RECONNECT_PAUSE);
                continue;
            };
            let mut tally = FrameTally::default();
            let mut off = 0;
            let mut open = true;
            while off < burst.len() && open && self.going() {
                let r = match poll(&[(&s, true, true)], TICK) {
                    Ok(r) => r[0],
                    Err(_) => break,
                };
                if r.readable && !tally.read_from(&mut s) {
                    open = false;
                }
                if open && r.writable && !self.write_some(&mut s, &burst, &mut off, frame_len) {
                    open = false;
                }
            }
            if off == burst.len() {
                self.k().bursts.fetch_add(1, Ordering::Relaxed);
                tally.read_from(&mut s);
            }
            tally.flush(self.k());
            drop(s);
            if !open {
                self.server_closed();
            }
        }
    }

    /// [`Kind::HalfOpen`].
    fn half_open(&self, n: usize) {
        let hello = half_open_bytes();
        let mut slots: Vec<Option<(TcpStream, FrameTally)>> = (0..n).map(|_| None).collect();
        let mut next_try = vec![Instant::now(); n];
        while self.going() {
            for (slot, at) in slots.iter_mut().zip(next_try.iter_mut()) {
                if slot.is_some() || Instant::now() < *at || !self.going() {
                    continue;
                }
                *at = Instant::now() + RECONNECT_PAUSE;
                let Some(mut s) = self.connect() else {
                    continue;
                };
                let mut off = 0;
                // 14 bytes into an empty socket: written at once (or the server is gone).
                if self.write_some(&mut s, &hello, &mut off, usize::MAX) && off == hello.len() {
                    *slot = Some((s, FrameTally::default()));
                } else {
                    self.k().closed_by_server.fetch_add(1, Ordering::Relaxed);
                }
            }
            let open: Vec<usize> = (0..n).filter(|&i| slots[i].is_some()).collect();
            if open.is_empty() {
                std::thread::sleep(TICK);
                continue;
            }
            let ready = {
                let socks: Vec<(&TcpStream, bool, bool)> = open
                    .iter()
                    .filter_map(|&i| slots[i].as_ref().map(|(s, _)| (s, true, false)))
                    .collect();
                match poll(&socks, TICK) {
                    Ok(r) => r,
                    Err(_) => vec![Default::default(); socks.len()],
                }
            };
            for (&i, r) in open.iter().zip(ready) {
                if !r.readable {
                    continue;
                }
                let closed = match slots[i].as_mut() {
                    Some((s, tally)) => !tally.read_from(s),
                    None => false,
                };
                if closed {
                    if let Some((_, mut tally)) = slots[i].take() {
                        tally.flush(self.k());
                    }
                    self.k().closed_by_server.fetch_add(1, Ordering::Relaxed);
                    next_try[i] = Instant::now() + RECONNECT_PAUSE;
                }
            }
        }
        for (_, mut tally) in slots.into_iter().flatten() {
            tally.flush(self.k());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attackers_take_kinds_and_addresses_in_turn() {
        assert_eq!(Kind::of(0), Kind::BigFrames);
        assert_eq!(Kind::of(4), Kind::Pipelined);
        assert_eq!(Kind::of(8), Kind::HalfOpen);
        assert_eq!(kind_counts(10), [4, 3, 3]);
        assert_eq!(kind_counts(1), [1, 0, 0]);
        assert_eq!(attacker_ip(0), Some(Ipv4Addr::new(127, 0, 1, 1)));
        assert_eq!(attacker_ip(253), Some(Ipv4Addr::new(127, 0, 1, 254)));
        assert_eq!(attacker_ip(254), None);
    }

    #[test]
    fn attack_frames_have_the_promised_shape() {
        let big = big_login(7);
        assert_eq!(big.len(), BIG_BODY);
        assert!(big.len() < MAX_FRAME);
        let v: Value = serde_json::from_slice(&big).unwrap();
        assert_eq!(v["type"], "login");
        assert_eq!(v["password"], WRONG_PASSWORD);
        assert!(v["username"].as_str().unwrap().starts_with("atk"));
        assert!(v["pad"].as_str().unwrap().len() > 60_000);
        // Apart from the padding, the frame is the login proto encodes.
        let mut bare = v.as_object().unwrap().clone();
        bare.remove("pad");
        let login: Value = serde_json::from_slice(&wrong_login(7).encode(None)).unwrap();
        assert_eq!(Value::Object(bare), login);

        let (burst, len) = pipeline_burst(9, 100);
        assert_eq!(burst.len(), 100 * len);
        let mut names = std::collections::HashSet::new();
        for f in burst.chunks(len) {
            let n = u32::from_be_bytes([f[0], f[1], f[2], f[3]]) as usize;
            assert_eq!(n + 4, len);
            let v: Value = serde_json::from_slice(&f[4..]).unwrap();
            assert_eq!(v["type"], "login");
            let name = v["username"].as_str().unwrap().to_string();
            assert!((3..=32).contains(&name.len()));
            names.insert(name);
        }
        assert!(names.len() > 95, "made-up names differ: {}", names.len());

        let h = half_open_bytes();
        assert_eq!(&h[..4], &65_536u32.to_be_bytes());
        assert!(h.len() - 4 < 65_536);
    }

    #[test]
    fn tally_counts_codes_across_splits() {
        let mut t = FrameTally::default();
        let mut stream = Vec::new();
        for body in [
            &br#"{"type":"login","ok":false,"error":{"code":"rate_limited","message":"x","retry_after_ms":300}}"#
                [..],
            br#"{"type":"error","ok":false,"error":{"code":"server_full","message":"x"}}"#,
            br#"{"type":"ping","ok":true,"ts":1}"#,
            br#"{"type":"login","ok":false,"error":{"code":"no_such_code","message":"x"}}"#,
        ] {
            stream.extend_from_slice(&framed(body));
        }
        for piece in stream.chunks(7) {
            t.buf.extend_from_slice(piece);
            t.parse();
        }
        assert_eq!(t.frames, 4);
        assert!(t.buf.is_empty());
        let k = KindStats::default();
        t.flush(&k);
        assert_eq!(k.frames_in.load(Ordering::Relaxed), 4);
        let codes = k.errors.snapshot();
        assert_eq!(codes.get("rate_limited"), Some(&1));
        assert_eq!(codes.get("server_full"), Some(&1));
        assert_eq!(codes.get("ok"), Some(&1));
        // A code the contract does not have is not a frame proto can read.
        assert_eq!(codes.get("unreadable"), Some(&1));

        let mut bad = FrameTally::default();
        bad.buf.extend_from_slice(&u32::MAX.to_be_bytes());
        bad.parse();
        assert!(bad.unreadable && bad.buf.is_empty());
    }

    #[test]
    fn reports_add_up_by_kind() {
        let mut a = AttackReport::default();
        a.kinds[0].bytes_sent = 10;
        a.kinds[0].errors.insert("rate_limited".into(), 2);
        a.kinds[1].bytes_sent = 5;
        a.kinds[1].errors.insert("rate_limited".into(), 3);
        a.kinds[2].refused.insert("refused".into(), 1);
        let t = a.total();
        assert_eq!(t.bytes_sent, 15);
        assert_eq!(t.errors.get("rate_limited"), Some(&5));
        let j = a.json();
        assert_eq!(j["total"]["refused"]["refused"], 1);
        assert_eq!(j["big_frames"]["bytes_sent"], 10);
    }

    #[test]
    fn only_loopback_is_attacked() {
        let plan = AttackPlan {
            attackers: 1,
            pipeline: 1,
            half_open: 1,
        };
        let err = launch("10.1.2.3:9".parse().unwrap(), &plan, Duration::from_secs(1))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("loopback"), "{err}");
    }
}
