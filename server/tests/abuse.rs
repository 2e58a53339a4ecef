//! One client cannot hurt the others, end to end against the real binary with the
//! production limits (the harness's test defaults lift them; [`production`] sets them
//! back): floods of big frames and of pipelined logins, the password budget per source
//! address, the hashing backlog, failed-password delays, connections per address, the
//! one-response rule for absurd `type` and `seq` echoes, and `read` to a non-friend.
//!
//! Other source addresses are 127.0.0.x: Linux routes all of 127.0.0.0/8 to loopback.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[macro_use]
#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

use std::io::Write;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use client::{befriend, error_code, error_message, frame_bytes, int, Client, PASSWORD, TIMEOUT};
use harness::{StoreKind, TestServer};

/// The limits as `startserv` ships them (see server.example.toml), with the real argon2
/// cost, so that a flood meets what production meets.
const PRODUCTION: &[(&str, &str)] = &[
    ("server.rate_limit_per_sec", "500"),
    ("server.rate_limit_burst", "1000"),
    ("server.max_connections_per_ip", "1024"),
    ("auth.password_rate_per_ip", "3"),
    ("auth.password_burst_per_ip", "10"),
    ("auth.failed_logins_before_delay", "5"),
    ("auth.argon2_memory_kib", "19456"),
    ("auth.argon2_iterations", "2"),
];

fn production(extra: &[(&'static str, &'static str)]) -> TestServer {
    let overrides: Vec<(&str, &str)> = PRODUCTION.iter().chain(extra).copied().collect();
    TestServer::start_with(StoreKind::Sqlite, &overrides)
}

fn source(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

fn proc_field(pid: u32, file: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default()
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    proc_field(pid, "status")
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// CPU time the server has used (user + system), in clock ticks (1/100 s).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = proc_field(pid, "stat");
    // Fields after the command (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Pings every 50 ms until `stop`; returns the slowest round trip.
fn pinger(addr: SocketAddr, stop: Arc<AtomicBool>) -> thread::JoinHandle<Duration> {
    let mut c = Client::connect_from(addr, source(9));
    c.request_ok("ping", json!({}));
    thread::spawn(move || {
        let mut worst = Duration::ZERO;
        while !stop.load(Ordering::SeqCst) {
            let sent = Instant::now();
            c.request_ok("ping", json!({}));
            worst = worst.max(sent.elapsed());
            thread::sleep(Duration::from_millis(50));
        }
        worst
    })
}

/// A `login` padded with an unknown field to `size` bytes of JSON.
fn padded_login(size: usize) -> Vec<u8> {
    let base =
        json!({"type": "login", "username": "nobody", "password": "wrong password", "pad": ""});
    let pad = size - base.to_string().len();
    let v = json!({"type": "login", "username": "nobody", "password": "wrong password", "pad": "x".repeat(pad)});
    v.to_string().into_bytes()
}

#[test]
fn a_flood_of_big_frames_neither_stalls_others_nor_grows_memory() {
    // The input rate (1 MiB/s by default) would slow the flood to a trickle; lift it so
    // that the memory bounds are what stands against it.
    let server = production(&[("server.conn_input_bytes_per_sec", "1073741824")]);
    let addr = server.addr();
    let pid = server.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let ping = pinger(addr, Arc::clone(&stop));
    thread::sleep(Duration::from_millis(300));
    let rss_before = rss_kib(pid);
    let mut rss_peak = rss_before;
    // One attacker, 64 KiB frames as fast as the socket takes them, never reading; when
    // the server drops it (for not reading its answers), it comes back, for 4 s.
    let frame = frame_bytes(&padded_login(65_000));
    let flooding = Arc::new(AtomicBool::new(true));
    let current: Arc<std::sync::Mutex<Option<TcpStream>>> = Arc::default();
    let attacker = {
        let flooding = Arc::clone(&flooding);
        let current = Arc::clone(&current);
        thread::spawn(move || {
            let mut sent = 0usize;
            let mut connections = 0;
            while flooding.load(Ordering::SeqCst) {
                let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
                connections += 1;
                // Blocking writes (no partial frames); the main thread's shutdown ends them.
                *current.lock().unwrap() = Some(s.try_clone().unwrap());
                while flooding.load(Ordering::SeqCst) && s.write_all(&frame).is_ok() {
                    sent += frame.len();
                }
            }
            (sent, connections)
        })
    };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        rss_peak = rss_peak.max(rss_kib(pid));
        thread::sleep(Duration::from_millis(20));
    }
    flooding.store(false, Ordering::SeqCst);
    if let Some(s) = current.lock().unwrap().take() {
        let _ = s.shutdown(std::net::Shutdown::Both);
    }
    let (sent, connections) = attacker.join().unwrap();
    stop.store(true, Ordering::SeqCst);
    let worst = ping.join().unwrap();
    let grown_mib = (rss_peak.saturating_sub(rss_before)) / 1024;
    eprintln!(
        "flood: {} MiB sent over {connections} connections; RSS {} -> peak {} KiB (+{grown_mib} MiB); slowest ping {worst:?}",
        sent >> 20,
        rss_before,
        rss_peak
    );
    assert!(sent > 64 << 20, "the attacker sent only {sent} bytes");
    assert!(worst < Duration::from_secs(1), "a ping waited {worst:?}");
    // One connection may cost its input bound (256 KiB, plus a read and a frame) and its
    // output bound (4 MiB); allocator slack on top. Before the bound: +185 MB in 0.7 s.
    assert!(grown_mib < 32, "RSS grew by {grown_mib} MiB");
}

#[test]
fn pipelined_logins_then_a_close_leave_the_server_idle() {
    let server = production(&[]);
    let addr = server.addr();
    let pid = server.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let ping = pinger(addr, Arc::clone(&stop));
    // 70,000 small logins in one go, then close without reading an answer.
    let mut all = Vec::new();
    for i in 0..70_000 {
        let login = json!({"type": "login", "seq": i, "username": format!("u{i}"), "password": "wrong password"});
        all.extend(frame_bytes(login.to_string().as_bytes()));
    }
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let written = s.write_all(&all).is_ok();
    drop(s);
    let closed = Instant::now();
    thread::sleep(Duration::from_secs(1));
    let ticks = cpu_ticks(pid);
    thread::sleep(Duration::from_secs(1));
    let busy_ms = (cpu_ticks(pid) - ticks) * 10;
    stop.store(true, Ordering::SeqCst);
    let worst = ping.join().unwrap();
    eprintln!(
        "logins: all written {written}; server CPU {busy_ms} ms in the second after the \
         first ({:?} after the close); slowest ping {worst:?}",
        closed.elapsed()
    );
    assert!(worst < Duration::from_secs(1), "a ping waited {worst:?}");
    // Pings cost a few ms; before, the closed connection's logins kept 86% of a core busy.
    assert!(
        busy_ms <= 100,
        "the server used {busy_ms} ms of CPU in that second"
    );
}

#[test]
fn password_work_is_budgeted_per_source_address() {
    let server = production(&[
        ("auth.argon2_memory_kib", "64"),
        ("auth.argon2_iterations", "1"),
    ]);
    let addr = server.addr();
    // A user registered from elsewhere, with a token.
    let mut elsewhere = Client::connect_from(addr, source(2));
    elsewhere.register("budget_owner", PASSWORD);
    let token = elsewhere.login("budget_owner", PASSWORD, false)["token"]
        .as_str()
        .unwrap()
        .to_string();
    // The burst of 10 attempts (distinct unknown users, so no account delay applies).
    let mut c = Client::connect_from(addr, source(3));
    for i in 0..10 {
        c.request_err(
            "login",
            json!({"username": format!("ghost{i}"), "password": "wrong password"}),
            "invalid_credentials",
        );
    }
    for (op, fields) in [
        (
            "login",
            json!({"username": "ghost10", "password": "wrong password"}),
        ),
        (
            "register",
            json!({"username": "newcomer", "password": PASSWORD}),
        ),
    ] {
        let resp = c.request_err(op, fields, "rate_limited");
        let wait = resp["error"]["retry_after_ms"].as_u64().unwrap_or(0);
        assert!(
            (1..=1000).contains(&wait),
            "retry_after_ms in 1..=1000: {resp}"
        );
    }
    // Token logins are not limited; another address has its own budget.
    let resp = c.request_ok("login", json!({"token": token}));
    assert_eq!(resp["username"], "budget_owner");
    let mut other = Client::connect_from(addr, source(4));
    other.request_err(
        "login",
        json!({"username": "ghost", "password": "wrong password"}),
        "invalid_credentials",
    );
    // The bucket refills at 3 per second.
    thread::sleep(Duration::from_millis(400));
    let mut c2 = Client::connect_from(addr, source(3));
    c2.request_err(
        "login",
        json!({"username": "ghost11", "password": "wrong password"}),
        "invalid_credentials",
    );
}

#[test]
fn failed_passwords_slow_that_address_for_that_account_only() {
    let server = production(&[
        ("auth.argon2_memory_kib", "64"),
        ("auth.argon2_iterations", "1"),
        ("auth.password_burst_per_ip", "100"),
    ]);
    let addr = server.addr();
    let mut owner = Client::connect_from(addr, source(2));
    owner.register("victim", PASSWORD);
    let mut attacker = Client::connect_from(addr, source(3));
    for _ in 0..5 {
        attacker.request_err(
            "login",
            json!({"username": "victim", "password": "guess guess"}),
            "invalid_credentials",
        );
    }
    // Even the right password waits now, from there (and the case does not matter).
    let resp = attacker.request_err(
        "login",
        json!({"username": "VICTIM", "password": PASSWORD}),
        "rate_limited",
    );
    let wait = resp["error"]["retry_after_ms"]
        .as_u64()
        .expect("retry_after_ms");
    assert!((1..=1000).contains(&wait), "{resp}");
    // The owner, elsewhere, is not slowed; another account from the attacker's address
    // is not either.
    owner.login("victim", PASSWORD, false);
    attacker.request_err(
        "login",
        json!({"username": "someone_else", "password": "guess guess"}),
        "invalid_credentials",
    );
    // After the wait, a right password goes through and clears the count.
    thread::sleep(Duration::from_millis(wait + 50));
    let mut back = Client::connect_from(addr, source(3));
    back.login("victim", PASSWORD, false);
}

#[test]
fn a_full_hashing_backlog_answers_busy_at_once_and_others_are_served() {
    // 4 workers: at most 2 callers in password work. Hashes of ~100+ ms.
    let server = production(&[
        ("server.workers", "4"),
        ("auth.argon2_memory_kib", "65536"),
        ("auth.argon2_iterations", "3"),
        ("auth.password_burst_per_ip", "1000"),
    ]);
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let ping = pinger(addr, Arc::clone(&stop));
    let storm: Vec<_> = (0..12u8)
        .map(|i| {
            thread::spawn(move || {
                let mut c = Client::connect_from(addr, source(20 + i));
                let sent = Instant::now();
                let resp = c.request(
                    "login",
                    json!({"username": format!("ghost{i}"), "password": "wrong password"}),
                );
                (resp, sent.elapsed())
            })
        })
        .collect();
    let answers: Vec<(Value, Duration)> = storm.into_iter().map(|t| t.join().unwrap()).collect();
    stop.store(true, Ordering::SeqCst);
    let worst = ping.join().unwrap();
    let mut busy = 0;
    for (resp, took) in &answers {
        match error_code(resp) {
            "invalid_credentials" => {}
            "server_busy" => {
                busy += 1;
                assert!(
                    resp["error"]["retry_after_ms"].as_u64().unwrap_or(0) >= 1,
                    "{resp}"
                );
                assert!(
                    *took < Duration::from_secs(1),
                    "busy after {took:?}: {resp}"
                );
            }
            other => panic!("unexpected {other}: {resp}"),
        }
    }
    eprintln!("hashing storm: {busy} of 12 busy; slowest ping {worst:?}");
    assert!(
        busy > 0,
        "12 simultaneous logins all waited for 2 hashing places"
    );
    assert!(worst < Duration::from_secs(1), "a ping waited {worst:?}");
}

#[test]
fn connections_per_source_address_are_capped() {
    let server = production(&[("server.max_connections_per_ip", "3")]);
    let addr = server.addr();
    let mut held: Vec<Client> = (0..3)
        .map(|_| Client::connect_from(addr, source(5)))
        .collect();
    for c in &mut held {
        c.request_ok("ping", json!({}));
    }
    let mut over = Client::connect_from(addr, source(5));
    let frames = over.expect_closed(TIMEOUT);
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0]["type"], "error", "{:?}", frames[0]);
    assert_eq!(error_code(&frames[0]), "server_full", "{:?}", frames[0]);
    // Another address is not affected; a place given back is usable again.
    Client::connect_from(addr, source(6)).request_ok("ping", json!({}));
    drop(held.pop());
    thread::sleep(Duration::from_millis(200));
    Client::connect_from(addr, source(5)).request_ok("ping", json!({}));
}

#[test]
fn every_request_gets_exactly_one_response_whatever_it_echoes() {
    let server = TestServer::start(StoreKind::Sqlite);
    let mut c = Client::connect(server.addr());
    // A seq of 65,500 characters: bad_request naming seq, and the seq is not echoed.
    let long_seq = "9".repeat(65_500);
    c.write_frame(format!(r#"{{"type":"ping","seq":"{long_seq}"}}"#).as_bytes());
    let resp = c.read_raw_response();
    assert_eq!(error_code(&resp), "bad_request", "{resp}");
    assert!(error_message(&resp).contains("seq"), "{resp}");
    assert!(resp.get("seq").is_none(), "an invalid seq is not echoed");
    // 2^64 does not fit: not echoed as a float either.
    c.write_frame(br#"{"type":"ping","seq":18446744073709551616}"#);
    let resp = c.read_raw_response();
    assert_eq!(error_code(&resp), "bad_request", "{resp}");
    assert!(error_message(&resp).contains("seq"), "{resp}");
    assert!(resp.get("seq").is_none(), "{resp}");
    // 2^64 - 1 does, and comes back exactly.
    c.write_frame(br#"{"type":"ping","seq":18446744073709551615}"#);
    let raw = c.read_frame_bytes(Instant::now() + TIMEOUT).unwrap();
    let text = String::from_utf8(raw).unwrap();
    assert!(text.contains(r#""seq":18446744073709551615"#), "{text}");
    // A type of 40,000 characters: unknown_type, the echo cut.
    let long_type = "t".repeat(40_000);
    c.write_frame(format!(r#"{{"type":"{long_type}","seq":3}}"#).as_bytes());
    let resp = c.read_raw_response();
    assert_eq!(error_code(&resp), "unknown_type", "{resp}");
    assert_eq!(resp["seq"], 3);
    let echoed = resp["type"].as_str().unwrap();
    assert!(
        echoed.len() <= 256 && long_type.starts_with(echoed),
        "{echoed}"
    );
    // Exactly one each: the next answer is the next request's.
    c.write_frame(br#"{"type":"ping","seq":4}"#);
    assert_eq!(c.read_raw_response()["seq"], 4);
    c.no_push_within(Duration::from_millis(200));
}

#[test]
fn read_receipts_need_a_friend() {
    let server = TestServer::start(StoreKind::Sqlite);
    let addr = server.addr();
    let mut alice = Client::new_user(addr, "reader_alice");
    let mut bob = Client::new_user(addr, "reader_bob");
    let resp = alice.request_err("read", json!({"peer": bob.id(), "up_to": 1}), "not_friends");
    assert!(
        error_message(&resp).contains(&bob.id().to_string()),
        "{resp}"
    );
    bob.no_push_within(Duration::from_millis(300));
    alice.request_err("read", json!({"peer": 999_999, "up_to": 1}), "no_such_user");
    befriend(&mut alice, &mut bob);
    let sent = int(&bob.send_text(alice.id(), "hi"), "msg_id");
    alice.request_ok("read", json!({"peer": bob.id(), "up_to": sent}));
    bob.expect_push("read", TIMEOUT);
}
