//! An event whose id the store already has (given with `EventDraft::with_id`, as replays and
//! outboxes do) is refused for good, `RecordError::Rejected`, instead of being retried forever
//! with every later event waiting behind it; the rest of its batch is written. Both append
//! paths: an existing chain (on PostgreSQL one statement) and a new one (a transaction).

mod common;

use audit_core::{Auditor, EventDraft, RecordError, RetryPolicy};
use common::TestDb;
use std::sync::Arc;
use std::time::Duration;

async fn an_id_already_stored_is_refused_and_the_writer_carries_on(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let retry = RetryPolicy { initial: Duration::from_millis(1), max: Duration::from_millis(20) };
    let auditor = Auditor::builder(store.clone()).retry(retry).build();
    let id = uuid::Uuid::now_v7();
    auditor.record(EventDraft::new("first").with_id(id)).await.expect("first");

    let replay = auditor.record_buffered(EventDraft::new("replay").with_id(id)).await.expect("queued");
    let fresh = auditor.record_buffered(EventDraft::new("fresh")).await.expect("queued");
    let refused = replay.await.expect_err("the store has this id");
    assert!(matches!(&refused, RecordError::Rejected(reason) if reason.contains("already stored")), "{refused}");
    assert_eq!(fresh.await.expect("written").seq, 2);

    // A new chain: the id is taken in the whole table.
    let other = Auditor::builder(store.clone()).chain("other").retry(retry).build();
    let refused = other.record(EventDraft::new("elsewhere").with_id(id)).await.expect_err("taken");
    assert!(matches!(refused, RecordError::Rejected(_)), "{refused}");
    assert_eq!(other.record(EventDraft::new("next")).await.expect("the writer carries on").seq, 1);

    auditor.shutdown().await;
    other.shutdown().await;
    assert_eq!(auditor.stats().rejected + other.stats().rejected, 2);
    for chain in ["default", "other"] {
        let report = store.verify_chain(chain).await.expect("verify");
        assert!(report.is_valid(), "{report}");
    }
    assert_eq!(store.verify_chain("default").await.expect("verify").to_string(), "valid: 2 events");
}
on_all_backends!(an_id_already_stored_is_refused_and_the_writer_carries_on);
