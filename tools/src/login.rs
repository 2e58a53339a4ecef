//! `chatload login`: a login storm. `C` clients connect and log in at once (with several
//! `--addr`, client `i` on node `i mod n`).
//!
//! The accounts are made beforehand and that part is not timed: generated users are
//! registered in bulk ([`crate::accounts::register_bulk`]), or the demo users of
//! `sql/demo.sql` are used (`--demo-users`, hashed at the default argon2 cost). Then
//! every client connects and sends `login` straight away (the request is written when
//! the connection completes). A login answered `rate_limited` or `server_busy` (the
//! server's per-IP password budget and hashing backlog) is sent again after the
//! server's `retry_after_ms` plus jitter ([`crate::client::Retry`]), until the storm's
//! time limit. A login's latency runs from its `connect` call to the successful
//! response, so it includes the TCP handshake, all queueing in the server and any
//! retries. Reported: success rate, failures by cause, retries, latency percentiles,
//! and logins/s (the successes divided by the time from the first connect to the last
//! success).
//!
//! Logins are `proto::Request`s ([`crate::accounts::Accounts::login_request`]).
//! May touch: the connections it opens (closed at the end), the process's
//! RLIMIT_NOFILE, progress bars on stderr, and its own counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::accounts::{raise_nofile, register_bulk, source_addr, Accounts, BulkPlan};
use crate::args::{LoginArgs, Resolved};
use crate::client::{wait_until, CountPushes, Delayer, Engine, Failure, Health, PushSink, Retry};
use crate::dialect::Wire;
use crate::error::LoadError;
use crate::report::{bar, counts_line, num1, Report, Table};
use crate::stats::{Counts, Percentiles, Recorder};

/// File descriptors kept for the engine itself when checking `--conns` against the limit.
const FD_MARGIN: u64 = 64;

struct Storm {
    start: Instant,
    ok: AtomicU64,
    settled: AtomicU64,
    last_ok_us: AtomicU64,
    failed: Counts,
    latency: Recorder,
}

/// Runs the login storm.
pub fn run(common: &Resolved, args: &LoginArgs, timeout: Duration) -> Result<Report, LoadError> {
    let (soft, hard) = raise_nofile();
    let c = args.conns;
    if (c as u64) + FD_MARGIN > soft {
        return Err(LoadError::Args(format!(
            "--conns {c} needs more file descriptors than this process may open \
             (RLIMIT_NOFILE soft {soft}, hard {hard})"
        )));
    }
    let accounts = if args.demo_users {
        Accounts::Demo
    } else {
        common.generated()
    };
    let health = Arc::new(Health::default());
    let engine = Engine::start(common.threads, Arc::clone(&health))?;
    let result = storm(&engine, common, args, &accounts, timeout, (soft, hard));
    engine.shutdown();
    result
}

fn storm(
    engine: &Engine,
    common: &Resolved,
    args: &LoginArgs,
    accounts: &Accounts,
    timeout: Duration,
    limits: (u64, u64),
) -> Result<Report, LoadError> {
    let c = args.conns;
    let registered = if accounts.needs_registration() && !args.skip_register {
        let pb = bar(c as u64, "register", common.progress);
        let r = register_bulk(engine, common.addr, accounts, 0..c, BulkPlan::default(), pb)?;
        if r.failed.total() > 0 {
            return Err(LoadError::Setup(format!(
                "registration failed for some accounts: {}",
                counts_line(&r.failed.json())
            )));
        }
        Some(r)
    } else {
        None
    };
    // Let the registration connections go before the storm starts.
    std::thread::sleep(Duration::from_millis(300));

    let st = Arc::new(Storm {
        start: Instant::now(),
        ok: AtomicU64::new(0),
        settled: AtomicU64::new(0),
        last_ok_us: AtomicU64::new(0),
        failed: Counts::default(),
        latency: Recorder::default(),
    });
    let mut retry = Retry::new(Delayer::start()?);
    retry.patience = timeout;
    let sink = Arc::new(CountPushes::default());
    let dyn_sink: Arc<dyn PushSink> = sink.clone();
    let pb = bar(c as u64, "login", common.progress);
    let mut peers = Vec::with_capacity(c);
    for i in 0..c {
        let t0 = Instant::now();
        let addr = common.node_addr(i);
        let local = source_addr(common.spread, addr, i);
        let peer = match engine.connect(i, local, addr, Wire::Json, Arc::clone(&dyn_sink)) {
            Ok(peer) => peer,
            Err(e) => {
                st.failed.inc(&format!("connect:{:?}", e.kind()));
                st.settled.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let s = Arc::clone(&st);
        let pb = pb.clone();
        retry.request(
            &peer,
            accounts.login_request(i, true),
            Box::new(move |_, outcome| {
                match outcome {
                    Ok(f) if f.user_id.is_some() => {
                        s.latency.record(i, t0.elapsed().as_micros() as u64);
                        s.ok.fetch_add(1, Ordering::Relaxed);
                        s.last_ok_us
                            .fetch_max(s.start.elapsed().as_micros() as u64, Ordering::Relaxed);
                    }
                    Ok(_) => s.failed.inc("no_user_id"),
                    Err(Failure::Server(e)) => s.failed.inc(e.code.as_str()),
                    Err(Failure::Closed) => s.failed.inc("closed"),
                }
                s.settled.fetch_add(1, Ordering::Relaxed);
                pb.inc(1);
            }),
        );
        peers.push(peer);
    }
    let issued_secs = st.start.elapsed().as_secs_f64();
    let finished = wait_until(st.start + timeout, || {
        st.settled.load(Ordering::Relaxed) >= c as u64
    });
    pb.finish_and_clear();
    let settled = st.settled.load(Ordering::Relaxed);
    if !finished {
        st.failed.add("timeout", (c as u64).saturating_sub(settled));
    }
    for peer in &peers {
        peer.close();
    }

    let ok = st.ok.load(Ordering::Relaxed);
    let retries = retry.retries.load(Ordering::Relaxed);
    let wall = st.last_ok_us.load(Ordering::Relaxed) as f64 / 1e6;
    let rate = if wall > 0.0 { ok as f64 / wall } else { 0.0 };
    let lat = Percentiles::of(&st.latency.merged());
    let success = ok as f64 * 100.0 / c as f64;
    let health = engine.health();
    let clean = ok == c as u64 && health.bad_behaviour() == 0;
    let json = json!({
        "scenario": "login",
        "addr": common.addr.to_string(),
        "addrs": common.addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "accounts": if args.demo_users { "demo".to_string() } else { common.prefix.clone() },
        "conns": c,
        "registered": registered.as_ref().map_or(Value::Null, |r| r.json()),
        "succeeded": ok,
        "success_pct": num1(success),
        "failed": st.failed.json(),
        "retries": retries,
        "latency_us": lat.json(),
        "logins_per_sec": num1(rate),
        "wall_s": num1(wall),
        "connects_issued_s": num1(issued_secs),
        "pushes": sink.kinds.json(),
        "rlimit_nofile": [limits.0, limits.1],
        "health": health.json(),
        "clean": clean,
    });
    let mut table = Table::new(format!("chatload login ({c} clients at once)"));
    if let Some(r) = &registered {
        table.row(
            "registered first",
            format!(
                "{} new, {} existing in {:.1} s (untimed)",
                r.created, r.existed, r.secs
            ),
        );
    }
    table
        .row("succeeded", format!("{ok} of {c} ({success:.2}%)"))
        .row("failed", counts_line(&st.failed.json()))
        .row(
            "retries (rate_limited / server_busy)",
            format!("{retries} (after the server's retry_after_ms, with jitter)"),
        )
        .row("connect→login p50/p90/p99/p99.9/max", lat.row_ms())
        .row(
            "logins/s",
            format!("{rate:.1} (last success after {wall:.2} s)"),
        )
        .row(
            "malformed / anomalies",
            format!(
                "{} / {}",
                counts_line(&health.malformed.json()),
                counts_line(&health.anomalies.json())
            ),
        )
        .row("clean", clean);
    Ok(Report { table, json, clean })
}
