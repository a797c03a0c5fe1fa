//! `AuditedDb::flush` (at shutdown, once the application has stopped writing; then
//! `Auditor::shutdown`) waits for a commit still running in its task because its caller was
//! cancelled (a graceful shutdown's deadline): the change committed afterwards has its event
//! (the auditor closed first, and the task's hand-off met a closed auditor).
//!
//! Deterministic: as in `commit_in_flight.rs`, a deferred trigger holds the COMMIT on an
//! advisory lock the test holds.

mod orm_common;

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_seaorm::orm::AuditedDb;
use orm_common::entities::users;
use orm_common::{Backend, TestDb, create_tables, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, Statement, TransactionTrait};
use std::sync::Arc;
use std::time::Duration;

async fn run(testdb: &TestDb) {
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    let key: i64 = 910_000_000 + i64::from(std::process::id() % 1_000_000);
    conn.execute_unprepared(&format!(
        "CREATE FUNCTION block_commit() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN PERFORM pg_advisory_xact_lock({key}); RETURN NULL; END $$"
    ))
    .await
    .expect("create the trigger function");
    conn.execute_unprepared(
        "CREATE CONSTRAINT TRIGGER block_commit AFTER INSERT ON users DEFERRABLE INITIALLY DEFERRED \
         FOR EACH ROW EXECUTE FUNCTION block_commit()",
    )
    .await
    .expect("create the deferred trigger");

    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    let db = AuditedDb::direct(conn.clone(), auditor.clone());

    let holder_conn = testdb.connect().await;
    let holder = holder_conn.begin().await.expect("begin the holder");
    holder
        .execute_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT pg_advisory_xact_lock({key})::text"),
        ))
        .await
        .expect("take the advisory lock");

    let txn = db.begin().await.expect("begin");
    user("in-flight@example.com").insert(&txn).await.expect("insert");
    let waiting = async {
        loop {
            let sql =
                format!("SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = {key}");
            let row = conn
                .query_one_raw(Statement::from_string(sea_orm::DbBackend::Postgres, sql))
                .await
                .expect("read pg_locks")
                .expect("a row");
            let n: i64 = row.try_get_by_index(0).expect("a count");
            if n > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    tokio::select! {
        result = txn.commit() => panic!("the COMMIT cannot finish while its trigger waits: {result:?}"),
        () = waiting => {} // the request is cancelled: the commit future is dropped
    }

    // Graceful shutdown: the application has stopped writing; the documented sequence. The
    // flush waits for the commit still running in its task (its COMMIT cannot finish while
    // the lock is held).
    let flushing = db.flush();
    tokio::pin!(flushing);
    tokio::select! {
        biased;
        result = &mut flushing => panic!("flush returned while a commit was still running: {result:?}"),
        () = tokio::task::yield_now() => {}
    }
    // The server completes the COMMIT it was running; the flush then returns.
    holder.commit().await.expect("release the lock");
    flushing.await.expect("flush");
    auditor.shutdown().await;
    let mut committed = 0;
    for _ in 0..3000 {
        committed = users::Entity::find().count(&conn).await.expect("count");
        if committed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(committed, 1, "the transaction committed");
    // The auditor is shut down: its store is final.
    assert_eq!(store.events("default").len(), 1, "a change committed before shutdown has its event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_and_shutdown_wait_for_a_commit_still_in_its_task_postgres() {
    let Some(testdb) = TestDb::open(Backend::Postgres, "flush_waits").await else { return };
    let testdb = Arc::new(testdb);
    let outcome = tokio::spawn({
        let testdb = testdb.clone();
        async move { run(&testdb).await }
    })
    .await;
    if let Ok(testdb) = Arc::try_unwrap(testdb) {
        testdb.cleanup().await;
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}
