//! A private MariaDB server for tests that break the database on purpose.
//!
//! [`PrivateMariaDb::start`] initialises a data directory in a fresh temp dir with
//! `mariadb-install-db` (root with an empty password over TCP), starts `mariadbd` on a free
//! 127.0.0.1 port with small InnoDB buffers, and waits until `SELECT 1` answers. The test
//! can then SIGKILL it, freeze it (`SIGSTOP`/`SIGCONT`) and restart it on the same data dir
//! and port. On drop the server is killed and the temp dir removed. It never touches the
//! shared MariaDB on 3306.

#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use mysql::prelude::Queryable;

/// How long mariadbd may take to answer after it is started.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Options given to both `mariadb-install-db` and `mariadbd` (sizes must agree).
const SERVER_OPTS: &[&str] = &[
    "--innodb-log-file-size=8M",
    "--innodb-buffer-pool-size=32M",
    "--skip-name-resolve",
    "--skip-log-bin",
    "--max-connections=300",
    // Several instances start at once in one test run; native AIO contexts are a shared
    // kernel resource (fs.aio-max-nr) that a busy machine can run out of.
    "--innodb-use-native-aio=0",
];

/// A `mariadbd` child process on its own data dir and port.
pub struct PrivateMariaDb {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    stopped: bool,
    starts: u32,
}

impl PrivateMariaDb {
    /// Installs a fresh data dir and starts the server on a free port.
    pub fn start() -> PrivateMariaDb {
        let dir = tempfile::Builder::new()
            .prefix("private-mariadb-")
            .tempdir()
            .expect("temp dir");
        let datadir = dir.path().join("data");
        // Its own tmpdir: concurrent instances otherwise collide on temporary tables
        // (`/tmp/#sql-temptable-…`) while bootstrapping.
        let tmpdir = dir.path().join("tmp");
        fs::create_dir_all(&tmpdir).expect("create tmpdir");
        let log = dir.path().join("install.log");
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open install log");
        let status = Command::new("mariadb-install-db")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", datadir.display()))
            .arg(format!("--tmpdir={}", tmpdir.display()))
            .arg("--user=root")
            .arg("--auth-root-authentication-method=normal")
            .arg("--skip-test-db")
            .args(SERVER_OPTS)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .status()
            .expect("run mariadb-install-db (is mariadb-server installed?)");
        assert!(
            status.success(),
            "mariadb-install-db failed ({status}):\n{}",
            fs::read_to_string(&log).unwrap_or_default()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut db = PrivateMariaDb {
            dir,
            port,
            child: None,
            stopped: false,
            starts: 0,
        };
        db.spawn();
        db
    }

    /// The TCP port it listens on (stable across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mysql://root@127.0.0.1:PORT` (no database).
    pub fn base_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.port)
    }

    /// `mysql://root@127.0.0.1:PORT/NAME`.
    pub fn url(&self, database: &str) -> String {
        format!("{}/{database}", self.base_url())
    }

    /// The mariadbd process id (panics if it is not running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("mariadbd is not running").id()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("mariadbd.log")
    }

    /// What mariadbd wrote to stdout/stderr (all starts).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open mariadbd log");
        writeln!(out, "=== start #{} on port {} ===", self.starts, self.port).unwrap();
        let d = self.dir.path();
        let child = Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", d.join("data").display()))
            .arg(format!("--port={}", self.port))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", d.join("mariadbd.sock").display()))
            .arg(format!("--pid-file={}", d.join("mariadbd.pid").display()))
            .arg(format!("--tmpdir={}", d.join("tmp").display()))
            .arg("--user=root")
            .args(SERVER_OPTS)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("spawn mariadbd");
        self.child = Some(child);
        self.stopped = false;
        self.wait_ready();
    }

    fn connect(&self, timeout: Duration) -> mysql::Result<mysql::Conn> {
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some("127.0.0.1"))
            .tcp_port(self.port)
            .user(Some("root"))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(timeout))
            .read_timeout(Some(timeout))
            .write_timeout(Some(timeout));
        mysql::Conn::new(opts)
    }

    /// Whether `SELECT 1` answers within `timeout`.
    pub fn answers(&self, timeout: Duration) -> bool {
        match self.connect(timeout) {
            Ok(mut conn) => conn
                .query_first::<i64, _>("SELECT 1")
                .map(|v| v == Some(1))
                .unwrap_or(false),
            Err(_) => false,
        }
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "mariadbd exited during start-up ({status}):\n{}",
                    self.log()
                );
            }
            if self.answers(Duration::from_secs(2)) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "mariadbd did not answer within {READY_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs one statement as root (e.g. `CREATE DATABASE chat`).
    pub fn execute(&self, sql: &str) {
        let mut conn = self
            .connect(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect to private mariadbd: {e}"));
        conn.query_drop(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Creates database `name` and returns its URL.
    pub fn create_database(&self, name: &str) -> String {
        self.execute(&format!("CREATE DATABASE `{name}`"));
        self.url(name)
    }

    /// One value of a single-value query (e.g. a `COUNT(*)`).
    pub fn query_i64(&self, sql: &str) -> i64 {
        let mut conn = self
            .connect(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("connect to private mariadbd: {e}"));
        conn.query_first::<i64, _>(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .unwrap_or_else(|| panic!("{sql}: no row"))
    }

    fn send_signal(&self, name: &str) {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} mariadbd failed: {status}");
    }

    /// SIGKILLs mariadbd and reaps it (no-op if it is not running).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            if self.stopped {
                let _ = Command::new("kill")
                    .arg("-CONT")
                    .arg(child.id().to_string())
                    .status();
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        self.stopped = false;
    }

    /// Freezes mariadbd (SIGSTOP): its port still accepts TCP, but nothing answers.
    pub fn freeze(&mut self) {
        self.send_signal("STOP");
        self.stopped = true;
    }

    /// Resumes a frozen mariadbd (SIGCONT).
    pub fn thaw(&mut self) {
        self.send_signal("CONT");
        self.stopped = false;
    }

    /// Starts mariadbd again on the same data dir and port (killing it first if it runs)
    /// and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(20);
        // The port may linger for a moment after the kill.
        while TcpListener::bind(("127.0.0.1", self.port)).is_err() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(50));
        }
        self.spawn();
    }
}

impl Drop for PrivateMariaDb {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- private mariadbd log (last 40 lines) ---\n{}",
                lines[lines.len().saturating_sub(40)..].join("\n")
            );
        }
    }
}
