//! The sections of the TOML file (`[server]`, `[store]`, `[writer]`, `[auth]`, `[log]`,
//! `[cluster]`): one struct each, with its keys, their units, and their built-in defaults.
//!
//! Plain data: deserialised by serde (unknown keys rejected), read by the rest of the
//! server, never checked here (ranges are checked in `validate.rs`). The only logic is
//! unit conversion (seconds and milliseconds to [`Duration`]), the `Debug` of `StoreConfig`
//! and `ClusterConfig`, which hides the database and Redis passwords (see `redact.rs`), and
//! [`generate_node_id`].

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::redact::redact_url;
#[cfg(doc)]
use super::Config;
use crate::auth::Argon2Params;
use crate::password_guard::GuardSettings;

/// Default TCP port the server listens on.
pub const DEFAULT_PORT: u16 = 12345;
/// Name of the SQLite database file inside `store.data_dir`.
pub const SQLITE_FILE: &str = "chat.db";

/// The `[server]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// IP address to bind (`0.0.0.0` = every IPv4 interface, `::` = every interface).
    pub bind: String,
    /// TCP port (0 lets the OS pick a free port, useful in tests).
    pub port: u16,
    /// Port of the HTTP listener (the web client at `/`, the WebSocket transport at
    /// `/ws`, `GET /healthz`, `GET /metrics`), on the same address as the TCP listener.
    /// `None` (the key left out): no HTTP listener; 0 lets the OS pick a free port. Flag:
    /// `--http-port`.
    pub http_port: Option<u16>,
    /// Browser origins (`scheme://host[:port]`) whose pages may open `/ws`; empty (the
    /// default) allows pages from the same host name as the request's `Host`, on any port
    /// (the node's own page, a gateway on the same machine). Clients that are not
    /// browsers send no `Origin` and are always allowed.
    pub ws_origins: Vec<String>,
    /// Reactor (event-loop) threads; 0 = number of cores. See [`Config::resolved_reactors`].
    pub reactors: usize,
    /// Handler threads; 0 = 4 x number of cores. See [`Config::resolved_workers`].
    pub workers: usize,
    /// Connection cap; 0 = derived from the descriptor limit. See
    /// [`Config::resolved_max_connections`].
    pub max_connections: usize,
    /// Descriptors kept back for the store, log files and accept headroom.
    pub fd_reserve: u64,
    /// Largest frame a client may send, in bytes (32768..=16777216).
    pub max_frame: usize,
    /// Bytes queued for a client beyond which it is treated as a slow consumer
    /// (at least `max_frame + 4`).
    pub output_high_water: usize,
    /// Connections one source address (an IPv6 /64) may hold open (at least 1).
    pub max_connections_per_ip: usize,
    /// Bytes of requests one connection may have waiting for a handler (each frame
    /// counted as its length plus 64) before the server stops reading it.
    pub conn_input_bytes: usize,
    /// Requests one connection may have waiting before the server stops reading it.
    pub conn_input_frames: usize,
    /// Bytes per second one connection may send, sustained (bursts of twice that);
    /// faster senders are read at this rate. Requests per second are limited likewise,
    /// to twice `rate_limit_per_sec` (bursts of twice `rate_limit_burst`).
    pub conn_input_bytes_per_sec: usize,
    /// Events that may wait for a handler thread, over all connections (at least 1).
    pub worker_queue: usize,
    /// Bytes of requests that may wait for a handler thread, over all connections.
    pub worker_queue_bytes: usize,
    /// Seconds a new connection has to log in.
    pub login_timeout_secs: u64,
    /// Seconds of silence after which a connection is closed.
    pub idle_timeout_secs: u64,
    /// Requests per second a connection may sustain (token-bucket refill rate).
    pub rate_limit_per_sec: u32,
    /// Requests a connection may send in a burst (token-bucket capacity).
    pub rate_limit_burst: u32,
    /// Seconds to let in-flight work finish on shutdown.
    pub shutdown_grace_secs: u64,
    /// Whether `register` over TCP/WebSocket is served (default `true`). A deployment that
    /// requires verified e-mail addresses sets it to `false` and registers through the
    /// gateway; `register` is then refused with `bad_request`.
    pub allow_register: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "0.0.0.0".to_string(),
            port: DEFAULT_PORT,
            http_port: None,
            ws_origins: Vec::new(),
            reactors: 0,
            workers: 0,
            max_connections: 0,
            fd_reserve: 256,
            max_frame: 65536,
            output_high_water: 4 * 1024 * 1024,
            max_connections_per_ip: 1024,
            conn_input_bytes: 256 * 1024,
            conn_input_frames: 1024,
            conn_input_bytes_per_sec: 1024 * 1024,
            worker_queue: 65536,
            worker_queue_bytes: 256 * 1024 * 1024,
            login_timeout_secs: 30,
            idle_timeout_secs: 120,
            rate_limit_per_sec: 500,
            rate_limit_burst: 1000,
            shutdown_grace_secs: 5,
            allow_register: true,
        }
    }
}

impl ServerConfig {
    /// `login_timeout_secs` as a [`Duration`].
    pub fn login_timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout_secs)
    }

    /// `idle_timeout_secs` as a [`Duration`].
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    /// `shutdown_grace_secs` as a [`Duration`].
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

/// The `[store]` section.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Directory holding the SQLite file `chat.db` and, by default, `logs/`. Relative paths are
    /// relative to the working directory, not to the config file.
    pub data_dir: PathBuf,
    /// MySQL/MariaDB URL; `None` (an empty string in the file or flag) means SQLite.
    pub mysql_url: Option<String>,
    /// Connections in the MySQL pool.
    pub mysql_pool_size: usize,
    /// Connections in the SQLite (reader) pool.
    pub sqlite_pool_size: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            data_dir: PathBuf::from("./data"),
            mysql_url: None,
            mysql_pool_size: 16,
            sqlite_pool_size: 4,
        }
    }
}

impl fmt::Debug for StoreConfig {
    /// Like a derived `Debug`, but the password in `mysql_url` is replaced by `***` so the
    /// configuration can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("data_dir", &self.data_dir)
            .field("mysql_url", &self.mysql_url.as_deref().map(redact_url))
            .field("mysql_pool_size", &self.mysql_pool_size)
            .field("sqlite_pool_size", &self.sqlite_pool_size)
            .finish()
    }
}

/// The `[writer]` section: the thread that commits messages in batches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WriterConfig {
    /// Messages per transaction (1..=10000).
    pub batch_max: usize,
    /// Milliseconds the writer waits to fill a batch (0..=1000); unset: depends on the
    /// store, see [`Config::resolved_batch_wait`].
    pub batch_wait_ms: Option<u64>,
    /// Messages that may wait for the writer; when full, senders get `server_busy`.
    pub queue_capacity: usize,
    /// Milliseconds within which a message must be committed, else its sender gets
    /// `server_busy`.
    pub commit_deadline_ms: u64,
    /// Milliseconds a message may expect to wait for the writer (0..=60000); a message
    /// that would wait longer is refused at once with `server_busy` and
    /// `retry_after_ms`. 0: only `queue_capacity` bounds the wait.
    pub max_queue_wait_ms: u64,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_max: 1024,
            batch_wait_ms: None,
            queue_capacity: 65536,
            commit_deadline_ms: 5000,
            max_queue_wait_ms: 1000,
        }
    }
}

impl WriterConfig {
    /// `commit_deadline_ms` as a [`Duration`].
    pub fn commit_deadline(&self) -> Duration {
        Duration::from_millis(self.commit_deadline_ms)
    }

    /// `max_queue_wait_ms` as a [`Duration`].
    pub fn max_queue_wait(&self) -> Duration {
        Duration::from_millis(self.max_queue_wait_ms)
    }
}

/// The `[auth]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// Argon2id memory cost in KiB (OWASP: 19456 = 19 MiB).
    pub argon2_memory_kib: u32,
    /// Argon2id time cost (passes).
    pub argon2_iterations: u32,
    /// Argon2id lanes.
    pub argon2_parallelism: u32,
    /// Lifetime of a session token in seconds (default 30 days).
    pub token_ttl_secs: u64,
    /// Password attempts (`login` with a password, `register`) per second one source
    /// address earns (token-bucket refill).
    pub password_rate_per_ip: u32,
    /// Password attempts one source address may make in a burst (token-bucket size).
    pub password_burst_per_ip: u32,
    /// Milliseconds of queued hashing beyond which a password attempt is refused with
    /// `server_busy` instead of waiting.
    pub hash_backlog_ms: u64,
    /// Failed passwords for one account from one source address before each further
    /// attempt from there must wait.
    pub failed_logins_before_delay: u32,
    /// The longest such wait, in seconds (it doubles with each further failure).
    pub failed_login_max_delay_secs: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            argon2_memory_kib: 19456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            token_ttl_secs: 30 * 24 * 3600,
            password_rate_per_ip: 3,
            password_burst_per_ip: 10,
            hash_backlog_ms: 1000,
            failed_logins_before_delay: 5,
            failed_login_max_delay_secs: 300,
        }
    }
}

impl AuthConfig {
    /// `token_ttl_secs` as a [`Duration`].
    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_secs)
    }

    /// The argon2id cost.
    pub fn argon2_params(&self) -> Argon2Params {
        Argon2Params {
            memory_kib: self.argon2_memory_kib,
            iterations: self.argon2_iterations,
            parallelism: self.argon2_parallelism,
        }
    }

    /// The password guard's settings for a process with `workers` worker threads (half
    /// of them may hash at once).
    pub fn guard_settings(&self, workers: usize) -> GuardSettings {
        GuardSettings {
            rate_per_ip: self.password_rate_per_ip,
            burst_per_ip: self.password_burst_per_ip,
            hash_backlog: Duration::from_millis(self.hash_backlog_ms),
            max_hashing: (workers / 2).max(1),
            failures_before_delay: self.failed_logins_before_delay,
            max_delay: Duration::from_secs(self.failed_login_max_delay_secs),
        }
    }
}

/// The `[log]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error|warn|info|debug|trace|off`, or a flexi_logger spec such as
    /// `info,chat::store=debug`.
    pub level: String,
    /// Log directory; `None` (an empty string in the file) means `<data_dir>/logs`.
    /// See [`Config::log_dir`].
    pub dir: Option<PathBuf>,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".to_string(),
            dir: None,
        }
    }
}

/// Default `cluster.name`: the prefix of every Redis key and channel of the cluster.
pub const DEFAULT_CLUSTER_NAME: &str = "chat";

/// The `[cluster]` section: running several nodes that share one MySQL/MariaDB database
/// and one Redis (see `cluster.md`). Cluster mode is on when `redis_url` is set; see
/// [`Config::cluster_enabled`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// Redis URL, `redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]`; `None` (an empty string in
    /// the file or flag) means a single node. Default `None`. Flag: `--redis`. Requires
    /// `store.mysql_url`. Its password is hidden in `Debug` output.
    pub redis_url: Option<String>,
    /// Cluster name, 1..=64 characters of `A-Z a-z 0-9 _ . -`; every Redis key and channel of
    /// the cluster starts with `NAME:`. Default `"chat"`. Flag: `--cluster`.
    pub name: String,
    /// This node's id, 1..=64 characters of `A-Z a-z 0-9 _ . -`. Default `""`: generated
    /// (`node-` and 12 random hex digits, see [`generate_node_id`]) when the configuration
    /// is loaded in cluster mode, so it is unique per process start and stable for the
    /// process. Flag: `--node-id`.
    pub node_id: String,
    /// The `HOST:PORT` clients should connect to, as handed out by the gateway. Default
    /// `""`: the bound address, or `127.0.0.1:PORT` when bound to `0.0.0.0` or `::`; see
    /// [`Config::resolved_advertise`]. Flag: `--advertise`.
    pub advertise: String,
    /// Milliseconds between two refreshes of this node's registration (and load) in Redis,
    /// 50..=60000. Default 2000.
    pub heartbeat_ms: u64,
    /// Milliseconds after its last refresh at which a node is dead to the others, at least
    /// 3 x `heartbeat_ms` and at most 600000. Default 10000.
    pub node_ttl_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            redis_url: None,
            name: DEFAULT_CLUSTER_NAME.to_string(),
            node_id: String::new(),
            advertise: String::new(),
            heartbeat_ms: 2000,
            node_ttl_ms: 10_000,
        }
    }
}

impl ClusterConfig {
    /// `heartbeat_ms` as a [`Duration`].
    pub fn heartbeat(&self) -> Duration {
        Duration::from_millis(self.heartbeat_ms)
    }

    /// `node_ttl_ms` as a [`Duration`].
    pub fn node_ttl(&self) -> Duration {
        Duration::from_millis(self.node_ttl_ms)
    }
}

impl fmt::Debug for ClusterConfig {
    /// Like a derived `Debug`, but the password in `redis_url` is replaced by `***` so the
    /// configuration can be logged.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("redis_url", &self.redis_url.as_deref().map(redact_url))
            .field("name", &self.name)
            .field("node_id", &self.node_id)
            .field("advertise", &self.advertise)
            .field("heartbeat_ms", &self.heartbeat_ms)
            .field("node_ttl_ms", &self.node_ttl_ms)
            .finish()
    }
}

/// A fresh node id: `node-` followed by 12 random hex digits (48 random bits), e.g.
/// `node-3fa09c1b77e2`. Used for an empty `cluster.node_id` in cluster mode.
pub fn generate_node_id() -> String {
    format!("node-{}", hex::encode(rand::random::<[u8; 6]>()))
}
