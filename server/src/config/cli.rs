//! The command line of `startserv` (clap) and how its flags override configuration keys.
//!
//! [`Cli`] declares the flags; `Config::apply_flags` writes each given flag over its key
//! and remembers which keys came from flags, so that validation errors name the flag the
//! user typed (`--workers`) rather than the key (`server.workers`). It touches only the
//! fields of [`Config`] that have a flag; the merge order itself is in `config/mod.rs`.

use std::path::PathBuf;

use clap::Parser;

use super::Config;

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
pub(super) struct Cli {
    /// TCP port to listen on [default: 12345, or server.port from the config file]
    #[arg(value_name = "PORT")]
    port: Option<u16>,

    /// Serve GET /healthz and GET /metrics over HTTP on this port (same address as the
    /// TCP listener; 0 = a free port) [default: no HTTP listener]
    #[arg(long, value_name = "PORT")]
    http_port: Option<u16>,

    /// Read settings from this TOML file (see server.example.toml for every key)
    #[arg(long, value_name = "FILE")]
    pub(super) config: Option<PathBuf>,

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

    /// Run as one node of a cluster sharing this Redis, e.g. redis://127.0.0.1:6379/0
    /// (requires --mysql); an empty string means a single node [default: single node]
    #[arg(long, value_name = "URL")]
    redis: Option<String>,

    /// Cluster name: every Redis key and channel of the cluster starts with NAME:
    /// [default: chat]
    #[arg(long, value_name = "NAME")]
    cluster: Option<String>,

    /// This node's id in the cluster [default: generated at start-up, node-<12 hex digits>]
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,

    /// The HOST:PORT clients should connect to, handed out by the gateway
    /// [default: the bound address, 127.0.0.1:PORT when bound to 0.0.0.0 or ::]
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
}

impl Config {
    /// Writes the flags given on the command line over their keys (the last step of the
    /// merge before validation).
    pub(super) fn apply_flags(&mut self, cli: Cli) {
        if let Some(port) = cli.port {
            self.server.port = port;
            self.flag_keys.insert("server.port", "PORT");
        }
        if let Some(port) = cli.http_port {
            self.server.http_port = Some(port);
            self.flag_keys.insert("server.http_port", "--http-port");
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
        if let Some(url) = cli.redis {
            self.cluster.redis_url = Some(url);
            self.flag_keys.insert("cluster.redis_url", "--redis");
        }
        if let Some(name) = cli.cluster {
            self.cluster.name = name;
            self.flag_keys.insert("cluster.name", "--cluster");
        }
        if let Some(id) = cli.node_id {
            self.cluster.node_id = id;
            self.flag_keys.insert("cluster.node_id", "--node-id");
        }
        if let Some(addr) = cli.advertise {
            self.cluster.advertise = addr;
            self.flag_keys.insert("cluster.advertise", "--advertise");
        }
        self.normalize();
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::args;
    use super::super::ConfigError;
    use super::*;

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

    const MYSQL: [&str; 2] = ["--mysql", "mysql://root@127.0.0.1:3306/chat"];
    const REDIS: [&str; 2] = ["--redis", "redis://127.0.0.1:6379/0"];

    #[test]
    fn cluster_flags_set_their_keys() {
        let c = Config::from_iter(args(&[
            MYSQL[0],
            MYSQL[1],
            REDIS[0],
            REDIS[1],
            "--cluster",
            "test_42",
            "--node-id",
            "node-a",
            "--advertise",
            "10.0.0.5:7001",
        ]))
        .expect("valid");
        assert!(c.cluster_enabled());
        assert_eq!(
            c.cluster.redis_url.as_deref(),
            Some("redis://127.0.0.1:6379/0")
        );
        assert_eq!(c.cluster.name, "test_42");
        assert_eq!(c.cluster.node_id, "node-a");
        assert_eq!(c.cluster.advertise, "10.0.0.5:7001");

        // Flags win over the file, and --redis '' turns cluster mode off.
        let file = super::super::testing::write_config(
            "[store]\nmysql_url = \"mysql://h/db\"\n\
             [cluster]\nredis_url = \"redis://h\"\nname = \"file\"\nadvertise = \"h:1\"\n",
        );
        let path = file.path().to_str().unwrap();
        let c = Config::from_iter(args(&["--config", path, "--cluster", "flag"])).unwrap();
        assert!(c.cluster_enabled());
        assert_eq!(c.cluster.name, "flag");
        assert_eq!(c.cluster.advertise, "h:1");
        let c = Config::from_iter(args(&["--config", path, "--redis", ""])).unwrap();
        assert!(!c.cluster_enabled());
    }

    #[test]
    fn cluster_flag_errors_name_the_flag() {
        let cluster = |extra: &[&str]| {
            Config::from_iter(args(&[&MYSQL[..], &REDIS[..], extra].concat())).unwrap_err()
        };
        let err = cluster(&["--cluster", "a:b"]);
        assert_eq!(err.key(), Some("--cluster"), "{err}");
        let err = cluster(&["--node-id", &"n".repeat(65)]);
        assert_eq!(err.key(), Some("--node-id"), "{err}");
        let err = cluster(&["--advertise", "host"]);
        assert_eq!(err.key(), Some("--advertise"), "{err}");
        assert!(err
            .to_string()
            .starts_with("config error: --advertise \"host\": "));
        let err =
            Config::from_iter(args(&[MYSQL[0], MYSQL[1], "--redis", "http://h"])).unwrap_err();
        assert_eq!(err.key(), Some("--redis"), "{err}");

        // Without --mysql: the error names both the flag typed and --mysql.
        let err = Config::from_iter(args(&["--redis", "redis://:secret@h:6379"])).unwrap_err();
        assert_eq!(err.key(), Some("--redis"), "{err}");
        let line = err.to_string();
        assert!(line.starts_with("config error: --redis "), "{line}");
        assert!(line.contains("--mysql"), "{line}");
        assert!(line.contains("SQLite"), "{line}");
        assert!(!line.contains("secret"), "password leaked: {line}");
        assert!(!line.contains('\n'), "one line: {line}");
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
            "--redis",
            "--cluster",
            "--node-id",
            "--advertise",
            "--http-port",
            "server.example.toml",
        ] {
            assert!(help.contains(word), "help lacks {word}:\n{help}");
        }
    }
}
