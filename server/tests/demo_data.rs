//! `sql/demo.sql` loads into a fresh store and its documented password works.

use chat::auth::{Argon2Params, PasswordHasher};
use chat::store::sqlite::SqliteStore;
use chat::store::Store;

#[test]
fn demo_sql_loads_and_its_users_can_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("chat.db");
    // Opening the store creates the schema; the demo file needs the tables to exist.
    drop(SqliteStore::open(&path, 1).unwrap());
    let sql =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/demo.sql")).unwrap();
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(&sql)
        .unwrap();

    let store = SqliteStore::open(&path, 1).unwrap();
    let (user, hash) = store.credentials("DEMO00042").unwrap().expect("demo user");
    assert_eq!(user.username, "demo00042");
    let hasher = PasswordHasher::new(Argon2Params::owasp()).unwrap();
    assert!(hasher.verify("demo-password", &hash));
    assert!(!hasher.verify("demo-passwore", &hash));
    // Ten friends ahead and ten behind on the ring.
    assert_eq!(store.friend_ids(user.user_id).unwrap().len(), 20);
    assert!(store.are_friends(user.user_id, user.user_id + 10).unwrap());
    assert!(!store.are_friends(user.user_id, user.user_id + 11).unwrap());
    assert_eq!(store.search_users("demo0500", 20).unwrap().len(), 1);
}
