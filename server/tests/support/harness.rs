//! End-to-end test harness: runs the real `startserv` binary as a child process.
//!
//! A [`TestServer`] owns a temporary directory (config file, server log, SQLite data dir),
//! its store (a fresh SQLite file, a fresh MySQL database from [`crate::mysql_db::TestDb`],
//! or an external MySQL URL the test owns), and the child process. It writes a TOML config
//! (fast test defaults plus the test's overrides), picks a free port, starts the binary with
//! stdout and stderr captured to `server.log`, and waits until the port accepts connections.
//!
//! The child is SIGKILLed on drop; when the test is panicking, the tail of the server log is
//! printed so that a failure shows what the server said. [`TestServer::restart`] starts a new
//! process on the same store (on a new port: use [`TestServer::addr`] after it).
//!
//! Include it with `#[path = "support/harness.rs"] mod harness;` next to
//! `#[path = "support/mysql_db.rs"] mod mysql_db;` (the harness uses `crate::mysql_db`).

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::mysql_db::TestDb;

/// How long a server may take to start accepting connections.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The `startserv` binary: cargo's own path for the server crate's tests; for another
/// crate's tests (the gateway's include this file), the `startserv` in the directory
/// above the test executable's (`target/<profile>/`), which `cargo test --workspace`
/// builds.
pub fn startserv_bin() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_startserv") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test executable's path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("startserv"))
        .expect("target/<profile>/ above the test executable");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p server, or cargo test --workspace)",
        bin.display()
    );
    bin
}

/// Which store a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// SQLite in a fresh temporary data dir.
    Sqlite,
    /// A fresh database on the shared MariaDB (`CHAT_TEST_MYSQL`).
    Mysql,
}

enum Backend {
    Sqlite,
    Mysql(TestDb),
    External(String),
}

/// A running (or killed) `startserv` child process on its own store.
pub struct TestServer {
    dir: tempfile::TempDir,
    backend: Backend,
    overrides: Vec<(String, String)>,
    child: Option<Child>,
    addr: SocketAddr,
    starts: u32,
}

/// Returns a port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

impl TestServer {
    /// Starts a server on a fresh store of `kind` with the test defaults.
    pub fn start(kind: StoreKind) -> TestServer {
        TestServer::start_with(kind, &[])
    }

    /// Starts a server on a fresh store of `kind`; `overrides` are `("section.key", value)`
    /// pairs where value is written into the TOML file verbatim (quote strings yourself).
    pub fn start_with(kind: StoreKind, overrides: &[(&str, &str)]) -> TestServer {
        let backend = match kind {
            StoreKind::Sqlite => Backend::Sqlite,
            StoreKind::Mysql => Backend::Mysql(TestDb::new()),
        };
        TestServer::launch(backend, overrides)
    }

    /// Starts a server on the MySQL database at `url` (owned by the test).
    pub fn start_on_mysql_url(url: &str, overrides: &[(&str, &str)]) -> TestServer {
        TestServer::launch(Backend::External(url.to_string()), overrides)
    }

    fn launch(backend: Backend, overrides: &[(&str, &str)]) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("startserv-e2e-")
            .tempdir()
            .expect("temp dir");
        let mut server = TestServer {
            dir,
            backend,
            overrides: overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            child: None,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            starts: 0,
        };
        server.spawn_and_wait();
        server
    }

    /// The address clients connect to (changes on [`TestServer::restart`]).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The child's process id (panics if it is not running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server is not running").id()
    }

    /// The temporary directory holding config, log and data.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The store's data dir (SQLite `chat.db` and the server's own `logs/`).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The MySQL URL the server uses, if it runs on MySQL.
    pub fn mysql_url(&self) -> Option<String> {
        match &self.backend {
            Backend::Sqlite => None,
            Backend::Mysql(db) => Some(db.url()),
            Backend::External(url) => Some(url.clone()),
        }
    }

    /// Which kind of store the server runs on (an external URL counts as MySQL).
    pub fn store_kind(&self) -> StoreKind {
        match self.backend {
            Backend::Sqlite => StoreKind::Sqlite,
            _ => StoreKind::Mysql,
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Everything the server processes wrote to stdout/stderr so far (all starts).
    pub fn log(&self) -> String {
        match fs::read(self.log_path()) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => format!("<no server log: {e}>"),
        }
    }

    /// The last `lines` lines of [`TestServer::log`].
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    fn config_text(&self, port: u16) -> String {
        let mut sections: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut set = |key: &str, value: String| {
            let (section, name) = key
                .split_once('.')
                .unwrap_or_else(|| panic!("override key {key:?} must be section.key"));
            sections
                .entry(section.to_string())
                .or_default()
                .insert(name.to_string(), value);
        };
        set("server.bind", "\"127.0.0.1\"".into());
        set("server.port", port.to_string());
        set("server.rate_limit_per_sec", "1000000".into());
        set("server.rate_limit_burst", "1000000".into());
        // Tests log in many users from 127.0.0.1; the abuse tests set these back.
        set("server.max_connections_per_ip", "100000".into());
        set("auth.password_rate_per_ip", "1000000".into());
        set("auth.password_burst_per_ip", "1000000".into());
        set("auth.failed_logins_before_delay", "1000000".into());
        set("server.shutdown_grace_secs", "5".into());
        set(
            "store.data_dir",
            toml_string(&self.data_dir().to_string_lossy()),
        );
        set(
            "store.mysql_url",
            toml_string(self.mysql_url().as_deref().unwrap_or("")),
        );
        set("auth.argon2_memory_kib", "64".into());
        set("auth.argon2_iterations", "1".into());
        set("auth.argon2_parallelism", "1".into());
        set("log.level", "\"info\"".into());
        for (key, value) in &self.overrides {
            set(key, value.clone());
        }
        let mut text = String::new();
        for (section, keys) in &sections {
            text.push_str(&format!("[{section}]\n"));
            for (key, value) in keys {
                text.push_str(&format!("{key} = {value}\n"));
            }
        }
        text
    }

    fn spawn_and_wait(&mut self) {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_spawn() {
                Ok(()) => return,
                Err(reason) if attempt < 3 && reason.contains("in use") => continue,
                Err(reason) => panic!(
                    "startserv did not start: {reason}\n--- server log ---\n{}",
                    self.log_tail(200)
                ),
            }
        }
    }

    fn try_spawn(&mut self) -> Result<(), String> {
        let port = free_port();
        self.starts += 1;
        let config = self.dir.path().join(format!("config-{}.toml", self.starts));
        fs::write(&config, self.config_text(port)).expect("write config");
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open server log");
        writeln!(
            log,
            "=== harness: start #{} on port {port} ===",
            self.starts
        )
        .unwrap();
        let err_log: File = log.try_clone().expect("clone log handle");
        let child = Command::new(startserv_bin())
            .arg("--config")
            .arg(&config)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err_log))
            .spawn()
            .map_err(|e| format!("cannot spawn startserv: {e}"))?;
        self.child = Some(child);
        self.addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                let tail = self.log_tail(20);
                let why = if tail.contains("in use") {
                    "address in use"
                } else {
                    "exited"
                };
                return Err(format!("{why} before accepting connections ({status})"));
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(250)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(format!(
                    "port {port} not accepting connections after {START_TIMEOUT:?}"
                ));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the child process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// SIGKILLs the server and reaps it (no-op if it is not running).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends a signal by name (`TERM`, `STOP`, `CONT`, ...) with the `kill` command.
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} failed: {status}");
    }

    /// Sends SIGTERM and waits up to `timeout` for the process to exit; returns its status.
    /// Panics (after SIGKILLing it) if it does not exit in time.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + timeout;
        loop {
            let child = self.child.as_mut().expect("server is not running");
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            if Instant::now() > deadline {
                self.kill();
                panic!(
                    "startserv did not exit within {timeout:?} of SIGTERM\n--- server log ---\n{}",
                    self.log_tail(100)
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the server again on the same store and config (killing it first if it runs).
    /// The new process listens on a new port: read [`TestServer::addr`] again.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn_and_wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            eprintln!(
                "--- startserv log ({}, last 150 lines) ---\n{}\n--- end of startserv log ---",
                self.dir.path().display(),
                self.log_tail(150)
            );
        }
    }
}

/// A TOML basic string literal for `s`.
pub fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Runs each `fn NAME(store: StoreKind)` scenario once per store, as the tests
/// `sqlite::NAME` and `mysql::NAME` (filter with `cargo test sqlite::` or `mysql::`).
/// Declare the harness with `#[macro_use]` to use it.
#[allow(unused_macros)]
macro_rules! both_stores {
    ($($name:ident),* $(,)?) => {
        /// The same scenarios on SQLite.
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(crate::harness::StoreKind::Sqlite);
                }
            )*
        }
        /// The same scenarios on MySQL/MariaDB.
        mod mysql {
            $(
                #[test]
                fn $name() {
                    super::$name(crate::harness::StoreKind::Mysql);
                }
            )*
        }
    };
}
