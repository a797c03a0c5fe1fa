//! The checkpoints an application's writer publishes (`CheckpointPolicy`) are the ones
//! `audit-trail checkpoint --db` signs from the events, and verify against the chain: the
//! publisher builds its tree from the events, never from the subtree hashes the store keeps
//! for proofs (`audit_merkle_nodes`), whatever is wrong with them.

mod common;
use audit_core::checkpoint::NoteSigner;
use common::*;

const ORIGIN: &str = "audit.example.com/default";

/// One row of `audit_merkle_nodes` goes bad (a disk fault, a restore from another copy, a
/// hand edit: the table has no append-only triggers); the events, columns and head are
/// untouched. The restarted application's checkpoint must still be the events' own.
#[test]
fn a_corrupt_stored_subtree_hash_is_not_signed_and_the_checkpoint_is_the_events_own() {
    let Some(db) = TestDb::open(Backend::Sqlite, "review_publisher_node") else { return };
    db.record_plain("default", 100);

    // One stored subtree hash (events 1..=64) goes bad: a disk fault, a restore from another
    // copy, or a hand edit. The events, the columns and the chain head are untouched.
    db.set_node_hash(6, 0, &"00".repeat(32));
    assert_exit(&run(&["verify", "--db", db.url()]), 0);

    // The application restarts with a checkpoint policy and records one more event.
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier().to_string();
    let published = db.record_publishing(ORIGIN, &signer, None, 101..=101);
    let (_, note) = published.last().expect("a checkpoint was published at shutdown").clone();
    let cp = db.dir().join("cp-101");
    std::fs::write(&cp, &note).expect("keep the checkpoint");

    // The chain is untouched: verifying it against the application's own checkpoint must pass.
    let output = run(&["verify", "--db", db.url(), "--checkpoint", cp.to_str().expect("utf-8"), "--key", &verifier]);
    let key = db.dir().join("log.key");
    std::fs::write(&key, format!("{}\n", signer.to_private_key_string())).expect("key file");
    let cli = run(&["checkpoint", "--db", db.url(), "--origin", ORIGIN, "--key", key.to_str().expect("utf-8")]);
    assert_exit(&cli, 0);
    assert_eq!(
        note,
        stdout(&cli),
        "the writer signed a different root than the events have (audit-trail checkpoint --db signs the \
         events' root); verify against the writer's checkpoint says:\n{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert_exit(&output, 0);
}
