//! The configuration of `startgate`: built-in defaults, then a TOML file (`--config`),
//! then the command line (`../shared/gateway.md`, "Starting it").
//!
//! Sections: `[gateway]` (listener, threads, the time a first request may take, the login
//! limit per source address), `[codes]` (verification codes), `[mail]` (sender), and
//! `[auth]` and `[log]`, which are the nodes' own sections (`chat::config`): the gateway
//! hashes passwords with the nodes' argon2id cost and admits hashing the way they do, so
//! give it the same `[auth]`.
//! Touches nothing but the files it is told to read.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Deserialize;

use chat::config::{AuthConfig, LogConfig, DEFAULT_CLUSTER_NAME};

use crate::codes::CodeSettings;
use crate::ip_limits::IpLimitSettings;

/// Command line of `startgate`.
#[derive(Debug, Parser)]
#[command(
    name = "startgate",
    version,
    about = "startgate: the HTTP gateway of a chat cluster (codes, registration, login, password reset)",
    after_help = "More settings ([gateway], [codes], [mail], [auth], [log]) can be set in a TOML \
                  file given with --config; gate.example.toml at the repository root lists them. \
                  Precedence: built-in defaults < --config FILE < command-line flags."
)]
pub struct Cli {
    /// TCP port of the HTTP listener [default: 8080, or gateway.port from the config file]
    #[arg(value_name = "PORT")]
    pub port: Option<u16>,
    /// The cluster's MySQL/MariaDB, e.g. mysql://root@127.0.0.1:3306/chat (required)
    #[arg(long, value_name = "URL")]
    pub mysql: Option<String>,
    /// The cluster's Redis, e.g. redis://127.0.0.1:6379/0 (required)
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// The cluster's name, as given to its nodes [default: chat]
    #[arg(long, value_name = "NAME")]
    pub cluster: Option<String>,
    /// Write every mail as an .eml file into DIR [default: DATA_DIR/mail]
    #[arg(long, value_name = "DIR", conflicts_with = "smtp")]
    pub mail_dir: Option<PathBuf>,
    /// Send mail through this SMTP server: smtps://user:pass@host:465 or
    /// smtp://host:587?tls=required
    #[arg(long, value_name = "URL")]
    pub smtp: Option<String>,
    /// Directory for logs/ and the default mail directory [default: ./gate-data]
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Read settings from this TOML file
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// IP address to bind [default: 0.0.0.0]
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<String>,
    /// Log level or flexi_logger spec [default: info]
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

/// The `[gateway]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySection {
    /// Port of the HTTP listener.
    pub port: u16,
    /// Address to bind.
    pub bind: String,
    /// MySQL URL.
    pub mysql: String,
    /// Redis URL.
    pub redis: String,
    /// Cluster name.
    pub cluster: String,
    /// Logs and the default mail directory.
    pub data_dir: PathBuf,
    /// Worker threads (they hash passwords and wait on MySQL and Redis); 0: 4 per core.
    pub workers: usize,
    /// Reactor threads; 0: one per core.
    pub reactors: usize,
    /// Logins per second one source address earns (a token bucket in Redis).
    pub login_per_ip_per_s: f64,
    /// Logins one source address may make in a burst.
    pub login_burst: u32,
    /// Most connections at once.
    pub max_connections: usize,
    /// Milliseconds a new connection may take to send its first complete request; past
    /// it, `408` and close (`reactor_http::Limits::header_timeout`; default 10 000).
    pub header_timeout_ms: u64,
}

impl Default for GatewaySection {
    fn default() -> Self {
        Self {
            port: 8080,
            bind: "0.0.0.0".into(),
            mysql: String::new(),
            redis: String::new(),
            cluster: DEFAULT_CLUSTER_NAME.into(),
            data_dir: PathBuf::from("./gate-data"),
            workers: 0,
            reactors: 0,
            login_per_ip_per_s: 5.0,
            login_burst: 20,
            max_connections: 10_000,
            header_timeout_ms: 10_000,
        }
    }
}

/// The `[codes]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CodesSection {
    /// Seconds a code is valid.
    pub ttl_s: u64,
    /// Seconds after a code before another may be sent to the same address.
    pub resend_after_s: u64,
    /// Wrong tries after which a code is dead.
    pub max_attempts: u32,
    /// Codes one source address may ask for per hour.
    pub per_ip_per_hour: u32,
}

impl Default for CodesSection {
    fn default() -> Self {
        Self {
            ttl_s: 600,
            resend_after_s: 60,
            max_attempts: 5,
            per_ip_per_hour: 20,
        }
    }
}

/// The `[mail]` section.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSection {
    /// Directory for `.eml` files (empty: `DATA_DIR/mail`), unless `smtp` is set.
    pub dir: String,
    /// SMTP URL; empty: write files.
    pub smtp: String,
    /// The `From:` of every mail.
    pub from: String,
    /// Mails waiting to be sent at most (beyond: `503 server_busy`).
    pub queue: usize,
}

impl Default for MailSection {
    fn default() -> Self {
        Self {
            dir: String::new(),
            smtp: String::new(),
            from: "Chat <no-reply@localhost>".into(),
            queue: 1024,
        }
    }
}

/// The whole configuration, merged.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GateConfig {
    /// `[gateway]`.
    pub gateway: GatewaySection,
    /// `[codes]`.
    pub codes: CodesSection,
    /// `[mail]`.
    pub mail: MailSection,
    /// `[auth]`, as the nodes'.
    pub auth: AuthConfig,
    /// `[log]`, as the nodes'.
    pub log: LogConfig,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum GateConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for these sections.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the line.
        message: String,
    },
    /// A value is out of range or missing.
    #[error("{0}")]
    Invalid(String),
}

impl GateConfig {
    /// Defaults, then `cli.config`, then the flags of `cli`; validated.
    pub fn load(cli: &Cli) -> Result<GateConfig, GateConfigError> {
        let mut config = match &cli.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| GateConfigError::Read {
                        path: path.clone(),
                        source,
                    })?;
                toml::from_str(&text).map_err(|e| GateConfigError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            None => GateConfig::default(),
        };
        let g = &mut config.gateway;
        if let Some(port) = cli.port {
            g.port = port;
        }
        if let Some(v) = &cli.mysql {
            g.mysql = v.clone();
        }
        if let Some(v) = &cli.redis {
            g.redis = v.clone();
        }
        if let Some(v) = &cli.cluster {
            g.cluster = v.clone();
        }
        if let Some(v) = &cli.data_dir {
            g.data_dir = v.clone();
        }
        if let Some(v) = &cli.bind {
            g.bind = v.clone();
        }
        if let Some(v) = &cli.mail_dir {
            config.mail.dir = v.display().to_string();
            config.mail.smtp.clear();
        }
        if let Some(v) = &cli.smtp {
            config.mail.smtp = v.clone();
        }
        if let Some(v) = &cli.log_level {
            config.log.level = v.clone();
        }
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), GateConfigError> {
        let bad = |m: String| Err(GateConfigError::Invalid(m));
        let g = &self.gateway;
        if g.mysql.trim().is_empty() {
            return bad("--mysql URL is required (the cluster's MySQL/MariaDB)".into());
        }
        if g.redis.trim().is_empty() {
            return bad("--redis URL is required (the cluster's Redis)".into());
        }
        if g.cluster.is_empty() || g.cluster.len() > 64 || g.cluster.contains(char::is_whitespace) {
            return bad(format!(
                "--cluster {:?}: 1 to 64 characters, no spaces",
                g.cluster
            ));
        }
        if g.bind.parse::<IpAddr>().is_err() {
            return bad(format!("--bind {:?} is not an IP address", g.bind));
        }
        if !(g.login_per_ip_per_s > 0.0 && g.login_per_ip_per_s <= 1e6) || g.login_burst == 0 {
            return bad(
                "gateway.login_per_ip_per_s must be in (0, 1e6] and login_burst at least 1".into(),
            );
        }
        if !(1..=600_000).contains(&g.header_timeout_ms) {
            return bad(format!(
                "gateway.header_timeout_ms {} must be 1..=600000",
                g.header_timeout_ms
            ));
        }
        let c = &self.codes;
        if !(1..=86_400).contains(&c.ttl_s) {
            return bad(format!("codes.ttl_s {} must be 1..=86400", c.ttl_s));
        }
        if c.resend_after_s > c.ttl_s {
            return bad(format!(
                "codes.resend_after_s {} must be at most codes.ttl_s {}",
                c.resend_after_s, c.ttl_s
            ));
        }
        if c.max_attempts == 0 || c.per_ip_per_hour == 0 {
            return bad("codes.max_attempts and codes.per_ip_per_hour must be at least 1".into());
        }
        if self.mail.queue == 0 {
            return bad("mail.queue must be at least 1".into());
        }
        Ok(())
    }

    /// The address to listen on.
    pub fn listen_addr(&self) -> Result<SocketAddr, GateConfigError> {
        let ip: IpAddr = self.gateway.bind.parse().map_err(|_| {
            GateConfigError::Invalid(format!("bad bind address {:?}", self.gateway.bind))
        })?;
        Ok(SocketAddr::new(ip, self.gateway.port))
    }

    /// The mail directory (`[mail] dir`, or `DATA_DIR/mail`).
    pub fn mail_dir(&self) -> PathBuf {
        if self.mail.dir.is_empty() {
            self.gateway.data_dir.join("mail")
        } else {
            PathBuf::from(&self.mail.dir)
        }
    }

    /// The log directory (`[log] dir`, or `DATA_DIR/logs`).
    pub fn log_dir(&self) -> PathBuf {
        self.log
            .dir
            .clone()
            .unwrap_or_else(|| self.gateway.data_dir.join("logs"))
    }

    /// The code settings.
    pub fn code_settings(&self) -> CodeSettings {
        CodeSettings {
            ttl: Duration::from_secs(self.codes.ttl_s),
            resend_after: Duration::from_secs(self.codes.resend_after_s),
            max_attempts: self.codes.max_attempts,
        }
    }

    /// The HTTP limits: reactor-http's defaults (8 KiB of head, 64 KiB of body, 60 s of
    /// keep-alive idle) with `[gateway] header_timeout_ms`.
    pub fn http_limits(&self) -> reactor_http::Limits {
        reactor_http::Limits {
            header_timeout: Duration::from_millis(self.gateway.header_timeout_ms),
            ..reactor_http::Limits::default()
        }
    }

    /// The per-source limits.
    pub fn ip_limit_settings(&self) -> IpLimitSettings {
        IpLimitSettings {
            codes_per_hour: self.codes.per_ip_per_hour,
            login_per_s: self.gateway.login_per_ip_per_s,
            login_burst: self.gateway.login_burst,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `gate.example.toml` at the repository root lists every key at its default.
    #[test]
    fn example_file_is_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../gate.example.toml");
        let text = std::fs::read_to_string(&path).expect("gate.example.toml");
        let parsed: GateConfig = toml::from_str(&text).expect("it parses");
        assert_eq!(parsed, GateConfig::default());
    }

    #[test]
    fn flags_override_the_file_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("gate.toml");
        std::fs::write(
            &file,
            "[gateway]\nmysql = \"mysql://a/b\"\nredis = \"redis://c\"\nport = 9\n[codes]\nttl_s = 120\n",
        )
        .unwrap();
        let cli = Cli::parse_from([
            "startgate",
            "8081",
            "--config",
            file.to_str().unwrap(),
            "--cluster",
            "x",
        ]);
        let config = GateConfig::load(&cli).unwrap();
        assert_eq!(
            (config.gateway.port, config.gateway.cluster.as_str()),
            (8081, "x")
        );
        assert_eq!(config.codes.ttl_s, 120);
        assert_eq!(config.code_settings().ttl, Duration::from_secs(120));
        let cli = Cli::parse_from(["startgate", "--redis", "redis://c"]);
        let e = GateConfig::load(&cli).unwrap_err().to_string();
        assert!(e.contains("--mysql"), "{e}");
        std::fs::write(&file, "[codes]\nttl = 30\n").unwrap();
        let cli = Cli::parse_from(["startgate", "--config", file.to_str().unwrap()]);
        let e = GateConfig::load(&cli).unwrap_err().to_string();
        assert!(e.contains("ttl"), "{e}");
    }
}
