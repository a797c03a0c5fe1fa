//! `repeated_failures` counts an actor by its id: failures the application recorded under two
//! kinds (a `user` at a failed login, an `admin` on a denied action, as the quickstart does)
//! count together. Grouped by `(id, kind)`, three and three failures were two rows under a
//! threshold of five, and the account did not show.

mod common;

use audit_core::{Actor, ActorKind, Auditor, EventDraft, Outcome, Timestamp};
use audit_seaorm::ReportFilter;
use std::sync::Arc;

async fn failures_under_two_kinds_count_together(db: &common::TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    let at = |n: u32| {
        Timestamp::from_datetime(chrono::DateTime::from_timestamp(1_790_000_000 + i64::from(n), 0).expect("time"))
    };
    let mut n = 0;
    for (actor, outcome, times) in [
        (Actor::user("root"), Outcome::Failure, 3),
        (Actor::admin("root"), Outcome::Denied, 3),
        (Actor::user("bob"), Outcome::Failure, 4),
        (Actor::user("bob"), Outcome::Success, 2),
    ] {
        for _ in 0..times {
            n += 1;
            let draft = EventDraft::new("login").actor(actor.clone()).outcome(outcome).with_ts(at(n));
            auditor.record(draft).await.expect("record");
        }
    }
    auditor.shutdown().await;
    let failures = store.repeated_failures(5, &ReportFilter::new()).await.expect("report");
    let everyone = store.repeated_failures(1, &ReportFilter::new()).await.expect("report");
    let rows = |failures: &[audit_seaorm::FailureSummary]| {
        failures.iter().map(|f| (f.actor_id.clone(), f.actor_kinds.clone(), f.failures)).collect::<Vec<_>>()
    };
    assert_eq!(rows(&failures), [("root".to_string(), vec![ActorKind::Admin, ActorKind::User], 6)]);
    assert_eq!(failures[0].first, at(1));
    assert_eq!(failures[0].last, at(6));
    assert_eq!(
        rows(&everyone),
        [
            ("root".to_string(), vec![ActorKind::Admin, ActorKind::User], 6),
            ("bob".to_string(), vec![ActorKind::User], 4)
        ]
    );
}
on_all_backends!(failures_under_two_kinds_count_together);

/// An `actor_kind` column edited to a value that is no SPEC kind (`root` here: the line still
/// says `user`) is reported as corrupt, naming the actor and the value, not passed over.
async fn an_actor_kind_that_is_no_spec_kind_is_reported(db: &common::TestDb) {
    use sea_orm::ConnectionTrait;
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    for _ in 0..3 {
        let draft = EventDraft::new("login").actor(Actor::user("mallory")).outcome(Outcome::Denied);
        auditor.record(draft).await.expect("record");
    }
    auditor.shutdown().await;
    assert_eq!(store.repeated_failures(3, &ReportFilter::new()).await.expect("report")[0].failures, 3);

    let conn = db.connect().await;
    common::append_only_off(db, &conn).await;
    let edited = conn.execute_unprepared("UPDATE audit_events SET actor_kind = 'root' WHERE seq = 2").await;
    assert_eq!(edited.expect("edit the column").rows_affected(), 1);
    common::append_only_on(db, &store, &conn).await;

    let error = store.repeated_failures(3, &ReportFilter::new()).await.expect_err("an unknown kind");
    assert!(matches!(error, audit_seaorm::SqlStoreError::Corrupt(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("\"mallory\"") && message.contains("\"root\""), "{message}");
}
on_all_backends!(an_actor_kind_that_is_no_spec_kind_is_reported);
