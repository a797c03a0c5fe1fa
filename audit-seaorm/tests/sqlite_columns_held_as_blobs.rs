//! SQLite keeps a value of any type in any column: an indexed column edited into a blob of the
//! very bytes of its text (`CAST(actor_id AS BLOB)`) still reads as those bytes, yet SQLite
//! never finds a blob equal to text (and orders every blob after all text), so the event is
//! hidden from the queries and reports on that column. Store verification names each such
//! column with its seq, as it names any other edited column.

mod common;

use audit_core::store::{AuditStore, Query};
use audit_core::{Actor, Auditor, Context, EventDraft, Timestamp};
use audit_seaorm::SqlStore;
use common::{Backend, TestDb, append_only_off, append_only_on};
use sea_orm::ConnectionTrait;
use std::sync::Arc;

/// Eleven events, each with its own actor, action, resource, request id and tag.
async fn record(store: &Arc<SqlStore>) {
    let auditor = Auditor::builder(store.clone()).build();
    for i in 1..=11 {
        let draft = EventDraft::new(format!("act{i}"))
            .actor(Actor::user(format!("user{i}")))
            .resource(format!("type{i}"), format!("id{i}"))
            .context(Context { request_id: Some(format!("req-{i}")), ..Context::default() })
            .tag(format!("t{i}"));
        auditor.record(draft).await.expect("record");
    }
    auditor.shutdown().await;
}

#[tokio::test]
async fn a_column_edited_into_a_blob_is_a_column_mismatch_on_sqlite() {
    let Some(db) = TestDb::open(Backend::Sqlite, "blob_columns").await else { return };
    let store = Arc::new(db.migrated_store().await);
    record(&store).await;
    let report = store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report}");
    let conn = db.connect().await;
    let found = |query: Query| {
        let store = store.clone();
        async move {
            let page = store.query(&query).await.expect("query");
            page.events.iter().map(|e| e.event.seq).collect::<Vec<u64>>()
        }
    };
    assert_eq!(found(Query::new().actor("user1")).await, [1]);

    // (seq, column): each column edited into a blob of its own bytes, on a row of its own; the
    // last row's line is made non-canonical below (its columns are then compared as parsed JSON).
    let edits = [
        (1, "actor_id"),
        (2, "actor_kind"),
        (3, "action"),
        (4, "resource_type"),
        (5, "resource_id"),
        (6, "outcome"),
        (7, "request_id"),
        (8, "tags"),
        (9, "id"),
        (10, "ts"),
        (11, "actor_id"),
    ];
    let tamper = |sql: String| {
        let conn = conn.clone();
        async move {
            let changed = conn.execute_unprepared(&sql).await.expect("tamper");
            assert_eq!(changed.rows_affected(), 1, "{sql}");
        }
    };
    append_only_off(&db, &conn).await;
    for (seq, column) in edits {
        tamper(format!("UPDATE audit_events SET {column} = CAST({column} AS BLOB) WHERE seq = {seq}")).await;
    }
    append_only_on(&db, &store, &conn).await;

    // What the edits do: the events are gone from queries on those columns.
    assert_eq!(found(Query::new().actor("user1")).await, Vec::<u64>::new());
    assert_eq!(found(Query::new().request_id("req-7")).await, Vec::<u64>::new());
    let until: Timestamp = "9999-01-01T00:00:00.000000Z".parse().expect("a time");
    let before_10000 = found(Query::new().between(None, Some(until))).await;
    assert_eq!(before_10000, [1, 2, 3, 4, 5, 6, 7, 8, 9, 11], "seq 10 hidden by its ts");

    // Every line still verifies: only the column check can tell.
    let report = store.verify_chain("default").await.expect("verify");
    assert!(!report.is_valid(), "events hidden from queries by blob columns: {report}");
    assert!(report.lines.is_valid(), "{report}");
    assert_eq!(report.column_mismatch_count, edits.len() as u64, "{report}");

    append_only_off(&db, &conn).await;
    tamper("UPDATE audit_events SET line = replace(line, '\"actor\":{', '\"actor\": {') WHERE seq = 11".into()).await;
    append_only_on(&db, &store, &conn).await;

    let report = store.verify_chain("default").await.expect("verify");
    assert!(!report.is_valid(), "blob columns hide events from queries: {report}");
    let named: Vec<(u64, &str)> = report.column_mismatches.iter().map(|m| (m.seq, m.column)).collect();
    assert_eq!(named, edits, "{report}");
    for mismatch in &report.column_mismatches {
        let stored = mismatch.stored.as_deref().unwrap_or_default();
        assert!(stored.starts_with("blob X'"), "{mismatch}");
        assert!(mismatch.expected.is_some(), "{mismatch}");
    }
    assert_eq!(report.column_mismatch_count, edits.len() as u64);
    let broken = report.lines.broken.clone().expect("seq 11 is not canonical any more");
    assert_eq!((broken.seq, broken.reason.as_str()), (11, "bad format"));
    db.cleanup().await;
}
