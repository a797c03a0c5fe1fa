//! U+0000 in an indexed field (an actor id taken from a login form, a resource id from a path)
//! is stored on every backend. PostgreSQL's `text` cannot hold it and refused the whole
//! append as a database error, which the writer retries: one such event held up its chain for
//! good, and every event behind it. Now the PostgreSQL columns hold it as U+0001; the line
//! keeps the exact value, the column check maps it the same way (and still finds an edited
//! column), queries and the `repeated_failures` report stay exact, and a chain name with U+0000
//! (refused there) names no other chain when read.

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

/// Ids that differ only in U+0000 and U+0001 share a PostgreSQL column value; the
/// `repeated_failures` report, which counts by column, counts them apart again from the lines:
/// three failures each are two actors under a threshold of five, not one actor with six.
async fn failures_of_ids_differing_in_nul_are_counted_apart(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    for _ in 0..3 {
        for actor in ["mallory\0", "mallory\u{1}"] {
            let draft = EventDraft::new("login").actor(Actor::user(actor)).outcome(audit_core::Outcome::Failure);
            auditor.record(draft).await.expect("record");
        }
    }
    auditor.shutdown().await;
    let five = store.repeated_failures(5, &audit_seaorm::ReportFilter::new()).await.expect("report");
    let all = store.repeated_failures(1, &audit_seaorm::ReportFilter::new()).await.expect("report");
    assert!(five.is_empty(), "{five:?}");
    let actors: Vec<(String, u64)> = all.into_iter().map(|s| (s.actor_id, s.failures)).collect();
    assert_eq!(actors, [("mallory\0".to_string(), 3), ("mallory\u{1}".to_string(), 3)]);
}
on_all_backends!(failures_of_ids_differing_in_nul_are_counted_apart);

/// A chain name with U+0000 names no chain on PostgreSQL (none can be stored): reads of it
/// answer for no other chain. They bound it like other text, as U+0001, and `head("a\0b")`
/// returned the head of chain `a\u{1}b`, `verify_chain` vouched for its events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_reads_of_a_chain_name_with_nul_answer_for_no_other_chain() {
    let Some(db) = TestDb::open(Backend::Postgres, "nul_chain_read").await else { return };
    let store = db.migrated_store().await;
    let memory = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).chain("a\u{1}b").build();
    auditor.record(EventDraft::new("x")).await.expect("record");
    auditor.record(EventDraft::new("y")).await.expect("record");
    auditor.shutdown().await;
    store.append("a\u{1}b", Head::EMPTY, &memory.events("a\u{1}b")).await.expect("append");
    let head = store.head("a\0b").await.expect("head");
    let report = store.verify_chain("a\0b").await.expect("verify");
    let page = store.query(&Query::new().chain("a\0b")).await.expect("query");
    db.cleanup().await;
    assert_eq!(head, Head::EMPTY);
    assert_eq!(report.lines.verified, 0, "{report:?}");
    assert!(page.events.is_empty());
}
