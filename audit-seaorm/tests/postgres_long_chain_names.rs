//! A chain name PostgreSQL cannot take (the chain is part of B-tree keys, whose entries take
//! at most 2704 bytes) is refused for good (`AppendError::Rejected`): it failed every append
//! with "index row size … exceeds btree … maximum", a `Store` error the writer retried
//! forever. The store's answer is checked directly (no timing).

mod common;

use audit_core::store::{AppendError, AuditStore, Head, MemoryStore};
use audit_core::{Auditor, EventDraft};
use common::TestDb;
use std::sync::Arc;

/// 3000 characters of a 64-letter alphabet from a fixed pseudo-random sequence: too little
/// repetition for PostgreSQL's index-entry compression to bring it under the B-tree limit.
fn incompressible_name() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..3000)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ALPHABET[(state >> 58) as usize] as char
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_name_postgres_cannot_index_is_rejected_not_retried() {
    let Some(db) = TestDb::open(common::Backend::Postgres, "pg_long_chain").await else { return };
    let store = db.migrated_store().await;
    let chain = incompressible_name();
    let memory = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).chain(chain.clone()).build();
    auditor.record(EventDraft::new("x")).await.expect("record in memory");
    auditor.shutdown().await;
    let result = store.append(&chain, Head::EMPTY, &memory.events(&chain)).await;
    db.cleanup().await;
    let text = format!("{result:?}");
    let shown = text.find("message").map_or(text.as_str(), |at| &text[at..]);
    assert!(
        matches!(result, Err(AppendError::Rejected { .. })),
        "a chain name the store can never take must be Rejected (the writer retries Store errors forever): \
         {shown}"
    );
}
