//! SQLite: a chain head can be neither removed nor made unreadable by an `UPDATE` that keeps
//! its chain, seq and hash, which the forward-only trigger lets through:
//! - `UPDATE OR REPLACE … SET rowid = <another head's rowid>` replaces (deletes) that other
//!   chain's head row, firing no DELETE trigger (unless `recursive_triggers` is on);
//! - `SET seq = 'x'` (or a blob) stores a seq that is no number, which the `CHECK (seq >= 0)`
//!   lets through (SQLite orders text and blobs after every number) and no later number can
//!   move forward from: the chain's appends stop for good.

mod common;

use audit_core::{Actor, Auditor, EventDraft};
use audit_seaorm::SqlStore;
use common::{Backend, TestDb};
use sea_orm::ConnectionTrait;
use std::sync::Arc;

async fn record(store: &Arc<SqlStore>, chain: &str, n: usize) {
    let auditor = Auditor::builder(store.clone()).chain(chain).build();
    for i in 0..n {
        let draft = EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string());
        auditor.record(draft).await.expect("record");
    }
    auditor.shutdown().await;
}

#[tokio::test]
async fn sqlite_head_rows_cannot_be_replaced_or_unnumbered() {
    let Some(db) = TestDb::open(Backend::Sqlite, "sqlite_head_rowid").await else { return };
    let store = Arc::new(db.migrated_store().await);
    record(&store, "default", 3).await;
    record(&store, "tenant-b", 2).await;
    let heads_before = store.chains().await.expect("chains");
    let conn = db.connect().await;
    let other_rowid = "(SELECT rowid FROM audit_chain_heads WHERE chain = 'tenant-b')";
    for sql in [
        format!("UPDATE OR REPLACE audit_chain_heads SET rowid = {other_rowid} WHERE chain = 'default'"),
        format!("UPDATE audit_chain_heads SET rowid = {other_rowid} + 100 WHERE chain = 'default'"),
        "UPDATE audit_chain_heads SET seq = 'x' WHERE chain = 'default'".to_string(),
        "UPDATE audit_chain_heads SET seq = X'05' WHERE chain = 'tenant-b'".to_string(),
        "UPDATE audit_chain_heads SET seq = 3.5 WHERE chain = 'default'".to_string(),
    ] {
        match conn.execute_unprepared(&sql).await {
            Ok(result) => panic!("the database accepted {sql:?} ({} rows affected)", result.rows_affected()),
            Err(e) => assert!(e.to_string().contains("may only move forward"), "{sql:?} failed otherwise: {e}"),
        }
    }
    assert_eq!(store.chains().await.expect("chains"), heads_before, "a chain head changed");
    for report in store.verify_all().await.expect("verify all") {
        assert!(report.is_valid(), "{report}");
    }
    // A head still moves forward (as appends move it).
    let auditor = Auditor::builder(store.clone()).chain("tenant-b").build();
    assert_eq!(auditor.record(EventDraft::new("login")).await.expect("record").seq, 3);
    auditor.shutdown().await;
}
