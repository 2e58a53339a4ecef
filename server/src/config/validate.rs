//! Checking a merged configuration, and the errors configuration can fail with.
//!
//! [`Config::validate`] checks every value's range and the relations between values;
//! [`ConfigError`] is what every step of building a [`Config`] returns, one line naming the
//! key, flag or file; `toml_error` turns a TOML parse error into such a line. Reads a
//! [`Config`], never changes one.

use std::fmt;
use std::net::IpAddr;
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
}
