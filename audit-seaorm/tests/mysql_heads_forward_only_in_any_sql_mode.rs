//! MySQL/MariaDB: a chain head stays forward-only in a session whose `sql_mode` is not strict,
//! which any client may set for itself (`SET SESSION sql_mode = ''`, no privilege needed). There
//! an `UPDATE` that sets a head's `seq`, `hash` or `chain` to NULL is not refused by the NOT
//! NULL columns: the server stores the column's implicit default instead (0, `''`), after the
//! `BEFORE UPDATE` trigger ran with the NULL, which compares as neither smaller nor different.
//! So the application's role (`UPDATE` on `audit_chain_heads`) could move a head back to seq 0,
//! blank its hash or rename its chain to `''`. The triggers must refuse all of these.

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

/// Each statement's outcome: `Ok(rows affected)` or the error's text.
async fn attempts(db: &TestDb) -> (Vec<(&'static str, Result<u64, String>)>, bool, bool) {
    let store = Arc::new(db.migrated_store().await);
    for (chain, n) in [("default", 3), ("tenant-b", 2), ("tenant-c", 1)] {
        record(&store, chain, n).await;
    }
    let heads_before = store.chains().await.expect("chains");
    // One connection, so that the session's sql_mode holds for every statement.
    let conn = db.connect_one().await;
    conn.execute_unprepared("SET SESSION sql_mode = ''").await.expect("a lax sql_mode");
    let statements = [
        "UPDATE audit_chain_heads SET seq = NULL WHERE chain = 'default'",
        "UPDATE audit_chain_heads SET hash = NULL WHERE chain = 'tenant-b'",
        "UPDATE audit_chain_heads SET chain = NULL WHERE chain = 'tenant-c'",
        "UPDATE audit_chain_heads SET seq = seq + 1, hash = NULL WHERE chain = 'default'",
    ];
    let mut outcomes = Vec::new();
    for sql in statements {
        let outcome = conn.execute_unprepared(sql).await.map(|r| r.rows_affected()).map_err(|e| e.to_string());
        outcomes.push((sql, outcome));
    }
    let heads_kept = store.chains().await.ok() == Some(heads_before);
    let all_valid = store.verify_all().await.is_ok_and(|reports| reports.iter().all(|r| r.is_valid()));
    (outcomes, heads_kept, all_valid)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_heads_cannot_be_set_to_null_in_a_lax_sql_mode() {
    let Some(db) = TestDb::open(Backend::MySql, "my_heads_lax").await else { return };
    // Asserted after the database is dropped, so that a failure leaves nothing behind.
    let (outcomes, heads_kept, all_valid) = attempts(&db).await;
    db.cleanup().await;
    for (sql, outcome) in &outcomes {
        match outcome {
            Ok(rows) => panic!("the database accepted {sql:?} ({rows} rows affected)"),
            Err(e) => assert!(e.contains("may only move forward"), "{sql:?} failed, but not by the trigger: {e}"),
        }
    }
    assert!(heads_kept, "a chain head changed");
    assert!(all_valid, "a chain no longer verifies");
}
