//! `SqlStore::connect_read_only` and `check_schema`: what an auditor's tool opens reads
//! everything and writes nothing, and says which audit table is missing without creating it;
//! `verify_chain_with_progress` reports progress and the verified chain's Merkle tree head.

mod common;

use audit_core::store::{AuditStore, Head};
use audit_core::verify::ChainVerifier;
use audit_core::{Actor, Auditor, EventDraft, SealedEvent, proof};
use audit_seaorm::{SqlStore, SqlStoreError};
use common::{Backend, TestDb};
use sea_orm::ConnectionTrait;
use std::sync::Arc;

async fn record(store: &Arc<SqlStore>, n: usize) {
    let auditor = Auditor::builder(store.clone()).build();
    for i in 0..n {
        auditor
            .record(EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string()))
            .await
            .expect("record");
    }
    auditor.shutdown().await;
}

async fn reads_everything_and_writes_nothing(db: &TestDb) {
    let writer = Arc::new(db.migrated_store().await);
    record(&writer, 3).await;

    let store = SqlStore::connect_read_only(&db.url()).await.expect("connect read only");
    store.check_schema().await.expect("the audit tables are there");
    let head = store.head("default").await.expect("head");
    assert_eq!(head.seq, 3);
    assert!(store.verify_chain("default").await.expect("verify").is_valid());

    // Neither a raw statement nor an append gets through.
    let insert = "INSERT INTO audit_chain_heads (chain, seq, hash) VALUES ('intruder', 0, \
                  '0000000000000000000000000000000000000000000000000000000000000000')";
    assert!(store.connection().execute_unprepared(insert).await.is_err(), "a read-only connection");
    // A valid first event of another chain: refused for being read only, not for its content
    // (the same append goes through the writable store below).
    let memory = Arc::new(audit_core::store::MemoryStore::new());
    let other = Auditor::builder(memory.clone()).chain("other").build();
    other.record(EventDraft::new("update").actor(Actor::user("mallory"))).await.expect("record");
    other.shutdown().await;
    let events: Vec<SealedEvent> = memory.events("other");
    assert!(store.append("other", Head::EMPTY, &events).await.is_err(), "an append through a read-only store");
    assert_eq!(writer.chains().await.expect("chains").len(), 1, "nothing was added");
    writer.append("other", Head::EMPTY, &events).await.expect("the same append through the writable store");
    assert_eq!(writer.chains().await.expect("chains").len(), 2);
}
on_all_backends!(reads_everything_and_writes_nothing);

async fn a_missing_table_is_named_and_not_created(db: &TestDb) {
    if db.backend == Backend::Sqlite {
        // An existing SQLite file without the audit tables.
        let conn = db.connect().await;
        conn.execute_unprepared("CREATE TABLE orders (id INTEGER PRIMARY KEY)").await.expect("create");
        conn.close().await.expect("close");
    }
    let store = SqlStore::connect_read_only(&db.url()).await.expect("connect read only");
    match store.check_schema().await {
        Err(SqlStoreError::Schema(message)) => assert!(message.contains("table audit_events is missing"), "{message}"),
        other => panic!("expected a schema error, got {other:?}"),
    }
    assert!(store.migrate().await.is_err(), "not even a migration gets through");
    let tables = db.store().await;
    assert!(tables.check_schema().await.is_err(), "still no audit tables");
}
on_all_backends!(a_missing_table_is_named_and_not_created);

async fn verification_reports_progress_and_the_tree_head(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await.with_read_page_size(2));
    record(&store, 5).await;
    let mut seen = Vec::new();
    let report = store
        .verify_chain_with_progress("default", ChainVerifier::from_genesis().with_tree(), |read| seen.push(read))
        .await
        .expect("verify");
    assert!(report.is_valid(), "{report}");
    assert_eq!(seen, [2, 4, 5], "after each page");
    let tree = report.tree.expect("with_tree keeps the tree");
    assert_eq!(tree, proof::tree_head(&*store, "default").await.expect("tree head"));
    assert_eq!(tree.size, 5);
    let plain = store.verify_chain("default").await.expect("verify");
    assert_eq!(plain.tree, None, "no tree unless asked for");
}
on_all_backends!(verification_reports_progress_and_the_tree_head);
