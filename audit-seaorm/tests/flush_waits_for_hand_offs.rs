//! `AuditedDb::flush` then `Auditor::shutdown` loses nothing, also the event of a write directly
//! on the connection (autocommit) whose future was dropped while its hand-off waited for room in
//! a full audit queue: the hand-off goes on in a task of its own, and flush waits for it. It did
//! not: flush returned at once, the shutdown closed the queue, and the task's event was refused
//! and lost.

mod orm_common;

use audit_core::{Auditor, EventDraft};
use audit_seaorm::orm::AuditedDb;
use orm_common::entities::users;
use orm_common::{GatedStore, TestDb, user, verified_events};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn row_exists(conn: &DatabaseConnection, email: &str) -> bool {
    users::Entity::find().filter(users::Column::Email.eq(email)).count(conn).await.expect("count") == 1
}

async fn flush_waits_for_a_dropped_autocommit_hand_off(testdb: TestDb) {
    let admin = testdb.connect().await;
    orm_common::create_tables(&admin).await;
    let conn = testdb.connect_one().await;
    let store = Arc::new(GatedStore::closed());
    let auditor = Auditor::builder(store.clone()).queue_capacity(1).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).direct().build();

    // Hold the writer in an append, and fill the queue's one place.
    auditor.try_record_detached(EventDraft::new("warm_up")).expect("queued");
    while !store.entered.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    auditor.try_record_detached(EventDraft::new("filler")).expect("queued");

    // The insert commits (autocommit), then its hand-off waits for room. Its future is dropped
    // once it is past its last statement: the pool has only one connection, handed out in
    // turn, so a probe that gets it after the row is seen committed (twice: MySQL reads the
    // row back) gets it after every statement of the insert.
    let probe = || async {
        conn.execute_unprepared("SELECT 1").await.expect("probe");
    };
    {
        let mut insert = std::pin::pin!(user("late@x").insert(&db));
        let mut probes_after_commit = 0;
        while probes_after_commit < 2 {
            let seen = row_exists(&admin, "late@x").await;
            tokio::select! {
                biased;
                result = &mut insert => panic!("the insert cannot return while the queue is full: {result:?}"),
                () = probe() => {}
            }
            if seen {
                probes_after_commit += 1;
            }
        }
    } // dropped here, waiting for room

    // The application's shutdown: flush, then shut the auditor down; the store, slow until
    // then, catches up once the shutdown has begun.
    let shutdown = async {
        db.flush().await.expect("flush");
        auditor.shutdown().await;
    };
    tokio::join!(shutdown, async { store.gate.add_permits(1_000) });

    let events = verified_events(&store.inner);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    let late: Vec<_> = events
        .iter()
        .filter(|e| orm_common::change(e, "email").and_then(|(_, new)| new) == Some(serde_json::json!("late@x")))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(late, ["create"], "the committed insert's event, once (events: {actions:?})");
    assert_eq!(actions, ["warm_up", "filler", "create"], "nothing else");
    drop(db);
    drop(conn);
    testdb.cleanup().await;
}
on_all_backends!(flush_waits_for_a_dropped_autocommit_hand_off);
