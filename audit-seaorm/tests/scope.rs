//! Diffs carry the actor and context (request id, IP) of the `AuditScope` active when the
//! change was made, even when the commit runs outside it; concurrent scopes do not mix;
//! background jobs name their actor with `with_actor`; no scope means `anonymous`.

mod orm_common;

use audit_core::scope::{AuditScope, with_actor};
use audit_core::{Actor, Event};
use orm_common::{Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, IntoActiveModel, Set, TransactionTrait};

fn request_scope(actor: &str, request_id: &str) -> AuditScope {
    let scope = AuditScope::with_actor(Actor::user(actor));
    scope.update_context(|c| {
        c.request_id = Some(request_id.into());
        c.ip = Some("203.0.113.7".into());
    });
    scope
}

fn by_email<'a>(events: &'a [Event], email: &str) -> Vec<&'a Event> {
    events
        .iter()
        .filter(|e| {
            e.changes.iter().any(|c| c.field == "email" && (c.new == Some(email.into()) || c.old == Some(email.into())))
        })
        .collect()
}

async fn diffs_carry_the_scope(testdb: TestDb) {
    let h = Harness::new(testdb).await;

    // Writes inside the request's scope, commit after the scope has ended.
    let db = h.db.clone();
    let txn = request_scope("alice", "req-1")
        .run(async move {
            let txn = db.begin().await.expect("begin");
            let row = user("alice@example.com").insert(&txn).await.expect("insert");
            let mut am = row.into_active_model();
            am.score = Set(5);
            am.update(&txn).await.expect("update");
            txn
        })
        .await;
    // A different request commits nothing of its own but runs the commit.
    request_scope("mallory", "req-other").run(async move { txn.commit().await.expect("commit") }).await;

    // Autocommit inside another scope, and a background job.
    let db = h.db.clone();
    request_scope("bob", "req-2").run(async move { user("bob@example.com").insert(&db).await.expect("insert") }).await;
    let db = h.db.clone();
    with_actor(Actor::system("nightly"), async move { user("job@example.com").insert(&db).await.expect("insert") })
        .await;
    user("nobody@example.com").insert(&h.db).await.expect("insert without a scope");

    let events = h.events();
    assert_eq!(events.len(), 5);
    let alice = by_email(&events, "alice@example.com");
    assert_eq!(alice.len(), 1, "the create");
    let alice_events: Vec<&Event> = events.iter().filter(|e| e.resource.id == alice[0].resource.id).collect();
    assert_eq!(alice_events.len(), 2, "create and update");
    for event in alice_events {
        assert_eq!(event.actor, Actor::user("alice"), "{}", event.action);
        assert_eq!(event.context.request_id.as_deref(), Some("req-1"), "not the committing request's");
        assert_eq!(event.context.ip.as_deref(), Some("203.0.113.7"));
    }
    let bob = by_email(&events, "bob@example.com")[0];
    assert_eq!((bob.actor.id.as_str(), bob.context.request_id.as_deref()), ("bob", Some("req-2")));
    let job = by_email(&events, "job@example.com")[0];
    assert_eq!(job.actor, Actor::system("nightly"));
    assert!(job.context.request_id.is_none());
    let nobody = by_email(&events, "nobody@example.com")[0];
    assert_eq!(nobody.actor, Actor::anonymous());
    h.finish().await;
}
on_all_backends!(diffs_carry_the_scope);

/// A job's diffs, committed (or handed over) inside a request's scope, keep the job's empty
/// context: the auditor does not fill its gaps from the committing request.
async fn a_committing_scope_does_not_fill_a_diffs_context(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let db = h.db.clone();
    let txn = with_actor(Actor::system("nightly"), async move {
        let txn = db.begin().await.expect("begin");
        user("job@example.com").insert(&txn).await.expect("insert");
        txn
    })
    .await;
    request_scope("mallory", "req-other").run(async move { txn.commit().await.expect("commit") }).await;

    let events = h.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].actor, Actor::system("nightly"));
    assert!(events[0].context.request_id.is_none(), "not the committing request's: {:?}", events[0].context);
    assert!(events[0].context.ip.is_none(), "{:?}", events[0].context);
    h.finish().await;
}
on_all_backends!(a_committing_scope_does_not_fill_a_diffs_context);
