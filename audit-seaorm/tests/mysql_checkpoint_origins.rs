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

/// An origin longer than the 512 characters `audit_checkpoints.origin` holds on MySQL/MariaDB
/// is refused before anything is written, saying so: `INSERT IGNORE` stored it cut to 512
/// characters (a row under another log's name, which a log sharing those 512 characters
/// would then meet as "a different checkpoint") and then failed to read it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_origins_longer_than_the_column_are_refused_unwritten() {
    let Some(db) = TestDb::open(Backend::MySql, "cp_origin_long").await else { return };
    let sink = SqlCheckpointSink::new(db.connect().await).expect("a supported backend");
    sink.migrate().await.expect("migrate");
    let origin = format!("audit.example.com/{}", "é".repeat(500));
    let signer = NoteSigner::generate(&origin).expect("key");
    let checkpoint = Checkpoint::new(origin.as_str(), 1, [7; 32]);
    let note = checkpoint.sign(&signer).expect("sign");
    let published = sink.publish(&checkpoint, &note).await.map_err(|e| e.to_string());
    let cut: String = origin.chars().take(512).collect();
    let kept = sink.latest(&cut).await.expect("read");
    // Exactly 512 characters fit.
    let fits = Checkpoint::new(cut.as_str(), 1, [8; 32]);
    let fits_published =
        sink.publish(&fits, &fits.sign(&NoteSigner::generate(&cut).expect("key")).expect("sign")).await;
    db.cleanup().await;
    let error = published.expect_err("refused");
    assert!(error.contains("512 characters"), "says why: {error}");
    assert!(kept.is_none(), "nothing was stored under the cut origin");
    fits_published.expect("an origin of 512 characters is kept");
}
