//! One measured relay run over connections that are already set up, and what it found.
//!
//! [`Relay`] is the shared state of the relay connections (their partners, the message
//! text, each sender's message counter) and the [`PushSink`] of every one of them. The
//! figures of a run live in a [`Phase`]: the relay holds one *current* phase, which
//! counts every push that arrives, whenever it arrives. [`Relay::run`] starts the
//! current phase and paces the sends until it ends; [`Relay::settle`] waits for
//! outstanding acks and pushes and checks exactly-once delivery, giving an [`Outcome`].
//! A scenario that measures several runs on the same connections (`chatload abuse`)
//! calls [`Relay::next_phase`] between them; pushes of a previous run that arrive after
//! that count in the new phase (as pushes nobody acked there, and as *late* in the old).
//!
//! * Closed loop (`Pace::Closed`): each sender keeps `W` un-acked sends in flight; an
//!   answer triggers the next send, at once, or after the server's `retry_after_ms` when
//!   it refused the last one with one (a well-behaved client backs off; a back-off
//!   thread sends those when due).
//! * Open loop (`Pace::Open`): one pacer thread schedules send `k` at `start + k/R` on
//!   sender `k mod C`. Latency counts from the *scheduled* time, so a stalled server
//!   shows up in the percentiles instead of silently slowing the load (no coordinated
//!   omission).
//!
//! Every message's `client_msg_id` is `<n>.<scheduled µs since the relay was made>`
//! (`n` counts each sender's messages over every run, so ids never repeat), and the
//! recipient measures send→delivery latency from the push alone. Rates count events
//! whose completion falls in the measured window; latencies count messages scheduled in
//! it, and so do [`Refusals`] (error answers: time to refuse from the scheduled send,
//! codes, `retry_after_ms`). Settling checks exactly-once delivery ([`crate::ledger`]):
//! acked messages never pushed are looked up with `sync` on the recipient to tell *late*
//! (stored) from *lost*; the look-up pages by `pos` from the highest position up to
//! which the recipient holds its whole timeline ([`PosCheck::held_through`]). Per-pair
//! order (guarantee 4) is checked on arrival.
//!
//! Each connection also checks its timeline (guarantee 3, [`crate::timeline`]): from the
//! `last_pos` of its login ([`Relay::logged_in`]), the positions of its `message` pushes
//! and of its own sends' acks must cover every position once, pushes in increasing
//! order. Positions missing once the sends that could have filled them are answered are
//! *gaps*; positions seen twice or pushed after a higher one are *reorders*. The checks
//! belong to the connections and span every run on them; what they find counts in the
//! phase current at the time, and holes still open at settling count as gaps. The floor
//! dialect has no positions and skips this check.
//!
//! Sends go out in the connections' dialect ([`Wire::encode_send`]); the `sync`
//! look-up is a `proto::Request` (JSON only).
//! May touch: the relay connections it is given (sending on them) and its own figures.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use proto::{Op, Request};
use serde_json::Value;

use crate::args::Pace;
use crate::client::{wait_until, Failure, Peer, PushSink, ServerError};
use crate::dialect::Wire;
use crate::error::LoadError;
use crate::ledger::{self, Reconciliation};
use crate::report::{bar, cpu_secs};
use crate::stats::{Counts, Percentiles, Recorder};
use crate::timeline::{PosCheck, Tally};
use crate::wire::{wire_id, Frame};

/// Pages of `sync` chatload reads per recipient when looking for missing messages.
const MAX_SYNC_PAGES: u32 = 200;
/// How long the `sync` look-up of missing messages may take.
const SYNC_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Default)]
struct Recipient {
    pushed: Vec<u64>,
    last_from_partner: u64,
}

/// The figures of one run (see the module doc).
pub struct Phase {
    start_us: AtomicU64,
    warm_end_us: AtomicU64,
    end_us: AtomicU64,
    running: AtomicBool,
    /// Closed-loop window; 0 in the open loop.
    window: AtomicUsize,
    /// Measured seconds, set when the run starts.
    secs: Mutex<f64>,
    client_cpu: Mutex<f64>,
    acked_ids: Vec<Mutex<Vec<u64>>>,
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
    /// Scheduled send → error answer, for sends scheduled in the measured window.
    refusal_latency: Recorder,
    /// Error answers to sends scheduled in the measured window, by code.
    refusal_codes: Counts,
    /// Of those, the ones that carried `retry_after_ms`.
    refused_with_retry_after: AtomicU64,
    closed_sends: AtomicU64,
    ack_without_msg_id: AtomicU64,
    out_of_order: AtomicU64,
    gaps: AtomicU64,
    reorders: AtomicU64,
    foreign_pushes: AtomicU64,
    bad_stamps: AtomicU64,
    other_pushes: Counts,
}

impl Phase {
    fn new(conns: usize) -> Phase {
        Phase {
            start_us: AtomicU64::new(u64::MAX),
            warm_end_us: AtomicU64::new(u64::MAX),
            end_us: AtomicU64::new(u64::MAX),
            running: AtomicBool::new(false),
            window: AtomicUsize::new(0),
            secs: Mutex::new(0.0),
            client_cpu: Mutex::new(0.0),
            acked_ids: (0..conns).map(|_| Mutex::new(Vec::new())).collect(),
            recipients: (0..conns)
                .map(|_| Mutex::new(Recipient::default()))
                .collect(),
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
            refusal_latency: Recorder::default(),
            refusal_codes: Counts::default(),
            refused_with_retry_after: AtomicU64::new(0),
            closed_sends: AtomicU64::new(0),
            ack_without_msg_id: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            gaps: AtomicU64::new(0),
            reorders: AtomicU64::new(0),
            foreign_pushes: AtomicU64::new(0),
            bad_stamps: AtomicU64::new(0),
            other_pushes: Counts::default(),
        }
    }

    fn in_window(&self, t_us: u64) -> bool {
        t_us >= self.warm_end_us.load(Ordering::Relaxed)
            && t_us < self.end_us.load(Ordering::Relaxed)
    }

    /// Connection `i`'s send scheduled at `sched_us` was answered with `error` at `now_us`.
    fn refused(&self, i: usize, sched_us: u64, now_us: u64, error: &ServerError) {
        self.send_errors.inc(error.code.as_str());
        if self.in_window(sched_us) {
            self.refusal_latency
                .record(i, now_us.saturating_sub(sched_us));
            self.refusal_codes.inc(error.code.as_str());
            if error.retry_after.is_some() {
                self.refused_with_retry_after
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The refusals counted so far (see [`Refusals`]).
    fn refusals(&self) -> Refusals {
        Refusals {
            latency: Percentiles::of(&self.refusal_latency.merged()),
            codes: self.refusal_codes.json(),
            with_retry_after: self.refused_with_retry_after.load(Ordering::Relaxed),
        }
    }

    fn count(&self, t: Tally) {
        if t.gaps > 0 {
            self.gaps.fetch_add(t.gaps, Ordering::Relaxed);
        }
        if t.reorders > 0 {
            self.reorders.fetch_add(t.reorders, Ordering::Relaxed);
        }
    }
}

/// Parses the scheduled time out of `<n>.<sched_us>`.
fn stamp_of(client_msg_id: &str) -> Option<u64> {
    client_msg_id.split_once('.')?.1.parse().ok()
}

/// The shared state of the relay connections; also the push sink of every one of them.
pub struct Relay {
    wire: Wire,
    base: Instant,
    partner_uid: OnceLock<Vec<u64>>,
    text: String,
    next: Vec<AtomicU64>,
    /// Each connection's timeline check (it outlives phases, like the connection).
    timelines: Vec<Mutex<PosCheck>>,
    phase: RwLock<Arc<Phase>>,
    /// Closed loop: sends held back after a refusal with `retry_after_ms`, as (due µs,
    /// connection index), earliest first.
    backoff: Mutex<BinaryHeap<Reverse<(u64, usize)>>>,
}

/// The error answers to sends scheduled in the measured window: the server refusing
/// messages (`server_busy` when it sheds load), and how fast it said so.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refusals {
    /// Scheduled send → error answer ("time to refuse"); `count` is how many.
    pub latency: Percentiles,
    /// How many of them, by error code.
    pub codes: Value,
    /// How many of them carried `retry_after_ms`.
    pub with_retry_after: u64,
}

impl Refusals {
    /// `{"count", "mean_us", "p50_us", ..., "max_us", "codes": {...}, "with_retry_after"}`.
    pub fn json(&self) -> Value {
        let mut v = self.latency.json();
        if let Some(map) = v.as_object_mut() {
            map.insert("codes".into(), self.codes.clone());
            map.insert(
                "with_retry_after".into(),
                Value::from(self.with_retry_after),
            );
        }
        v
    }

    /// The summary table's row: how many, time to refuse, how many said when to retry.
    pub fn row(&self) -> String {
        if self.latency.count == 0 {
            return "none".into();
        }
        format!(
            "{}; {} with retry_after_ms",
            self.latency.row_ms(),
            self.with_retry_after
        )
    }
}

/// What [`Relay::settle`] found about one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Measured seconds (after the warm-up).
    pub secs: f64,
    /// Warm-up plus measured seconds.
    pub run_secs: f64,
    /// CPU seconds chatload used during the run.
    pub client_cpu: f64,
    /// Sends made (warm-up included).
    pub sent: u64,
    /// Sends scheduled in the measured window, per second.
    pub sends_per_sec: f64,
    /// Acks received in the measured window, per second.
    pub acked_per_sec: f64,
    /// Pushes received in the measured window, per second.
    pub delivered_per_sec: f64,
    /// Send→ack latency of sends scheduled in the measured window.
    pub ack: Percentiles,
    /// Send→delivery latency of messages scheduled in the measured window.
    pub delivery: Percentiles,
    /// Error answers to sends, by code.
    pub send_errors: Value,
    /// Error answers to sends scheduled in the measured window: time to refuse, codes,
    /// `retry_after_ms`.
    pub refusal: Refusals,
    /// Sends whose connection closed before the answer.
    pub closed_sends: u64,
    /// Sends still unanswered after the drain.
    pub unanswered: u64,
    /// Every ack and push arrived within the drain time.
    pub drained: bool,
    /// Seconds the drain took.
    pub drain_secs: f64,
    /// The exactly-once accounting.
    pub rec: Reconciliation,
    /// Acked, never pushed, but stored.
    pub late: u64,
    /// Acked, never pushed, not stored.
    pub lost: u64,
    /// `sync` look-ups that failed.
    pub sync_failed: u64,
    /// Pushes from a partner that went backwards in `msg_id`.
    pub out_of_order: u64,
    /// Timeline positions missing on a connection (pushes jumped over them and no ack
    /// filled them), holes still open after the drain included.
    pub gaps: u64,
    /// Timeline positions a connection got twice, or pushes after a higher one.
    pub reorders: u64,
    /// Pushes from someone other than the partner.
    pub foreign_pushes: u64,
    /// Pushes whose `client_msg_id` carried no readable schedule.
    pub bad_stamps: u64,
    /// Acks without a `msg_id`.
    pub ack_without_msg_id: u64,
    /// Pushes other than `message`, by type.
    pub other_pushes: Value,
}

impl Outcome {
    /// Every relay integrity check held: nothing lost, duplicated, unanswered, out of
    /// order or misrouted, no timeline gap or reorder, every ack with a `msg_id` (wire
    /// health is checked apart).
    pub fn intact(&self) -> bool {
        self.lost == 0
            && self.rec.duplicated == 0
            && self.unanswered == 0
            && self.out_of_order == 0
            && self.gaps == 0
            && self.reorders == 0
            && self.rec.misrouted == 0
            && self.ack_without_msg_id == 0
    }

    /// min(acked/s, delivered/s): the rate that both happened at.
    pub fn msgs_per_sec(&self) -> f64 {
        self.acked_per_sec.min(self.delivered_per_sec)
    }
}

impl Relay {
    /// The relay of `conns` connections speaking `wire`, sending texts of `size` bytes,
    /// with a fresh current phase.
    pub fn new(wire: Wire, conns: usize, size: usize) -> Arc<Relay> {
        Arc::new(Relay {
            wire,
            base: Instant::now(),
            partner_uid: OnceLock::new(),
            text: "x".repeat(size),
            next: (0..conns).map(|_| AtomicU64::new(0)).collect(),
            timelines: (0..conns)
                .map(|_| Mutex::new(PosCheck::default()))
                .collect(),
            phase: RwLock::new(Arc::new(Phase::new(conns))),
            backoff: Mutex::new(BinaryHeap::new()),
        })
    }

    /// Connection `i` logged in and its login returned `last_pos`: its timeline check
    /// starts there.
    pub fn logged_in(&self, i: usize, last_pos: u64) {
        *self.timelines[i].lock() = PosCheck::new(last_pos);
    }

    /// Records each connection's partner's user id (connection `i` sends to `uids[i]`).
    pub fn set_partners(&self, uids: Vec<u64>) {
        let _ = self.partner_uid.set(uids);
    }

    /// Makes a fresh phase current (the previous one keeps its figures).
    pub fn next_phase(&self) {
        *self.phase.write() = Arc::new(Phase::new(self.next.len()));
    }

    fn current(&self) -> Arc<Phase> {
        Arc::clone(&self.phase.read())
    }

    fn now_us(&self) -> u64 {
        self.base.elapsed().as_micros() as u64
    }

    fn partner_uid(&self, i: usize) -> u64 {
        self.partner_uid.get().map_or(0, |p| p[i])
    }

    fn send(self: &Arc<Self>, phase: &Arc<Phase>, peer: &Arc<Peer>, sched_us: u64) {
        let i = peer.index();
        let n = self.next[i].fetch_add(1, Ordering::Relaxed);
        let cmid = format!("{n}.{sched_us}");
        let to = self.partner_uid(i);
        phase.sent.fetch_add(1, Ordering::Relaxed);
        if phase.in_window(sched_us) {
            phase.sent_window.fetch_add(1, Ordering::Relaxed);
        }
        phase.inflight.fetch_add(1, Ordering::Relaxed);
        // Before the request goes out, so that the check knows of it when its answer or a
        // push of a higher position arrives.
        self.timelines[i].lock().sent();
        let (wire, text) = (self.wire, &self.text);
        let relay = Arc::clone(self);
        let ph = Arc::clone(phase);
        peer.request(
            Op::SendMessage,
            |seq| wire.encode_send(seq, to, text, &cmid),
            Box::new(move |peer, outcome| relay.answered(&ph, peer, sched_us, outcome)),
        );
    }

    fn answered(
        self: &Arc<Self>,
        phase: &Arc<Phase>,
        peer: &Arc<Peer>,
        sched_us: u64,
        outcome: Result<Frame, Failure>,
    ) {
        phase.inflight.fetch_sub(1, Ordering::Relaxed);
        let now = self.now_us();
        let i = peer.index();
        let tally = {
            let mut timeline = self.timelines[i].lock();
            match outcome.as_ref().ok().and_then(|f| f.pos) {
                Some(pos) => timeline.ack(pos),
                None => timeline.answered(),
            }
        };
        phase.count(tally);
        match outcome {
            Ok(frame) => match frame.msg_id {
                Some(id) => {
                    phase.acked_ids[i].lock().push(id);
                    phase.acked.fetch_add(1, Ordering::Relaxed);
                    if phase.in_window(now) {
                        phase.acked_window.fetch_add(1, Ordering::Relaxed);
                    }
                    if phase.in_window(sched_us) {
                        phase.ack_latency.record(i, now.saturating_sub(sched_us));
                    }
                }
                None => {
                    phase.ack_without_msg_id.fetch_add(1, Ordering::Relaxed);
                }
            },
            Err(Failure::Server(e)) => {
                phase.refused(i, sched_us, now, &e);
                let closed_loop = phase.window.load(Ordering::Relaxed) > 0;
                if let (true, Some(wait)) = (closed_loop, e.retry_after) {
                    let due = now.saturating_add(wait.as_micros() as u64);
                    self.backoff.lock().push(Reverse((due, i)));
                    return;
                }
            }
            Err(Failure::Closed) => {
                phase.closed_sends.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let window = phase.window.load(Ordering::Relaxed);
        if window > 0 && phase.running.load(Ordering::Relaxed) {
            self.send(phase, peer, now);
        }
    }

    /// Closed loop: sends each send held back after a refusal once it is due, until the
    /// phase stops running (what is still held then is dropped).
    fn back_off(self: &Arc<Self>, phase: &Arc<Phase>, peers: &[Arc<Peer>]) {
        let mut by_index: Vec<Option<&Arc<Peer>>> = vec![None; self.next.len()];
        for peer in peers {
            if let Some(slot) = by_index.get_mut(peer.index()) {
                *slot = Some(peer);
            }
        }
        while phase.running.load(Ordering::Relaxed) {
            let now = self.now_us();
            loop {
                let due = {
                    let mut held = self.backoff.lock();
                    match held.peek() {
                        Some(Reverse((at, _))) if *at <= now => held.pop(),
                        _ => None,
                    }
                };
                let Some(Reverse((_, i))) = due else { break };
                if let Some(Some(peer)) = by_index.get(i) {
                    self.send(phase, peer, now);
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        self.backoff.lock().clear();
    }

    /// Runs the current phase: `warmup` then `duration` of sends paced as `pace` says
    /// (a progress bar named `label` on a terminal when `progress`). Returns when the
    /// measured window ends; answers and pushes still on their way are left to
    /// [`Relay::settle`].
    pub fn run(
        self: &Arc<Self>,
        peers: &[Arc<Peer>],
        pace: Pace,
        (warmup, duration): (Duration, Duration),
        label: &str,
        progress: bool,
    ) -> Result<(), LoadError> {
        let phase = self.current();
        let cpu_before = cpu_secs();
        let start = self.now_us();
        let warm_end = start + warmup.as_micros() as u64;
        let end = warm_end + duration.as_micros() as u64;
        phase.start_us.store(start, Ordering::Relaxed);
        phase.warm_end_us.store(warm_end, Ordering::Relaxed);
        phase.end_us.store(end, Ordering::Relaxed);
        *phase.secs.lock() = duration.as_secs_f64();
        if let Pace::Closed { window } = pace {
            phase.window.store(window, Ordering::Relaxed);
        }
        phase.running.store(true, Ordering::Relaxed);
        let total_ms = (end - start) / 1000;
        let pb = bar(total_ms, label, progress);
        // Closed loop: the first window of sends, then a thread sending what the server
        // asked to hold back. Open loop: a thread sending on schedule.
        if let Pace::Closed { window } = pace {
            for peer in peers {
                for _ in 0..window {
                    self.send(&phase, peer, self.now_us());
                }
            }
        }
        let (r, ph, p) = (Arc::clone(self), Arc::clone(&phase), peers.to_vec());
        let pacer_thread = std::thread::Builder::new()
            .name("chatload-pacer".into())
            .spawn(move || match pace {
                Pace::Closed { .. } => r.back_off(&ph, &p),
                Pace::Open { rate } => r.pacer(&ph, &p, rate),
            })
            .map_err(LoadError::io("spawn the pacer thread"))?;
        loop {
            let now = self.now_us();
            if now >= end {
                break;
            }
            pb.set_position((now - start) / 1000);
            pb.set_message(format!(
                "acked {} pushed {}",
                phase.acked.load(Ordering::Relaxed),
                phase.pushed.load(Ordering::Relaxed)
            ));
            std::thread::sleep(Duration::from_millis(100).min(Duration::from_micros(end - now)));
        }
        phase.running.store(false, Ordering::Relaxed);
        *phase.client_cpu.lock() = cpu_secs() - cpu_before;
        let _ = pacer_thread.join();
        pb.finish_and_clear();
        Ok(())
    }

    fn pacer(self: &Arc<Self>, phase: &Arc<Phase>, peers: &[Arc<Peer>], rate: f64) {
        let start = phase.start_us.load(Ordering::Relaxed);
        let end = phase.end_us.load(Ordering::Relaxed);
        let interval = 1e6 / rate;
        let mut k: u64 = 0;
        loop {
            let now = self.now_us();
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
                self.send(phase, &peers[(k % peers.len() as u64) as usize], sched);
                k += 1;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
    }

    /// Waits up to `drain` for outstanding acks and pushes of the current phase, then
    /// checks exactly-once delivery; missing messages are looked up with `sync` when
    /// `sync` is true (the JSON protocol; `relay_floor` stores nothing).
    pub fn settle(&self, peers: &[Arc<Peer>], drain: Duration, sync: bool) -> Outcome {
        let phase = self.current();
        let drain_start = Instant::now();
        let drained = wait_until(drain_start + drain, || {
            phase.inflight.load(Ordering::Relaxed) <= 0
                && phase.pushed.load(Ordering::Relaxed) >= phase.acked.load(Ordering::Relaxed)
        });
        let drain_secs = drain_start.elapsed().as_secs_f64();

        let mut acked = Vec::new();
        for (i, ids) in phase.acked_ids.iter().enumerate() {
            acked.extend(ids.lock().iter().map(|&id| (id, i ^ 1)));
        }
        let mut pushed = Vec::new();
        for (i, r) in phase.recipients.iter().enumerate() {
            pushed.extend(r.lock().pushed.iter().map(|&id| (id, i)));
        }
        let rec = ledger::reconcile(&acked, &pushed);
        let open_holes: u64 = self.timelines.iter().map(|t| t.lock().open_holes()).sum();
        let (stored, sync_failed) = if rec.missing.is_empty() || !sync {
            (HashSet::new(), 0)
        } else {
            let from: Vec<u64> = self
                .timelines
                .iter()
                .map(|t| t.lock().held_through())
                .collect();
            sync_missing(peers, &rec.missing, &from, SYNC_TIMEOUT)
        };
        let (late, lost) = ledger::classify(&rec.missing, &stored);
        let unanswered = peers.iter().map(|p| p.pending() as u64).sum::<u64>();
        let secs = *phase.secs.lock();
        let per_sec = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64 / secs;
        let start = phase.start_us.load(Ordering::Relaxed);
        let end = phase.end_us.load(Ordering::Relaxed);
        let client_cpu = *phase.client_cpu.lock();
        Outcome {
            secs,
            run_secs: end.saturating_sub(start) as f64 / 1e6,
            client_cpu,
            sent: phase.sent.load(Ordering::Relaxed),
            sends_per_sec: per_sec(&phase.sent_window),
            acked_per_sec: per_sec(&phase.acked_window),
            delivered_per_sec: per_sec(&phase.pushed_window),
            ack: Percentiles::of(&phase.ack_latency.merged()),
            delivery: Percentiles::of(&phase.delivery_latency.merged()),
            send_errors: phase.send_errors.json(),
            refusal: phase.refusals(),
            closed_sends: phase.closed_sends.load(Ordering::Relaxed),
            unanswered,
            drained,
            drain_secs,
            rec,
            late,
            lost,
            sync_failed,
            out_of_order: phase.out_of_order.load(Ordering::Relaxed),
            gaps: phase.gaps.load(Ordering::Relaxed) + open_holes,
            reorders: phase.reorders.load(Ordering::Relaxed),
            foreign_pushes: phase.foreign_pushes.load(Ordering::Relaxed),
            bad_stamps: phase.bad_stamps.load(Ordering::Relaxed),
            ack_without_msg_id: phase.ack_without_msg_id.load(Ordering::Relaxed),
            other_pushes: phase.other_pushes.json(),
        }
    }
}

impl PushSink for Relay {
    fn push(&self, peer: &Arc<Peer>, frame: Frame) {
        let phase = self.current();
        if frame.kind != "message" {
            phase.other_pushes.inc(&frame.kind);
            return;
        }
        let now = self.now_us();
        let i = peer.index();
        let Some(id) = frame.msg_id else {
            phase.other_pushes.inc("message_without_msg_id");
            return;
        };
        if let Some(pos) = frame.pos {
            let tally = self.timelines[i].lock().push(pos);
            phase.count(tally);
        }
        let from_partner = frame.from == Some(self.partner_uid(i));
        {
            let mut r = phase.recipients[i].lock();
            r.pushed.push(id);
            if from_partner {
                if id < r.last_from_partner {
                    phase.out_of_order.fetch_add(1, Ordering::Relaxed);
                } else {
                    r.last_from_partner = id;
                }
            }
        }
        if !from_partner {
            phase.foreign_pushes.fetch_add(1, Ordering::Relaxed);
        }
        phase.pushed.fetch_add(1, Ordering::Relaxed);
        if phase.in_window(now) {
            phase.pushed_window.fetch_add(1, Ordering::Relaxed);
        }
        match frame.client_msg_id.as_deref().and_then(stamp_of) {
            Some(sched) if phase.in_window(sched) => {
                phase.delivery_latency.record(i, now.saturating_sub(sched))
            }
            Some(_) => {}
            None => {
                phase.bad_stamps.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// What the `sync` look-ups of one settling share.
#[derive(Default)]
struct LookUps {
    found: Mutex<HashSet<u64>>,
    outstanding: AtomicUsize,
    failed: AtomicU64,
}

/// Reads `peer`'s timeline with `sync` from `after` on, page by page (at most `pages`),
/// until every id of `wanted` was seen (`left` of them are still not) or the timeline
/// ends; records the ids of `wanted` it finds.
fn sync_pages(
    peer: &Arc<Peer>,
    after: u64,
    (pages, left): (u32, usize),
    wanted: Arc<HashSet<u64>>,
    shared: Arc<LookUps>,
) {
    let req = Request::Sync {
        after: wire_id(after),
        limit: 500,
    };
    peer.send_request(
        &req,
        Box::new(move |peer, outcome| {
            let Ok(frame) = outcome else {
                shared.failed.fetch_add(1, Ordering::Relaxed);
                shared.outstanding.fetch_sub(1, Ordering::Relaxed);
                return;
            };
            let messages = frame.messages.unwrap_or_default();
            let last = messages.iter().map(|m| m.pos).max().unwrap_or(after);
            let hits: Vec<u64> = messages
                .iter()
                .map(|m| m.msg_id)
                .filter(|id| wanted.contains(id))
                .collect();
            let left = left.saturating_sub(hits.len());
            shared.found.lock().extend(hits);
            if frame.more == Some(true) && left > 0 && last > after && pages > 1 {
                sync_pages(peer, last, (pages - 1, left), wanted, shared);
            } else {
                shared.outstanding.fetch_sub(1, Ordering::Relaxed);
            }
        }),
    );
}

/// Looks for `missing` messages (`(recipient, msg_id)`, sorted) with `sync` on their
/// recipients, each from position `from[recipient]` on; returns the ids found and the
/// look-ups that failed.
fn sync_missing(
    peers: &[Arc<Peer>],
    missing: &[(usize, u64)],
    from: &[u64],
    timeout: Duration,
) -> (HashSet<u64>, u64) {
    let shared = Arc::new(LookUps::default());
    for chunk in missing.chunk_by(|a, b| a.0 == b.0) {
        let r = chunk[0].0;
        let wanted: HashSet<u64> = chunk.iter().map(|&(_, id)| id).collect();
        shared.outstanding.fetch_add(1, Ordering::Relaxed);
        let left = wanted.len();
        sync_pages(
            &peers[r],
            from[r],
            (MAX_SYNC_PAGES, left),
            Arc::new(wanted),
            Arc::clone(&shared),
        );
    }
    wait_until(Instant::now() + timeout, || {
        shared.outstanding.load(Ordering::Relaxed) == 0
    });
    let set = std::mem::take(&mut *shared.found.lock());
    (set, shared.failed.load(Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Error answers to sends scheduled in the measured window count as refusals, timed
    /// from the scheduled send; all of them count in `send_errors`.
    #[test]
    fn refusals_of_the_measured_window_are_timed_and_counted() {
        let phase = Phase::new(4);
        phase.warm_end_us.store(1_000, Ordering::Relaxed);
        phase.end_us.store(10_000, Ordering::Relaxed);
        let busy = |ms: Option<u64>| ServerError {
            code: proto::ErrorCode::ServerBusy,
            retry_after: ms.map(Duration::from_millis),
        };
        let limited = ServerError {
            code: proto::ErrorCode::RateLimited,
            retry_after: None,
        };
        // Scheduled in the warm-up, and after the window: errors, not refusals.
        phase.refused(0, 500, 600, &busy(Some(5)));
        phase.refused(1, 10_000, 10_100, &busy(Some(5)));
        // Scheduled in the window (answered after it ends, for the last one).
        phase.refused(0, 1_000, 1_200, &busy(Some(5)));
        phase.refused(1, 2_000, 2_400, &busy(None));
        phase.refused(2, 3_000, 3_800, &limited);
        phase.refused(3, 9_999, 11_599, &busy(Some(0)));

        let r = phase.refusals();
        assert_eq!(r.latency.count, 4);
        assert_eq!(r.latency.p50_us, 400);
        assert_eq!(r.latency.max_us, 1_600);
        assert_eq!(r.with_retry_after, 2);
        assert_eq!(
            r.codes,
            serde_json::json!({"rate_limited": 1, "server_busy": 3})
        );
        assert_eq!(
            phase.send_errors.json(),
            serde_json::json!({"rate_limited": 1, "server_busy": 5})
        );
        let j = r.json();
        assert_eq!(j["count"], 4);
        assert_eq!(j["max_us"], 1_600);
        assert_eq!(j["with_retry_after"], 2);
        assert_eq!(j["codes"]["server_busy"], 3);
        assert!(r.row().ends_with("; 2 with retry_after_ms"), "{}", r.row());
        assert_eq!(Refusals::default().row(), "none");
    }

    #[test]
    fn stamps_parse_from_client_msg_ids() {
        assert_eq!(stamp_of("12.3456789"), Some(3_456_789));
        assert_eq!(stamp_of("12"), None);
        assert_eq!(stamp_of("12.x"), None);
    }
}
