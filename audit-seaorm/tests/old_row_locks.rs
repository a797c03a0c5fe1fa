//! The hooks read a row's old values under a row lock inside a transaction, so nothing changes
//! the row between that read and the write (see `autocommit_old_row.rs` for the autocommit
//! connection).

mod orm_common;

use audit_seaorm::orm::before_save;
use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel, Set, Statement, TransactionTrait};

/// In a transaction: once `before_save` has read the old row, another connection cannot lock
/// it (`FOR UPDATE NOWAIT` fails) until the transaction ends.
async fn a_transaction_reads_the_old_row_under_lock(backend: Backend) {
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
    let am = before_save(am, &txn, false).await.expect("before_save reads the old row");
    let refused = other.query_all_raw(try_lock.clone()).await.expect_err("the transaction holds the row's lock");
    let message = refused.to_string().to_lowercase();
    assert!(message.contains("lock"), "{refused}");
    am.update(&txn).await.expect("the update");
    txn.commit().await.expect("commit");
    other.query_all_raw(try_lock).await.expect("released at commit");

    let events = h.events();
    assert_eq!(orm_common::change(&events[1], "score"), Some((Some(serde_json::json!(0)), Some(serde_json::json!(3)))));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reads_the_old_row_under_lock_postgres() {
    a_transaction_reads_the_old_row_under_lock(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_reads_the_old_row_under_lock_mysql() {
    a_transaction_reads_the_old_row_under_lock(Backend::MySql).await;
}
