//! Signed checkpoints published by the writer into a second database (`SqlCheckpointSink`):
//! every due checkpoint arrives and verifies, publishing the same note again is accepted, a
//! different note of the same size is refused and nothing is overwritten, and the table
//! refuses updates and deletes.

mod common;

use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::publish::{CheckpointPolicy, CheckpointSink};
use audit_core::store::MemoryStore;
use audit_core::{Auditor, EventDraft};
use audit_seaorm::SqlCheckpointSink;
use common::{Backend, TestDb};
use sea_orm::ConnectionTrait;
use std::sync::Arc;

const ORIGIN: &str = "audit.example.com/default";

async fn checkpoints_are_published_and_kept(db: &TestDb) {
    let sink = Arc::new(SqlCheckpointSink::new(db.connect().await).expect("a supported backend"));
    sink.migrate().await.expect("migrate");
    sink.migrate().await.expect("migrate is idempotent");
    let signer = NoteSigner::generate(ORIGIN).expect("key");
    let verifier = signer.verifier();
    let policy = CheckpointPolicy::new(ORIGIN, signer.clone(), sink.clone()).expect("policy").every_events(5);
    let auditor = Auditor::builder(Arc::new(MemoryStore::new())).checkpoints(policy).build();
    // Each due checkpoint is published before the next multiple is reached: a publisher that
    // gets to two multiples at once publishes the higher one only.
    for (i, published) in (0..12).zip([0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2]) {
        auditor.record(EventDraft::new("update").resource("users", i.to_string())).await.expect("record");
        wait_until_published(&auditor, published).await;
    }
    auditor.shutdown().await;
    assert_eq!(auditor.stats().checkpoint_failures, 0, "{:?}", auditor.last_checkpoint_error());

    for size in [5, 10, 12] {
        let note = sink.note(ORIGIN, size).await.expect("read").unwrap_or_else(|| panic!("no checkpoint at {size}"));
        assert_eq!(Checkpoint::verify(&note, &verifier).expect("signed by the log's key").size, size);
    }
    let latest = sink.latest(ORIGIN).await.expect("read").expect("a latest one");
    assert_eq!(Checkpoint::verify(&latest, &verifier).expect("verifies").size, 12);

    // The same note again (a retry, a restart): accepted. Another note of size 12: refused.
    let kept = Checkpoint::verify(&latest, &verifier).expect("verifies");
    sink.publish(&kept, &latest).await.expect("publishing the same note twice succeeds");
    let forged = Checkpoint::new(ORIGIN, 12, [7; 32]);
    let forged_note = forged.sign(&signer).expect("sign");
    let refused = sink.publish(&forged, &forged_note).await.expect_err("a different note of a published size");
    assert!(refused.to_string().contains("different checkpoint"), "{refused}");
    assert_eq!(sink.latest(ORIGIN).await.expect("read").as_deref(), Some(latest.as_str()), "nothing overwritten");

    // Append-only in the database itself.
    let conn = db.connect().await;
    for sql in ["UPDATE audit_checkpoints SET note = 'x'", "DELETE FROM audit_checkpoints"] {
        let error = conn.execute_unprepared(sql).await.expect_err(sql);
        assert!(error.to_string().contains("append-only"), "{sql}: {error}");
    }
    // Replacing inserts, which delete the row they replace without firing DELETE triggers:
    // by key (SQLite, MySQL) and, on SQLite, by rowid; and PostgreSQL's TRUNCATE, which fires
    // no row trigger either.
    let replacing: &[&str] = match db.backend {
        Backend::Sqlite => &[
            "INSERT OR REPLACE INTO audit_checkpoints (origin, size, note) VALUES ('audit.example.com/default', 12, 'x')",
            "REPLACE INTO audit_checkpoints (origin, size, note) VALUES ('audit.example.com/default', 5, 'x')",
            "INSERT OR REPLACE INTO audit_checkpoints (rowid, origin, size, note) \
             SELECT rowid, 'other', 1, 'x' FROM audit_checkpoints WHERE size = 10",
        ],
        Backend::MySql => {
            &["REPLACE INTO audit_checkpoints (origin, size, note) VALUES ('audit.example.com/default', 12, 'x')"]
        }
        Backend::Postgres => &["TRUNCATE audit_checkpoints"],
    };
    for sql in replacing {
        let error = conn.execute_unprepared(sql).await.expect_err(sql);
        assert!(error.to_string().contains("append-only"), "{sql}: {error}");
    }
    for size in [5, 10, 12] {
        let note = sink.note(ORIGIN, size).await.expect("read").expect("still there");
        assert_eq!(Checkpoint::verify(&note, &verifier).expect("still the signed note").size, size);
    }
}
on_all_backends!(checkpoints_are_published_and_kept);

/// Waits until `auditor` has published `count` checkpoints (at most a minute: the sink is a
/// database on this machine).
async fn wait_until_published(auditor: &Auditor, count: u64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while auditor.stats().checkpoints_published < count {
        assert_eq!(auditor.stats().checkpoint_failures, 0, "{:?}", auditor.last_checkpoint_error());
        assert!(std::time::Instant::now() < deadline, "checkpoint {count} was not published within a minute");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}
