//! [`Gateway`]: everything a request may use (the store, Redis, codes, limits, the node
//! picker, the password hasher and guard, the mailer, metrics), built once at start-up
//! and shared by the worker threads; and the router, [`Gateway::call`], which sends each
//! request to its route (`routes/`) and turns the route's result into a response. Paths
//! outside the API are the web client's files (`web_assets`) and `/app-config.json`
//! (`{"mode":"gateway"}`: the page registers and logs in here, then connects to its node).
//! May touch: what it holds, through the routes.

use std::sync::Arc;
use std::time::Instant;

use reactor_http::{Request, Response, Service};

use crate::codes::Codes;
use crate::error::ApiError;
use crate::ip_limits::IpLimits;
use crate::mail::Mailer;
use crate::metrics::GateMetrics;
use crate::nodes::NodePicker;
use crate::routes;
use chat::auth::PasswordHasher;
use chat::cluster::keys::Keys;
use chat::cluster::link::Link;
use chat::password_guard::PasswordGuard;
use chat::store::Store;

/// The gateway's state (see the module docs).
pub struct Gateway {
    /// The cluster's database.
    pub store: Arc<dyn Store>,
    /// The cluster's Redis.
    pub redis: Link,
    /// The nodes' key names (registry, channels).
    pub keys: Keys,
    /// Verification codes.
    pub codes: Codes,
    /// Per-source limits.
    pub limits: IpLimits,
    /// Where logins go.
    pub picker: NodePicker,
    /// Password hashing, with the nodes' cost.
    pub hasher: PasswordHasher,
    /// Password attempts per source and per account, and hashing admission.
    pub guard: PasswordGuard,
    /// Outgoing mail.
    pub mailer: Mailer,
    /// Token lifetime (the nodes' `[auth] token_ttl_secs`).
    pub token_ttl: std::time::Duration,
    /// Counters for `/metrics`.
    pub metrics: GateMetrics,
    /// Health as last checked (`/healthz`).
    pub health: routes::health::HealthState,
    /// When the gateway started.
    pub started: Instant,
}

/// The routes of the contract: (method, path).
const ROUTES: [(&str, &str); 6] = [
    ("POST", "/api/v1/codes"),
    ("POST", "/api/v1/register"),
    ("POST", "/api/v1/login"),
    ("POST", "/api/v1/reset-password"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
];

impl Gateway {
    /// The route's answer, or its error as a response.
    fn route(&self, req: &Request) -> Result<Response, ApiError> {
        match (req.method.as_str(), req.path.as_str()) {
            ("POST", "/api/v1/codes") => routes::codes::run(self, req),
            ("POST", "/api/v1/register") => routes::register::run(self, req),
            ("POST", "/api/v1/login") => routes::login::run(self, req),
            ("POST", "/api/v1/reset-password") => routes::reset::run(self, req),
            ("GET" | "HEAD", "/healthz") => Ok(routes::health::run(self)),
            ("GET" | "HEAD", "/metrics") => Ok(routes::metrics::run(self)),
            (_, "/app-config.json") => Ok(web_assets::app_config(req, "gateway")),
            (_, path) if ROUTES.iter().any(|(_, p)| *p == path) => Err(ApiError::new(
                405,
                "method_not_allowed",
                format!("{} is not allowed on {path}", req.method),
            )),
            (_, path) => web_assets::asset(req)
                .ok_or_else(|| ApiError::new(404, "not_found", format!("no such path: {path}"))),
        }
    }
}

impl Service for Gateway {
    fn call(&self, req: &Request) -> Response {
        let response = self.route(req).unwrap_or_else(|e| e.response());
        // The metric's label: a path of the contract, anything else `other` (bounded).
        let route = ROUTES
            .iter()
            .map(|(_, path)| *path)
            .find(|path| *path == req.path)
            .unwrap_or("other");
        self.metrics.request(route, response.status);
        response
    }

    /// `/healthz` (state a background thread refreshes), `/metrics` (counters) and the
    /// web client's files (memory) never block: answered on the reactor thread.
    fn inline(&self, method: &str, path: &str) -> bool {
        matches!(method, "GET" | "HEAD") && !path.starts_with("/api/")
    }
}
