//! A PostgreSQL `ts` that no event time can be (`infinity`, `-infinity`, a year past 262143; only
//! a superuser who switched the append-only triggers off can write one) never panics the reader
//! (sqlx's own decoding of such a value into chrono does): verification reports the column as
//! edited, and the reports that read `ts` fail with an error saying what the column holds.
//!
//! The same on MySQL/MariaDB for a `DATETIME` no time can be: a zero date (`0000-00-00`), a zero
//! in a date (`2026-03-00`) or a day the month lacks (`2026-02-30`), which a session without
//! `NO_ZERO_DATE` / `NO_ZERO_IN_DATE` / strict mode (or with `ALLOW_INVALID_DATES`) writes. The
//! driver refuses to decode them: verification stopped with a database error (`verify --db`:
//! exit 2) instead of naming the edited column, though a zero date hides its event from every
//! query with a start (`since`).

mod common;

use audit_core::store::{AuditStore, Query};
use audit_core::{Actor, Auditor, EventDraft, Outcome};
use audit_seaorm::{ReportFilter, SqlStore, SqlStoreError};
use common::{Backend, TestDb, append_only_off, append_only_on};
use sea_orm::{ConnectionTrait, TransactionTrait};
use std::sync::Arc;

/// Three events on `documents/7`, each with a change and denied; then `ts` of seq 2 and 3 set to
/// `values` behind the triggers' back.
async fn tampered_store(db: &TestDb, values: [&str; 2]) -> Arc<SqlStore> {
    let store = recorded_store(db, 3).await;
    let conn = db.connect().await;
    append_only_off(db, &conn).await;
    for (seq, value) in [2, 3].into_iter().zip(values) {
        let sql = format!("UPDATE audit_events SET ts = '{value}' WHERE seq = {seq}");
        conn.execute_unprepared(&sql).await.expect("edit ts");
    }
    append_only_on(db, &store, &conn).await;
    store
}

/// `n` events on `documents/7`, each with a change and denied.
async fn recorded_store(db: &TestDb, n: i64) -> Arc<SqlStore> {
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    for i in 0..n {
        let draft = EventDraft::new("update")
            .actor(Actor::user("mallory"))
            .resource("documents", "7")
            .change("title", Some(i.into()), Some((i + 1).into()))
            .outcome(Outcome::Denied);
        auditor.record(draft).await.expect("record");
    }
    auditor.shutdown().await;
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_reports_an_infinite_ts_as_an_edited_column() {
    let Some(db) = TestDb::open(Backend::Postgres, "ts_infinity").await else { return };
    let store = tampered_store(&db, ["infinity", "-infinity"]).await;
    let report = store.verify_chain("default").await.expect("verify");
    assert!(!report.is_valid());
    assert!(report.lines.is_valid(), "the lines are untouched: {report}");
    let found: Vec<(u64, &str, Option<&str>)> =
        report.column_mismatches.iter().map(|m| (m.seq, m.column, m.stored.as_deref())).collect();
    assert_eq!(found, [(2, "ts", Some("infinity")), (3, "ts", Some("-infinity"))]);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_reports_a_ts_beyond_the_years_a_timestamp_can_have() {
    let Some(db) = TestDb::open(Backend::Postgres, "ts_far_future").await else { return };
    // PostgreSQL's timestamps reach the year 294276; chrono's end in 262143.
    let store = tampered_store(&db, ["290000-01-01 00:00:00+00", "2030-01-01 00:00:00+00"]).await;
    let report = store.verify_chain("default").await.expect("verify");
    let found: Vec<(u64, &str)> = report.column_mismatches.iter().map(|m| (m.seq, m.column)).collect();
    assert_eq!(found, [(2, "ts"), (3, "ts")]);
    let far = report.column_mismatches[0].stored.clone().expect("a value");
    assert!(far.contains("beyond the years"), "{far}");
    assert_eq!(report.column_mismatches[1].stored.as_deref(), Some("2030-01-01T00:00:00.000000Z"));
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_that_read_an_infinite_ts_fail_saying_what_it_holds() {
    let Some(db) = TestDb::open(Backend::Postgres, "ts_infinity_reports").await else { return };
    let store = tampered_store(&db, ["infinity", "-infinity"]).await;
    let corrupt = |result: Result<(), SqlStoreError>, what: &str| match result {
        Err(SqlStoreError::Corrupt(message)) => assert!(message.contains("infinity"), "{what}: {message}"),
        other => panic!("{what}: expected a corrupt-data error, got {other:?}"),
    };
    corrupt(store.repeated_failures(1, &ReportFilter::new()).await.map(drop), "repeated failures");
    corrupt(store.last_change("documents", "7", None).await.map(drop), "last change");
    db.cleanup().await;
}

/// MySQL/MariaDB: four events on `documents/7`; `ts` of seq 2, 3 and 4 set behind the triggers'
/// back, each in a session whose `sql_mode` lets it through, to a zero date, a day February
/// lacks and a zero day.
async fn mysql_tampered_store(db: &TestDb) -> Arc<SqlStore> {
    let store = recorded_store(db, 4).await;
    let conn = db.connect().await;
    append_only_off(db, &conn).await;
    let edits = [
        ("", "0000-00-00 00:00:00", 2),
        ("ALLOW_INVALID_DATES", "2026-02-30 10:00:00", 3),
        ("", "2026-03-00 00:00:00", 4),
    ];
    for (mode, value, seq) in edits {
        // One connection for both statements: the session's mode applies to the edit.
        let txn = conn.begin().await.expect("begin");
        txn.execute_unprepared(&format!("SET SESSION sql_mode = '{mode}'")).await.expect("sql_mode");
        let sql = format!("UPDATE audit_events SET ts = '{value}' WHERE seq = {seq}");
        let changed = txn.execute_unprepared(&sql).await.expect("edit ts");
        assert_eq!(changed.rows_affected(), 1, "{sql}");
        txn.commit().await.expect("commit");
    }
    let sql = "SELECT CAST(ts AS CHAR) FROM audit_events WHERE seq >= 2 ORDER BY seq";
    let held: Vec<String> = conn
        .query_all_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::MySql, sql))
        .await
        .expect("read ts")
        .iter()
        .map(|row| row.try_get_by_index(0).expect("text"))
        .collect();
    assert_eq!(
        held,
        ["0000-00-00 00:00:00.000000", "2026-02-30 10:00:00.000000", "2026-03-00 00:00:00.000000"],
        "the server holds the edited values"
    );
    append_only_on(db, &store, &conn).await;
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_verification_reports_a_zero_or_invalid_date_as_an_edited_column() {
    let Some(db) = TestDb::open(Backend::MySql, "my_ts_zero_date").await else { return };
    let store = mysql_tampered_store(&db).await;
    // The zero date hides its event from any query with a start: only verification finds it.
    let since = Query::new().between(Some("2000-01-01T00:00:00.000000Z".parse().expect("a time")), None);
    let found: Vec<u64> = store.query(&since).await.expect("query").events.iter().map(|e| e.seq()).collect();
    assert!(!found.contains(&2), "the zero date hides seq 2 from a query since 2000: {found:?}");
    let report = store.verify_chain("default").await.expect("verify: a column mismatch, not an error");
    assert!(!report.is_valid());
    assert!(report.lines.is_valid(), "the lines are untouched: {report}");
    let found: Vec<(u64, &str, Option<&str>)> =
        report.column_mismatches.iter().map(|m| (m.seq, m.column, m.stored.as_deref())).collect();
    assert_eq!(
        found,
        [
            (2, "ts", Some("0000-00-00 00:00:00.000000")),
            (3, "ts", Some("2026-02-30 10:00:00.000000")),
            (4, "ts", Some("2026-03-00 00:00:00.000000")),
        ]
    );
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_reports_that_read_a_zero_date_fail_saying_what_it_holds() {
    let Some(db) = TestDb::open(Backend::MySql, "my_ts_zero_reports").await else { return };
    let store = mysql_tampered_store(&db).await;
    let corrupt = |result: Result<(), SqlStoreError>, what: &str| match result {
        Err(SqlStoreError::Corrupt(message)) => assert!(message.contains("-00"), "{what}: {message}"),
        other => panic!("{what}: expected a corrupt-data error, got {other:?}"),
    };
    corrupt(store.repeated_failures(1, &ReportFilter::new()).await.map(drop), "repeated failures");
    corrupt(store.last_change("documents", "7", None).await.map(drop), "last change");
    db.cleanup().await;
}
