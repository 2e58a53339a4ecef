//! `chatload relay`: pairs of friends sending to each other, measured end to end.
//!
//! Set-up (not timed): `C` connections; each registers and logs in its own user
//! (`<prefix>_<i>`); users `2k` and `2k+1` become friends (`2k` sends `add_friend`,
//! `2k+1` accepts the returned `request_id`). With `--floor` the set-up is one `L` login
//! per connection to `relay_floor` instead (see [`crate::floor`]).
//!
//! Run: every connection is a sender, sending to its partner.
//! * Closed loop (`--window W`): each sender keeps `W` un-acked sends in flight; an
//!   answer (ack or error) triggers the next send.
//! * Open loop (`--rate R`): one pacer thread schedules send `k` at `start + k/R` on
//!   sender `k mod C`. Latency counts from the *scheduled* time, so a stalled server
//!   shows up in the percentiles instead of silently slowing the load (no coordinated
//!   omission).
//!
//! Every message's `client_msg_id` is `<n>.<scheduled µs since the run began>`, so the
//! recipient measures send→delivery latency from the push alone. Rates count events
//! whose completion falls in the measured window; latencies count messages scheduled in
//! it. After the run chatload waits (`--drain`) for outstanding acks and pushes, then
//! checks exactly-once delivery ([`crate::ledger`]): acked messages never pushed are
//! looked up with `sync` on the recipient to tell *late* (stored) from *lost*.
//! Per-pair order (guarantee 4) is checked on arrival.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::{json, Value};

use crate::accounts::{source_addr, Accounts};
use crate::args::{Pace, RelayPlan, Resolved};
use crate::client::{wait_until, Delayer, Engine, Failure, Health, Peer, PushSink, Retry};
use crate::error::LoadError;
use crate::floor;
use crate::ledger::{self, Reconciliation};
use crate::report::{bar, counts_line, cpu_secs, num1, Report, Table};
use crate::stats::{Counts, Percentiles, Recorder};
use crate::wire::{fields, Frame, Wire};

/// Pages of `sync` chatload reads per recipient when looking for missing messages.
const MAX_SYNC_PAGES: u32 = 200;

struct Sender {
    next: AtomicU64,
    acked: Mutex<Vec<u64>>,
}

#[derive(Default)]
struct Recipient {
    pushed: Vec<u64>,
    last_from_partner: u64,
}

/// The shared state of one relay run; also the push sink of every connection.
struct Relay {
    wire: Wire,
    base: Instant,
    start_us: AtomicU64,
    warm_end_us: AtomicU64,
    end_us: AtomicU64,
    running: AtomicBool,
    window: Option<usize>,
    partner_uid: OnceLock<Vec<u64>>,
    text: String,
    senders: Vec<Sender>,
    recipients: Vec<Mutex<Recipient>>,
    ack_latency: Recorder,
    delivery_latency: Recorder,
    sent: AtomicU64,
    sent_window: AtomicU64,
    inflight: AtomicI64,
    acked: AtomicU64,
    acked_window: AtomicU64,
    pushed: AtomicU64,
    pushed_window: AtomicU64,
    send_errors: Counts,
    closed_sends: AtomicU64,
    ack_without_msg_id: AtomicU64,
    out_of_order: AtomicU64,
    foreign_pushes: AtomicU64,
    bad_stamps: AtomicU64,
    other_pushes: Counts,
}

/// Parses the scheduled time out of `<n>.<sched_us>`.
fn stamp_of(client_msg_id: &str) -> Option<u64> {
    client_msg_id.split_once('.')?.1.parse().ok()
}

impl Relay {
    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    fn in_window(&self, t_us: u64) -> bool {
        t_us >= self.warm_end_us.load(Ordering::Relaxed)
            && t_us < self.end_us.load(Ordering::Relaxed)
    }

    fn partner_uid(&self, i: usize) -> u64 {
        self.partner_uid.get().map_or(0, |p| p[i])
    }

    fn send(self: &Arc<Self>, peer: &Arc<Peer>, sched_us: u64) {
        let i = peer.index();
        let n = self.senders[i].next.fetch_add(1, Ordering::Relaxed);
        let cmid = format!("{n}.{sched_us}");
        let to = self.partner_uid(i);
        self.sent.fetch_add(1, Ordering::Relaxed);
        if self.in_window(sched_us) {
            self.sent_window.fetch_add(1, Ordering::Relaxed);
        }
        self.inflight.fetch_add(1, Ordering::Relaxed);
        let (wire, text) = (self.wire, &self.text);
        let relay = Arc::clone(self);
        peer.request(
            "send_message",
            |buf, seq| wire.encode_send(buf, seq, to, text, &cmid),
            Box::new(move |peer, outcome| relay.answered(peer, sched_us, outcome)),
        );
    }

    fn answered(
        self: &Arc<Self>,
        peer: &Arc<Peer>,
        sched_us: u64,
        outcome: Result<Frame, Failure>,
    ) {
        self.inflight.fetch_sub(1, Ordering::Relaxed);
        let now = self.now_us();
        let i = peer.index();
        match outcome {
            Ok(frame) => match frame.msg_id {
                Some(id) => {
                    self.senders[i].acked.lock().push(id);
                    self.acked.fetch_add(1, Ordering::Relaxed);
                    if self.in_window(now) {
                        self.acked_window.fetch_add(1, Ordering::Relaxed);
                    }
                    if self.in_window(sched_us) {
                        self.ack_latency.record(i, now.saturating_sub(sched_us));
                    }
                }
                None => {
                    self.ack_without_msg_id.fetch_add(1, Ordering::Relaxed);
                }
            },
            Err(Failure::Server(code)) => self.send_errors.inc(&code),
            Err(Failure::Closed) => {
                self.closed_sends.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        if self.window.is_some() && self.running.load(Ordering::Relaxed) {
            self.send(peer, now);
        }
    }
}

impl PushSink for Relay {
    fn push(&self, peer: &Arc<Peer>, frame: Frame) {
        if frame.kind != "message" {
            self.other_pushes.inc(&frame.kind);
            return;
        }
        let now = self.now_us();
        let i = peer.index();
        let Some(id) = frame.msg_id else {
            self.other_pushes.inc("message_without_msg_id");
            return;
        };
        let from_partner = frame.from_id() == Some(self.partner_uid(i));
        {
            let mut r = self.recipients[i].lock();
            r.pushed.push(id);
            if from_partner {
                if id < r.last_from_partner {
                    self.out_of_order.fetch_add(1, Ordering::Relaxed);
                } else {
                    r.last_from_partner = id;
                }
            }
        }
        if !from_partner {
            self.foreign_pushes.fetch_add(1, Ordering::Relaxed);
        }
        self.pushed.fetch_add(1, Ordering::Relaxed);
        if self.in_window(now) {
            self.pushed_window.fetch_add(1, Ordering::Relaxed);
        }
        match frame.client_msg_id.as_deref().and_then(stamp_of) {
            Some(sched) if self.in_window(sched) => {
                self.delivery_latency.record(i, now.saturating_sub(sched))
            }
            Some(_) => {}
            None => {
                self.bad_stamps.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Counters of the set-up phase.
#[derive(Default)]
struct Setup {
    logged_in: AtomicUsize,
    login_failed: AtomicUsize,
    register_failed: AtomicUsize,
    friends: AtomicUsize,
    friends_failed: AtomicUsize,
}

fn setup_json(
    peers: &[Arc<Peer>],
    accounts: &Accounts,
    retry: &Retry,
    setup: &Arc<Setup>,
    pb: &indicatif::ProgressBar,
) {
    for peer in peers {
        let i = peer.index();
        let (s1, s2) = (Arc::clone(setup), Arc::clone(setup));
        let reg = fields([
            ("username", Value::from(accounts.username(i))),
            ("password", Value::from(accounts.password())),
        ]);
        retry.request_json(
            peer,
            "register",
            reg,
            Box::new(move |_, outcome| match outcome {
                Ok(_) => {}
                Err(Failure::Server(code)) if code == "user_exists" => {}
                Err(_) => {
                    s1.register_failed.fetch_add(1, Ordering::Relaxed);
                }
            }),
        );
        let pb = pb.clone();
        retry.request_json(
            peer,
            "login",
            accounts.login_fields(i),
            Box::new(move |peer, outcome| {
                match outcome.ok().and_then(|f| f.user_id) {
                    Some(uid) => {
                        peer.set_user_id(uid);
                        s2.logged_in.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        s2.login_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                pb.inc(1);
            }),
        );
    }
}

fn befriend(peers: &[Arc<Peer>], retry: &Retry, setup: &Arc<Setup>, pb: &indicatif::ProgressBar) {
    for pair in peers.chunks_exact(2) {
        let (a, b) = (&pair[0], Arc::clone(&pair[1]));
        let s = Arc::clone(setup);
        let pb = pb.clone();
        let r = retry.clone();
        retry.request_json(
            a,
            "add_friend",
            fields([("user_id", Value::from(b.user_id()))]),
            Box::new(move |_, outcome| match outcome {
                Ok(f) => {
                    let Some(request_id) = f.request_id else {
                        s.friends_failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    };
                    r.request_json(
                        &b,
                        "accept_friend",
                        fields([("request_id", Value::from(request_id))]),
                        Box::new(move |_, outcome| {
                            let counter = if outcome.is_ok() {
                                &s.friends
                            } else {
                                &s.friends_failed
                            };
                            counter.fetch_add(1, Ordering::Relaxed);
                            pb.inc(1);
                        }),
                    );
                }
                Err(Failure::Server(code)) if code == "already_friends" => {
                    s.friends.fetch_add(1, Ordering::Relaxed);
                    pb.inc(1);
                }
                Err(_) => {
                    s.friends_failed.fetch_add(1, Ordering::Relaxed);
                }
            }),
        );
    }
}

fn setup_floor(peers: &[Arc<Peer>], setup: &Arc<Setup>, pb: &indicatif::ProgressBar) {
    for peer in peers {
        let uid = peer.index() as u32 + 1;
        let s = Arc::clone(setup);
        let pb = pb.clone();
        peer.request(
            "login",
            |buf, seq| floor::encode_login(buf, seq, uid),
            Box::new(move |peer, outcome| {
                if outcome.is_ok() {
                    peer.set_user_id(u64::from(uid));
                    s.logged_in.fetch_add(1, Ordering::Relaxed);
                } else {
                    s.login_failed.fetch_add(1, Ordering::Relaxed);
                }
                pb.inc(1);
            }),
        );
    }
}

/// Looks for `missing` messages with `sync` on their recipients; returns the ids found.
fn sync_missing(
    peers: &[Arc<Peer>],
    missing: &[(usize, u64)],
    timeout: Duration,
) -> (HashSet<u64>, u64) {
    let found = Arc::new(Mutex::new(HashSet::new()));
    let outstanding = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut by_recipient: Vec<(usize, u64, u64)> = Vec::new(); // (recipient, min, max)
    for &(r, id) in missing {
        match by_recipient.last_mut() {
            Some(last) if last.0 == r => last.2 = last.2.max(id),
            _ => by_recipient.push((r, id, id)),
        }
    }
    fn page(
        peer: &Arc<Peer>,
        after: u64,
        max: u64,
        pages: u32,
        found: Arc<Mutex<HashSet<u64>>>,
        outstanding: Arc<AtomicUsize>,
        failed: Arc<AtomicU64>,
    ) {
        let req = fields([("after", Value::from(after)), ("limit", Value::from(500))]);
        peer.request_json(
            "sync",
            req,
            Box::new(move |peer, outcome| {
                let Ok(frame) = outcome else {
                    failed.fetch_add(1, Ordering::Relaxed);
                    outstanding.fetch_sub(1, Ordering::Relaxed);
                    return;
                };
                let messages = frame.messages.unwrap_or_default();
                let last = messages.iter().map(|m| m.msg_id).max().unwrap_or(after);
                found.lock().extend(messages.iter().map(|m| m.msg_id));
                if frame.more == Some(true) && last < max && last > after && pages > 1 {
                    page(peer, last, max, pages - 1, found, outstanding, failed);
                } else {
                    outstanding.fetch_sub(1, Ordering::Relaxed);
                }
            }),
        );
    }
    for &(r, min, max) in &by_recipient {
        outstanding.fetch_add(1, Ordering::Relaxed);
        page(
            &peers[r],
            min.saturating_sub(1),
            max,
            MAX_SYNC_PAGES,
            Arc::clone(&found),
            Arc::clone(&outstanding),
            Arc::clone(&failed),
        );
    }
    wait_until(Instant::now() + timeout, || {
        outstanding.load(Ordering::Relaxed) == 0
    });
    let set = std::mem::take(&mut *found.lock());
    (set, failed.load(Ordering::Relaxed))
}

fn pacer(relay: Arc<Relay>, peers: Vec<Arc<Peer>>, rate: f64) {
    let start = relay.start_us.load(Ordering::Relaxed);
    let end = relay.end_us.load(Ordering::Relaxed);
    let interval = 1e6 / rate;
    let mut k: u64 = 0;
    loop {
        let now = relay.now_us();
        if now >= end {
            return;
        }
        // Every send scheduled at or before `now` goes out now (late ones keep their
        // scheduled time: their latency includes the lateness).
        let due = ((now - start) as f64 / interval) as u64 + 1;
        while k < due {
            let sched = start + (k as f64 * interval) as u64;
            if sched >= end {
                return;
            }
            relay.send(&peers[(k % peers.len() as u64) as usize], sched);
            k += 1;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// Runs the relay scenario against `common.addr`.
pub fn run(common: &Resolved, plan: &RelayPlan) -> Result<Report, LoadError> {
    let wire = if plan.floor { Wire::Floor } else { Wire::Json };
    let accounts = common.generated();
    let health = Arc::new(Health::default());
    let engine = Engine::start(common.threads, Arc::clone(&health))?;
    let result = run_on(&engine, common, plan, wire, &accounts);
    engine.shutdown();
    result
}

fn run_on(
    engine: &Engine,
    common: &Resolved,
    plan: &RelayPlan,
    wire: Wire,
    accounts: &Accounts,
) -> Result<Report, LoadError> {
    let c = plan.conns;
    let relay = Arc::new(Relay {
        wire,
        base: Instant::now(),
        start_us: AtomicU64::new(u64::MAX),
        warm_end_us: AtomicU64::new(u64::MAX),
        end_us: AtomicU64::new(u64::MAX),
        running: AtomicBool::new(false),
        window: match plan.pace {
            Pace::Closed { window } => Some(window),
            Pace::Open { .. } => None,
        },
        partner_uid: OnceLock::new(),
        text: "x".repeat(plan.size),
        senders: (0..c)
            .map(|_| Sender {
                next: AtomicU64::new(0),
                acked: Mutex::new(Vec::new()),
            })
            .collect(),
        recipients: (0..c).map(|_| Mutex::new(Recipient::default())).collect(),
        ack_latency: Recorder::default(),
        delivery_latency: Recorder::default(),
        sent: AtomicU64::new(0),
        sent_window: AtomicU64::new(0),
        inflight: AtomicI64::new(0),
        acked: AtomicU64::new(0),
        acked_window: AtomicU64::new(0),
        pushed: AtomicU64::new(0),
        pushed_window: AtomicU64::new(0),
        send_errors: Counts::default(),
        closed_sends: AtomicU64::new(0),
        ack_without_msg_id: AtomicU64::new(0),
        out_of_order: AtomicU64::new(0),
        foreign_pushes: AtomicU64::new(0),
        bad_stamps: AtomicU64::new(0),
        other_pushes: Counts::default(),
    });

    // ---- set-up (untimed) ----
    let setup_start = Instant::now();
    let sink: Arc<dyn PushSink> = relay.clone();
    let mut peers = Vec::with_capacity(c);
    for i in 0..c {
        let local = source_addr(common.spread, common.addr, i);
        let peer = engine
            .connect(i, local, common.addr, wire, Arc::clone(&sink))
            .map_err(|e| LoadError::Setup(format!("connection {i} to {}: {e}", common.addr)))?;
        peers.push(peer);
    }
    let setup = Arc::new(Setup::default());
    let retry = Retry::new(Delayer::start()?);
    let steps = if plan.floor { c } else { c + c / 2 };
    let pb = bar(steps as u64, "set-up", common.progress);
    if plan.floor {
        setup_floor(&peers, &setup, &pb);
    } else {
        setup_json(&peers, accounts, &retry, &setup, &pb);
    }
    let deadline = setup_start + plan.setup_timeout;
    wait_until(deadline, || {
        setup.logged_in.load(Ordering::Relaxed) + setup.login_failed.load(Ordering::Relaxed) >= c
    });
    let logged_in = setup.logged_in.load(Ordering::Relaxed);
    if logged_in < c {
        pb.finish_and_clear();
        return Err(LoadError::Setup(format!(
            "{logged_in} of {c} connections logged in ({} registrations and {} logins failed; \
             closes: {}; errors: {})",
            setup.register_failed.load(Ordering::Relaxed),
            setup.login_failed.load(Ordering::Relaxed),
            counts_line(&engine.health().closes.json()),
            counts_line(&engine.health().errors.json()),
        )));
    }
    let partners: Vec<u64> = (0..c).map(|i| peers[i ^ 1].user_id()).collect();
    let _ = relay.partner_uid.set(partners);
    if !plan.floor {
        befriend(&peers, &retry, &setup, &pb);
        wait_until(deadline, || {
            setup.friends.load(Ordering::Relaxed) + setup.friends_failed.load(Ordering::Relaxed)
                >= c / 2
        });
        let friends = setup.friends.load(Ordering::Relaxed);
        if friends < c / 2 {
            pb.finish_and_clear();
            return Err(LoadError::Setup(format!(
                "{friends} of {} friendships made (errors: {})",
                c / 2,
                counts_line(&engine.health().errors.json())
            )));
        }
    }
    pb.finish_and_clear();
    let setup_secs = setup_start.elapsed().as_secs_f64();

    // ---- run ----
    let cpu_before = cpu_secs();
    let start = relay.now_us();
    let warm_end = start + plan.warmup.as_micros() as u64;
    let end = warm_end + plan.duration.as_micros() as u64;
    relay.start_us.store(start, Ordering::Relaxed);
    relay.warm_end_us.store(warm_end, Ordering::Relaxed);
    relay.end_us.store(end, Ordering::Relaxed);
    relay.running.store(true, Ordering::Relaxed);
    let total_ms = (end - start) / 1000;
    let pb = bar(total_ms, "relay", common.progress);
    let pacer_thread = match plan.pace {
        Pace::Closed { window } => {
            for peer in &peers {
                for _ in 0..window {
                    relay.send(peer, relay.now_us());
                }
            }
            None
        }
        Pace::Open { rate } => {
            let (r, p) = (Arc::clone(&relay), peers.clone());
            Some(
                std::thread::Builder::new()
                    .name("chatload-pacer".into())
                    .spawn(move || pacer(r, p, rate))
                    .map_err(LoadError::io("spawn the pacer thread"))?,
            )
        }
    };
    loop {
        let now = relay.now_us();
        if now >= end {
            break;
        }
        pb.set_position((now - start) / 1000);
        pb.set_message(format!(
            "acked {} pushed {}",
            relay.acked.load(Ordering::Relaxed),
            relay.pushed.load(Ordering::Relaxed)
        ));
        std::thread::sleep(Duration::from_millis(100).min(Duration::from_micros(end - now)));
    }
    relay.running.store(false, Ordering::Relaxed);
    let client_cpu = cpu_secs() - cpu_before;
    if let Some(t) = pacer_thread {
        let _ = t.join();
    }
    pb.finish_and_clear();

    // ---- drain ----
    let drain_start = Instant::now();
    let drained = wait_until(drain_start + plan.drain, || {
        relay.inflight.load(Ordering::Relaxed) <= 0
            && relay.pushed.load(Ordering::Relaxed) >= relay.acked.load(Ordering::Relaxed)
    });
    let drain_secs = drain_start.elapsed().as_secs_f64();

    // ---- exactly-once ----
    let mut acked = Vec::new();
    for (i, s) in relay.senders.iter().enumerate() {
        acked.extend(s.acked.lock().iter().map(|&id| (id, i ^ 1)));
    }
    let mut pushed = Vec::new();
    for (i, r) in relay.recipients.iter().enumerate() {
        pushed.extend(r.lock().pushed.iter().map(|&id| (id, i)));
    }
    let rec: Reconciliation = ledger::reconcile(&acked, &pushed);
    let (stored, sync_failed) = if rec.missing.is_empty() || plan.floor {
        (HashSet::new(), 0)
    } else {
        sync_missing(&peers, &rec.missing, Duration::from_secs(30))
    };
    let (late, lost) = ledger::classify(&rec.missing, &stored);
    let unanswered = peers.iter().map(|p| p.pending() as u64).sum::<u64>();
    for peer in &peers {
        peer.close();
    }

    // ---- report ----
    let secs = plan.duration.as_secs_f64();
    let per_sec = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64 / secs;
    let acked_ps = per_sec(&relay.acked_window);
    let pushed_ps = per_sec(&relay.pushed_window);
    let ack_p = Percentiles::of(&relay.ack_latency.merged());
    let del_p = Percentiles::of(&relay.delivery_latency.merged());
    let health = engine.health();
    let out_of_order = relay.out_of_order.load(Ordering::Relaxed);
    let clean = lost == 0
        && rec.duplicated == 0
        && unanswered == 0
        && out_of_order == 0
        && rec.misrouted == 0
        && health.bad_behaviour() == 0
        && relay.ack_without_msg_id.load(Ordering::Relaxed) == 0;
    let (pace_name, pace_value) = match plan.pace {
        Pace::Closed { window } => ("closed", json!({ "window": window })),
        Pace::Open { rate } => ("open", json!({ "rate": rate })),
    };
    let json = json!({
        "scenario": "relay",
        "wire": if plan.floor { "floor" } else { "json" },
        "addr": common.addr.to_string(),
        "prefix": if plan.floor { Value::Null } else { Value::from(common.prefix.clone()) },
        "conns": c,
        "pace": pace_name,
        "window": pace_value.get("window"),
        "rate": pace_value.get("rate"),
        "duration_s": secs,
        "warmup_s": plan.warmup.as_secs_f64(),
        "size": plan.size,
        "setup_s": num1(setup_secs),
        "setup_retries": retry.retries.load(Ordering::Relaxed),
        "sent": relay.sent.load(Ordering::Relaxed),
        "sends_per_sec": num1(per_sec(&relay.sent_window)),
        "acked_per_sec": num1(acked_ps),
        "delivered_per_sec": num1(pushed_ps),
        "msgs_per_sec": num1(acked_ps.min(pushed_ps)),
        "ack_latency_us": ack_p.json(),
        "delivery_latency_us": del_p.json(),
        "send_errors": relay.send_errors.json(),
        "closed_sends": relay.closed_sends.load(Ordering::Relaxed),
        "unanswered_sends": unanswered,
        "drained": drained,
        "drain_s": num1(drain_secs),
        "exactly_once": rec.json(late, lost),
        "sync_failed": sync_failed,
        "lost": lost,
        "duplicated": rec.duplicated,
        "out_of_order": out_of_order,
        "foreign_pushes": relay.foreign_pushes.load(Ordering::Relaxed),
        "bad_stamps": relay.bad_stamps.load(Ordering::Relaxed),
        "ack_without_msg_id": relay.ack_without_msg_id.load(Ordering::Relaxed),
        "other_pushes": relay.other_pushes.json(),
        "client_cpu_s": num1(client_cpu),
        "health": health.json(),
        "clean": clean,
    });
    let mut table = Table::new(format!(
        "chatload relay ({}, {c} conns, {})",
        if plan.floor { "floor" } else { "json" },
        match plan.pace {
            Pace::Closed { window } => format!("closed loop, window {window}"),
            Pace::Open { rate } => format!("open loop, {rate} msg/s offered"),
        }
    ));
    table
        .row(
            "set-up",
            format!(
                "{setup_secs:.1} s ({} retries after server_busy/rate_limited)",
                retry.retries.load(Ordering::Relaxed)
            ),
        )
        .row(
            "measured",
            format!(
                "{secs:.1} s after {:.1} s warm-up",
                plan.warmup.as_secs_f64()
            ),
        )
        .row(
            "chatload CPU during the run",
            format!("{client_cpu:.1} s over {:.1} s", (end - start) as f64 / 1e6),
        )
        .row("sends/s", format!("{:.0}", per_sec(&relay.sent_window)))
        .row("acked/s", format!("{acked_ps:.0}"))
        .row("delivered/s", format!("{pushed_ps:.0}"))
        .row("send→ack p50/p90/p99/p99.9/max", ack_p.row_ms())
        .row("send→delivery p50/p90/p99/p99.9/max", del_p.row_ms())
        .row("send errors", counts_line(&relay.send_errors.json()))
        .row(
            "acked / pushed (all)",
            format!("{} / {}", rec.acked, rec.pushes),
        )
        .row(
            "lost / duplicated",
            format!(
                "{lost} / {} (late: {late}, missing after drain: {})",
                rec.duplicated,
                rec.missing.len()
            ),
        )
        .row(
            "pushed but not acked",
            format!(
                "{} (their send was answered with an error, or not at all)",
                rec.unacked_pushes
            ),
        )
        .row("unanswered sends", unanswered)
        .row("out of order", out_of_order)
        .row("malformed frames", counts_line(&health.malformed.json()))
        .row("anomalies", counts_line(&health.anomalies.json()))
        .row("clean", clean);
    Ok(Report { table, json, clean })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_parse_from_client_msg_ids() {
        assert_eq!(stamp_of("12.3456789"), Some(3_456_789));
        assert_eq!(stamp_of("12"), None);
        assert_eq!(stamp_of("12.x"), None);
    }
}
