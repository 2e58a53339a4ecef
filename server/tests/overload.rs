//! Admission by expected wait (`writer.max_queue_wait_ms`), on both stores: while the
//! writer is stuck behind a lock another client of the real database holds, a new
//! `send_message` is refused at once (`server_busy` with `retry_after_ms`, answered while
//! the lock is still held, so it never waited for the writer) and stores nothing; the
//! message already in the writer is committed once the lock goes, and the refused one,
//! sent again, is acked. The recipient gets each exactly once.

#[path = "support/mysql_db.rs"]
mod mysql_db;

#[macro_use]
#[path = "support/harness.rs"]
mod harness;

#[path = "support/client.rs"]
mod client;

use std::time::Duration;

use ::mysql::prelude::Queryable;
use serde_json::{json, Value};

use client::{befriend, error_code, int, Client};
use harness::{StoreKind, TestServer};

both_stores!(a_stuck_writer_refuses_new_sends_at_once);

/// A lock on the store that the writer's next transaction must wait for, held by a
/// client of the real database until dropped.
enum StoreLock {
    Sqlite(rusqlite::Connection),
    Mysql(::mysql::Conn),
}

impl StoreLock {
    /// SQLite: the database's write lock (`BEGIN IMMEDIATE`). MySQL: the timeline heads
    /// of `users`, which the writer locks first in every batch (`SELECT ... FOR UPDATE`).
    fn take(server: &TestServer, users: &[i64]) -> StoreLock {
        match server.store_kind() {
            StoreKind::Sqlite => {
                let db = rusqlite::Connection::open(server.data_dir().join("chat.db"))
                    .expect("open the server's SQLite file");
                db.execute_batch("BEGIN IMMEDIATE")
                    .expect("take the write lock");
                StoreLock::Sqlite(db)
            }
            StoreKind::Mysql => {
                let url = server.mysql_url().expect("a MySQL server");
                let mut db = ::mysql::Conn::new(::mysql::Opts::from_url(&url).unwrap()).unwrap();
                db.query_drop("START TRANSACTION").unwrap();
                let locked: Vec<i64> = db
                    .exec(
                        "SELECT user_id FROM timeline_heads WHERE user_id IN (?, ?) FOR UPDATE",
                        (users[0], users[1]),
                    )
                    .unwrap();
                assert_eq!(locked.len(), 2, "both heads locked: {locked:?}");
                StoreLock::Mysql(db)
            }
        }
    }

    fn release(self) {
        match self {
            StoreLock::Sqlite(db) => db.execute_batch("ROLLBACK").unwrap(),
            StoreLock::Mysql(mut db) => db.query_drop("ROLLBACK").unwrap(),
        }
    }
}

fn send(c: &mut Client, to: i64, cmid: &str) {
    c.send_request(
        "send_message",
        json!({"to": to, "text": format!("text of {cmid}"), "client_msg_id": cmid}),
    );
}

fn a_stuck_writer_refuses_new_sends_at_once(kind: StoreKind) {
    let server = TestServer::start_with(
        kind,
        &[
            ("writer.max_queue_wait_ms", "200"),
            // Long enough that the message inside the stuck writer waits for the lock to
            // go instead of being given up.
            ("writer.commit_deadline_ms", "20000"),
        ],
    );
    let mut alice = Client::new_user(server.addr(), "alice");
    let mut bob = Client::new_user(server.addr(), "bob");
    befriend(&mut alice, &mut bob);
    // Alice's second connection: its answers do not queue behind the first one's.
    let mut alice2 = Client::login_as(server.addr(), "alice", false);
    let ack = alice.request_ok(
        "send_message",
        json!({"to": bob.id(), "text": "before", "client_msg_id": "m0"}),
    );
    let before = int(&ack, "msg_id");
    bob.expect_push("message", Duration::from_secs(5));

    let lock = StoreLock::take(&server, &[alice.id(), bob.id()]);
    // This one reaches the writer, whose transaction then waits for the lock.
    send(&mut alice, bob.id(), "m1");
    std::thread::sleep(Duration::from_millis(600));
    // The store call has run for longer than the limit: the next send is refused, and
    // answered while the lock is still held (it never waited for the writer).
    send(&mut alice2, bob.id(), "m2");
    let m2: Value = alice2
        .read_response_within(Duration::from_secs(2))
        .expect("m2 answered while the writer is stuck");
    assert_eq!(error_code(&m2), "server_busy", "{m2}");
    let retry = m2["error"]["retry_after_ms"]
        .as_u64()
        .unwrap_or_else(|| panic!("no retry_after_ms: {m2}"));
    assert!((200..=4000).contains(&retry), "retry_after_ms {retry}");
    assert!(
        alice
            .read_response_within(Duration::from_millis(100))
            .is_none(),
        "m1 was answered while the writer could not commit"
    );
    lock.release();

    let m1 = alice
        .read_response_within(Duration::from_secs(10))
        .expect("m1's answer");
    assert_eq!(
        m1["ok"],
        json!(true),
        "m1 is committed once the lock goes: {m1}"
    );

    // Sent again, m2 is stored; bob gets m1 and m2, each once, and nothing else.
    let ack = alice2.request_ok(
        "send_message",
        json!({"to": bob.id(), "text": "text of m2", "client_msg_id": "m2"}),
    );
    let m2_id = int(&ack, "msg_id");
    let pushes = bob.expect_pushes("message", 2, Duration::from_secs(10));
    let cmids: Vec<&str> = pushes
        .iter()
        .map(|p| p["client_msg_id"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(cmids, ["m1", "m2"], "{pushes:?}");
    bob.no_push_within(Duration::from_millis(300));
    let ids: Vec<i64> = bob
        .history_all(alice.id())
        .iter()
        .map(|m| int(m, "msg_id"))
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.contains(&before) && ids.contains(&m2_id), "{ids:?}");
}
