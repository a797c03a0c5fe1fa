//! MySQL/MariaDB: a lock wait timeout (error 1205) rolls back the statement only, unless the
//! server runs with `innodb_rollback_on_timeout`, which rolls back the whole transaction.
//! The audited connection asks the server which after such a timeout: here (the default, off)
//! the transaction goes on, and its commit records the writes that are committed, no more.
//! (With the option on, the transaction's commit is refused, as after a deadlock: the option is
//! read-only while the server runs, so `mysql_rollback_on_timeout.rs` runs that case on a
//! server of its own.)

mod orm_common;

use orm_common::entities::users;
use orm_common::{
    Backend, Harness, TestDb, change, hold_lock, is_lock_wait_timeout, rollback_on_timeout, stream_locking_read, user,
};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, TransactionTrait};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_lock_wait_timeout_rolls_back_the_statement_only() {
    let Some(testdb) = TestDb::open(Backend::MySql, "lock_wait_timeout").await else { return };
    let h = Harness::new(testdb).await;
    assert_eq!(rollback_on_timeout(&h).await, 0, "the server's default");
    let locked = user("locked@example.com").insert(&h.db).await.expect("insert");
    let holder = hold_lock(&h, locked.id).await; // another transaction holds the row's lock

    let txn = h.db.begin().await.expect("begin");
    txn.execute_unprepared("SET SESSION innodb_lock_wait_timeout = 1").await.expect("a short wait");
    user("before@example.com").insert(&txn).await.expect("insert before");
    let waited =
        users::ActiveModel { id: Set(locked.id), name: Set("changed".into()), ..Default::default() }.update(&txn).await;
    let error = waited.expect_err("the row is locked");
    assert!(is_lock_wait_timeout(&error), "{error}");
    user("after@example.com").insert(&txn).await.expect("insert after: the transaction goes on");
    txn.commit().await.expect("commit");
    holder.rollback().await.expect("release the lock");
    h.db.flush().await.expect("flush");
    h.auditor.shutdown().await;

    let (rows, events) = h.committed_emails().await;
    assert_eq!(rows, events, "every committed row has its event, no event for a row not committed");
    assert_eq!(rows.len(), 3);
    let recorded = h.events();
    assert!(recorded.iter().all(|e| e.action == "create"), "no update of the locked row: {recorded:#?}");
    assert!(recorded.iter().all(|e| change(e, "name") != Some((Some("n".into()), Some("changed".into())))));
    let stored = users::Entity::find_by_id(locked.id).one(&h.conn).await.expect("read").expect("the row");
    assert_eq!(stored.name, "n", "the update did not run");
    h.testdb.cleanup().await;
}

/// The same with the locking read streamed (the error comes as an item of the stream): the
/// transaction goes on, and its commit records what it wrote.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_streamed_locking_read_that_times_out_rolls_back_the_read_only() {
    let Some(testdb) = TestDb::open(Backend::MySql, "lock_wait_timeout_stream").await else { return };
    let h = Harness::new(testdb).await;
    let locked = user("locked@example.com").insert(&h.db).await.expect("insert");
    let holder = hold_lock(&h, locked.id).await;

    let txn = h.db.begin().await.expect("begin");
    txn.execute_unprepared("SET SESSION innodb_lock_wait_timeout = 1").await.expect("a short wait");
    user("before@example.com").insert(&txn).await.expect("insert before");
    let error = stream_locking_read(&txn, locked.id).await.expect_err("the row is locked");
    assert!(is_lock_wait_timeout(&error), "{error}");
    user("after@example.com").insert(&txn).await.expect("insert after: the transaction goes on");
    txn.commit().await.expect("commit");
    holder.rollback().await.expect("release the lock");
    h.db.flush().await.expect("flush");
    h.auditor.shutdown().await;

    let (rows, events) = h.committed_emails().await;
    assert_eq!(rows, events, "every committed row has its event, no event for a row not committed");
    assert_eq!(rows.len(), 3);
    h.testdb.cleanup().await;
}
