//! Transaction control sent as SQL through the audited connection (`SAVEPOINT`, `ROLLBACK TO
//! SAVEPOINT`, `COMMIT`, `BEGIN`…) is refused before it runs, in every mode: it would end or
//! split the transaction whose events are kept until it commits (a `ROLLBACK TO SAVEPOINT`
//! would undo a write whose event is still sealed at commit; a `COMMIT` would make writes
//! durable whose events a later rollback drops). SeaORM's own `begin`, `commit` and
//! `rollback` are the way, and the trail and the database agree.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, TransactionTrait};

#[track_caller]
fn assert_refused(result: Result<sea_orm::ExecResult, sea_orm::DbErr>, sql: &str) {
    let error = result.expect_err(sql).to_string();
    assert!(error.contains("refused transaction control"), "{sql}: {error}");
    assert!(error.contains("begin(), commit() and rollback()"), "says what to do instead: {error}");
}

async fn transaction_control_sent_as_sql_is_refused(testdb: TestDb) {
    let h = Harness::new(testdb).await;

    let txn = h.db.begin().await.expect("begin");
    assert_refused(txn.execute_unprepared("SAVEPOINT a").await, "SAVEPOINT a");
    let row = user("a@x").insert(&txn).await.expect("insert");
    for sql in ["ROLLBACK TO SAVEPOINT a", "ROLLBACK", "COMMIT", "SELECT 1; COMMIT", "RELEASE SAVEPOINT a"] {
        assert_refused(txn.execute_unprepared(sql).await, sql);
    }
    // SeaORM's savepoint, rolled back: its write and its event go together.
    let nested = txn.begin().await.expect("savepoint");
    user("b@x").insert(&nested).await.expect("insert");
    nested.rollback().await.expect("rollback to the savepoint");
    txn.commit().await.expect("commit");

    // Through the pool too (a BEGIN would leave a pooled connection in a transaction).
    for sql in ["BEGIN", "START TRANSACTION", "COMMIT"] {
        assert_refused(h.db.execute_unprepared(sql).await, sql);
    }

    let stored: Vec<String> =
        users::Entity::find().all(&h.conn).await.expect("read").into_iter().map(|u| u.email).collect();
    assert_eq!(stored, ["a@x"], "only the write that was committed stands");
    let events = h.events();
    let recorded: Vec<(&str, &str)> = events.iter().map(|e| (e.action.as_str(), e.resource.id.as_str())).collect();
    assert_eq!(recorded, [("create", row.id.to_string().as_str())], "the trail agrees with the table");
    h.finish().await;
}
on_all_backends!(transaction_control_sent_as_sql_is_refused);

/// In strict mode too, with the same error (not strict mode's "bypasses the audit hooks").
async fn transaction_control_is_refused_in_strict_mode_too(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.strict()).await;
    let txn = h.db.begin().await.expect("begin");
    assert_refused(txn.execute_unprepared("SAVEPOINT a").await, "SAVEPOINT a");
    txn.rollback().await.expect("rollback");
    assert_refused(h.db.execute_unprepared("COMMIT").await, "COMMIT");
    assert!(h.events().is_empty());
    h.finish().await;
}
on_all_backends!(transaction_control_is_refused_in_strict_mode_too);
