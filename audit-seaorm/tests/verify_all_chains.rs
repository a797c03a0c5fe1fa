//! `SqlStore::verify_all` verifies every chain, those whose head row was deleted behind the
//! store's back included (found by their events), and reports that one broken; `migrate`, run
//! at every start, passes over a chain whose head row is malformed instead of failing.

mod common;

use common::{Backend, TestDb};
use sea_orm::ConnectionTrait;

/// Switches off the triggers that keep chain-head rows moving forward only, as a database
/// superuser would.
async fn heads_unguarded(db: &TestDb, conn: &sea_orm::DatabaseConnection) {
    let off: &[&str] = match db.backend {
        Backend::Postgres => &["ALTER TABLE audit_chain_heads DISABLE TRIGGER USER"],
        Backend::MySql | Backend::Sqlite => {
            &["DROP TRIGGER audit_chain_heads_forward", "DROP TRIGGER audit_chain_heads_no_delete"]
        }
    };
    for statement in off {
        conn.execute_unprepared(statement).await.expect("switch the triggers off");
    }
}

async fn record(store: &std::sync::Arc<audit_seaorm::SqlStore>, chain: &str, n: usize) {
    let auditor = audit_core::Auditor::builder(store.clone()).chain(chain).build();
    for i in 0..n {
        auditor.record(audit_core::EventDraft::new("update").resource("doc", i.to_string())).await.expect("record");
    }
    auditor.shutdown().await;
}

async fn a_chain_without_its_head_row_is_verified_and_broken(db: &TestDb) {
    let store = std::sync::Arc::new(db.migrated_store().await);
    record(&store, "default", 3).await;
    record(&store, "tenant-b", 2).await;
    let conn = db.connect().await;
    heads_unguarded(db, &conn).await;
    conn.execute_unprepared("DELETE FROM audit_chain_heads WHERE chain = 'tenant-b'").await.expect("delete");

    let reports = store.verify_all().await.expect("verify all");
    let found: Vec<(&str, bool, u64)> =
        reports.iter().map(|r| (r.chain.as_str(), r.is_valid(), r.lines.verified)).collect();
    assert_eq!(found, [("default", true, 3), ("tenant-b", false, 2)], "{reports:?}");
    let problem = reports[1].head_problem.as_deref().unwrap_or_default();
    assert!(problem.contains("events up to seq 2 are stored but the chain head is at seq 0"), "{problem}");
}
on_all_backends!(a_chain_without_its_head_row_is_verified_and_broken);

async fn migrate_passes_over_a_malformed_head_row(db: &TestDb) {
    let store = std::sync::Arc::new(db.migrated_store().await);
    record(&store, "default", 3).await;
    record(&store, "tenant-b", 2).await;
    let conn = db.connect().await;
    heads_unguarded(db, &conn).await;
    let upper = "AB".repeat(32);
    conn.execute_unprepared(&format!("UPDATE audit_chain_heads SET hash = '{upper}' WHERE chain = 'tenant-b'"))
        .await
        .expect("malform the head row");
    conn.execute_unprepared("DELETE FROM audit_merkle_nodes").await.expect("so that migrate rebuilds them");

    store.migrate().await.expect("migrate passes over the malformed row");
    let report = store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    let report = store.verify_chain("tenant-b").await.expect("verify");
    assert!(!report.is_valid());
    assert!(report.head_problem.as_deref().unwrap_or_default().contains("malformed"), "{report:?}");
}
on_all_backends!(migrate_passes_over_a_malformed_head_row);
