//! With a tokenizing policy, an event the outbox's recovery reads back keeps one MAC per
//! value when the connection's policy is still the one that hid it (the outbox keeps the
//! policy's fingerprint): its key's token in `resource.id` equals the one in its change (the
//! auditor once MACed the recovered change's token again).

mod orm_common;

use audit_core::store::MemoryStore;
use audit_core::{Auditor, RedactionPolicy};
use audit_seaorm::orm::{AuditedDb, CrashPoint};
use orm_common::{Backend, TestDb, verified_events};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Schema, Set, TransactionTrait};
use serde_json::json;
use std::sync::Arc;

#[allow(unreachable_pub)]
mod cards {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cards")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pan: String,
        pub holder: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovered_events_key_token_equals_its_changes_token() {
    let testdb = TestDb::open(Backend::Sqlite, "recovered_tokens").await.expect("a SQLite file");
    let conn = testdb.connect().await;
    conn.execute(&Schema::new(conn.get_database_backend()).create_table_from_entity(cards::Entity))
        .await
        .expect("create cards");
    let policy = RedactionPolicy::default().with_key("pan").tokenize(b"hmac-key".to_vec());
    let store = Arc::new(MemoryStore::new());

    // The process "dies" right after COMMIT, before sealing: the event waits in the outbox.
    let auditor = Auditor::builder(store.clone()).redaction(policy.clone()).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");
    db.simulate_crash(Some(CrashPoint::AfterCommit));
    let card = "4111111111111111";
    let txn = db.begin().await.expect("begin");
    cards::ActiveModel { pan: Set(card.into()), holder: Set("alice".into()) }.insert(&txn).await.expect("insert");
    assert!(txn.commit().await.is_err(), "the simulated crash is reported");
    auditor.shutdown().await;

    // Restart with the same policy; recovery seals the event.
    let auditor = Auditor::builder(store.clone()).redaction(policy.clone()).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");
    db.recover_outbox().await.expect("recover");
    auditor.shutdown().await;

    let events = verified_events(&store);
    assert_eq!(events.len(), 1, "the recovered event");
    let change = events[0].changes.iter().find(|c| c.field == "pan").and_then(|c| c.new.clone());
    let token = policy.hide(&json!(card));
    let resource_id = events[0].resource.id.clone();
    testdb.cleanup().await;
    assert_eq!(
        change.as_ref().and_then(|v| v.as_str()),
        Some(resource_id.as_str()),
        "resource.id and the key column's change hold different tokens of one card number \
         (the single token is {token}; the change holds a token of the token)"
    );
}
