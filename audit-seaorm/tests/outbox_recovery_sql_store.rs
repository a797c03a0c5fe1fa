//! Outbox recovery with the production store, `SqlStore`: a crash after `COMMIT`, then a
//! restart's `recover_outbox`, seals the waiting event exactly once (the recovery asks the
//! store whether each id is stored already: `SqlStore` once ignored `Query::id` and answered
//! with the chain's first event, so every row was taken for sealed and deleted unsealed).

mod orm_common;

use audit_core::store::{AuditStore, Query};
use audit_core::{Auditor, Event};
use audit_seaorm::SqlStore;
use audit_seaorm::orm::{AuditedDb, CrashPoint};
use futures_util::StreamExt;
use orm_common::{TestDb, create_tables, outbox_rows, recovered, user};
use sea_orm::{ActiveModelTrait, TransactionTrait};
use std::sync::Arc;

async fn chain_events(store: &SqlStore) -> Vec<Event> {
    let lines: Vec<String> =
        store.read("default", 1, None).map(|line| line.expect("read a line")).collect::<Vec<_>>().await;
    lines.iter().map(|line| Event::from_canonical_line(line).expect("an event")).collect()
}

async fn recovery_on_a_sql_store_seals_what_a_crash_left(testdb: TestDb) {
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    let store = Arc::new(testdb.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");

    // One ordinary audited transaction: the chain now holds one event.
    let txn = db.begin().await.expect("begin");
    user("first@example.com").insert(&txn).await.expect("insert");
    txn.commit().await.expect("commit");
    db.flush_outbox().await.expect("flush");
    assert_eq!(chain_events(&store).await.len(), 1);

    // The process "dies" right after the second transaction's COMMIT, before sealing.
    db.simulate_crash(Some(CrashPoint::AfterCommit));
    let txn = db.begin().await.expect("begin");
    user("second@example.com").insert(&txn).await.expect("insert");
    assert!(txn.commit().await.is_err(), "the simulated crash is reported");
    assert_eq!(outbox_rows(&conn, "audit_seaorm_outbox").await, 1, "the committed change's event waits in the outbox");
    auditor.shutdown().await;

    // Restart: a new auditor and audited connection on the same databases.
    let store = Arc::new(testdb.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");
    let report = db.recover_outbox().await.expect("recover");

    // The store's answer for an id it does not have.
    let absent = uuid::Uuid::now_v7();
    let page = store.query(&Query::new().chain("default").id(absent).limit(1)).await.expect("query");
    let returned: Vec<_> = page.events.iter().map(|e| e.event.id).collect();

    let events = chain_events(&store).await;
    let emails: Vec<String> = events
        .iter()
        .filter_map(|e| e.changes.iter().find(|c| c.field == "email").and_then(|c| c.new.clone()))
        .map(|v| v.as_str().unwrap_or_default().to_string())
        .collect();
    auditor.shutdown().await;

    assert_eq!(
        report,
        recovered(1, 0),
        "the crashed transaction's event is sealed by recovery, not taken for already sealed"
    );
    assert_eq!(emails, ["first@example.com", "second@example.com"], "every committed change has its event");
    assert_eq!(outbox_rows(&conn, "audit_seaorm_outbox").await, 0);
    assert!(returned.is_empty(), "a query by the absent id {absent} returned {returned:?}");
    testdb.cleanup().await;
}
on_all_backends!(recovery_on_a_sql_store_seals_what_a_crash_left);

/// Two instances share the application's database and its outbox, each writing a chain of
/// its own. Instance A sealed its event and "died" before deleting the outbox row; instance
/// B's recovery finds the event stored (in A's chain) and neither seals it again nor reports
/// it as unsealable.
async fn a_row_sealed_in_another_instances_chain_is_already_sealed(testdb: TestDb) {
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    let store = Arc::new(testdb.migrated_store().await);
    let auditor_a = Auditor::builder(store.clone()).chain("instance-a").build();
    let db_a = AuditedDb::builder(conn.clone(), auditor_a.clone(), store.clone()).build();
    db_a.migrate_outbox().await.expect("migrate the outbox");
    db_a.simulate_crash(Some(CrashPoint::AfterSeal));
    let txn = db_a.begin().await.expect("begin");
    user("a@example.com").insert(&txn).await.expect("insert");
    assert!(txn.commit().await.is_err(), "the simulated crash is reported");
    auditor_a.shutdown().await;
    assert_eq!(outbox_rows(&conn, "audit_seaorm_outbox").await, 1, "sealed, the row not deleted");

    let auditor_b = Auditor::builder(store.clone()).chain("instance-b").build();
    let db_b = AuditedDb::builder(conn.clone(), auditor_b.clone(), store.clone()).build();
    let report = db_b.recover_outbox().await.expect("recover");
    auditor_b.shutdown().await;

    assert_eq!(report, recovered(0, 1), "found in instance A's chain");
    assert_eq!(outbox_rows(&conn, "audit_seaorm_outbox").await, 0, "and its row deleted");
    let in_b: Vec<String> = store.read("instance-b", 1, None).map(|line| line.expect("a line")).collect().await;
    assert!(in_b.is_empty(), "nothing sealed twice: {in_b:?}");
    let in_a: Vec<String> = store.read("instance-a", 1, None).map(|line| line.expect("a line")).collect().await;
    assert_eq!(in_a.len(), 1);
    testdb.cleanup().await;
}
on_all_backends!(a_row_sealed_in_another_instances_chain_is_already_sealed);
