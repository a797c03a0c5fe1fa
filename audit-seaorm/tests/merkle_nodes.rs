//! The Merkle subtree hashes the SQL store keeps (`audit_merkle_nodes`): every append stores
//! the subtrees of 64+ leaves it completes, whatever the batch boundaries; they equal the
//! in-memory tree's; proofs built from them equal the reference proofs and verify; `migrate`
//! rebuilds them when they are missing.

mod common;

use audit_core::proof::{consistency_proof, inclusion_proof, tree_head};
use audit_core::store::{AuditStore, MemoryStore};
use audit_core::{Auditor, EventDraft, SealedEvent};
use common::TestDb;
use sea_orm::ConnectionTrait;

const EVENTS: usize = 700;
/// Batch sizes that cross block boundaries in every way: ends just before, at and after one.
const BATCHES: [usize; 9] = [1, 62, 1, 64, 100, 3, 130, 200, 139];

/// The reference: the same events in a `MemoryStore` (which keeps every subtree).
async fn reference() -> (MemoryStore, Vec<SealedEvent>) {
    let memory = std::sync::Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).build();
    for i in 0..EVENTS {
        auditor.record(EventDraft::new("update").resource("users", i.to_string())).await.expect("record");
    }
    auditor.shutdown().await;
    let events = memory.events("default");
    assert_eq!(events.len(), EVENTS);
    let copy = MemoryStore::new();
    copy.append("default", audit_core::store::Head::EMPTY, &events).await.expect("copy");
    (copy, events)
}

/// How many nodes of 64+ leaves a tree of `size` leaves has.
fn stored_count(size: u64) -> u64 {
    (6..64).map(|level| size >> level).sum()
}

async fn count_nodes(store: &audit_seaorm::SqlStore) -> u64 {
    let row = store
        .connection()
        .query_one_raw(sea_orm::Statement::from_string(
            store.backend(),
            "SELECT COUNT(*) FROM audit_merkle_nodes WHERE chain = 'default'",
        ))
        .await
        .expect("count")
        .expect("a row");
    let count: i64 = row.try_get_by_index(0).expect("a count");
    u64::try_from(count).expect("non-negative")
}

/// Asks both stores for every stored-level node and a few lower ones, and compares.
async fn assert_nodes_match(store: &dyn AuditStore, reference: &MemoryStore, size: u64) {
    let mut wanted = Vec::new();
    for level in 0..12u32 {
        for idx in 0..size >> level {
            if level >= 6 || idx % 7 == 0 {
                wanted.push((level, idx));
            }
        }
    }
    let got = store.merkle_nodes("default", &wanted).await.expect("merkle_nodes");
    let expected = reference.merkle_nodes("default", &wanted).await.expect("reference");
    assert!(got.is_some(), "the SQL store answers from its nodes table, without reading the whole chain");
    assert_eq!(got, expected, "subtree hashes of a tree of {size}");
}

async fn assert_proofs_match(store: &dyn AuditStore, reference: &MemoryStore, size: u64) {
    assert_eq!(tree_head(store, "default").await.expect("head"), tree_head(reference, "default").await.expect("ref"));
    for (seq, at) in [(1, size), (64, size), (65, size), (size, size), (300, 512), (1, 1), (129, 200), (640, 641)] {
        let proof = inclusion_proof(store, "default", seq, at).await.expect("inclusion");
        proof.verify().expect("the inclusion proof verifies");
        assert_eq!(proof, inclusion_proof(reference, "default", seq, at).await.expect("reference"));
    }
    for (from, to) in [(1, size), (63, 64), (64, 65), (100, 700), (256, 512), (511, 640), (size, size)] {
        let proof = consistency_proof(store, "default", from, to).await.expect("consistency");
        proof.verify().expect("the consistency proof verifies");
        assert_eq!(proof, consistency_proof(reference, "default", from, to).await.expect("reference"));
    }
}

async fn appends_store_the_subtrees_they_complete(db: &TestDb) {
    let store = db.migrated_store().await;
    let (reference, events) = reference().await;
    let mut head = audit_core::store::Head::EMPTY;
    let mut at = 0;
    for size in BATCHES {
        let batch = &events[at..at + size];
        head = store.append("default", head, batch).await.expect("append");
        at += size;
        assert_eq!(count_nodes(&store).await, stored_count(at as u64), "after {at} events");
    }
    assert_eq!(at, EVENTS);
    assert_nodes_match(&store, &reference, EVENTS as u64).await;
    assert_proofs_match(&store, &reference, EVENTS as u64).await;
}
on_all_backends!(appends_store_the_subtrees_they_complete);

/// Two stores (two application instances) taking turns: neither has the other's leaves in
/// memory, so each reads the older leaves of a block back from the events.
async fn instances_taking_turns_store_the_same_subtrees(db: &TestDb) {
    let stores = [db.migrated_store().await, db.store().await];
    let (reference, events) = reference().await;
    let mut head = audit_core::store::Head::EMPTY;
    let mut at = 0;
    for (turn, size) in BATCHES.into_iter().enumerate() {
        head = stores[turn % 2].append("default", head, &events[at..at + size]).await.expect("append");
        at += size;
        assert_eq!(count_nodes(&stores[0]).await, stored_count(at as u64), "after {at} events");
    }
    assert_nodes_match(&stores[1], &reference, EVENTS as u64).await;
    assert_proofs_match(&stores[0], &reference, EVENTS as u64).await;
}
on_all_backends!(instances_taking_turns_store_the_same_subtrees);

/// The same with a read page smaller than a block (`with_read_page_size`, a memory knob):
/// reading a block's older leaves back was cut at the page, and every node from there on was
/// left out (proofs then read the whole chain).
async fn a_small_read_page_leaves_no_subtree_out(db: &TestDb) {
    let stores = [db.migrated_store().await.with_read_page_size(2), db.store().await.with_read_page_size(2)];
    let (reference, events) = reference().await;
    let mut head = audit_core::store::Head::EMPTY;
    let mut at = 0;
    for (turn, size) in BATCHES.into_iter().enumerate() {
        head = stores[turn % 2].append("default", head, &events[at..at + size]).await.expect("append");
        at += size;
        assert_eq!(count_nodes(&stores[0]).await, stored_count(at as u64), "after {at} events");
    }
    assert_nodes_match(&stores[1], &reference, EVENTS as u64).await;
}
on_all_backends!(a_small_read_page_leaves_no_subtree_out);

async fn migrate_rebuilds_missing_subtrees(db: &TestDb) {
    let store = db.migrated_store().await;
    let (reference, events) = reference().await;
    store.append("default", audit_core::store::Head::EMPTY, &events).await.expect("append");
    // As an older store would be (or after someone emptied the table): no nodes at all.
    store
        .connection()
        .execute_unprepared("DELETE FROM audit_merkle_nodes")
        .await
        .expect("the nodes table has no append-only trigger");
    assert_eq!(count_nodes(&store).await, 0);
    assert_eq!(store.merkle_nodes("default", &[(6, 0)]).await.expect("lookup"), None, "missing nodes say so");
    // Proofs still work meanwhile, by reading the chain.
    assert_proofs_match(&store, &reference, EVENTS as u64).await;

    store.migrate().await.expect("migrate rebuilds the nodes");
    assert_eq!(count_nodes(&store).await, stored_count(EVENTS as u64));
    assert_nodes_match(&store, &reference, EVENTS as u64).await;
    store.migrate().await.expect("and is idempotent");
    assert_eq!(count_nodes(&store).await, stored_count(EVENTS as u64));
}
on_all_backends!(migrate_rebuilds_missing_subtrees);
