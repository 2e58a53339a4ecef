//! `chatload conns`: many logged-in, idle connections held on one server, or spread over
//! the nodes of a cluster (several `--addr`: connection `i` goes to node `i mod n`; the
//! accounts are registered through the first).
//!
//! Each connection binds a source address from 127.0.0.2..=127.0.0.254 in turn
//! ([`crate::accounts::source_addr`]) before connecting, so the ~28k ephemeral ports of
//! one address pair are never the limit, and logs in as its own user. At most
//! `--concurrency` connections are being set up at once. While holding, every
//! connection pings every `--ping-interval` seconds (the server closes silent ones after
//! 120 s). At the end every connection pings once more: *still connected* counts those
//! that answered.
//!
//! One process can hold no more sockets than its RLIMIT_NOFILE hard limit (raised to it
//! at start), so `--procs N` makes the parent:
//! 1. register the users (unless `--skip-register` or `--demo-users`), untimed;
//! 2. read the server's VmRSS (`--server-pid`);
//! 3. exec N children (`chatload conns --child --offset K ...`), each with a share;
//! 4. wait until every child reports `{"event":"ready"}`, hold `--hold` seconds, read
//!    VmRSS again, then write `stop` to every child's stdin;
//! 5. sum the children's `{"event":"result"}` lines (histograms travel as value/count
//!    pairs, see [`crate::stats::to_pairs`]).
//!
//! A child prints JSON lines only: `progress` events while logging in, `ready`, then
//! `result` once told to stop (or when its stdin closes).
//!
//! Logins are `proto::Request`s ([`crate::accounts::Accounts::login_request`]).
//! May touch: the connections it opens, the child processes it starts (their stdin and
//! stdout), its own stdin and stdout (as a child), the server's `/proc` status (VmRSS,
//! read only), the process's RLIMIT_NOFILE, and its own counters.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver};
use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::accounts::{raise_nofile, register_bulk, source_addr, Accounts, BulkPlan};
use crate::args::{ConnsArgs, ConnsPlan, Resolved};
use crate::client::{
    wait_until, CountPushes, Delayer, Engine, Failure, Health, Peer, PushSink, Retry,
};
use crate::dialect::Wire;
use crate::error::LoadError;
use crate::report::{bar, counts_line, emit_json, num1, Report, Table};
use crate::rss::vmrss_kib;
use crate::stats::{self, add_json_counts, Counts, Percentiles, Recorder};

/// How long the final ping round may take.
const FINAL_PING_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections of one process and what happened to them.
struct Holder {
    peers: Mutex<Vec<Arc<Peer>>>,
    logged_in: AtomicU64,
    settled: AtomicU64,
    in_setup: AtomicUsize,
    failed: Counts,
    latency: Recorder,
    pings_sent: AtomicU64,
    pings_ok: AtomicU64,
    pings_failed: AtomicU64,
    login_retries: AtomicU64,
    pushes: Arc<CountPushes>,
}

impl Holder {
    fn new() -> Arc<Holder> {
        Arc::new(Holder {
            peers: Mutex::new(Vec::new()),
            logged_in: AtomicU64::new(0),
            settled: AtomicU64::new(0),
            in_setup: AtomicUsize::new(0),
            failed: Counts::default(),
            latency: Recorder::default(),
            pings_sent: AtomicU64::new(0),
            pings_ok: AtomicU64::new(0),
            pings_failed: AtomicU64::new(0),
            login_retries: AtomicU64::new(0),
            pushes: Arc::new(CountPushes::default()),
        })
    }

    /// Connects and logs in accounts `offset..offset + n`, `concurrency` at a time.
    fn open(
        self: &Arc<Self>,
        engine: &Engine,
        common: &Resolved,
        accounts: &Accounts,
        (offset, n): (usize, usize),
        plan: &ConnsPlan,
        mut tick: impl FnMut(&Holder),
    ) -> Result<(), LoadError> {
        let retry = Retry::new(Delayer::start()?);
        let deadline = Instant::now() + plan.login_timeout;
        let sink: Arc<dyn PushSink> = self.pushes.clone();
        let mut last_tick = Instant::now();
        for i in offset..offset + n {
            while self.in_setup.load(Ordering::Relaxed) >= plan.concurrency
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            if last_tick.elapsed() >= Duration::from_millis(500) {
                tick(self);
                last_tick = Instant::now();
            }
            let t0 = Instant::now();
            let addr = common.node_addr(i);
            let local = source_addr(common.spread, addr, i);
            let peer = match engine.connect(i, local, addr, Wire::Json, Arc::clone(&sink)) {
                Ok(peer) => peer,
                Err(e) => {
                    self.failed.inc(&format!("connect:{:?}", e.kind()));
                    self.settled.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            self.in_setup.fetch_add(1, Ordering::Relaxed);
            let h = Arc::clone(self);
            retry.request(
                &peer,
                accounts.login_request(i, true),
                Box::new(move |peer, outcome| {
                    match outcome {
                        Ok(f) if f.user_id.is_some() => {
                            peer.set_user_id(f.user_id.unwrap_or(0));
                            h.latency.record(i, t0.elapsed().as_micros() as u64);
                            h.logged_in.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => h.failed.inc("no_user_id"),
                        Err(Failure::Server(e)) => h.failed.inc(e.code.as_str()),
                        Err(Failure::Closed) => h.failed.inc("closed"),
                    }
                    h.in_setup.fetch_sub(1, Ordering::Relaxed);
                    h.settled.fetch_add(1, Ordering::Relaxed);
                }),
            );
            self.peers.lock().push(peer);
        }
        while !wait_until(Instant::now() + Duration::from_millis(500), || {
            self.settled.load(Ordering::Relaxed) >= n as u64
        }) && Instant::now() < deadline
        {
            tick(self);
        }
        let settled = self.settled.load(Ordering::Relaxed);
        if settled < n as u64 {
            self.failed.add("timeout", n as u64 - settled);
        }
        self.login_retries
            .store(retry.retries.load(Ordering::Relaxed), Ordering::Relaxed);
        tick(self);
        Ok(())
    }

    fn live(&self) -> Vec<Arc<Peer>> {
        self.peers
            .lock()
            .iter()
            .filter(|p| p.user_id() != 0 && !p.is_closed())
            .cloned()
            .collect()
    }

    fn ping_all(self: &Arc<Self>, alive: Option<&Arc<AtomicU64>>) -> usize {
        let live = self.live();
        for peer in &live {
            self.pings_sent.fetch_add(1, Ordering::Relaxed);
            let h = Arc::clone(self);
            let alive = alive.cloned();
            peer.ping(Box::new(move |_, outcome| {
                if outcome.is_ok() {
                    h.pings_ok.fetch_add(1, Ordering::Relaxed);
                    if let Some(a) = alive {
                        a.fetch_add(1, Ordering::Relaxed);
                    }
                } else {
                    h.pings_failed.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        live.len()
    }

    /// Holds until `stop` says so, pinging every `interval`.
    fn hold(self: &Arc<Self>, interval: Duration, mut stop: impl FnMut() -> bool) {
        let mut next_ping = Instant::now() + interval;
        while !stop() {
            if Instant::now() >= next_ping {
                self.ping_all(None);
                next_ping += interval;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pings every live connection once more; returns how many answered.
    fn final_check(self: &Arc<Self>) -> u64 {
        let alive = Arc::new(AtomicU64::new(0));
        let asked = self.ping_all(Some(&alive));
        let answered = || {
            self.live().iter().all(|p| p.pending() == 0)
                || alive.load(Ordering::Relaxed) >= asked as u64
        };
        wait_until(Instant::now() + FINAL_PING_TIMEOUT, answered);
        alive.load(Ordering::Relaxed)
    }

    fn close_all(&self) {
        for peer in self.peers.lock().iter() {
            peer.close();
        }
    }

    /// This process's figures, as a `result` object.
    fn result_json(&self, n: usize, still: u64, health: &Health, limits: (u64, u64)) -> Value {
        json!({
            "event": "result",
            "conns": n,
            "logged_in": self.logged_in.load(Ordering::Relaxed),
            "still_connected": still,
            "failed": self.failed.json(),
            "login_latency_hist": stats::to_pairs(&self.latency.merged()),
            "pings_sent": self.pings_sent.load(Ordering::Relaxed),
            "pings_ok": self.pings_ok.load(Ordering::Relaxed),
            "pings_failed": self.pings_failed.load(Ordering::Relaxed),
            "login_retries": self.login_retries.load(Ordering::Relaxed),
            "pushes": self.pushes.kinds.json(),
            "rlimit_nofile": [limits.0, limits.1],
            "health": health.json(),
        })
    }
}

fn accounts_of(common: &Resolved, args: &ConnsArgs) -> Accounts {
    if args.demo_users {
        Accounts::Demo
    } else {
        common.generated()
    }
}

fn check_fds(n: usize) -> Result<(u64, u64), LoadError> {
    let (soft, hard) = raise_nofile();
    if n as u64 + 64 > soft {
        return Err(LoadError::Args(format!(
            "{n} connections in one process need more file descriptors than RLIMIT_NOFILE \
             allows (soft {soft}, hard {hard}); use --procs"
        )));
    }
    Ok((soft, hard))
}

/// Runs `chatload conns` (parent, single process or child, as the options say).
pub fn run(common: &Resolved, args: &ConnsArgs, plan: &ConnsPlan) -> Result<Report, LoadError> {
    if args.child {
        run_child(common, args, plan)?;
        // A child's output is its JSON lines; the parent makes the report.
        return Ok(Report {
            table: Table::new("child"),
            json: Value::Null,
            clean: true,
        });
    }
    let accounts = accounts_of(common, args);
    let health = Arc::new(Health::default());
    let engine = Engine::start(common.threads, Arc::clone(&health))?;
    let result = if plan.procs > 1 {
        run_parent(&engine, common, args, plan, &accounts)
    } else {
        run_single(&engine, common, args, plan, &accounts)
    };
    engine.shutdown();
    result
}

fn register_all(
    engine: &Engine,
    common: &Resolved,
    args: &ConnsArgs,
    accounts: &Accounts,
    n: usize,
) -> Result<Option<Value>, LoadError> {
    if !accounts.needs_registration() || args.skip_register {
        return Ok(None);
    }
    let pb = bar(n as u64, "register", common.progress);
    let r = register_bulk(
        engine,
        common.addr,
        accounts,
        args.offset..args.offset + n,
        BulkPlan::default(),
        pb,
    )?;
    if r.failed.total() > 0 {
        return Err(LoadError::Setup(format!(
            "registration failed for some accounts: {}",
            counts_line(&r.failed.json())
        )));
    }
    eprintln!(
        "chatload conns: registered {} accounts ({} new) in {:.1} s",
        r.created + r.existed,
        r.created,
        r.secs
    );
    Ok(Some(r.json()))
}

fn run_single(
    engine: &Engine,
    common: &Resolved,
    args: &ConnsArgs,
    plan: &ConnsPlan,
    accounts: &Accounts,
) -> Result<Report, LoadError> {
    let limits = check_fds(plan.conns)?;
    let registered = register_all(engine, common, args, accounts, plan.conns)?;
    let rss_before = args.server_pid.and_then(vmrss_kib);
    let holder = Holder::new();
    let pb = bar(plan.conns as u64, "login", common.progress);
    let start = Instant::now();
    holder.open(
        engine,
        common,
        accounts,
        (args.offset, plan.conns),
        plan,
        |h| {
            pb.set_position(h.settled.load(Ordering::Relaxed));
        },
    )?;
    pb.finish_and_clear();
    let login_secs = start.elapsed().as_secs_f64();
    let pb = bar(plan.hold.as_millis() as u64, "hold", common.progress);
    let hold_until = Instant::now() + plan.hold;
    holder.hold(plan.ping_interval, || {
        let left = hold_until.saturating_duration_since(Instant::now());
        pb.set_position((plan.hold - left).as_millis() as u64);
        left.is_zero()
    });
    pb.finish_and_clear();
    let rss_after = args.server_pid.and_then(vmrss_kib);
    let still = holder.final_check();
    let child = holder.result_json(plan.conns, still, engine.health(), limits);
    holder.close_all();
    Ok(summarize(
        common,
        args,
        plan,
        vec![child],
        registered,
        (rss_before, rss_after),
        login_secs,
    ))
}

fn run_child(common: &Resolved, args: &ConnsArgs, plan: &ConnsPlan) -> Result<(), LoadError> {
    let limits = check_fds(plan.conns)?;
    let accounts = accounts_of(common, args);
    let health = Arc::new(Health::default());
    let engine = Engine::start(common.threads, Arc::clone(&health))?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("chatload-stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                for line in stdin.lock().lines() {
                    match line {
                        Ok(l) if l.trim() == "stop" => break,
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                stop.store(true, Ordering::Relaxed);
            })
            .map_err(LoadError::io("spawn the stdin reader"))?;
    }
    let holder = Holder::new();
    holder.open(
        &engine,
        common,
        &accounts,
        (args.offset, plan.conns),
        plan,
        |h| {
            emit_json(&json!({
                "event": "progress",
                "settled": h.settled.load(Ordering::Relaxed),
                "logged_in": h.logged_in.load(Ordering::Relaxed),
            }));
        },
    )?;
    emit_json(&json!({
        "event": "ready",
        "logged_in": holder.logged_in.load(Ordering::Relaxed),
        "settled": holder.settled.load(Ordering::Relaxed),
    }));
    holder.hold(plan.ping_interval, || stop.load(Ordering::Relaxed));
    let still = holder.final_check();
    // Reported before closing: the close counts are then the server's doing alone.
    emit_json(&holder.result_json(plan.conns, still, &health, limits));
    holder.close_all();
    engine.shutdown();
    Ok(())
}

struct ChildProc {
    child: Child,
    stdin: Option<ChildStdin>,
}

enum ChildLine {
    Json(usize, Value),
    Eof(usize),
}

fn spawn_children(
    common: &Resolved,
    args: &ConnsArgs,
    plan: &ConnsPlan,
) -> Result<(Vec<ChildProc>, Receiver<ChildLine>), LoadError> {
    let exe = std::env::current_exe().map_err(LoadError::io("find chatload's own binary"))?;
    let (tx, rx) = unbounded();
    let mut procs = Vec::new();
    let per = plan.conns / plan.procs;
    let extra = plan.conns % plan.procs;
    let mut offset = args.offset;
    for k in 0..plan.procs {
        let share = per + usize::from(k < extra);
        let mut cmd = Command::new(&exe);
        cmd.arg("conns");
        for addr in &common.addrs {
            cmd.args(["--addr", &addr.to_string()]);
        }
        cmd.args(["--prefix", &common.prefix])
            .args(["--password", &common.password])
            .args(["--conns", &share.to_string()])
            .args(["--offset", &offset.to_string()])
            .args([
                "--ping-interval",
                &plan.ping_interval.as_secs_f64().to_string(),
            ])
            .args(["--concurrency", &plan.concurrency.to_string()])
            .args([
                "--login-timeout",
                &plan.login_timeout.as_secs_f64().to_string(),
            ])
            .args(["--reactors", &args.common.reactors.unwrap_or(1).to_string()])
            .args(["--workers", &args.common.workers.unwrap_or(1).to_string()])
            .args(["--child", "--skip-register", "--no-progress"]);
        if args.demo_users {
            cmd.arg("--demo-users");
        }
        if !common.spread {
            cmd.arg("--no-spread");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(LoadError::io(format!(
                "start child {k} ({})",
                exe.display()
            )))?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| LoadError::Child(format!("child {k} has no stdout")))?;
        let tx = tx.clone();
        std::thread::Builder::new()
            .name(format!("chatload-child-{k}"))
            .spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        let _ = tx.send(ChildLine::Json(k, v));
                    }
                }
                let _ = tx.send(ChildLine::Eof(k));
            })
            .map_err(LoadError::io("spawn a child reader"))?;
        let stdin = child.stdin.take();
        procs.push(ChildProc { child, stdin });
        offset += share;
    }
    Ok((procs, rx))
}

fn run_parent(
    engine: &Engine,
    common: &Resolved,
    args: &ConnsArgs,
    plan: &ConnsPlan,
    accounts: &Accounts,
) -> Result<Report, LoadError> {
    let registered = register_all(engine, common, args, accounts, plan.conns)?;
    let rss_before = args.server_pid.and_then(vmrss_kib);
    let start = Instant::now();
    let (mut procs, rx) = spawn_children(common, args, plan)?;
    let n = procs.len();
    let mut settled = vec![0u64; n];
    let mut ready = vec![false; n];
    let mut gone = vec![false; n];
    let mut results: Vec<Option<Value>> = vec![None; n];
    let pb = bar(plan.conns as u64, "login", common.progress);
    let deadline = start + plan.login_timeout + Duration::from_secs(30);
    let absorb = |line: ChildLine,
                  settled: &mut [u64],
                  ready: &mut [bool],
                  gone: &mut [bool],
                  results: &mut [Option<Value>]| match line {
        ChildLine::Json(k, v) => match v.get("event").and_then(Value::as_str) {
            Some("progress") => settled[k] = v["settled"].as_u64().unwrap_or(0),
            Some("ready") => {
                settled[k] = v["settled"].as_u64().unwrap_or(0);
                ready[k] = true;
            }
            Some("result") => results[k] = Some(v),
            _ => {}
        },
        ChildLine::Eof(k) => gone[k] = true,
    };
    while (0..n).any(|k| !ready[k] && !gone[k]) && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            absorb(line, &mut settled, &mut ready, &mut gone, &mut results);
        }
        pb.set_position(settled.iter().sum());
    }
    pb.finish_and_clear();
    let login_secs = start.elapsed().as_secs_f64();
    let pb = bar(plan.hold.as_millis() as u64, "hold", common.progress);
    let hold_until = Instant::now() + plan.hold;
    while Instant::now() < hold_until {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
            absorb(line, &mut settled, &mut ready, &mut gone, &mut results);
        }
        let left = hold_until.saturating_duration_since(Instant::now());
        pb.set_position((plan.hold - left).as_millis() as u64);
    }
    pb.finish_and_clear();
    let rss_after = args.server_pid.and_then(vmrss_kib);
    for p in &mut procs {
        if let Some(mut stdin) = p.stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
    }
    let until = Instant::now() + FINAL_PING_TIMEOUT + Duration::from_secs(30);
    while (0..n).any(|k| !gone[k]) && Instant::now() < until {
        if let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            absorb(line, &mut settled, &mut ready, &mut gone, &mut results);
        }
    }
    let mut children = Vec::new();
    for (k, p) in procs.iter_mut().enumerate() {
        if !gone[k] {
            let _ = p.child.kill();
        }
        let status = p.child.wait().ok();
        match results[k].take() {
            Some(v) => children.push(v),
            None => children.push(json!({
                "event": "result",
                "conns": 0,
                "error": format!("child {k} reported no result (exit status {status:?})"),
            })),
        }
    }
    Ok(summarize(
        common,
        args,
        plan,
        children,
        registered,
        (rss_before, rss_after),
        login_secs,
    ))
}

fn summarize(
    common: &Resolved,
    args: &ConnsArgs,
    plan: &ConnsPlan,
    children: Vec<Value>,
    registered: Option<Value>,
    (rss_before, rss_after): (Option<u64>, Option<u64>),
    login_secs: f64,
) -> Report {
    let sum = |key: &str| {
        children
            .iter()
            .map(|c| c[key].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let logged_in = sum("logged_in");
    let still = sum("still_connected");
    let failed = Counts::default();
    let closes = Counts::default();
    let malformed = Counts::default();
    let anomalies = Counts::default();
    let errors = Counts::default();
    let mut hist = stats::histogram();
    let mut child_errors = Vec::new();
    for c in &children {
        add_json_counts(&failed, &c["failed"]);
        add_json_counts(&closes, &c["health"]["closes"]);
        add_json_counts(&malformed, &c["health"]["malformed"]);
        add_json_counts(&anomalies, &c["health"]["anomalies"]);
        add_json_counts(&errors, &c["health"]["errors"]);
        let (h, _) = stats::from_pairs(&c["login_latency_hist"]);
        stats::merge(&mut hist, &h);
        if let Some(e) = c.get("error").and_then(Value::as_str) {
            child_errors.push(e.to_string());
        }
    }
    let lat = Percentiles::of(&hist);
    let growth = match (rss_before, rss_after) {
        (Some(b), Some(a)) => Some(a as i64 - b as i64),
        _ => None,
    };
    let per_conn = growth
        .filter(|_| logged_in > 0)
        .map(|g| g as f64 * 1024.0 / logged_in as f64);
    let clean = logged_in == plan.conns as u64
        && still == plan.conns as u64
        && child_errors.is_empty()
        && malformed.total() + anomalies.total() == 0;
    let json = json!({
        "scenario": "conns",
        "addr": common.addr.to_string(),
        "addrs": common.addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "accounts": if args.demo_users { "demo".to_string() } else { common.prefix.clone() },
        "conns": plan.conns,
        "procs": plan.procs,
        "registered": registered.unwrap_or(Value::Null),
        "logged_in": logged_in,
        "still_connected": still,
        "login_phase_s": num1(login_secs),
        "hold_s": plan.hold.as_secs_f64(),
        "failed": failed.json(),
        "login_latency_us": lat.json(),
        "pings_sent": sum("pings_sent"),
        "pings_ok": sum("pings_ok"),
        "pings_failed": sum("pings_failed"),
        "login_retries": sum("login_retries"),
        "closes": closes.json(),
        "errors": errors.json(),
        "malformed": malformed.json(),
        "anomalies": anomalies.json(),
        "server_pid": args.server_pid,
        "server_rss_before_kib": rss_before,
        "server_rss_after_kib": rss_after,
        "server_rss_growth_kib": growth,
        "server_rss_bytes_per_conn": per_conn.map(num1),
        "child_errors": child_errors,
        "children": children.iter().map(|c| json!({
            "conns": c["conns"], "logged_in": c["logged_in"],
            "still_connected": c["still_connected"], "rlimit_nofile": c["rlimit_nofile"],
        })).collect::<Vec<_>>(),
        "clean": clean,
    });
    let mut table = Table::new(format!(
        "chatload conns ({} connections, {} process{})",
        plan.conns,
        plan.procs,
        if plan.procs == 1 { "" } else { "es" }
    ));
    table
        .row(
            "logged in",
            format!("{logged_in} of {} in {login_secs:.1} s", plan.conns),
        )
        .row("still connected at the end", still)
        .row("login failures", counts_line(&failed.json()))
        .row("connect→login p50/p90/p99/p99.9/max", lat.row_ms())
        .row(
            "pings ok / sent",
            format!("{} / {}", sum("pings_ok"), sum("pings_sent")),
        )
        .row("closes", counts_line(&closes.json()));
    if let (Some(b), Some(a)) = (rss_before, rss_after) {
        table.row(
            "server VmRSS",
            format!(
                "{b} KiB -> {a} KiB ({} bytes per connection)",
                per_conn.map_or("n/a".into(), |p| format!("{p:.0}"))
            ),
        );
    }
    if !child_errors.is_empty() {
        table.row("child errors", child_errors.join("; "));
    }
    table.row("clean", clean);
    Report { table, json, clean }
}
