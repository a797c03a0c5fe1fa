//! MySQL/MariaDB: "The total number of locks exceeds the lock table size" (error 1206) rolls the
//! whole transaction back, as a deadlock does (InnoDB marks the transaction for rollback on
//! `DB_LOCK_TABLE_FULL`). The audited transaction then refuses later statements (they would
//! run in autocommit) and its commit, so that nothing the server rolled back is recorded.
//!
//! Filling InnoDB's lock table takes locks on tens of thousands of pages on even the smallest
//! buffer pool, too much for a test: the error is raised with `SIGNAL … MYSQL_ERRNO = 1206`,
//! which the client sees exactly as the real one (the server itself does not roll back then;
//! the audited transaction's refusal rolls it back).

mod orm_common;

use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, TransactionTrait};

const LOCK_TABLE_FULL: &str = "SIGNAL SQLSTATE 'HY000' SET MYSQL_ERRNO = 1206, MESSAGE_TEXT = 'The total number of locks exceeds the lock table size'";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_full_lock_table_ends_the_transaction() {
    let Some(testdb) = TestDb::open(Backend::MySql, "lock_table_full").await else { return };
    let h = Harness::new(testdb).await;
    let txn = h.db.begin().await.expect("begin");
    user("a@x").insert(&txn).await.expect("insert");
    let error = txn.execute_unprepared(LOCK_TABLE_FULL).await.expect_err("error 1206");
    assert!(error.to_string().contains("1206"), "{error}");
    let refused = user("b@x").insert(&txn).await.expect_err("a statement after the rollback");
    assert!(refused.to_string().contains("rolled this transaction back"), "{refused}");
    let commit = txn.commit().await.expect_err("the commit of a rolled-back transaction");
    assert!(commit.to_string().contains("nothing was recorded"), "{commit}");
    assert_eq!(h.committed_emails().await, (vec![], vec![]), "rows and events");
    h.finish().await;
}
