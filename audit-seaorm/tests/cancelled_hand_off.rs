//! A commit whose future is dropped after `COMMIT`, while it waits for room in a full audit
//! queue (a cancelled request, a timeout around the handler), loses none of the committed
//! change's events: what could not be queued at once is queued by a task of its own.

mod orm_common;

use audit_core::{Auditor, EventDraft};
use audit_seaorm::orm::{AuditedDb, AuditedDbBuilder};
use orm_common::entities::users;
use orm_common::recovered;
use orm_common::{GatedStore, TestDb, user, verified_events};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, TransactionTrait};

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn queued_at_least(auditor: &Auditor, n: u64) {
    while auditor.stats().queued < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn cancelled_commit(testdb: TestDb, configure: fn(AuditedDbBuilder) -> AuditedDbBuilder) {
    let conn = testdb.connect().await;
    orm_common::create_tables(&conn).await;
    let store = Arc::new(GatedStore::closed());
    let auditor = Auditor::builder(store.clone()).queue_capacity(1).build();
    let db: AuditedDb = configure(AuditedDb::builder(conn.clone(), auditor.clone(), store.clone())).build();
    db.migrate_outbox().await.expect("migrate the outbox");

    // Hold the writer in an append, so the queue (one place) fills with the commit's first event.
    auditor.try_record_detached(EventDraft::new("warm_up")).expect("queued");
    while !store.entered.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    let txn = db.begin().await.expect("begin");
    for email in ["a@x", "b@x", "c@x"] {
        user(email).insert(&txn).await.expect("insert");
    }
    tokio::select! {
        result = txn.commit() => panic!("the commit cannot return while the queue is full: {result:?}"),
        // The first event took the queue's place: the commit has committed and now waits for
        // room for the others. Its future is dropped here.
        () = queued_at_least(&auditor, 2) => {}
    }
    assert_eq!(users::Entity::find().count(&conn).await.expect("count"), 3, "the transaction committed");

    store.gate.add_permits(1_000);
    tokio::time::timeout(Duration::from_secs(30), queued_at_least(&auditor, 4))
        .await
        .expect("the two events the dropped commit had not queued yet are queued anyway");
    auditor.shutdown().await;
    let events = verified_events(&store.inner);
    let emails: Vec<_> = events[1..]
        .iter()
        .map(|e| orm_common::change(e, "email").and_then(|(_, new)| new))
        .map(|email| email.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
        .collect();
    assert_eq!(emails, ["a@x", "b@x", "c@x"], "every event once, in write order");
    testdb.cleanup().await;
}

async fn a_cancelled_direct_commit_loses_no_event(testdb: TestDb) {
    cancelled_commit(testdb, AuditedDbBuilder::direct).await;
}
on_all_backends!(a_cancelled_direct_commit_loses_no_event);

/// With the outbox, the events are sealed too; their rows, which the dropped commit could not
/// delete, are found sealed by the next recovery.
async fn a_cancelled_outbox_commit_loses_no_event(testdb: TestDb) {
    cancelled_commit(testdb, |b| b).await;
}
on_all_backends!(a_cancelled_outbox_commit_loses_no_event);

/// What the outbox keeps after a cancelled commit: its rows are found sealed, not sealed again.
async fn after_a_cancelled_commit_recovery_seals_nothing_again(testdb: TestDb) {
    let conn = testdb.connect().await;
    orm_common::create_tables(&conn).await;
    let store = Arc::new(GatedStore::closed());
    let auditor = Auditor::builder(store.clone()).queue_capacity(1).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");
    auditor.try_record_detached(EventDraft::new("warm_up")).expect("queued");
    while !store.entered.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let txn = db.begin().await.expect("begin");
    user("a@x").insert(&txn).await.expect("insert");
    user("b@x").insert(&txn).await.expect("insert");
    tokio::select! {
        result = txn.commit() => panic!("the commit cannot return while the queue is full: {result:?}"),
        () = queued_at_least(&auditor, 2) => {}
    }
    store.gate.add_permits(1_000);
    tokio::time::timeout(Duration::from_secs(30), queued_at_least(&auditor, 3)).await.expect("queued anyway");
    while auditor.stats().written < 3 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let report = db.recover_outbox().await.expect("recover");
    assert_eq!(report, recovered(0, 2));
    auditor.shutdown().await;
    assert_eq!(verified_events(&store.inner).len(), 3, "warm-up and the two events, once each");
    testdb.cleanup().await;
}
on_all_backends!(after_a_cancelled_commit_recovery_seals_nothing_again);
