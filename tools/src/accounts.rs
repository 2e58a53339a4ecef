//! Who chatload logs in as, where its connections come from, and bulk registration.
//!
//! * [`Accounts`]: generated users `<prefix>_<i>` with one password (the prefix defaults
//!   to one derived from the clock, so runs never clash), or the demo users of
//!   `sql/demo.sql` (`demo00001`.. with password `demo-password`).
//! * [`source_addr`]: spreads connections over the source addresses 127.0.0.2 ..
//!   127.0.0.254 (bind before connect) when the server is on loopback, so that one
//!   (source, destination) pair's ~28k ephemeral ports are never the limit.
//! * [`register_bulk`]: registers a range of generated users over a few pipelined
//!   connections (untimed set-up work for the scenarios).
//!
//! An account's `register` and `login` requests are `proto::Request`s
//! ([`Accounts::register_request`], [`Accounts::login_request`]).
//! May touch: the connections [`register_bulk`] opens itself; the process's
//! RLIMIT_NOFILE ([`raise_nofile`]).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indicatif::ProgressBar;
use proto::{Credentials, ErrorCode, Request};
use serde_json::{json, Value};

use crate::client::{wait_until, CountPushes, Delayer, Engine, Failure, Peer, Retry};
use crate::dialect::Wire;
use crate::error::LoadError;
use crate::report::num1;
use crate::stats::Counts;

/// Password of generated users unless `--password` says otherwise.
pub const DEFAULT_PASSWORD: &str = "chatload-password";
/// Password of every demo user in `sql/demo.sql`.
pub const DEMO_PASSWORD: &str = "demo-password";
/// Demo users in `sql/demo.sql`.
pub const DEMO_USERS: usize = 5000;
/// Longest prefix: `<prefix>_<index>` must stay within the 32-character username limit.
pub const MAX_PREFIX: usize = 20;

/// A prefix unique to this moment: `cl` and the Unix time in ms, base 36 (10 characters).
pub fn default_prefix() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("cl{}", base36(ms))
}

fn base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// `Ok` if `prefix` makes valid usernames: 1..=20 of `A-Z a-z 0-9 _ . -`.
pub fn validate_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() || prefix.len() > MAX_PREFIX {
        return Err(format!(
            "--prefix must be 1 to {MAX_PREFIX} characters, got {}",
            prefix.len()
        ));
    }
    if !proto::request::valid_username(prefix) {
        return Err("--prefix may contain only A-Z a-z 0-9 _ . -".into());
    }
    Ok(())
}

/// The accounts a run uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// `<prefix>_<i>`, all with `password`; registered by chatload.
    Generated {
        /// Username prefix.
        prefix: String,
        /// Everyone's password.
        password: String,
    },
    /// `demo00001` ..= `demo05000` from `sql/demo.sql` (loaded beforehand).
    Demo,
}

impl Accounts {
    /// The username of account `i` (0-based).
    pub fn username(&self, i: usize) -> String {
        match self {
            Accounts::Generated { prefix, .. } => format!("{prefix}_{i}"),
            Accounts::Demo => format!("demo{:05}", i + 1),
        }
    }

    /// The password of every account.
    pub fn password(&self) -> &str {
        match self {
            Accounts::Generated { password, .. } => password,
            Accounts::Demo => DEMO_PASSWORD,
        }
    }

    /// How many accounts exist at most (`None`: as many as registered).
    pub fn limit(&self) -> Option<usize> {
        match self {
            Accounts::Generated { .. } => None,
            Accounts::Demo => Some(DEMO_USERS),
        }
    }

    /// True when chatload must register the accounts itself.
    pub fn needs_registration(&self) -> bool {
        matches!(self, Accounts::Generated { .. })
    }

    /// The `register` request of account `i`.
    pub fn register_request(&self, i: usize) -> Request {
        Request::Register {
            username: self.username(i),
            password: self.password().into(),
            nickname: None,
            email: None,
        }
    }

    /// The password `login` request of account `i`; `push: false` makes a connection
    /// that gets no pushes.
    pub fn login_request(&self, i: usize, push: bool) -> Request {
        Request::Login {
            credentials: Credentials::Password {
                username: self.username(i),
                password: self.password().into(),
            },
            push,
        }
    }
}

/// The local address connection `i` binds to: 127.0.0.2 ..= 127.0.0.254 in turn when
/// `spread` and the server is on IPv4 loopback; `None` (the OS chooses) otherwise.
pub fn source_addr(spread: bool, server: SocketAddr, i: usize) -> Option<SocketAddr> {
    match server.ip() {
        IpAddr::V4(ip) if spread && ip.is_loopback() => {
            let last = 2 + (i % 253) as u8;
            Some(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)),
                0,
            ))
        }
        _ => None,
    }
}

/// Raises this process's soft RLIMIT_NOFILE to the hard limit; returns (soft, hard).
pub fn raise_nofile() -> (u64, u64) {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    rlimit::Resource::NOFILE.get().unwrap_or((0, 0))
}

/// What [`register_bulk`] did.
#[derive(Debug, Default)]
pub struct Registered {
    /// New accounts.
    pub created: u64,
    /// Accounts that existed already (`user_exists`: a reused prefix).
    pub existed: u64,
    /// Registrations that failed (by error code, or `closed`).
    pub failed: Counts,
    /// Wall time.
    pub secs: f64,
    /// Requests re-sent after `server_busy` / `rate_limited`.
    pub retries: u64,
}

impl Registered {
    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "created": self.created,
            "existed": self.existed,
            "failed": self.failed.json(),
            "secs": num1(self.secs),
            "retries": self.retries,
            "per_sec": num1((self.created + self.existed) as f64 / self.secs.max(1e-9)),
        })
    }
}

struct Bulk {
    accounts: Accounts,
    next: AtomicUsize,
    end: usize,
    created: AtomicU64,
    existed: AtomicU64,
    finished: AtomicU64,
    failed: Counts,
    progress: ProgressBar,
    retry: Retry,
}

fn register_next(bulk: &Arc<Bulk>, peer: &Arc<Peer>) {
    let i = bulk.next.fetch_add(1, Ordering::Relaxed);
    if i >= bulk.end {
        return;
    }
    let b = Arc::clone(bulk);
    bulk.retry.request(
        peer,
        bulk.accounts.register_request(i),
        Box::new(move |peer, outcome| {
            match outcome {
                Ok(_) => {
                    b.created.fetch_add(1, Ordering::Relaxed);
                }
                Err(Failure::Server(e)) if e.code == ErrorCode::UserExists => {
                    b.existed.fetch_add(1, Ordering::Relaxed);
                }
                Err(Failure::Server(e)) => b.failed.inc(e.code.as_str()),
                Err(Failure::Closed) => b.failed.inc("closed"),
            }
            b.finished.fetch_add(1, Ordering::Relaxed);
            b.progress.inc(1);
            if !peer.is_closed() {
                register_next(&b, peer);
            }
        }),
    );
}

/// How [`register_bulk`] spreads its work.
#[derive(Debug, Clone, Copy)]
pub struct BulkPlan {
    /// Connections registering in parallel (the server runs one request per connection
    /// at a time, so this is the parallelism).
    pub conns: usize,
    /// Requests in flight on each connection.
    pub depth: usize,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Default for BulkPlan {
    fn default() -> Self {
        Self {
            conns: 16,
            depth: 8,
            timeout: Duration::from_secs(600),
        }
    }
}

/// Registers accounts `range` of `accounts` as `plan` says. Fails only if the engine
/// cannot connect at all or the work does not finish in time; individual failures
/// (other than `user_exists`, which counts as done) are in the result.
pub fn register_bulk(
    engine: &Engine,
    addr: SocketAddr,
    accounts: &Accounts,
    range: Range<usize>,
    plan: BulkPlan,
    progress: ProgressBar,
) -> Result<Registered, LoadError> {
    let BulkPlan {
        conns,
        depth,
        timeout,
    } = plan;
    let start = Instant::now();
    let total = range.len() as u64;
    let bulk = Arc::new(Bulk {
        accounts: accounts.clone(),
        next: AtomicUsize::new(range.start),
        end: range.end,
        created: AtomicU64::new(0),
        existed: AtomicU64::new(0),
        finished: AtomicU64::new(0),
        failed: Counts::default(),
        progress,
        retry: Retry::new(Delayer::start()?),
    });
    let sink = Arc::new(CountPushes::default());
    let mut peers = Vec::new();
    for c in 0..conns.clamp(1, range.len().max(1)) {
        match engine.connect(
            c,
            source_addr(true, addr, c),
            addr,
            Wire::Json,
            sink.clone(),
        ) {
            Ok(peer) => peers.push(peer),
            Err(e) if peers.is_empty() && c + 1 == conns => {
                return Err(LoadError::Setup(format!("cannot connect to {addr}: {e}")))
            }
            Err(_) => {}
        }
    }
    if peers.is_empty() {
        return Err(LoadError::Setup(format!("cannot connect to {addr}")));
    }
    for peer in &peers {
        for _ in 0..depth.max(1) {
            register_next(&bulk, peer);
        }
    }
    let deadline = start + timeout;
    let finished = wait_until(deadline, || {
        bulk.finished.load(Ordering::Relaxed) >= total
            || (peers.iter().all(|p| p.is_closed()) && peers.iter().all(|p| p.pending() == 0))
    });
    for peer in &peers {
        peer.close();
    }
    bulk.progress.finish_and_clear();
    let done = bulk.finished.load(Ordering::Relaxed);
    if !finished || done < total {
        return Err(LoadError::Setup(format!(
            "registration finished {done} of {total} accounts in {:.0} s (failures: {})",
            start.elapsed().as_secs_f64(),
            crate::report::counts_line(&bulk.failed.json())
        )));
    }
    Ok(Registered {
        created: bulk.created.load(Ordering::Relaxed),
        existed: bulk.existed.load(Ordering::Relaxed),
        failed: clone_counts(&bulk.failed),
        retries: bulk.retry.retries.load(Ordering::Relaxed),
        secs: start.elapsed().as_secs_f64(),
    })
}

fn clone_counts(c: &Counts) -> Counts {
    let out = Counts::default();
    for (k, v) in c.snapshot() {
        out.add(&k, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_prefixes_and_sources() {
        let p = default_prefix();
        assert!(validate_prefix(&p).is_ok(), "{p}");
        assert!(p.len() <= MAX_PREFIX);
        assert!(validate_prefix("").is_err());
        assert!(validate_prefix("has space").is_err());
        assert!(validate_prefix(&"x".repeat(21)).is_err());
        let gen = Accounts::Generated {
            prefix: p.clone(),
            password: DEFAULT_PASSWORD.into(),
        };
        assert_eq!(gen.username(7), format!("{p}_7"));
        assert!(gen.username(999_999).len() <= 32);
        assert_eq!(Accounts::Demo.username(0), "demo00001");
        assert_eq!(Accounts::Demo.username(4999), "demo05000");
        let login: Value =
            serde_json::from_slice(&Accounts::Demo.login_request(0, false).encode(Some(1)))
                .unwrap();
        assert_eq!(
            login,
            json!({"type": "login", "seq": 1, "username": "demo00001",
                   "password": DEMO_PASSWORD, "push": false})
        );
        let reg: Value = serde_json::from_slice(&gen.register_request(3).encode(None)).unwrap();
        assert_eq!(
            reg,
            json!({"type": "register", "username": format!("{p}_3"), "password": DEFAULT_PASSWORD})
        );

        let lo: SocketAddr = "127.0.0.1:12345".parse().unwrap();
        assert_eq!(
            source_addr(true, lo, 0),
            Some("127.0.0.2:0".parse().unwrap())
        );
        assert_eq!(
            source_addr(true, lo, 252),
            Some("127.0.0.254:0".parse().unwrap())
        );
        assert_eq!(
            source_addr(true, lo, 253),
            Some("127.0.0.2:0".parse().unwrap())
        );
        assert_eq!(source_addr(false, lo, 3), None);
        assert_eq!(source_addr(true, "10.0.0.1:1".parse().unwrap(), 3), None);
    }
}
