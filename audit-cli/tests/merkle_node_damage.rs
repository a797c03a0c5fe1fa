//! Damage to the Merkle subtree hashes the SQL store keeps for proofs (`audit_merkle_nodes`,
//! a table without append-only triggers) never reaches a signed checkpoint: the writer's
//! publisher builds its tree from the events. (A wrong row its neighbours disagree with is
//! refused by proofs: `published_checkpoints.rs`, `proofs_db.rs`.)

mod common;
use audit_core::checkpoint::NoteSigner;
use audit_core::{Actor, EventDraft};
use common::*;

const ORIGIN: &str = "audit.example.com/default";

/// More plain events, written by a restarted application (same as `record_plain`).
fn record_more(db: &TestDb, from: usize, to: usize) {
    let drafts = (from..=to)
        .map(|i| EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string()))
        .collect();
    db.record("default", drafts);
}

/// Row (6, 0) goes bad at 100 events; the application records up to 128, so the store computes
/// (7, 0) from the bad row, and the two agree (no check one level down can tell). Restarted with
/// a checkpoint policy, the application's checkpoint of 129 is the events' own.
#[test]
fn a_restarted_publisher_signs_the_events_root_over_a_corrupt_row_copied_into_its_parent() {
    let Some(db) = TestDb::open(Backend::Sqlite, "review_c_propagated_pub") else { return };
    db.record_plain("default", 100);
    db.set_node_hash(6, 0, &"00".repeat(32));
    record_more(&db, 101, 128);
    assert_exit(&run(&["verify", "--db", db.url()]), 0);

    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier().to_string();
    let published = db.record_publishing(ORIGIN, &signer, None, 129..=129);
    let (size, note) = published.last().expect("a checkpoint was published at shutdown").clone();
    assert_eq!(size, 129);
    let cp = db.dir().join("cp-129");
    std::fs::write(&cp, &note).expect("keep the checkpoint");
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the publisher signed a root that is not the events'; verify says:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
}

/// A row whose hash is not even 64 hex digits (the table has no CHECK on it): the publisher,
/// which does not read the table, publishes checkpoints that verify.
#[test]
fn a_node_row_that_is_not_a_hash_does_not_stop_the_publisher() {
    let Some(db) = TestDb::open(Backend::Sqlite, "review_c_unreadable_node") else { return };
    db.record_plain("default", 100);
    db.set_node_hash(6, 0, "corrupt");
    assert_exit(&run(&["verify", "--db", db.url()]), 0);

    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier().to_string();
    let published = db.record_publishing(ORIGIN, &signer, Some(1), 101..=102);
    let Some((size, note)) = published.last().cloned() else {
        panic!("no checkpoint was published after events 101 and 102");
    };
    assert_eq!(size, 102);
    let cp = db.dir().join("cp-102");
    std::fs::write(&cp, &note).expect("keep the checkpoint");
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 0);
}
