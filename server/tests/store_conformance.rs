//! The store conformance suite: one set of behaviours, run against BOTH stores.
//!
//! Every behaviour is a function taking `&dyn Store`; [`sqlite_store_conforms`] runs them
//! all on a fresh SQLite file in a temporary directory and [`mysql_store_conforms`] on a
//! fresh MySQL/MariaDB database (created for the run and dropped after it; the server is
//! `CHAT_TEST_MYSQL`, default `mysql://root@127.0.0.1:3306`). Behaviours share one store
//! per run, so each registers its own users under its own name prefix. Every behaviour
//! runs even when an earlier one fails; the test then lists all the failures.
//!
//! After the suite, both tests check the tables themselves ([`check_tables_agree`]):
//! every message's positions are its timeline rows, every timeline is gapless and ends
//! at its head. [`mysql_nodes_share_timelines`] is MySQL only: two stores ("nodes") on
//! one database, writing at once, checked against the tables too.

#[path = "support/mysql_db.rs"]
mod mysql_db;

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use chat::model::{Message, MsgId, NewMessage, Pos, User, UserId};
use chat::store::mysql::MysqlStore;
use chat::store::sqlite::SqliteStore;
use chat::store::{FriendRequestOutcome, Registration, Store, StoreError, Stored};

type Behaviour = fn(&dyn Store);

/// Every behaviour of the suite, by name.
const BEHAVIOURS: &[(&str, Behaviour)] = &[
    ("user_create_and_conflict", user_create_and_conflict),
    ("credentials", credentials),
    ("search_users", search_users),
    ("update_profile", update_profile),
    ("tokens", tokens),
    ("verified_emails", verified_emails),
    ("reset_password", reset_password),
    ("purge_expired_tokens", purge_expired_tokens),
    ("friend_request_flow", friend_request_flow),
    ("reject_and_delete_friend", reject_and_delete_friend),
    ("crossed_requests", crossed_requests),
    ("friends_ordered", friends_ordered),
    (
        "insert_messages_ids_and_order",
        insert_messages_ids_and_order,
    ),
    ("insert_messages_idempotent", insert_messages_idempotent),
    ("client_msg_id_is_exact", client_msg_id_is_exact),
    ("large_batches", large_batches),
    ("retries_across_chunks", retries_across_chunks),
    ("timelines", timelines),
    ("last_pos", last_pos),
    ("sync", sync),
    ("history", history),
    ("messages_to_oneself", messages_to_oneself),
    ("conversations_and_unread", conversations_and_unread),
    ("text_round_trip", text_round_trip),
    ("unicode_nickname", unicode_nickname),
    ("concurrent_writers", concurrent_writers),
    ("concurrent_duplicate_sends", concurrent_duplicate_sends),
];

/// Runs every behaviour on `store`, then fails listing the ones that failed.
fn run_all(store: &dyn Store) {
    let mut failed = Vec::new();
    for (name, behaviour) in BEHAVIOURS {
        eprintln!("--- {name} on {}", store.describe());
        if catch_unwind(AssertUnwindSafe(|| behaviour(store))).is_err() {
            failed.push(*name);
        }
    }
    assert!(
        failed.is_empty(),
        "{}: failed behaviours: {failed:?}",
        store.describe()
    );
}

/// Counts, in the tables of a store, what must never be: a message to oneself with two
/// positions, a position taken twice in a user's timeline (whose entries are the
/// positions on the messages' rows), a head that is not the end of its timeline, a
/// timeline with a gap (positions are unique per user and start at 1, so a timeline of
/// n entries ending at n is 1..n), entries of a user without a head. `count` runs a
/// `SELECT COUNT(*)` (the same SQL for both engines) and returns the count.
fn check_tables_agree(count: &mut dyn FnMut(&str) -> i64) {
    // Every timeline entry (user_id, pos, msg_id): the positions on the messages' rows,
    // the sender's and the recipient's (one for a message to oneself).
    const ENTRIES: &str = "(SELECT from_id AS user_id, from_pos AS pos, msg_id FROM messages \
         UNION ALL SELECT to_id, to_pos, msg_id FROM messages WHERE to_id <> from_id)";
    let checks = [
        (
            "messages to oneself with two positions",
            "SELECT COUNT(*) FROM messages WHERE from_id = to_id AND from_pos <> to_pos"
                .to_string(),
        ),
        (
            "positions taken twice in a timeline",
            format!(
                "SELECT COUNT(*) FROM (SELECT user_id, pos FROM {ENTRIES} e \
                 GROUP BY user_id, pos HAVING COUNT(*) > 1) d"
            ),
        ),
        (
            "heads that are not the end of a gapless timeline",
            format!(
                "SELECT COUNT(*) FROM timeline_heads h WHERE h.last_pos <> \
                 (SELECT COUNT(*) FROM {ENTRIES} e WHERE e.user_id = h.user_id) \
                 OR h.last_pos <> COALESCE((SELECT MAX(e.pos) FROM {ENTRIES} e \
                 WHERE e.user_id = h.user_id), 0)"
            ),
        ),
        (
            "timeline entries of a user without a head",
            format!(
                "SELECT COUNT(*) FROM {ENTRIES} e WHERE NOT EXISTS \
                 (SELECT 1 FROM timeline_heads h WHERE h.user_id = e.user_id)"
            ),
        ),
    ];
    for (what, sql) in checks {
        assert_eq!(count(&sql), 0, "{what}");
    }
    assert!(
        count("SELECT COUNT(*) FROM messages") > 0,
        "the checks saw messages"
    );
}

#[test]
fn sqlite_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/chat.db");
    let store = SqliteStore::open(&path, 4).unwrap();
    run_all(&store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    check_tables_agree(&mut |sql| conn.query_row(sql, [], |r| r.get(0)).unwrap());
}

#[test]
fn mysql_store_conforms() {
    use mysql::prelude::Queryable;

    let db = mysql_db::TestDb::new();
    let store = MysqlStore::open(&db.url(), 8).unwrap();
    assert!(store.describe().starts_with("mysql://"));
    assert!(store.describe().ends_with(db.name()));
    run_all(&store);
    let mut conn = mysql::Conn::new(db.url().as_str()).unwrap();
    check_tables_agree(&mut |sql| conn.query_first(sql).unwrap().unwrap());
    drop(store);
    // Opening an existing database again keeps its data and checks the version.
    let again = MysqlStore::open(&db.url(), 2).unwrap();
    assert!(again.credentials("uc_alice").unwrap().is_some());
}

/// Two stores ("nodes") on one MySQL database, four threads each, storing batches at
/// once: many senders write to one hot user and to each other, some batches leave the
/// hot user out, some carry retries. Afterwards, checked against the tables: every
/// user's timeline is exactly 1..N (N = their messages, = their head), every returned
/// [`Stored`] matches the rows, within every conversation msg_id increases with pos, and
/// sync returns each message once. No call may fail (a deadlock would be retried).
#[test]
fn mysql_nodes_share_timelines() {
    use mysql::prelude::Queryable;

    const THREADS_PER_NODE: usize = 4;
    const ROUNDS: usize = 40;
    const BATCH: usize = 16;
    let db = mysql_db::TestDb::new();
    let nodes = [
        MysqlStore::open(&db.url(), 8).unwrap(),
        MysqlStore::open(&db.url(), 8).unwrap(),
    ];
    let hot = register(&nodes[0], "nd_hot");
    let users: Vec<UserId> = (0..12)
        .map(|i| register(&nodes[i % 2], &format!("nd_{i:02}")))
        .collect();
    let everyone: Vec<UserId> = std::iter::once(hot).chain(users.iter().copied()).collect();

    let results: Vec<(NewMessage, Stored)> = std::thread::scope(|scope| {
        let mut handles = Vec::new();
        for (n, node) in nodes.iter().enumerate() {
            for t in 0..THREADS_PER_NODE {
                let users = &users;
                handles.push(scope.spawn(move || {
                    let mut mine: Vec<(NewMessage, Stored)> = Vec::new();
                    for round in 0..ROUNDS {
                        let mut batch: Vec<NewMessage> = (0..BATCH)
                            .map(|i| {
                                let k = t * 7 + n * 5 + round * 3 + i;
                                let from = users[k % users.len()];
                                let to = if round % 3 != 2 && i % 2 == 0 {
                                    hot
                                } else {
                                    users[(k + 1 + i % 5) % users.len()]
                                };
                                let (from, to) = if i % 7 == 3 && round % 3 != 2 {
                                    (hot, from)
                                } else {
                                    (from, to)
                                };
                                msg(from, to, "m", &format!("n{n}t{t}r{round}i{i}"))
                            })
                            .collect();
                        // A client's retry of something this thread stored before.
                        if round % 5 == 4 {
                            let (earlier, _) = &mine[mine.len() / 2];
                            batch.insert(BATCH / 2, earlier.clone());
                        }
                        let out = node.insert_messages(&batch).unwrap();
                        assert_eq!(out.len(), batch.len());
                        mine.extend(batch.into_iter().zip(out));
                    }
                    mine
                }));
            }
        }
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    let mut conn = mysql::Conn::new(db.url().as_str()).unwrap();
    // The tables: every timeline is 1..N, N is the head and the user's message count.
    let mut timelines: std::collections::HashMap<UserId, Vec<MsgId>> = Default::default();
    for &user in &everyone {
        let rows: Vec<(Pos, MsgId)> = conn
            .exec(
                "SELECT from_pos, msg_id FROM messages WHERE from_id = ? \
                 UNION ALL SELECT to_pos, msg_id FROM messages WHERE to_id = ? AND from_id <> ? \
                 ORDER BY 1",
                (user, user, user),
            )
            .unwrap();
        let positions: Vec<Pos> = rows.iter().map(|r| r.0).collect();
        let expected: Vec<Pos> = (1..=rows.len() as Pos).collect();
        assert_eq!(positions, expected, "user {user}: gapless");
        let head: Option<Pos> = conn
            .exec_first(
                "SELECT last_pos FROM timeline_heads WHERE user_id = ?",
                (user,),
            )
            .unwrap();
        assert_eq!(head, Some(rows.len() as Pos), "user {user}: head");
        let count: Option<i64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM messages WHERE from_id = ? OR to_id = ?",
                (user, user),
            )
            .unwrap();
        assert_eq!(count, Some(rows.len() as i64), "user {user}: every message");
        timelines.insert(user, rows.into_iter().map(|r| r.1).collect());
    }
    // Every message's row agrees with the timeline rows (its from_pos and to_pos).
    check_tables_agree(&mut |sql| conn.query_first(sql).unwrap().unwrap());
    // Every result matches the rows: the message, its sender's and recipient's positions.
    let new_count = results.iter().filter(|(_, s)| s.new).count();
    let total: Option<i64> = conn.query_first("SELECT COUNT(*) FROM messages").unwrap();
    assert_eq!(Some(new_count as i64), total);
    assert_eq!(
        results.iter().filter(|(_, s)| !s.new).count(),
        2 * THREADS_PER_NODE * (ROUNDS / 5),
        "every retry was recognised"
    );
    for (sent, stored) in &results {
        let m = &stored.message;
        assert_eq!(
            (m.from, m.to, &m.client_msg_id),
            (sent.from, sent.to, &sent.client_msg_id)
        );
        let row: Option<(i64, i64, String, i64, String, Pos, Pos)> = conn
            .exec_first(
                "SELECT from_id, to_id, text, ts, client_msg_id, from_pos, to_pos \
                 FROM messages WHERE msg_id = ?",
                (m.msg_id,),
            )
            .unwrap();
        assert_eq!(
            row,
            Some((
                m.from,
                m.to,
                m.text.clone(),
                m.ts,
                m.client_msg_id.clone(),
                m.pos,
                stored.recipient_pos
            ))
        );
        let at = |user: UserId, pos: Pos| timelines[&user].get(pos as usize - 1).copied();
        assert_eq!(at(m.from, m.pos), Some(m.msg_id), "sender's position");
        assert_eq!(
            at(m.to, stored.recipient_pos),
            Some(m.msg_id),
            "recipient's"
        );
    }
    // Within every conversation, msg_id increases with pos; sync agrees with the table.
    for &user in &everyone {
        let synced = whole_timeline(&nodes[user as usize % 2], user, 37);
        ids_follow_positions(&synced);
        let ids: Vec<MsgId> = synced.iter().map(|m| m.msg_id).collect();
        assert_eq!(ids, timelines[&user], "user {user}: sync = the table");
    }
}

// ---- helpers -----------------------------------------------------------------------------

/// Registers `name` (nickname = name) and returns its id.
fn register(store: &dyn Store, name: &str) -> UserId {
    store
        .create_user(
            name,
            "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            name,
            None,
        )
        .unwrap_or_else(|e| panic!("create_user({name}): {e}"))
}

/// A message to store.
fn msg(from: UserId, to: UserId, text: &str, client_msg_id: &str) -> NewMessage {
    NewMessage {
        from,
        to,
        text: text.to_string(),
        ts: 1_700_000_000_000,
        client_msg_id: client_msg_id.to_string(),
    }
}

/// Stores one message and returns its result (asserting it is new).
fn send_stored(store: &dyn Store, from: UserId, to: UserId, text: &str, cid: &str) -> Stored {
    let mut out = store.insert_messages(&[msg(from, to, text, cid)]).unwrap();
    assert_eq!(out.len(), 1);
    let stored = out.remove(0);
    assert!(stored.new, "{cid} should be new");
    stored
}

/// Stores one message and returns it as its sender reads it (asserting it is new).
fn send(store: &dyn Store, from: UserId, to: UserId, text: &str, cid: &str) -> Message {
    send_stored(store, from, to, text, cid).message
}

/// The stored message as `user` (its sender or its recipient) reads it: with `user`'s
/// position.
fn copy_for(stored: &Stored, user: UserId) -> Message {
    let m = &stored.message;
    assert!(user == m.from || user == m.to, "{user} is not in {m:?}");
    let pos = if user == m.from {
        m.pos
    } else {
        stored.recipient_pos
    };
    Message { pos, ..m.clone() }
}

/// `user`'s whole timeline, checked: positions 1..n in order, each message once, and
/// `last_pos` is n. Read through `sync` in pages of `page`.
fn whole_timeline(store: &dyn Store, user: UserId, page: usize) -> Vec<Message> {
    let mut all: Vec<Message> = Vec::new();
    loop {
        let after = all.last().map_or(0, |m| m.pos);
        let got = store.sync(user, after, page).unwrap();
        assert!(got.len() <= page);
        if got.is_empty() {
            break;
        }
        all.extend(got);
    }
    let positions: Vec<Pos> = all.iter().map(|m| m.pos).collect();
    let expected: Vec<Pos> = (1..=all.len() as Pos).collect();
    assert_eq!(positions, expected, "user {user}: positions 1..n");
    assert!(all.iter().all(|m| m.from == user || m.to == user));
    let distinct: HashSet<MsgId> = all.iter().map(|m| m.msg_id).collect();
    assert_eq!(distinct.len(), all.len(), "user {user}: each message once");
    assert_eq!(store.last_pos(user).unwrap(), all.len() as Pos);
    all
}

/// Within every conversation of `timeline` (one user's), msg_id increases with pos.
fn ids_follow_positions(timeline: &[Message]) {
    let mut last: std::collections::HashMap<(UserId, UserId), MsgId> = Default::default();
    for m in timeline {
        let pair = (m.from.min(m.to), m.from.max(m.to));
        if let Some(&before) = last.get(&pair) {
            assert!(
                m.msg_id > before,
                "conversation {pair:?}: msg_id {} at pos {} after {before}",
                m.msg_id,
                m.pos
            );
        }
        last.insert(pair, m.msg_id);
    }
}

fn ids(messages: &[Message]) -> Vec<i64> {
    messages.iter().map(|m| m.msg_id).collect()
}

fn names(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.username.as_str()).collect()
}

/// Makes `a` and `b` friends through a request and its acceptance.
fn befriend(store: &dyn Store, a: UserId, b: UserId) {
    match store.send_friend_request(a, b, "", 1).unwrap() {
        FriendRequestOutcome::Created(id) | FriendRequestOutcome::AlreadyPending(id) => {
            assert!(store.accept_request(id, b).unwrap().is_some());
        }
        FriendRequestOutcome::AlreadyFriends => {}
    }
}

// ---- accounts ----------------------------------------------------------------------------

fn user_create_and_conflict(store: &dyn Store) {
    let alice = store
        .create_user("uc_Alice", "hash-a", "Alice A.", Some("alice@example.com"))
        .unwrap();
    for taken in ["uc_Alice", "uc_alice", "UC_ALICE", "uC_aLiCe"] {
        match store.create_user(taken, "h", "", None) {
            Err(StoreError::Conflict(_)) => {}
            other => panic!("{taken}: expected Conflict, got {other:?}"),
        }
    }
    let bob = store.create_user("uc_bob", "hash-b", "", None).unwrap();
    assert_ne!(alice, bob);
    assert!(bob > alice, "ids increase");
    let user = store.user(alice).unwrap().unwrap();
    assert_eq!(
        user,
        User {
            user_id: alice,
            username: "uc_Alice".into(),
            nickname: "Alice A.".into(),
            avatar: String::new(),
        }
    );
    assert_eq!(store.user(bob).unwrap().unwrap().nickname, "");
    assert_eq!(store.user(i64::MAX).unwrap(), None);
    assert_eq!(store.user(-1).unwrap(), None);
}

fn credentials(store: &dyn Store) {
    let id = store
        .create_user("cr_Carol", "$argon2id$v=19$carol", "Carol", None)
        .unwrap();
    for name in ["cr_Carol", "cr_carol", "CR_CAROL"] {
        let (user, hash) = store.credentials(name).unwrap().unwrap();
        assert_eq!(user.user_id, id);
        assert_eq!(user.username, "cr_Carol");
        assert_eq!(hash, "$argon2id$v=19$carol");
    }
    assert!(store.credentials("cr_nobody").unwrap().is_none());
    assert!(store.credentials("cr_Caro").unwrap().is_none());
    assert!(store.credentials("").unwrap().is_none());
}

fn search_users(store: &dyn Store) {
    for name in [
        "sr_abc", "SR_Abd", "sr_b", "srXabc", "sr_abz", "sr%one", "srYone", "sr_", "sr_zz",
    ] {
        register(store, name);
    }
    let found = |prefix: &str, limit: usize| {
        names(&store.search_users(prefix, limit).unwrap())
            .into_iter()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // Prefix, ASCII case-insensitive, ordered by the case-folded name.
    assert_eq!(found("sr_a", 20), ["sr_abc", "SR_Abd", "sr_abz"]);
    assert_eq!(found("SR_A", 20), ["sr_abc", "SR_Abd", "sr_abz"]);
    assert_eq!(found("sr_ab", 20), ["sr_abc", "SR_Abd", "sr_abz"]);
    // '_' and '%' are literal characters, not wildcards.
    assert_eq!(
        found("sr_", 20),
        ["sr_", "sr_abc", "SR_Abd", "sr_abz", "sr_b", "sr_zz"]
    );
    assert_eq!(found("sr%", 20), ["sr%one"]);
    assert_eq!(found("srx", 20), ["srXabc"]);
    // Limit.
    assert_eq!(found("sr_", 2), ["sr_", "sr_abc"]);
    assert_eq!(found("sr_a", 1), ["sr_abc"]);
    assert!(found("sr_", 0).is_empty());
    // Exact name, no match, a prefix past every name.
    assert_eq!(found("sr_abc", 20), ["sr_abc"]);
    assert!(found("sr_abcd", 20).is_empty());
    assert!(found("sr_q", 20).is_empty());
    assert!(found("\u{10FFFF}", 20).is_empty());
    // The whole result carries user ids and nicknames.
    let users = store.search_users("sr_b", 20).unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].nickname, "sr_b");
    assert_eq!(store.user(users[0].user_id).unwrap().unwrap(), users[0]);
}

fn update_profile(store: &dyn Store) {
    let id = register(store, "up_dave");
    let u = store
        .update_profile(id, Some("Dave"), None)
        .unwrap()
        .unwrap();
    assert_eq!((u.nickname.as_str(), u.avatar.as_str()), ("Dave", ""));
    let u = store
        .update_profile(id, None, Some("https://example.com/d.png"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (u.nickname.as_str(), u.avatar.as_str()),
        ("Dave", "https://example.com/d.png")
    );
    let u = store
        .update_profile(id, Some(""), Some("a2"))
        .unwrap()
        .unwrap();
    assert_eq!((u.nickname.as_str(), u.avatar.as_str()), ("", "a2"));
    let unchanged = store.update_profile(id, None, None).unwrap().unwrap();
    assert_eq!(unchanged, u);
    assert_eq!(store.user(id).unwrap().unwrap(), u);
    assert_eq!(u.username, "up_dave");
    assert_eq!(
        store.update_profile(i64::MAX, Some("x"), None).unwrap(),
        None
    );
}

fn tokens(store: &dyn Store) {
    let id = register(store, "tk_erin");
    let h1 = "a".repeat(64);
    let h2 = "b".repeat(64);
    store.insert_token(&h1, id, 1_000).unwrap();
    store.insert_token(&h2, id, 5_000).unwrap();
    assert_eq!(store.token_user(&h1, 999).unwrap().unwrap().user_id, id);
    assert_eq!(
        store.token_user(&h1, 1_000).unwrap(),
        None,
        "expired at expires_ms"
    );
    assert_eq!(store.token_user(&h1, 2_000).unwrap(), None);
    assert_eq!(
        store.token_user(&h2, 2_000).unwrap().unwrap().username,
        "tk_erin"
    );
    assert_eq!(store.token_user(&"c".repeat(64), 0).unwrap(), None);
    store.delete_token(&h2).unwrap();
    assert_eq!(store.token_user(&h2, 2_000).unwrap(), None);
    assert_eq!(store.token_user(&h1, 999).unwrap().unwrap().user_id, id);
    store.delete_token(&h2).unwrap();
    store.delete_token(&"d".repeat(64)).unwrap();
}

/// A verified address (the gateway's `register`) finds its user, ASCII
/// case-insensitively; it is one user's only, and a username conflict stores nothing. An
/// address typed in at plain `create_user` (TCP `register`) is not verified.
fn verified_emails(store: &dyn Store) {
    let created = store
        .create_verified_user("ve_ann", "h-ann", "Ann", "Ann@Example.COM")
        .unwrap();
    let Registration::Created(ann) = created else {
        panic!("not created: {created:?}")
    };
    let (user, hash) = store
        .verified_credentials("ann@example.com")
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.user_id, user.nickname.as_str(), hash.as_str()),
        (ann, "Ann", "h-ann")
    );
    assert_eq!(
        store
            .verified_credentials("ANN@EXAMPLE.COM")
            .unwrap()
            .unwrap()
            .0
            .user_id,
        ann
    );
    assert_eq!(
        store
            .create_verified_user("ve_bob", "h", "", "ann@EXAMPLE.com")
            .unwrap(),
        Registration::EmailTaken
    );
    assert!(
        store.credentials("ve_bob").unwrap().is_none(),
        "nothing stored"
    );
    assert_eq!(
        store
            .create_verified_user("VE_ANN", "h", "", "other@example.com")
            .unwrap(),
        Registration::UsernameTaken
    );
    assert!(store
        .verified_credentials("other@example.com")
        .unwrap()
        .is_none());
    // Unverified: typed in over TCP.
    store
        .create_user("ve_cat", "h", "", Some("cat@example.com"))
        .unwrap();
    assert!(store
        .verified_credentials("cat@example.com")
        .unwrap()
        .is_none());
    let Registration::Created(cat2) = store
        .create_verified_user("ve_cat2", "h", "", "cat@example.com")
        .unwrap()
    else {
        panic!("an unverified address blocks nobody")
    };
    assert_ne!(cat2, ann);
}

/// A reset sets the new hash and deletes every token of the user (no one else's), in
/// one go; an unknown user is `None`.
fn reset_password(store: &dyn Store) {
    let id = register(store, "rp_dan");
    let other = register(store, "rp_eve");
    let hash = |c: char| c.to_string().repeat(64);
    for (c, user) in [('r', id), ('s', id), ('t', other)] {
        store.insert_token(&hash(c), user, i64::MAX).unwrap();
    }
    assert_eq!(store.reset_password(id, "new-hash").unwrap(), Some(2));
    assert_eq!(store.credentials("rp_dan").unwrap().unwrap().1, "new-hash");
    assert_eq!(store.token_user(&hash('r'), 0).unwrap(), None);
    assert_eq!(store.token_user(&hash('s'), 0).unwrap(), None);
    assert_eq!(
        store.token_user(&hash('t'), 0).unwrap().unwrap().user_id,
        other
    );
    assert_eq!(store.reset_password(id, "again").unwrap(), Some(0));
    assert_eq!(store.reset_password(i64::MAX, "x").unwrap(), None);
}

/// Tokens expired at `now_ms` (those `token_user` refuses) go, oldest first, at most
/// `limit` per call. Expiry times here are below every other behaviour's (>= 1,000).
fn purge_expired_tokens(store: &dyn Store) {
    let id = register(store, "pt_fay");
    let hash = |c: char| c.to_string().repeat(64);
    for (c, expires) in [
        ('1', 100),
        ('2', 200),
        ('3', 300),
        ('4', 400),
        ('5', i64::MAX),
    ] {
        store.insert_token(&hash(c), id, expires).unwrap();
    }
    assert_eq!(store.purge_expired_tokens(99, 100).unwrap(), 0);
    assert_eq!(store.purge_expired_tokens(200, 0).unwrap(), 0);
    assert_eq!(
        store.purge_expired_tokens(200, 100).unwrap(),
        2,
        "expired at expires_ms"
    );
    assert_eq!(store.token_user(&hash('1'), 0).unwrap(), None);
    assert_eq!(store.token_user(&hash('2'), 0).unwrap(), None);
    assert_eq!(
        store.token_user(&hash('3'), 0).unwrap().unwrap().user_id,
        id
    );
    // The limit takes the oldest first.
    assert_eq!(store.purge_expired_tokens(400, 1).unwrap(), 1);
    assert_eq!(store.token_user(&hash('3'), 0).unwrap(), None);
    assert_eq!(
        store.token_user(&hash('4'), 399).unwrap().unwrap().user_id,
        id
    );
    assert_eq!(store.purge_expired_tokens(400, 100).unwrap(), 1);
    assert_eq!(store.purge_expired_tokens(400, 100).unwrap(), 0);
    assert_eq!(store.token_user(&hash('4'), 0).unwrap(), None);
    assert_eq!(
        store.token_user(&hash('5'), 401).unwrap().unwrap().user_id,
        id
    );
    store.delete_token(&hash('5')).unwrap();
}

// ---- friends -----------------------------------------------------------------------------

fn friend_request_flow(store: &dyn Store) {
    let a = register(store, "fr_a");
    let b = register(store, "fr_b");
    let c = register(store, "fr_c");
    assert!(store.pending_requests(b).unwrap().is_empty());

    let FriendRequestOutcome::Created(r1) = store.send_friend_request(a, b, "hi b", 10).unwrap()
    else {
        panic!("expected Created");
    };
    // Asking again: the same request, note updated.
    assert_eq!(
        store.send_friend_request(a, b, "hello again", 11).unwrap(),
        FriendRequestOutcome::AlreadyPending(r1)
    );
    let FriendRequestOutcome::Created(r2) = store.send_friend_request(c, b, "", 20).unwrap() else {
        panic!("expected Created");
    };
    assert_ne!(r1, r2);

    let pending = store.pending_requests(b).unwrap();
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert_eq!(pending[0].request_id, r1, "oldest first");
    assert_eq!(pending[0].from.username, "fr_a");
    assert_eq!(pending[0].from.user_id, a);
    assert_eq!(pending[0].message, "hello again");
    assert_eq!(pending[0].ts, 10);
    assert_eq!(pending[1].request_id, r2);
    assert_eq!(pending[1].from.user_id, c);
    assert!(
        store.pending_requests(a).unwrap().is_empty(),
        "sent, not received"
    );

    // Only the addressee accepts.
    assert_eq!(store.accept_request(r1, a).unwrap(), None);
    assert_eq!(store.accept_request(r1, c).unwrap(), None);
    assert!(!store.are_friends(a, b).unwrap());
    let requester = store.accept_request(r1, b).unwrap().unwrap();
    assert_eq!(requester.user_id, a);
    assert_eq!(requester.username, "fr_a");
    assert!(store.are_friends(a, b).unwrap());
    assert!(store.are_friends(b, a).unwrap());
    assert!(!store.are_friends(a, c).unwrap());
    assert_eq!(
        store.accept_request(r1, b).unwrap(),
        None,
        "no longer pending"
    );
    assert_eq!(store.accept_request(i64::MAX, b).unwrap(), None);
    let pending = store.pending_requests(b).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].request_id, r2);

    // Friends already, either way round.
    assert_eq!(
        store.send_friend_request(a, b, "", 30).unwrap(),
        FriendRequestOutcome::AlreadyFriends
    );
    assert_eq!(
        store.send_friend_request(b, a, "", 30).unwrap(),
        FriendRequestOutcome::AlreadyFriends
    );
    assert_eq!(store.friend_ids(a).unwrap(), vec![b]);
    assert_eq!(store.friend_ids(b).unwrap(), vec![a]);
    assert!(store.friend_ids(c).unwrap().is_empty());
}

fn reject_and_delete_friend(store: &dyn Store) {
    let a = register(store, "rj_a");
    let b = register(store, "rj_b");
    let FriendRequestOutcome::Created(r) = store.send_friend_request(a, b, "x", 1).unwrap() else {
        panic!("expected Created");
    };
    assert!(
        !store.reject_request(r, a).unwrap(),
        "only the addressee rejects"
    );
    assert!(store.reject_request(r, b).unwrap());
    assert!(!store.reject_request(r, b).unwrap(), "already rejected");
    assert!(store.pending_requests(b).unwrap().is_empty());
    assert_eq!(
        store.accept_request(r, b).unwrap(),
        None,
        "rejected is final"
    );
    assert!(!store.are_friends(a, b).unwrap());
    assert!(!store.reject_request(i64::MAX, b).unwrap());

    // A new request after a rejection is a new request.
    let FriendRequestOutcome::Created(r2) = store.send_friend_request(a, b, "again", 2).unwrap()
    else {
        panic!("expected Created");
    };
    assert_ne!(r, r2);
    assert!(store.accept_request(r2, b).unwrap().is_some());

    // Deleting ends it both ways, whoever deletes.
    assert!(store.delete_friend(b, a).unwrap());
    assert!(!store.are_friends(a, b).unwrap());
    assert!(!store.are_friends(b, a).unwrap());
    assert!(!store.delete_friend(a, b).unwrap(), "not friends any more");
    assert!(store.friend_ids(a).unwrap().is_empty());
    assert!(store.friends(b).unwrap().is_empty());
    befriend(store, b, a);
    assert!(store.delete_friend(a, b).unwrap());
    assert!(!store.are_friends(b, a).unwrap());
}

fn crossed_requests(store: &dyn Store) {
    let a = register(store, "cx_a");
    let b = register(store, "cx_b");
    let FriendRequestOutcome::Created(ab) = store.send_friend_request(a, b, "", 1).unwrap() else {
        panic!("expected Created");
    };
    let FriendRequestOutcome::Created(ba) = store.send_friend_request(b, a, "", 2).unwrap() else {
        panic!("expected Created");
    };
    assert_ne!(ab, ba);
    // Accepting one settles the other.
    assert!(store.accept_request(ba, a).unwrap().is_some());
    assert!(store.pending_requests(a).unwrap().is_empty());
    assert!(store.pending_requests(b).unwrap().is_empty());
    assert!(store.are_friends(a, b).unwrap());
}

fn friends_ordered(store: &dyn Store) {
    let me = register(store, "fo_me");
    let zed = register(store, "fo_zed");
    let amy = register(store, "FO_Amy");
    let bob = register(store, "fo_bob");
    let other = register(store, "fo_other");
    befriend(store, me, zed);
    befriend(store, amy, me);
    befriend(store, me, bob);
    befriend(store, zed, other);
    assert_eq!(
        names(&store.friends(me).unwrap()),
        ["FO_Amy", "fo_bob", "fo_zed"]
    );
    let friends = store.friends(me).unwrap();
    assert_eq!(friends[0].user_id, amy);
    assert_eq!(friends[0].nickname, "FO_Amy");
    let mut expected = vec![zed, amy, bob];
    expected.sort_unstable();
    let mut got = store.friend_ids(me).unwrap();
    got.sort_unstable();
    assert_eq!(got, expected);
    assert_eq!(names(&store.friends(zed).unwrap()), ["fo_me", "fo_other"]);
}

// ---- messages ----------------------------------------------------------------------------

fn insert_messages_ids_and_order(store: &dyn Store) {
    let a = register(store, "im_a");
    let b = register(store, "im_b");
    assert!(store.insert_messages(&[]).unwrap().is_empty());
    let batch: Vec<NewMessage> = (0..5)
        .map(|i| NewMessage {
            from: if i % 2 == 0 { a } else { b },
            to: if i % 2 == 0 { b } else { a },
            text: format!("text {i}"),
            ts: 1_000 + i,
            client_msg_id: format!("c{i}"),
        })
        .collect();
    let out = store.insert_messages(&batch).unwrap();
    assert_eq!(out.len(), batch.len());
    for (stored, input) in out.iter().zip(&batch) {
        assert!(stored.new);
        assert_eq!(stored.message.from, input.from);
        assert_eq!(stored.message.to, input.to);
        assert_eq!(stored.message.text, input.text);
        assert_eq!(stored.message.ts, input.ts);
        assert_eq!(stored.message.client_msg_id, input.client_msg_id);
    }
    let got = ids(&out.iter().map(|s| s.message.clone()).collect::<Vec<_>>());
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "increasing in batch order: {got:?}"
    );
    // Both timelines were empty and every message is in both: positions 1..5 in batch
    // order on both sides.
    for (i, stored) in out.iter().enumerate() {
        let pos = i as Pos + 1;
        assert_eq!((stored.message.pos, stored.recipient_pos), (pos, pos));
    }
    // A later batch gets later ids and the next positions.
    let later = send_stored(store, a, b, "later", "c-later");
    assert!(later.message.msg_id > got[got.len() - 1]);
    assert_eq!((later.message.pos, later.recipient_pos), (6, 6));
    // What sync returns is what insert_messages returned, as each participant reads it.
    let mut all = out;
    all.push(later);
    for user in [a, b] {
        let expected: Vec<Message> = all.iter().map(|s| copy_for(s, user)).collect();
        assert_eq!(store.sync(user, 0, 100).unwrap(), expected);
        assert_eq!(store.last_pos(user).unwrap(), 6);
    }
}

fn insert_messages_idempotent(store: &dyn Store) {
    let a = register(store, "id_a");
    let b = register(store, "id_b");
    let c = register(store, "id_c");
    // A duplicate within the batch: the first one is stored, the repeat returns it.
    let out = store
        .insert_messages(&[
            msg(a, b, "one", "k1"),
            msg(a, b, "two", "k2"),
            msg(a, b, "one, retried with other text", "k1"),
            msg(a, b, "three", "k3"),
        ])
        .unwrap();
    assert_eq!(
        out.iter().map(|s| s.new).collect::<Vec<_>>(),
        [true, true, false, true]
    );
    assert_eq!(out[2].message, out[0].message);
    assert_eq!(out[2].recipient_pos, out[0].recipient_pos);
    assert_eq!(out[2].message.text, "one");
    assert!(out[1].message.msg_id < out[3].message.msg_id);
    assert_eq!(
        out.iter()
            .map(|s| (s.message.pos, s.recipient_pos))
            .collect::<Vec<_>>(),
        [(1, 1), (2, 2), (1, 1), (3, 3)],
        "a repeat takes no position"
    );
    assert_eq!(store.sync(b, 0, 100).unwrap().len(), 3);

    // A duplicate across batches, mixed with new ones: the original message and
    // positions come back.
    let again = store
        .insert_messages(&[
            msg(a, b, "changed", "k2"),
            msg(a, b, "four", "k4"),
            msg(a, b, "changed again", "k2"),
        ])
        .unwrap();
    assert_eq!(
        again,
        vec![
            Stored {
                new: false,
                ..out[1].clone()
            },
            Stored {
                message: again[1].message.clone(),
                recipient_pos: 4,
                new: true
            },
            Stored {
                new: false,
                ..out[1].clone()
            },
        ]
    );
    assert_eq!(again[1].message.pos, 4);
    assert!(again[1].message.msg_id > out[3].message.msg_id);
    assert_eq!(
        store.sync(b, 0, 100).unwrap().len(),
        4,
        "stored nothing new"
    );
    // Only duplicates: nothing stored, conversations and timelines untouched.
    let before = store.conversations(b).unwrap();
    let dup = store.insert_messages(&[msg(a, b, "x", "k1")]).unwrap();
    assert!(!dup[0].new);
    assert_eq!(
        dup[0],
        Stored {
            new: false,
            ..out[0].clone()
        }
    );
    assert_eq!(store.conversations(b).unwrap(), before);
    assert_eq!(store.sync(b, 0, 100).unwrap().len(), 4);
    assert_eq!(store.last_pos(a).unwrap(), 4);
    assert_eq!(store.last_pos(b).unwrap(), 4);

    // Keys are per sender: the same client_msg_id from c is a new message.
    let from_c = send_stored(store, c, b, "from c", "k1");
    assert_ne!(from_c.message.msg_id, out[0].message.msg_id);
    assert_eq!((from_c.message.pos, from_c.recipient_pos), (1, 5));
    assert_eq!(store.sync(b, 0, 100).unwrap().len(), 5);

    // By key: with the sender's position.
    assert_eq!(
        store.message_by_client_id(a, "k1").unwrap(),
        Some(out[0].message.clone())
    );
    assert_eq!(
        store.message_by_client_id(c, "k1").unwrap(),
        Some(from_c.message)
    );
    assert_eq!(store.message_by_client_id(b, "k1").unwrap(), None);
    assert_eq!(store.message_by_client_id(a, "k9").unwrap(), None);
}

/// client_msg_ids are compared byte for byte: case, trailing spaces and Unicode
/// normalisation all make different keys.
fn client_msg_id_is_exact(store: &dyn Store) {
    let a = register(store, "ce_a");
    let b = register(store, "ce_b");
    let keys = ["k", "k ", "K", " k", "k\t", "é", "e\u{301}", "k\0"];
    let out = store
        .insert_messages(&keys.iter().map(|k| msg(a, b, k, k)).collect::<Vec<_>>())
        .unwrap();
    assert!(out.iter().all(|s| s.new), "{out:?}");
    let distinct: HashSet<i64> = out.iter().map(|s| s.message.msg_id).collect();
    assert_eq!(distinct.len(), keys.len());
    for k in keys {
        let m = store.message_by_client_id(a, k).unwrap().unwrap();
        assert_eq!(m.client_msg_id, k);
        assert_eq!(m.text, k);
    }
    // A 64-character key of 4-byte characters.
    let long: String = "🔑".repeat(64);
    let m = send(store, a, b, "long key", &long);
    assert_eq!(store.message_by_client_id(a, &long).unwrap(), Some(m));
}

/// Batches bigger than any internal statement size (many rows, many megabytes), with
/// duplicates at both ends: still one ordered, idempotent batch.
fn large_batches(store: &dyn Store) {
    let a = register(store, "lb_a");
    let b = register(store, "lb_b");
    let mut batch: Vec<NewMessage> = (0..1200)
        .map(|i| msg(a, b, &format!("m{i}"), &format!("k{i}")))
        .collect();
    batch.push(msg(a, b, "dup of the first", "k0"));
    let out = store.insert_messages(&batch).unwrap();
    assert_eq!(out.len(), 1201);
    assert!(out[..1200].iter().all(|s| s.new));
    assert!(!out[1200].new);
    assert_eq!(out[1200].message, out[0].message);
    let ids: Vec<i64> = out[..1200].iter().map(|s| s.message.msg_id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // 300 texts of 4,096 four-byte characters (about 5 MB), the last one a repeat.
    let long = "𝄞".repeat(4096);
    let mut batch: Vec<NewMessage> = (0..300)
        .map(|i| msg(b, a, &long, &format!("big{i}")))
        .collect();
    batch.insert(0, msg(a, b, "repeat", "k5"));
    let out = store.insert_messages(&batch).unwrap();
    assert!(!out[0].new);
    assert_eq!(out[0].message.text, "m5");
    assert!(out[1..].iter().all(|s| s.new && s.message.text == long));
    let ids: Vec<i64> = out[1..].iter().map(|s| s.message.msg_id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(store.sync(a, 0, 10_000).unwrap().len(), 1500);
    let convs = store.conversations(a).unwrap();
    assert_eq!(convs[0].last.msg_id, ids[ids.len() - 1]);
    assert_eq!(convs[0].unread, 300);
}

/// Retries (keys stored before) at the start, in the middle and at the end of a batch
/// longer than any internal chunk, one of them the only message of its two users in the
/// batch: they take no position, and the new messages around them take every position
/// in order, with no gap, on both sides; heads end where the new messages took them.
fn retries_across_chunks(store: &dyn Store) {
    let a = register(store, "rc_a");
    let b = register(store, "rc_b");
    let c = register(store, "rc_c");
    let d = register(store, "rc_d");
    let e = register(store, "rc_e");
    let first = store
        .insert_messages(&[
            msg(a, b, "old a→b", "old-1"),
            msg(d, e, "old d→e", "old-2"),
            msg(c, a, "old c→a", "old-3"),
        ])
        .unwrap();
    let mut batch: Vec<NewMessage> = (0..1100)
        .map(|i| {
            let (from, to) = [(a, b), (b, c), (c, a), (a, a)][i % 4];
            msg(from, to, &format!("m{i}"), &format!("rc{i}"))
        })
        .collect();
    batch.insert(0, msg(a, b, "retry", "old-1"));
    batch.insert(600, msg(d, e, "retry", "old-2"));
    batch.insert(601, msg(c, b, "new among retries", "rc-mid"));
    batch.push(msg(c, a, "retry", "old-3"));
    let out = store.insert_messages(&batch).unwrap();
    assert_eq!(out.len(), batch.len());
    let last = batch.len() - 1;
    for (i, original) in [(0, &first[0]), (600, &first[1]), (last, &first[2])] {
        assert_eq!(
            out[i],
            Stored {
                new: false,
                ..original.clone()
            },
            "retry at {i}"
        );
    }
    assert_eq!(out.iter().filter(|s| s.new).count(), 1101);
    // Every user's new positions follow on from the first batch, in batch order.
    let mut next: std::collections::HashMap<UserId, Pos> = [(a, 2), (b, 1), (c, 1), (d, 1), (e, 1)]
        .into_iter()
        .collect();
    for s in out.iter().filter(|s| s.new) {
        let m = &s.message;
        let sender = next[&m.from] + 1;
        next.insert(m.from, sender);
        let recipient = if m.to == m.from {
            sender
        } else {
            let p = next[&m.to] + 1;
            next.insert(m.to, p);
            p
        };
        assert_eq!((m.pos, s.recipient_pos), (sender, recipient), "{m:?}");
    }
    for user in [a, b, c, d, e] {
        let timeline = whole_timeline(store, user, 500);
        assert_eq!(timeline.len() as Pos, next[&user], "user {user}");
        ids_follow_positions(&timeline);
    }
    assert_eq!(store.last_pos(d).unwrap(), 1, "a retry alone moves nothing");
    assert_eq!(store.last_pos(e).unwrap(), 1);
    assert!(out[601].new);
    assert_eq!(
        store.message_by_client_id(c, "rc-mid").unwrap(),
        Some(out[601].message.clone())
    );
}

/// Positions: the next of each participant's timeline, in commit order, with no gap;
/// a retry keeps its original positions; a message to oneself takes one position; every
/// read gives the reading user's position.
fn timelines(store: &dyn Store) {
    let a = register(store, "tl_a");
    let b = register(store, "tl_b");
    let c = register(store, "tl_c");
    let s1 = send_stored(store, a, b, "a→b", "1");
    assert_eq!((s1.message.pos, s1.recipient_pos), (1, 1));
    let s2 = send_stored(store, c, a, "c→a", "2");
    assert_eq!((s2.message.pos, s2.recipient_pos), (1, 2));
    let s3 = send_stored(store, b, c, "b→c", "3");
    assert_eq!((s3.message.pos, s3.recipient_pos), (2, 2));
    let out = store
        .insert_messages(&[
            msg(a, b, "a→b", "4"),
            msg(b, a, "b→a", "5"),
            msg(a, b, "a retry", "1"),
            msg(a, c, "a→c", "6"),
            msg(c, c, "c→c", "7"),
            msg(b, a, "b→a repeat", "5"),
        ])
        .unwrap();
    let got: Vec<(bool, Pos, Pos)> = out
        .iter()
        .map(|s| (s.new, s.message.pos, s.recipient_pos))
        .collect();
    assert_eq!(
        got,
        [
            (true, 3, 3),
            (true, 4, 4),
            (false, 1, 1),
            (true, 5, 3),
            (true, 4, 4),
            (false, 4, 4)
        ]
    );
    assert_eq!(out[2].message, s1.message);
    assert_eq!(out[5].message, out[1].message);
    for (user, last) in [(a, 5), (b, 4), (c, 4)] {
        assert_eq!(store.last_pos(user).unwrap(), last);
    }
    // Each user's timeline: exactly their messages, in commit order, 1..n.
    let expect = |user: UserId, stored: &[&Stored]| -> Vec<Message> {
        stored.iter().map(|s| copy_for(s, user)).collect()
    };
    let (s4, s5, s6, s7) = (&out[0], &out[1], &out[3], &out[4]);
    assert_eq!(
        whole_timeline(store, a, 100),
        expect(a, &[&s1, &s2, s4, s5, s6])
    );
    assert_eq!(whole_timeline(store, b, 2), expect(b, &[&s1, &s3, s4, s5]));
    assert_eq!(whole_timeline(store, c, 1), expect(c, &[&s2, &s3, s6, s7]));
    // history, conversations and message_by_client_id carry the right user's position.
    assert_eq!(
        store.history(a, b, None, 10).unwrap(),
        expect(a, &[s5, s4, &s1])
    );
    assert_eq!(
        store.history(b, a, None, 10).unwrap(),
        expect(b, &[s5, s4, &s1])
    );
    let convs = store.conversations(c).unwrap();
    let lasts: Vec<(UserId, Message)> = convs
        .into_iter()
        .map(|v| (v.peer.user_id, v.last))
        .collect();
    assert_eq!(
        lasts,
        [
            (c, copy_for(s7, c)),
            (a, copy_for(s6, c)),
            (b, copy_for(&s3, c))
        ]
    );
    assert_eq!(
        store.message_by_client_id(b, "5").unwrap(),
        Some(s5.message.clone())
    );
    assert_eq!(s5.message.pos, 4);
}

fn last_pos(store: &dyn Store) {
    let a = register(store, "lp_a");
    let b = register(store, "lp_b");
    assert_eq!(
        store.last_pos(a).unwrap(),
        0,
        "a new user's timeline is empty"
    );
    assert_eq!(store.last_pos(i64::MAX).unwrap(), 0, "no such user");
    let batch: Vec<NewMessage> = (0..7).map(|i| msg(a, b, "x", &format!("lp{i}"))).collect();
    store.insert_messages(&batch).unwrap();
    assert_eq!(store.last_pos(a).unwrap(), 7);
    assert_eq!(store.last_pos(b).unwrap(), 7);
    send(store, b, b, "self", "self");
    assert_eq!(store.last_pos(a).unwrap(), 7);
    assert_eq!(store.last_pos(b).unwrap(), 8);
    // A retry moves nothing.
    store.insert_messages(&batch[..3]).unwrap();
    assert_eq!(store.last_pos(a).unwrap(), 7);
    assert_eq!(store.last_pos(b).unwrap(), 8);
}

fn sync(store: &dyn Store) {
    let s1 = register(store, "sy_1");
    let s2 = register(store, "sy_2");
    let s3 = register(store, "sy_3");
    assert!(store.sync(s1, 0, 100).unwrap().is_empty());
    let m1 = send_stored(store, s1, s2, "1→2", "a");
    let m2 = send_stored(store, s2, s1, "2→1", "b");
    let _n1 = send(store, s2, s3, "2→3", "c");
    let m3 = send_stored(store, s3, s1, "3→1", "d");
    let _n2 = send(store, s3, s2, "3→2", "e");
    let m4 = send_stored(store, s1, s3, "1→3", "f");
    let mine: Vec<Message> = [&m1, &m2, &m3, &m4]
        .iter()
        .map(|s| copy_for(s, s1))
        .collect();
    assert_eq!(mine.iter().map(|m| m.pos).collect::<Vec<_>>(), [1, 2, 3, 4]);
    assert_eq!(
        store.sync(s1, 0, 100).unwrap(),
        mine,
        "both directions, ascending"
    );
    assert_eq!(store.sync(s1, 0, 2).unwrap(), mine[..2]);
    assert_eq!(store.sync(s1, 2, 2).unwrap(), mine[2..]);
    assert_eq!(store.sync(s1, 1, 100).unwrap(), mine[1..]);
    assert!(store.sync(s1, 4, 100).unwrap().is_empty());
    assert!(store.sync(s1, 99, 100).unwrap().is_empty());
    assert!(store.sync(s1, 0, 0).unwrap().is_empty());
    assert_eq!(store.sync(s1, -5, 100).unwrap(), mine);
    // Paging through with the cursor visits each message once, in order.
    let mut cursor = 0;
    let mut paged = Vec::new();
    loop {
        let page = store.sync(s1, cursor, 1).unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.pos;
        paged.extend(page);
    }
    assert_eq!(paged, mine);
    assert_eq!(whole_timeline(store, s2, 3).len(), 4);
    assert_eq!(whole_timeline(store, s3, 100).len(), 4);
    // Mostly one direction: a page is the next positions, whoever sent them.
    let burst: Vec<Message> = (0..5)
        .map(|i| {
            let s = send_stored(store, s2, s1, "burst", &format!("burst{i}"));
            copy_for(&s, s1)
        })
        .collect();
    let reply = send(store, s1, s2, "reply", "reply");
    let page = store.sync(s1, 4, 3).unwrap();
    assert_eq!(page, burst[..3]);
    let page = store.sync(s1, 9, 3).unwrap();
    assert_eq!(page, vec![reply.clone()]);
    assert_eq!(reply.pos, 10);
    assert_eq!(store.last_pos(s1).unwrap(), 10);
}

fn history(store: &dyn Store) {
    let h1 = register(store, "hi_1");
    let h2 = register(store, "hi_2");
    let h3 = register(store, "hi_3");
    let mut between = Vec::new();
    for i in 0..6 {
        let (from, to) = if i % 3 == 0 { (h2, h1) } else { (h1, h2) };
        between.push(send_stored(
            store,
            from,
            to,
            &format!("m{i}"),
            &format!("h{i}"),
        ));
        send(store, h3, h1, "noise", &format!("n{i}"));
        send(store, h2, h3, "noise", &format!("n{i}"));
        send(store, h2, h3, "more noise", &format!("o{i}"));
    }
    // Newest first, as each of the two reads it (their positions differ: h1 gets one
    // noise message per round, h2 sends two).
    let newest_first = |user: UserId| -> Vec<Message> {
        between.iter().rev().map(|s| copy_for(s, user)).collect()
    };
    let for_h1 = newest_first(h1);
    let for_h2 = newest_first(h2);
    assert_ne!(for_h1, for_h2);
    assert_eq!(store.history(h1, h2, None, 100).unwrap(), for_h1);
    assert_eq!(store.history(h2, h1, None, 100).unwrap(), for_h2);
    assert_eq!(store.history(h1, h2, None, 2).unwrap(), for_h1[..2]);
    let before = between[3].message.msg_id;
    assert_eq!(
        store.history(h1, h2, Some(before), 100).unwrap(),
        for_h1[3..],
        "strictly before"
    );
    assert_eq!(
        store.history(h1, h2, Some(before), 2).unwrap(),
        for_h1[3..5]
    );
    assert!(store
        .history(h1, h2, Some(between[0].message.msg_id), 100)
        .unwrap()
        .is_empty());
    assert!(store.history(h1, h2, None, 0).unwrap().is_empty());
    assert_eq!(store.history(h1, h3, None, 100).unwrap().len(), 6);
    // Paging backwards visits everything once.
    let mut before = None;
    let mut paged = Vec::new();
    loop {
        let page = store.history(h2, h1, before, 4).unwrap();
        let Some(last) = page.last() else { break };
        before = Some(last.msg_id);
        paged.extend(page);
    }
    assert_eq!(paged, for_h2);
    let stranger = register(store, "hi_4");
    assert!(store.history(h1, stranger, None, 100).unwrap().is_empty());
}

/// The contract never lets a user write to themselves, but a store must not duplicate
/// such a message (it is in both branches of history) nor give it two positions.
fn messages_to_oneself(store: &dyn Store) {
    let me = register(store, "self_me");
    let stored = send_stored(store, me, me, "note to self", "n1");
    let m = stored.message.clone();
    assert_eq!((m.pos, stored.recipient_pos), (1, 1));
    assert_eq!(store.sync(me, 0, 10).unwrap(), vec![m.clone()]);
    assert_eq!(store.last_pos(me).unwrap(), 1);
    assert_eq!(store.history(me, me, None, 10).unwrap(), vec![m.clone()]);
    let convs = store.conversations(me).unwrap();
    assert_eq!(convs.len(), 1);
    assert_eq!(convs[0].last, m);
    let second = send(store, me, me, "another", "n2");
    assert_eq!(second.pos, 2);
    assert_eq!(whole_timeline(store, me, 1), vec![m, second]);
}

fn conversations_and_unread(store: &dyn Store) {
    let c1 = register(store, "cv_1");
    let c2 = register(store, "cv_2");
    let c3 = register(store, "cv_3");
    assert!(store.conversations(c1).unwrap().is_empty());
    let a = send_stored(store, c2, c1, "hello", "a");
    let b = send_stored(store, c1, c3, "hi 3", "b");
    let c = send_stored(store, c2, c1, "are you there", "c");

    let convs = store.conversations(c1).unwrap();
    assert_eq!(convs.len(), 2);
    assert_eq!(
        convs[0].peer,
        store.user(c2).unwrap().unwrap(),
        "most recent first"
    );
    assert_eq!(convs[0].last, copy_for(&c, c1));
    assert_eq!(convs[0].last.pos, 3);
    assert_eq!(convs[0].unread, 2);
    assert_eq!(convs[1].peer.user_id, c3);
    assert_eq!(convs[1].last, copy_for(&b, c1));
    assert_eq!(convs[1].unread, 0, "my own messages are not unread");

    let theirs = store.conversations(c2).unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].peer.user_id, c1);
    assert_eq!(theirs[0].last, copy_for(&c, c2));
    assert_eq!(theirs[0].last.pos, 2);
    assert_eq!(theirs[0].unread, 0);
    assert_eq!(store.conversations(c3).unwrap()[0].unread, 1);

    let a = a.message;
    let c = c.message;
    store.mark_read(c1, c2, a.msg_id).unwrap();
    assert_eq!(store.conversations(c1).unwrap()[0].unread, 1);
    store.mark_read(c1, c2, 0).unwrap();
    assert_eq!(
        store.conversations(c1).unwrap()[0].unread,
        1,
        "never backwards"
    );
    store.mark_read(c1, c2, c.msg_id).unwrap();
    assert_eq!(store.conversations(c1).unwrap()[0].unread, 0);
    store.mark_read(c1, c2, a.msg_id).unwrap();
    assert_eq!(
        store.conversations(c1).unwrap()[0].unread,
        0,
        "never backwards"
    );
    // Reading one conversation leaves the others alone.
    assert_eq!(store.conversations(c3).unwrap()[0].unread, 1);

    // A newer message moves its conversation to the top; unread counts past the cursor.
    let d = send_stored(store, c3, c1, "me too", "d");
    let convs = store.conversations(c1).unwrap();
    assert_eq!(convs[0].peer.user_id, c3);
    assert_eq!(convs[0].last, copy_for(&d, c1));
    assert_eq!(convs[0].unread, 1);
    assert_eq!(convs[1].peer.user_id, c2);
    assert_eq!(convs[1].unread, 0);
    let e = send_stored(store, c2, c1, "new", "e");
    let convs = store.conversations(c1).unwrap();
    assert_eq!(convs[0].peer.user_id, c2);
    assert_eq!(convs[0].last, copy_for(&e, c1));
    assert_eq!(convs[0].unread, 1);
    // A batch touching one conversation many times counts every message.
    store
        .insert_messages(&[
            msg(c3, c1, "x", "x1"),
            msg(c3, c1, "y", "x2"),
            msg(c1, c3, "z", "x3"),
        ])
        .unwrap();
    let convs = store.conversations(c1).unwrap();
    assert_eq!(convs[0].peer.user_id, c3);
    assert_eq!(convs[0].last.client_msg_id, "x3");
    assert_eq!(convs[0].last.pos, 8);
    assert_eq!(convs[0].unread, 3);
}

fn text_round_trip(store: &dyn Store) {
    let a = register(store, "rt_a");
    let b = register(store, "rt_b");
    let texts: Vec<String> = vec![
        "emoji 🦀👍🏽👨‍👩‍👧‍👦 and flags 🇫🇷".into(),
        "nul \0 in the middle\0".into(),
        "controls \u{1}\u{7}\u{8}\t\r\n\u{b}\u{c}\u{1b}[31m\u{7f}\u{85}\u{2028}".into(),
        "  leading and trailing spaces  ".into(),
        "quotes ' \" ` backslash \\ \\0 %_ ; -- /* */".into(),
        "combining e\u{301} vs \u{e9}, BOM \u{feff}, RTL \u{202e}abc".into(),
        "𝄞".repeat(4096),
        "x".repeat(4096),
        " ".into(),
    ];
    let batch: Vec<NewMessage> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| msg(a, b, t, &format!("rt{i}")))
        .collect();
    let out = store.insert_messages(&batch).unwrap();
    assert_eq!(texts[6].chars().count(), 4096);
    let synced = store.sync(b, 0, 100).unwrap();
    let history = store.history(a, b, None, 100).unwrap();
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(&out[i].message.text, text);
        assert_eq!(&synced[i].text, text, "sync, text {i}");
        assert_eq!(
            &history[texts.len() - 1 - i].text,
            text,
            "history, text {i}"
        );
        let by_id = store
            .message_by_client_id(a, &format!("rt{i}"))
            .unwrap()
            .unwrap();
        assert_eq!(by_id.text.as_bytes(), text.as_bytes());
    }
    assert_eq!(
        store.conversations(b).unwrap()[0].last.text,
        texts[texts.len() - 1]
    );
}

fn unicode_nickname(store: &dyn Store) {
    let nick = "Zoë 🦀 李小龍 Ñandú";
    let id = store.create_user("un_zoe", "h", nick, None).unwrap();
    assert_eq!(store.user(id).unwrap().unwrap().nickname, nick);
    assert_eq!(
        store.credentials("UN_ZOE").unwrap().unwrap().0.nickname,
        nick
    );
    // 64 four-byte characters: the longest nickname the protocol allows.
    let long = "🦀".repeat(64);
    let avatar = format!("https://example.com/{}", "é".repeat(200));
    let u = store
        .update_profile(id, Some(&long), Some(&avatar))
        .unwrap()
        .unwrap();
    assert_eq!(u.nickname, long);
    assert_eq!(u.avatar, avatar);
    assert_eq!(store.search_users("un_z", 5).unwrap()[0].nickname, long);
    // Notes on friend requests are text too.
    let other = register(store, "un_other");
    store
        .send_friend_request(other, id, "salut 👋 ça va ?", 1)
        .unwrap();
    assert_eq!(
        store.pending_requests(id).unwrap()[0].message,
        "salut 👋 ça va ?"
    );
}

// ---- concurrency -------------------------------------------------------------------------

/// Several threads storing batches at once: every message stored once, ids unique, each
/// sender's messages in its own order, every timeline gapless, and within every
/// conversation ids follow positions.
fn concurrent_writers(store: &dyn Store) {
    let users: Vec<UserId> = (0..4)
        .map(|i| register(store, &format!("cw_{i}")))
        .collect();
    let hub = register(store, "cw_hub");
    let results: Vec<Stored> = std::thread::scope(|scope| {
        let handles: Vec<_> = users
            .iter()
            .map(|&u| {
                scope.spawn(move || {
                    let mut results = Vec::new();
                    for round in 0..20 {
                        let batch: Vec<NewMessage> = (0..5)
                            .flat_map(|i| {
                                [
                                    msg(u, hub, "to hub", &format!("r{round}m{i}")),
                                    msg(hub, u, "from hub", &format!("u{u}r{round}m{i}")),
                                ]
                            })
                            .collect();
                        let out = store.insert_messages(&batch).unwrap();
                        assert!(out.iter().all(|s| s.new));
                        results.extend(out);
                    }
                    results
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let all = whole_timeline(store, hub, 64);
    assert_eq!(all.len(), 4 * 20 * 10);
    ids_follow_positions(&all);
    for &u in &users {
        let sent: Vec<String> = all
            .iter()
            .filter(|m| m.from == u)
            .map(|m| m.client_msg_id.clone())
            .collect();
        let expected: Vec<String> = (0..20)
            .flat_map(|r| (0..5).map(move |i| format!("r{r}m{i}")))
            .collect();
        assert_eq!(sent, expected, "sender {u} in order");
        let theirs = whole_timeline(store, u, 500);
        assert_eq!(theirs.len(), 20 * 10);
        ids_follow_positions(&theirs);
    }
    // What each insert returned is what the timelines hold.
    let by_id: std::collections::HashMap<MsgId, &Message> =
        all.iter().map(|m| (m.msg_id, m)).collect();
    for s in &results {
        let hub_copy = copy_for(s, hub);
        assert_eq!(by_id.get(&s.message.msg_id), Some(&&hub_copy));
    }
    let convs = store.conversations(hub).unwrap();
    assert_eq!(convs.len(), 4);
    assert!(convs
        .windows(2)
        .all(|w| w[0].last.msg_id > w[1].last.msg_id));
    assert!(convs.iter().all(|c| c.unread == 100));
}

/// The same (from, client_msg_id) sent by several threads at once: stored exactly once,
/// with one pair of positions.
fn concurrent_duplicate_sends(store: &dyn Store) {
    let a = register(store, "cd_a");
    let b = register(store, "cd_b");
    for round in 0..10 {
        let cid = format!("dup{round}");
        let results: Vec<Stored> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|_| {
                    let cid = cid.clone();
                    scope.spawn(move || {
                        store
                            .insert_messages(&[msg(a, b, "same", &cid)])
                            .unwrap()
                            .remove(0)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|s| s.new).count(), 1, "{results:?}");
        assert!(results.iter().all(|s| s.message == results[0].message));
        assert!(results
            .iter()
            .all(|s| s.recipient_pos == results[0].recipient_pos));
        assert_eq!(results[0].message.pos, round + 1);
    }
    assert_eq!(whole_timeline(store, b, 100).len(), 10);
}
