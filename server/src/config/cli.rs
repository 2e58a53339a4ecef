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
}

impl Config {
    /// Writes the flags given on the command line over their keys (the last step of the
    /// merge before validation).
    pub(super) fn apply_flags(&mut self, cli: Cli) {
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
}
