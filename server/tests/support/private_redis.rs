//! A private Redis server for tests that break Redis on purpose.
//!
//! [`PrivateRedis::start`] runs `redis-server --port N --save '' --appendonly no` on a free
//! 127.0.0.1 port in a fresh temp dir (no persistence: a restart comes back empty, as a
//! Redis that lost its memory does) and waits until `PING` answers. The test can stop it
//! ([`PrivateRedis::stop`]: SIGTERM, then SIGKILL if it lingers) and start it again on
//! the same port ([`PrivateRedis::restart`]). On drop it is killed and the temp dir
//! removed. It never touches the shared Redis on 6379.
//!
//! Include it with `#[path = "support/private_redis.rs"] mod private_redis;`.

#![allow(dead_code)]

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long redis-server may take to answer after it is started.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a SIGTERMed redis-server may take to exit before it is SIGKILLed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// A `redis-server` child process on its own port and directory.
pub struct PrivateRedis {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    starts: u32,
}

impl PrivateRedis {
    /// Starts a fresh server on a free port and waits until it answers `PING`.
    pub fn start() -> PrivateRedis {
        let dir = tempfile::Builder::new()
            .prefix("private-redis-")
            .tempdir()
            .expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut redis = PrivateRedis {
            dir,
            port,
            child: None,
            starts: 0,
        };
        redis.spawn();
        redis
    }

    /// The TCP port it listens on (stable across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The redis-server process id (panics if it is not running).
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("redis-server is not running")
            .id()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    /// What redis-server wrote to stdout/stderr (all starts).
    pub fn log(&self) -> String {
        fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open redis log");
        writeln!(out, "=== start #{} on port {} ===", self.starts, self.port).unwrap();
        let child = Command::new("redis-server")
            .arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--dir")
            .arg(self.dir.path())
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("spawn redis-server (is redis-server installed?)");
        self.child = Some(child);
        self.wait_ready();
    }

    /// Whether `PING` answers `PONG` within `timeout`.
    pub fn answers(&self, timeout: Duration) -> bool {
        let Ok(client) = redis::Client::open(self.url()) else {
            return false;
        };
        let Ok(mut conn) = client.get_connection_with_timeout(timeout) else {
            return false;
        };
        if conn.set_read_timeout(Some(timeout)).is_err() {
            return false;
        }
        matches!(
            redis::cmd("PING").query::<String>(&mut conn),
            Ok(reply) if reply == "PONG"
        )
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                panic!(
                    "redis-server exited during start-up ({status}):\n{}",
                    self.log()
                );
            }
            if self.answers(Duration::from_millis(500)) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "redis-server did not answer within {READY_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// A connection to it (timeouts set), for test assertions.
    pub fn connection(&self) -> redis::Connection {
        let client = redis::Client::open(self.url()).expect("redis url");
        let conn = client
            .get_connection_with_timeout(Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("connect to private redis-server: {e}"));
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        conn.set_write_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        conn
    }

    /// Stops the server (SIGTERM; SIGKILL if it has not exited within a few seconds) and
    /// reaps it. No-op if it is not running.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(_)) => return,
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return;
                }
            }
        }
    }

    /// SIGKILLs the server and reaps it (no-op if it is not running).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (stopping it first if it runs) and waits
    /// until it answers. Its data is gone (no persistence).
    pub fn restart(&mut self) {
        self.stop();
        let deadline = Instant::now() + Duration::from_secs(20);
        // The port may linger for a moment after the stop.
        while TcpListener::bind(("127.0.0.1", self.port)).is_err() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        self.spawn();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- private redis-server log (last 30 lines) ---\n{}",
                lines[lines.len().saturating_sub(30)..].join("\n")
            );
        }
    }
}
