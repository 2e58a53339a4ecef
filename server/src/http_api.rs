//! The node's HTTP listener (`--http-port`, `[server] http_port`): the web client, the
//! WebSocket transport, `GET /healthz` and `GET /metrics`, served by `reactor-http` on an
//! engine of its own.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /ws` with a WebSocket handshake | `101`, then the chat protocol, one JSON object per text message, handled by the same [`ChatHandler`] as the TCP port (see `reactor_http::websocket` for the refusals) |
//! | `GET /`, `GET /<file>` of the web client | the file (`web_assets`) |
//! | `GET /app-config.json` | `{"mode":"node"}`: the web client logs in over `/ws` |
//! | `GET /healthz`, store (and Redis) up | `200 {"ok":true,"node":ID,"store":"up","redis":"up"}` (`node` and `redis` null on a single node without a node id / Redis) |
//! | `GET /healthz`, something down | `503 {"ok":false,"error":{"code":"unhealthy","message":WHAT}}` |
//! | `GET /metrics` | `200`, the Prometheus text of [`Metrics::encode`] |
//! | another method on those paths | `405 method_not_allowed` (with `Allow: GET, HEAD`) |
//! | any other path | `404 not_found` |
//!
//! `HEAD` is answered as `GET` without the body. `/healthz` reads the state the probe
//! threads keep (`health.rs`), never the database, `/metrics` reads atomics and files
//! are in memory, so these run on the reactor thread that read them (`Service::inline`). The
//! engine has the chat port's threads and limits (`server.rs` builds both): WebSocket
//! clients are chat clients.
//!
//! May touch: the metrics and the health state (reads only).

use std::sync::Arc;

use reactor_http::websocket::{self, Origins, WsConfig};
use reactor_http::{Limits, Request, Response, Service};
use serde::Serialize;

use crate::handler::ChatHandler;
use crate::health::Health;
use crate::metrics::{Metrics, CONTENT_TYPE};

/// The WebSocket endpoint's path.
pub const WS_PATH: &str = "/ws";

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
        if req.path == "/app-config.json" {
            return web_assets::app_config(req, "node");
        }
        if let Some(file) = web_assets::asset(req) {
            return file;
        }
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

    /// Everything but the WebSocket endpoint reads memory only: answered on the reactor.
    fn inline(&self, method: &str, _path: &str) -> bool {
        matches!(method, "GET" | "HEAD")
    }
}

/// Starts the listener with `engine` (its address and the chat port's threads and
/// limits): `api` for HTTP, `chat` for WebSocket messages of at most `max_frame` bytes
/// from pages of `origins` (empty: the same host).
pub fn start(
    engine: reactor::Builder,
    api: HttpApi,
    chat: ChatHandler,
    max_frame: usize,
    origins: &[String],
) -> Result<reactor::Server, reactor::Error> {
    let ws = WsConfig {
        path: WS_PATH.to_owned(),
        max_message: max_frame,
        origins: if origins.is_empty() {
            Origins::SameHost
        } else {
            Origins::List(origins.to_vec())
        },
    };
    websocket::serve(engine, Limits::default(), api, ws, chat)
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
        for path in ["/ws", "/healthz/", "/metricsx", "/nope.js"] {
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
        assert_eq!(get(&api, "GET", "/").status, 200);
        assert_eq!(
            get(&api, "GET", "/app-config.json").body,
            br#"{"mode":"node"}"#
        );
    }
}
