//! `MemoryStore` and `JsonlStore` answer `Query` as its docs say for any limit and any cursor,
//! as the SQL store does (audit-seaorm/tests/query_edges.rs).

use audit_core::store::{AuditStore, Cursor, JsonlStore, MemoryStore, Query};
use audit_core::{Auditor, EventDraft};
use std::sync::Arc;

async fn fill(store: Arc<dyn AuditStore>, n: usize) {
    let auditor = Auditor::builder(store).build();
    for i in 0..n {
        auditor.record(EventDraft::new(format!("a{i}"))).await.expect("record");
    }
    auditor.shutdown().await;
}

/// `Query::limit` has no upper bound: `limit(usize::MAX)` is every event (a `limit + 1` once
/// overflowed: a panic in debug builds, an empty page in release).
#[tokio::test]
async fn memory_store_with_the_largest_limit_returns_every_event() {
    let store = Arc::new(MemoryStore::new());
    fill(store.clone(), 3).await;
    let page = store.query(&Query::new().limit(usize::MAX)).await.expect("query");
    assert_eq!(page.events.len(), 3);
    assert!(page.next.is_none());
}

/// Same for JsonlStore (it ends in `Query::page` too).
#[tokio::test]
async fn jsonl_store_with_the_largest_limit_returns_every_event() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(JsonlStore::open(dir.path().join("t.jsonl")).expect("open"));
    fill(store.clone(), 3).await;
    let page = store.query(&Query::new().limit(usize::MAX)).await.expect("query");
    assert_eq!(page.events.len(), 3);
}

/// `Query::after` is a position in `(chain, seq)` order: every event of chain "default" is
/// after a cursor on chain "a" (JsonlStore once started at the cursor's seq whatever its chain).
#[tokio::test]
async fn jsonl_store_after_a_cursor_of_an_earlier_chain_skips_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = Arc::new(JsonlStore::open(dir.path().join("t.jsonl")).expect("open"));
    let memory = Arc::new(MemoryStore::new());
    fill(jsonl.clone(), 4).await;
    fill(memory.clone(), 4).await;
    let after = Some(Cursor { chain: "a".into(), seq: 2 });
    let from_memory = memory.query(&Query::new().after(after.clone())).await.expect("query");
    assert_eq!(from_memory.events.len(), 4, "MemoryStore: (\"default\", 1) is after (\"a\", 2)");
    let from_jsonl = jsonl.query(&Query::new().after(after)).await.expect("query");
    assert_eq!(
        from_jsonl.events.iter().map(|e| e.seq()).collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "JsonlStore must answer as MemoryStore does"
    );
}

/// A cursor at the largest seq (forged, or from a store whose chain is that long) has nothing
/// after it (JsonlStore once overflowed computing `cursor.seq + 1`).
#[tokio::test]
async fn jsonl_store_after_the_largest_seq_is_empty_not_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl = Arc::new(JsonlStore::open(dir.path().join("t.jsonl")).expect("open"));
    fill(jsonl.clone(), 2).await;
    let after = Some(Cursor { chain: "default".into(), seq: u64::MAX });
    let page = jsonl.query(&Query::new().after(after)).await.expect("query");
    assert!(page.events.is_empty());
}

/// `Query::request_id` finds the events of one request, exactly (not another id that contains
/// it or differs in case, nor events without one), in MemoryStore and JsonlStore alike.
#[tokio::test]
async fn request_id_finds_exactly_the_events_of_one_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let jsonl: Arc<dyn AuditStore> = Arc::new(JsonlStore::open(dir.path().join("t.jsonl")).expect("open"));
    let memory: Arc<dyn AuditStore> = Arc::new(MemoryStore::new());
    for store in [jsonl, memory] {
        let auditor = Auditor::builder(store.clone()).build();
        for (action, request_id) in [
            ("POST /users", Some("r-1")),
            ("create", Some("r-1")),
            ("other", Some("R-1")),
            ("none", None),
            ("longer", Some("r-10")),
        ] {
            let context = audit_core::Context { request_id: request_id.map(String::from), ..Default::default() };
            auditor.record(EventDraft::new(action).context(context)).await.expect("record");
        }
        auditor.shutdown().await;
        let seqs = |page: audit_core::store::QueryPage| page.events.iter().map(|e| e.event.seq).collect::<Vec<_>>();
        assert_eq!(seqs(store.query(&Query::new().request_id("r-1")).await.expect("query")), [1, 2]);
        assert_eq!(seqs(store.query(&Query::new().request_id("R-1")).await.expect("query")), [3]);
        assert_eq!(seqs(store.query(&Query::new().request_id("r-1").action("create")).await.expect("query")), [2]);
        assert_eq!(seqs(store.query(&Query::new().request_id("r-")).await.expect("query")), Vec::<u64>::new());
    }
}
