//! Store outages (MySQL only): the server runs on a PRIVATE mariadbd that the test kills or
//! freezes while clients keep sending.
//!
//! While the database is gone, `send_message` must answer `server_busy` (never hang beyond
//! `commit_deadline_ms` + slack, never ack what was not committed) and ops that do not need
//! the store (ping) keep answering. Once the database is back the server recovers on its
//! own, retried `client_msg_id`s are stored once, and every acked `msg_id` is in history.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

#[path = "support/private_mariadb.rs"]
mod private_mariadb;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use client::{befriend, error_code, int, Client};
use harness::TestServer;
use private_mariadb::PrivateMariaDb;

/// `writer.commit_deadline_ms` in these tests.
const DEADLINE: Duration = Duration::from_millis(2000);
/// Extra time allowed on top of the deadline before a response counts as a hang.
const SLACK: Duration = Duration::from_millis(3000);
/// How long the server may take to recover once the database is back.
const RECOVERY: Duration = Duration::from_secs(30);

/// What happened to each client_msg_id.
#[derive(Default)]
struct Ledger {
    /// client_msg_id -> msg_id, for every ack.
    acked: BTreeMap<String, i64>,
    /// client_msg_ids answered `server_busy` and not acked since.
    busy: BTreeSet<String>,
    /// client_msg_id -> text.
    texts: BTreeMap<String, String>,
    next: usize,
}

impl Ledger {
    fn fresh(&mut self) -> (String, String) {
        self.next += 1;
        let cmid = format!("outage-{}", self.next);
        let text = format!("outage message #{}", self.next);
        self.texts.insert(cmid.clone(), text.clone());
        (cmid, text)
    }

    /// Records one response; panics on anything but an ack or `server_busy`, on an ack
    /// that changes a client_msg_id's msg_id, and on a response slower than the deadline.
    fn record(&mut self, cmid: &str, resp: &Value, latency: Duration) {
        assert!(
            latency <= DEADLINE + SLACK,
            "send_message {cmid} took {latency:?} (commit deadline {DEADLINE:?} + slack): {resp}"
        );
        if resp["ok"] == json!(true) {
            let msg_id = int(resp, "msg_id");
            if let Some(previous) = self.acked.insert(cmid.to_string(), msg_id) {
                assert_eq!(
                    previous, msg_id,
                    "{cmid} acked twice with different msg_ids"
                );
            }
            self.busy.remove(cmid);
        } else {
            assert_eq!(error_code(resp), "server_busy", "{cmid}: {resp}");
            if !self.acked.contains_key(cmid) {
                self.busy.insert(cmid.to_string());
            }
        }
    }
}

/// Sends `msgs` with up to `window` outstanding, checking every response's latency.
/// Returns how many were acked.
fn send_batch(
    c: &mut Client,
    to: i64,
    ledger: &mut Ledger,
    msgs: &[(String, String)],
    window: usize,
) -> usize {
    let mut sent_at: std::collections::VecDeque<(String, Instant)> = Default::default();
    let mut next = 0;
    let mut acked = 0;
    let mut done = 0;
    while done < msgs.len() {
        while next < msgs.len() && sent_at.len() < window {
            let (cmid, text) = &msgs[next];
            c.send_request(
                "send_message",
                json!({"to": to, "text": text, "client_msg_id": cmid}),
            );
            sent_at.push_back((cmid.clone(), Instant::now()));
            next += 1;
        }
        let (cmid, at) = sent_at.pop_front().unwrap();
        let resp = c
            .read_response_within(DEADLINE + SLACK + Duration::from_secs(5))
            .unwrap_or_else(|| {
                panic!(
                    "send_message {cmid}: no response at all within {:?}",
                    DEADLINE + SLACK + Duration::from_secs(5)
                )
            });
        ledger.record(&cmid, &resp, at.elapsed());
        if resp["ok"] == json!(true) {
            acked += 1;
        }
        done += 1;
    }
    acked
}

/// Sends fresh messages for `duration`, `window` at a time; returns (acked, busy) counts.
fn send_for(
    c: &mut Client,
    to: i64,
    ledger: &mut Ledger,
    duration: Duration,
    window: usize,
) -> (usize, usize) {
    let end = Instant::now() + duration;
    let (mut acked, mut total) = (0, 0);
    while Instant::now() < end {
        let msgs: Vec<_> = (0..window).map(|_| ledger.fresh()).collect();
        acked += send_batch(c, to, ledger, &msgs, window);
        total += msgs.len();
    }
    (acked, total - acked)
}

/// Asserts a ping is answered within one second (the reactor does not wait on the store).
fn ping_is_prompt(c: &mut Client) {
    let t = Instant::now();
    c.request_ok("ping", Value::Null);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "ping took {:?} during the outage",
        t.elapsed()
    );
}

/// Keeps sending until one ack arrives (within [`RECOVERY`]), then 20 more must all ack.
fn wait_for_recovery(c: &mut Client, to: i64, ledger: &mut Ledger) {
    let start = Instant::now();
    loop {
        let msg = ledger.fresh();
        if send_batch(c, to, ledger, &[msg], 1) == 1 {
            break;
        }
        assert!(
            start.elapsed() < RECOVERY,
            "no ack within {RECOVERY:?} of the database coming back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let msgs: Vec<_> = (0..20).map(|_| ledger.fresh()).collect();
    assert_eq!(
        send_batch(c, to, ledger, &msgs, 8),
        20,
        "after recovery every send must be acked"
    );
}

/// Retries every busy client_msg_id (it must be acked now), then checks that history and
/// sync hold exactly one message per client_msg_id, including every acked msg_id.
fn retry_and_verify(alice: &mut Client, bob: &mut Client, ledger: &mut Ledger) {
    let retries: Vec<(String, String)> = ledger
        .busy
        .iter()
        .map(|cmid| (cmid.clone(), ledger.texts[cmid].clone()))
        .collect();
    let acked_before: BTreeMap<String, i64> = ledger.acked.clone();
    assert_eq!(
        send_batch(alice, bob.id(), ledger, &retries, 16),
        retries.len(),
        "retries after recovery must all be acked"
    );
    assert!(ledger.busy.is_empty());
    for (cmid, id) in &acked_before {
        assert_eq!(ledger.acked[cmid], *id);
    }
    let ids: BTreeSet<i64> = ledger.acked.values().copied().collect();
    assert_eq!(
        ids.len(),
        ledger.acked.len(),
        "two client_msg_ids share a msg_id"
    );

    let history = alice.history_all(bob.id());
    let synced = bob.sync_all(0);
    for (what, list) in [("history", &history), ("sync", &synced)] {
        let mut seen = BTreeMap::new();
        for m in list.iter() {
            let cmid = m["client_msg_id"].as_str().unwrap().to_string();
            let id = int(m, "msg_id");
            assert!(
                seen.insert(cmid.clone(), id).is_none(),
                "{what}: {cmid} stored twice"
            );
            assert_eq!(m["text"], json!(ledger.texts[&cmid]), "{what}: {m}");
        }
        assert_eq!(
            seen, ledger.acked,
            "{what}: stored messages must be exactly the acked ones (all retried)"
        );
    }
}

/// The helper itself: a private mariadbd starts, keeps committed rows across SIGKILL and
/// restart, and stops answering while frozen.
#[test]
fn private_mariadb_helper_kill_freeze_restart() {
    let mut db = PrivateMariaDb::start();
    assert!(db.answers(Duration::from_secs(5)));
    db.create_database("probe");
    db.execute("CREATE TABLE probe.t (x INT PRIMARY KEY) ENGINE=InnoDB");
    db.execute("INSERT INTO probe.t VALUES (1), (2), (3)");
    db.kill();
    assert!(
        !db.answers(Duration::from_secs(2)),
        "killed mariadbd answers"
    );
    db.restart();
    assert_eq!(db.query_i64("SELECT COUNT(*) FROM probe.t"), 3);
    db.freeze();
    assert!(
        !db.answers(Duration::from_secs(2)),
        "frozen mariadbd answers"
    );
    db.thaw();
    assert!(
        db.answers(Duration::from_secs(10)),
        "thawed mariadbd does not answer"
    );
}

/// With the store healthy, half a second of sends is all acked.
fn sends_are_acked(alice: &mut Client, to: i64, ledger: &mut Ledger) {
    let (acked, busy) = send_for(alice, to, ledger, Duration::from_millis(500), 8);
    assert!(
        acked > 0 && busy == 0,
        "healthy store: {acked} acked, {busy} busy"
    );
}

fn outage_setup(db: &PrivateMariaDb) -> (TestServer, Client, Client) {
    let url = db.create_database("chat");
    let server = TestServer::start_on_mysql_url(
        &url,
        &[
            ("writer.commit_deadline_ms", "2000"),
            ("store.mysql_pool_size", "8"),
        ],
    );
    let mut alice = Client::new_user(server.addr(), "alice");
    let mut bob = Client::new_user(server.addr(), "bob");
    befriend(&mut alice, &mut bob);
    (server, alice, bob)
}

/// SIGKILL the database mid-stream, restart it on the same data dir and port.
#[test]
fn mysql_outage_kill_and_restart() {
    let mut db = PrivateMariaDb::start();
    let (server, mut alice, mut bob) = outage_setup(&db);
    let mut pinger = Client::connect(server.addr());
    let mut ledger = Ledger::default();

    sends_are_acked(&mut alice, bob.id(), &mut ledger);

    db.kill();
    let (_, busy) = send_for(&mut alice, bob.id(), &mut ledger, Duration::from_secs(4), 8);
    assert!(busy > 0, "no server_busy while the database was down");
    ping_is_prompt(&mut pinger);

    db.restart();
    wait_for_recovery(&mut alice, bob.id(), &mut ledger);
    retry_and_verify(&mut alice, &mut bob, &mut ledger);
    drop(server);
}

/// Freeze the database (SIGSTOP: connections hang instead of failing), then thaw it.
#[test]
fn mysql_outage_freeze_and_thaw() {
    let mut db = PrivateMariaDb::start();
    let (server, mut alice, mut bob) = outage_setup(&db);
    let mut pinger = Client::connect(server.addr());
    let mut reader = Client::login_as(server.addr(), "bob", false);
    let mut ledger = Ledger::default();

    sends_are_acked(&mut alice, bob.id(), &mut ledger);

    db.freeze();
    let frozen_at = Instant::now();
    // A read on another connection must not hang forever either: it answers once the
    // server gives up on the store (or immediately from a cache).
    reader.send_request("sync", json!({"after": 0, "limit": 10}));
    let (_, busy) = send_for(&mut alice, bob.id(), &mut ledger, Duration::from_secs(5), 8);
    assert!(busy > 0, "no server_busy while the database was frozen");
    ping_is_prompt(&mut pinger);
    let read_answer =
        reader.read_response_within(Duration::from_secs(15).saturating_sub(frozen_at.elapsed()));

    db.thaw();
    wait_for_recovery(&mut alice, bob.id(), &mut ledger);
    retry_and_verify(&mut alice, &mut bob, &mut ledger);

    let read_answer = read_answer
        .unwrap_or_else(|| panic!("sync on a frozen database got no answer within 15 s (a hang)"));
    if read_answer["ok"] != json!(true) {
        assert_eq!(error_code(&read_answer), "server_busy", "{read_answer}");
    }
    drop(server);
}
