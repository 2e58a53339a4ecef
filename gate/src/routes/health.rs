//! `GET /healthz`: `200 {ok: true}` while MySQL and Redis answer, else `503 {ok: false,
//! error}` naming what does not. Answered from [`HealthState`], which a background
//! thread ([`spawn_checker`]) refreshes every [`CHECK_EVERY`] with one cheap call to each
//! (a primary-key read, a `PING`), so a request costs no round trip and a flood of
//! health checks costs the database nothing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use reactor_http::Response;
use serde_json::json;

use crate::app::Gateway;

/// How often the checker looks.
pub const CHECK_EVERY: Duration = Duration::from_millis(500);

/// The last check's outcome.
#[derive(Debug, Default)]
pub struct HealthState {
    mysql: AtomicBool,
    redis: AtomicBool,
    checks: AtomicU64,
}

impl HealthState {
    /// Whether MySQL and Redis answered at the last check.
    pub fn get(&self) -> (bool, bool) {
        (
            self.mysql.load(Ordering::Acquire),
            self.redis.load(Ordering::Acquire),
        )
    }

    /// How many checks ran (0: none yet).
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Acquire)
    }
}

/// Checks once and records the outcome.
pub fn check(gw: &Gateway) {
    let mysql = gw.store.user(0).is_ok();
    let redis = gw
        .redis
        .call("health check", |conn| {
            redis::cmd("PING").query::<String>(conn)
        })
        .is_some();
    gw.health.mysql.store(mysql, Ordering::Release);
    gw.health.redis.store(redis, Ordering::Release);
    gw.health.checks.fetch_add(1, Ordering::AcqRel);
}

/// Starts the checker thread; it ends when the gateway is dropped.
pub fn spawn_checker(gw: &Arc<Gateway>) -> std::io::Result<()> {
    let weak: Weak<Gateway> = Arc::downgrade(gw);
    std::thread::Builder::new()
        .name("health".into())
        .spawn(move || {
            while let Some(gw) = weak.upgrade() {
                check(&gw);
                drop(gw);
                std::thread::sleep(CHECK_EVERY);
            }
        })
        .map(|_| ())
}

/// The answer.
pub fn run(gw: &Gateway) -> Response {
    match gw.health.get() {
        (true, true) => Response::json(200, &json!({"ok": true})),
        (mysql, redis) => {
            let mut down = Vec::new();
            if !mysql {
                down.push("mysql");
            }
            if !redis {
                down.push("redis");
            }
            let message = format!("not answering: {}", down.join(", "));
            Response::json(
                503,
                &json!({"ok": false, "error": {"code": "unhealthy", "message": message}}),
            )
        }
    }
}
