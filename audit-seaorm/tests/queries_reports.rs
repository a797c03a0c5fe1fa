//! Queries (every filter of `audit_core::store::Query`, keyset paging) and each compliance
//! report return exactly the right events of a small, known trail.

mod common;

use audit_core::store::{AuditStore, Cursor, Query, QueryPage};
use audit_core::{Actor, ActorKind, Auditor, EventDraft, Outcome, Timestamp};
use audit_seaorm::{DataSubject, ReportFilter, SqlStore};
use common::TestDb;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The trail, and the instants between its three periods.
struct Trail {
    store: Arc<SqlStore>,
    t0: Timestamp,
    t1: Timestamp,
    t2: Timestamp,
}

async fn boundary() -> Timestamp {
    tokio::time::sleep(Duration::from_millis(5)).await;
    let t = Timestamp::now();
    tokio::time::sleep(Duration::from_millis(5)).await;
    t
}

async fn build(db: &TestDb) -> Trail {
    let store = Arc::new(db.migrated_store().await);
    let a = Auditor::builder(store.clone()).build();
    let b = Auditor::builder(store.clone()).chain("tenant-b").build();
    let login_failed =
        |who: Actor, outcome: Outcome| EventDraft::new("login").actor(who).resource("session", "").outcome(outcome);
    let t0 = boundary().await;
    // Period 1: default 1..=4
    let period1 = [
        EventDraft::new("update").actor(Actor::user("alice")).resource("users", "42").change(
            "email",
            Some(json!("a@example.org")),
            Some(json!("b@example.org")),
        ),
        login_failed(Actor::user("bob"), Outcome::Failure),
        EventDraft::new("update").actor(Actor::admin("root")).resource("users", "42").change(
            "role",
            Some(json!("user")),
            Some(json!("admin")),
        ),
        login_failed(Actor::user("bob"), Outcome::Failure),
    ];
    for draft in period1 {
        a.record(draft).await.expect("record");
    }
    let t1 = boundary().await;
    // Period 2: default 5..=10, tenant-b 1..=2
    let period2 = [
        login_failed(Actor::user("bob"), Outcome::Denied),
        EventDraft::new("read").actor(Actor::user("carol")).resource("users", "42"),
        EventDraft::new("export").actor(Actor::system("exporter")).resource("users", "42"),
        login_failed(Actor::admin("mallory"), Outcome::Failure),
        EventDraft::new("update").actor(Actor::user("dave")).resource("orders", "7").tag("privileged").change(
            "total",
            Some(json!(10)),
            Some(json!(12)),
        ),
        EventDraft::new("export").actor(Actor::user("42")).resource("users", "99"),
    ];
    for draft in period2 {
        a.record(draft).await.expect("record");
    }
    b.record(EventDraft::new("update").actor(Actor::user("alice")).resource("users", "42").change(
        "email",
        Some(json!("x@b")),
        Some(json!("y@b")),
    ))
    .await
    .expect("record");
    b.record(login_failed(Actor::user("eve"), Outcome::Denied)).await.expect("record");
    let t2 = boundary().await;
    // Period 3: default 11..=13
    let period3 = [
        EventDraft::new("update")
            .actor(Actor::user("alice"))
            .resource("users", "42")
            .change("email", Some(json!("b@example.org")), Some(json!("c@example.org")))
            .change("phone", None, Some(json!("555-0100"))),
        EventDraft::new("read").actor(Actor::user("carol")).resource("users", "42"),
        login_failed(Actor::user("bob"), Outcome::Failure),
    ];
    for draft in period3 {
        a.record(draft).await.expect("record");
    }
    a.shutdown().await;
    b.shutdown().await;
    Trail { store, t0, t1, t2 }
}

/// `(chain, seq)` of a page's events, e.g. `["default:1", "tenant-b:2"]`.
fn ids(page: &QueryPage) -> Vec<String> {
    page.events.iter().map(|e| format!("{}:{}", e.event.chain, e.seq())).collect()
}

fn d(seqs: &[u64]) -> Vec<String> {
    seqs.iter().map(|s| format!("default:{s}")).collect()
}

fn with(mut a: Vec<String>, b: &[&str]) -> Vec<String> {
    a.extend(b.iter().map(|s| s.to_string()));
    a
}

async fn queries(db: &TestDb) {
    let Trail { store, t0, t1, t2 } = build(db).await;
    let q = |query: Query| {
        let store = store.clone();
        async move { store.query(&query.limit(1000)).await.expect("query") }
    };
    assert_eq!(ids(&q(Query::new().actor("alice")).await), with(d(&[1, 11]), &["tenant-b:1"]));
    assert_eq!(ids(&q(Query::new().actor("alice").chain("default")).await), d(&[1, 11]));
    assert_eq!(ids(&q(Query::new().action("login").outcome(Outcome::Failure)).await), d(&[2, 4, 8, 13]));
    assert_eq!(ids(&q(Query::new().outcome(Outcome::Denied)).await), with(d(&[5]), &["tenant-b:2"]));
    assert_eq!(
        ids(&q(Query::new().resource("users", Some("42".into()))).await),
        with(d(&[1, 3, 6, 7, 11, 12]), &["tenant-b:1"])
    );
    assert_eq!(
        ids(&q(Query::new().resource("users", None)).await),
        with(d(&[1, 3, 6, 7, 10, 11, 12]), &["tenant-b:1"])
    );
    assert_eq!(
        ids(&q(Query::new().between(Some(t1), Some(t2))).await),
        with(d(&[5, 6, 7, 8, 9, 10]), &["tenant-b:1", "tenant-b:2"])
    );
    assert_eq!(ids(&q(Query::new().between(Some(t2), None)).await), d(&[11, 12, 13]));
    assert_eq!(ids(&q(Query::new().between(Some(t0), Some(t1)).actor("bob")).await), d(&[2, 4]));
    assert!(q(Query::new().actor("nobody")).await.events.is_empty());
    assert!(q(Query::new().between(None, Some(t0))).await.events.is_empty());

    // Keyset paging over everything, 4 at a time, crosses chains.
    let mut all = Vec::new();
    let mut after: Option<Cursor> = None;
    let mut pages = 0;
    loop {
        let page = store.query(&Query::new().limit(4).after(after.clone())).await.expect("page");
        pages += 1;
        assert!(page.events.len() <= 4);
        all.extend(ids(&page));
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let everything = with(d(&(1..=13).collect::<Vec<_>>()), &["tenant-b:1", "tenant-b:2"]);
    assert_eq!(all, everything);
    assert_eq!(pages, 4);
    // Paging with a filter.
    let first = store.query(&Query::new().actor("bob").limit(2)).await.expect("page");
    assert_eq!(ids(&first), d(&[2, 4]));
    let second = store.query(&Query::new().actor("bob").limit(2).after(first.next.clone())).await.expect("page");
    assert_eq!(ids(&second), d(&[5, 13]));
    assert_eq!(second.next, None);
}
on_all_backends!(queries);

async fn reports(db: &TestDb) {
    let Trail { store, t0, t1, t2 } = build(db).await;
    let all = ReportFilter::new().limit(1000);

    // Access report: who touched users/42.
    let access = store.access_report("users", "42", &all).await.expect("access");
    assert_eq!(ids(&access), with(d(&[1, 3, 6, 7, 11, 12]), &["tenant-b:1"]));
    let period2 = all.clone().chain("default").between(Some(t1), Some(t2));
    assert_eq!(ids(&store.access_report("users", "42", &period2).await.expect("access")), d(&[6, 7]));
    let exports = all.clone().action("export");
    assert_eq!(ids(&store.access_report("users", "42", &exports).await.expect("access")), d(&[7]));
    let paged = store.access_report("users", "42", &all.clone().limit(4)).await.expect("access");
    assert_eq!(ids(&paged), d(&[1, 3, 6, 7]));
    let rest = store.access_report("users", "42", &all.clone().limit(4).after(paged.next)).await.expect("access");
    assert_eq!(ids(&rest), with(d(&[11, 12]), &["tenant-b:1"]));

    // Privileged actions: admin and system actors, or tagged privileged.
    assert_eq!(ids(&store.privileged_actions(&all).await.expect("privileged")), d(&[3, 7, 8, 9]));
    // Failed logins of privileged accounts.
    let failed_logins = all.clone().action("login").outcomes([Outcome::Failure, Outcome::Denied]);
    assert_eq!(ids(&store.privileged_actions(&failed_logins).await.expect("privileged")), d(&[8]));
    assert_eq!(ids(&store.privileged_actions(&all.clone().between(Some(t2), None)).await.expect("privileged")), d(&[]));

    // Repeated failures.
    let failures = store.repeated_failures(3, &all).await.expect("failures");
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(
        (failures[0].actor_id.as_str(), failures[0].actor_kinds.as_slice(), failures[0].failures),
        ("bob", &[ActorKind::User][..], 4)
    );
    let bob = store.query(&Query::new().actor("bob").limit(10)).await.expect("query");
    assert_eq!(failures[0].first, bob.events[0].event.ts);
    assert_eq!(failures[0].last, bob.events[3].event.ts);
    let until_t2 = store.repeated_failures(3, &all.clone().between(Some(t0), Some(t2))).await.expect("failures");
    assert_eq!(until_t2.iter().map(|f| (f.actor_id.as_str(), f.failures)).collect::<Vec<_>>(), [("bob", 3)]);
    let everyone = store.repeated_failures(1, &all).await.expect("failures");
    assert_eq!(
        everyone.iter().map(|f| (f.actor_id.as_str(), f.failures)).collect::<Vec<_>>(),
        [("bob", 4), ("eve", 1), ("mallory", 1)],
        "most failures first, then by actor"
    );
    let tenant_b = store.repeated_failures(1, &all.clone().chain("tenant-b")).await.expect("failures");
    assert_eq!(tenant_b.iter().map(|f| (f.actor_id.as_str(), f.failures)).collect::<Vec<_>>(), [("eve", 1)]);
    let denied_only = store.repeated_failures(1, &all.clone().outcomes([Outcome::Denied])).await.expect("failures");
    assert_eq!(
        denied_only.iter().map(|f| (f.actor_id.as_str(), f.failures)).collect::<Vec<_>>(),
        [("bob", 1), ("eve", 1)]
    );

    // Last change of users/42 and its previous values: event 11, not the later read (12).
    let last = store.last_change("users", "42", None).await.expect("last change").expect("users/42 changed");
    assert_eq!((last.event.event.chain.as_str(), last.event.seq()), ("default", 11));
    let fields: Vec<(&str, Option<serde_json::Value>, Option<serde_json::Value>)> =
        last.fields.iter().map(|c| (c.field.as_str(), c.old.clone(), c.new.clone())).collect();
    assert_eq!(
        fields,
        [
            ("email", Some(json!("b@example.org")), Some(json!("c@example.org"))),
            ("phone", None, Some(json!("555-0100")))
        ]
    );
    let in_b = store.last_change("users", "42", Some("tenant-b")).await.expect("last change").expect("changed in b");
    assert_eq!(
        (in_b.event.event.chain.as_str(), in_b.event.seq(), in_b.fields[0].old.clone()),
        ("tenant-b", 1, Some(json!("x@b")))
    );
    let order = store.last_change("orders", "7", None).await.expect("last change").expect("orders/7 changed");
    assert_eq!(order.event.seq(), 9);
    assert!(
        store.last_change("users", "99", None).await.expect("last change").is_none(),
        "users/99 was exported, never changed"
    );
    assert!(store.last_change("users", "1000", None).await.expect("last change").is_none());

    // GDPR subject access: subject 42 as actor (10) or as a user record.
    let subject = DataSubject::new("42").resource_types(["users"]);
    assert_eq!(
        ids(&store.subject_events(&subject, &all).await.expect("subject")),
        with(d(&[1, 3, 6, 7, 10, 11, 12]), &["tenant-b:1"])
    );
    assert_eq!(ids(&store.subject_events(&subject, &exports).await.expect("subject")), d(&[7, 10]));
    assert_eq!(ids(&store.subject_events(&DataSubject::new("7"), &all).await.expect("subject")), d(&[9]));
    assert!(
        store
            .subject_events(&DataSubject::new("7").resource_types(["users"]), &all)
            .await
            .expect("subject")
            .events
            .is_empty()
    );
}
on_all_backends!(reports);
