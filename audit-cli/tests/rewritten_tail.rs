//! The newest events deleted behind the store's back (the head moved back) and new events
//! appended over the same seqs: checkpoints are signed from the events now stored (the
//! restarted publisher's too, not one consistent with the old checkpoint, which would hide the
//! rewrite from anyone comparing checkpoints), and a proof built from the subtree hashes the
//! store kept of the removed events fails against them.

mod common;
use audit_core::checkpoint::NoteSigner;
use audit_core::{Actor, EventDraft};
use common::*;

const ORIGIN: &str = "audit.example.com/default";

/// 128 events, checkpoint cp-128 (signed by `checkpoint --db` from the events); events
/// 101..=128 deleted and the head moved back to 100; the application appends 50 new events
/// (seq 101..=150). The store's subtree hashes of the removed events stay (the application may
/// only insert rows), so a consistency proof from 128 to 150 is built from them and agrees
/// with cp-128; but its end is not the tree of the events now stored: against a checkpoint of
/// those (cp-150, as `checkpoint --db` or the writer's publisher signs it) it fails. An
/// auditor anchors both ends, and finds the rewrite, as `verify --checkpoint cp-128` does.
#[test]
fn a_consistency_proof_over_rewritten_events_fails_against_a_checkpoint_of_the_events() {
    let Some(db) = TestDb::open(Backend::Sqlite, "rewritten_tail_proof") else { return };
    db.record_plain("default", 128);
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier().to_string();
    let key = db.dir().join("log.key");
    std::fs::write(&key, format!("{}\n", signer.to_private_key_string())).expect("key file");
    let checkpoint = |name: &str| {
        let cli = run(&["checkpoint", "--db", db.url(), "--origin", ORIGIN, "--key", s(&key)]);
        assert_exit(&cli, 0);
        let cp = db.dir().join(name);
        std::fs::write(&cp, stdout(&cli)).expect("keep the checkpoint");
        cp
    };
    let cp_128 = checkpoint("cp-128");

    db.truncate("default", 100);
    let drafts = (101..=150)
        .map(|i| EventDraft::new("delete").actor(Actor::user("mallory")).resource("doc", i.to_string()))
        .collect();
    db.record("default", drafts);
    let cp_150 = checkpoint("cp-150");

    // The events themselves are caught against the old checkpoint.
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp_128), "--key", &verifier]);
    assert_exit(&output, 1);

    let output = run(&["prove", "--db", db.url(), "--from", "128", "--to", "150"]);
    if output.status.code() == Some(0) {
        let proof = db.dir().join("proof.json");
        std::fs::write(&proof, stdout(&output)).expect("keep the proof");
        let checked = run(&["verify-proof", "--proof", s(&proof), "--checkpoint", s(&cp_150), "--key", &verifier]);
        assert_exit(&checked, 1);
    } else {
        assert_exit(&output, 2); // refused: the stored hashes disagree with the events
    }
}

/// The same rewrite (events 101..=128 replaced; cp-128 signed before), then the application
/// restarts with a checkpoint policy and records event 151: its checkpoint verifies against
/// the events.
#[test]
fn the_restarted_publisher_signs_the_events_root_after_rewritten_events() {
    let Some(db) = TestDb::open(Backend::Sqlite, "review_c_stale_pub") else { return };
    db.record_plain("default", 128);
    db.truncate("default", 100);
    let drafts = (101..=150)
        .map(|i| EventDraft::new("delete").actor(Actor::user("mallory")).resource("doc", i.to_string()))
        .collect();
    db.record("default", drafts);

    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier().to_string();
    let published = db.record_publishing(ORIGIN, &signer, None, 151..=151);
    let (size, note) = published.last().expect("published at shutdown").clone();
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
