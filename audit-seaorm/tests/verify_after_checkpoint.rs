//! `SqlStore::verify_chain_after_checkpoint` reads only the events from a trusted checkpoint's
//! last one on: the frontier before it comes from the stored Merkle subtree hashes, and the
//! tree grown from it to the chain's end is the chain's tree now (the consistency of today's
//! root with the checkpoint's holds by construction, and a SPEC §4 consistency proof from the
//! store between the two verifies).

mod common;

use audit_core::proof::{consistency_proof, tree_head};
use common::TestDb;

async fn record(store: &std::sync::Arc<audit_seaorm::SqlStore>, n: usize) {
    let auditor = audit_core::Auditor::builder(store.clone()).max_batch(16).build();
    for i in 0..n {
        let draft = audit_core::EventDraft::new("update").resource("doc", i.to_string());
        auditor.record_buffered(draft).await.expect("record");
    }
    auditor.shutdown().await;
}

async fn only_the_events_after_the_checkpoint_are_read(db: &TestDb) {
    let store = std::sync::Arc::new(db.migrated_store().await);
    record(&store, 130).await;
    let checkpoint = tree_head(&*store, "default").await.expect("tree head").checkpoint("audit.example.com/default");
    record(&store, 40).await;

    let mut reads = Vec::new();
    let report =
        store.verify_chain_after_checkpoint("default", &checkpoint, |read| reads.push(read)).await.expect("verify");
    assert!(report.is_valid(), "{report}");
    assert_eq!((report.lines.first_seq, report.lines.verified, report.lines.head.seq), (Some(130), 41, 170));
    assert_eq!(reads.last(), Some(&41), "progress counts the events read");
    let now = tree_head(&*store, "default").await.expect("tree head");
    let grown = report.tree.expect("a tree from the checkpoint's frontier");
    assert_eq!((grown.size, grown.root), (now.size, now.root), "the tree grown from the checkpoint is today's");
    let proof = consistency_proof(&*store, "default", checkpoint.size, now.size).await.expect("proof");
    assert_eq!((proof.root1, proof.root2), (checkpoint.root, grown.root));
    proof.verify().expect("the stored consistency proof agrees");

    // A checkpoint of the whole chain: one event read.
    let latest = now.checkpoint("audit.example.com/default");
    let report = store.verify_chain_after_checkpoint("default", &latest, |_| {}).await.expect("verify");
    assert!(report.is_valid(), "{report}");
    assert_eq!((report.lines.first_seq, report.lines.verified), (Some(170), 1));
    // Of size 1: from seq 1 (its prev must be 64 zeros, as for any first event).
    let one = audit_core::proof::frontier_at(&*store, "default", 1).await.expect("frontier");
    let one = audit_core::checkpoint::Checkpoint::new("audit.example.com/default", 1, one.root());
    let report = store.verify_chain_after_checkpoint("default", &one, |_| {}).await.expect("verify");
    assert!(report.is_valid(), "{report}");
    assert_eq!((report.lines.first_seq, report.lines.verified), (Some(1), 170));
}
on_all_backends!(only_the_events_after_the_checkpoint_are_read);
