//! JSON column values nested deeper than an audit event keeps (`MAX_VALUE_DEPTH`, which
//! verifiers read) do not stop the row from committing: the event records such a value as a
//! `"[TOO DEEP: <n> bytes, sha256:…]"` marker, or, in a column the auditor's redaction policy
//! hides, as the policy's marker. (PostgreSQL and SQLite; MariaDB's own JSON check refuses
//! values nested over 100 levels, and these are 61.)

mod orm_common;

use audit_core::store::MemoryStore;
use audit_core::{Auditor, RedactionPolicy};
use audit_seaorm::orm::AuditedDb;
use orm_common::{TestDb, change, verified_events};
use sea_orm::entity::prelude::*;
use sea_orm::{Schema, Set, TransactionTrait};
use serde_json::json;
use std::sync::Arc;

#[allow(unreachable_pub)] // the derives make public items
mod profiles {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "profiles")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub settings: Json,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

fn nested(levels: usize) -> serde_json::Value {
    (0..levels).fold(json!("bottom"), |inner, _| json!({ "k": inner }))
}

/// A row whose JSON column `settings` nests 61 levels: with an auditor whose redaction policy
/// names `settings` (the connection keeps its default policy), the row commits and its event
/// says `"new": "[REDACTED]"` (the auditor hides the column whole; the depth limit applies to
/// what is written). Without that policy, it commits and the event holds the TOO DEEP marker.
async fn a_deep_value_in_a_column_the_auditor_redacts_commits(testdb: TestDb) {
    let conn = testdb.connect().await;
    let schema = Schema::new(conn.get_database_backend());
    conn.execute(&schema.create_table_from_entity(profiles::Entity)).await.expect("create profiles");
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).redaction(RedactionPolicy::default().with_key("settings")).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");

    let txn = db.begin().await.expect("begin");
    profiles::ActiveModel { id: Set(1), settings: Set(nested(61)) }.insert(&txn).await.expect("insert");
    let committed = txn.commit().await;
    let count = profiles::Entity::find().count(&conn).await.expect("count");
    auditor.shutdown().await;
    let events = verified_events(&store);
    assert!(
        committed.is_ok(),
        "the row does not commit: {}",
        committed.err().map(|e| e.to_string()).unwrap_or_default()
    );
    assert_eq!(count, 1);
    assert_eq!(events.len(), 1);
    assert_eq!(change(&events[0], "settings"), Some((None, Some(json!("[REDACTED]")))));

    // Not hidden: recorded by its size and digest.
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");
    let txn = db.begin().await.expect("begin");
    profiles::ActiveModel { id: Set(2), settings: Set(nested(61)) }.insert(&txn).await.expect("insert");
    let committed = txn.commit().await.map_err(|e| e.to_string());
    auditor.shutdown().await;
    let events = verified_events(&store);
    testdb.cleanup().await;
    assert_eq!(committed, Ok(()));
    let recorded = change(&events[0], "settings").and_then(|(_, new)| new).expect("new value");
    let text = recorded.as_str().expect("a marker");
    assert!(text.starts_with("[TOO DEEP: ") && text.contains("bytes, sha256:"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_value_in_a_column_the_auditor_redacts_commits_postgres() {
    if let Some(db) = TestDb::open(orm_common::Backend::Postgres, "deep_json").await {
        a_deep_value_in_a_column_the_auditor_redacts_commits(db).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_value_in_a_column_the_auditor_redacts_commits_sqlite() {
    if let Some(db) = TestDb::open(orm_common::Backend::Sqlite, "deep_json").await {
        a_deep_value_in_a_column_the_auditor_redacts_commits(db).await;
    }
}
