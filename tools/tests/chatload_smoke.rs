//! Smoke tests of chatload against a real `startserv`: a 2-second relay with 10
//! connections must ack messages and deliver every acked one exactly once, each
//! connection's timeline without gap or reorder; the same with the server given twice as
//! `--addr` (pairs split over the two "nodes"); a short `abuse` run (3 small attackers)
//! must measure both phases, attack, and lose nothing; the relay over WebSocket
//! (`--ws`, a server started with `--http-port 0`) must be as clean, every connection
//! upgraded and no framing or handshake trouble.
//!
//! The server binary is `$STARTSERV_BIN` when set; otherwise the test runs
//! `cargo build -p server --bin startserv` (a no-op when it is up to date) and uses
//! `<target dir>/debug/startserv`, the target dir being `$CARGO_TARGET_DIR` or the
//! workspace's `target/`. The server runs on SQLite in a temporary directory with the
//! bench profile (cheap argon2) and a port the OS picks, read from its log line
//! `startserv listening on ADDR` (and with an HTTP port, `startserv http listening on
//! ADDR: ...`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use clap::Parser;
use tools::args::{AbuseArgs, RelayArgs};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tools/ lives in the workspace")
        .to_path_buf()
}

fn startserv() -> PathBuf {
    if let Ok(bin) = std::env::var("STARTSERV_BIN") {
        return PathBuf::from(bin);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "server", "--bin", "startserv"])
        .current_dir(workspace())
        .status()
        .expect("run cargo build -p server");
    assert!(status.success(), "cargo build -p server failed");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target"));
    let target = if target.is_absolute() {
        target
    } else {
        workspace().join(target)
    };
    target.join("debug").join("startserv")
}

/// Kills the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server(dir: &Path) -> (Server, SocketAddr) {
    let (server, addr, _) = start_server_with(dir, false);
    (server, addr)
}

/// Starts startserv in `dir`; with `http`, also on an HTTP port the OS picks (its
/// WebSocket endpoint), returned third.
fn start_server_with(dir: &Path, http: bool) -> (Server, SocketAddr, Option<SocketAddr>) {
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        "[server]\nbind = \"127.0.0.1\"\n[auth]\nargon2_memory_kib = 64\nargon2_iterations = 1\n",
    )
    .expect("write the config");
    let mut child = Command::new(startserv())
        .arg("0")
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--log-level", "warn,chat::server=info"])
        .args(if http { &["--http-port", "0"][..] } else { &[] })
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start startserv");
    let stderr = child.stderr.take().expect("piped stderr");
    let server = Server(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some((_, addr)) = line.split_once("startserv listening on ") {
                let _ = tx.send((false, addr.trim().to_string()));
            }
            if let Some((_, rest)) = line.split_once("startserv http listening on ") {
                let addr = rest.split_once(": ").map_or(rest, |(addr, _)| addr);
                let _ = tx.send((true, addr.trim().to_string()));
            }
        }
    });
    let (mut addr, mut http_addr) = (None, None);
    while addr.is_none() || (http && http_addr.is_none()) {
        let (is_http, a) = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("startserv did not report its addresses");
        let a: SocketAddr = a.parse().expect("a socket address");
        if is_http {
            http_addr = Some(a);
        } else {
            addr = Some(a);
        }
    }
    (server, addr.expect("the TCP address"), http_addr)
}

/// A 2-second relay of 10 connections with one `--addr` per entry of `addrs`; checks
/// that it delivered every acked message exactly once, gapless and in order. Returns the
/// report's JSON.
fn relay_is_clean(addrs: &[String]) -> serde_json::Value {
    relay_is_clean_with(addrs, &[])
}

/// [`relay_is_clean`] with more relay options (`--ws`).
fn relay_is_clean_with(addrs: &[String], extra: &[&str]) -> serde_json::Value {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        relay: RelayArgs,
    }
    let mut args = vec!["relay".to_string()];
    for a in addrs {
        args.extend(["--addr".to_string(), a.clone()]);
    }
    args.extend(
        [
            "--conns",
            "10",
            "--duration",
            "2",
            "--warmup",
            "0.5",
            "--window",
            "2",
            "--no-progress",
            "--reactors",
            "1",
            "--workers",
            "2",
        ]
        .map(String::from),
    );
    args.extend(extra.iter().map(|a| a.to_string()));
    let cli = Cli::parse_from(args);
    let common = cli.relay.common.resolve().expect("valid options");
    let plan = cli.relay.validate().expect("valid plan");
    let report = tools::relay::run(&common, &plan).expect("the relay runs");
    let j = &report.json;
    eprintln!("{}", report.table.render());
    assert!(j["exactly_once"]["acked"].as_u64().unwrap() > 0, "{j}");
    assert!(j["acked_per_sec"].as_f64().unwrap() > 0.0, "{j}");
    assert_eq!(j["lost"], 0, "{j}");
    assert_eq!(j["duplicated"], 0, "{j}");
    assert_eq!(j["gaps"], 0, "{j}");
    assert_eq!(j["reorders"], 0, "{j}");
    assert_eq!(j["exactly_once"]["missing_after_drain"], 0, "{j}");
    assert_eq!(j["unanswered_sends"], 0, "{j}");
    assert_eq!(j["nodes"], addrs.len(), "{j}");
    // Error answers to sends of the measured window (none expected here) and their
    // time to refuse.
    assert!(j["refusal"]["count"].is_u64(), "{j}");
    assert!(j["refusal"]["with_retry_after"].is_u64(), "{j}");
    assert!(report.clean, "{j}");
    report.json
}

#[test]
fn relay_delivers_every_acked_message_exactly_once() {
    let dir = std::env::temp_dir().join(format!("chatload-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (server, addr) = start_server(&dir);
    // The server's CPU over the measured window, per delivered message (`--cpu-of`).
    let watch = format!("server={}", server.0.id());
    let report = relay_is_clean_with(&[addr.to_string()], &["--cpu-of", &watch]);
    let cpu = &report["cpu"]["server"];
    assert!(cpu["cpu_s"].as_f64().is_some_and(|s| s >= 0.0), "{report}");
    assert!(
        cpu["us_per_msg"].as_f64().is_some_and(|us| us >= 0.0),
        "{report}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two `--addr` that are the same server: the pairs are placed over both "nodes" and
/// every check still holds (a real cluster is `make cluster`).
#[test]
fn relay_over_two_addresses_is_clean() {
    let dir = std::env::temp_dir().join(format!("chatload-smoke2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (_server, addr) = start_server(&dir);
    relay_is_clean(&[addr.to_string(), addr.to_string()]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The relay over WebSocket: every connection (set-up and measured traffic) upgrades at
/// `/ws` of the node's HTTP port; delivery is as exact as over TCP.
#[test]
fn relay_over_websocket_is_clean() {
    let dir = std::env::temp_dir().join(format!("chatload-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (_server, _, http) = start_server_with(&dir, true);
    let http = http.expect("the server reported its HTTP address");
    let j = relay_is_clean_with(&[http.to_string()], &["--ws"]);
    assert_eq!(j["transport"], "ws", "{j}");
    assert!(j["delivered_per_sec"].as_f64().unwrap() > 0.0, "{j}");
    assert!(j["exactly_once"]["pushes"].as_u64().unwrap() > 0, "{j}");
    let health = &j["health"];
    assert_eq!(health["connect_errors"], serde_json::json!({}), "{j}");
    assert_eq!(health["anomalies"], serde_json::json!({}), "{j}");
    assert_eq!(health["malformed"], serde_json::json!({}), "{j}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--ws` against a port that does not speak WebSocket (the TCP port): the set-up fails
/// with the handshakes counted, nothing panics.
#[test]
fn relay_over_websocket_to_a_tcp_port_fails_cleanly() {
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        relay: RelayArgs,
    }
    let dir = std::env::temp_dir().join(format!("chatload-ws-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (_server, addr) = start_server(&dir);
    let addr = addr.to_string();
    let cli = Cli::parse_from([
        "relay",
        "--ws",
        "--addr",
        &addr,
        "--conns",
        "4",
        "--duration",
        "1",
        "--setup-timeout",
        "20",
        "--no-progress",
    ]);
    let common = cli.relay.common.resolve().expect("valid options");
    let plan = cli.relay.validate().expect("valid plan");
    let err = match tools::relay::run(&common, &plan) {
        Ok(report) => panic!("a relay without handshakes ran: {}", report.json),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("0 of 4 connections logged in"), "{err}");
    assert!(err.contains("ws_handshake:"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn abuse_measures_both_phases_and_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("chatload-abuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (server, addr) = start_server(&dir);

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        abuse: AbuseArgs,
    }
    let addr_arg = addr.to_string();
    let pid = server.0.id().to_string();
    let cli = Cli::parse_from([
        "abuse",
        "--addr",
        &addr_arg,
        "--conns",
        "10",
        "--rate",
        "100",
        "--duration",
        "1",
        "--warmup",
        "0.3",
        "--drain",
        "10",
        "--attackers",
        "3",
        "--pipeline",
        "2000",
        "--half-open",
        "2",
        "--server-pid",
        &pid,
        "--no-progress",
        "--reactors",
        "1",
        "--workers",
        "2",
    ]);
    let common = cli.abuse.common.resolve().expect("valid options");
    let plan = cli.abuse.validate().expect("valid plan");
    let report = tools::abuse::run(&common, &plan).expect("the abuse scenario runs");
    let j = &report.json;
    eprintln!("{}", report.table.render());
    for phase in ["no_attack", "attack"] {
        let p = &j[phase];
        assert!(
            p["delivery_latency_us"]["count"].as_u64().unwrap() > 0,
            "{j}"
        );
        assert!(p["ping"]["answered"].as_u64().unwrap() > 0, "{j}");
        assert!(p["server_rss"]["peak_kib"].as_u64().unwrap() > 0, "{j}");
        assert_eq!(p["lost"], 0, "{j}");
        assert_eq!(p["duplicated"], 0, "{j}");
        assert_eq!(p["gaps"], 0, "{j}");
        assert_eq!(p["reorders"], 0, "{j}");
        assert_eq!(p["unanswered_sends"], 0, "{j}");
    }
    let total = &j["attack_traffic"]["total"];
    assert!(total["bytes_sent"].as_u64().unwrap() > 0, "{j}");
    assert!(total["connections"].as_u64().unwrap() >= 3, "{j}");
    assert!(j["goals"]["p99_ratio"].as_f64().is_some(), "{j}");
    assert!(report.clean, "{j}");
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}
