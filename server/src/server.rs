//! Start-up and shutdown of `startserv`: wires config, store, writer, hub, metrics and
//! the reactor engine together (and, with `--http-port`, the HTTP listener and its
//! health probes), runs until SIGINT/SIGTERM, then stops in order.
//!
//! The HTTP listener starts before the chat engine, so once the TCP port accepts
//! connections `/healthz` and `/metrics` answer too; it stops right after the engine.
//!
//! Shutdown order (SIGINT/SIGTERM): the engine stops accepting and stops reading; it
//! waits (up to `shutdown_grace_secs`) until the workers are idle, the writer has
//! committed and acked every queued message, and the acks are flushed; then it closes
//! connections and joins its threads. The last handle to the writer is dropped, the
//! writer exits, and the store closes.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reactor::{spawn_essential, InputRate, LengthPrefixed, Server};

use crate::app::{App, Routing, Settings};
use crate::auth::PasswordHasher;
use crate::cluster::{Cluster, ClusterError, ClusterSettings};
use crate::config::{self, redact_url, Config};
use crate::delivery;
use crate::delivery_mark::DeliveryMark;
use crate::gap_fill::{self, Filler};
use crate::handler::ChatHandler;
use crate::health::{self, Health};
use crate::http_api::{self, HttpApi};
use crate::hub::Hub;
use crate::janitor;
use crate::metrics::{Metrics, NodeLabels};
use crate::node_events::NodeEvents;
use crate::password_guard::PasswordGuard;
use crate::push_route::PushRoute;
use crate::store::mysql::MysqlStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};
use crate::writer::{Writer, WriterSettings};

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration names an invalid address or value.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The store could not be opened.
    #[error("cannot open the store {what}: {source}")]
    Store {
        /// Which store.
        what: String,
        /// Why.
        source: StoreError,
    },
    /// Cluster mode could not start.
    #[error("cluster: {0}")]
    Cluster(#[from] ClusterError),
    /// The password hasher rejected its parameters.
    #[error("auth: {0}")]
    Auth(String),
    /// A thread or socket could not be created.
    #[error("cannot start: {0}")]
    Io(#[from] std::io::Error),
    /// The engine could not start (the port is taken, for instance).
    #[error(transparent)]
    Engine(#[from] reactor::Error),
}

/// Opens the configured store: MySQL/MariaDB when `store.mysql_url` is set, else SQLite.
pub fn open_store(config: &Config) -> Result<Arc<dyn Store>, StartError> {
    match &config.store.mysql_url {
        Some(url) => MysqlStore::open(url, config.store.mysql_pool_size)
            .map(|s| Arc::new(s) as Arc<dyn Store>)
            .map_err(|source| StartError::Store {
                what: redact_url(url),
                source,
            }),
        None => {
            let path: PathBuf = config.sqlite_path();
            SqliteStore::open(&path, config.store.sqlite_pool_size)
                .map(|s| Arc::new(s) as Arc<dyn Store>)
                .map_err(|source| StartError::Store {
                    what: path.display().to_string(),
                    source,
                })
        }
    }
}

/// Joins the cluster when `--redis` is given.
fn start_cluster(config: &Config, hub: &Arc<Hub>) -> Result<Option<Arc<Cluster>>, StartError> {
    let c = &config.cluster;
    let Some(url) = &c.redis_url else {
        return Ok(None);
    };
    let settings = ClusterSettings {
        redis_url: url.clone(),
        name: c.name.clone(),
        node_id: c.node_id.clone(),
        heartbeat: Duration::from_millis(c.heartbeat_ms),
        node_ttl: Duration::from_millis(c.node_ttl_ms),
    };
    log::info!("cluster mode: redis {}", redact_url(url));
    Ok(Some(Arc::new(Cluster::start(&settings, hub)?)))
}

/// Starts the health probe threads (the store's, and Redis's in cluster mode): what
/// `/healthz` and `chat_*_up` read. They run until `stop` is set.
fn start_probes(
    health: &Arc<Health>,
    store: &Arc<dyn Store>,
    cluster: Option<&Arc<Cluster>>,
    stop: &Arc<AtomicBool>,
) -> Result<Vec<std::thread::JoinHandle<()>>, StartError> {
    let (probe_health, probe_store, probe_stop) =
        (Arc::clone(health), Arc::clone(store), Arc::clone(stop));
    let mut threads = vec![spawn_essential("health-store".into(), move || {
        health::run_store_probe(probe_health, probe_store, probe_stop)
    })?];
    if let Some(cluster) = cluster {
        let (probe_health, probe_cluster, probe_stop) =
            (Arc::clone(health), Arc::clone(cluster), Arc::clone(stop));
        threads.push(spawn_essential("health-redis".into(), move || {
            health::run_redis_probe(probe_health, probe_cluster, probe_stop)
        })?);
    }
    Ok(threads)
}

/// The engine settings the TCP port and the HTTP port (whose WebSocket clients are chat
/// clients) share: threads, connection caps, input and output bounds, shutdown.
fn engine(
    config: &Config,
    max_connections: usize,
    acks_pending: &Arc<std::sync::atomic::AtomicUsize>,
) -> reactor::Builder {
    let s = &config.server;
    let acks_pending = Arc::clone(acks_pending);
    Server::builder()
        .reactors(config.resolved_reactors())
        .workers(config.resolved_workers())
        .high_water(s.output_high_water)
        .max_connections(max_connections)
        .max_connections_per_ip(s.max_connections_per_ip)
        .conn_input_limit(s.conn_input_bytes, s.conn_input_frames)
        .conn_input_rate(InputRate {
            bytes_per_sec: s.conn_input_bytes_per_sec as f64,
            bytes_burst: 2.0 * s.conn_input_bytes_per_sec as f64,
            frames_per_sec: 2.0 * f64::from(s.rate_limit_per_sec),
            frames_burst: 2.0 * f64::from(s.rate_limit_burst),
        })
        .queue_capacity(s.worker_queue)
        .queue_bytes(s.worker_queue_bytes)
        .shutdown_grace(s.shutdown_grace())
        .shutdown_waits_until(move || acks_pending.load(Ordering::Acquire) == 0)
}

/// Starts the HTTP listener (web client, WebSocket, health, metrics) when
/// `server.http_port` is set.
fn start_http(
    config: &Config,
    engine: reactor::Builder,
    app: &Arc<App>,
    health: &Arc<Health>,
) -> Result<Option<Server>, StartError> {
    let Some(addr) = config.http_addr()? else {
        return Ok(None);
    };
    let node = Some(config.cluster.node_id.clone()).filter(|id| !id.is_empty());
    let api = HttpApi::new(Arc::clone(&app.metrics), Arc::clone(health), node);
    let s = &config.server;
    let http = http_api::start(
        engine.name("http").bind(addr),
        api,
        ChatHandler::new(Arc::clone(app)),
        s.max_frame,
        &s.ws_origins,
    )?;
    let local = http.local_addr().map_or(addr, |a| a);
    log::info!("startserv http listening on {local}: the web client at http://{local}/, WebSocket at ws://{local}{}", http_api::WS_PATH);
    Ok(Some(http))
}

/// Runs the server until it is asked to stop.
pub fn run(config: Config) -> Result<(), StartError> {
    let fd = config::raise_fd_limit();
    let max_connections = config.resolved_max_connections(&fd);
    let addr = config.listen_addr()?;
    let store = open_store(&config)?;

    let auth = &config.auth;
    let hasher =
        PasswordHasher::new(auth.argon2_params()).map_err(|e| StartError::Auth(e.to_string()))?;

    let (hub, fill_requests) = Hub::new();
    let hub = Arc::new(hub);
    let metrics = Arc::new(Metrics::new(&NodeLabels {
        node: config.cluster.node_id.clone(),
        cluster: if config.cluster_enabled() {
            config.cluster.name.clone()
        } else {
            String::new()
        },
    }));
    metrics.watch_hub(Arc::clone(&hub));
    let w = &config.writer;
    let (committed, to_deliver) = crossbeam_channel::bounded(delivery::DELIVERY_QUEUE);
    let mark = Arc::new(DeliveryMark::default());
    let (writer, writer_loop, watchdog) = Writer::new(
        Arc::clone(&store),
        WriterSettings {
            batch_max: w.batch_max,
            batch_wait: config.resolved_batch_wait(),
            queue_capacity: w.queue_capacity,
            commit_deadline: w.commit_deadline(),
            max_queue_wait: w.max_queue_wait(),
        },
        committed,
        Arc::clone(&mark),
        Arc::clone(&metrics),
    );
    // The threads behind the engine's, in the order a message passes them; each is
    // essential (a panic ends the process, see reactor::spawn_essential).
    let cluster = start_cluster(&config, &hub)?;
    if let Some(cluster) = &cluster {
        metrics.watch_cluster(Arc::clone(cluster));
    }
    let health = Arc::new(Health::new(cluster.is_some()));
    metrics.watch_health(Arc::clone(&health));
    let pushes: Arc<dyn PushRoute> = match cluster.as_ref().and_then(|c| c.route(Arc::clone(&hub)))
    {
        Some(route) => Arc::new(route),
        None => Arc::clone(&hub) as Arc<dyn PushRoute>,
    };
    let delivery_pushes = Arc::clone(&pushes);
    let filler = Filler {
        store: Arc::clone(&store),
        hub: Arc::clone(&hub),
        mark: Arc::clone(&mark),
        metrics: Arc::clone(&metrics),
    };
    let app_threads = [
        spawn_essential("writer".into(), move || writer_loop.run())?,
        spawn_essential("writer-watchdog".into(), move || watchdog.run())?,
        spawn_essential("delivery".into(), move || {
            delivery::run(&*delivery_pushes, to_deliver, &mark)
        })?,
    ];
    // Threads that run until told to stop: the gap filler (the cluster stops first, as
    // its subscriber feeds the hub), the janitor and, with an HTTP port, the health
    // probes.
    let stop_helpers = Arc::new(AtomicBool::new(false));
    let stop = Arc::clone(&stop_helpers);
    let gap_filler = spawn_essential("gap-fill".into(), move || {
        gap_fill::run(filler, fill_requests, stop)
    })?;
    let (janitor_store, stop) = (Arc::clone(&store), Arc::clone(&stop_helpers));
    let janitor = spawn_essential("janitor".into(), move || janitor::run(janitor_store, stop))?;
    let mut helpers = vec![gap_filler, janitor];
    if config.server.http_port.is_some() {
        helpers.extend(start_probes(
            &health,
            &store,
            cluster.as_ref(),
            &stop_helpers,
        )?);
    }
    let s = &config.server;
    let settings = Settings {
        max_frame: s.max_frame,
        login_timeout: s.login_timeout(),
        idle_timeout: s.idle_timeout(),
        rate_limit_per_sec: s.rate_limit_per_sec,
        rate_limit_burst: s.rate_limit_burst,
        token_ttl: auth.token_ttl(),
        allow_register: s.allow_register,
    };
    let (reactors, workers) = (config.resolved_reactors(), config.resolved_workers());
    let guard = PasswordGuard::new(auth.guard_settings(workers));
    let acks_pending = writer.in_flight();
    let app = Arc::new(App::new(
        settings,
        Arc::clone(&store),
        Routing {
            hub,
            pushes,
            cluster: cluster.clone(),
        },
        writer,
        hasher,
        guard,
        Arc::clone(&metrics),
    ));
    let http = start_http(
        &config,
        engine(&config, max_connections, &acks_pending),
        &app,
        &health,
    )?;

    let server = engine(&config, max_connections, &acks_pending)
        .name("chat")
        .bind(addr)
        .codec(LengthPrefixed::new(s.max_frame))
        .start(ChatHandler::new(Arc::clone(&app)))?;
    let local = server.local_addr().map_or(addr, |a| a);
    log::info!("startserv listening on {local}");
    metrics.watch_engine(Arc::clone(server.counters()));
    if let Some(http) = &http {
        metrics.watch_http_engine(Arc::clone(http.counters()));
    }
    if let Some(cluster) = &cluster {
        cluster.set_events(Arc::new(NodeEvents(Arc::downgrade(&app))));
        let advertise = config.resolved_advertise(local);
        let ws = http
            .as_ref()
            .and_then(reactor::Server::local_addr)
            .map(|http| Config::resolved_ws(&advertise, http.port()));
        cluster.set_advertise(advertise, ws);
    }
    log::info!("store: {}", store.describe());
    log::info!(
        "threads: {reactors} sub-reactors, {workers} workers, 1 writer; \
         file limit {} (hard {}), max_connections {max_connections}",
        fd.soft,
        fd.hard
    );
    log::info!(
        "limits: max_frame {} B, output high-water {} B, login {} s, idle {} s, \
         rate {}/s burst {}, writer batch {} / {} ms, queue {}, commit deadline {} ms",
        s.max_frame,
        s.output_high_water,
        s.login_timeout_secs,
        s.idle_timeout_secs,
        s.rate_limit_per_sec,
        s.rate_limit_burst,
        w.batch_max,
        config.resolved_batch_wait().as_millis(),
        w.queue_capacity,
        w.commit_deadline_ms
    );
    log::info!(
        "abuse limits: {} connections per address; input per connection {} B / {} \
         requests, at most {} B/s; in total {} B / {}; password work {}/s burst {} per address, \
         hashing backlog {} ms, {} failures before delays (at most {} s)",
        s.max_connections_per_ip,
        s.conn_input_bytes,
        s.conn_input_frames,
        s.conn_input_bytes_per_sec,
        s.worker_queue_bytes,
        s.worker_queue,
        auth.password_rate_per_ip,
        auth.password_burst_per_ip,
        auth.hash_backlog_ms,
        auth.failed_logins_before_delay,
        auth.failed_login_max_delay_secs
    );

    server.shutdown_handle().on_signals()?;
    server.join();
    if let Some(http) = http {
        http.shutdown();
    }
    log::info!("connections closed; committing what the writer still holds");
    drop(app); // the last handle to the writer: it drains its queue and exits
               // Writer, watchdog and delivery finish in that order as each one's input closes.
    for thread in app_threads {
        if thread.join().is_err() {
            log::error!("an application thread panicked");
        }
    }
    if let Some(cluster) = cluster {
        cluster.stop();
    }
    stop_helpers.store(true, Ordering::Release);
    for thread in helpers {
        if thread.join().is_err() {
            log::error!("a helper thread panicked");
        }
    }
    log::info!("stopped");
    Ok(())
}
