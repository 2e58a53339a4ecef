//! Durable acks, on both stores: the server dies (SIGKILL, or SIGTERM for a graceful stop)
//! in the middle of a pipelined stream; after a restart on the same store every acked
//! `msg_id` is in history and reaches the recipient through sync exactly once, and
//! resending the unacked `client_msg_id`s completes the stream without duplicates.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[macro_use]
#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};

use client::{befriend, error_code, int, Client, ReadError};
use harness::{StoreKind, TestServer};

both_stores!(sigkill_mid_stream, sigterm_mid_stream);

const WINDOW: usize = 64;

fn cmid(i: usize) -> String {
    format!("dur-{i}")
}

fn text(i: usize) -> String {
    format!("durable message #{i} ✓")
}

/// Streams `total` messages with [`WINDOW`] outstanding; once `stop_after` acks have
/// arrived, calls `stop` (which kills or terminates the server) and reads what is left
/// until the connection closes. Returns client_msg_id index -> acked msg_id.
fn stream_until_stopped(
    c: &mut Client,
    to: i64,
    total: usize,
    stop_after: usize,
    mut stop: impl FnMut(),
) -> BTreeMap<usize, i64> {
    let mut acked = BTreeMap::new();
    let mut in_flight = std::collections::VecDeque::new();
    let mut next = 0;
    let mut stopped = false;
    loop {
        while !stopped && next < total && in_flight.len() < WINDOW {
            c.send_request(
                "send_message",
                json!({"to": to, "text": text(next), "client_msg_id": cmid(next)}),
            );
            in_flight.push_back(next);
            next += 1;
        }
        if in_flight.is_empty() {
            break;
        }
        match c.try_read_response(Duration::from_secs(30)) {
            Ok(resp) => {
                let i = in_flight.pop_front().unwrap();
                if resp["ok"] == json!(true) {
                    acked.insert(i, int(&resp, "msg_id"));
                } else {
                    // While shutting down the server may turn requests away.
                    assert!(stopped, "send {i} failed before the stop: {resp}");
                    assert_eq!(error_code(&resp), "server_busy", "{resp}");
                }
            }
            Err(ReadError::Closed) => {
                assert!(stopped, "connection closed before the server was stopped");
                break;
            }
            Err(ReadError::Timeout) => panic!("no response within 30 s"),
        }
        if !stopped && acked.len() >= stop_after {
            stop();
            stopped = true;
        }
    }
    assert!(stopped, "the stream ended before the stop point");
    acked
}

/// After the restart: checks that every ack survived, resends everything unacked and
/// checks the complete, duplicate-free result through sync and history.
fn verify_after_restart(server: &TestServer, total: usize, acked: &BTreeMap<usize, i64>) {
    let addr = server.addr();
    let mut bob = Client::login_as(addr, "bob", false);
    let stored = bob.sync_all(0);
    let mut by_cmid: BTreeMap<String, i64> = BTreeMap::new();
    let mut seen_ids = BTreeSet::new();
    for m in &stored {
        let id = int(m, "msg_id");
        assert!(seen_ids.insert(id), "msg_id {id} synced twice");
        let c = m["client_msg_id"].as_str().unwrap().to_string();
        assert!(by_cmid.insert(c.clone(), id).is_none(), "{c} stored twice");
        let i: usize = c.trim_start_matches("dur-").parse().unwrap();
        assert_eq!(m["text"], json!(text(i)), "{m}");
    }
    for (i, id) in acked {
        assert_eq!(
            by_cmid.get(&cmid(*i)),
            Some(id),
            "acked message {i} (msg_id {id}) was lost or changed by the crash"
        );
    }
    // Order: what was stored before the crash follows the send order.
    let order: Vec<usize> = stored
        .iter()
        .map(|m| {
            m["client_msg_id"].as_str().unwrap()["dur-".len()..]
                .parse()
                .unwrap()
        })
        .collect();
    assert!(
        order.windows(2).all(|w| w[0] < w[1]),
        "msg_ids do not follow the send order"
    );

    let mut alice = Client::login_as(addr, "alice", false);
    let history: BTreeSet<i64> = alice
        .history_all(bob.id())
        .iter()
        .map(|m| int(m, "msg_id"))
        .collect();
    assert_eq!(history, seen_ids, "history and sync disagree");

    // Resend everything that was not acked; already stored ones keep their msg_id.
    let missing: Vec<(String, String)> = (0..total)
        .filter(|i| !acked.contains_key(i))
        .map(|i| (cmid(i), text(i)))
        .collect();
    for (resp, (c, _)) in alice
        .send_pipelined(bob.id(), &missing, WINDOW)
        .iter()
        .zip(&missing)
    {
        assert_eq!(resp["ok"], json!(true), "{resp}");
        if let Some(id) = by_cmid.get(c) {
            assert_eq!(resp["msg_id"], json!(id), "resent {c} got a new msg_id");
        }
    }
    eprintln!(
        "stored after restart: {}, resent: {}",
        stored.len(),
        missing.len()
    );
    let all: Vec<Value> = bob.sync_all(0);
    let cmids: BTreeSet<&str> = all
        .iter()
        .map(|m| m["client_msg_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        all.len(),
        total,
        "every message exactly once after the resend"
    );
    assert_eq!(cmids.len(), total);
}

fn setup(store: StoreKind) -> (TestServer, Client, i64) {
    let server = TestServer::start(store);
    let mut alice = Client::new_user(server.addr(), "alice");
    let mut bob = Client::new_user(server.addr(), "bob");
    befriend(&mut alice, &mut bob);
    let bob_id = bob.id();
    drop(bob);
    // alice's own connection gets no pushes, so nothing competes with the acks.
    (server, alice, bob_id)
}

/// SIGKILL after ~2,000 of 5,000 pipelined messages.
fn sigkill_mid_stream(store: StoreKind) {
    let (mut server, mut alice, bob) = setup(store);
    let total = 5000;
    let acked = {
        let server = &mut server;
        stream_until_stopped(&mut alice, bob, total, 2000, || server.kill())
    };
    assert!(
        acked.len() >= 2000 && acked.len() < total,
        "{} acked",
        acked.len()
    );
    eprintln!("{store:?}: {} of {total} acked before SIGKILL", acked.len());
    drop(alice);
    server.restart();
    verify_after_restart(&server, total, &acked);
}

/// SIGTERM after ~500 of 2,000: the server finishes, exits 0, and nothing acked is lost.
fn sigterm_mid_stream(store: StoreKind) {
    let (mut server, mut alice, bob) = setup(store);
    let total = 2000;
    let mut status = None;
    let acked = {
        let server = &mut server;
        let status = &mut status;
        stream_until_stopped(&mut alice, bob, total, 500, || {
            *status = Some(server.terminate(Duration::from_secs(20)));
        })
    };
    let status = status.unwrap();
    assert!(
        status.success(),
        "startserv exited with {status} after SIGTERM"
    );
    assert!(acked.len() >= 500, "{} acked", acked.len());
    eprintln!("{store:?}: {} of {total} acked around SIGTERM", acked.len());
    drop(alice);
    server.restart();
    verify_after_restart(&server, total, &acked);
}
