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
//! it. Sends scheduled in the measured window that are answered with an error are
//! *refusals*: their time to refuse (scheduled send → error answer), codes and how many
//! carried `retry_after_ms` are reported apart (`refusal`); every error answer counts in
//! `send_errors`. After the run chatload waits (`--drain`) for outstanding acks and
//! pushes, then checks exactly-once delivery ([`crate::ledger`]): acked messages never
//! pushed are looked up with `sync` on the recipient to tell *late* (stored) from *lost*.
//! Per-pair order (guarantee 4) is checked on arrival, and so is each connection's
//! timeline (guarantee 3): the positions of its pushes and of its own sends' acks must
//! follow its login's `last_pos` without gap or repeat, pushes in increasing order
//! (`gaps` and `reorders`, see [`crate::timeline`]). Any of lost, duplicated, gaps or
//! reorders fails the run.
//!
//! Cluster: with several `--addr` each pair of friends is split over two different nodes
//! ([`setup::pair_node`]), so every message crosses nodes.
//!
//! Transport: with `--ws` every connection (set-up and measured traffic alike) is a
//! WebSocket connection to `/ws` of a node's HTTP port (`--addr` is then that port, see
//! [`crate::client::Transport`]); the report says which (`transport`: `tcp` or `ws`).
//!
//! The pieces are reusable: [`setup`] opens, logs in and pairs the connections;
//! [`phase`] runs and settles one measured run on them (`chatload abuse` runs two on
//! the same connections). This file is the subcommand: one set-up, one run, the report.
//! May touch: the client engine it starts and the connections of the run (all closed at
//! the end), progress bars on stderr; the caller prints the report it returns.

pub mod phase;
pub mod setup;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::accounts::Accounts;
use crate::args::{Pace, RelayPlan, Resolved};
use crate::client::{Engine, Health, Transport};
use crate::dialect::Wire;
use crate::error::LoadError;
use crate::proc_cpu;
use crate::report::{counts_line, num1, Report, Table};

use phase::Relay;

/// Runs the relay scenario against `common.addrs` (one server, or the nodes of a cluster).
pub fn run(common: &Resolved, plan: &RelayPlan) -> Result<Report, LoadError> {
    let wire = if plan.floor { Wire::Floor } else { Wire::Json };
    let accounts = common.generated();
    let health = Arc::new(Health::default());
    let engine = Engine::start_with(common.threads, Arc::clone(&health), plan.transport)?;
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
    let relay = Relay::new(wire, c, plan.size);
    let fleet = setup::set_up(
        engine,
        common,
        &relay,
        (c, wire),
        accounts,
        plan.setup_timeout,
    )?;
    let setup_secs = fleet.secs;
    let retry = &fleet.retry;
    let peers = &fleet.peers;
    let watcher = proc_cpu::watch(plan.cpu_of.clone(), plan.warmup, plan.duration)?;
    relay.run(
        peers,
        plan.pace,
        (plan.warmup, plan.duration),
        "relay",
        common.progress,
    )?;
    let watched = watcher.join().unwrap_or_default();
    let o = relay.settle(peers, plan.drain, !plan.floor);
    for peer in peers {
        peer.close();
    }

    // ---- report ----
    let secs = o.secs;
    let acked_ps = o.acked_per_sec;
    let pushed_ps = o.delivered_per_sec;
    let (ack_p, del_p) = (o.ack, o.delivery);
    let (rec, late, lost, unanswered) = (&o.rec, o.late, o.lost, o.unanswered);
    let health = engine.health();
    let out_of_order = o.out_of_order;
    let client_cpu = o.client_cpu;
    let clean = o.intact() && health.bad_behaviour() == 0;
    let (pace_name, pace_value) = match plan.pace {
        Pace::Closed { window } => ("closed", json!({ "window": window })),
        Pace::Open { rate } => ("open", json!({ "rate": rate })),
    };
    let mut json = json!({
        "scenario": "relay",
        "wire": if plan.floor { "floor" } else { "json" },
        "addr": common.addr.to_string(),
        "addrs": common.addrs.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "nodes": common.addrs.len(),
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
        "sent": o.sent,
        "sends_per_sec": num1(o.sends_per_sec),
        "acked_per_sec": num1(acked_ps),
        "delivered_per_sec": num1(pushed_ps),
        "msgs_per_sec": num1(acked_ps.min(pushed_ps)),
        "ack_latency_us": ack_p.json(),
        "delivery_latency_us": del_p.json(),
        "send_errors": o.send_errors.clone(),
        "closed_sends": o.closed_sends,
        "unanswered_sends": unanswered,
        "drained": o.drained,
        "drain_s": num1(o.drain_secs),
        "exactly_once": rec.json(late, lost),
        "sync_failed": o.sync_failed,
        "lost": lost,
        "duplicated": rec.duplicated,
        "gaps": o.gaps,
        "reorders": o.reorders,
        "out_of_order": out_of_order,
        "foreign_pushes": o.foreign_pushes,
        "bad_stamps": o.bad_stamps,
        "ack_without_msg_id": o.ack_without_msg_id,
        "other_pushes": o.other_pushes,
        "client_cpu_s": num1(client_cpu),
        "health": health.json(),
        "clean": clean,
    });
    // Outside the macro: one more key passes json!'s recursion limit.
    json["transport"] = Value::from(plan.transport.name());
    // Error answers to sends scheduled in the measured window: time to refuse (µs, from
    // the scheduled send), by code, how many said when to retry.
    json["refusal"] = o.refusal.json();
    // CPU of the watched processes per message delivered in the measured window.
    let delivered = pushed_ps * secs;
    json["cpu"] = watched
        .iter()
        .map(|(name, used)| {
            let per_msg = used
                .filter(|_| delivered > 0.0)
                .map(|s| s * 1e6 / delivered);
            (
                name.clone(),
                json!({"cpu_s": used.map(num1), "us_per_msg": per_msg.map(num1)}),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into();
    let nodes = match common.addrs.len() {
        1 => String::new(),
        n => format!(", {n} nodes"),
    };
    let mut table = Table::new(format!(
        "chatload relay ({} over {}, {c} conns{nodes}, {})",
        if plan.floor { "floor" } else { "json" },
        match plan.transport {
            Transport::Tcp => "TCP",
            Transport::WebSocket => "WebSocket",
        },
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
            format!("{client_cpu:.1} s over {:.1} s", o.run_secs),
        )
        .row("sends/s", format!("{:.0}", o.sends_per_sec))
        .row("acked/s", format!("{acked_ps:.0}"))
        .row("delivered/s", format!("{pushed_ps:.0}"))
        .row("send→ack p50/p90/p99/p99.9/max", ack_p.row_ms())
        .row("send→delivery p50/p90/p99/p99.9/max", del_p.row_ms())
        .row("send errors", counts_line(&o.send_errors))
        .row("refused in window: codes", counts_line(&o.refusal.codes))
        .row("send→refusal p50/p90/p99/p99.9/max", o.refusal.row())
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
        .row(
            "timeline gaps / reorders",
            if plan.floor {
                "not checked (the floor has no positions)".to_string()
            } else {
                format!("{} / {}", o.gaps, o.reorders)
            },
        )
        .row("out of order", out_of_order)
        .row("malformed frames", counts_line(&health.malformed.json()))
        .row("anomalies", counts_line(&health.anomalies.json()))
        .row("clean", clean);
    Ok(Report { table, json, clean })
}
