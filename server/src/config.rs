//! Server configuration: built-in defaults, an optional TOML file and command-line flags.
//!
//! Precedence is `defaults < --config FILE < flags`. Every key of the TOML file is optional
//! (see `server.example.toml` at the repository root for the full, commented schema), and
//! unknown keys are rejected so that a misspelt key is an error naming it rather than a setting
//! silently ignored. [`Config::from_args`] parses, merges and validates in one step; every error
//! is a single line starting with `config error:` that names the offending key, flag or file.
//!
//! The module also owns the file-descriptor limit logic ([`raise_fd_limit`] and
//! [`Config::resolved_max_connections`]) because the connection cap is derived from it.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

/// Default TCP port the server listens on.
pub const DEFAULT_PORT: u16 = 12345;
/// Smallest accepted `server.max_frame`, in bytes: a `send_message` of 4,096 characters
/// that all escape to `\u00XX` (six bytes each) must still fit in one frame, and so must
/// its push and any single message in a `sync` or `history` page.
pub const MIN_FRAME: usize = 32 * 1024;
/// Largest accepted `server.max_frame`, in bytes (16 MiB).
pub const MAX_FRAME: usize = 16 * 1024 * 1024;
/// Largest accepted `server.reactors` / `--reactors`.
pub const MAX_REACTORS: usize = 256;
/// Largest accepted `server.workers` / `--workers`.
pub const MAX_WORKERS: usize = 4096;
/// Smallest `server.conn_input_bytes` and `server.worker_queue_bytes`: one 4 KiB request.
pub const MIN_CONN_INPUT: usize = 4096;
/// Name of the SQLite database file inside `store.data_dir`.
pub const SQLITE_FILE: &str = "chat.db";

/// An error while building the configuration. Its `Display` is one line, ready to print.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The command line could not be parsed, or `--help`/`--version` was asked for.
    ///
    /// Call [`clap::Error::exit`] (or [`ConfigError::exit`]) on it: clap prints help and version
    /// to stdout and exits 0, and prints usage errors to stderr and exits 2.
    #[error("{0}")]
    Cli(clap::Error),
    /// The `--config` file could not be read.
    #[error("config error: cannot read config file {}: {source}", path.display())]
    Read {
        /// The path given to `--config`.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The `--config` file is not valid TOML or does not match the schema (unknown key, wrong
    /// type, value out of the type's range).
    #[error("config error: {}:{line}: {}{message}", path.display(), key_prefix(key))]
    Toml {
        /// The path given to `--config`.
        path: PathBuf,
        /// 1-based line of the error in the file (0 when unknown).
        line: usize,
        /// The dotted key the error is about, e.g. `server.maxframe`, when it can be told.
        key: Option<String>,
        /// TOML's own description of the problem, on one line.
        message: String,
    },
    /// A value has the right type but is out of range or malformed.
    #[error("config error: {key}{}: {reason}", value_suffix(key, value))]
    Invalid {
        /// The dotted TOML key (`server.max_frame`) or, when the value came from the command
        /// line, the flag (`--workers`).
        key: String,
        /// The offending value as written (strings quoted).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
}

fn key_prefix(key: &Option<String>) -> String {
    key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default()
}

fn value_suffix(key: &str, value: &str) -> String {
    if key.starts_with("--") || key == "PORT" {
        format!(" {value}")
    } else {
        format!(" = {value}")
    }
}

impl ConfigError {
    /// The key or flag this error is about, if any (used by tests and for diagnostics).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Toml { key, .. } => key.as_deref(),
            ConfigError::Cli(_) | ConfigError::Read { .. } => None,
        }
    }

    /// Reports the error and ends the process; meant for `main` before logging is set up.
    ///
    /// For [`ConfigError::Cli`] this is [`clap::Error::exit`]: `--help` and `--version` print to
    /// stdout and exit 0, usage errors print to stderr and exit 2. Every other error is printed
    /// as its single line to stderr and the process exits with status 2.
    pub fn exit(&self) -> ! {
        match self {
            ConfigError::Cli(e) => e.exit(),
            other => {
                eprintln!("{other}");
                std::process::exit(2)
            }
        }
    }
}

/// Command-line interface of `startserv`.
#[derive(Debug, Parser)]
#[command(
    name = "startserv",
    version,
    about = "startserv: a real-time chat server",
    after_help = "Every setting (and many more that have no flag) can also be set in a TOML file \
                  given with --config; server.example.toml at the repository root lists every \
                  key with its default, unit and range. Precedence: built-in defaults < \
                  --config FILE < command-line flags."
)]
struct Cli {
    /// TCP port to listen on [default: 12345, or server.port from the config file]
    #[arg(value_name = "PORT")]
    port: Option<u16>,

    /// Read settings from this TOML file (see server.example.toml for every key)
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// IP address to bind, e.g. 0.0.0.0, 127.0.0.1 or :: [default: 0.0.0.0]
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,

    /// Store messages in MySQL/MariaDB at this URL, e.g. mysql://root@127.0.0.1:3306/chat;
    /// an empty string means SQLite in DATA_DIR/chat.db [default: SQLite]
    #[arg(long, value_name = "URL")]
    mysql: Option<String>,

    /// Directory for the SQLite database (chat.db) and the logs/ directory [default: ./data]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Handler threads (they block on the database); 0 = 4 x number of cores [default: 0]
    #[arg(long, value_name = "N")]
    workers: Option<usize>,

    /// Network event-loop threads; 0 = number of cores [default: 0]
    #[arg(long, value_name = "N")]
    reactors: Option<usize>,

    /// Log level (error|warn|info|debug|trace) or a flexi_logger spec such as
    /// "info,chat::store=debug" [default: info]
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
}

/// The whole configuration, after defaults, the config file and flags have been merged.
///
/// Build it with [`Config::from_args`] (or [`Config::from_iter`] in tests); `Config::default()`
/// gives the built-in defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// `[server]`: network, threads, limits and timeouts.
    pub server: ServerConfig,
    /// `[store]`: where messages and accounts are kept.
    pub store: StoreConfig,
    /// `[writer]`: the batching message writer.
    pub writer: WriterConfig,
    /// `[auth]`: password hashing and session tokens.
    pub auth: AuthConfig,
    /// `[log]`: log level and directory.
    pub log: LogConfig,
    /// Keys whose value came from a command-line flag, mapped to that flag, so validation
    /// errors name what the user actually typed.
    #[serde(skip)]
    flag_keys: BTreeMap<&'static str, &'static str>,
}

/// The `[server]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// IP address to bind (`0.0.0.0` = every IPv4 interface, `::` = every interface).
    pub bind: String,
    /// TCP port (0 lets the OS pick a free port, useful in tests).
    pub port: u16,
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
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "0.0.0.0".to_string(),
            port: DEFAULT_PORT,
            reactors: 0,
            workers: 0,
            max_connections: 0,
            fd_reserve: 256,
            max_frame: 65536,
            output_high_water: 4 * 1024 * 1024,
            max_connections_per_ip: 1024,
            conn_input_bytes: 256 * 1024,
            conn_input_frames: 1024,
            worker_queue: 65536,
            worker_queue_bytes: 256 * 1024 * 1024,
            login_timeout_secs: 30,
            idle_timeout_secs: 120,
            rate_limit_per_sec: 500,
            rate_limit_burst: 1000,
            shutdown_grace_secs: 5,
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

/// Returns `url` with the password of its user-info part (`scheme://user:PASSWORD@host`)
/// replaced by `***`, for logging.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_string(),
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
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            batch_max: 1024,
            batch_wait_ms: None,
            queue_capacity: 65536,
            commit_deadline_ms: 5000,
        }
    }
}

impl WriterConfig {
    /// `commit_deadline_ms` as a [`Duration`].
    pub fn commit_deadline(&self) -> Duration {
        Duration::from_millis(self.commit_deadline_ms)
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

/// The process's `RLIMIT_NOFILE`, as returned by [`raise_fd_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdLimit {
    /// The soft limit: how many descriptors the process may have open.
    pub soft: u64,
    /// The hard limit: the ceiling the soft limit can be raised to without privileges.
    pub hard: u64,
}

/// Soft limit assumed when the limit cannot even be read.
const FALLBACK_FD_LIMIT: u64 = 1024;
/// Linux's default `fs.nr_open`, tried when the hard limit is "unlimited".
const NR_OPEN_DEFAULT: u64 = 1 << 20;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the limits now in force.
///
/// Never panics: if raising fails, the current values are returned (and a warning is logged);
/// if they cannot even be read, `{ soft: 1024, hard: 1024 }` is assumed. When the hard limit
/// is "unlimited" (which Linux refuses as a soft value), 2^20 (Linux's default `nr_open`) is
/// tried instead. Call it early in `main`, before sockets are opened, and pass the result to
/// [`Config::resolved_max_connections`].
pub fn raise_fd_limit() -> FdLimit {
    use rlimit::Resource;

    let (soft, hard) = match Resource::NOFILE.get() {
        Ok(limits) => limits,
        Err(e) => {
            log::warn!("cannot read RLIMIT_NOFILE ({e}); assuming {FALLBACK_FD_LIMIT}");
            return FdLimit {
                soft: FALLBACK_FD_LIMIT,
                hard: FALLBACK_FD_LIMIT,
            };
        }
    };
    if soft < hard {
        let raised = Resource::NOFILE.set(hard, hard).or_else(|first| {
            if hard > NR_OPEN_DEFAULT && soft < NR_OPEN_DEFAULT {
                Resource::NOFILE.set(NR_OPEN_DEFAULT, hard)
            } else {
                Err(first)
            }
        });
        if let Err(e) = raised {
            log::warn!("cannot raise RLIMIT_NOFILE from {soft} to {hard}: {e}");
        }
    }
    match Resource::NOFILE.get() {
        Ok((soft, hard)) => FdLimit { soft, hard },
        Err(_) => FdLimit { soft, hard },
    }
}

impl Config {
    /// Parses `std::env::args_os()`, reads the `--config` file if given, applies the flags on
    /// top and validates the result.
    ///
    /// # Errors
    /// [`ConfigError::Cli`] for `--help`/`--version` and bad command lines (call
    /// [`ConfigError::exit`] on it), otherwise a one-line error naming the key, flag or file.
    pub fn from_args() -> Result<Config, ConfigError> {
        Config::from_iter(std::env::args_os())
    }

    /// Like [`Config::from_args`], but with an explicit argument list whose first item is the
    /// program name (as in `std::env::args`). Meant for tests.
    ///
    /// # Errors
    /// See [`Config::from_args`].
    #[allow(clippy::should_implement_trait)] // not a collection: fallible, and parses a CLI
    pub fn from_iter<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args).map_err(ConfigError::Cli)?;
        let mut config = match &cli.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        config.apply_flags(cli);
        config.validate()?;
        Ok(config)
    }

    /// Reads a TOML config file on top of the defaults (no flags, no validation).
    ///
    /// # Errors
    /// [`ConfigError::Read`] if the file cannot be read, [`ConfigError::Toml`] if it is not
    /// valid TOML or does not match the schema.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_toml_str(&text, path)
    }

    /// Parses TOML text on top of the defaults (no flags, no validation); `path` is only used
    /// in error messages.
    ///
    /// # Errors
    /// [`ConfigError::Toml`] if the text is not valid TOML or does not match the schema.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        config.normalize();
        Ok(config)
    }

    /// Turns empty strings meaning "unset" into `None`.
    fn normalize(&mut self) {
        if self.store.mysql_url.as_deref().is_some_and(str::is_empty) {
            self.store.mysql_url = None;
        }
        if self
            .log
            .dir
            .as_deref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            self.log.dir = None;
        }
    }

    fn apply_flags(&mut self, cli: Cli) {
        if let Some(port) = cli.port {
            self.server.port = port;
            self.flag_keys.insert("server.port", "PORT");
        }
        if let Some(bind) = cli.bind {
            self.server.bind = bind;
            self.flag_keys.insert("server.bind", "--bind");
        }
        if let Some(url) = cli.mysql {
            self.store.mysql_url = Some(url);
            self.flag_keys.insert("store.mysql_url", "--mysql");
        }
        if let Some(dir) = cli.data_dir {
            self.store.data_dir = dir;
            self.flag_keys.insert("store.data_dir", "--data-dir");
        }
        if let Some(workers) = cli.workers {
            self.server.workers = workers;
            self.flag_keys.insert("server.workers", "--workers");
        }
        if let Some(reactors) = cli.reactors {
            self.server.reactors = reactors;
            self.flag_keys.insert("server.reactors", "--reactors");
        }
        if let Some(level) = cli.log_level {
            self.log.level = level;
            self.flag_keys.insert("log.level", "--log-level");
        }
        self.normalize();
    }

    /// Checks every value's range and the relations between values.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for the first bad value, naming its key (or its flag when the
    /// value came from the command line), e.g.
    /// `config error: server.max_frame = 10: must be between 32768 and 16777216`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let s = &self.server;
        if s.bind.parse::<IpAddr>().is_err() {
            return Err(self.invalid(
                "server.bind",
                format!("{:?}", s.bind),
                "must be an IP address such as 0.0.0.0, 127.0.0.1 or ::",
            ));
        }
        self.range("server.reactors", s.reactors, 0, MAX_REACTORS)?;
        self.range("server.workers", s.workers, 0, MAX_WORKERS)?;
        self.range("server.max_frame", s.max_frame, MIN_FRAME, MAX_FRAME)?;
        if s.output_high_water < s.max_frame + 4 {
            return Err(self.invalid(
                "server.output_high_water",
                s.output_high_water.to_string(),
                format!(
                    "must be at least server.max_frame + 4 = {}",
                    s.max_frame + 4
                ),
            ));
        }
        self.at_least("server.max_connections_per_ip", s.max_connections_per_ip, 1)?;
        self.at_least("server.worker_queue", s.worker_queue, 1)?;
        self.at_least(
            "server.worker_queue_bytes",
            s.worker_queue_bytes,
            MIN_CONN_INPUT,
        )?;
        self.range(
            "server.conn_input_bytes",
            s.conn_input_bytes,
            MIN_CONN_INPUT,
            s.worker_queue_bytes,
        )?;
        self.range("server.conn_input_frames", s.conn_input_frames, 1, 1 << 20)?;
        self.at_least("server.login_timeout_secs", s.login_timeout_secs, 1)?;
        self.at_least("server.idle_timeout_secs", s.idle_timeout_secs, 1)?;
        self.at_least("server.rate_limit_per_sec", s.rate_limit_per_sec, 1)?;
        self.at_least("server.rate_limit_burst", s.rate_limit_burst, 1)?;
        self.range("server.shutdown_grace_secs", s.shutdown_grace_secs, 0, 3600)?;

        let st = &self.store;
        if st.data_dir.as_os_str().is_empty() {
            return Err(self.invalid("store.data_dir", "\"\"", "must not be empty"));
        }
        if let Some(url) = &st.mysql_url {
            if !url.starts_with("mysql://") {
                return Err(self.invalid(
                    "store.mysql_url",
                    format!("{:?}", redact_url(url)),
                    "must start with mysql:// (e.g. mysql://user:pass@127.0.0.1:3306/chat), \
                     or be empty to use SQLite",
                ));
            }
        }
        self.range("store.mysql_pool_size", st.mysql_pool_size, 1, 1024)?;
        self.range("store.sqlite_pool_size", st.sqlite_pool_size, 1, 256)?;

        let w = &self.writer;
        self.range("writer.batch_max", w.batch_max, 1, 10_000)?;
        if let Some(wait) = w.batch_wait_ms {
            self.range("writer.batch_wait_ms", wait, 0, 1000)?;
        }
        self.at_least("writer.queue_capacity", w.queue_capacity, 1)?;
        self.at_least("writer.commit_deadline_ms", w.commit_deadline_ms, 1)?;

        let a = &self.auth;
        self.range("auth.argon2_parallelism", a.argon2_parallelism, 1, 64)?;
        self.range("auth.argon2_iterations", a.argon2_iterations, 1, 100)?;
        // argon2 requires m >= 8 * p; the ceiling (4 GiB) only catches unit mistakes.
        let min_memory = 8 * a.argon2_parallelism;
        if a.argon2_memory_kib < min_memory || a.argon2_memory_kib > 4 * 1024 * 1024 {
            return Err(self.invalid(
                "auth.argon2_memory_kib",
                a.argon2_memory_kib.to_string(),
                format!(
                    "must be between 8 x auth.argon2_parallelism = {min_memory} and 4194304 (KiB)"
                ),
            ));
        }
        self.at_least("auth.token_ttl_secs", a.token_ttl_secs, 1)?;
        self.at_least("auth.password_rate_per_ip", a.password_rate_per_ip, 1)?;
        self.at_least("auth.password_burst_per_ip", a.password_burst_per_ip, 1)?;
        self.range("auth.hash_backlog_ms", a.hash_backlog_ms, 1, 60_000)?;
        self.at_least(
            "auth.failed_logins_before_delay",
            a.failed_logins_before_delay,
            1,
        )?;
        self.range(
            "auth.failed_login_max_delay_secs",
            a.failed_login_max_delay_secs,
            1,
            86_400,
        )?;

        if let Err(reason) = check_log_spec(&self.log.level) {
            return Err(self.invalid("log.level", format!("{:?}", self.log.level), reason));
        }
        Ok(())
    }

    /// The name to show for `key`: the flag if the value came from the command line.
    fn label(&self, key: &'static str) -> String {
        self.flag_keys.get(key).copied().unwrap_or(key).to_string()
    }

    fn invalid(
        &self,
        key: &'static str,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> ConfigError {
        ConfigError::Invalid {
            key: self.label(key),
            value: value.into(),
            reason: reason.into(),
        }
    }

    fn range<N>(&self, key: &'static str, value: N, min: N, max: N) -> Result<(), ConfigError>
    where
        N: PartialOrd + fmt::Display + Copy,
    {
        if value < min || value > max {
            return Err(self.invalid(
                key,
                value.to_string(),
                format!("must be between {min} and {max}"),
            ));
        }
        Ok(())
    }

    fn at_least<N>(&self, key: &'static str, value: N, min: N) -> Result<(), ConfigError>
    where
        N: PartialOrd + fmt::Display + Copy,
    {
        if value < min {
            return Err(self.invalid(key, value.to_string(), format!("must be at least {min}")));
        }
        Ok(())
    }

    /// The number of reactor threads: `server.reactors`, or the number of cores when it is 0.
    pub fn resolved_reactors(&self) -> usize {
        match self.server.reactors {
            0 => cores(),
            n => n,
        }
    }

    /// How long the writer waits to fill a batch: `writer.batch_wait_ms`, or by default 0
    /// on MySQL/MariaDB and 2 ms on SQLite. A MySQL commit costs the server little beyond
    /// its rows, and messages arriving during one commit form the next batch anyway;
    /// waiting only adds latency (p50 at 20,000 msg/s offered: 15–17 ms with 2 ms, 5–8 ms
    /// with 0, same run). A SQLite commit writes every page it touched to the log and
    /// syncs it, so committing a few messages alone costs more than waiting 2 ms.
    pub fn resolved_batch_wait(&self) -> Duration {
        let default = if self.store.mysql_url.is_some() { 0 } else { 2 };
        Duration::from_millis(self.writer.batch_wait_ms.unwrap_or(default))
    }

    /// The number of handler threads: `server.workers`, or 4 x the number of cores when it is
    /// 0 (handlers block on the database, so more of them than cores keeps the CPUs busy).
    pub fn resolved_workers(&self) -> usize {
        match self.server.workers {
            0 => 4 * cores(),
            n => n,
        }
    }

    /// The connection cap: `server.max_connections` if non-zero, otherwise the soft descriptor
    /// limit minus `server.fd_reserve` (at least 1).
    ///
    /// `main` logs the result together with the limits, e.g.
    /// `max connections 19744 (RLIMIT_NOFILE soft 20000, hard 20000, fd_reserve 256)`, and
    /// should warn when an explicit `max_connections` exceeds what the limit allows.
    pub fn resolved_max_connections(&self, fd: &FdLimit) -> usize {
        if self.server.max_connections != 0 {
            return self.server.max_connections;
        }
        let n = fd.soft.saturating_sub(self.server.fd_reserve).max(1);
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// Where the log files go: `log.dir`, or `<data_dir>/logs` when it is unset.
    pub fn log_dir(&self) -> PathBuf {
        match &self.log.dir {
            Some(dir) => dir.clone(),
            None => self.store.data_dir.join("logs"),
        }
    }

    /// The SQLite database file: `<data_dir>/chat.db`.
    pub fn sqlite_path(&self) -> PathBuf {
        self.store.data_dir.join(SQLITE_FILE)
    }

    /// The address to listen on, from `server.bind` and `server.port`.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] if `server.bind` is not an IP address (never after
    /// [`Config::validate`] succeeded).
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        let ip: IpAddr = self.server.bind.parse().map_err(|_| {
            self.invalid(
                "server.bind",
                format!("{:?}", self.server.bind),
                "must be an IP address such as 0.0.0.0, 127.0.0.1 or ::",
            )
        })?;
        Ok(SocketAddr::new(ip, self.server.port))
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// Checks a log level or flexi_logger spec. A lone word must be a level: flexi_logger would
/// otherwise read a typo such as `infox` as a module name and silently log nothing else.
fn check_log_spec(spec: &str) -> Result<(), String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("must not be empty (use error, warn, info, debug or trace)".to_string());
    }
    let lone_word = !spec.contains([',', '=', '/']);
    if lone_word && !LEVELS.contains(&spec.to_ascii_lowercase().as_str()) {
        return Err(
            "must be one of error, warn, info, debug, trace, off, or a spec like \
             info,chat::store=debug"
                .to_string(),
        );
    }
    flexi_logger::LogSpecification::parse(spec)
        .map(|_| ())
        .map_err(|e| format!("invalid log spec: {}", e.to_string().replace('\n', "; ")))
}

/// Turns a toml error into a one-line [`ConfigError::Toml`] naming the line and, where it can
/// be told from the text, the dotted key.
fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
    let message = err
        .message()
        .trim()
        .replace('\n', "; ")
        .replace("unknown field", "unknown key");
    let (line, key) = match err.span() {
        Some(span) => {
            let offset = span.start.min(text.len());
            let line_idx = text[..offset].matches('\n').count();
            (line_idx + 1, key_at_line(text, line_idx))
        }
        None => (0, None),
    };
    ConfigError::Toml {
        path: path.to_path_buf(),
        line,
        key,
        message,
    }
}

/// The dotted key defined on line `line_idx` (0-based) of `text`: `table.key` for a
/// `key = value` line under `[table]`, or the table name for a `[table]` line.
fn key_at_line(text: &str, line_idx: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let line = lines.get(line_idx)?.trim();
    let unquote = |s: &str| s.trim().trim_matches(['"', '\'']).to_string();
    if let Some(header) = table_header(line) {
        return Some(header);
    }
    let (key, _) = line.split_once('=')?;
    let key = unquote(key);
    let table = lines[..line_idx]
        .iter()
        .rev()
        .find_map(|l| table_header(l.trim()));
    Some(match table {
        Some(table) => format!("{table}.{key}"),
        None => key,
    })
}

fn table_header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let end = inner.find(']')?;
    Some(inner[..end].trim().trim_matches('[').trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn args(extra: &[&str]) -> Vec<String> {
        std::iter::once("startserv")
            .chain(extra.iter().copied())
            .map(String::from)
            .collect()
    }

    fn write_config(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::Builder::new()
            .suffix(".toml")
            .tempfile()
            .expect("temp file");
        file.write_all(text.as_bytes()).expect("write temp file");
        file
    }

    fn from_text(text: &str) -> Result<Config, ConfigError> {
        let file = write_config(text);
        Config::from_iter(args(&["--config", file.path().to_str().unwrap()]))
    }

    #[test]
    fn defaults() {
        let c = Config::from_iter(args(&[])).expect("defaults are valid");
        assert_eq!(c, Config::default());
        assert_eq!(c.server.bind, "0.0.0.0");
        assert_eq!(c.server.port, 12345);
        assert_eq!(c.server.max_frame, 65536);
        assert_eq!(c.server.output_high_water, 4194304);
        assert_eq!(c.server.fd_reserve, 256);
        assert_eq!(c.store.data_dir, PathBuf::from("./data"));
        assert_eq!(c.store.mysql_url, None);
        assert_eq!(c.writer.batch_max, 1024);
        assert_eq!(c.auth.argon2_memory_kib, 19456);
        assert_eq!(c.auth.token_ttl_secs, 2_592_000);
        assert_eq!(c.log.level, "info");
        assert_eq!(c.log_dir(), PathBuf::from("./data/logs"));
        assert_eq!(c.sqlite_path(), PathBuf::from("./data/chat.db"));
        assert_eq!(c.resolved_reactors(), cores());
        assert_eq!(c.resolved_workers(), 4 * cores());
        assert_eq!(
            c.listen_addr().unwrap(),
            "0.0.0.0:12345".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn example_file_is_valid_and_matches_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server.example.toml");
        let c = Config::from_file(&path).expect("server.example.toml parses");
        c.validate().expect("server.example.toml validates");
        assert_eq!(c, Config::default());
    }

    #[test]
    fn file_overrides_defaults() {
        let c = from_text(
            r#"
            [server]
            port = 4000
            workers = 7
            max_frame = 131072
            output_high_water = 1048576
            [store]
            data_dir = "/tmp/chat-data"
            mysql_url = "mysql://root@127.0.0.1:3306/chat"
            [writer]
            batch_max = 10
            [auth]
            argon2_iterations = 3
            [log]
            level = "debug"
            dir = "/tmp/chat-logs"
            "#,
        )
        .expect("valid file");
        assert_eq!(c.server.port, 4000);
        assert_eq!(c.server.workers, 7);
        assert_eq!(c.resolved_workers(), 7);
        assert_eq!(c.server.max_frame, 131072);
        assert_eq!(c.server.reactors, 0, "unset keys keep their default");
        assert_eq!(
            c.store.mysql_url.as_deref(),
            Some("mysql://root@127.0.0.1:3306/chat")
        );
        assert_eq!(c.sqlite_path(), PathBuf::from("/tmp/chat-data/chat.db"));
        assert_eq!(c.writer.batch_max, 10);
        assert_eq!(c.auth.argon2_iterations, 3);
        assert_eq!(c.log.level, "debug");
        assert_eq!(c.log_dir(), PathBuf::from("/tmp/chat-logs"));
    }

    #[test]
    fn empty_strings_mean_unset() {
        let c = from_text("[store]\nmysql_url = \"\"\n[log]\ndir = \"\"\n").unwrap();
        assert_eq!(c.store.mysql_url, None);
        assert_eq!(c.log.dir, None);
        assert_eq!(c.log_dir(), PathBuf::from("./data/logs"));
    }

    #[test]
    fn flags_override_file() {
        let file = write_config(
            "[server]\nport = 4000\nworkers = 7\nreactors = 3\nbind = \"127.0.0.1\"\n\
             [store]\ndata_dir = \"/a\"\nmysql_url = \"mysql://x@h/db\"\n[log]\nlevel = \"warn\"\n",
        );
        let c = Config::from_iter(args(&[
            "5000",
            "--config",
            file.path().to_str().unwrap(),
            "--workers",
            "9",
            "--reactors",
            "2",
            "--bind",
            "::1",
            "--data-dir",
            "/b",
            "--mysql",
            "",
            "--log-level",
            "trace",
        ]))
        .expect("valid");
        assert_eq!(c.server.port, 5000);
        assert_eq!(c.server.workers, 9);
        assert_eq!(c.server.reactors, 2);
        assert_eq!(c.server.bind, "::1");
        assert_eq!(c.store.data_dir, PathBuf::from("/b"));
        assert_eq!(c.store.mysql_url, None, "--mysql '' selects SQLite");
        assert_eq!(c.log.level, "trace");
        assert_eq!(
            c.listen_addr().unwrap(),
            "[::1]:5000".parse::<SocketAddr>().unwrap()
        );
    }

    #[test]
    fn flag_errors_name_the_flag() {
        let err = Config::from_iter(args(&["--workers", "100000"])).unwrap_err();
        assert_eq!(err.key(), Some("--workers"));
        assert_eq!(
            err.to_string(),
            "config error: --workers 100000: must be between 0 and 4096"
        );
        let err = Config::from_iter(args(&["--bind", "nowhere"])).unwrap_err();
        assert_eq!(err.key(), Some("--bind"));
        let err = Config::from_iter(args(&["--log-level", "infox"])).unwrap_err();
        assert_eq!(err.key(), Some("--log-level"));
        let err = Config::from_iter(args(&["--mysql", "postgres://h/db"])).unwrap_err();
        assert_eq!(err.key(), Some("--mysql"));
        // A value of the wrong type is clap's own error, which names the flag.
        let err = Config::from_iter(args(&["--workers", "many"])).unwrap_err();
        assert!(matches!(err, ConfigError::Cli(_)));
        assert!(err.to_string().contains("--workers"), "{err}");
        let err = Config::from_iter(args(&["70000"])).unwrap_err();
        assert!(matches!(err, ConfigError::Cli(_)));
    }

    #[test]
    fn help_and_version_are_clap_display_kinds() {
        use clap::error::ErrorKind;
        for (flag, kind) in [
            ("--help", ErrorKind::DisplayHelp),
            ("--version", ErrorKind::DisplayVersion),
        ] {
            match Config::from_iter(args(&[flag])) {
                Err(ConfigError::Cli(e)) => {
                    assert_eq!(e.kind(), kind);
                    assert!(!e.use_stderr(), "{flag} goes to stdout");
                    assert_eq!(e.exit_code(), 0);
                }
                other => panic!("{flag}: {other:?}"),
            }
        }
        let help = match Config::from_iter(args(&["--help"])) {
            Err(ConfigError::Cli(e)) => e.to_string(),
            other => panic!("{other:?}"),
        };
        for word in [
            "[PORT]",
            "--config",
            "--bind",
            "--mysql",
            "--data-dir",
            "--workers",
            "--reactors",
            "--log-level",
            "server.example.toml",
        ] {
            assert!(help.contains(word), "help lacks {word}:\n{help}");
        }
    }

    #[test]
    fn each_validation_error_names_its_key() {
        type Mutate = fn(&mut Config);
        let cases: &[(&str, Mutate)] = &[
            ("server.bind", |c| c.server.bind = "localhostx".into()),
            ("server.reactors", |c| c.server.reactors = 1000),
            ("server.workers", |c| c.server.workers = 5000),
            ("server.max_frame", |c| c.server.max_frame = 10),
            ("server.max_frame", |c| c.server.max_frame = MAX_FRAME + 1),
            ("server.output_high_water", |c| {
                c.server.output_high_water = c.server.max_frame + 3
            }),
            ("server.worker_queue", |c| c.server.worker_queue = 0),
            ("server.max_connections_per_ip", |c| {
                c.server.max_connections_per_ip = 0
            }),
            ("server.conn_input_bytes", |c| {
                c.server.conn_input_bytes = 100
            }),
            ("server.conn_input_frames", |c| {
                c.server.conn_input_frames = 0
            }),
            ("server.worker_queue_bytes", |c| {
                c.server.worker_queue_bytes = 100
            }),
            ("server.login_timeout_secs", |c| {
                c.server.login_timeout_secs = 0
            }),
            ("server.idle_timeout_secs", |c| {
                c.server.idle_timeout_secs = 0
            }),
            ("server.rate_limit_per_sec", |c| {
                c.server.rate_limit_per_sec = 0
            }),
            ("server.rate_limit_burst", |c| c.server.rate_limit_burst = 0),
            ("server.shutdown_grace_secs", |c| {
                c.server.shutdown_grace_secs = 100_000
            }),
            ("store.data_dir", |c| c.store.data_dir = PathBuf::new()),
            ("store.mysql_url", |c| {
                c.store.mysql_url = Some("http://x:secret@h/db".into())
            }),
            ("store.mysql_pool_size", |c| c.store.mysql_pool_size = 0),
            ("store.sqlite_pool_size", |c| c.store.sqlite_pool_size = 0),
            ("writer.batch_max", |c| c.writer.batch_max = 0),
            ("writer.batch_max", |c| c.writer.batch_max = 10_001),
            ("writer.batch_wait_ms", |c| {
                c.writer.batch_wait_ms = Some(1001)
            }),
            ("writer.queue_capacity", |c| c.writer.queue_capacity = 0),
            ("writer.commit_deadline_ms", |c| {
                c.writer.commit_deadline_ms = 0
            }),
            ("auth.argon2_memory_kib", |c| c.auth.argon2_memory_kib = 4),
            ("auth.argon2_iterations", |c| c.auth.argon2_iterations = 0),
            ("auth.argon2_parallelism", |c| c.auth.argon2_parallelism = 0),
            ("auth.password_rate_per_ip", |c| {
                c.auth.password_rate_per_ip = 0
            }),
            ("auth.password_burst_per_ip", |c| {
                c.auth.password_burst_per_ip = 0
            }),
            ("auth.hash_backlog_ms", |c| c.auth.hash_backlog_ms = 0),
            ("auth.failed_logins_before_delay", |c| {
                c.auth.failed_logins_before_delay = 0
            }),
            ("auth.failed_login_max_delay_secs", |c| {
                c.auth.failed_login_max_delay_secs = 0
            }),
            ("auth.token_ttl_secs", |c| c.auth.token_ttl_secs = 0),
            ("log.level", |c| c.log.level = "loud".into()),
            ("log.level", |c| c.log.level = String::new()),
            ("log.level", |c| c.log.level = "info,chat=loud".into()),
        ];
        for (key, mutate) in cases {
            let mut c = Config::default();
            mutate(&mut c);
            let err = c.validate().expect_err(key);
            let line = err.to_string();
            assert_eq!(err.key(), Some(*key), "{line}");
            assert!(
                line.starts_with(&format!("config error: {key} = ")),
                "{line}"
            );
            assert!(!line.contains('\n'), "one line: {line}");
            assert!(!line.contains("secret"), "password leaked: {line}");
        }
        let mut c = Config::default();
        c.server.max_frame = 10;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "config error: server.max_frame = 10: must be between 32768 and 16777216"
        );
        // Boundaries are accepted.
        let mut c = Config::default();
        c.server.max_frame = MAX_FRAME;
        c.server.output_high_water = MAX_FRAME + 4;
        c.writer.batch_wait_ms = Some(0);
        c.log.level = "info,chat::store=debug".into();
        c.validate().expect("boundaries are valid");
    }

    #[test]
    fn batch_wait_defaults_by_store() {
        let mut c = Config::default();
        assert_eq!(c.resolved_batch_wait(), Duration::from_millis(2));
        c.store.mysql_url = Some("mysql://root@127.0.0.1:3306/chat".into());
        assert_eq!(c.resolved_batch_wait(), Duration::ZERO);
        c.writer.batch_wait_ms = Some(7);
        assert_eq!(c.resolved_batch_wait(), Duration::from_millis(7));
        let c = from_text("[writer]\nbatch_wait_ms = 5\n").unwrap();
        assert_eq!(c.resolved_batch_wait(), Duration::from_millis(5));
    }

    #[test]
    fn file_values_are_validated_under_their_key() {
        let err = from_text("[server]\nmax_frame = 10\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "config error: server.max_frame = 10: must be between 32768 and 16777216"
        );
    }

    #[test]
    fn unknown_key_is_rejected() {
        let file = write_config("[server]\nport = 1\nmaxframe = 100\n");
        let path = file.path().to_str().unwrap().to_string();
        let err = Config::from_iter(args(&["--config", &path])).unwrap_err();
        let line = err.to_string();
        assert!(matches!(err, ConfigError::Toml { line: 3, .. }), "{line}");
        assert_eq!(err.key(), Some("server.maxframe"), "{line}");
        assert!(
            line.starts_with(&format!("config error: {path}:3: ")),
            "{line}"
        );
        assert!(line.contains("unknown key `maxframe`"), "{line}");
        assert!(!line.contains('\n'), "one line: {line}");

        let err = from_text("[srever]\nport = 1\n").unwrap_err();
        assert!(err.to_string().contains("`srever`"), "{err}");
        let err = from_text("verbose = true\n").unwrap_err();
        assert!(err.to_string().contains("`verbose`"), "{err}");
    }

    #[test]
    fn type_errors_name_the_key() {
        for (text, key) in [
            ("[server]\nport = 70000\n", "server.port"),
            ("[server]\nworkers = -1\n", "server.workers"),
            ("[store]\ndata_dir = 5\n", "store.data_dir"),
            ("[log]\nlevel = info\n", "log.level"),
        ] {
            let err = from_text(text).unwrap_err();
            let line = err.to_string();
            assert!(matches!(err, ConfigError::Toml { line: 2, .. }), "{line}");
            assert_eq!(err.key(), Some(key), "{line}");
            assert!(!line.contains('\n'), "one line: {line}");
        }
    }

    #[test]
    fn bad_file_path_is_named() {
        let err = Config::from_iter(args(&["--config", "/nonexistent/dir/chat.toml"])).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        let line = err.to_string();
        assert!(
            line.starts_with("config error: cannot read config file /nonexistent/dir/chat.toml"),
            "{line}"
        );
    }

    #[test]
    fn max_connections_from_fd_limit() {
        let fd = FdLimit {
            soft: 20000,
            hard: 40000,
        };
        let mut c = Config::default();
        assert_eq!(c.resolved_max_connections(&fd), 20000 - 256);
        c.server.fd_reserve = 50_000;
        assert_eq!(c.resolved_max_connections(&fd), 1, "at least 1");
        c.server.max_connections = 77;
        assert_eq!(c.resolved_max_connections(&fd), 77);
    }

    #[test]
    fn raise_fd_limit_reaches_hard_limit() {
        let fd = raise_fd_limit();
        assert!(fd.soft >= 1 && fd.soft <= fd.hard, "{fd:?}");
        let again = raise_fd_limit();
        assert_eq!(fd, again, "idempotent");
    }

    #[test]
    fn mysql_password_is_redacted() {
        assert_eq!(
            redact_url("mysql://u:secret@127.0.0.1:3306/chat"),
            "mysql://u:***@127.0.0.1:3306/chat"
        );
        assert_eq!(
            redact_url("mysql://root@127.0.0.1/chat"),
            "mysql://root@127.0.0.1/chat"
        );
        let c = Config {
            store: StoreConfig {
                mysql_url: Some("mysql://u:secret@h/db".into()),
                ..StoreConfig::default()
            },
            ..Config::default()
        };
        assert!(!format!("{c:?}").contains("secret"));
    }
}
