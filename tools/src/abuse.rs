//! `chatload abuse`: does a server under attack still serve its normal clients?
//!
//! The normal load is the relay scenario ([`crate::relay`]): `--conns` paired
//! connections (from 127.0.0.2..=127.0.0.254) offering `--rate` msg/s in total (open
//! loop, latency from each message's scheduled time), plus one [`Pinger`] connection
//! (logged in, `"push": false`) that pings every `--ping-ms` and records the round
//! trips. Set-up once, then two phases back to back on the same connections and server:
//!
//! 1. *no attack*: `--warmup`, then `--duration` measured, then a drain (`--drain`) and
//!    the exactly-once check of the relay;
//! 2. *attack*: the same, with `--attackers` attackers ([`crate::attack`], from
//!    127.0.1.1, 127.0.1.2, ...) started with the warm-up and stopped at the end of the
//!    measured window, before the drain.
//!
//! During each phase (from its start to the end of its drain) the server's `VmRSS` is
//! read every 100 ms ([`RssSampler`], `--server-pid`). Reported side by side: the
//! relay's send→delivery and send→ack latency, ping round trips, rates, lost and
//! duplicated messages, send errors and the server's peak RSS; then the attackers'
//! counters, and the goal ([`Goals`]): attack p99 ≤ [`P99_FACTOR`] × no-attack p99,
//! attack peak RSS ≤ no-attack peak RSS + [`RSS_ALLOWANCE_KIB`], 0 lost. A missed goal
//! is reported, not an error; the run is *clean* (exit status 0) when every integrity
//! check of the normal clients held in both phases.
//! May touch: the client engine it starts and the connections of the run, the attackers
//! it launches (stopped before it returns), the server's `/proc` status (VmRSS, read
//! only), the process's RLIMIT_NOFILE, progress bars on stderr; the caller prints the
//! report it returns.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::accounts::raise_nofile;
use crate::args::{AbusePlan, Pace, Resolved};
use crate::attack::{self, attacker_ip, kind_counts, Attack, AttackReport};
use crate::client::{Engine, Health};
use crate::dialect::Wire;
use crate::error::LoadError;
use crate::pinger::{PingStats, Pinger};
use crate::relay::phase::{Outcome, Relay};
use crate::relay::setup::{self, Fleet};
use crate::report::{counts_line, num1, Report, Table};
use crate::rss::{RssSampler, RssSummary};
use crate::stats::Percentiles;

/// Goal: the attack phase's p99 send→delivery at most this many times the no-attack p99.
pub const P99_FACTOR: f64 = 1.5;
/// Goal: the attack phase's peak RSS at most this much above the no-attack peak (KiB).
pub const RSS_ALLOWANCE_KIB: u64 = 256 * 1024;
/// Time a phase may overrun its warm-up, measured window and drain (the `sync` look-up
/// of missing messages, stopping attackers) before its helper threads stop by themselves.
const PHASE_SLACK: Duration = Duration::from_secs(120);

/// What one phase measured.
#[derive(Debug, Clone)]
pub struct PhaseFigures {
    /// The relay's run.
    pub relay: Outcome,
    /// The pinger's round trips.
    pub ping: PingStats,
    /// The server's resident memory.
    pub rss: RssSummary,
}

impl PhaseFigures {
    /// As JSON.
    pub fn json(&self) -> Value {
        let o = &self.relay;
        json!({
            "sent": o.sent,
            "sends_per_sec": num1(o.sends_per_sec),
            "acked_per_sec": num1(o.acked_per_sec),
            "delivered_per_sec": num1(o.delivered_per_sec),
            "msgs_per_sec": num1(o.msgs_per_sec()),
            "ack_latency_us": o.ack.json(),
            "delivery_latency_us": o.delivery.json(),
            "ping": self.ping.json(),
            "server_rss": self.rss.json(),
            "lost": o.lost,
            "duplicated": o.rec.duplicated,
            "gaps": o.gaps,
            "reorders": o.reorders,
            "late": o.late,
            "exactly_once": o.rec.json(o.late, o.lost),
            "unanswered_sends": o.unanswered,
            "send_errors": o.send_errors,
            "closed_sends": o.closed_sends,
            "out_of_order": o.out_of_order,
            "drained": o.drained,
            "drain_s": num1(o.drain_secs),
            "sync_failed": o.sync_failed,
            "other_pushes": o.other_pushes,
            "client_cpu_s": num1(o.client_cpu),
        })
    }
}

/// The goal of the scenario, judged from the two phases.
#[derive(Debug, Clone, PartialEq)]
pub struct Goals {
    /// Attack p99 ÷ no-attack p99 (send→delivery); `None` without samples.
    pub p99_ratio: Option<f64>,
    /// Attack peak RSS − no-attack peak RSS, KiB; `None` without `--server-pid`.
    pub rss_growth_kib: Option<i64>,
    /// Messages lost over both phases.
    pub lost: u64,
}

impl Goals {
    /// The goals of `quiet` (no attack) against `attacked`.
    pub fn of(quiet: &PhaseFigures, attacked: &PhaseFigures) -> Goals {
        let (q, a) = (quiet.relay.delivery, attacked.relay.delivery);
        let p99_ratio =
            (q.count > 0 && a.count > 0).then(|| a.p99_us as f64 / q.p99_us.max(1) as f64);
        let rss_growth_kib = match (quiet.rss.peak_kib, attacked.rss.peak_kib) {
            (Some(q), Some(a)) => Some(a as i64 - q as i64),
            _ => None,
        };
        Goals {
            p99_ratio,
            rss_growth_kib,
            lost: quiet.relay.lost + attacked.relay.lost,
        }
    }

    /// p99 within [`P99_FACTOR`].
    pub fn p99_met(&self) -> bool {
        self.p99_ratio.is_some_and(|r| r <= P99_FACTOR)
    }

    /// RSS growth within [`RSS_ALLOWANCE_KIB`] (`None`: not measured).
    pub fn rss_met(&self) -> Option<bool> {
        self.rss_growth_kib.map(|g| g <= RSS_ALLOWANCE_KIB as i64)
    }

    /// Every goal measured and met.
    pub fn met(&self) -> bool {
        self.p99_met() && self.rss_met() == Some(true) && self.lost == 0
    }

    /// The goal line of the summary.
    pub fn line(&self, quiet: &Percentiles, attacked: &Percentiles) -> String {
        let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
        let p99 = match self.p99_ratio {
            Some(r) => format!(
                "{} vs {} ms = {r:.2}× ({})",
                ms(attacked.p99_us),
                ms(quiet.p99_us),
                verdict(self.p99_met())
            ),
            None => "no samples (MISSED)".into(),
        };
        let rss = match self.rss_growth_kib {
            Some(g) => format!(
                "{:+.1} MiB ({})",
                g as f64 / 1024.0,
                verdict(self.rss_met() == Some(true))
            ),
            None => "not measured (give --server-pid)".into(),
        };
        format!(
            "attack p99 ≤ {P99_FACTOR} × no-attack p99: {p99}; attack peak RSS ≤ no-attack \
             peak + {} MiB: {rss}; 0 lost: {} ({}) → {}",
            RSS_ALLOWANCE_KIB / 1024,
            self.lost,
            verdict(self.lost == 0),
            if self.met() {
                "goal met"
            } else {
                "goal MISSED"
            }
        )
    }

    /// As JSON.
    pub fn json(&self) -> Value {
        json!({
            "p99_ratio": self.p99_ratio.map(|r| (r * 1000.0).round() / 1000.0),
            "p99_ratio_max": P99_FACTOR,
            "p99_met": self.p99_met(),
            "rss_growth_kib": self.rss_growth_kib,
            "rss_growth_max_kib": RSS_ALLOWANCE_KIB,
            "rss_met": self.rss_met(),
            "lost": self.lost,
            "lost_met": self.lost == 0,
            "met": self.met(),
        })
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0))
}

/// Runs the abuse scenario against `common.addr`, which must be the only `--addr` and
/// an IPv4 loopback address.
pub fn run(common: &Resolved, plan: &AbusePlan) -> Result<Report, LoadError> {
    match common.single_addr("chatload abuse")? {
        SocketAddr::V4(a) if a.ip().is_loopback() => {}
        other => {
            return Err(LoadError::Args(format!(
                "chatload abuse attacks only a server on IPv4 loopback, not {other}"
            )))
        }
    }
    raise_nofile();
    let health = Arc::new(Health::default());
    let engine = Engine::start(common.threads, Arc::clone(&health))?;
    let result = run_on(&engine, common, plan);
    engine.shutdown();
    result
}

/// What the two phases need besides the plan.
struct Rig<'a> {
    common: &'a Resolved,
    plan: &'a AbusePlan,
    relay: &'a Arc<Relay>,
    fleet: &'a Fleet,
    pinger: &'a Pinger,
    limit: Duration,
}

impl Rig<'_> {
    /// One phase: RSS sampling, the attack if `attacked`, the relay run and its drain.
    fn phase(&self, attacked: bool) -> Result<(PhaseFigures, Option<AttackReport>), LoadError> {
        let plan = self.plan;
        let rss = RssSampler::start(plan.server_pid, self.limit)?;
        let attack = if attacked {
            match attack::launch(self.common.addr, &plan.attack, self.limit) {
                Ok(a) => Some(a),
                Err(e) => {
                    rss.stop();
                    return Err(e);
                }
            }
        } else {
            None
        };
        let from = Instant::now() + plan.warmup;
        let window = self.pinger.measure(from, from + plan.duration);
        let ran = self.relay.run(
            &self.fleet.peers,
            Pace::Open { rate: plan.rate },
            (plan.warmup, plan.duration),
            if attacked { "attack" } else { "no attack" },
            self.common.progress,
        );
        let report = attack.map(Attack::stop);
        if let Err(e) = ran {
            rss.stop();
            return Err(e);
        }
        let relay = self.relay.settle(&self.fleet.peers, plan.drain, true);
        let figures = PhaseFigures {
            relay,
            ping: window.stats(),
            rss: rss.stop(),
        };
        Ok((figures, report))
    }
}

fn run_on(engine: &Engine, common: &Resolved, plan: &AbusePlan) -> Result<Report, LoadError> {
    let c = plan.conns;
    let accounts = common.generated();
    let relay = Relay::new(Wire::Json, c, plan.size);
    let fleet = setup::set_up(
        engine,
        common,
        &relay,
        (c, Wire::Json),
        &accounts,
        plan.setup_timeout,
    )?;
    let limit = plan.warmup + plan.duration + plan.drain + PHASE_SLACK;
    let pinger = Pinger::start(
        engine,
        common,
        &accounts,
        c,
        &fleet.retry,
        (plan.ping_interval, plan.setup_timeout, 2 * limit),
    )?;
    let rig = Rig {
        common,
        plan,
        relay: &relay,
        fleet: &fleet,
        pinger: &pinger,
        limit,
    };
    let phases = rig.phase(false).and_then(|quiet| {
        relay.next_phase();
        rig.phase(true).map(|attacked| (quiet.0, attacked))
    });
    pinger.stop();
    for peer in &fleet.peers {
        peer.close();
    }
    let (quiet, (attacked, attack)) = phases?;
    let setup = (fleet.secs, fleet.retry.retries.load(Ordering::Relaxed));
    Ok(summarize(
        common,
        plan,
        setup,
        (&quiet, &attacked),
        &attack.unwrap_or_default(),
        engine.health(),
    ))
}

/// The report of a run: the side-by-side table and the JSON line.
pub fn summarize(
    common: &Resolved,
    plan: &AbusePlan,
    (setup_secs, setup_retries): (f64, u64),
    (quiet, attacked): (&PhaseFigures, &PhaseFigures),
    attack: &AttackReport,
    health: &Health,
) -> Report {
    let goals = Goals::of(quiet, attacked);
    let clean = quiet.relay.intact() && attacked.relay.intact() && health.bad_behaviour() == 0;
    let total = attack.total();
    let n = plan.attack.attackers;
    let last_ip = attacker_ip(n.saturating_sub(1)).map_or("?".into(), |ip| ip.to_string());
    let json = json!({
        "scenario": "abuse",
        "addr": common.addr.to_string(),
        "prefix": common.prefix,
        "conns": plan.conns,
        "rate": plan.rate,
        "attackers": n,
        "pipeline": plan.attack.pipeline,
        "half_open": plan.attack.half_open,
        "duration_s": plan.duration.as_secs_f64(),
        "warmup_s": plan.warmup.as_secs_f64(),
        "size": plan.size,
        "ping_ms": plan.ping_interval.as_secs_f64() * 1000.0,
        "server_pid": plan.server_pid,
        "setup_s": num1(setup_secs),
        "setup_retries": setup_retries,
        "no_attack": quiet.json(),
        "attack": attacked.json(),
        "attack_traffic": attack.json(),
        "goals": goals.json(),
        "health": health.json(),
        "clean": clean,
    });

    let side = |f: &dyn Fn(&PhaseFigures) -> String| (f(quiet), f(attacked));
    let mut rows: Vec<(&str, String, String)> = Vec::new();
    let mut add = |label: &'static str, (a, b): (String, String)| rows.push((label, a, b));
    add("", ("no attack".into(), "attack".into()));
    add(
        "send→delivery p50 / p99 / max ms",
        side(&|p| {
            let d = p.relay.delivery;
            format!("{} / {} / {}", ms(d.p50_us), ms(d.p99_us), ms(d.max_us))
        }),
    );
    add(
        "send→ack p50 / p99 ms",
        side(&|p| format!("{} / {}", ms(p.relay.ack.p50_us), ms(p.relay.ack.p99_us))),
    );
    add(
        "ping RTT p50 / p99 / max ms",
        side(&|p| {
            let r = p.ping.rtt;
            format!("{} / {} / {}", ms(r.p50_us), ms(r.p99_us), ms(r.max_us))
        }),
    );
    add(
        "pings sent / answered",
        side(&|p| format!("{} / {}", p.ping.sent, p.ping.answered)),
    );
    add(
        "sent / acked / delivered per s",
        side(&|p| {
            let o = &p.relay;
            format!(
                "{:.0} / {:.0} / {:.0}",
                o.sends_per_sec, o.acked_per_sec, o.delivered_per_sec
            )
        }),
    );
    add(
        "lost / duplicated (late)",
        side(&|p| {
            let o = &p.relay;
            format!("{} / {} ({})", o.lost, o.rec.duplicated, o.late)
        }),
    );
    add(
        "timeline gaps / reorders",
        side(&|p| format!("{} / {}", p.relay.gaps, p.relay.reorders)),
    );
    add(
        "unanswered sends",
        side(&|p| p.relay.unanswered.to_string()),
    );
    add("send errors", side(&|p| counts_line(&p.relay.send_errors)));
    add(
        "server VmRSS start → peak MiB",
        side(&|p| match p.rss.samples {
            0 => "not measured".into(),
            _ => format!("{} → {}", mib(p.rss.first_kib), mib(p.rss.peak_kib)),
        }),
    );
    add(
        "chatload CPU s",
        side(&|p| format!("{:.1} over {:.1}", p.relay.client_cpu, p.relay.run_secs)),
    );

    let counts = kind_counts(n);
    let mut table = Table::new(format!(
        "chatload abuse ({} relay conns at {} msg/s offered, {n} attackers)",
        plan.conns, plan.rate
    ));
    table
        .row(
            "set-up",
            format!("{setup_secs:.1} s ({setup_retries} retries after server_busy/rate_limited)"),
        )
        .row(
            "each phase",
            format!(
                "{:.1} s measured after {:.1} s warm-up",
                plan.duration.as_secs_f64(),
                plan.warmup.as_secs_f64()
            ),
        )
        .columns(&rows)
        .row(
            "attackers",
            format!(
                "{n} from 127.0.1.1..={last_ip}: {} big-frame, {} pipelined-login ({} frames a \
                 burst), {} half-open ({} connections each), for {:.1} s",
                counts[0],
                counts[1],
                plan.attack.pipeline,
                counts[2],
                plan.attack.half_open,
                attack.secs
            ),
        )
        .row(
            "attack bytes / frames sent",
            format!(
                "{:.1} MiB / {} ({} pipelined bursts)",
                total.bytes_sent as f64 / 1_048_576.0,
                total.frames_sent,
                total.bursts
            ),
        )
        .row(
            "attack conns opened / refused / closed by server",
            format!(
                "{} / {} / {}",
                total.connections,
                total.refused.values().sum::<u64>(),
                total.closed_by_server
            ),
        )
        .row(
            "attack frames received by code",
            format!(
                "{} ({})",
                total.frames_in,
                counts_line(&attack.json()["total"]["errors"])
            ),
        )
        .row("malformed frames", counts_line(&health.malformed.json()))
        .row("anomalies", counts_line(&health.anomalies.json()))
        .row(
            "goal",
            goals.line(&quiet.relay.delivery, &attacked.relay.delivery),
        )
        .row("clean", clean);
    Report { table, json, clean }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::Reconciliation;

    fn outcome(p99_us: u64, lost: u64) -> Outcome {
        let lat = Percentiles {
            count: 1000,
            p50_us: p99_us / 4,
            p99_us,
            max_us: p99_us * 2,
            ..Percentiles::default()
        };
        Outcome {
            secs: 10.0,
            run_secs: 12.0,
            client_cpu: 3.0,
            sent: 120_000,
            sends_per_sec: 10_000.0,
            acked_per_sec: 9_999.0,
            delivered_per_sec: 9_998.0,
            ack: lat,
            delivery: lat,
            send_errors: json!({}),
            refusal: Default::default(),
            closed_sends: 0,
            unanswered: 0,
            drained: true,
            drain_secs: 0.1,
            rec: Reconciliation::default(),
            late: 0,
            lost,
            sync_failed: 0,
            out_of_order: 0,
            gaps: 0,
            reorders: 0,
            foreign_pushes: 0,
            bad_stamps: 0,
            ack_without_msg_id: 0,
            other_pushes: json!({}),
        }
    }

    fn figures(p99_us: u64, lost: u64, peak_kib: Option<u64>) -> PhaseFigures {
        let mut rss = RssSummary::default();
        if let Some(k) = peak_kib {
            rss.add(k / 2);
            rss.add(k);
        }
        PhaseFigures {
            relay: outcome(p99_us, lost),
            ping: PingStats::default(),
            rss,
        }
    }

    #[test]
    fn goals_are_judged_from_both_phases() {
        let quiet = figures(4_000, 0, Some(100_000));
        let g = Goals::of(&quiet, &figures(6_000, 0, Some(100_000 + 262_144)));
        assert_eq!(g.p99_ratio, Some(1.5));
        assert_eq!(g.rss_growth_kib, Some(262_144));
        assert!(g.met(), "{g:?}");
        assert_eq!(g.json()["met"], true);

        let g = Goals::of(&quiet, &figures(6_004, 0, Some(100_000)));
        assert!(!g.p99_met() && !g.met());
        let g = Goals::of(&quiet, &figures(4_000, 0, Some(100_000 + 262_145)));
        assert_eq!(g.rss_met(), Some(false));
        let g = Goals::of(&quiet, &figures(4_000, 2, Some(100_000)));
        assert_eq!((g.lost, g.met()), (2, false));
        let g = Goals::of(&figures(4_000, 0, None), &figures(4_000, 0, None));
        assert_eq!(g.rss_met(), None);
        assert!(!g.met(), "an unmeasured goal is not met");
        assert!(g
            .line(&quiet.relay.delivery, &quiet.relay.delivery)
            .contains("not measured"));
        let mut empty = figures(4_000, 0, None);
        empty.relay.delivery = Percentiles::default();
        assert_eq!(Goals::of(&empty, &quiet).p99_ratio, None);
    }

    #[test]
    fn timeline_gaps_and_reorders_fail_a_phase() {
        let mut o = outcome(4_000, 0);
        assert!(o.intact());
        o.gaps = 2;
        assert!(!o.intact(), "a gap fails the run");
        o.gaps = 0;
        o.reorders = 1;
        assert!(!o.intact(), "a reorder fails the run");
        let mut f = figures(4_000, 0, None);
        f.relay = o;
        assert_eq!(
            (f.json()["gaps"].clone(), f.json()["reorders"].clone()),
            (json!(0), json!(1))
        );
    }

    #[test]
    fn the_goal_line_says_what_was_measured() {
        let quiet = figures(4_000, 0, Some(102_400));
        let attacked = figures(5_000, 0, Some(102_400 + 10_240));
        let g = Goals::of(&quiet, &attacked);
        assert_eq!(
            g.line(&quiet.relay.delivery, &attacked.relay.delivery),
            "attack p99 ≤ 1.5 × no-attack p99: 5.00 vs 4.00 ms = 1.25× (met); attack peak \
             RSS ≤ no-attack peak + 256 MiB: +10.0 MiB (met); 0 lost: 0 (met) → goal met"
        );
    }

    #[test]
    fn report_puts_the_phases_side_by_side() {
        let common = crate::args::Common {
            addr: vec!["127.0.0.1:9".into()],
            prefix: Some("t".into()),
            password: "long-enough".into(),
            reactors: None,
            workers: None,
            no_progress: true,
            no_spread: false,
        }
        .resolve()
        .unwrap();
        let plan = AbusePlan {
            conns: 1000,
            rate: 10_000.0,
            duration: Duration::from_secs(10),
            warmup: Duration::from_secs(2),
            size: 32,
            drain: Duration::from_secs(10),
            server_pid: Some(1),
            ping_interval: Duration::from_millis(50),
            attack: crate::attack::AttackPlan {
                attackers: 10,
                pipeline: 70_000,
                half_open: 8,
            },
            setup_timeout: Duration::from_secs(120),
        };
        let mut attack = AttackReport::default();
        attack.kinds[1].errors.insert("rate_limited".into(), 7);
        attack.kinds[0].bytes_sent = 3 * 1_048_576;
        let quiet = figures(4_000, 0, Some(102_400));
        let attacked = figures(9_000, 1, Some(204_800));
        let r = summarize(
            &common,
            &plan,
            (1.5, 3),
            (&quiet, &attacked),
            &attack,
            &Health::default(),
        );
        assert!(!r.clean, "a lost message is an integrity failure");
        let j = &r.json;
        assert_eq!(j["scenario"], "abuse");
        assert_eq!(j["no_attack"]["delivery_latency_us"]["p99_us"], 4_000);
        assert_eq!(j["attack"]["delivery_latency_us"]["p99_us"], 9_000);
        assert_eq!(j["attack"]["lost"], 1);
        assert_eq!(j["no_attack"]["server_rss"]["peak_kib"], 102_400);
        assert_eq!(j["attack_traffic"]["total"]["errors"]["rate_limited"], 7);
        assert_eq!(j["goals"]["met"], false);
        assert_eq!(j["goals"]["p99_ratio"], 2.25);
        let text = r.table.render();
        let line = |label: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(label))
                .unwrap_or_else(|| panic!("no {label} row in\n{text}"))
                .to_string()
        };
        let head: Vec<&str> = text
            .lines()
            .find(|l| l.trim_start().starts_with("no attack"))
            .map(|l| l.split_whitespace().collect())
            .unwrap_or_default();
        assert_eq!(head, ["no", "attack", "attack"], "{text}");
        assert!(
            line("send→delivery").contains("1.00 / 4.00 / 8.00"),
            "{text}"
        );
        assert!(
            line("send→delivery").contains("2.25 / 9.00 / 18.00"),
            "{text}"
        );
        assert!(line("server VmRSS").contains("50.0 → 100.0"), "{text}");
        assert!(line("server VmRSS").contains("100.0 → 200.0"), "{text}");
        assert!(
            line("attackers").contains("127.0.1.1..=127.0.1.10: 4 big-frame"),
            "{text}"
        );
        assert!(line("attack bytes").contains("3.0 MiB"), "{text}");
        assert!(line("goal").contains("goal MISSED"), "{text}");
    }
}
