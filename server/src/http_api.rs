//! The node's HTTP listener (`--http-port`, `[server] http_port`): `GET /healthz` and
//! `GET /metrics`, served by `reactor-http` on a small engine of its own.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /healthz`, store (and Redis) up | `200 {"ok":true,"node":ID,"store":"up","redis":"up"}` (`node` and `redis` null on a single node without a node id / Redis) |
//! | `GET /healthz`, something down | `503 {"ok":false,"error":{"code":"unhealthy","message":WHAT}}` |
//! | `GET /metrics` | `200`, the Prometheus text of [`Metrics::encode`] |
//! | another method on those paths | `405 method_not_allowed` (with `Allow: GET, HEAD`) |
//! | any other path (`/ws` too, for now) | `404 not_found` |
//!
//! `HEAD` is answered as `GET` without the body. Both answers are cheap: `/healthz`
//! reads the state the probe threads keep (`health.rs`), never the database, and
//! `/metrics` reads atomics. Requests run on this listener's own workers, never on a
//! reactor thread and never on the chat engine's workers.
//!
//! May touch: the metrics and the health state (reads only).

use std::net::SocketAddr;
use std::sync::Arc;

use reactor_http::{Limits, Request, Response, Service};
use serde::Serialize;

use crate::health::Health;
use crate::metrics::{Metrics, CONTENT_TYPE};

/// The listener's reactor threads.
const REACTORS: usize = 1;
/// The listener's worker threads (answers take microseconds).
const WORKERS: usize = 2;
/// HTTP connections open at most (monitoring and load balancers, not clients).
const MAX_CONNECTIONS: usize = 1024;

/// The HTTP service of a node.
pub struct HttpApi {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    node: Option<String>,
}

/// The body of a healthy `/healthz`.
#[derive(Serialize)]
struct Healthy<'a> {
    ok: bool,
    node: Option<&'a str>,
    store: &'static str,
    redis: Option<&'static str>,
}

impl HttpApi {
    /// Serves `metrics` and `health`; `node` is the node id `/healthz` names (`None` on
    /// a single node without one).
    pub fn new(metrics: Arc<Metrics>, health: Arc<Health>, node: Option<String>) -> Self {
        Self {
            metrics,
            health,
            node,
        }
    }

    fn healthz(&self) -> Response {
        let status = self.health.status();
        if status.healthy() {
            Response::json(
                200,
                &Healthy {
                    ok: true,
                    node: self.node.as_deref(),
                    store: "up",
                    redis: status.redis.map(|_| "up"),
                },
            )
        } else {
            Response::error(503, "unhealthy", &status.problems())
        }
    }
}

impl Service for HttpApi {
    fn call(&self, req: &Request) -> Response {
        let known = matches!(req.path.as_str(), "/healthz" | "/metrics");
        if !known {
            return Response::error(404, "not_found", "no such path");
        }
        if req.method != "GET" && req.method != "HEAD" {
            return Response::error(
                405,
                "method_not_allowed",
                "this path answers GET (and HEAD) only",
            )
            .header("Allow", "GET, HEAD");
        }
        let response = if req.path == "/healthz" {
            self.healthz()
        } else {
            Response::text(200, CONTENT_TYPE, self.metrics.encode())
        };
        response.header("Cache-Control", "no-store")
    }
}

/// Starts the listener on `addr` (port 0: the OS picks one; read it from the server's
/// `local_addr`).
pub fn start(addr: SocketAddr, api: HttpApi) -> Result<reactor::Server, reactor::Error> {
    let builder = reactor::Server::builder()
        .name("http")
        .bind(addr)
        .reactors(REACTORS)
        .workers(WORKERS)
        .max_connections(MAX_CONNECTIONS);
    reactor_http::serve(builder, Limits::default(), api)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::NodeLabels;

    fn get(api: &HttpApi, method: &str, path: &str) -> Response {
        let raw = format!("{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let req = Request::parse(raw.as_bytes(), "127.0.0.1:1".parse().unwrap()).unwrap();
        api.call(&req)
    }

    fn body(r: &Response) -> String {
        String::from_utf8(r.body.clone()).unwrap()
    }

    #[test]
    fn routes_methods_and_health() {
        let metrics = Arc::new(Metrics::new(&NodeLabels::default()));
        let health = Arc::new(Health::new(false));
        let api = HttpApi::new(metrics, Arc::clone(&health), None);
        let r = get(&api, "GET", "/healthz");
        assert_eq!(r.status, 503);
        assert_eq!(
            body(&r),
            r#"{"ok":false,"error":{"code":"unhealthy","message":"store has not answered yet"}}"#
        );
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("h.db"), 1).unwrap();
        health.probe_store(&store);
        let r = get(&api, "GET", "/healthz");
        assert_eq!(r.status, 200);
        assert_eq!(
            body(&r),
            r#"{"ok":true,"node":null,"store":"up","redis":null}"#
        );
        let r = get(&api, "GET", "/metrics?x=1");
        assert_eq!(r.status, 200);
        assert!(body(&r).contains("chat_uptime_seconds "));
        for path in ["/", "/ws", "/healthz/", "/metricsx"] {
            let r = get(&api, "GET", path);
            assert_eq!(r.status, 404, "{path}");
            assert_eq!(
                body(&r),
                r#"{"ok":false,"error":{"code":"not_found","message":"no such path"}}"#
            );
        }
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            let r = get(&api, method, "/metrics");
            assert_eq!(r.status, 405, "{method}");
            assert!(body(&r).contains(r#""code":"method_not_allowed""#));
            assert!(r.headers.contains(&("Allow".into(), "GET, HEAD".into())));
        }
        assert_eq!(get(&api, "HEAD", "/healthz").status, 200);
    }
}
