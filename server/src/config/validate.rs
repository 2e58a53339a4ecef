//! Checking a merged configuration, and the errors configuration can fail with.
//!
//! [`Config::validate`] checks every value's range and the relations between values;
//! [`ConfigError`] is what every step of building a [`Config`] returns, one line naming the
//! key, flag or file; `toml_error` turns a TOML parse error into such a line. Reads a
//! [`Config`], never changes one.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::redact::redact_url;
use super::Config;

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
/// Longest accepted `cluster.name` and `cluster.node_id`, in characters.
pub const MAX_CLUSTER_IDENT: usize = 64;
/// Accepted range of `cluster.heartbeat_ms`.
pub const HEARTBEAT_MS: std::ops::RangeInclusive<u64> = 50..=60_000;
/// Largest accepted `cluster.node_ttl_ms` (10 minutes); the smallest is 3 x `heartbeat_ms`.
pub const MAX_NODE_TTL_MS: u64 = 600_000;

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

impl Config {
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
        for origin in &s.ws_origins {
            let ok = origin.split_once("://").is_some_and(|(scheme, host)| {
                matches!(scheme, "http" | "https") && !host.is_empty() && !host.contains('/')
            });
            if !ok {
                return Err(self.invalid(
                    "server.ws_origins",
                    format!("{origin:?}"),
                    "each must be an origin such as \"https://chat.example.com\" or \"http://127.0.0.1:8080\"",
                ));
            }
        }
        if let Some(http_port) = s.http_port {
            if http_port != 0 && http_port == s.port {
                return Err(self.invalid(
                    "server.http_port",
                    http_port.to_string(),
                    format!("must differ from server.port ({})", s.port),
                ));
            }
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
        self.at_least(
            "server.conn_input_bytes_per_sec",
            s.conn_input_bytes_per_sec,
            MIN_CONN_INPUT,
        )?;
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
        self.range("writer.max_queue_wait_ms", w.max_queue_wait_ms, 0, 60_000)?;

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
        self.validate_cluster()
    }

    /// The `[cluster]` keys. They are checked whether or not cluster mode is on, so that a
    /// bad value is reported when it is written rather than when `--redis` is first given.
    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let c = &self.cluster;
        if let Some(url) = &c.redis_url {
            let shown = || format!("{:?}", redact_url(url));
            check_redis_url(url)
                .map_err(|reason| self.invalid("cluster.redis_url", shown(), reason))?;
            if self.store.mysql_url.is_none() {
                return Err(self.invalid(
                    "cluster.redis_url",
                    shown(),
                    "cluster mode needs MySQL/MariaDB: the embedded SQLite store is single-node; \
                     give --mysql URL (or set store.mysql_url)",
                ));
            }
        }
        if let Err(reason) = check_cluster_ident(&c.name) {
            return Err(self.invalid("cluster.name", format!("{:?}", c.name), reason));
        }
        if c.node_id.is_empty() {
            if self.cluster_enabled() {
                // Only reachable for a Config built in code: loading generates the id.
                return Err(self.invalid(
                    "cluster.node_id",
                    "\"\"",
                    "must not be empty in cluster mode (loading the configuration generates one)",
                ));
            }
        } else if let Err(reason) = check_cluster_ident(&c.node_id) {
            return Err(self.invalid("cluster.node_id", format!("{:?}", c.node_id), reason));
        }
        if !c.advertise.is_empty() {
            if let Err(reason) = check_host_port(&c.advertise) {
                return Err(self.invalid(
                    "cluster.advertise",
                    format!("{:?}", c.advertise),
                    reason,
                ));
            }
        }
        self.range(
            "cluster.heartbeat_ms",
            c.heartbeat_ms,
            *HEARTBEAT_MS.start(),
            *HEARTBEAT_MS.end(),
        )?;
        let min_ttl = 3 * c.heartbeat_ms;
        if c.node_ttl_ms < min_ttl || c.node_ttl_ms > MAX_NODE_TTL_MS {
            return Err(self.invalid(
                "cluster.node_ttl_ms",
                c.node_ttl_ms.to_string(),
                format!(
                    "must be between 3 x cluster.heartbeat_ms = {min_ttl} and {MAX_NODE_TTL_MS} (ms)"
                ),
            ));
        }
        Ok(())
    }

    /// The name to show for `key`: the flag if the value came from the command line.
    fn label(&self, key: &'static str) -> String {
        self.flag_keys.get(key).copied().unwrap_or(key).to_string()
    }

    pub(super) fn invalid(
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
}

/// Checks a Redis URL: `redis://` only (no TLS in this build), and one the client accepts.
/// The reasons never quote the URL, which may hold a password.
fn check_redis_url(url: &str) -> Result<(), String> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("redis") => {}
        Some("rediss") => {
            return Err(
                "rediss:// (Redis over TLS) is not supported in this build; \
                        use redis://"
                    .to_string(),
            )
        }
        _ => {
            return Err(
                "must start with redis:// (e.g. redis://:pass@127.0.0.1:6379/0), \
                        or be empty for a single node"
                    .to_string(),
            )
        }
    }
    let info = redis::IntoConnectionInfo::into_connection_info(url).map_err(|e| {
        // Display is "DESCRIPTION- Kind" or "DESCRIPTION - Kind: DETAIL"; the description is
        // a fixed phrase and the detail a query value, never the password.
        let text = e.to_string();
        let what = text.split("- ").next().unwrap_or_default().trim();
        let what = match e.detail() {
            Some(detail) => format!("{what} {detail:?}"),
            None => what.to_string(),
        };
        format!("is not a valid Redis URL (redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]): {what}")
    })?;
    match info.addr {
        redis::ConnectionAddr::Tcp(host, _) if !host.is_empty() => Ok(()),
        _ => Err("must name a host: redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]".to_string()),
    }
}

/// Checks a cluster name or node id: it goes into Redis keys, between `:` separators.
fn check_cluster_ident(s: &str) -> Result<(), String> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
    let len = s.chars().count();
    if len == 0 || len > MAX_CLUSTER_IDENT || !s.chars().all(ok_char) {
        return Err(format!(
            "must be 1 to {MAX_CLUSTER_IDENT} characters of A-Z a-z 0-9 _ . -"
        ));
    }
    Ok(())
}

/// Checks an advertised address: `HOST:PORT`, HOST a name, an IPv4 address or a bracketed
/// IPv6 address, PORT 1..=65535.
fn check_host_port(s: &str) -> Result<(), &'static str> {
    const REASON: &str = "must be HOST:PORT with a port 1..=65535 (e.g. chat1.example.com:12345 \
                          or [2001:db8::1]:12345), or empty for the bound address";
    let (host, port) = s.rsplit_once(':').ok_or(REASON)?;
    let port_ok = !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u16>().is_ok_and(|p| p != 0);
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        }
    };
    if port_ok && host_ok {
        Ok(())
    } else {
        Err(REASON)
    }
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
pub(super) fn toml_error(path: &Path, text: &str, err: &toml::de::Error) -> ConfigError {
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
    use super::super::testing::{args, from_text, write_config};
    use super::*;

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
            ("server.conn_input_bytes_per_sec", |c| {
                c.server.conn_input_bytes_per_sec = 10
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
            ("writer.max_queue_wait_ms", |c| {
                c.writer.max_queue_wait_ms = 60_001
            }),
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
            ("cluster.redis_url", |c| {
                c.cluster.redis_url = Some("http://x:secret@h/0".into())
            }),
            ("cluster.redis_url", |c| {
                c.cluster.redis_url = Some("redis://:secret@h:6379/0".into())
            }),
            ("cluster.name", |c| c.cluster.name = String::new()),
            ("cluster.node_id", |c| c.cluster.node_id = "a b".into()),
            ("cluster.advertise", |c| c.cluster.advertise = "h:0".into()),
            ("cluster.heartbeat_ms", |c| c.cluster.heartbeat_ms = 49),
            ("cluster.node_ttl_ms", |c| c.cluster.node_ttl_ms = 5999),
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

    /// A valid cluster-mode configuration to mutate.
    fn cluster() -> Config {
        let mut c = Config::default();
        c.store.mysql_url = Some("mysql://root@127.0.0.1:3306/chat".into());
        c.cluster.redis_url = Some("redis://127.0.0.1:6379/0".into());
        c.cluster.node_id = "node-0123456789ab".into();
        c
    }

    fn cluster_error(mutate: impl FnOnce(&mut Config)) -> String {
        let mut c = cluster();
        mutate(&mut c);
        let line = c.validate().expect_err("invalid").to_string();
        assert!(!line.contains('\n'), "one line: {line}");
        line
    }

    #[test]
    fn cluster_defaults_are_valid() {
        cluster()
            .validate()
            .expect("cluster mode with MySQL is valid");
        Config::default().validate().expect("no cluster");
    }

    #[test]
    fn redis_url_must_be_redis_scheme() {
        for url in [
            "redis://h",
            "redis://127.0.0.1:6379/0",
            "REDIS://h:1/15",
            "redis://:pw@h:6379",
            "redis://user:pw@[::1]:6379/2",
            "redis://h/0?protocol=resp3",
        ] {
            let mut c = cluster();
            c.cluster.redis_url = Some(url.into());
            c.validate().unwrap_or_else(|e| panic!("{url}: {e}"));
        }
        for (url, says) in [
            (
                "rediss://:secret@h:6380",
                "rediss:// (Redis over TLS) is not supported",
            ),
            ("http://h", "must start with redis://"),
            ("unix:///tmp/redis.sock", "must start with redis://"),
            ("127.0.0.1:6379", "must start with redis://"),
            ("redis://:secret@h:6379/x", "not a valid Redis URL"),
            ("redis://:secret@h:99999/0", "not a valid Redis URL"),
            ("redis://", "not a valid Redis URL"),
            ("redis://h/0?protocol=resp9", "not a valid Redis URL"),
        ] {
            let line = cluster_error(|c| c.cluster.redis_url = Some(url.into()));
            assert!(
                line.starts_with("config error: cluster.redis_url = "),
                "{line}"
            );
            assert!(line.contains(says), "{url}: {line}");
            assert!(!line.contains("secret"), "password leaked: {line}");
        }
    }

    #[test]
    fn cluster_mode_requires_mysql() {
        let line = cluster_error(|c| {
            c.store.mysql_url = None;
            c.cluster.redis_url = Some("redis://:secret@h:6379/0".into());
        });
        assert_eq!(
            line,
            "config error: cluster.redis_url = \"redis://:***@h:6379/0\": cluster mode needs \
             MySQL/MariaDB: the embedded SQLite store is single-node; give --mysql URL (or set \
             store.mysql_url)"
        );
        // Given as a flag, the error names the flag.
        let err = Config::from_iter(args(&["--redis", "redis://127.0.0.1:6379"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "config error: --redis \"redis://127.0.0.1:6379\": cluster mode needs \
             MySQL/MariaDB: the embedded SQLite store is single-node; give --mysql URL (or set \
             store.mysql_url)"
        );
        // MySQL from the file, Redis from the flag: fine.
        let file = write_config("[store]\nmysql_url = \"mysql://h/db\"\n");
        let path = file.path().to_str().unwrap();
        Config::from_iter(args(&["--config", path, "--redis", "redis://h"])).expect("valid");
    }

    #[test]
    fn cluster_name_and_node_id_are_short_key_safe_words() {
        let ok = ["a", "chat", "A-z_0.9", &"x".repeat(64)];
        let bad = ["", "a:b", "a b", "é", "a/b", "{x}", &"x".repeat(65)];
        for name in ok {
            let mut c = cluster();
            c.cluster.name = name.to_string();
            c.cluster.node_id = name.to_string();
            c.validate().unwrap_or_else(|e| panic!("{name:?}: {e}"));
        }
        for name in bad {
            let line = cluster_error(|c| c.cluster.name = name.to_string());
            assert!(line.starts_with("config error: cluster.name = "), "{line}");
            assert!(
                line.ends_with("must be 1 to 64 characters of A-Z a-z 0-9 _ . -"),
                "{line}"
            );
            if !name.is_empty() {
                let line = cluster_error(|c| c.cluster.node_id = name.to_string());
                assert!(
                    line.starts_with("config error: cluster.node_id = "),
                    "{line}"
                );
            }
        }
        // Empty means "generate": fine outside cluster mode, an error once it is on
        // (loading generates one, so only a Config built in code can get here).
        let mut c = Config::default();
        c.cluster.node_id = String::new();
        c.validate().expect("no cluster, no id needed");
        let line = cluster_error(|c| c.cluster.node_id = String::new());
        assert!(
            line.starts_with("config error: cluster.node_id = \"\": "),
            "{line}"
        );
    }

    #[test]
    fn advertise_is_host_port() {
        for addr in [
            "",
            "127.0.0.1:12345",
            "chat1.example.com:1",
            "node_2:65535",
            "[::1]:4000",
            "[2001:db8::1]:443",
        ] {
            let mut c = cluster();
            c.cluster.advertise = addr.to_string();
            c.validate().unwrap_or_else(|e| panic!("{addr:?}: {e}"));
        }
        for addr in [
            "host",
            "host:",
            ":80",
            "host:0",
            "host:65536",
            "host:+80",
            "host:80x",
            "::1:4000",
            "[::1:4000",
            "[nothost]:4000",
            "a b:80",
            "http://h:80",
        ] {
            let line = cluster_error(|c| c.cluster.advertise = addr.to_string());
            assert!(
                line.starts_with(&format!("config error: cluster.advertise = {addr:?}: ")),
                "{line}"
            );
            assert!(line.contains("HOST:PORT with a port 1..=65535"), "{line}");
        }
    }

    #[test]
    fn heartbeat_and_node_ttl_ranges() {
        let ok: &[(u64, u64)] = &[(50, 150), (2000, 6000), (2000, 600_000), (60_000, 180_000)];
        for &(hb, ttl) in ok {
            let mut c = cluster();
            c.cluster.heartbeat_ms = hb;
            c.cluster.node_ttl_ms = ttl;
            c.validate()
                .unwrap_or_else(|e| panic!("heartbeat {hb}, ttl {ttl}: {e}"));
        }
        for hb in [0, 49, 60_001] {
            let line = cluster_error(|c| {
                c.cluster.heartbeat_ms = hb;
                c.cluster.node_ttl_ms = 600_000;
            });
            assert_eq!(
                line,
                format!("config error: cluster.heartbeat_ms = {hb}: must be between 50 and 60000")
            );
        }
        let line = cluster_error(|c| c.cluster.node_ttl_ms = 5999);
        assert_eq!(
            line,
            "config error: cluster.node_ttl_ms = 5999: must be between 3 x \
             cluster.heartbeat_ms = 6000 and 600000 (ms)"
        );
        let line = cluster_error(|c| c.cluster.node_ttl_ms = 600_001);
        assert!(
            line.starts_with("config error: cluster.node_ttl_ms = 600001: "),
            "{line}"
        );
        let err = from_text("[cluster]\nheartbeat_ms = 100\nnode_ttl_ms = 299\n").unwrap_err();
        assert_eq!(err.key(), Some("cluster.node_ttl_ms"), "{err}");
    }

    #[test]
    fn cluster_keys_in_the_file_are_checked() {
        let err = from_text("[cluster]\nredis = \"redis://h\"\n").unwrap_err();
        assert_eq!(err.key(), Some("cluster.redis"), "{err}");
        assert!(err.to_string().contains("unknown key `redis`"), "{err}");
        let err = from_text("[cluster]\nheartbeat_ms = \"2s\"\n").unwrap_err();
        assert_eq!(err.key(), Some("cluster.heartbeat_ms"), "{err}");
        let err = from_text("[server]\nallow_register = \"no\"\n").unwrap_err();
        assert_eq!(err.key(), Some("server.allow_register"), "{err}");
        let c = from_text("[server]\nallow_register = false\n").unwrap();
        assert!(!c.server.allow_register);
    }
}
