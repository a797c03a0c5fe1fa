//! An append on a stale head is refused whole: `AppendError::Conflict` names the chain's actual
//! head, and neither the batch's events nor the Merkle subtree hash it would have completed are
//! written. (On PostgreSQL a batch of up to 64 events is appended by one statement whose
//! inserts are gated on the head's compare-and-set; elsewhere by a transaction.)

mod common;

use audit_core::store::{AppendError, AuditStore, Head, MemoryStore};
use audit_core::{Auditor, EventDraft, SealedEvent};
use common::{TestDb, read_all};
use sea_orm::ConnectionTrait;

/// 64 sealed events: the 64th completes the first block of 64 leaves (one stored subtree).
async fn events() -> Vec<SealedEvent> {
    let memory = std::sync::Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).build();
    for i in 0..64 {
        auditor.record(EventDraft::new("update").resource("users", i.to_string())).await.expect("record");
    }
    auditor.shutdown().await;
    memory.events("default")
}

async fn node_count(store: &audit_seaorm::SqlStore) -> i64 {
    let sql = "SELECT COUNT(*) FROM audit_merkle_nodes WHERE chain = 'default'";
    let row = store.connection().query_one_raw(sea_orm::Statement::from_string(store.backend(), sql)).await;
    row.expect("count").expect("a row").try_get_by_index(0).expect("a count")
}

async fn stale_heads_are_refused_whole(db: &TestDb) {
    let store = db.migrated_store().await;
    let events = events().await;
    let head_at = |seq: usize| Head::of(&events[seq - 1]);
    store.append("default", Head::EMPTY, &events[..1]).await.expect("first event");
    store.append("default", head_at(1), &events[1..63]).await.expect("up to seq 63");

    // Another writer's view from before seq 63: seq 63 and 64 on top of seq 62.
    match store.append("default", head_at(62), &events[62..64]).await {
        Err(AppendError::Conflict { expected, actual }) => {
            assert_eq!(expected, head_at(62));
            assert_eq!(actual, head_at(63), "the conflict names the actual head");
        }
        other => panic!("a stale head must be a conflict, got {other:?}"),
    }
    assert_eq!(store.head("default").await.expect("head"), head_at(63));
    assert_eq!(read_all(&store, "default").await.len(), 63, "no event of the refused batch written");
    assert_eq!(node_count(&store).await, 0, "no subtree hash of the refused batch written");

    // The right head: seq 64 completes the first block.
    assert_eq!(store.append("default", head_at(63), &events[63..64]).await.expect("seq 64"), head_at(64));
    assert_eq!(read_all(&store, "default").await.len(), 64);
    assert_eq!(node_count(&store).await, 1);
    assert!(store.verify_chain("default").await.expect("verify").is_valid());
}
on_all_backends!(stale_heads_are_refused_whole);
