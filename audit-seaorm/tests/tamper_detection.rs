//! Someone with the power to switch the triggers off (a database superuser) edits the stored
//! trail. Store verification finds it: an edited indexed column is named with its seq and
//! column, an edited line is a hash mismatch, a removed newest event disagrees with the head.

mod common;

use audit_core::store::{AuditStore, Query};
use audit_core::verify::BreakReason;
use audit_core::{Actor, Auditor, Context, EventDraft};
use audit_seaorm::{ColumnMismatch, SqlStore};
use common::{Backend, TestDb, append_only_off, append_only_on};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::sync::Arc;

/// Runs `sql` with the append-only triggers of `audit_events` switched off, then puts them back.
async fn as_superuser(db: &TestDb, store: &SqlStore, conn: &DatabaseConnection, sql: &str) {
    append_only_off(db, conn).await;
    let changed = conn.execute_unprepared(sql).await.expect("tamper");
    assert_eq!(changed.rows_affected(), 1, "{sql} must change one row");
    append_only_on(db, store, conn).await;
    let still_refused = conn.execute_unprepared("UPDATE audit_events SET actor_id = actor_id").await;
    assert!(still_refused.is_err(), "the triggers are back");
}

async fn record(store: &Arc<SqlStore>, chain: &str, n: usize) {
    let auditor = Auditor::builder(store.clone()).chain(chain).build();
    for i in 0..n {
        let draft = EventDraft::new(if i == 1 { "login" } else { "update" })
            .actor(Actor::user("alice"))
            .resource("users", i.to_string())
            .context(Context { request_id: Some(format!("req-{i}")), ..Context::default() });
        auditor.record(draft).await.expect("record");
    }
    auditor.shutdown().await;
}

async fn edited_column_is_named(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    record(&store, "default", 6).await;
    let conn = db.connect().await;
    assert!(store.verify_chain("default").await.expect("verify").is_valid());

    // Hide event 3 from "all actions by alice": the line (and its hash) stay as they were.
    as_superuser(db, &store, &conn, "UPDATE audit_events SET actor_id = 'mallory' WHERE chain = 'default' AND seq = 3")
        .await;
    let by_alice = store.query(&Query::new().actor("alice")).await.expect("query");
    assert_eq!(by_alice.events.len(), 5, "the edit does hide the event from the index");
    let by_mallory = store.query(&Query::new().actor("mallory")).await.expect("query");
    assert!(by_mallory.events.is_empty(), "results are checked against the line, which says alice");

    let report = store.verify_chain("default").await.expect("verify");
    assert!(!report.is_valid());
    assert!(report.lines.is_valid(), "the hash chain itself is intact: {report}");
    assert_eq!(report.column_mismatch_count, 1);
    assert_eq!(
        report.column_mismatches,
        [ColumnMismatch {
            seq: 3,
            column: "actor_id",
            stored: Some("mallory".to_string()),
            expected: Some("alice".to_string())
        }]
    );
    assert!(report.to_string().contains("column actor_id of seq 3"), "{report}");

    // Move event 5 out of the period an auditor asks about.
    let shift = match db.backend {
        Backend::Postgres => "UPDATE audit_events SET ts = ts - interval '400 days' WHERE seq = 5",
        Backend::MySql => "UPDATE audit_events SET ts = ts - INTERVAL 400 DAY WHERE seq = 5",
        Backend::Sqlite => "UPDATE audit_events SET ts = '2001-01-01T00:00:00.000000Z' WHERE seq = 5",
    };
    as_superuser(db, &store, &conn, shift).await;
    as_superuser(db, &store, &conn, "UPDATE audit_events SET request_id = NULL WHERE seq = 6").await;
    let report = store.verify_chain("default").await.expect("verify");
    let named: Vec<(u64, &str)> = report.column_mismatches.iter().map(|m| (m.seq, m.column)).collect();
    assert_eq!(named, [(3, "actor_id"), (5, "ts"), (6, "request_id")]);
    assert_eq!(report.column_mismatches[2].expected.as_deref(), Some("req-5"));
    assert_eq!(report.column_mismatches[2].stored, None);
}
on_all_backends!(edited_column_is_named);

async fn edited_line_is_a_hash_mismatch(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    record(&store, "second", 4).await;
    let conn = db.connect().await;
    as_superuser(
        db,
        &store,
        &conn,
        "UPDATE audit_events SET line = replace(line, '\"action\":\"login\"', '\"action\":\"logout\"') WHERE chain = 'second' AND seq = 2",
    )
    .await;
    let report = store.verify_chain("second").await.expect("verify");
    let broken = report.lines.broken.clone().expect("the chain must break");
    assert_eq!((broken.seq, broken.reason), (2, BreakReason::HashMismatch));
    assert_eq!(report.lines.verified, 1, "seq 1 is still good");
    // The edited line now also disagrees with the action column.
    assert!(report.column_mismatches.iter().any(|m| m.seq == 2 && m.column == "action"));
    assert!(report.to_string().starts_with("BROKEN at seq 2: hash mismatch"), "{report}");
}
on_all_backends!(edited_line_is_a_hash_mismatch);

async fn removed_newest_event_disagrees_with_the_head(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    record(&store, "third", 3).await;
    let conn = db.connect().await;
    as_superuser(db, &store, &conn, "DELETE FROM audit_events WHERE chain = 'third' AND seq = 3").await;
    let report = store.verify_chain("third").await.expect("verify");
    assert!(report.lines.is_valid(), "what is left is a valid chain");
    assert_eq!(report.lines.verified, 2);
    let problem = report.head_problem.clone().expect("the head says 3 events");
    assert!(problem.contains("events 3..=3 are missing"), "{problem}");
    assert!(!report.is_valid());
}
on_all_backends!(removed_newest_event_disagrees_with_the_head);

/// SQLite keeps whatever bytes it is given, so a line can be edited into bytes that are not
/// UTF-8. Reading the chain hands over the lines before it and ends with
/// `StoreError::UnreadableLine` at its seq (the whole page failed with a driver error, the
/// lines before it lost), verification says `bad format` there, and a query that meets it
/// names the seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_line_that_is_not_utf8_ends_the_read_at_its_seq() {
    use audit_core::store::StoreError;
    use futures_util::StreamExt;
    let db = TestDb::open(Backend::Sqlite, "line_not_utf8").await.expect("SQLite is embedded");
    let store = Arc::new(db.migrated_store().await);
    record(&store, "default", 5).await;
    let conn = db.connect().await;
    as_superuser(&db, &store, &conn, "UPDATE audit_events SET line = CAST(X'7BFF7D' AS TEXT) WHERE seq = 3").await;

    let mut lines = store.read("default", 1, None);
    for seq in [1, 2] {
        let line = lines.next().await.expect("a line").expect("readable");
        assert!(line.contains(&format!("\"seq\":{seq},")), "{line}");
    }
    match lines.next().await.expect("seq 3") {
        Err(StoreError::UnreadableLine { seq: 3, detail }) => assert!(detail.contains("not UTF-8"), "{detail}"),
        other => panic!("expected the unreadable line at seq 3: {other:?}"),
    }
    assert!(lines.next().await.is_none(), "the read ends there");
    drop(lines);
    let after: Vec<String> = store.read("default", 4, None).map(|line| line.expect("readable")).collect().await;
    assert_eq!(after.len(), 2, "the lines after it are read from after it");

    let report = store.verify_chain("default").await.expect("verify");
    let broken = report.lines.broken.expect("broken");
    assert_eq!((broken.seq, broken.reason), (3, BreakReason::BadFormat));

    let error = store.query(&Query::new()).await.expect_err("seq 3 cannot be handed over");
    assert!(error.to_string().contains("seq 3"), "{error}");
    db.cleanup().await;
}
