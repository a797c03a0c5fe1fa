//! The checkpoint publisher of a running application when the chain's newest events are
//! deleted and written again behind it (by a superuser; another writer then appends): every
//! checkpoint it signs afterwards has the root of the events stored at its size. It checks
//! that an append follows the last event of its frontier (`Appended::prev`), and that the
//! events it reads to catch up link to it; otherwise it builds the frontier again from the
//! events.

mod common;
use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::publish::{CallbackSink, CheckpointPolicy};
use audit_core::{Actor, Auditor, EventDraft};
use audit_seaorm::SqlStore;
use common::*;
use std::sync::{Arc, Mutex};

const ORIGIN: &str = "audit.example.com/default";

/// A checkpoint the publisher signed: its size and root.
type Published = (u64, [u8; 32]);

/// Auditor A (publishing a checkpoint at every event) records 10 events; a superuser deletes
/// seq 9..=10 and moves the head back to 8; writer B (another process) records `by_b` events;
/// A records one more (re-chained on B's head). Returns the checkpoints A published after the
/// rewrite, and the roots computed from the stored events at those sizes.
fn rewrite_while_running(db: &TestDb, by_b: usize) -> Vec<(u64, [u8; 32], [u8; 32])> {
    db.migrate();
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let published: Arc<Mutex<Vec<Published>>> = Arc::default();
    let kept = Arc::clone(&published);
    let sink = Arc::new(CallbackSink::new(move |checkpoint: &Checkpoint, _note: &str| {
        kept.lock().expect("lock").push((checkpoint.size, checkpoint.root));
        Ok(())
    }));
    let (store, auditor) = db.block_on(async {
        let store = Arc::new(SqlStore::new(db.connect_async().await).expect("supported backend"));
        let policy = CheckpointPolicy::new(ORIGIN, signer, sink).expect("policy").every_events(1);
        let auditor = Auditor::builder(store.clone()).chain("default").checkpoints(policy).build();
        for i in 1..=10 {
            auditor
                .record(EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string()))
                .await
                .expect("record");
        }
        // Let the publisher catch up with event 10.
        for _ in 0..100 {
            if auditor.stats().checkpoints_published >= 10 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        (store, auditor)
    });
    let before = published.lock().expect("lock").len();

    db.truncate("default", 8);
    let drafts = (0..by_b).map(|i| EventDraft::new("delete").actor(Actor::user("bob")).resource("doc", i.to_string()));
    db.record("default", drafts.collect());

    db.block_on(async {
        auditor
            .record(EventDraft::new("update").actor(Actor::user("alice")).resource("doc", "last"))
            .await
            .expect("record");
        auditor.shutdown().await;
    });
    let after: Vec<(u64, [u8; 32])> = published.lock().expect("lock")[before..].to_vec();
    assert!(!after.is_empty(), "no checkpoint was published after the rewrite");
    db.block_on(async { store.connection().clone().close().await.expect("close") });
    // The root of the first `size` events as stored now (each line parsed; hashes as stored).
    let lines = db.stored_lines("default");
    let mut out = Vec::new();
    for (size, root) in after {
        let mut range = audit_core::merkle::CompactRange::new();
        for (_, line) in lines.iter().take(size as usize) {
            let event = audit_core::Event::from_canonical_line(line).expect("a valid event");
            range.push(audit_core::merkle::leaf_hash(event.hash.as_bytes())).expect("push");
        }
        assert_eq!(range.size(), size, "the store holds {size} events");
        out.push((size, root, range.root()));
    }
    out
}

/// B re-writes seq 9..=11 (three events): A's next event is seq 12; B's seq 9..=11 do not
/// link to the publisher's seq 10.
#[test]
fn publisher_after_tail_rewritten_longer_signs_the_stored_events_root() {
    let Some(db) = TestDb::open(Backend::Sqlite, "review_e_pub_rw_longer") else { return };
    for (size, signed, events) in rewrite_while_running(&db, 3) {
        assert_eq!(
            signed, events,
            "checkpoint of size {size} signed after events 9..=10 were replaced: its root is not the root of the \
             stored events at that size"
        );
    }
}

/// B re-writes seq 9..=10 (two events, same size as before): A's next event is seq 11 chained
/// on B's seq 10; the publisher's frontier has the same size but ends at the removed seq 10.
#[test]
fn publisher_after_tail_rewritten_same_size_signs_the_stored_events_root() {
    let Some(db) = TestDb::open(Backend::Sqlite, "review_e_pub_rw_same") else { return };
    for (size, signed, events) in rewrite_while_running(&db, 2) {
        assert_eq!(
            signed, events,
            "checkpoint of size {size} signed after events 9..=10 were replaced: its root is not the root of the \
             stored events at that size"
        );
    }
}
