//! Outbox recovery seals a transaction's events in the order its writes happened, as the
//! commit itself does. A hooked write's event takes the place of the stand-in that was
//! buffered when its statement ran; when another write of the same transaction comes between
//! the statement and the `after_*` hook (an entity whose own hook logic writes before calling
//! the helper, or two writes interleaved with `join!`), the event's id must still be of the
//! write's place: recovery reads the outbox in id order, and once sealed the later write
//! before the earlier one. The hooks' steps are taken by hand (`before_save`, the statement,
//! another write, `after_save`).

mod orm_common;

use audit_core::Auditor;
use audit_seaorm::orm::{AuditedDb, CrashPoint, after_save, before_save};
use orm_common::entities::users;
use orm_common::{Harness, TestDb, recovered, user, verified_events};
use sea_orm::{ActiveModelTrait, EntityTrait, TransactionTrait};
use std::collections::HashSet;

/// In one transaction: `first`'s INSERT runs, then `second` is inserted whole, then `first`'s
/// `after_save` comes. Returns the commit's result.
async fn interleaved_writes(db: &AuditedDb, first: &str, second: &str) -> Result<(), sea_orm::DbErr> {
    let txn = db.begin().await.expect("begin");
    let am = before_save(user(first), &txn, true).await.expect("before_save");
    let model = users::Entity::insert(am).exec_with_returning(&txn).await.expect("the INSERT");
    user(second).insert(&txn).await.expect("a write between the statement and its hook");
    after_save::<users::ActiveModel, _>(model, &txn, true).await.expect("after_save");
    txn.commit().await
}

/// The `email` each event created, in chain order.
fn created_emails(events: &[audit_core::Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            assert_eq!(e.action, "create", "{e:#?}");
            let (_, email) = orm_common::change(e, "email").expect("an email");
            email.and_then(|v| v.as_str().map(str::to_string)).expect("a string")
        })
        .collect()
}

async fn recovery_seals_a_transactions_events_in_write_order(testdb: TestDb) {
    let h = Harness::new(testdb).await;

    // Sealed by the commit: in write order.
    interleaved_writes(&h.db, "a@x", "b@x").await.expect("commit");
    assert_eq!(created_emails(&h.events()), ["a@x", "b@x"], "the commit seals in write order");

    // The process dies right after COMMIT: the events wait in the outbox.
    h.db.simulate_crash(Some(CrashPoint::AfterCommit));
    assert!(interleaved_writes(&h.db, "c@x", "d@x").await.is_err(), "the simulated crash is reported");
    assert_eq!(h.events().len(), 2, "not sealed yet");

    // Restart: a new auditor and connection wrapper recover them.
    h.auditor.shutdown().await;
    let auditor = Auditor::builder(h.store.clone()).build();
    let db = AuditedDb::builder(h.conn.clone(), auditor.clone(), h.store.clone()).build();
    db.migrate_outbox().await.expect("migrate");
    assert_eq!(db.recover_outbox().await.expect("recover"), recovered(2, 0));
    auditor.shutdown().await;

    let events = verified_events(&h.store);
    let ids: HashSet<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 4, "every event once: {events:#?}");
    assert_eq!(created_emails(&events), ["a@x", "b@x", "c@x", "d@x"], "recovery seals in write order too");
    h.testdb.cleanup().await;
}
on_all_backends!(recovery_seals_a_transactions_events_in_write_order);
