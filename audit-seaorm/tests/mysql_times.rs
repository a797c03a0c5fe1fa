//! MySQL/MariaDB: every `ts` is bound as a `DATETIME`, as the column is. It was bound as a
//! `DateTime<Utc>`, which the driver sends as a `TIMESTAMP`, and the server made NULL outside
//! 1970-01-01 00:00:01 – 2038-01-19 03:14:07 UTC: an event of 1969 or 2040 failed its append
//! ("Column 'ts' cannot be null", retried by the writer forever, holding up its chain; from
//! 2038 on, every event), and a period bound outside that window matched no event. The store's
//! answers are checked directly (no timing).

mod common;

use audit_core::store::{AppendError, AuditStore, Head, MemoryStore, Query};
use audit_core::{Actor, Auditor, EventDraft, Outcome, Timestamp};
use audit_seaorm::ReportFilter;
use common::{Backend, TestDb};
use std::sync::Arc;

fn ts(text: &str) -> Timestamp {
    text.parse().expect("a SPEC timestamp")
}

/// Events of 1969-12-31, just after 2038-01-19 03:14:07 and of 2040 are stored (or, at least,
/// refused for good).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_events_outside_the_timestamp_window_are_stored_or_rejected() {
    let Some(db) = TestDb::open(Backend::MySql, "my_ts_window").await else { return };
    let store = db.migrated_store().await;
    let mut answers = Vec::new();
    for (i, at) in ["1969-12-31T23:59:59.000000Z", "2038-01-19T03:14:08.000000Z", "2040-01-01T00:00:00.000000Z"]
        .into_iter()
        .enumerate()
    {
        let chain = format!("c{i}");
        let memory = Arc::new(MemoryStore::new());
        let auditor = Auditor::builder(memory.clone()).chain(chain.clone()).build();
        auditor.record(EventDraft::new("login").actor(Actor::user("alice")).with_ts(ts(at))).await.expect("record");
        auditor.shutdown().await;
        let result = store.append(&chain, Head::EMPTY, &memory.events(&chain)).await;
        let ok = matches!(result, Ok(_) | Err(AppendError::Rejected { .. }));
        answers.push((at, ok, result.map(|_| ()).map_err(|e| e.to_string())));
    }
    db.cleanup().await;
    let bad: Vec<_> = answers.iter().filter(|(_, ok, _)| !ok).collect();
    assert!(
        bad.is_empty(),
        "events the core accepts must be stored or Rejected for good (the writer retries Store errors forever): \
         {bad:#?}"
    );
}

/// Today's events are found with a period that ends after 2038 or starts before 1970 (it found
/// none: `ts < NULL`), by queries and reports.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_query_periods_beyond_the_timestamp_window_find_the_events() {
    let Some(db) = TestDb::open(Backend::MySql, "my_ts_query").await else { return };
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    for _ in 0..3 {
        auditor
            .record(EventDraft::new("login").actor(Actor::admin("alice")).outcome(Outcome::Failure))
            .await
            .expect("record");
    }
    auditor.shutdown().await;
    let unbounded = store.query(&Query::new().actor("alice")).await.expect("query").events.len();
    let until_2050 = store
        .query(&Query::new().actor("alice").between(None, Some(ts("2050-01-01T00:00:00.000000Z"))))
        .await
        .expect("query")
        .events
        .len();
    let since_1960 = store
        .query(&Query::new().actor("alice").between(Some(ts("1960-01-01T00:00:00.000000Z")), None))
        .await
        .expect("query")
        .events
        .len();
    let report = ReportFilter { until: Some(ts("2050-01-01T00:00:00.000000Z")), ..ReportFilter::default() };
    let privileged = store.privileged_actions(&report).await.expect("report").events.len();
    db.cleanup().await;
    assert_eq!(unbounded, 3);
    assert_eq!(
        (until_2050, since_1960, privileged),
        (3, 3, 3),
        "(query until 2050, query since 1960, privileged actions until 2050): every event is in these periods"
    );
}
