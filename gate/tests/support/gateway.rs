//! Test support for the gateway: a `startgate` in this process ([`TestGate`]) in front
//! of a [`TestCluster`] of real `startserv` nodes (the server crate's test support), and
//! a small blocking HTTP/1.1 client ([`http`], [`Http`]) that reads one response by its
//! `Content-Length`.
//!
//! Include it with `#[path = "support/gateway.rs"] mod gateway;` next to the server's
//! support modules (`harness`, `mysql_db`, `client`, `cluster`).

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::{shared_redis_url, TestCluster};
use gate::config::GateConfig;
use gate::GateServer;

/// A gateway on a free port, for `cluster`, writing mail into a temporary directory.
pub struct TestGate {
    server: Option<GateServer>,
    /// Its temporary data directory (logs, mail).
    pub dir: tempfile::TempDir,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl TestGate {
    /// A gateway with test settings (cheap argon2, as the test nodes) changed by `tune`.
    pub fn start(cluster: &TestCluster, tune: impl FnOnce(&mut GateConfig)) -> TestGate {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = GateConfig::default();
        config.gateway.port = 0;
        config.gateway.bind = "127.0.0.1".into();
        config.gateway.mysql = cluster.mysql_url();
        config.gateway.redis = shared_redis_url();
        config.gateway.cluster = cluster.name.clone();
        config.gateway.data_dir = dir.path().to_path_buf();
        config.gateway.workers = 8;
        config.gateway.reactors = 1;
        config.auth.argon2_memory_kib = 64;
        config.auth.argon2_iterations = 1;
        config.auth.password_rate_per_ip = 1000;
        config.auth.password_burst_per_ip = 1000;
        tune(&mut config);
        let server = gate::start(config).expect("startgate starts");
        let addr = server.local_addr().expect("a bound address");
        TestGate {
            server: Some(server),
            dir,
            addr,
        }
    }

    /// The mail directory.
    pub fn mail_dir(&self) -> PathBuf {
        self.dir.path().join("mail")
    }

    /// The mails written so far for `to` (whole files), oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<String> {
        mails_to(&self.mail_dir(), to)
    }

    /// Waits for the `n`-th mail to `to` and returns its 6-digit code.
    pub fn code_for(&self, to: &str, n: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mails = self.mails_to(to);
            if mails.len() >= n {
                return code_in(&mails[n - 1])
                    .unwrap_or_else(|| panic!("no 6-digit code in the mail:\n{}", mails[n - 1]));
            }
            assert!(Instant::now() < deadline, "mail {n} to {to} never came");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A request; the response's status, headers (lowercased names) and JSON body.
    pub fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Reply {
        http(self.addr, method, path, body)
    }

    /// `POST path` with `body`.
    pub fn post(&self, path: &str, body: Value) -> Reply {
        self.call("POST", path, Some(&body))
    }
}

impl Drop for TestGate {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
    }
}

/// The mails in `dir` whose `To:` is `to`, by file time.
pub fn mails_to(dir: &Path, to: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut mails: Vec<(std::time::SystemTime, String)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| {
            let text = std::fs::read_to_string(e.path()).ok()?;
            let time = e.metadata().ok()?.modified().ok()?;
            Some((time, text))
        })
        .filter(|(_, text)| {
            text.lines()
                .any(|l| l.to_ascii_lowercase().starts_with("to:") && l.contains(to))
        })
        .collect();
    mails.sort_by_key(|(time, _)| *time);
    mails.into_iter().map(|(_, text)| text).collect()
}

/// The first run of exactly six digits on a line of its own in a mail.
pub fn code_in(mail: &str) -> Option<String> {
    mail.lines()
        .map(str::trim)
        .find(|l| l.len() == 6 && l.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
}

/// One HTTP response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as JSON (`Value::Null` if it is not JSON).
    pub json: Value,
    /// The body's bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The error code of an error reply.
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }
}

/// One request on a fresh connection.
pub fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Reply {
    let mut conn = Http::connect(addr);
    conn.send(method, path, body);
    conn.read()
}

/// A keep-alive connection.
pub struct Http {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    /// Connects.
    pub fn connect(addr: SocketAddr) -> Http {
        let stream = TcpStream::connect(addr).expect("connect to the gateway");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("read timeout");
        Http {
            stream,
            buf: Vec::new(),
        }
    }

    /// Writes raw bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Sends one request.
    pub fn send(&mut self, method: &str, path: &str, body: Option<&Value>) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        self.write(head.as_bytes());
        self.write(body.as_bytes());
    }

    /// Reads one response.
    pub fn read(&mut self) -> Reply {
        loop {
            if let Some(reply) = self.parse() {
                return reply;
            }
            let mut chunk = [0u8; 8192];
            let n = self.stream.read(&mut chunk).expect("read a response");
            assert!(
                n > 0,
                "connection closed before a whole response: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Whether the server closed the connection (EOF) within the read timeout.
    pub fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        matches!(self.stream.read(&mut chunk), Ok(0))
    }

    fn parse(&mut self) -> Option<Reply> {
        let end = self.buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
        let head = String::from_utf8_lossy(&self.buf[..end]).to_string();
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        if self.buf.len() < end + len {
            return None;
        }
        let body = self.buf[end..end + len].to_vec();
        self.buf.drain(..end + len);
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Some(Reply {
            status,
            headers,
            json,
            body,
        })
    }
}
