//! Period bounds at the edges of what a stored event's time can be: beyond the years
//! 0000–9999 (`Timestamp` holds chrono's whole range, e.g. `DateTime::<Utc>::MAX_UTC` as "no
//! end") and in a leap second (`23:59:60.x`, which `Timestamp` parses and orders between
//! `23:59:59.999999` and the next day's `00:00:00`). `Query::until` is "only events before this
//! time": a bound after every event keeps every event, `since` after every event keeps none.
//! SQLite compared `+10000-…` as text, MySQL's `DATETIME` could not hold such bounds (and each
//! such query lost a pooled connection), PostgreSQL moved a leap second to the next second.

mod common;

use audit_core::store::{AppendError, AuditStore, Head, MemoryStore, Query};
use audit_core::{Actor, Auditor, EventDraft, Outcome, SealedEvent, Timestamp};
use audit_seaorm::ReportFilter;
use futures_util::FutureExt as _;
use std::sync::Arc;

fn ts(s: &str) -> Timestamp {
    s.parse().expect("a SPEC time")
}

fn keys(events: &[SealedEvent]) -> Vec<String> {
    events.iter().map(|e| format!("{}:{} {}", e.event.chain, e.seq(), e.event.ts)).collect()
}

async fn bounds_beyond_the_years_0000_to_9999_keep_every_event_or_none(db: &common::TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    for t in ["1950-01-01T00:00:00.000000Z", "2026-05-01T00:00:00.000000Z", "9999-12-31T23:59:59.999999Z"] {
        let draft = EventDraft::new("login").actor(Actor::admin("root")).outcome(Outcome::Failure).with_ts(ts(t));
        auditor.record(draft).await.expect("record");
    }
    auditor.shutdown().await;
    let all = store.query(&Query::new()).await.expect("query").events;
    assert_eq!(all.len(), 3);
    let year_10000 = Timestamp::from_unix_micros(ts("9999-12-31T23:59:59.999999Z").unix_micros() + 1).expect("time");
    let end_of_time = Timestamp::from_datetime(chrono::DateTime::<chrono::Utc>::MAX_UTC);
    let before_year_0 = Timestamp::from_unix_micros(ts("0000-01-01T00:00:00.000000Z").unix_micros() - 1).expect("time");
    let mut wrong = Vec::new();
    let cases = [
        (None, Some(year_10000)),
        (None, Some(end_of_time)),
        (Some(before_year_0), None),
        (Some(year_10000), None),
        (Some(before_year_0), Some(year_10000)),
    ];
    for (since, until) in cases {
        let expected = all
            .iter()
            .filter(|e| since.is_none_or(|t| e.event.ts >= t) && until.is_none_or(|t| e.event.ts < t))
            .count();
        let queried = store.query(&Query::new().between(since, until)).await.map(|p| p.events.len());
        let privileged =
            store.privileged_actions(&ReportFilter::new().between(since, until)).await.map(|p| p.events.len());
        let failures = store
            .repeated_failures(1, &ReportFilter::new().between(since, until))
            .await
            .map(|rows| rows.iter().map(|r| r.failures as usize).sum::<usize>());
        let got = (
            queried.as_ref().map_err(|e| e.to_string()).cloned(),
            privileged.as_ref().map_err(|e| e.to_string()).cloned(),
            failures.as_ref().map_err(|e| e.to_string()).cloned(),
        );
        if got != (Ok(expected), Ok(expected), Ok(expected)) {
            wrong.push(format!(
                "since {:?} until {:?}: expected {expected} events; query, privileged_actions, repeated_failures gave {got:?}",
                since.map(|t| t.to_string()),
                until.map(|t| t.to_string())
            ));
        }
    }
    assert!(wrong.is_empty(), "{:?}:\n{}", db.backend, wrong.join("\n"));
}
on_all_backends!(bounds_beyond_the_years_0000_to_9999_keep_every_event_or_none);

/// MySQL: queries with a bound that `DATETIME` cannot take failed, each losing a connection of
/// the pool, until the store answered nothing: now they are answered, and so is the next.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_answers_after_unrepresentable_bounds_on_mysql() {
    let Some(db) = common::TestDb::open(common::Backend::MySql, "far_bounds_pool").await else { return };
    let result = std::panic::AssertUnwindSafe(async {
        let store = Arc::new(db.migrated_store().await);
        let auditor = Auditor::builder(store.clone()).build();
        auditor.record(EventDraft::new("login").actor(Actor::user("bob"))).await.expect("record");
        auditor.shutdown().await;
        let end_of_time = Timestamp::from_datetime(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        for i in 0..10 {
            let answer = tokio::time::timeout(
                std::time::Duration::from_secs(20),
                store.query(&Query::new().between(None, Some(end_of_time))),
            )
            .await;
            let events = answer
                .unwrap_or_else(|_| panic!("query {i} until {end_of_time} did not answer within 20 s"))
                .unwrap_or_else(|e| panic!("query {i} until {end_of_time}: {e}"))
                .events;
            assert_eq!(events.len(), 1, "query {i}: every event is before the end of time");
        }
        let ordinary = tokio::time::timeout(std::time::Duration::from_secs(20), store.query(&Query::new())).await;
        match ordinary {
            Ok(Ok(page)) => assert_eq!(page.events.len(), 1),
            Ok(Err(e)) => panic!("an ordinary query failed after the unrepresentable bounds: {e}"),
            Err(_) => panic!("an ordinary query did not answer within 20 s after the unrepresentable bounds"),
        }
    })
    .catch_unwind()
    .await;
    db.cleanup().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Ordinary events; the period starts in a leap second. `Query::since`: "Only events at or
/// after this time" — every event of 2017 is after 2016-12-31T23:59:60.5.
async fn a_bound_in_a_leap_second_is_the_next_seconds_start(db: &common::TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    let times = [
        "2016-12-31T23:59:59.900000Z",
        "2017-01-01T00:00:00.000000Z",
        "2017-01-01T00:00:00.100000Z",
        "2017-01-01T00:00:00.600000Z",
        "2017-01-01T00:00:01.000000Z",
    ];
    for t in times {
        auditor
            .record(EventDraft::new("login").actor(Actor::user("bob")).outcome(Outcome::Failure).with_ts(ts(t)))
            .await
            .expect("record");
    }
    auditor.shutdown().await;
    let all = store.query(&Query::new().limit(1000)).await.expect("query").events;
    assert_eq!(all.len(), 5);
    let leap = ts("2016-12-31T23:59:60.500000Z");
    let query = Query::new().between(Some(leap), None).limit(1000);
    let expected: Vec<SealedEvent> = all.iter().filter(|e| query.matches(&e.event)).cloned().collect();
    let got = store.query(&query).await.expect("query").events;
    let failures = store.repeated_failures(1, &ReportFilter::new().between(Some(leap), None)).await.expect("report");
    let counted: u64 = failures.iter().map(|f| f.failures).sum();
    assert_eq!(
        (keys(&got), counted),
        (keys(&expected), expected.len() as u64),
        "{:?}: events at or after {leap} (query; and failures counted by repeated_failures)",
        db.backend
    );
}
on_all_backends!(a_bound_in_a_leap_second_is_the_next_seconds_start);

/// A chain of another writer whose events carry a leap-second time, appended as sealed lines:
/// the store refuses that event for good, naming it (its `ts` column cannot keep the time:
/// PostgreSQL moved it to the next second, so a period ending at 2017-01-01T00:00:00 missed it).
async fn an_event_in_a_leap_second_is_refused_by_name(db: &common::TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let memory = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).chain("other").build();
    for t in ["2016-12-31T23:59:59.000000Z", "2016-12-31T23:59:59.500000Z", "2017-01-01T00:00:00.200000Z"] {
        auditor.record(EventDraft::new("login").actor(Actor::user("bob")).with_ts(ts(t))).await.expect("record");
    }
    auditor.shutdown().await;
    let mut events = memory.events("other");
    let mut head = Head::EMPTY;
    for (i, e) in events.iter_mut().enumerate() {
        if i == 1 {
            e.event.ts = ts("2016-12-31T23:59:60.500000Z");
        }
        e.reseal(head.seq + 1, head.hash);
        head = Head::of(e);
    }
    match store.append("other", Head::EMPTY, &events).await {
        Err(AppendError::Rejected { events: named, reason }) => {
            assert_eq!(named, vec![events[1].event.id], "{:?}: {reason}", db.backend);
            assert!(reason.contains("leap second"), "{reason}");
        }
        other => panic!("{:?}: the leap-second event must be refused for good, got {other:?}", db.backend),
    }
    assert_eq!(store.head("other").await.expect("head"), Head::EMPTY, "nothing of the batch is written");
}
on_all_backends!(an_event_in_a_leap_second_is_refused_by_name);
