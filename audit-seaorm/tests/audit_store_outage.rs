//! While the audit store does not answer, `commit()` waits for its events to be durable (the
//! change itself is committed). A caller that bounds the wait (a timeout, a cancelled request)
//! drops the commit future: the change stays committed, and its events are written, once each
//! and in order, when the store answers again. With the outbox, recovery finds them sealed and
//! seals nothing twice.

mod orm_common;

use audit_core::Auditor;
use audit_seaorm::orm::{AuditedDb, AuditedDbBuilder};
use orm_common::entities::users;
use orm_common::{GatedStore, TestDb, user, verified_events};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, TransactionTrait};

use std::sync::Arc;
use std::time::Duration;

async fn queued_at_least(auditor: &Auditor, n: u64) {
    while auditor.stats().queued < n {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Commits three inserts while the audit store hangs, gives up waiting once their events are
/// queued, then lets the store answer. Returns the db and auditor for what follows.
async fn commit_given_up_during_an_outage(
    testdb: &TestDb,
    configure: fn(AuditedDbBuilder) -> AuditedDbBuilder,
) -> (AuditedDb, Auditor, Arc<GatedStore>) {
    let conn = testdb.connect().await;
    orm_common::create_tables(&conn).await;
    let store = Arc::new(GatedStore::closed());
    let auditor = Auditor::builder(store.clone()).build();
    let db: AuditedDb = configure(AuditedDb::builder(conn.clone(), auditor.clone(), store.clone())).build();
    db.migrate_outbox().await.expect("migrate the outbox");

    let txn = db.begin().await.expect("begin");
    for email in ["a@x", "b@x", "c@x"] {
        user(email).insert(&txn).await.expect("insert");
    }
    tokio::select! {
        result = txn.commit() => panic!("the commit cannot return while the audit store does not answer: {result:?}"),
        // Committed, its events handed to the writer, whose append hangs: the caller gives up.
        () = queued_at_least(&auditor, 3) => {}
    }
    assert_eq!(auditor.stats().written, 0, "the store has not answered");
    assert_eq!(users::Entity::find().count(&conn).await.expect("count"), 3, "the change is committed");

    store.gate.add_permits(1_000);
    tokio::time::timeout(Duration::from_secs(30), async {
        while auditor.stats().written < 3 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the events are written once the store answers");
    (db, auditor, store)
}

fn emails(store: &GatedStore) -> Vec<String> {
    verified_events(&store.inner)
        .iter()
        .map(|e| orm_common::change(e, "email").and_then(|(_, new)| new))
        .map(|email| email.and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
        .collect()
}

async fn a_direct_commit_given_up_during_an_outage_loses_no_event(testdb: TestDb) {
    let (_db, auditor, store) = commit_given_up_during_an_outage(&testdb, AuditedDbBuilder::direct).await;
    auditor.shutdown().await;
    assert_eq!(emails(&store), ["a@x", "b@x", "c@x"], "every event once, in write order");
    testdb.cleanup().await;
}
on_all_backends!(a_direct_commit_given_up_during_an_outage_loses_no_event);

async fn an_outbox_commit_given_up_during_an_outage_loses_no_event_and_is_sealed_once(testdb: TestDb) {
    let (db, auditor, store) = commit_given_up_during_an_outage(&testdb, |builder| builder).await;
    let report = db.recover_outbox().await.expect("recover");
    assert_eq!(report.sealed, 0, "recovery seals nothing again: {report:?}");
    assert!(report.unsealable.is_empty(), "{report:?}");
    auditor.shutdown().await;
    assert_eq!(emails(&store), ["a@x", "b@x", "c@x"], "every event once, in write order");
    testdb.cleanup().await;
}
on_all_backends!(an_outbox_commit_given_up_during_an_outage_loses_no_event_and_is_sealed_once);
