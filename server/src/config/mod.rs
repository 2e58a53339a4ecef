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
//!
//! This file holds [`Config`] itself, the merge order (`from_iter`: flags parsed, file read
//! over the defaults, flags applied, then validation) and the values derived from it
//! (`resolved_*`, paths, the listen address). Each concern has a file of its own, and
//! everything public is re-exported here, so `crate::config::X` is the path to use:
//!
//! * `schema`: the TOML sections (`[server]`, `[store]`, ..., `[cluster]`), their defaults
//!   and units.
//! * `cli`: the command-line flags and how they override keys.
//! * `validate`: range checks, [`ConfigError`] and the one-line TOML error messages.
//! * `os_limits`: raising `RLIMIT_NOFILE` ([`raise_fd_limit`], [`FdLimit`]).
//! * `redact`: hiding the password of a database or Redis URL ([`redact_url`]).
//!
//! Dependencies between the files: `cli` and `validate` add methods to `Config` (`cli`
//! writes its private `flag_keys`, `validate` reads it to name flags in errors);
//! `schema` and `validate` use `redact`; `os_limits` and `redact` depend on nothing here.

mod cli;
mod os_limits;
mod redact;
mod schema;
#[cfg(test)]
mod testing;
mod validate;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

pub use os_limits::{raise_fd_limit, FdLimit};
pub use redact::redact_url;
pub use schema::{
    generate_node_id, AuthConfig, ClusterConfig, LogConfig, ServerConfig, StoreConfig,
    WriterConfig, DEFAULT_CLUSTER_NAME, DEFAULT_PORT, SQLITE_FILE,
};
pub use validate::{
    ConfigError, HEARTBEAT_MS, MAX_CLUSTER_IDENT, MAX_FRAME, MAX_NODE_TTL_MS, MAX_REACTORS,
    MAX_WORKERS, MIN_CONN_INPUT, MIN_FRAME,
};

use cli::Cli;
use validate::toml_error;

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
    /// `[cluster]`: Redis, cluster name, node id and heartbeat; see
    /// [`Config::cluster_enabled`].
    pub cluster: ClusterConfig,
    /// Keys whose value came from a command-line flag, mapped to that flag, so validation
    /// errors name what the user actually typed.
    #[serde(skip)]
    flag_keys: BTreeMap<&'static str, &'static str>,
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

    /// Turns empty strings meaning "unset" into `None`, and in cluster mode gives an empty
    /// `cluster.node_id` a generated one (once: a later call keeps it).
    fn normalize(&mut self) {
        if self.store.mysql_url.as_deref().is_some_and(str::is_empty) {
            self.store.mysql_url = None;
        }
        if self.cluster.redis_url.as_deref().is_some_and(str::is_empty) {
            self.cluster.redis_url = None;
        }
        if self.cluster_enabled() && self.cluster.node_id.is_empty() {
            self.cluster.node_id = generate_node_id();
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

    /// Whether this node runs in cluster mode: `cluster.redis_url` is set (`--redis`).
    ///
    /// After [`Config::from_args`], [`Config::from_file`] or [`Config::from_toml_str`], a
    /// cluster-mode configuration has a non-empty `cluster.node_id` (generated if it was
    /// left empty) and, once validated, a `store.mysql_url`.
    pub fn cluster_enabled(&self) -> bool {
        self.cluster.redis_url.is_some()
    }

    /// The `host:port` clients should connect to: `cluster.advertise` if set, otherwise
    /// `local` (the address the listener is bound to, with its actual port), with
    /// `127.0.0.1` in place of an unspecified IP (`0.0.0.0` or `::`).
    pub fn resolved_advertise(&self, local: SocketAddr) -> String {
        if !self.cluster.advertise.is_empty() {
            return self.cluster.advertise.clone();
        }
        if local.ip().is_unspecified() {
            format!("127.0.0.1:{}", local.port())
        } else {
            local.to_string()
        }
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

    /// The address of the HTTP listener, from `server.bind` and `server.http_port`;
    /// `None` without an HTTP port.
    ///
    /// # Errors
    /// As [`Config::listen_addr`].
    pub fn http_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        let Some(port) = self.server.http_port else {
            return Ok(None);
        };
        Ok(Some(SocketAddr::new(self.listen_addr()?.ip(), port)))
    }

    /// The WebSocket URL the gateway hands out for a node advertising `advertise`
    /// (`HOST:PORT`, see [`Config::resolved_advertise`]) with its HTTP listener on
    /// `http_port`: `ws://HOST:HTTP_PORT/ws` (a bracketed IPv6 host keeps its brackets).
    pub fn resolved_ws(advertise: &str, http_port: u16) -> String {
        let host = advertise
            .rsplit_once(':')
            .map_or(advertise, |(host, _)| host);
        format!("ws://{host}:{http_port}/ws")
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

#[cfg(test)]
mod tests {
    use super::testing::{args, from_text, write_config};
    use super::*;

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
        assert!(c.server.allow_register);
        assert_eq!(c.cluster.redis_url, None);
        assert!(!c.cluster_enabled());
        assert_eq!(c.cluster.name, "chat");
        assert_eq!(
            c.cluster.node_id, "",
            "no id is generated outside cluster mode"
        );
        assert_eq!(c.cluster.advertise, "");
        assert_eq!(c.cluster.heartbeat(), Duration::from_secs(2));
        assert_eq!(c.cluster.node_ttl(), Duration::from_secs(10));
        assert_eq!(c.log_dir(), PathBuf::from("./data/logs"));
        assert_eq!(c.sqlite_path(), PathBuf::from("./data/chat.db"));
        assert_eq!(c.resolved_reactors(), cores());
        assert_eq!(c.resolved_workers(), 4 * cores());
        assert_eq!(
            c.listen_addr().unwrap(),
            "0.0.0.0:12345".parse::<SocketAddr>().unwrap()
        );
        assert_eq!(c.server.http_port, None);
        assert_eq!(c.http_addr().unwrap(), None);
    }

    #[test]
    fn http_port_key_flag_and_ws_url() {
        let c = from_text("[server]\nbind = \"127.0.0.1\"\nhttp_port = 8080\n").unwrap();
        assert_eq!(c.server.http_port, Some(8080));
        assert_eq!(
            c.http_addr().unwrap(),
            Some("127.0.0.1:8080".parse::<SocketAddr>().unwrap())
        );
        let c = Config::from_iter(args(&["--http-port", "0"])).unwrap();
        assert_eq!(c.server.http_port, Some(0), "0: the OS picks a port");
        let err = Config::from_iter(args(&["7000", "--http-port", "7000"])).unwrap_err();
        assert_eq!(err.key(), Some("--http-port"), "{err}");
        assert_eq!(
            err.to_string(),
            "config error: --http-port 7000: must differ from server.port (7000)"
        );
        let err = from_text("[server]\nport = 9000\nhttp_port = 9000\n").unwrap_err();
        assert_eq!(err.key(), Some("server.http_port"), "{err}");
        let err = from_text("[server]\nhttp_port = 70000\n").unwrap_err();
        assert_eq!(err.key(), Some("server.http_port"), "{err}");
        assert_eq!(
            Config::resolved_ws("10.0.0.5:7001", 8080),
            "ws://10.0.0.5:8080/ws"
        );
        assert_eq!(
            Config::resolved_ws("chat1.example.com:7001", 80),
            "ws://chat1.example.com:80/ws"
        );
        assert_eq!(
            Config::resolved_ws("[2001:db8::1]:7001", 8080),
            "ws://[2001:db8::1]:8080/ws"
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
            [cluster]
            redis_url = "redis://127.0.0.1:6379/0"
            name = "test-run.1"
            node_id = "n1"
            advertise = "chat1.example.com:4000"
            heartbeat_ms = 100
            node_ttl_ms = 300
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
        assert!(c.cluster_enabled());
        assert_eq!(
            c.cluster.redis_url.as_deref(),
            Some("redis://127.0.0.1:6379/0")
        );
        assert_eq!(c.cluster.name, "test-run.1");
        assert_eq!(c.cluster.node_id, "n1");
        assert_eq!(c.cluster.heartbeat(), Duration::from_millis(100));
        assert_eq!(c.cluster.node_ttl(), Duration::from_millis(300));
        let local: SocketAddr = "0.0.0.0:4000".parse().unwrap();
        assert_eq!(c.resolved_advertise(local), "chat1.example.com:4000");
    }

    #[test]
    fn node_id_is_generated_once_in_cluster_mode() {
        let cluster = [
            "--mysql",
            "mysql://root@127.0.0.1:3306/chat",
            "--redis",
            "redis://127.0.0.1:6379/0",
        ];
        let a = Config::from_iter(args(&cluster)).expect("valid");
        let b = Config::from_iter(args(&cluster)).expect("valid");
        for c in [&a, &b] {
            let id = &c.cluster.node_id;
            let hex = id.strip_prefix("node-").expect("node- prefix");
            assert_eq!(hex.len(), 12, "{id}");
            assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        assert_ne!(a.cluster.node_id, b.cluster.node_id, "unique per start");
        // Stable: normalising again (as every load step does) keeps it.
        let mut again = a.clone();
        again.normalize();
        assert_eq!(again.cluster.node_id, a.cluster.node_id);
        // Generated when cluster mode comes from the file too, and not when it is off.
        let file = write_config(
            "[store]\nmysql_url = \"mysql://h/db\"\n[cluster]\nredis_url = \"redis://h\"\n",
        );
        let c = Config::from_file(file.path()).unwrap();
        assert!(c.cluster.node_id.starts_with("node-"), "{c:?}");
        let c = from_text("[cluster]\nredis_url = \"\"\n").unwrap();
        assert!(!c.cluster_enabled(), "an empty URL means a single node");
        assert_eq!(c.cluster.node_id, "");
        // A given id is kept.
        let c = Config::from_iter(args(&[&cluster[..], &["--node-id", "n-7"]].concat())).unwrap();
        assert_eq!(c.cluster.node_id, "n-7");
    }

    #[test]
    fn advertise_defaults_to_the_bound_address() {
        let mut c = Config::default();
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(c.resolved_advertise(addr("0.0.0.0:4000")), "127.0.0.1:4000");
        assert_eq!(c.resolved_advertise(addr("[::]:4001")), "127.0.0.1:4001");
        assert_eq!(c.resolved_advertise(addr("10.1.2.3:4002")), "10.1.2.3:4002");
        assert_eq!(c.resolved_advertise(addr("[::1]:4003")), "[::1]:4003");
        c.cluster.advertise = "chat.example.com:443".into();
        assert_eq!(
            c.resolved_advertise(addr("0.0.0.0:4000")),
            "chat.example.com:443"
        );
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
}
