//! The hooks read a row's old values under a row lock inside a transaction, so nothing changes
//! the row between that read and the write (see `autocommit_old_row.rs` for the autocommit
//! connection). On PostgreSQL an update's read is part of the UPDATE itself (see
//! `old_row_in_update.rs`); a delete's is the hook's own, as everywhere.

mod orm_common;

use audit_seaorm::orm::{before_delete, before_save};
use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel, Set, Statement, TransactionTrait};
use serde_json::json;

/// The write the test announces with its `before_*` hook, then runs.
#[derive(Clone, Copy, PartialEq)]
enum Write {
    Update,
    Delete,
}

/// In a transaction: once the `before_*` hook has read the old row, another connection cannot
/// lock it (`FOR UPDATE NOWAIT` fails) until the transaction ends.
async fn a_transaction_reads_the_old_row_under_lock(backend: Backend, write: Write) {
    let Some(testdb) = TestDb::open(backend, "old_row_lock").await else { return };
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let quote = |name: &str| if backend == Backend::Postgres { format!("\"{name}\"") } else { format!("`{name}`") };
    let other = h.testdb.connect().await;
    let try_lock = Statement::from_string(
        other.get_database_backend(),
        format!("SELECT {} FROM {} WHERE {} = {} FOR UPDATE NOWAIT", quote("id"), quote("users"), quote("id"), row.id),
    );
    other.query_all_raw(try_lock.clone()).await.expect("nothing holds the row yet");

    let txn = h.db.begin().await.expect("begin");
    let mut am = row.clone().into_active_model();
    am.score = Set(3);
    let am = match write {
        Write::Update => before_save(am, &txn, false).await.expect("before_save reads the old row"),
        Write::Delete => before_delete(am, &txn).await.expect("before_delete reads the old row"),
    };
    let refused = other.query_all_raw(try_lock.clone()).await.expect_err("the transaction holds the row's lock");
    let message = refused.to_string().to_lowercase();
    assert!(message.contains("lock"), "{refused}");
    match write {
        Write::Update => drop(am.update(&txn).await.expect("the update")),
        Write::Delete => drop(am.delete(&txn).await.expect("the delete")),
    }
    txn.commit().await.expect("commit");
    other.query_all_raw(try_lock).await.expect("released at commit");

    let events = h.events();
    let (action, score) = match write {
        Write::Update => ("update", (Some(json!(0)), Some(json!(3)))),
        Write::Delete => ("delete", (Some(json!(0)), None)),
    };
    assert_eq!(events[1].action, action);
    assert_eq!(orm_common::change(&events[1], "score"), Some(score));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reads_the_deleted_row_under_lock_postgres() {
    a_transaction_reads_the_old_row_under_lock(Backend::Postgres, Write::Delete).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reads_the_old_row_under_lock_mysql() {
    a_transaction_reads_the_old_row_under_lock(Backend::MySql, Write::Update).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reads_the_deleted_row_under_lock_mysql() {
    a_transaction_reads_the_old_row_under_lock(Backend::MySql, Write::Delete).await;
}
