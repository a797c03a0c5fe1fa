//! U+0000 in an indexed field (an actor id taken from a login form, a resource id from a path)
//! is stored on every backend. PostgreSQL's `text` cannot hold it and refused the whole
//! append as a database error, which the writer retries: one such event held up its chain for
//! good, and every event behind it. Now the PostgreSQL columns hold it as U+0001; the line
//! keeps the exact value, the column check maps it the same way (and still finds an edited
//! column), and queries stay exact.

mod common;

use audit_core::store::{AppendError, AuditStore, Head, MemoryStore, Query};
use audit_core::{Actor, Auditor, Context, EventDraft};
use common::{Backend, TestDb, append_only_off, append_only_on};
use sea_orm::ConnectionTrait;
use std::sync::Arc;

/// Events with U+0000 in each indexed text field, and one whose actor id has U+0001 where
/// another's has U+0000.
fn drafts() -> Vec<EventDraft> {
    vec![
        EventDraft::new("login_failed").actor(Actor::user("ev\0il")),
        EventDraft::new("login_failed").actor(Actor::user("ev\u{1}il")),
        EventDraft::new("lo\0gin"),
        EventDraft::new("x").resource("us\0ers", "4\u{0}2"),
        EventDraft::new("x").context(Context { request_id: Some("r\0q".into()), ..Context::default() }),
        EventDraft::new("x").tag("t\0g"),
    ]
}

async fn stored_exactly_and_found(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    // As one batch straight to the store (PostgreSQL refused it) ...
    let memory = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).chain("batch").build();
    for draft in drafts() {
        auditor.record(draft).await.expect("record in memory");
    }
    auditor.shutdown().await;
    store.append("batch", Head::EMPTY, &memory.events("batch")).await.expect("append a batch with U+0000");

    // ... and through the writer (each `record` returns once its event is stored: it waited
    // forever on PostgreSQL).
    let auditor = Auditor::builder(store.clone()).build();
    for draft in drafts() {
        auditor.record(draft).await.expect("an event with U+0000 is recorded");
    }
    auditor.shutdown().await;
    for chain in ["default", "batch"] {
        let report = store.verify_chain(chain).await.expect("verify");
        assert!(report.is_valid(), "{chain}: {report:?}");
        assert_eq!(report.lines.verified, 6, "{chain}");
        assert!(report.column_mismatches.is_empty(), "{chain}: {:?}", report.column_mismatches);
    }

    // Queries compare exactly: U+0000 and U+0001 are different actors.
    let actors = |actor: &'static str| {
        let store = store.clone();
        async move {
            let page = store.query(&Query::new().chain("default").actor(actor)).await.expect("query");
            page.events.iter().map(|e| (e.event.seq, e.event.actor.id.clone())).collect::<Vec<_>>()
        }
    };
    assert_eq!(actors("ev\0il").await, [(1, "ev\0il".to_string())]);
    assert_eq!(actors("ev\u{1}il").await, [(2, "ev\u{1}il".to_string())]);
    let page =
        store.query(&Query::new().chain("default").resource("us\0ers", Some("4\u{0}2".into()))).await.expect("query");
    assert_eq!(page.events.iter().map(|e| e.event.seq).collect::<Vec<_>>(), [4]);

    // An edited column is still found.
    let conn = db.connect().await;
    append_only_off(db, &conn).await;
    conn.execute_unprepared("UPDATE audit_events SET actor_id = 'evil' WHERE chain = 'default' AND seq = 1")
        .await
        .expect("edit a column");
    append_only_on(db, &store, &conn).await;
    let report = store.verify_chain("default").await.expect("verify");
    let edited: Vec<_> = report.column_mismatches.iter().map(|m| (m.seq, m.column)).collect();
    assert_eq!(edited, [(1, "actor_id")], "{report:?}");
}
on_all_backends!(stored_exactly_and_found);

/// A chain name with U+0000 would share its head row on PostgreSQL with the name spelled with
/// U+0001 there: refused for good, not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_name_with_nul_is_rejected_on_postgres() {
    let Some(db) = TestDb::open(Backend::Postgres, "nul_chain").await else { return };
    let store = db.migrated_store().await;
    let memory = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).chain("a\0b").build();
    auditor.record(EventDraft::new("x")).await.expect("record in memory");
    auditor.shutdown().await;
    let result = store.append("a\0b", Head::EMPTY, &memory.events("a\0b")).await;
    db.cleanup().await;
    assert!(matches!(result, Err(AppendError::Rejected { .. })), "{result:?}");
}
