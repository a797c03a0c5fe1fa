//! Direct delivery (no outbox): events are sealed after the commit, nothing on rollback, and
//! no outbox table is needed.

mod orm_common;

use audit_seaorm::orm::Delivery;
use orm_common::{Harness, TestDb, change, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Statement, TransactionTrait};
use serde_json::json;

async fn direct_delivery_seals_after_commit(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.direct()).await;
    assert!(matches!(h.db.delivery(), Delivery::Direct));
    let txn = h.db.begin().await.expect("begin");
    user("gone@example.com").insert(&txn).await.expect("insert");
    txn.rollback().await.expect("rollback");
    let txn = h.db.begin().await.expect("begin");
    user("kept@example.com").insert(&txn).await.expect("insert");
    txn.commit().await.expect("commit");
    let events = h.events();
    assert_eq!(events.len(), 1);
    assert_eq!(change(&events[0], "email"), Some((None, Some(json!("kept@example.com")))));
    let backend = h.conn.get_database_backend();
    let outbox = h.conn.query_one_raw(Statement::from_string(backend, "SELECT 1 FROM audit_seaorm_outbox")).await;
    assert!(outbox.is_err(), "direct mode creates no outbox table");
    h.finish().await;
}
on_all_backends!(direct_delivery_seals_after_commit);
