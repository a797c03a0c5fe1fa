//! Monthly partitions (PostgreSQL): queries and reports on a partitioned store give the same
//! answers as on an unpartitioned store holding the same trail, and as computed here from the
//! events. The trail's times sit on both sides of each month boundary (the last microsecond of
//! a month, the first of the next), before the first partition and past the last (the default
//! partition), and follow no order in seq, so that nearly every keyset page (by `(chain, seq)`)
//! reads rows of several partitions; periods start and end on the boundaries. Every row is
//! first checked to be in the partition of its month. Checked: filtered queries one-shot and
//! paged, access report, privileged actions, subject access (paged), repeated failures, and the
//! last change of each record (one of them behind 230 later events in other partitions).
//! `ORACLE_SEED=N` runs another seed (default 2026).

mod common;

use audit_core::store::{AuditStore, Cursor, Query, QueryPage};
use audit_core::{Actor, ActorKind, EventDraft, Outcome, SealedEvent, Timestamp};
use audit_seaorm::{DataSubject, FailureSummary, ReportFilter};
use chrono::{Datelike, TimeZone};
use common::{Backend, TestDb};
use fastrand::Rng;
use sea_orm::ConnectionTrait;
use serde_json::json;
use std::collections::BTreeMap;

const CHAINS: [&str; 3] = ["a", "b", "c"];
const ACTIONS: [&str; 4] = ["login", "read", "update", "export"];
const RECORDS: [(&str, &str); 5] =
    [("users", "1"), ("users", "2"), ("orders", "1"), ("users", "alice"), ("users", "big")];
/// Months of partitions made ahead of the current one.
const AHEAD: u32 = 2;

type Key = (String, u64);

fn actors() -> [Actor; 5] {
    [Actor::user("alice"), Actor::user("bob"), Actor::admin("root"), Actor::system("cron"), Actor::user("1")]
}

/// The first instant of the month `months` after the current one.
fn month_start(months: i32) -> Timestamp {
    let now = chrono::Utc::now();
    let index = now.year() * 12 + now.month0() as i32 + months;
    let start = chrono::Utc.with_ymd_and_hms(index.div_euclid(12), index.rem_euclid(12) as u32 + 1, 1, 0, 0, 0);
    Timestamp::from_datetime(start.single().expect("a time"))
}

fn shift(ts: Timestamp, micros: i64) -> Timestamp {
    Timestamp::from_unix_micros(ts.unix_micros() + micros).expect("a time")
}

/// The month boundaries: the current month's start, the partitions' ends, and the end of the
/// last partition (where the default partition takes over again).
fn boundaries() -> Vec<Timestamp> {
    (0..=AHEAD as i32 + 1).map(month_start).collect()
}

/// The times of the trail: each boundary, a microsecond either side, mid-month, and far away.
fn times() -> Vec<Timestamp> {
    let mut times: Vec<Timestamp> =
        boundaries().into_iter().flat_map(|b| [shift(b, -1), b, shift(b, 1), shift(b, 12 * 86_400_000_000)]).collect();
    times.push("1999-12-31T23:59:59.999999Z".parse().expect("a time"));
    times.push("2999-01-01T00:00:00.000000Z".parse().expect("a time"));
    times
}

/// The partition a row at `ts` belongs in.
fn partition_of(ts: Timestamp) -> String {
    let bounds = boundaries();
    for pair in bounds.windows(2) {
        if pair[0] <= ts && ts < pair[1] {
            let start = pair[0].as_datetime();
            return format!("audit_events_y{:04}m{:02}", start.year(), start.month());
        }
    }
    "audit_events_default".to_string()
}

fn trail(rng: &mut Rng) -> Vec<(String, EventDraft)> {
    let (times, actors) = (times(), actors());
    let mut drafts: Vec<(String, EventDraft)> = (0..320)
        .map(|n| {
            let (kind, id) = *rng.choice(&RECORDS).expect("a record");
            let mut draft = EventDraft::new(*rng.choice(&ACTIONS).expect("an action"))
                .actor(rng.choice(&actors).expect("an actor").clone())
                .resource(kind, id)
                .outcome(*rng.choice(&Outcome::ALL).expect("an outcome"))
                .with_ts(*rng.choice(&times).expect("a time"));
            if rng.u8(..100) < 15 {
                draft = draft.tag("privileged");
            }
            if rng.u8(..100) < 40 {
                draft = draft.change("email", Some(json!(format!("old{n}"))), Some(json!(format!("new{n}"))));
            }
            (rng.choice(&CHAINS).expect("a chain").to_string(), draft)
        })
        .collect();
    // users/big: its last change, in the last microsecond before the partitions, lies behind
    // 230 later events in each partition (more than `last_change` reads a statement).
    let record = |draft: EventDraft, ts: Timestamp| ("b".to_string(), draft.resource("users", "big").with_ts(ts));
    let before = shift(month_start(0), -1);
    drafts.push(record(EventDraft::new("update").change("email", Some(json!("x")), Some(json!("y"))), before));
    for n in 0..230 {
        let later = *rng.choice(&times[1..times.len() - 2]).expect("a time");
        drafts.push(record(EventDraft::new("read").detail("n", json!(n)), later));
    }
    drafts
}

fn keys(events: &[SealedEvent]) -> Vec<Key> {
    events.iter().map(|e| (e.event.chain.clone(), e.seq())).collect()
}

fn report_matches(f: &ReportFilter, e: &audit_core::Event) -> bool {
    f.chain.as_deref().is_none_or(|c| c == e.chain)
        && f.since.is_none_or(|t| e.ts >= t)
        && f.until.is_none_or(|t| e.ts < t)
        && f.action.as_deref().is_none_or(|a| a == e.action)
        && (f.outcomes.is_empty() || f.outcomes.contains(&e.outcome))
}

fn query_matches(q: &Query, e: &audit_core::Event) -> bool {
    let eq = |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|f| f == value);
    eq(&q.chain, &e.chain)
        && eq(&q.actor, &e.actor.id)
        && eq(&q.action, &e.action)
        && eq(&q.resource_type, &e.resource.kind)
        && eq(&q.resource_id, &e.resource.id)
        && q.outcome.is_none_or(|o| o == e.outcome)
        && q.since.is_none_or(|t| e.ts >= t)
        && q.until.is_none_or(|t| e.ts < t)
}

/// A period bound: none, or a time of the trail (a boundary or next to one).
fn bound(rng: &mut Rng, times: &[Timestamp]) -> Option<Timestamp> {
    (rng.u8(..100) < 70).then(|| *rng.choice(times).expect("a time"))
}

fn report_filter(rng: &mut Rng, times: &[Timestamp]) -> ReportFilter {
    let mut f = ReportFilter::new().between(bound(rng, times), bound(rng, times));
    if rng.u8(..100) < 30 {
        f = f.chain(*rng.choice(&CHAINS).expect("a chain"));
    }
    if rng.u8(..100) < 30 {
        f = f.action(*rng.choice(&ACTIONS).expect("an action"));
    }
    if rng.u8(..100) < 40 {
        f = f.outcomes(Outcome::ALL.into_iter().filter(|_| rng.bool()));
    }
    f
}

/// Pages through an answer at page size `limit`: the events, and the pages.
async fn paged<F, Fut>(limit: usize, fetch: F) -> Result<Vec<Vec<Key>>, String>
where
    F: Fn(Option<Cursor>, usize) -> Fut,
    Fut: std::future::Future<Output = QueryPage>,
{
    let mut pages = Vec::new();
    let mut after = None;
    for _ in 0..1000 {
        let page = fetch(after.clone(), limit).await;
        if page.events.len() > limit {
            return Err(format!("a page of {} events at limit {limit}", page.events.len()));
        }
        pages.push(keys(&page.events));
        match page.next {
            Some(next) if page.events.is_empty() => return Err(format!("an empty page with cursor {next:?}")),
            Some(next) => after = Some(next),
            None => return Ok(pages),
        }
    }
    Err("more than 1000 pages".into())
}

/// Checks one answer of both stores, one-shot and paged, against `expected`.
async fn check<F, Fut>(what: &str, expected: &[Key], problems: &mut Vec<String>, fetch: F)
where
    F: Fn(&'static str, Option<Cursor>, usize) -> Fut,
    Fut: std::future::Future<Output = QueryPage>,
{
    for store in ["partitioned", "plain"] {
        let one = fetch(store, None, 100_000).await;
        if keys(&one.events) != expected || one.next.is_some() {
            problems.push(format!(
                "{what} on the {store} store, one-shot: got {:?}, expected {expected:?}",
                keys(&one.events)
            ));
            continue;
        }
        let limits: &[usize] = if expected.len() <= 30 { &[1, 2, 5] } else { &[7, 25] };
        for &limit in limits {
            match paged(limit, |after, limit| fetch(store, after, limit)).await {
                Ok(pages) if pages.concat() == expected => {}
                Ok(pages) => problems.push(format!("{what} on the {store} store in pages of {limit}: {pages:?}")),
                Err(e) => problems.push(format!("{what} on the {store} store in pages of {limit}: {e}")),
            }
        }
    }
}

fn expected_failures(all: &[SealedEvent], min: u64, filter: &ReportFilter) -> Vec<FailureSummary> {
    let outcomes =
        if filter.outcomes.is_empty() { vec![Outcome::Failure, Outcome::Denied] } else { filter.outcomes.clone() };
    let f = ReportFilter { outcomes, ..filter.clone() };
    let mut by: BTreeMap<String, FailureSummary> = BTreeMap::new();
    for e in all.iter().map(|e| &e.event).filter(|e| report_matches(&f, e)) {
        let s = by.entry(e.actor.id.clone()).or_insert_with(|| FailureSummary {
            actor_id: e.actor.id.clone(),
            actor_kinds: vec![],
            failures: 0,
            first: e.ts,
            last: e.ts,
        });
        if !s.actor_kinds.contains(&e.actor.kind) {
            s.actor_kinds.push(e.actor.kind);
        }
        s.failures += 1;
        s.first = s.first.min(e.ts);
        s.last = s.last.max(e.ts);
    }
    let mut out: Vec<FailureSummary> = by
        .into_values()
        .filter(|s| s.failures >= min.max(1))
        .map(|mut s| {
            s.actor_kinds.sort_by_key(|kind| kind.as_str());
            s
        })
        .collect();
    out.sort_by(|a, b| b.failures.cmp(&a.failures).then_with(|| a.actor_id.cmp(&b.actor_id)));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_partitioned_answers_equal_unpartitioned_across_month_boundaries() {
    use futures_util::FutureExt;
    let Some(partitioned) = TestDb::open(Backend::Postgres, "pg_part_months").await else { return };
    let Some(plain) = TestDb::open(Backend::Postgres, "pg_plain_months").await else {
        partitioned.cleanup().await;
        return;
    };
    let result = std::panic::AssertUnwindSafe(same_answers(&partitioned, &plain)).catch_unwind().await;
    partitioned.cleanup().await;
    plain.cleanup().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn same_answers(partitioned_db: &TestDb, plain_db: &TestDb) {
    let partitioned = partitioned_db.store().await.with_monthly_partitions(AHEAD);
    partitioned.migrate().await.expect("migrate the partitioned store");
    let plain = plain_db.migrated_store().await;
    let mut rng = Rng::with_seed(std::env::var("ORACLE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(2026));
    let all = common::seal(trail(&mut rng)).await;
    common::append_sealed(&partitioned, &all).await;
    common::append_sealed(&plain, &all).await;

    // Every row is in its month's partition, and every partition holds some.
    let conn = partitioned_db.connect().await;
    let rows = conn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT chain, seq, tableoid::regclass::text FROM audit_events ORDER BY chain, seq",
        ))
        .await
        .expect("read the rows' partitions");
    let mut held: BTreeMap<Key, String> = BTreeMap::new();
    for row in &rows {
        let chain: String = row.try_get_by_index(0).expect("chain");
        let seq: i64 = row.try_get_by_index(1).expect("seq");
        held.insert((chain, seq as u64), row.try_get_by_index(2).expect("partition"));
    }
    let partition: BTreeMap<Key, String> =
        all.iter().map(|e| ((e.event.chain.clone(), e.seq()), partition_of(e.event.ts))).collect();
    assert_eq!(held, partition, "each row in the partition of its month");
    let used: std::collections::BTreeSet<&String> = partition.values().collect();
    assert_eq!(used.len(), AHEAD as usize + 2, "rows in every monthly partition and the default one: {used:?}");

    let (partitioned, plain) = (&partitioned, &plain);
    let stores = |name: &'static str| if name == "partitioned" { partitioned } else { plain };
    let times = times();
    let mut problems: Vec<String> = Vec::new();

    // The whole trail in pages: most pages hold rows of several partitions.
    let everything = keys(&all);
    let pages = paged(7, |after, limit| async move {
        partitioned.query(&Query::new().after(after).limit(limit)).await.expect("query")
    })
    .await
    .expect("pages");
    assert_eq!(pages.concat(), everything, "every event once, in (chain, seq) order");
    let spanning = pages
        .iter()
        .filter(|page| page.iter().map(|k| &partition[k]).collect::<std::collections::BTreeSet<_>>().len() > 1);
    assert!(spanning.count() > pages.len() / 2, "pages cross partitions");

    // Queries.
    let actors = actors();
    for round in 0..50 {
        let mut q = Query::new().between(bound(&mut rng, &times), bound(&mut rng, &times));
        if rng.u8(..100) < 30 {
            q.chain = Some(rng.choice(&CHAINS).expect("a chain").to_string());
        }
        if rng.u8(..100) < 30 {
            q.actor = Some(rng.choice(&actors).expect("an actor").id.clone());
        }
        if rng.u8(..100) < 30 {
            q.action = Some(rng.choice(&ACTIONS).expect("an action").to_string());
        }
        if rng.u8(..100) < 30 {
            let (kind, id) = *rng.choice(&RECORDS).expect("a record");
            q = q.resource(kind, rng.bool().then(|| id.to_string()));
        }
        if rng.u8(..100) < 30 {
            q.outcome = Some(*rng.choice(&Outcome::ALL).expect("an outcome"));
        }
        let expected: Vec<Key> =
            all.iter().filter(|e| query_matches(&q, &e.event)).map(|e| (e.event.chain.clone(), e.seq())).collect();
        let what = format!("query #{round} {q:?}");
        check(&what, &expected, &mut problems, |store, after, limit| {
            let q = q.clone().after(after).limit(limit);
            async move { stores(store).query(&q).await.expect("query") }
        })
        .await;
    }

    // Access reports.
    for round in 0..20 {
        let (kind, id) = *rng.choice(&RECORDS).expect("a record");
        let filter = report_filter(&mut rng, &times);
        let expected: Vec<Key> = all
            .iter()
            .filter(|e| e.event.resource.kind == kind && e.event.resource.id == id && report_matches(&filter, &e.event))
            .map(|e| (e.event.chain.clone(), e.seq()))
            .collect();
        let what = format!("access_report #{round} {kind}/{id} {filter:?}");
        check(&what, &expected, &mut problems, |store, after, limit| {
            let f = filter.clone().after(after).limit(limit);
            async move { stores(store).access_report(kind, id, &f).await.expect("access report") }
        })
        .await;
    }

    // Privileged actions.
    for round in 0..20 {
        let filter = report_filter(&mut rng, &times);
        let expected: Vec<Key> = all
            .iter()
            .filter(|e| {
                (matches!(e.event.actor.kind, ActorKind::Admin | ActorKind::System)
                    || e.event.tags.iter().any(|t| t == "privileged"))
                    && report_matches(&filter, &e.event)
            })
            .map(|e| (e.event.chain.clone(), e.seq()))
            .collect();
        let what = format!("privileged_actions #{round} {filter:?}");
        check(&what, &expected, &mut problems, |store, after, limit| {
            let f = filter.clone().after(after).limit(limit);
            async move { stores(store).privileged_actions(&f).await.expect("privileged actions") }
        })
        .await;
    }

    // Subject access.
    for round in 0..20 {
        let id = *rng.choice(&["alice", "1", "root", "2"]).expect("an id");
        let subject = if rng.bool() { DataSubject::new(id) } else { DataSubject::new(id).resource_types(["users"]) };
        let filter = report_filter(&mut rng, &times);
        let expected: Vec<Key> = all
            .iter()
            .filter(|e| {
                let e = &e.event;
                (e.actor.id == id
                    || (e.resource.id == id
                        && (subject.resource_types.is_empty() || subject.resource_types.contains(&e.resource.kind))))
                    && report_matches(&filter, e)
            })
            .map(|e| (e.event.chain.clone(), e.seq()))
            .collect();
        let what = format!("subject_events #{round} {subject:?} {filter:?}");
        check(&what, &expected, &mut problems, |store, after, limit| {
            let (s, f) = (subject.clone(), filter.clone().after(after).limit(limit));
            async move { stores(store).subject_events(&s, &f).await.expect("subject events") }
        })
        .await;
    }

    // Repeated failures.
    for round in 0..20 {
        let filter = report_filter(&mut rng, &times);
        let min = *rng.choice(&[1u64, 3, 10]).expect("a threshold");
        let expected = expected_failures(&all, min, &filter);
        for store in ["partitioned", "plain"] {
            let got = stores(store).repeated_failures(min, &filter).await.expect("repeated failures");
            if got != expected {
                problems.push(format!("repeated_failures #{round} ({min}, {filter:?}) on the {store} store: got {got:?}, expected {expected:?}"));
            }
        }
    }

    // Last change of each record.
    for (kind, id) in RECORDS {
        for chain in [None, Some("a"), Some("b"), Some("c")] {
            let expected = all
                .iter()
                .filter(|e| {
                    let e = &e.event;
                    e.resource.kind == kind
                        && e.resource.id == id
                        && chain.is_none_or(|c| c == e.chain)
                        && e.outcome == Outcome::Success
                        && !e.changes.is_empty()
                })
                .max_by(|a, b| (a.event.ts, &a.event.chain, a.seq()).cmp(&(b.event.ts, &b.event.chain, b.seq())));
            for store in ["partitioned", "plain"] {
                let got = stores(store).last_change(kind, id, chain).await.expect("last change");
                let got = got.map(|c| (c.event.event.chain.clone(), c.event.seq(), c.fields));
                let expected = expected.map(|e| (e.event.chain.clone(), e.seq(), e.event.changes.clone()));
                if got != expected {
                    problems.push(format!(
                        "last_change({kind}/{id}, {chain:?}) on the {store} store: got {got:?}, expected {expected:?}"
                    ));
                }
            }
        }
    }

    assert!(problems.is_empty(), "{} wrong answers:\n{}", problems.len(), problems.join("\n"));
    for chain in CHAINS {
        assert!(partitioned.verify_chain(chain).await.expect("verify").is_valid(), "chain {chain} verifies");
    }
}
