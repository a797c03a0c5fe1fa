//! Damage to the Merkle subtree hashes the SQL store keeps for proofs (`audit_merkle_nodes`,
//! a table without append-only triggers) never reaches a signed checkpoint: the writer's
//! publisher builds its tree from the events. (A wrong row its neighbours disagree with is
//! refused by proofs: `published_checkpoints.rs`, `proofs_db.rs`.)

mod common;
use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::publish::{CallbackSink, CheckpointPolicy};
use audit_core::{Actor, Auditor, EventDraft};
use audit_seaorm::SqlStore;
use common::*;
use sea_orm::ConnectionTrait;
use std::sync::{Arc, Mutex};

const ORIGIN: &str = "audit.example.com/default";

/// Sets the stored hash of subtree (`level`, `idx`) of chain "default" to 32 zero bytes.
fn corrupt_node(db: &TestDb, level: i32, idx: i64) {
    db.block_on(async {
        let conn = db.connect_async().await;
        let changed = conn
            .execute_raw(db.statement(
                "UPDATE audit_merkle_nodes SET hash = ? WHERE chain = ? AND level = ? AND idx = ?",
                vec!["00".repeat(32).into(), "default".into(), level.into(), idx.into()],
            ))
            .await
            .expect("update a node row");
        assert_eq!(changed.rows_affected(), 1, "row ({level}, {idx}) exists");
        conn.close().await.expect("close");
    });
}

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
    corrupt_node(&db, 6, 0);
    record_more(&db, 101, 128);
    assert_exit(&run(&["verify", "--db", db.url()]), 0);

    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier().to_string();
    let notes: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let kept = Arc::clone(&notes);
    let sink = Arc::new(CallbackSink::new(move |checkpoint: &Checkpoint, note: &str| {
        kept.lock().expect("lock").push((checkpoint.size, note.to_string()));
        Ok(())
    }));
    let stats = db.block_on(async {
        let store = Arc::new(SqlStore::new(db.connect_async().await).expect("supported backend"));
        let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), sink).expect("policy");
        let auditor = Auditor::builder(store.clone()).chain("default").checkpoints(policy).build();
        auditor
            .record(EventDraft::new("update").actor(Actor::user("alice")).resource("doc", "129"))
            .await
            .expect("record");
        auditor.shutdown().await;
        let stats = format!("{:?} {:?}", auditor.stats(), auditor.last_checkpoint_error());
        store.connection().clone().close().await.expect("close");
        stats
    });
    let published = notes.lock().expect("lock").clone();
    let (size, note) = published.last().expect("a checkpoint was published at shutdown").clone();
    assert_eq!(size, 129);
    let cp = db.dir().join("cp-129");
    std::fs::write(&cp, &note).expect("keep the checkpoint");
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the publisher signed a root that is not the events' (writer stats: {stats}); verify says:\n{}{}",
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
    db.block_on(async {
        let conn = db.connect_async().await;
        let changed = conn
            .execute_raw(db.statement(
                "UPDATE audit_merkle_nodes SET hash = ? WHERE chain = ? AND level = 6 AND idx = 0",
                vec!["corrupt".into(), "default".into()],
            ))
            .await
            .expect("update a node row");
        assert_eq!(changed.rows_affected(), 1);
        conn.close().await.expect("close");
    });
    assert_exit(&run(&["verify", "--db", db.url()]), 0);

    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier().to_string();
    let notes: Arc<Mutex<Vec<(u64, String)>>> = Arc::default();
    let kept = Arc::clone(&notes);
    let sink = Arc::new(CallbackSink::new(move |checkpoint: &Checkpoint, note: &str| {
        kept.lock().expect("lock").push((checkpoint.size, note.to_string()));
        Ok(())
    }));
    let stats = db.block_on(async {
        let store = Arc::new(SqlStore::new(db.connect_async().await).expect("supported backend"));
        let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), sink).expect("policy").every_events(1);
        let auditor = Auditor::builder(store.clone()).chain("default").checkpoints(policy).build();
        for i in 101..=102 {
            auditor
                .record(EventDraft::new("update").actor(Actor::user("alice")).resource("doc", i.to_string()))
                .await
                .expect("record");
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        auditor.shutdown().await;
        let stats = format!("{:?}; last error: {:?}", auditor.stats(), auditor.last_checkpoint_error());
        store.connection().clone().close().await.expect("close");
        stats
    });
    let published = notes.lock().expect("lock").clone();
    let Some((size, note)) = published.last().cloned() else {
        panic!("no checkpoint was published after events 101 and 102 ({stats})");
    };
    assert_eq!(size, 102, "{stats}");
    let cp = db.dir().join("cp-102");
    std::fs::write(&cp, &note).expect("keep the checkpoint");
    let output = run(&["verify", "--db", db.url(), "--checkpoint", s(&cp), "--key", &verifier]);
    assert_exit(&output, 0);
}
