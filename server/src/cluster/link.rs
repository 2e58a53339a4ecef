//! Connections to Redis for requests (not the subscriber's): a small pool, timeouts on
//! every call, and a fail-fast window after an error.
//!
//! Callers are worker threads (a login registers its route) and the cluster's own
//! threads. None may hang on a dead Redis: connecting gives up after
//! [`CONNECT_TIMEOUT`], a reply after [`IO_TIMEOUT`], and for [`DOWN_FOR`] after a
//! failure every call fails at once without trying (the cluster repairs what it missed
//! when Redis answers again: see `registry.rs`). Every failure is counted.
//! May touch: Redis.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use redis::{Client, Connection, RedisResult};

/// How long connecting may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a reply may take.
pub const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// After a failure, calls fail at once for this long.
pub const DOWN_FOR: Duration = Duration::from_millis(500);
/// Idle connections kept.
const POOL: usize = 8;

/// A pool of request connections to one Redis.
pub struct Link {
    client: Client,
    idle: Mutex<Vec<Connection>>,
    down_until: Mutex<Option<Instant>>,
    /// A call failed since the flag was last taken: something may need repair.
    failed: AtomicBool,
    errors: AtomicU64,
}

impl Link {
    /// A pool for `url` (nothing is connected yet).
    pub fn new(url: &str) -> RedisResult<Link> {
        Ok(Link {
            client: Client::open(url)?,
            idle: Mutex::new(Vec::new()),
            down_until: Mutex::new(None),
            failed: AtomicBool::new(false),
            errors: AtomicU64::new(0),
        })
    }

    /// A new connection with the timeouts set.
    pub fn connect(&self) -> RedisResult<Connection> {
        let conn = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection. `None` when Redis failed now or just before
    /// (logged once per outage, counted always).
    pub fn call<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Connection) -> RedisResult<T>,
    ) -> Option<T> {
        if self
            .down_until
            .lock()
            .is_some_and(|until| Instant::now() < until)
        {
            self.failed.store(true, Ordering::Release);
            return None;
        }
        let pooled = self.idle.lock().pop();
        let mut conn = match pooled.map_or_else(|| self.connect(), Ok) {
            Ok(conn) => conn,
            Err(e) => return self.fail(what, &e),
        };
        match f(&mut conn) {
            Ok(value) => {
                let mut idle = self.idle.lock();
                if idle.len() < POOL {
                    idle.push(conn);
                }
                let recovered = self.down_until.lock().take().is_some();
                if recovered {
                    log::info!("redis answers again");
                }
                Some(value)
            }
            Err(e) => self.fail(what, &e),
        }
    }

    fn fail<T>(&self, what: &str, e: &redis::RedisError) -> Option<T> {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.failed.store(true, Ordering::Release);
        self.idle.lock().clear();
        let mut down = self.down_until.lock();
        if down.is_none() {
            log::warn!("redis unavailable ({what}): {e}; carrying on without it");
        }
        *down = Some(Instant::now() + DOWN_FOR);
        None
    }

    /// Takes the "a call failed" flag.
    pub fn take_failed(&self) -> bool {
        self.failed.swap(false, Ordering::AcqRel)
    }

    /// Redis errors so far.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}
