//! A savepoint's `commit()` future dropped after its `RELEASE SAVEPOINT` was sent, then the
//! enclosing transaction writes more and commits: what the database holds matches the trail
//! exactly (the savepoint's events were dropped with the future while MariaDB and SQLite kept
//! its rows; the `RELEASE` now finishes, as an outermost commit does).

mod orm_common;

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_seaorm::orm::AuditedDb;
use orm_common::entities::users;
use orm_common::{TestDb, change, create_tables, user, verified_events};
use sea_orm::{ActiveModelTrait, EntityTrait, TransactionTrait};
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

async fn rows_and_events(conn: &sea_orm::DatabaseConnection, store: &MemoryStore) -> (Vec<String>, Vec<String>) {
    let mut rows: Vec<String> =
        users::Entity::find().all(conn).await.expect("rows").into_iter().map(|u| u.email).collect();
    let mut events: Vec<String> = verified_events(store)
        .iter()
        .filter_map(|e| change(e, "email").and_then(|c| c.1))
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    rows.sort();
    events.sort();
    (rows, events)
}

/// Polls `fut` exactly once, then drops it. Returns whether it was done.
async fn poll_once_then_drop<F: Future>(fut: F) -> bool {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx).is_ready())).await
}

async fn savepoint_commit_dropped(testdb: &TestDb) {
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");

    // Retried until the savepoint's commit is caught in flight (Pending on its first poll).
    let mut caught = 0;
    let mut attempts = 0;
    while caught < 3 && attempts < 300 {
        attempts += 1;
        let outer = db.begin().await.expect("begin");
        user(&format!("{attempts}-1-outer-before")).insert(&outer).await.expect("insert");
        let inner = outer.begin().await.expect("savepoint");
        user(&format!("{attempts}-2-inner")).insert(&inner).await.expect("insert");
        let done = poll_once_then_drop(inner.commit()).await;
        if done {
            // Not caught in flight: roll this attempt back.
            outer.rollback().await.expect("rollback");
            continue;
        }
        caught += 1;
        let after = user(&format!("{attempts}-3-outer-after")).insert(&outer).await;
        eprintln!("[{:?}] attempt {attempts}: insert after: {:?}", testdb.backend, after.as_ref().map(|_| ()));
        let committed = outer.commit().await;
        eprintln!("[{:?}] attempt {attempts}: outer commit: {committed:?}", testdb.backend);
    }
    eprintln!("[{:?}] caught in flight {caught} times in {attempts} attempts", testdb.backend);
    assert!(caught > 0, "the savepoint's commit was never caught in flight: inconclusive");
    db.flush().await.expect("flush");
    auditor.shutdown().await;
    let (rows, events) = rows_and_events(&conn, &store).await;
    eprintln!("[{:?}] rows {rows:?} events {events:?}", testdb.backend);
    assert_eq!(
        rows, events,
        "the database and the trail disagree: rows written inside a savepoint whose commit() future was dropped \
         after RELEASE SAVEPOINT was sent are committed by the enclosing transaction, but their events were dropped"
    );
}

macro_rules! on_backends {
    ($name:ident) => {
        mod $name {
            use super::orm_common::{Backend, TestDb};
            use futures_util::FutureExt as _;
            async fn run(backend: Backend) {
                if let Some(db) = TestDb::open(backend, stringify!($name)).await {
                    let result = std::panic::AssertUnwindSafe(super::$name(&db)).catch_unwind().await;
                    db.cleanup().await;
                    if let Err(panic) = result {
                        std::panic::resume_unwind(panic);
                    }
                }
            }
            // PostgreSQL holds: the ROLLBACK TO SAVEPOINT queued by the drop fails (3B001), the
            // transaction is aborted and its commit refused, nothing committed, nothing recorded.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                run(Backend::MySql).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run(Backend::Sqlite).await;
            }
        }
    };
}

on_backends!(savepoint_commit_dropped);
