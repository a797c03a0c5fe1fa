//! A handler that holds a transaction and awaits the `commit()` of a savepoint inside it, dropped
//! while that commit (its `RELEASE SAVEPOINT`) is in flight: the `RELEASE` finishes in a task of
//! its own, and the transaction, dropped next with the handler, must still be rolled back. It
//! panicked instead ("Fail to rollback transaction": sea-orm's drop found the connection locked
//! by the `RELEASE` and queued no `ROLLBACK`), and the pooled connection could go back to the
//! pool inside the transaction. Now: no panic, the transaction rolled back, nothing recorded
//! for it, and the pool's only connection back in autocommit. The same one level down, where
//! the enclosing transaction goes on: no panic, and the database and the trail agree.

mod orm_common;

use audit_seaorm::orm::AuditedDb;
use futures_util::FutureExt as _;
use orm_common::entities::users;
use orm_common::{Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait};
use std::future::Future;
use std::task::Poll;

/// Polls `fut` exactly once, then drops it: its output if it was done.
async fn poll_once_then_drop<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| match fut.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// The text of a panic's payload.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(not text)".into())
}

async fn a_handler_dropped_during_a_savepoint_commit_rolls_back(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let conn = h.testdb.connect_one().await;
    let db = AuditedDb::builder(conn.clone(), h.auditor.clone(), h.store.clone()).build();

    // Retried until the savepoint's commit is caught in flight (Pending on its first poll).
    let mut caught = None;
    for attempt in 1..=300 {
        let outer = db.begin().await.expect("begin");
        user(&format!("{attempt}-outer@x")).insert(&outer).await.expect("insert");
        let savepoint = outer.begin().await.expect("savepoint");
        user(&format!("{attempt}-inner@x")).insert(&savepoint).await.expect("insert");
        // The handler holds the transaction and awaits the savepoint's commit; dropped, it
        // drops the commit's future first, then the transaction.
        let handler = async move {
            let outer = outer;
            let released = savepoint.commit().await;
            (outer, released)
        };
        let polled = std::panic::AssertUnwindSafe(poll_once_then_drop(handler)).catch_unwind().await;
        match polled {
            Err(panic) => panic!("dropping the handler panicked: {}", panic_text(&*panic)),
            Ok(Some((outer, released))) => {
                // Not caught in flight: roll this attempt back.
                released.expect("release");
                outer.rollback().await.expect("rollback");
            }
            Ok(None) => {
                caught = Some(attempt);
                break;
            }
        }
    }
    let attempt = caught.expect("the savepoint's commit was never caught in flight: inconclusive");

    // The pool's only connection: its next statement is a transaction of its own (autocommit),
    // seen from another pool at once, and recorded once.
    user("after@x").insert(&db).await.expect("an autocommit insert on the same connection");
    let seen = users::Entity::find().filter(users::Column::Email.eq("after@x")).count(&h.conn).await;
    assert_eq!(seen.expect("count"), 1, "the insert after the drop is committed: the connection is in autocommit");
    for email in [format!("{attempt}-outer@x"), format!("{attempt}-inner@x")] {
        let left = users::Entity::find().filter(users::Column::Email.eq(email.as_str())).count(&h.conn).await;
        assert_eq!(left.expect("count"), 0, "{email}: the dropped transaction was rolled back");
    }

    db.flush().await.expect("flush");
    h.auditor.shutdown().await;
    let (rows, events) = h.committed_emails().await;
    assert_eq!(rows, ["after@x"], "only the insert after the drop is committed");
    assert_eq!(events, ["after@x"], "one event, for the insert after the drop; none for the dropped transaction");
    drop(db);
    drop(conn);
    h.testdb.cleanup().await;
}
on_all_backends!(a_handler_dropped_during_a_savepoint_commit_rolls_back);

/// The handler holds a savepoint and awaits the commit of a savepoint inside it; the
/// enclosing transaction goes on. The `RELEASE` may be over when the held savepoint is dropped
/// (sea-orm's drop then queues its rollback, as always) or not (its rollback waits in a task,
/// and the enclosing transaction refuses statements and its commit): either way no panic, and
/// the database and the trail agree.
async fn a_savepoint_dropped_during_a_release_inside_it(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let conn = h.testdb.connect_one().await;
    let db = AuditedDb::builder(conn.clone(), h.auditor.clone(), h.store.clone()).build();

    let mut caught = 0;
    let mut attempts = 0;
    while caught < 3 && attempts < 300 {
        attempts += 1;
        let outer = db.begin().await.expect("begin");
        user(&format!("{attempts}-1-outer@x")).insert(&outer).await.expect("insert");
        let middle = outer.begin().await.expect("savepoint");
        user(&format!("{attempts}-2-middle@x")).insert(&middle).await.expect("insert");
        let inner = middle.begin().await.expect("savepoint inside it");
        user(&format!("{attempts}-3-inner@x")).insert(&inner).await.expect("insert");
        let handler = async move {
            let middle = middle;
            let released = inner.commit().await;
            (middle, released)
        };
        let polled = std::panic::AssertUnwindSafe(poll_once_then_drop(handler)).catch_unwind().await;
        match polled {
            Err(panic) => panic!("dropping the handler panicked: {}", panic_text(&*panic)),
            Ok(Some((middle, released))) => {
                released.expect("release");
                middle.rollback().await.expect("rollback the savepoint");
                outer.rollback().await.expect("rollback");
            }
            Ok(None) => {
                caught += 1;
                let later = user(&format!("{attempts}-4-later@x")).insert(&outer).await;
                let committed = outer.commit().await;
                eprintln!(
                    "[{:?}] attempt {attempts}: insert after: {:?}, commit: {committed:?}",
                    h.testdb.backend,
                    later.map(|_| ())
                );
                let rows = users::Entity::find().filter(users::Column::Email.contains("-2-middle@x")).count(&h.conn);
                assert_eq!(rows.await.expect("count"), 0, "the dropped savepoint's rows are rolled back");
            }
        }
    }
    assert!(caught > 0, "the savepoint's commit was never caught in flight: inconclusive");

    user("after@x").insert(&db).await.expect("an autocommit insert on the same connection");
    let seen = users::Entity::find().filter(users::Column::Email.eq("after@x")).count(&h.conn).await;
    assert_eq!(seen.expect("count"), 1, "the insert after them is committed: the connection is in autocommit");
    db.flush().await.expect("flush");
    h.auditor.shutdown().await;
    let (rows, events) = h.committed_emails().await;
    eprintln!("[{:?}] rows {rows:?} events {events:?}", h.testdb.backend);
    assert!(rows.iter().any(|row| row == "after@x"), "{rows:?}");
    assert_eq!(rows, events, "every committed row has its event, and no event is for a row rolled back");
    drop(db);
    drop(conn);
    h.testdb.cleanup().await;
}
on_all_backends!(a_savepoint_dropped_during_a_release_inside_it);
