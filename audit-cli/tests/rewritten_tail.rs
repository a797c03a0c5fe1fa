//! The newest events deleted behind the store's back (the head moved back) and new events
//! appended over the same seqs: the stored Merkle subtree hashes of the removed events are
//! replaced as the new appends complete their subtrees, so tree heads and proofs are those of
//! the events now stored, a consistency proof from a checkpoint of the old events fails against
//! it, and the restarted publisher signs the events' root (not one consistent with the old
//! checkpoint, which would hide the rewrite from anyone comparing checkpoints).

mod common;
use audit_core::checkpoint::NoteSigner;
use audit_core::{Actor, EventDraft};
use common::*;

const ORIGIN: &str = "audit.example.com/default";

/// 128 events, checkpoint cp-128 (signed by `checkpoint --db` from the events); events
/// 101..=128 deleted and the head moved back to 100; the application appends 50 new events
/// (seq 101..=150): the proof from 128 to 150 does not verify against cp-128, as
/// `verify --checkpoint cp-128` does not.
#[test]
fn a_consistency_proof_over_rewritten_events_does_not_verify_against_the_old_checkpoint() {
    let Some(db) = TestDb::open(Backend::Sqlite, "review_c_stale_rewrite") else { return };
    db.record_plain("default", 128);
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier().to_string();
    let key = db.dir().join("log.key");
    std::fs::write(&key, format!("{}\n", signer.to_private_key_string())).expect("key file");
    let cli = run(&["checkpoint", "--db", db.url(), "--origin", ORIGIN, "--key", s(&key)]);
    assert_exit(&cli, 0);
    let cp = db.dir().join("cp-128");
    std::fs::write(&cp, stdout(&cli)).expect("keep the checkpoint");

    db.truncate("default", 100);
    let drafts = (101..=150)
        .map(|i| EventDraft::new("delete").actor(Actor::user("mallory")).resource("doc", i.to_string()))
        .collect();
    db.record("default", drafts);

    // The events themselves are caught against the old checkpoint.
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 1);

    let output = run(&["prove", "--db", db.url(), "--from", "128", "--to", "150"]);
    if output.status.code() == Some(0) {
        let proof = db.dir().join("proof.json");
        std::fs::write(&proof, stdout(&output)).expect("keep the proof");
        let checked = run(&["verify-proof", "--proof", s(&proof), "--checkpoint", s(&cp), "--key", &verifier]);
        assert_eq!(
            checked.status.code(),
            Some(1),
            "prove --db printed a consistency proof, built from stale subtree hashes, that the checkpoint signed \
             before events 101..=128 were replaced accepts:\n{}{}\n{}",
            stdout(&checked),
            stderr(&checked),
            stdout(&output)
        );
    }
}

/// The same rewrite: the tree head the store's subtree hashes give is the events'.
#[test]
fn the_tree_head_after_rewritten_events_is_the_events_own() {
    let Some(db) = TestDb::open(Backend::Sqlite, "review_c_stale_head") else { return };
    db.record_plain("default", 128);
    db.truncate("default", 100);
    let drafts = (101..=150)
        .map(|i| EventDraft::new("delete").actor(Actor::user("mallory")).resource("doc", i.to_string()))
        .collect();
    db.record("default", drafts);
    db.block_on(async {
        let store = audit_seaorm::SqlStore::new(db.connect_async().await).expect("supported backend");
        let events = audit_core::proof::frontier_from_events(&store, "default").await.expect("from the events");
        if let Ok(head) = audit_core::proof::tree_head(&store, "default").await {
            assert_eq!(
                (head.size, head.root),
                (events.size(), events.root()),
                "tree_head used the stale subtree hash (7, 0) of the removed events"
            );
        }
        store.connection().clone().close().await.expect("close");
    });
}

/// The same rewrite (events 101..=128 replaced; cp-128 signed before), then the application
/// restarts with a checkpoint policy and records event 151: its checkpoint verifies against
/// the events.
#[test]
fn the_restarted_publisher_signs_the_events_root_after_rewritten_events() {
    use audit_core::checkpoint::Checkpoint;
    use audit_core::publish::{CallbackSink, CheckpointPolicy};
    use std::sync::{Arc, Mutex};

    let Some(db) = TestDb::open(Backend::Sqlite, "review_c_stale_pub") else { return };
    db.record_plain("default", 128);
    db.truncate("default", 100);
    let drafts = (101..=150)
        .map(|i| EventDraft::new("delete").actor(Actor::user("mallory")).resource("doc", i.to_string()))
        .collect();
    db.record("default", drafts);

    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier().to_string();
    let notes: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let kept = Arc::clone(&notes);
    let sink = Arc::new(CallbackSink::new(move |checkpoint: &Checkpoint, note: &str| {
        kept.lock().expect("lock").push((checkpoint.size, note.to_string()));
        Ok(())
    }));
    db.block_on(async {
        let store = Arc::new(audit_seaorm::SqlStore::new(db.connect_async().await).expect("supported backend"));
        let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), sink).expect("policy");
        let auditor = audit_core::Auditor::builder(store.clone()).chain("default").checkpoints(policy).build();
        auditor
            .record(EventDraft::new("update").actor(Actor::user("alice")).resource("doc", "151"))
            .await
            .expect("record");
        auditor.shutdown().await;
        store.connection().clone().close().await.expect("close");
    });
    let (size, note) = notes.lock().expect("lock").last().expect("published at shutdown").clone();
    assert_eq!(size, 151);
    let cp = db.dir().join("cp-151");
    std::fs::write(&cp, &note).expect("keep the checkpoint");
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the restarted publisher signed a root built from the stale subtree hashes of the removed events:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
}
