//! MySQL/MariaDB with `innodb_rollback_on_timeout` on: a lock wait timeout (error 1205) rolls
//! the whole transaction back, as a deadlock does. Whether the statement that timed out was an
//! ORM write or a streamed locking read, the audited transaction then refuses its commit and
//! records nothing: the writes before the timeout were rolled back with it.
//!
//! The option is read-only while a server runs, so these tests start a MariaDB server of their
//! own with it (`common/private_mariadb.rs`); `mysql_lock_wait_timeout.rs` covers the default.

mod orm_common;
#[path = "common/private_mariadb.rs"]
mod private_mariadb;

use orm_common::entities::users;
use orm_common::{
    Backend, Harness, TestDb, hold_lock, is_lock_wait_timeout, rollback_on_timeout, stream_locking_read, user,
};
use private_mariadb::PrivateMariaDb;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, Set, TransactionTrait};

/// A private server with the option on (kept alive as long as the first value), and an audited
/// connection on a fresh database of it; or `None` when skipped (outside CI).
async fn rolling_back_server(test: &str) -> Option<(PrivateMariaDb, Harness)> {
    let server = PrivateMariaDb::start(&["--innodb-rollback-on-timeout=ON"]).await?;
    let testdb = TestDb::open_on(Backend::MySql, &server.url, test).await?;
    let h = Harness::new(testdb).await;
    assert_eq!(rollback_on_timeout(&h).await, 1, "the option is on");
    Some((server, h))
}

/// What the rest of the transaction and its commit do after the timeout, and what is stored
/// and recorded in the end: the row locked, with its insert event, and nothing else.
async fn after_the_timeout(h: Harness, txn: audit_seaorm::orm::AuditedTransaction, holder: DatabaseTransaction) {
    let after = user("after@example.com").insert(&txn).await;
    let refused = after.expect_err("a statement after the rollback would run in autocommit");
    assert!(refused.to_string().contains("rolled this transaction back"), "{refused}");
    let commit = txn.commit().await.expect_err("the server rolled the transaction back");
    assert!(commit.to_string().contains("nothing was recorded"), "{commit}");
    holder.rollback().await.expect("release the lock");
    h.db.flush().await.expect("flush");
    h.auditor.shutdown().await;

    let (rows, events) = h.committed_emails().await;
    assert_eq!(rows, ["locked@example.com"], "the insert before the timeout was rolled back");
    assert_eq!(events, rows, "and it was not recorded");
    let stored = users::Entity::find().all(&h.conn).await.expect("read");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].name, "n", "the locked row is unchanged");
    assert!(h.events().iter().all(|e| e.action == "create"), "no update recorded");
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orm_update_that_times_out_rolls_back_and_records_nothing() {
    let Some((_server, h)) = rolling_back_server("rollback_on_timeout_orm").await else { return };
    let locked = user("locked@example.com").insert(&h.db).await.expect("insert");
    let holder = hold_lock(&h, locked.id).await;

    let txn = h.db.begin().await.expect("begin");
    txn.execute_unprepared("SET SESSION innodb_lock_wait_timeout = 1").await.expect("a short wait");
    user("before@example.com").insert(&txn).await.expect("insert before");
    let waited =
        users::ActiveModel { id: Set(locked.id), name: Set("changed".into()), ..Default::default() }.update(&txn).await;
    let error = waited.expect_err("the row is locked");
    assert!(is_lock_wait_timeout(&error), "{error}");
    after_the_timeout(h, txn, holder).await;
}

/// The timeout arrives as an item of the stream, when the server's answer comes: the option
/// must have been read before the stream took the connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_locking_read_that_times_out_rolls_back_and_records_nothing() {
    let Some((_server, h)) = rolling_back_server("rollback_on_timeout_stream").await else { return };
    let locked = user("locked@example.com").insert(&h.db).await.expect("insert");
    let holder = hold_lock(&h, locked.id).await;

    let txn = h.db.begin().await.expect("begin");
    txn.execute_unprepared("SET SESSION innodb_lock_wait_timeout = 1").await.expect("a short wait");
    user("before@example.com").insert(&txn).await.expect("insert before");
    let error = stream_locking_read(&txn, locked.id).await.expect_err("the row is locked");
    assert!(is_lock_wait_timeout(&error), "{error}");
    after_the_timeout(h, txn, holder).await;
}

/// How a test's statement meets the locked row.
#[derive(Clone, Copy)]
enum Waiting {
    /// An ORM update of it.
    OrmUpdate,
    /// A streamed locking read of it.
    StreamedRead,
}

/// `how` meets row `id`, locked by another transaction, in `txn`: a lock wait timeout.
async fn times_out(txn: &audit_seaorm::orm::AuditedTransaction, id: i32, how: Waiting) {
    let error = match how {
        Waiting::OrmUpdate => users::ActiveModel { id: Set(id), name: Set("changed".into()), ..Default::default() }
            .update(txn)
            .await
            .map(|_| ()),
        Waiting::StreamedRead => stream_locking_read(txn, id).await.map(|_| ()),
    };
    let error = error.expect_err("the row is locked");
    assert!(is_lock_wait_timeout(&error), "{error}");
}

/// The server is restarted with the option on while the application runs, after the hooks
/// met a timeout with it off: the setting is asked again, not remembered, so the timeout after
/// the restart still ends the transaction and records nothing (taken for off, the writes the
/// server rolled back would have been recorded, and the statements after it run in
/// autocommit).
async fn the_option_turned_on_by_a_restart_is_asked_again(test: &str, how: Waiting) {
    let Some(mut server) = PrivateMariaDb::start(&[]).await else { return };
    let Some(testdb) = TestDb::open_on(Backend::MySql, &server.url, test).await else { return };
    let h = Harness::new(testdb).await;
    assert_eq!(rollback_on_timeout(&h).await, 0, "the option is off");
    let locked = user("locked@example.com").insert(&h.db).await.expect("insert");

    // A timeout with the option off: the statement alone fails; the transaction goes on.
    let holder = hold_lock(&h, locked.id).await;
    let txn = h.db.begin().await.expect("begin");
    txn.execute_unprepared("SET SESSION innodb_lock_wait_timeout = 1").await.expect("a short wait");
    times_out(&txn, locked.id, how).await;
    txn.rollback().await.expect("the transaction was still open");
    holder.rollback().await.expect("release the lock");

    server.restart(&["--innodb-rollback-on-timeout=ON"]).await.expect("restart the server with the option on");
    assert_eq!(rollback_on_timeout(&h).await, 1, "the option is on after the restart");

    let holder = hold_lock(&h, locked.id).await;
    let txn = h.db.begin().await.expect("begin after the restart");
    txn.execute_unprepared("SET SESSION innodb_lock_wait_timeout = 1").await.expect("a short wait");
    user("before@example.com").insert(&txn).await.expect("insert before");
    times_out(&txn, locked.id, how).await;
    after_the_timeout(h, txn, holder).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_option_turned_on_by_a_restart_is_asked_again_for_an_orm_update() {
    the_option_turned_on_by_a_restart_is_asked_again("rollback_on_timeout_restart", Waiting::OrmUpdate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_option_turned_on_by_a_restart_is_asked_again_for_a_streamed_read() {
    the_option_turned_on_by_a_restart_is_asked_again("rollback_on_timeout_restart_stream", Waiting::StreamedRead).await;
}
