//! Every query and compliance report of the SQL store against a brute-force answer
//! computed in Rust from the events themselves, on a few thousand varied events (several
//! chains; awkward ids; equal and neighbouring timestamps; years before 1970 and after 2038),
//! with paging at small page sizes. `ORACLE_SEED=N` runs another seed (default 12345).

mod common;

use audit_core::store::{AuditStore, Cursor, Head, MemoryStore, Query, QueryPage};
use audit_core::{Actor, ActorKind, Auditor, EventDraft, Outcome, SealedEvent, Timestamp};
use audit_seaorm::{DataSubject, FailureSummary, ReportFilter, SqlStore};
use common::TestDb;
use fastrand::Rng;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(crate) const CHAINS: [&str; 6] = ["alpha", "alpha2", "Alpha", "bé", "z😀", "a%_"];

fn actor_ids() -> Vec<String> {
    vec![
        "alice".into(),
        "Alice".into(),
        "alice ".into(),
        "al".into(),
        "al%".into(),
        "al_".into(),
        "a\\b".into(),
        "o'neil".into(),
        "q\"x".into(),
        "nul\0x".into(),
        "nul\u{1}x".into(),
        "😀".into(),
        "42".into(),
        "x".repeat(1000),
        format!("{}y", "x".repeat(1000)),
        "root".into(),
    ]
}

fn resource_types() -> Vec<String> {
    vec!["users".into(), "Users".into(), "orders".into(), "".into(), "u%".into()]
}

fn resource_ids() -> Vec<String> {
    vec![
        "42".into(),
        "4".into(),
        "420".into(),
        "4%".into(),
        "4_".into(),
        "4\\".into(),
        "'".into(),
        "\0".into(),
        "\u{1}".into(),
        "".into(),
        "😀".into(),
        "alice".into(),
        "z".repeat(1024),
        format!("{}a", "z".repeat(1020)),
    ]
}

pub(crate) const ACTIONS: [&str; 8] = ["login", "Login", "export", "update", "read", "lo%in", "login\0", "login\u{1}"];

fn timestamps() -> Vec<Timestamp> {
    [
        "1000-01-01T00:00:00.000000Z",
        "1950-06-15T12:00:00.000000Z",
        "1969-12-31T23:59:59.999999Z",
        "1970-01-01T00:00:00.000000Z",
        "1970-01-01T00:00:00.000001Z",
        "2026-01-01T00:00:00.000000Z",
        "2026-01-01T00:00:00.000001Z",
        "2026-01-01T00:00:00.000002Z",
        "2026-01-01T00:00:00.999999Z",
        "2026-01-01T00:00:01.000000Z",
        "2026-06-30T23:59:59.999999Z",
        "2038-01-19T03:14:07.000000Z",
        "2038-01-19T03:14:08.000000Z",
        "2040-02-29T10:00:00.500000Z",
        "2100-01-01T00:00:00.000000Z",
        "9999-12-31T23:59:59.999999Z",
    ]
    .iter()
    .map(|t| t.parse().expect("ts"))
    .collect()
}

fn tag_sets() -> Vec<Vec<&'static str>> {
    vec![
        vec![],
        vec![],
        vec!["privileged"],
        vec!["Privileged"],
        vec!["privileged-ish"],
        vec!["x", "privileged"],
        vec!["\"privileged\""],
    ]
}

/// Builds the trail in memory, then appends it to the SQL store chain by chain. Returns all
/// stored events in `(chain, seq)` order.
async fn build(store: &SqlStore, seed: u64, count: usize) -> Vec<SealedEvent> {
    let memory = Arc::new(MemoryStore::new());
    let mut rng = Rng::with_seed(seed);
    let (actors, types, ids, times, tags) = (actor_ids(), resource_types(), resource_ids(), timestamps(), tag_sets());
    let kinds = ActorKind::ALL;
    let auditors: Vec<Auditor> =
        CHAINS.iter().map(|c| Auditor::builder(memory.clone()).chain(*c).queue_capacity(count + 10).build()).collect();
    for n in 0..count {
        let auditor = rng.choice(&auditors).expect("a non-empty list");
        let actor = Actor::new(
            rng.choice(&actors).expect("a non-empty list").clone(),
            *rng.choice(&kinds).expect("a non-empty list"),
        );
        let mut draft = EventDraft::new(*rng.choice(&ACTIONS).expect("a non-empty list"))
            .actor(actor)
            .resource(
                rng.choice(&types).expect("a non-empty list").clone(),
                rng.choice(&ids).expect("a non-empty list").clone(),
            )
            .outcome(*rng.choice(&Outcome::ALL).expect("a non-empty list"))
            .with_ts(*rng.choice(&times).expect("a non-empty list"));
        for tag in rng.choice(&tags).expect("a non-empty list") {
            draft = draft.tag(*tag);
        }
        if rng.u64(..100) < 30 {
            draft = draft.change("email", Some(json!(format!("old{n}"))), Some(json!(format!("new{n}"))));
        }
        if rng.u64(..100) < 10 {
            draft = draft.change("created", None, Some(json!(n)));
        }
        if rng.u64(..100) < 20 {
            draft = draft.with_id(uuid::Uuid::from_u128(u128::from(rng.u64(..)) << 64 | n as u128));
        }
        auditor.record_buffered(draft).await.expect("record");
    }
    for auditor in &auditors {
        auditor.shutdown().await;
    }
    let mut all = Vec::new();
    for chain in CHAINS {
        let events = memory.events(chain);
        for part in events.chunks(400) {
            let expected = Head { seq: part[0].seq() - 1, hash: part[0].event.prev };
            store.append(chain, expected, part).await.unwrap_or_else(|e| panic!("append {chain}: {e}"));
        }
        all.extend(events);
    }
    assert_eq!(all.len(), count);
    all.sort_by(|a, b| (a.event.chain.as_str(), a.seq()).cmp(&(b.event.chain.as_str(), b.seq())));
    all
}

pub(crate) type Key = (String, u64);

fn keys(events: &[SealedEvent]) -> Vec<Key> {
    events.iter().map(|e| (e.event.chain.clone(), e.seq())).collect()
}

fn short(keys: &[Key]) -> String {
    let mut out: Vec<String> = keys.iter().take(12).map(|(c, s)| format!("{c}:{s}")).collect();
    if keys.len() > 12 {
        out.push(format!("… ({} in all)", keys.len()));
    }
    out.join(", ")
}

fn report_matches(filter: &ReportFilter, e: &audit_core::Event) -> bool {
    filter.chain.as_deref().is_none_or(|c| c == e.chain)
        && filter.since.is_none_or(|t| e.ts >= t)
        && filter.until.is_none_or(|t| e.ts < t)
        && filter.action.as_deref().is_none_or(|a| a == e.action)
        && (filter.outcomes.is_empty() || filter.outcomes.contains(&e.outcome))
        && filter.after.as_ref().is_none_or(|c| (e.chain.as_str(), e.seq) > (c.chain.as_str(), c.seq))
}

fn random_bound(rng: &mut Rng, times: &[Timestamp]) -> Option<Timestamp> {
    if rng.u64(..100) < 40 {
        return None;
    }
    let t = *rng.choice(times).expect("a non-empty list");
    let shift = [-1i64, 0, 0, 1][rng.usize(..4)];
    // Within the years events can have (bounds beyond them: see period_bound_edges.rs).
    Timestamp::from_unix_micros(t.unix_micros() + shift).filter(|t| t.has_spec_year())
}

fn random_report_filter(rng: &mut Rng) -> ReportFilter {
    let times = timestamps();
    let mut f = ReportFilter::new();
    if rng.u64(..100) < 30 {
        f = f.chain(*rng.choice(&CHAINS).expect("a non-empty list"));
    }
    if rng.u64(..100) < 30 {
        f = f.action(*rng.choice(&ACTIONS).expect("a non-empty list"));
    }
    if rng.u64(..100) < 40 {
        let outcomes: Vec<Outcome> = Outcome::ALL.into_iter().filter(|_| rng.u64(..100) < 50).collect();
        f = f.outcomes(outcomes);
    }
    let (a, b) = (random_bound(rng, &times), random_bound(rng, &times));
    f.between(a, b)
}

/// Pages through `fetch` with `limit`, returning all events, and checking `next` is None only
/// at the end.
async fn page_all<F, Fut>(limit: usize, mut fetch: F) -> Result<Vec<Key>, String>
where
    F: FnMut(Option<Cursor>, usize) -> Fut,
    Fut: std::future::Future<Output = QueryPage>,
{
    let mut out = Vec::new();
    let mut cursor = None;
    for _ in 0..100_000 {
        let page = fetch(cursor.clone(), limit).await;
        if page.events.len() > limit {
            return Err(format!("page of {} events at limit {limit}", page.events.len()));
        }
        out.extend(keys(&page.events));
        match page.next {
            Some(next) => {
                if page.events.is_empty() {
                    return Err("empty page with a next cursor".into());
                }
                cursor = Some(next)
            }
            None => return Ok(out),
        }
    }
    Err("did not end".into())
}

/// Compares one-shot and paged answers with `expected`; records mismatches.
async fn check_paged<F, Fut>(what: &str, expected: &[Key], problems: &mut Vec<String>, fetch: F)
where
    F: Fn(Option<Cursor>, usize) -> Fut,
    Fut: std::future::Future<Output = QueryPage>,
{
    let one = fetch(None, 1_000_000).await;
    let got = keys(&one.events);
    if got != expected {
        let missing: Vec<Key> = expected.iter().filter(|k| !got.contains(k)).cloned().collect();
        let extra: Vec<Key> = got.iter().filter(|k| !expected.contains(k)).cloned().collect();
        problems.push(format!(
            "{what}: one-shot got {} events, expected {}; missing [{}]; extra [{}]",
            got.len(),
            expected.len(),
            short(&missing),
            short(&extra)
        ));
        return;
    }
    if one.next.is_some() {
        problems.push(format!("{what}: one-shot answer has a next cursor"));
    }
    let limits: &[usize] = if expected.len() <= 60 { &[1, 2, 3, 7] } else { &[7, 50] };
    for &limit in limits {
        match page_all(limit, &fetch).await {
            Ok(paged) if paged == expected => {}
            Ok(paged) => problems.push(format!(
                "{what}: paged at limit {limit}: {} events, expected {}: got [{}] expected [{}]",
                paged.len(),
                expected.len(),
                short(&paged),
                short(expected)
            )),
            Err(e) => problems.push(format!("{what}: paged at limit {limit}: {e}")),
        }
    }
}

fn expected_failures(all: &[SealedEvent], min: u64, filter: &ReportFilter) -> Vec<FailureSummary> {
    let outcomes =
        if filter.outcomes.is_empty() { vec![Outcome::Failure, Outcome::Denied] } else { filter.outcomes.clone() };
    let f = ReportFilter { outcomes, after: None, ..filter.clone() };
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
            s.actor_kinds.sort_by_key(|k| k.as_str());
            s
        })
        .collect();
    out.sort_by(|a, b| b.failures.cmp(&a.failures).then_with(|| a.actor_id.cmp(&b.actor_id)));
    out
}

fn dbg_id(s: &str) -> String {
    if s.len() > 20 {
        format!("{:?}…({} bytes)", &s[..s.char_indices().nth(12).map_or(s.len(), |(i, _)| i)], s.len())
    } else {
        format!("{s:?}")
    }
}

async fn every_query_and_report_agrees_with_a_brute_force_answer(db: &TestDb) {
    let seed: u64 = std::env::var("ORACLE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(12345);
    let store = Arc::new(db.migrated_store().await);
    let all = build(&store, 0x9E37_79B9_7F4A_7C15 ^ seed, 3000).await;
    let mut problems: Vec<String> = Vec::new();
    let mut rng = Rng::with_seed(seed);
    let (actors, types, ids, times) = (actor_ids(), resource_types(), resource_ids(), timestamps());

    // Queries.
    for round in 0..120 {
        let mut q = Query::new();
        if rng.u64(..100) < 30 {
            q.chain = Some(rng.choice(&CHAINS).expect("a non-empty list").to_string());
        }
        if rng.u64(..100) < 35 {
            q.actor = Some(rng.choice(&actors).expect("a non-empty list").clone());
        }
        if rng.u64(..100) < 35 {
            q.action = Some(rng.choice(&ACTIONS).expect("a non-empty list").to_string());
        }
        if rng.u64(..100) < 35 {
            q.resource_type = Some(rng.choice(&types).expect("a non-empty list").clone());
            if rng.u64(..100) < 60 {
                q.resource_id = Some(rng.choice(&ids).expect("a non-empty list").clone());
            }
        }
        if rng.u64(..100) < 30 {
            q.outcome = Some(*rng.choice(&Outcome::ALL).expect("a non-empty list"));
        }
        if rng.u64(..100) < 8 {
            q.id = Some(rng.choice(&all).expect("a non-empty list").event.id);
        }
        q.since = random_bound(&mut rng, &times);
        q.until = random_bound(&mut rng, &times);
        let expected: Vec<Key> = keys(&all.iter().filter(|e| q.matches(&e.event)).cloned().collect::<Vec<_>>());
        let what = format!(
            "query #{round} (chain {:?}, actor {:?}, action {:?}, type {:?}, id {:?}, outcome {:?}, since {:?}, until {:?})",
            q.chain,
            q.actor.as_deref().map(dbg_id),
            q.action,
            q.resource_type,
            q.resource_id.as_deref().map(dbg_id),
            q.outcome,
            q.since.map(|t| t.to_string()),
            q.until.map(|t| t.to_string())
        );
        let store = store.clone();
        let q2 = q.clone();
        check_paged(&what, &expected, &mut problems, move |after, limit| {
            let store = store.clone();
            let q = q2.clone().after(after).limit(limit);
            async move { store.query(&q).await.expect("query") }
        })
        .await;
    }

    // Access reports.
    for round in 0..60 {
        let (kind, id) = (
            rng.choice(&types).expect("a non-empty list").clone(),
            rng.choice(&ids).expect("a non-empty list").clone(),
        );
        let filter = random_report_filter(&mut rng);
        let expected: Vec<Key> = all
            .iter()
            .filter(|e| e.event.resource.kind == kind && e.event.resource.id == id && report_matches(&filter, &e.event))
            .map(|e| (e.event.chain.clone(), e.seq()))
            .collect();
        let what = format!("access_report #{round} ({kind:?}, {}, {filter:?})", dbg_id(&id));
        let store = store.clone();
        check_paged(&what, &expected, &mut problems, move |after, limit| {
            let store = store.clone();
            let (kind, id) = (kind.clone(), id.clone());
            let f = filter.clone().after(after).limit(limit);
            async move { store.access_report(&kind, &id, &f).await.expect("access report") }
        })
        .await;
    }

    // Privileged actions.
    for round in 0..40 {
        let filter = random_report_filter(&mut rng);
        let expected: Vec<Key> = all
            .iter()
            .filter(|e| {
                (matches!(e.event.actor.kind, ActorKind::Admin | ActorKind::System)
                    || e.event.tags.iter().any(|t| t == "privileged"))
                    && report_matches(&filter, &e.event)
            })
            .map(|e| (e.event.chain.clone(), e.seq()))
            .collect();
        let what = format!("privileged_actions #{round} ({filter:?})");
        let store = store.clone();
        check_paged(&what, &expected, &mut problems, move |after, limit| {
            let store = store.clone();
            let f = filter.clone().after(after).limit(limit);
            async move { store.privileged_actions(&f).await.expect("privileged") }
        })
        .await;
    }

    // Subject access.
    for round in 0..40 {
        let id = if rng.u64(..100) < 50 {
            rng.choice(&actors).expect("a non-empty list").clone()
        } else {
            rng.choice(&ids).expect("a non-empty list").clone()
        };
        let mut subject = DataSubject::new(id.clone());
        if rng.u64(..100) < 50 {
            let t: Vec<String> = types.iter().filter(|_| rng.u64(..100) < 40).cloned().collect();
            subject = subject.resource_types(t);
        }
        let filter = random_report_filter(&mut rng);
        let expected: Vec<Key> = all
            .iter()
            .filter(|e| {
                let e = &e.event;
                (e.actor.id == subject.id
                    || (e.resource.id == subject.id
                        && (subject.resource_types.is_empty() || subject.resource_types.contains(&e.resource.kind))))
                    && report_matches(&filter, e)
            })
            .map(|e| (e.event.chain.clone(), e.seq()))
            .collect();
        let what = format!("subject_events #{round} ({}, {:?}, {filter:?})", dbg_id(&id), subject.resource_types);
        let store = store.clone();
        check_paged(&what, &expected, &mut problems, move |after, limit| {
            let store = store.clone();
            let s = subject.clone();
            let f = filter.clone().after(after).limit(limit);
            async move { store.subject_events(&s, &f).await.expect("subject") }
        })
        .await;
    }

    // Repeated failures.
    for round in 0..60 {
        let filter = random_report_filter(&mut rng);
        let min = [1u64, 2, 5, 10, 30, 60][rng.usize(..6)];
        let expected = expected_failures(&all, min, &filter);
        let got = store.repeated_failures(min, &filter).await.expect("failures");
        if got != expected {
            let fmt = |v: &[FailureSummary]| {
                v.iter()
                    .take(10)
                    .map(|s| {
                        format!("{}:{:?}:{}:{}..{}", dbg_id(&s.actor_id), s.actor_kinds, s.failures, s.first, s.last)
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            problems.push(format!(
                "repeated_failures #{round} (min {min}, {filter:?}): got {} rows [{}], expected {} rows [{}]",
                got.len(),
                fmt(&got),
                expected.len(),
                fmt(&expected)
            ));
        }
    }

    // Last change.
    for kind in &types {
        for id in &ids {
            for chain in std::iter::once(None).chain(CHAINS.iter().map(|c| Some(*c))) {
                let expected = all
                    .iter()
                    .filter(|e| {
                        &e.event.resource.kind == kind
                            && &e.event.resource.id == id
                            && chain.is_none_or(|c| c == e.event.chain)
                            && e.event.outcome == Outcome::Success
                            && !e.event.changes.is_empty()
                    })
                    .max_by(|a, b| {
                        (a.event.ts, a.event.chain.as_str(), a.seq()).cmp(&(
                            b.event.ts,
                            b.event.chain.as_str(),
                            b.seq(),
                        ))
                    });
                let got = store.last_change(kind, id, chain).await.expect("last change");
                let exp_key = expected.map(|e| (e.event.chain.clone(), e.seq()));
                let got_key = got.as_ref().map(|c| (c.event.event.chain.clone(), c.event.seq()));
                if exp_key != got_key {
                    problems.push(format!(
                        "last_change({kind:?}, {}, {chain:?}): got {got_key:?}, expected {exp_key:?}",
                        dbg_id(id)
                    ));
                } else if let (Some(g), Some(e)) = (&got, expected)
                    && g.fields != e.event.changes
                {
                    problems.push(format!("last_change({kind:?}, {}, {chain:?}): fields differ", dbg_id(id)));
                }
            }
        }
    }

    assert!(problems.is_empty(), "{} problems on {:?}:\n{}", problems.len(), db.backend, problems.join("\n"));
}
on_all_backends!(every_query_and_report_agrees_with_a_brute_force_answer);
