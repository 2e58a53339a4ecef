//! `startgate`: the HTTP gateway in front of a chat cluster (`../shared/gateway.md`):
//! e-mail verification codes, registration, login that assigns the least-loaded live
//! node, password reset. Stateless: everything it keeps is in the cluster's MySQL (users,
//! tokens) and Redis (codes, limits, the node registry), so any number of gateways can
//! run behind a load balancer.
//!
//! ```text
//!  client ──HTTP──► reactor + reactor_http ──► Gateway::call (app.rs) ──► routes/*
//!                                                 │  store (MySQL)  codes, ip_limits (Redis)
//!                                                 │  nodes (registry, Redis)  mail queue ──► SMTP / .eml
//!                                                 └─ revoke: logged_out on every node's channel
//! ```
//!
//! Layout, one idea per file:
//! * `config`: command line and TOML, merged and checked.
//! * `app`: [`app::Gateway`], the shared state, and the router.
//! * `routes/`: one file per route (codes, register, login, reset, health, metrics):
//!   each reads its request, then applies it.
//! * `body`: JSON bodies as the protocol's fields; `error`: [`error::ApiError`], the
//!   status and code of every failure.
//! * `codes`: verification codes in Redis (Lua); `ip_limits`: per-address budgets in
//!   Redis; `keys`: the gateway's Redis key names.
//! * `nodes`: choosing the node a login goes to; `revoke`: `logged_out` to every node.
//! * `mail`: sending mail off the request path (a bounded queue, retries; SMTP or a
//!   directory of `.eml` files).
//! * `metrics`: the figures of `GET /metrics`.
//!
//! [`start`] builds it all and listens; the binary (`main.rs`) adds logging and signals.

pub mod app;
pub mod body;
pub mod codes;
pub mod config;
pub mod error;
pub mod ip_limits;
pub mod keys;
pub mod mail;
pub mod metrics;
pub mod nodes;
pub mod revoke;
pub mod routes;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat::auth::PasswordHasher;
use chat::cluster::keys::Keys;
use chat::cluster::link::Link;
use chat::password_guard::PasswordGuard;
use chat::store::mysql::MysqlStore;

use crate::app::Gateway;
use crate::codes::Codes;
use crate::config::GateConfig;
use crate::ip_limits::IpLimits;
use crate::keys::GateKeys;
use crate::mail::{MailSettings, MailTransportConfig, Mailer};
use crate::metrics::GateMetrics;
use crate::nodes::NodePicker;

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration cannot be used.
    #[error("{0}")]
    Config(#[from] config::GateConfigError),
    /// MySQL could not be opened.
    #[error("mysql: {0}")]
    Store(String),
    /// The Redis URL is not valid.
    #[error("redis: {0}")]
    Redis(String),
    /// The argon2 settings are not valid.
    #[error("auth: {0}")]
    Auth(String),
    /// The mailer could not start.
    #[error("mail: {0}")]
    Mail(String),
    /// The listener or a thread could not start.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The reactor could not start.
    #[error("listener: {0}")]
    Listen(String),
}

/// A running gateway.
pub struct GateServer {
    server: reactor::Server,
    gateway: Arc<Gateway>,
}

impl GateServer {
    /// Where it listens.
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.server.local_addr()
    }

    /// Its state (for tests and the binary's logs).
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Waits for SIGINT or SIGTERM, then stops (see [`GateServer::shutdown`]).
    pub fn run_until_signal(self) -> std::io::Result<()> {
        self.server.shutdown_handle().on_signals()?;
        self.stop(true);
        Ok(())
    }

    /// Stops listening, closes connections, sends what the mail queue holds (bounded).
    pub fn shutdown(self) {
        self.stop(false);
    }

    fn stop(self, signalled: bool) {
        if signalled {
            self.server.join();
        } else {
            self.server.shutdown();
        }
        // The health checker holds the gateway for a moment every check: wait it out.
        let mut gateway = self.gateway;
        for _ in 0..100 {
            match Arc::try_unwrap(gateway) {
                Ok(gateway) => {
                    let mail = gateway.mailer.stop();
                    log::info!(
                        "startgate stopped: {} mails sent, {} failed since start",
                        mail.sent,
                        mail.failed
                    );
                    return;
                }
                Err(shared) => gateway = shared,
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        log::warn!("gateway still in use at shutdown; queued mail not drained");
    }
}

/// Opens the store, Redis and the mailer, and listens (see the module docs).
pub fn start(config: GateConfig) -> Result<GateServer, StartError> {
    let g = &config.gateway;
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let workers = if g.workers == 0 { 4 * cores } else { g.workers };
    let reactors = if g.reactors == 0 { cores } else { g.reactors };

    let store = MysqlStore::open(&g.mysql, workers.min(32))
        .map_err(|e| StartError::Store(e.to_string()))?;
    let redis = Link::new(&g.redis).map_err(|e| StartError::Redis(e.to_string()))?;
    let auth = &config.auth;
    let hasher =
        PasswordHasher::new(auth.argon2_params()).map_err(|e| StartError::Auth(e.to_string()))?;
    let guard = PasswordGuard::new(auth.guard_settings(workers));
    let transport = if config.mail.smtp.is_empty() {
        MailTransportConfig::Dir(config.mail_dir())
    } else {
        MailTransportConfig::Smtp(config.mail.smtp.clone())
    };
    let mailer = Mailer::start(MailSettings {
        from: config.mail.from.clone(),
        queue: config.mail.queue,
        ..MailSettings::new(transport)
    })
    .map_err(|e| StartError::Mail(e.to_string()))?;

    let gate_keys = GateKeys::new(&g.cluster);
    let gateway = Arc::new(Gateway {
        store: Arc::new(store),
        redis,
        keys: Keys::new(&g.cluster),
        codes: Codes::new(gate_keys.clone(), config.code_settings()),
        limits: IpLimits::new(gate_keys, config.ip_limit_settings()),
        picker: NodePicker::new(Keys::new(&g.cluster)),
        hasher,
        guard,
        mailer,
        token_ttl: auth.token_ttl(),
        metrics: GateMetrics::new(),
        health: Default::default(),
        started: Instant::now(),
    });
    routes::health::check(&gateway);
    routes::health::spawn_checker(&gateway)?;

    let builder = reactor::Server::builder()
        .name("startgate")
        .bind(config.listen_addr()?)
        .reactors(reactors)
        .workers(workers)
        .max_connections(g.max_connections);
    let server = reactor_http::serve(
        builder,
        config.http_limits(),
        SharedGateway(Arc::clone(&gateway)),
    )
    .map_err(|e| StartError::Listen(e.to_string()))?;
    if let Some(addr) = server.local_addr() {
        log::info!(
            "startgate listening on {addr} (cluster {:?}, {workers} workers, mail: {})",
            g.cluster,
            if config.mail.smtp.is_empty() {
                format!("files in {}", config.mail_dir().display())
            } else {
                chat::config::redact_url(&config.mail.smtp)
            }
        );
    }
    Ok(GateServer { server, gateway })
}

/// The gateway as the HTTP service (an `Arc`, shared with the health checker).
struct SharedGateway(Arc<Gateway>);

impl reactor_http::Service for SharedGateway {
    fn call(&self, req: &reactor_http::Request) -> reactor_http::Response {
        reactor_http::Service::call(&*self.0, req)
    }

    fn inline(&self, method: &str, path: &str) -> bool {
        reactor_http::Service::inline(&*self.0, method, path)
    }
}
