//! Queries filtered by `request_id` (`Query::request_id`, the `context.request_id` of the
//! events one HTTP request recorded), alone and with every other filter (chain, actor, action,
//! resource, outcome, period, id), one-shot and paged at small page sizes so that pages end
//! inside a request's events and on other chains. The trail mixes request ids that differ only
//! by case, by a trailing or leading space, by a suffix (`req-1`, `req-10`), by `%` and `_`, by
//! U+0000 and U+0001 (which PostgreSQL's column keeps alike), the empty id and events without
//! one. Every answer is compared with the events that match, computed here: a wrong, missing
//! or duplicated event fails, as does a page longer than its limit or a last page with a cursor.
//! `ORACLE_SEED=N` runs another seed (default 7).

mod common;

use audit_core::store::{AuditStore, Cursor, Query};
use audit_core::{Actor, Context, EventDraft, Outcome, SealedEvent, Timestamp};
use common::TestDb;
use fastrand::Rng;

const CHAINS: [&str; 3] = ["a", "b", "a b"];
const ACTORS: [&str; 3] = ["alice", "bob", "Alice"];
const ACTIONS: [&str; 3] = ["read", "update", "login"];
const RESOURCES: [(&str, &str); 3] = [("users", "1"), ("users", "2"), ("orders", "1")];

/// The request ids of the trail (`None`: an event without one).
fn request_ids() -> Vec<Option<String>> {
    let mut ids: Vec<Option<String>> = [
        "req-1",
        "req-1",
        "req-1",
        "req-2",
        "REQ-1",
        "req-1 ",
        " req-1",
        "req-10",
        "req-%",
        "req-_",
        "",
        "req-1\0",
        "req-1\u{1}",
        "é-1",
    ]
    .into_iter()
    .map(|id| Some(id.to_string()))
    .collect();
    ids.push(Some(format!("{}-long", "r".repeat(300))));
    ids.extend([None, None, None]);
    ids
}

fn times() -> Vec<Timestamp> {
    [
        "2026-05-01T00:00:00.000000Z",
        "2026-05-01T00:00:00.000001Z",
        "2026-05-02T10:00:00.000000Z",
        "1969-07-20T20:17:00.000000Z",
    ]
    .iter()
    .map(|t| t.parse().expect("a time"))
    .collect()
}

/// About 600 events, each request's spread over chains, actors, actions, outcomes and times.
fn trail(rng: &mut Rng) -> Vec<(String, EventDraft)> {
    let (ids, times) = (request_ids(), times());
    (0..600)
        .map(|n| {
            let (kind, id) = *rng.choice(&RESOURCES).expect("a resource");
            let context = Context { request_id: rng.choice(&ids).expect("a request id").clone(), ..Context::default() };
            let draft = EventDraft::new(*rng.choice(&ACTIONS).expect("an action"))
                .actor(Actor::user(*rng.choice(&ACTORS).expect("an actor")))
                .resource(kind, id)
                .outcome(*rng.choice(&Outcome::ALL).expect("an outcome"))
                .context(context)
                .with_ts(*rng.choice(&times).expect("a time"))
                .detail("n", serde_json::json!(n));
            (rng.choice(&CHAINS).expect("a chain").to_string(), draft)
        })
        .collect()
}

/// The filter computed here (not with `Query::matches`).
fn expected(all: &[SealedEvent], q: &Query) -> Vec<(String, u64)> {
    let eq = |filter: &Option<String>, value: &str| filter.as_deref().is_none_or(|f| f == value);
    all.iter()
        .filter(|s| {
            let e = &s.event;
            e.context.request_id.as_deref() == q.request_id.as_deref()
                && eq(&q.chain, &e.chain)
                && eq(&q.actor, &e.actor.id)
                && eq(&q.action, &e.action)
                && eq(&q.resource_type, &e.resource.kind)
                && eq(&q.resource_id, &e.resource.id)
                && q.outcome.is_none_or(|o| o == e.outcome)
                && q.id.is_none_or(|id| id == e.id)
                && q.since.is_none_or(|t| e.ts >= t)
                && q.until.is_none_or(|t| e.ts < t)
        })
        .map(|s| (s.event.chain.clone(), s.seq()))
        .collect()
}

/// Every page of `q` at page size `limit`, or what was wrong with the pages.
async fn paged(store: &dyn AuditStore, q: &Query, limit: usize) -> Result<Vec<(String, u64)>, String> {
    let mut out = Vec::new();
    let mut after: Option<Cursor> = None;
    for _ in 0..1000 {
        let page = store.query(&q.clone().after(after.clone()).limit(limit)).await.expect("query");
        if page.events.len() > limit {
            return Err(format!("a page of {} events at limit {limit}", page.events.len()));
        }
        out.extend(page.events.iter().map(|e| (e.event.chain.clone(), e.seq())));
        match page.next {
            Some(next) if page.events.is_empty() => return Err(format!("an empty page with cursor {next:?}")),
            Some(next) => after = Some(next),
            None => return Ok(out),
        }
    }
    Err("more than 1000 pages".into())
}

async fn request_id_filters_alone_combined_and_paged(db: &TestDb) {
    let store = db.migrated_store().await;
    let mut rng = Rng::with_seed(std::env::var("ORACLE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(7));
    let all = common::seal(trail(&mut rng)).await;
    common::append_sealed(&store, &all).await;
    let times = times();

    // Each request id alone (and ids no event has), then with other filters.
    let mut queries: Vec<Query> = Vec::new();
    let mut asked: Vec<String> = request_ids().into_iter().flatten().collect();
    asked.extend(["req-3", "req-", "req-1\u{2}", "REQ-1 "].map(String::from));
    asked.dedup();
    for id in &asked {
        queries.push(Query::new().request_id(id.clone()));
    }
    for _ in 0..100 {
        let id = rng.choice(&asked).expect("an id").clone();
        let mut q = Query::new().request_id(id);
        if rng.bool() {
            q.chain = Some(rng.choice(&CHAINS).expect("a chain").to_string());
        }
        if rng.u8(..100) < 40 {
            q.actor = Some(rng.choice(&ACTORS).expect("an actor").to_string());
        }
        if rng.u8(..100) < 40 {
            q.action = Some(rng.choice(&ACTIONS).expect("an action").to_string());
        }
        if rng.u8(..100) < 30 {
            let (kind, id) = *rng.choice(&RESOURCES).expect("a resource");
            q = q.resource(kind, rng.bool().then(|| id.to_string()));
        }
        if rng.u8(..100) < 40 {
            q.outcome = Some(*rng.choice(&Outcome::ALL).expect("an outcome"));
        }
        if rng.u8(..100) < 30 {
            q.since = Some(*rng.choice(&times).expect("a time"));
        }
        if rng.u8(..100) < 30 {
            q.until = Some(*rng.choice(&times).expect("a time"));
        }
        if rng.u8(..100) < 5 {
            q.id = Some(rng.choice(&all).expect("an event").event.id);
        }
        queries.push(q);
    }

    let mut problems = Vec::new();
    let mut nonempty = 0;
    for q in &queries {
        let expected = expected(&all, q);
        nonempty += usize::from(!expected.is_empty());
        let one = store.query(&q.clone().limit(10_000)).await.expect("query");
        let got: Vec<(String, u64)> = one.events.iter().map(|e| (e.event.chain.clone(), e.seq())).collect();
        if got != expected || one.next.is_some() {
            problems.push(format!("{q:?}: one-shot got {got:?} (next {:?}), expected {expected:?}", one.next));
            continue;
        }
        let limits: &[usize] = if expected.len() <= 40 { &[1, 2, 3, 7] } else { &[7, 16] };
        for &limit in limits {
            match paged(&store, q, limit).await {
                Ok(paged) if paged == expected => {}
                Ok(paged) => problems.push(format!("{q:?} in pages of {limit}: got {paged:?}, expected {expected:?}")),
                Err(e) => problems.push(format!("{q:?} in pages of {limit}: {e}")),
            }
        }
    }
    assert!(problems.is_empty(), "{} wrong answers on {:?}:\n{}", problems.len(), db.backend, problems.join("\n"));
    assert!(nonempty > queries.len() / 3, "the trail answers most queries ({nonempty} of {})", queries.len());

    // The ids that look alike are told apart.
    let count = |id: &str| expected(&all, &Query::new().request_id(id)).len();
    for id in ["req-1", "REQ-1", "req-1 ", " req-1", "req-10", "req-%", "", "req-1\0", "req-1\u{1}"] {
        assert!(count(id) > 0, "the trail has events of request {id:?}");
    }
    let req1 = store.query(&Query::new().request_id("req-1").limit(10_000)).await.expect("query").events;
    assert!(!req1.is_empty());
    assert!(req1.iter().all(|e| e.event.context.request_id.as_deref() == Some("req-1")));
}
on_all_backends!(request_id_filters_alone_combined_and_paged);
