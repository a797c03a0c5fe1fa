//! MySQL/MariaDB: `audit_checkpoints.origin` compares exactly, with the NO PAD binary collation
//! the audit tables use: two logs whose origins differ by a trailing space are two logs. With
//! `utf8mb4_bin` ('a' = 'a ') they shared rows: `latest(origin)` returned the other log's
//! checkpoint, and the second log's publications were refused as "a different checkpoint".

mod common;

use audit_core::checkpoint::{Checkpoint, NoteSigner};
use audit_core::publish::CheckpointSink;
use audit_seaorm::SqlCheckpointSink;
use common::{Backend, TestDb};

/// Origins "audit.example.com/log" and "audit.example.com/log ", each publishing its
/// checkpoint of size 1 into one `SqlCheckpointSink`: both are kept, and `latest` of each is its
/// own note, as on PostgreSQL and SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_origins_that_differ_by_a_trailing_space_are_two_logs() {
    let Some(db) = TestDb::open(Backend::MySql, "cp_origin_pad").await else { return };
    let sink = SqlCheckpointSink::new(db.connect().await).expect("a supported backend");
    sink.migrate().await.expect("migrate");
    let signer = NoteSigner::generate("audit.example.com/log").expect("key");
    let mut results = Vec::new();
    for origin in ["audit.example.com/log", "audit.example.com/log "] {
        let checkpoint = Checkpoint::new(origin, 1, [origin.len() as u8; 32]);
        let note = checkpoint.sign(&signer).expect("sign");
        let published = sink.publish(&checkpoint, &note).await.map_err(|e| e.to_string());
        let latest = sink.latest(origin).await.expect("read");
        results.push((origin, published, latest.as_deref() == Some(note.as_str())));
    }
    db.cleanup().await;
    assert!(
        results.iter().all(|(_, published, latest_is_own)| published.is_ok() && *latest_is_own),
        "(origin, published, latest(origin) is its own note): {results:#?}"
    );
}
