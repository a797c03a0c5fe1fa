//! A commit whose future is dropped while its `COMMIT` is in flight on the server (a client
//! gone, a timeout around the handler, a graceful shutdown's deadline, with a slow commit:
//! deferred constraint triggers, synchronous replication) loses none of its events: the
//! server completes the COMMIT, and the commit and the hand-off go on in a task of their own
//! that the drop does not stop (the events were dropped with the future); `AuditedDb::flush`
//! at shutdown waits for that task (the auditor closed first, and the hand-off met a closed
//! auditor).
//!
//! Deterministic: a deferred constraint trigger on `users` takes a PostgreSQL advisory lock
//! that the test holds, so `COMMIT` blocks inside the server; the test waits until the
//! server shows the lock wait (pg_locks), drops the commit future, then releases the lock so
//! the server finishes the COMMIT.

mod orm_common;

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_seaorm::orm::AuditedDb;
use orm_common::entities::users;
use orm_common::{Backend, TestDb, create_tables, user, verified_events};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, PaginatorTrait, Statement,
    TransactionTrait,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// An audited insert whose commit future was dropped while its `COMMIT` waits, in the
/// server, for the advisory lock `holder` keeps.
struct HeldCommit {
    conn: DatabaseConnection,
    store: Arc<MemoryStore>,
    auditor: Auditor,
    db: AuditedDb,
    holder: DatabaseTransaction,
}

/// `lock` tells the tests of one run apart (they run at once, in one process).
async fn hold_a_dropped_commit(testdb: &TestDb, lock: i64) -> HeldCommit {
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    // A unique advisory lock key per test and run.
    let key: i64 = lock * 1_000_000_000 + i64::from(std::process::id() % 1_000_000);
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

    // Hold the lock the COMMIT will wait for, in a transaction of another connection.
    let holder = testdb.connect().await.begin().await.expect("begin the holder");
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
        // The server is executing COMMIT (its deferred trigger waits for the lock): the
        // request is cancelled here, and the commit future dropped.
        () = waiting => {}
    }
    HeldCommit { conn, store, auditor, db, holder }
}

/// Waits until the server has finished the held COMMIT: the row is there.
async fn committed(conn: &DatabaseConnection) {
    let mut committed = 0;
    for _ in 0..3000 {
        committed = users::Entity::find().count(conn).await.expect("count");
        if committed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(committed, 1, "the transaction committed");
}

async fn a_dropped_commit_loses_no_event(testdb: &TestDb) {
    let HeldCommit { conn, store, auditor, db, holder } = hold_a_dropped_commit(testdb, 1).await;
    holder.commit().await.expect("release the lock");
    committed(&conn).await;
    // The commit's task hands the events off once the server's reply arrives.
    for _ in 0..1000 {
        if !store.events("default").is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    db.flush().await.expect("flush");
    auditor.shutdown().await;
    let events = verified_events(&store);
    assert_eq!(events.len(), 1, "the committed insert has its event in the trail");
}

async fn flush_and_shutdown_wait_for_a_dropped_commit(testdb: &TestDb) {
    let HeldCommit { conn, store, auditor, db, holder } = hold_a_dropped_commit(testdb, 2).await;
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
    committed(&conn).await;
    // The auditor is shut down: its store is final.
    assert_eq!(store.events("default").len(), 1, "a change committed before shutdown has its event");
}

/// Runs `test` on a PostgreSQL test schema, dropped even if the test panics.
async fn on_postgres<F, Fut>(name: &str, test: F)
where
    F: FnOnce(Arc<TestDb>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(testdb) = TestDb::open(Backend::Postgres, name).await else { return };
    let testdb = Arc::new(testdb);
    let outcome = tokio::spawn(test(testdb.clone())).await;
    if let Ok(testdb) = Arc::try_unwrap(testdb) {
        testdb.cleanup().await;
    }
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_dropped_while_commit_is_in_flight_loses_no_event_postgres() {
    on_postgres("commit_in_flight", |db| async move { a_dropped_commit_loses_no_event(&db).await }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_and_shutdown_wait_for_a_commit_still_in_its_task_postgres() {
    on_postgres("flush_waits", |db| async move { flush_and_shutdown_wait_for_a_dropped_commit(&db).await }).await;
}
