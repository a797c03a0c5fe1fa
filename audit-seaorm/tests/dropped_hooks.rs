//! A hooked write whose statement ran but whose `after_*` hook never comes (its future was
//! dropped in between: on MySQL SeaORM reads the written row back first, a round trip a
//! client disconnect can cancel) is still recorded, by the `bulk` event that stood in for it.
//! These tests take the hook's steps by hand (`before_save`, the statement, no `after_save`).

mod orm_common;

use audit_seaorm::orm::before_save;
use orm_common::entities::{memberships, users};
use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Set, Statement, TransactionTrait};
use serde_json::json;
use std::time::Duration;

/// Autocommit: the read-back after the write (here a slow one: it names the table and binds
/// the key, as SeaORM's does) is cancelled; the stand-in is recorded when it is dropped.
async fn a_dropped_read_back_still_records_the_update(backend: Backend, sleep: &str) {
    let Some(testdb) = TestDb::open(backend, "dropped_read_back").await else { return };
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let mut am = row.clone().into_active_model();
    am.score = Set(7);

    let am = before_save(am, &h.db, false).await.expect("before_save");
    users::Entity::update(am).exec_without_returning(&h.db).await.expect("the UPDATE");
    let read_back = Statement::from_sql_and_values(h.conn.get_database_backend(), sleep, [row.id.into()]);
    let read_back = tokio::time::timeout(Duration::from_millis(200), h.db.query_all_raw(read_back)).await;
    assert!(read_back.is_err(), "the slow read-back was cancelled");

    h.auditor.shutdown().await; // waits for what was queued
    let events = h.events();
    assert_eq!(events.len(), 2, "{events:#?}");
    let bulk = &events[1];
    assert_eq!((bulk.action.as_str(), bulk.resource.id.clone()), ("bulk", row.id.to_string()));
    assert_eq!(bulk.details.get("verb"), Some(&json!("UPDATE")));
    assert_eq!(orm_common::change(bulk, "score"), Some((Some(json!(0)), None)), "the old value");
    h.testdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_read_back_still_records_the_update_postgres() {
    a_dropped_read_back_still_records_the_update(
        Backend::Postgres,
        r#"SELECT pg_sleep(5), "id" FROM "users" WHERE "users"."id" = $1"#,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_read_back_still_records_the_update_mysql() {
    a_dropped_read_back_still_records_the_update(
        Backend::MySql,
        "SELECT SLEEP(5), `id` FROM `users` WHERE `users`.`id` = ?",
    )
    .await;
}

/// In a transaction: an insert whose `after_save` never came is recorded at commit, in its
/// place, by its stand-in, with the values the model set (secrets redacted, ignored columns
/// left out) and the key, where the model sets it.
async fn an_insert_without_its_after_save_is_recorded_in_its_place(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let txn = h.db.begin().await.expect("begin");
    let mut lost = user("lost@x");
    lost.ssn = Set(Some("123-45-6789".into()));
    let am = before_save(lost, &txn, true).await.expect("before_save");
    users::Entity::insert(am).exec(&txn).await.expect("the INSERT");
    user("next@x").insert(&txn).await.expect("insert");
    let membership = memberships::ActiveModel { user_id: Set(7), org: Set("acme".into()), role: Set("admin".into()) };
    let am = before_save(membership, &txn, true).await.expect("before_save");
    memberships::Entity::insert(am).exec(&txn).await.expect("the INSERT");
    txn.commit().await.expect("commit");

    let events = h.events();
    let summary: Vec<(&str, Option<&serde_json::Value>)> =
        events.iter().map(|e| (e.action.as_str(), e.details.get("verb"))).collect();
    assert_eq!(
        summary,
        [("bulk", Some(&json!("INSERT"))), ("create", None), ("bulk", Some(&json!("INSERT")))],
        "{events:#?}"
    );
    let stand_in = &events[0];
    assert_eq!((stand_in.resource.kind.as_str(), stand_in.resource.id.as_str()), ("users", ""), "id not set");
    assert_eq!(orm_common::fields(stand_in), ["email", "name", "score", "ssn"], "what the model set, less updated_at");
    assert_eq!(orm_common::change(stand_in, "email"), Some((None, Some(json!("lost@x")))));
    let (_, ssn) = orm_common::change(stand_in, "ssn").expect("ssn");
    assert_ne!(ssn, Some(json!("123-45-6789")), "redacted");
    let stand_in = &events[2];
    assert_eq!((stand_in.resource.kind.as_str(), stand_in.resource.id.as_str()), ("memberships", r#"[7,"acme"]"#));
    assert_eq!(orm_common::change(stand_in, "role"), Some((None, Some(json!("admin")))));
    h.finish().await;
}
on_all_backends!(an_insert_without_its_after_save_is_recorded_in_its_place);

/// An `after_save` belongs to the newest announcement of its row: a no-op update of a row
/// (no statement) after an `update_without_returning` of it does not take, and drop, the
/// earlier write's stand-in.
async fn a_no_op_update_does_not_drop_an_earlier_writes_stand_in(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let txn = h.db.begin().await.expect("begin");
    let mut am = row.clone().into_active_model();
    am.score = Set(5);
    am.update_without_returning(&txn).await.expect("update");
    row.clone().into_active_model().update(&txn).await.expect("nothing to update");
    txn.commit().await.expect("commit");

    let events = h.events();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "bulk"], "{events:#?}");
    assert_eq!(orm_common::change(&events[1], "score"), Some((Some(json!(0)), None)));
    h.finish().await;
}
on_all_backends!(a_no_op_update_does_not_drop_an_earlier_writes_stand_in);

/// A delete whose old row `before_delete` did not find (the row appeared in between: no lock
/// holds a missing row) is still recorded when its statement deleted something: its stand-in
/// is kept, not taken for "nothing changed". The hooks' steps are taken by hand.
async fn a_delete_of_a_row_that_appeared_is_recorded(testdb: TestDb) {
    use audit_seaorm::orm::{after_delete, before_delete};
    let h = Harness::new(testdb).await;
    let row = users::ActiveModel { id: Set(99), ..user("late@x") };
    let am = before_delete(row.clone(), &h.db).await.expect("before_delete: no row yet");
    users::Entity::insert(row).exec(h.db.unaudited()).await.expect("the row appears");
    let deleted = users::Entity::delete(am.clone()).exec(&h.db).await.expect("the DELETE");
    assert_eq!(deleted.rows_affected, 1);
    after_delete(am, &h.db).await.expect("after_delete");

    let events = h.events();
    let summary: Vec<(&str, &str)> = events.iter().map(|e| (e.action.as_str(), e.resource.id.as_str())).collect();
    assert_eq!(summary, [("bulk", "99")], "{events:#?}");
    assert_eq!(events[0].details.get("verb"), Some(&json!("DELETE")));
    h.finish().await;
}
on_all_backends!(a_delete_of_a_row_that_appeared_is_recorded);

/// A statement of the same task that is not the write's read-back (another table), cancelled
/// while a hooked update waits for its `after_save`, does not record the update's stand-in:
/// the hook still comes, and the write is recorded once, by it.
async fn a_cancelled_sibling_statement_does_not_record_a_write_twice(backend: Backend, sleep: &str) {
    let Some(testdb) = TestDb::open(backend, "cancelled_sibling").await else { return };
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let mut am = row.clone().into_active_model();
    am.score = Set(7);

    let am = before_save(am, &h.db, false).await.expect("before_save");
    let updated = users::Entity::update(am).exec(&h.db).await.expect("the UPDATE");
    let sibling = tokio::time::timeout(Duration::from_millis(200), h.db.execute_unprepared(sleep)).await;
    assert!(sibling.is_err(), "the sibling statement was cancelled");
    audit_seaorm::orm::after_save::<users::ActiveModel, _>(updated, &h.db, false).await.expect("after_save");

    h.auditor.shutdown().await;
    let events = h.events();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "update"], "{events:#?}");
    h.testdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_sibling_statement_does_not_record_a_write_twice_postgres() {
    a_cancelled_sibling_statement_does_not_record_a_write_twice(Backend::Postgres, "SELECT pg_sleep(5)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_sibling_statement_does_not_record_a_write_twice_mysql() {
    a_cancelled_sibling_statement_does_not_record_a_write_twice(Backend::MySql, "SELECT SLEEP(5)").await;
}

/// An insert's stand-in is armed by any statement of its task that names its table (its key
/// may be generated, so the read-back cannot be told by it): a sibling read of that table,
/// cancelled, records it. The insert's `after_save` that still comes then records nothing
/// more: the write is in the trail once, as its stand-in with the values its model set
/// (before, it was recorded twice, `bulk` and `create`).
async fn a_cancelled_sibling_read_of_the_table_does_not_record_an_insert_twice(backend: Backend, sleep: &str) {
    use audit_seaorm::orm::{after_save, before_save};
    let Some(testdb) = TestDb::open(backend, "cancelled_sibling_insert").await else { return };
    let h = Harness::new(testdb).await;
    let am = before_save(user("a@x"), &h.db, true).await.expect("before_save");
    let inserted = users::Entity::insert(am).exec_with_returning(&h.db).await.expect("the INSERT");
    let sibling = tokio::time::timeout(Duration::from_millis(200), h.db.execute_unprepared(sleep)).await;
    assert!(sibling.is_err(), "the sibling statement was cancelled");
    after_save::<users::ActiveModel, _>(inserted, &h.db, true).await.expect("after_save");

    h.auditor.shutdown().await;
    let events = h.events();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["bulk"], "once: {events:#?}");
    assert_eq!(orm_common::change(&events[0], "email"), Some((None, Some(json!("a@x")))));
    h.testdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_sibling_read_of_the_table_does_not_record_an_insert_twice_postgres() {
    a_cancelled_sibling_read_of_the_table_does_not_record_an_insert_twice(
        Backend::Postgres,
        "SELECT pg_sleep(5) FROM users LIMIT 1",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_sibling_read_of_the_table_does_not_record_an_insert_twice_mysql() {
    a_cancelled_sibling_read_of_the_table_does_not_record_an_insert_twice(Backend::MySql, "SELECT SLEEP(5) FROM users")
        .await;
}

/// Directly on `AuditedDb`, an `update_without_returning` (whose `after_save` never comes) is
/// recorded by `flush` at shutdown rather than lost with the process.
async fn flush_records_an_autocommit_update_without_returning(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let mut am = row.clone().into_active_model();
    am.score = Set(3);
    am.update_without_returning(&h.db).await.expect("update");
    h.db.flush().await.expect("flush");

    h.auditor.shutdown().await;
    let events = h.events();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "bulk"], "{events:#?}");
    assert_eq!(orm_common::change(&events[1], "score"), Some((Some(json!(0)), None)));
    h.testdb.cleanup().await;
}
on_all_backends!(flush_records_an_autocommit_update_without_returning);

/// The same task writes a row again after an `update_without_returning` of it: the update's
/// `after_save` will not come, so its stand-in is recorded then, before the new write. It
/// waited for the expiry or `flush`, and the trail read `create`, `delete`, then the update of
/// the deleted row (a record's last change named an update after its deletion).
async fn a_held_stand_in_is_recorded_before_the_same_tasks_next_write_of_its_row(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let mut am = row.clone().into_active_model();
    am.score = Set(3);
    am.update_without_returning(&h.db).await.expect("update");
    sea_orm::ModelTrait::delete(row.clone(), &h.db).await.expect("delete");
    // Another row's write of the same task leaves nothing held behind either.
    let other = user("b@x").insert(&h.db).await.expect("insert");
    let mut am = other.into_active_model();
    am.score = Set(4);
    am.update_without_returning(&h.db).await.expect("update");
    h.db.flush().await.expect("flush");

    h.auditor.shutdown().await;
    let events = h.events();
    let actions: Vec<(&str, &str)> = events.iter().map(|e| (e.action.as_str(), e.resource.id.as_str())).collect();
    let (a, b) = (row.id.to_string(), (row.id + 1).to_string());
    assert_eq!(
        actions,
        [
            ("create", a.as_str()),
            ("bulk", a.as_str()),
            ("delete", a.as_str()),
            ("create", b.as_str()),
            ("bulk", b.as_str())
        ],
        "{events:#?}"
    );
    assert_eq!(orm_common::change(&events[1], "score"), Some((Some(json!(0)), None)));
    h.testdb.cleanup().await;
}
on_all_backends!(a_held_stand_in_is_recorded_before_the_same_tasks_next_write_of_its_row);

/// `flush` queues those stand-ins before it returns, waiting for room in a full queue: it
/// handed them to a task of its own and returned at once, and the `shutdown` that follows it
/// (as documented) refused them, the committed update's event lost without a word.
async fn flush_returns_once_the_stand_ins_are_queued(testdb: TestDb) {
    let conn = testdb.connect().await;
    orm_common::create_tables(&conn).await;
    let store = std::sync::Arc::new(orm_common::GatedStore::closed());
    let auditor = audit_core::Auditor::builder(store.clone()).queue_capacity(1).build();
    let db = audit_seaorm::orm::AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");
    conn.execute_unprepared("INSERT INTO users (email, name, score, updated_at) VALUES ('a@x', 'a', 0, 0)")
        .await
        .expect("a row, not audited");
    let row = users::Entity::find().one(&conn).await.expect("read").expect("the row");
    let mut am = row.into_active_model();
    am.score = Set(3);
    am.update_without_returning(&db).await.expect("update");

    // The writer waits at the gate with one event; a second fills the queue's one place.
    auditor.try_record_detached(audit_core::EventDraft::new("warm_up")).expect("queued");
    while !store.entered.load(std::sync::atomic::Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    auditor.try_record_detached(audit_core::EventDraft::new("filler")).expect("queued");
    let flushing = tokio::spawn({
        let db = db.clone();
        async move { db.flush().await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await; // a wait, not a measurement
    assert!(!flushing.is_finished(), "flush returned while the update's event waited for room in the queue");
    store.gate.add_permits(1_000);
    flushing.await.expect("the task").expect("flush");
    auditor.shutdown().await;
    let events = orm_common::verified_events(&store.inner);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["warm_up", "filler", "bulk"], "{events:#?}");
    assert_eq!(orm_common::change(&events[2], "score"), Some((Some(json!(0)), None)));
    testdb.cleanup().await;
}
on_all_backends!(flush_returns_once_the_stand_ins_are_queued);

/// Directly on `AuditedDb`, the stand-in of an `update_without_returning` (whose `after_save`
/// never comes) is recorded once it has waited the expiry (60 s; shortened here) at the
/// connection's next hooked write, without `flush`.
async fn an_autocommit_update_without_returning_is_recorded_after_the_expiry(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.held_stand_in_expiry(Duration::from_millis(50))).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let mut am = row.clone().into_active_model();
    am.score = Set(3);
    am.update_without_returning(&h.db).await.expect("update");
    // Longer than the expiry (a wait, not a measurement).
    tokio::time::sleep(Duration::from_millis(100)).await;
    user("b@x").insert(&h.db).await.expect("the next hooked write");

    recorded_once_by_its_stand_in(h).await;
}
on_all_backends!(an_autocommit_update_without_returning_is_recorded_after_the_expiry);

/// The trail both expiry tests (beside this) end with: the first insert, the update once as
/// its stand-in (`bulk`, with the old score), the second insert.
async fn recorded_once_by_its_stand_in(h: Harness) {
    h.auditor.shutdown().await;
    let events = h.events();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "bulk", "create"], "{events:#?}");
    assert_eq!(orm_common::change(&events[1], "score"), Some((Some(json!(0)), None)));
    h.testdb.cleanup().await;
}

/// A hook that comes after its stand-in was recorded at the expiry (its statement stalled for
/// longer, behind a lock say) records nothing more: the write is in the trail once, as its
/// stand-in (before: `bulk` and then `update`).
async fn a_hook_that_comes_after_the_expiry_does_not_record_the_write_twice(testdb: TestDb) {
    use audit_seaorm::orm::{after_save, before_save};
    let h = Harness::with(testdb, |b| b.held_stand_in_expiry(Duration::from_millis(50))).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let mut am = row.clone().into_active_model();
    am.score = Set(3);
    let am = before_save(am, &h.db, false).await.expect("before_save");
    let updated = users::Entity::update(am).exec(&h.db).await.expect("the UPDATE");
    // Longer than the expiry (a wait, not a measurement); the next hooked write records the
    // stand-in.
    tokio::time::sleep(Duration::from_millis(100)).await;
    user("b@x").insert(&h.db).await.expect("the next hooked write");
    after_save::<users::ActiveModel, _>(updated, &h.db, false).await.expect("the late after_save");

    recorded_once_by_its_stand_in(h).await;
}
on_all_backends!(a_hook_that_comes_after_the_expiry_does_not_record_the_write_twice);

/// `flush` after the auditor was shut down (the wrong order at shutdown) says so: the stand-in
/// of an `update_without_returning` it would have recorded is refused, an error, not lost
/// without a word.
async fn flush_after_shutdown_is_an_error(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let mut am = row.clone().into_active_model();
    am.score = Set(3);
    am.update_without_returning(&h.db).await.expect("update");
    h.auditor.shutdown().await;
    let error = h.db.flush().await.expect_err("flush after shutdown").to_string();
    assert!(error.contains("the audit event was not accepted"), "{error}");
    let actions: Vec<String> = h.events().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["create"], "the update's stand-in was not recorded");
    h.testdb.cleanup().await;
}
on_all_backends!(flush_after_shutdown_is_an_error);
