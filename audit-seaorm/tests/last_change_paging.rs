//! `SqlStore::last_change` reads a record's events newest first, 200 rows a statement, and goes
//! on after the last row read (keyset `(ts, chain, seq)` descending) until it finds a
//! successful event with changes. These records make it page: the last change lies behind more
//! than 200 newer events that do not count (reads, denied and failed attempts with changes) at
//! the very same `ts` (ties broken by chain, then seq), at later times, on another chain, and
//! exactly 199, 200 and 201 rows back (the first page's last row, the second page's first);
//! records with 200 and 400 events and no change at all; times in years 1000, 1969, 2038 and
//! 9999; ids that PostgreSQL's columns keep alike (U+0000, U+0001); and all interleaved with
//! changes of neighbouring records (`"1"` and `"10"`, `"1 "`, `Users`, other types). Each
//! answer (the event and its fields, with the previous value) is compared with the one
//! computed here from the appended events, for every record with and without a chain.

mod common;

use audit_core::{Actor, EventDraft, Outcome, SealedEvent, Timestamp};
use common::TestDb;
use serde_json::json;

/// The drafts of a trail, each with its chain, in the order they are recorded.
#[derive(Default)]
struct Trail {
    drafts: Vec<(String, EventDraft)>,
    /// The records the test asks about.
    asked: Vec<(&'static str, &'static str)>,
}

impl Trail {
    fn push(&mut self, chain: &str, draft: EventDraft) {
        self.drafts.push((chain.to_string(), draft));
    }

    /// A successful change of `field` from `old` to `new`.
    fn change(&mut self, chain: &str, record: (&str, &str), ts: Timestamp, old: &str, new: &str) {
        let draft = EventDraft::new("update")
            .actor(Actor::user("alice"))
            .resource(record.0, record.1)
            .change("email", Some(json!(old)), Some(json!(new)))
            .with_ts(ts);
        self.push(chain, draft);
    }

    /// An event on `record` that is no change: the `n`th is a read (success without changes),
    /// a denied or a failed update (with changes: what it tried).
    fn not_a_change(&mut self, chain: &str, record: (&str, &str), ts: Timestamp, n: usize) {
        let draft = EventDraft::new("update").actor(Actor::user("mallory")).resource(record.0, record.1).with_ts(ts);
        let draft = match n % 3 {
            0 => draft.outcome(Outcome::Success).detail("read", json!(n)),
            1 => draft.outcome(Outcome::Denied).change("email", Some(json!("x")), Some(json!(format!("denied{n}")))),
            _ => draft.outcome(Outcome::Failure).change("email", Some(json!("x")), Some(json!(format!("failed{n}")))),
        };
        self.push(chain, draft);
    }
}

fn at(micros: i64) -> Timestamp {
    let base: Timestamp = "2026-03-01T12:00:00.000000Z".parse().expect("a time");
    Timestamp::from_unix_micros(base.unix_micros() + micros).expect("a time")
}

const SECOND: i64 = 1_000_000;

/// Changes of records that are not the ones asked about but sort or compare close to them,
/// at `ts`, on `chain`: they must never be an answer.
fn neighbours(trail: &mut Trail, chain: &str, ts: Timestamp, n: usize) {
    let records =
        [("users", "10"), ("Users", "1"), ("orders", "1"), ("users", "1 "), ("accounts", "2"), ("user", "s1")];
    let record = records[n % records.len()];
    trail.change(chain, record, ts, &format!("n{n}"), &format!("n{}", n + 1));
}

fn build() -> Trail {
    let mut trail = Trail::default();
    let t = at(0);

    // users/1: its change at T is followed by 260 events at T on chain a and 210 at T on chain
    // b (later in the order: same ts, greater chain), with neighbours' changes at T between.
    trail.asked.push(("users", "1"));
    trail.change("a", ("users", "1"), at(-SECOND), "v-1", "v0");
    trail.change("a", ("users", "1"), t, "v0", "v1");
    for n in 0..260 {
        trail.not_a_change("a", ("users", "1"), t, n);
        if n % 2 == 0 {
            neighbours(&mut trail, "a", t, n);
        }
    }
    for n in 0..210 {
        trail.not_a_change("b", ("users", "1"), t, n);
        if n % 3 == 0 {
            neighbours(&mut trail, "b", t, n);
        }
    }

    // users/2 on chain a: the last change is an hour back, behind 300 later events, each at
    // its own time; neighbours change later still.
    trail.asked.push(("users", "2"));
    trail.change("a", ("users", "2"), at(-7200 * SECOND), "older", "old-2");
    trail.change("a", ("users", "2"), at(-3600 * SECOND), "old-2", "new-2");
    for n in 0..300 {
        let ts = at(-3600 * SECOND + 1 + n as i64 * SECOND);
        trail.not_a_change("a", ("users", "2"), ts, n);
        if n % 3 == 0 {
            neighbours(&mut trail, "b", at(-3600 * SECOND + 2 + n as i64 * SECOND), n);
        }
    }

    // users/3: the latest change is on chain b; on chain a its last change lies behind 230
    // later events; 50 more events on chain b after b's change.
    trail.asked.push(("users", "3"));
    trail.change("a", ("users", "3"), at(-10 * SECOND), "a-old", "a-new");
    for n in 0..230 {
        trail.not_a_change("a", ("users", "3"), at(-5 * SECOND + n as i64), n);
    }
    trail.change("b", ("users", "3"), at(SECOND), "b-old", "b-new");
    for n in 0..50 {
        trail.not_a_change("b", ("users", "3"), at(2 * SECOND + n as i64), n);
    }

    // The last change exactly 199, 200 and 201 events back (the last row of the first page,
    // the first of the second, one more): at one time, at times of their own, across chains.
    trail.asked.push(("users", "e199"));
    trail.change("a", ("users", "e199"), t, "before", "after");
    for n in 0..199 {
        trail.not_a_change("a", ("users", "e199"), t, n);
    }
    trail.asked.push(("users", "e200"));
    trail.change("a", ("users", "e200"), t, "before", "after");
    for n in 0..200 {
        trail.not_a_change("a", ("users", "e200"), at(1 + n as i64), n);
    }
    trail.asked.push(("users", "e201"));
    trail.change("a", ("users", "e201"), t, "before", "after");
    for n in 0..201 {
        trail.not_a_change(if n % 2 == 0 { "a" } else { "b" }, ("users", "e201"), t, n);
    }

    // No change at all, in exactly one and exactly two full pages.
    trail.asked.push(("users", "none200"));
    for n in 0..200 {
        trail.not_a_change("a", ("users", "none200"), at(n as i64 % 7), n);
    }
    trail.asked.push(("users", "none400"));
    for n in 0..400 {
        trail.not_a_change(["a", "b", "c"][n % 3], ("users", "none400"), t, n);
    }

    // users/5: changes at T on chains a and b (b's is later: greater chain), each followed by
    // events at T, and 250 events at T on chain c before them in the order.
    trail.asked.push(("users", "5"));
    trail.change("a", ("users", "5"), t, "a0", "a1");
    trail.change("b", ("users", "5"), t, "a1", "b1");
    for n in 0..250 {
        trail.not_a_change(["a", "b", "c"][n % 3], ("users", "5"), t, n);
    }

    // Times far from now, where a column's time must come back exactly to page on: year 1000
    // behind 205 events in the last microsecond of 1969, and 2038 behind 205 in year 9999.
    let time = |text: &str| text.parse::<Timestamp>().expect("a time");
    trail.asked.push(("users", "epoch"));
    trail.change("a", ("users", "epoch"), time("1000-01-01T00:00:00.000000Z"), "e0", "e1");
    for n in 0..205 {
        trail.not_a_change("a", ("users", "epoch"), time("1969-12-31T23:59:59.999999Z"), n);
    }
    trail.asked.push(("users", "far"));
    trail.change("a", ("users", "far"), time("2038-01-19T03:14:08.000000Z"), "f0", "f1");
    for n in 0..205 {
        trail.not_a_change("a", ("users", "far"), time("9999-12-31T23:59:59.999999Z"), n);
    }

    // PostgreSQL keeps U+0000 as U+0001 in its columns: the rows of users/"n\u{1}", 250
    // changes later than the one of users/"n\0", come back for "n\0" too and are paged past.
    trail.asked.extend([("users", "n\0"), ("users", "n\u{1}")]);
    trail.change("a", ("users", "n\0"), at(-SECOND), "z0", "z1");
    for n in 0..250 {
        trail.change("a", ("users", "n\u{1}"), at(n), &format!("y{n}"), &format!("y{}", n + 1));
    }

    trail.asked.extend([
        ("users", "10"),
        ("Users", "1"),
        ("orders", "1"),
        ("users", "1 "),
        ("accounts", "2"),
        ("users", "nothing"),
    ]);
    trail
}

/// The last change computed from the events: the latest `(ts, chain, seq)` among the
/// successful events of the record (on `chain`, if given) with changes.
fn expected_last<'e>(all: &'e [SealedEvent], record: (&str, &str), chain: Option<&str>) -> Option<&'e SealedEvent> {
    all.iter()
        .filter(|e| {
            let e = &e.event;
            e.resource.kind == record.0
                && e.resource.id == record.1
                && chain.is_none_or(|c| c == e.chain)
                && e.outcome == Outcome::Success
                && !e.changes.is_empty()
        })
        .max_by(|a, b| (a.event.ts, &a.event.chain, a.seq()).cmp(&(b.event.ts, &b.event.chain, b.seq())))
}

async fn last_change_pages_past_200_rows(db: &TestDb) {
    let store = db.migrated_store().await;
    let trail = build();
    let all = common::seal(trail.drafts).await;
    common::append_sealed(&store, &all).await;

    let mut problems = Vec::new();
    for &record in &trail.asked {
        for chain in [None, Some("a"), Some("b"), Some("c")] {
            let expected = expected_last(&all, record, chain);
            let got = store.last_change(record.0, record.1, chain).await.expect("last change");
            let key = |e: &SealedEvent| (e.event.chain.clone(), e.seq());
            let (expected_key, got_key) = (expected.map(key), got.as_ref().map(|c| key(&c.event)));
            if got_key != expected_key {
                problems
                    .push(format!("last_change({record:?}, {chain:?}): got {got_key:?}, expected {expected_key:?}"));
            } else if let (Some(got), Some(expected)) = (&got, expected)
                && (got.fields != expected.event.changes || got.event.line != expected.line)
            {
                problems.push(format!("last_change({record:?}, {chain:?}): fields {:?}", got.fields));
            }
        }
    }
    assert!(problems.is_empty(), "{} wrong answers on {:?}:\n{}", problems.len(), db.backend, problems.join("\n"));

    // The answers the trail was built for, spelled out: the previous value is the one the
    // change replaced, however many events came after it.
    let previous = |record: (&'static str, &'static str), chain: Option<&'static str>| {
        let store = &store;
        async move {
            let change = store.last_change(record.0, record.1, chain).await.expect("last change");
            change.map(|c| (c.event.event.chain.clone(), c.fields[0].old.clone(), c.fields[0].new.clone()))
        }
    };
    let some = |chain: &str, old: &str, new: &str| Some((chain.to_string(), Some(json!(old)), Some(json!(new))));
    assert_eq!(previous(("users", "1"), None).await, some("a", "v0", "v1"));
    assert_eq!(previous(("users", "1"), Some("b")).await, None);
    assert_eq!(previous(("users", "2"), None).await, some("a", "old-2", "new-2"));
    assert_eq!(previous(("users", "3"), None).await, some("b", "b-old", "b-new"));
    assert_eq!(previous(("users", "3"), Some("a")).await, some("a", "a-old", "a-new"));
    for id in ["e199", "e200", "e201"] {
        assert_eq!(previous(("users", id), None).await, some("a", "before", "after"), "users/{id}");
    }
    assert_eq!(previous(("users", "none200"), None).await, None);
    assert_eq!(previous(("users", "none400"), None).await, None);
    assert_eq!(previous(("users", "5"), None).await, some("b", "a1", "b1"));
    assert_eq!(previous(("users", "5"), Some("a")).await, some("a", "a0", "a1"));
    assert_eq!(previous(("users", "epoch"), None).await, some("a", "e0", "e1"));
    assert_eq!(previous(("users", "far"), None).await, some("a", "f0", "f1"));
    assert_eq!(previous(("users", "n\0"), None).await, some("a", "z0", "z1"));
    assert_eq!(previous(("users", "n\u{1}"), None).await, some("a", "y249", "y250"));
}
on_all_backends!(last_change_pages_past_200_rows);
