//! The old values of an update are those the update replaced: read under a row lock, so that
//! concurrent writers of one row record old → new pairs that chain without a gap or a fork.
//! On PostgreSQL the read is part of the UPDATE statement itself (no round trip of its own,
//! and exact on the autocommit connection too); on SQLite it is sent with the UPDATE, as a
//! statement before it in the same call (the tests build sea-orm with its default
//! `sqlite-use-returning-for-3_35`, see Cargo.toml).

mod orm_common;

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_seaorm::orm::AuditedDb;
use orm_common::entities::{Mood, labels, users};
use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Set, TransactionTrait};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// The `score` changes of row `id`, as old → new.
fn score_changes(h: &Harness, id: i32) -> HashMap<i64, i64> {
    let mut chain = HashMap::new();
    for event in h.events().iter().filter(|e| e.action == "update" && e.resource.id == id.to_string()) {
        let Some((Some(Value::Number(old)), Some(Value::Number(new)))) = orm_common::change(event, "score") else {
            panic!("an update without old and new score: {event:?}");
        };
        let (old, new) = (old.as_i64().expect("an integer"), new.as_i64().expect("an integer"));
        assert!(chain.insert(old, new).is_none(), "two updates replaced score {old}: a stale old value");
    }
    chain
}

/// `writers` tasks set the same row's score to 1, 2, …, `writers`, concurrently (each in a
/// transaction, or each directly on the connection): the old values recorded form one path
/// from 0 through every value written.
async fn concurrent_updates_chain(testdb: TestDb, in_transactions: bool) {
    const WRITERS: i32 = 16;
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let mut tasks = Vec::new();
    for score in 1..=WRITERS {
        let (db, row) = (h.db.clone(), row.clone());
        tasks.push(tokio::spawn(async move {
            let mut am = row.into_active_model();
            am.score = Set(score);
            if in_transactions {
                let txn = db.begin().await.expect("begin");
                am.update(&txn).await.expect("update");
                txn.commit().await.expect("commit");
            } else {
                am.update(&db).await.expect("update");
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer");
    }
    let chain = score_changes(&h, row.id);
    assert_eq!(chain.len(), WRITERS as usize, "one update event per writer");
    let (mut at, mut seen) = (0, HashSet::new());
    while let Some(&next) = chain.get(&at) {
        assert!(seen.insert(next), "the chain loops at {next}");
        at = next;
    }
    assert_eq!(seen.len(), WRITERS as usize, "the path from 0 misses some updates: {chain:?}");
    let last = users::Entity::find_by_id(row.id).one(&h.conn).await.expect("read").expect("the row");
    assert_eq!(i64::from(last.score), at, "the path ends at the row's value");
    h.finish().await;
}

async fn concurrent_updates_in_transactions_chain_their_old_values(testdb: TestDb) {
    concurrent_updates_chain(testdb, true).await;
}
on_all_backends!(concurrent_updates_in_transactions_chain_their_old_values);

/// PostgreSQL reads the old row inside the UPDATE, so the autocommit connection records
/// exact old values too (elsewhere they are read just before it, without a lock; see the
/// module's limits).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_autocommit_updates_chain_their_old_values_postgres() {
    let Some(testdb) = TestDb::open(Backend::Postgres, "old_row_autocommit_chain").await else { return };
    concurrent_updates_chain(testdb, false).await;
}

/// On PostgreSQL an audited update sends one statement, the UPDATE with its old row's read
/// inside; on SQLite one call, the read and then the UPDATE; in a transaction and on the
/// autocommit connection. `update_without_returning` (no rows come back to carry the old
/// row) reads it just before, with a statement of its own (locked in a transaction on
/// PostgreSQL).
async fn the_old_row_is_read_with_the_update(backend: Backend) {
    let Some(testdb) = TestDb::open(backend, "old_row_in_update").await else { return };
    // What one call sends: PostgreSQL's UPDATE with the read inside, SQLite's read and UPDATE.
    let with_the_read = |sql: &str| match backend {
        Backend::Postgres => sql.starts_with("UPDATE") && sql.contains("FOR NO KEY UPDATE"),
        _ => sql.starts_with("SELECT") && sql.contains("; UPDATE"),
    };
    let sent = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut conn = testdb.connect().await;
    let log = sent.clone();
    conn.set_metric_callback(move |info| log.lock().expect("log").push(info.statement.sql.clone()));
    orm_common::create_tables(&conn).await;
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    let db = AuditedDb::direct(conn.clone(), auditor.clone());
    let row = user("a@x").insert(&db).await.expect("insert");
    let take = || std::mem::take(&mut *sent.lock().expect("log"));
    take();

    let mut am = row.clone().into_active_model();
    am.score = Set(7);
    am.update(&db).await.expect("autocommit update");
    let statements = take();
    assert_eq!(statements.len(), 1, "{statements:#?}");
    assert!(with_the_read(&statements[0]), "{}", statements[0]);

    let txn = db.begin().await.expect("begin");
    let mut am = row.clone().into_active_model();
    am.score = Set(8);
    am.name = Set("m".into());
    am.update(&txn).await.expect("update in a transaction");
    let statements = take();
    let sent: Vec<_> = statements.iter().filter(|s| !s.starts_with("COMMIT")).collect();
    assert!(sent.len() == 1 && with_the_read(sent[0]), "{statements:#?}");
    let mut am = row.clone().into_active_model();
    am.score = Set(9);
    am.update_without_returning(&txn).await.expect("update without returning");
    let statements = take();
    // (SeaORM reads the row back after it on SQLite.)
    assert!(statements.len() >= 2, "{statements:#?}");
    assert!(statements[0].starts_with("SELECT") && statements[1].starts_with("UPDATE"), "{statements:#?}");
    if backend == Backend::Postgres {
        assert!(statements[0].ends_with("FOR NO KEY UPDATE"), "{}", statements[0]);
    }
    txn.commit().await.expect("commit");

    auditor.shutdown().await;
    let events = orm_common::verified_events(&store);
    let updates: Vec<_> = events.iter().filter(|e| e.resource.kind == "users" && e.action != "create").collect();
    assert_eq!(updates.len(), 3, "{updates:#?}");
    assert_eq!(orm_common::change(updates[0], "score"), Some((Some(json!(0)), Some(json!(7)))));
    assert_eq!(orm_common::change(updates[1], "score"), Some((Some(json!(7)), Some(json!(8)))));
    assert_eq!(orm_common::change(updates[1], "name"), Some((Some(json!("n")), Some(json!("m")))));
    // Its hook never comes: the stand-in records the old values it read.
    assert_eq!(updates[2].action, "bulk");
    assert!(updates[2].changes.iter().any(|c| c.field == "score" && c.old == Some(json!(8))), "{:?}", updates[2]);
    testdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_row_is_read_with_the_update_postgres() {
    the_old_row_is_read_with_the_update(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_old_row_is_read_with_the_update_sqlite() {
    the_old_row_is_read_with_the_update(Backend::Sqlite).await;
}

/// A key that SeaORM casts when it binds it (a PostgreSQL enum): the read compares it the same
/// way, so the update goes through and records its old value.
async fn a_key_with_a_cast_reads_its_old_row(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let label =
        labels::ActiveModel { mood: Set(Mood::Happy), note: Set("first".into()) }.insert(&h.db).await.expect("insert");
    let mut am = label.into_active_model();
    am.note = Set("second".into());
    am.update(&h.db).await.expect("autocommit update");
    let txn = h.db.begin().await.expect("begin");
    let row = labels::Entity::find_by_id(Mood::Happy).one(&txn).await.expect("read").expect("the row");
    let mut am = row.into_active_model();
    am.note = Set("third".into());
    am.update(&txn).await.expect("update in a transaction");
    txn.commit().await.expect("commit");
    let events = h.events();
    let notes: Vec<_> = events.iter().filter(|e| e.action == "update").map(|e| orm_common::change(e, "note")).collect();
    assert_eq!(
        notes,
        [Some((Some(json!("first")), Some(json!("second")))), Some((Some(json!("second")), Some(json!("third"))))]
    );
    h.finish().await;
}
on_all_backends!(a_key_with_a_cast_reads_its_old_row);

/// The read inside a PostgreSQL UPDATE locks the row as the UPDATE itself does (`FOR NO KEY
/// UPDATE`): it does not wait for a transaction that holds a foreign-key check's share lock on
/// it (inserting a child row), as `FOR UPDATE` would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_read_does_not_wait_for_foreign_key_checks_postgres() {
    let Some(testdb) = TestDb::open(Backend::Postgres, "old_row_fk_lock").await else { return };
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let sql = "CREATE TABLE user_notes (id SERIAL PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id))";
    h.conn.execute_unprepared(sql).await.expect("create user_notes");
    let other = h.testdb.connect().await;
    let child = other.begin().await.expect("begin");
    let sql = format!("INSERT INTO user_notes (user_id) VALUES ({})", row.id);
    child.execute_unprepared(&sql).await.expect("a child row, its transaction left open");

    let txn = h.db.begin().await.expect("begin");
    // Without a wait there is no timeout: 5 s only turns a wait for `child` into an error.
    txn.execute_unprepared("SET LOCAL lock_timeout = '5s'").await.expect("lock_timeout");
    let mut am = row.clone().into_active_model();
    am.score = Set(4);
    am.update(&txn).await.expect("the update does not wait for the child row's transaction");
    txn.commit().await.expect("commit");
    child.commit().await.expect("the child row's transaction");
    let events = h.events();
    assert_eq!(orm_common::change(&events[1], "score"), Some((Some(json!(0)), Some(json!(4)))));
    h.finish().await;
}
