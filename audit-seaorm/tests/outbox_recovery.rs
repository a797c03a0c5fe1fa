//! Outbox delivery is exactly once: a crash between COMMIT and sealing leaves the events in
//! the outbox and recovery seals them; a crash between sealing and deleting the outbox rows
//! makes recovery find them in the store and not seal them again. Secrets never reach the
//! outbox.

mod orm_common;

use audit_core::Auditor;
use audit_seaorm::orm::{AuditedDb, CrashPoint, Recovery};
use orm_common::entities::users;
use orm_common::recovered;
use orm_common::{GatedStore, Harness, TestDb, outbox_rows, verified_events};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, Set, Statement,
    TransactionTrait,
};
use std::collections::HashSet;
use std::time::Duration;

fn user(email: &str) -> users::ActiveModel {
    users::ActiveModel {
        email: Set(email.into()),
        name: Set("n".into()),
        score: Set(0),
        ssn: Set(Some("123-45-6789".into())),
        updated_at: Set(0),
        ..Default::default()
    }
}

async fn outbox_payloads(conn: &DatabaseConnection) -> Vec<String> {
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_string(backend, "SELECT payload FROM audit_seaorm_outbox ORDER BY id"))
        .await
        .expect("read the outbox");
    rows.iter().map(|r| r.try_get::<String>("", "payload").expect("payload")).collect()
}

async fn write_three(db: &AuditedDb, tag: &str) {
    let txn = db.begin().await.expect("begin");
    for n in 0..3 {
        user(&format!("{tag}{n}@example.com")).insert(&txn).await.expect("insert");
    }
    let committed = txn.commit().await;
    assert!(committed.is_err(), "the simulated crash is reported");
}

async fn crash_recovery_seals_exactly_once(testdb: TestDb) {
    let h = Harness::new(testdb).await;

    // A normal commit: the sealed row is deleted inside the next writing transaction (no
    // extra commit), or by flush_outbox.
    let txn = h.db.begin().await.expect("begin");
    user("normal1@example.com").insert(&txn).await.expect("insert");
    txn.commit().await.expect("commit");
    assert_eq!(h.events().len(), 1);
    let first = outbox_payloads(&h.conn).await;
    assert_eq!(first.len(), 1, "sealed, deletion deferred");
    let txn = h.db.begin().await.expect("begin");
    user("normal2@example.com").insert(&txn).await.expect("insert");
    txn.commit().await.expect("commit");
    let second = outbox_payloads(&h.conn).await;
    assert_eq!(second.len(), 1, "the first row went with the second transaction");
    assert_ne!(first, second);
    h.db.flush_outbox().await.expect("flush");
    assert!(outbox_payloads(&h.conn).await.is_empty());

    // Crash after COMMIT, before sealing.
    h.db.simulate_crash(Some(CrashPoint::AfterCommit));
    write_three(&h.db, "a").await;
    assert_eq!(users::Entity::find().count(&h.conn).await.expect("count"), 5, "the data is committed");
    assert_eq!(h.events().len(), 2, "but not yet sealed");
    let payloads = outbox_payloads(&h.conn).await;
    assert_eq!(payloads.len(), 3, "the events wait in the outbox");
    assert!(payloads.iter().all(|p| !p.contains("123-45-6789") && p.contains("[REDACTED]")), "{payloads:?}");

    // "Restart": a new auditor and connection wrapper on the same database and store.
    h.auditor.shutdown().await;
    let auditor = Auditor::builder(h.store.clone()).build();
    let db = AuditedDb::builder(h.conn.clone(), auditor.clone(), h.store.clone()).build();
    db.migrate_outbox().await.expect("migrate");
    assert_eq!(
        db.recover_outbox_older_than(Duration::from_secs(3600)).await.expect("recover old rows"),
        Recovery::default(),
        "rows younger than the age are left to the live instance"
    );
    assert_eq!(db.recover_outbox().await.expect("recover"), recovered(3, 0));
    assert_eq!(db.recover_outbox().await.expect("recover again"), Recovery::default(), "nothing left");
    assert!(outbox_payloads(&h.conn).await.is_empty());
    assert_eq!(verified_events(&h.store).len(), 5);

    // Crash after sealing, before deleting the outbox rows.
    db.simulate_crash(Some(CrashPoint::AfterSeal));
    write_three(&db, "b").await;
    assert_eq!(verified_events(&h.store).len(), 8, "sealed");
    assert_eq!(outbox_payloads(&h.conn).await.len(), 3, "rows left behind");
    auditor.shutdown().await;
    let auditor = Auditor::builder(h.store.clone()).build();
    let db = AuditedDb::builder(h.conn.clone(), auditor.clone(), h.store.clone()).build();
    assert_eq!(db.recover_outbox().await.expect("recover"), recovered(0, 3));
    assert!(outbox_payloads(&h.conn).await.is_empty());

    let events = verified_events(&h.store);
    assert_eq!(events.len(), 8, "no event sealed twice, none lost");
    let ids: HashSet<_> = events.iter().map(|e| e.id).collect();
    assert_eq!(ids.len(), 8);
    let resources: HashSet<_> = events.iter().map(|e| e.resource.id.clone()).collect();
    assert_eq!(resources.len(), 8, "one create per row");
    // Recovered events keep the time and the redaction fixed when they were intercepted.
    assert!(events.iter().all(|e| e.changes.iter().any(|c| c.field == "ssn" && c.new == Some("[REDACTED]".into()))));
    assert!(events.windows(2).all(|w| w[0].ts <= w[1].ts));

    auditor.shutdown().await;
    h.finish().await;
}
on_all_backends!(crash_recovery_seals_exactly_once);

/// A recovery that runs while the commit that wrote the outbox row is still sealing it
/// (another instance's recovery, or a transaction held open longer than the recovery's age):
/// both hand the event to the writer, the store refuses the second copy, and each side takes
/// that as sealed. Exactly one event; neither returns an error.
async fn a_recovery_racing_a_commit_seals_the_event_once(testdb: TestDb) {
    let conn = testdb.connect().await;
    orm_common::create_tables(&conn).await;
    let store = std::sync::Arc::new(GatedStore::closed()); // the writer is held while both sealings queue
    let auditor = Auditor::builder(store.clone()).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");

    let committing = tokio::spawn({
        let db = db.clone();
        async move {
            let txn = db.begin().await.expect("begin");
            user("race@x").insert(&txn).await.expect("insert");
            txn.commit().await
        }
    });
    let queued = |n: u64| {
        let auditor = auditor.clone();
        async move {
            while auditor.stats().queued < n {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    queued(1).await; // the commit's event waits at the gate, its outbox row is committed
    let recovering = tokio::spawn({
        let db = db.clone();
        async move { db.recover_outbox().await }
    });
    queued(2).await; // the recovery did not find it in the store and queued it again
    store.gate.add_permits(1000);

    committing.await.expect("task").expect("the commit succeeds");
    let report = recovering.await.expect("task").expect("the recovery succeeds");
    assert_eq!((report.sealed, report.already_sealed), (0, 1), "{report:?}");
    auditor.shutdown().await;
    let events = verified_events(&store.inner);
    assert_eq!(events.len(), 1, "sealed once: {events:#?}");
    assert_eq!(auditor.stats().rejected, 1, "the second copy was refused");
    assert!(outbox_payloads(&conn).await.is_empty(), "the outbox row is gone");
    testdb.cleanup().await;
}
on_all_backends!(a_recovery_racing_a_commit_seals_the_event_once);

/// An outbox row's time, which `recover_outbox_older_than` compares its age with, is when the
/// row was written at commit, not when the change was intercepted: a transaction open for
/// longer than the age is not taken for one a crash left behind while it is still sealing.
async fn an_outbox_row_is_as_old_as_its_commit(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let txn = h.db.begin().await.expect("begin");
    user("slow@example.com").insert(&txn).await.expect("insert"); // intercepted now
    tokio::time::sleep(Duration::from_millis(20)).await;
    let before_commit = audit_core::Timestamp::now().unix_micros();
    h.db.simulate_crash(Some(CrashPoint::AfterCommit));
    assert!(txn.commit().await.is_err(), "the simulated crash is reported");
    h.db.simulate_crash(None);

    let backend = h.conn.get_database_backend();
    let row = h
        .conn
        .query_one_raw(Statement::from_string(backend, "SELECT ts_us FROM audit_seaorm_outbox"))
        .await
        .expect("read the outbox")
        .expect("one row");
    let written_at: i64 = row.try_get("", "ts_us").expect("ts_us");
    assert!(
        written_at >= before_commit,
        "the row's time ({written_at}) is its commit's, not {before_commit} or earlier"
    );
    let intercepted = h.db.recover_outbox().await.expect("recover");
    assert_eq!(intercepted, recovered(1, 0));
    h.finish().await;
}
on_all_backends!(an_outbox_row_is_as_old_as_its_commit);

/// A recovery run inside a request's scope (e.g. from an admin endpoint) seals each event as
/// it was intercepted: the caller's context does not fill the fields the event left empty.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_inside_a_scope_keeps_the_recovered_events_as_they_were() {
    let Some(testdb) = TestDb::open(orm_common::Backend::Sqlite, "recovery_inside_a_scope").await else { return };
    let h = Harness::new(testdb).await;
    h.db.simulate_crash(Some(CrashPoint::AfterCommit));
    let txn = h.db.begin().await.expect("begin");
    user("left@example.com").insert(&txn).await.expect("insert");
    txn.commit().await.expect_err("simulated crash");
    h.db.simulate_crash(None);

    let scope = audit_core::AuditScope::new();
    scope.update_context(|context| context.ip = Some("203.0.113.9".into()));
    let report = scope.run(h.db.recover_outbox()).await.expect("recover");
    assert_eq!(report, recovered(1, 0));
    let events = h.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].context.ip, None, "not the recovering caller's address");
    h.finish().await;
}

/// A memory store that refuses for good every batch holding an event whose line contains
/// `needle`, as a database's data error about a value, or every batch (as a store of another
/// chain would) if there is no needle.
struct RefusingStore(audit_core::store::MemoryStore, Option<&'static str>);

#[async_trait::async_trait]
impl audit_core::store::AuditStore for RefusingStore {
    async fn head(&self, chain: &str) -> Result<audit_core::store::Head, audit_core::store::StoreError> {
        self.0.head(chain).await
    }
    async fn append(
        &self,
        chain: &str,
        expected: audit_core::store::Head,
        batch: &[audit_core::SealedEvent],
    ) -> Result<audit_core::store::Head, audit_core::store::AppendError> {
        match self.1 {
            None => Err(audit_core::store::AppendError::Rejected {
                events: Vec::new(),
                reason: "not this store's chain".into(),
            }),
            Some(needle) if batch.iter().any(|event| event.line.contains(needle)) => {
                Err(audit_core::store::AppendError::RefusedValue { reason: "a value out of range".into() })
            }
            Some(_) => self.0.append(chain, expected, batch).await,
        }
    }
    fn read(&self, chain: &str, from: u64, to: Option<u64>) -> audit_core::store::LineStream<'_> {
        self.0.read(chain, from, to)
    }
    async fn query(
        &self,
        query: &audit_core::store::Query,
    ) -> Result<audit_core::store::QueryPage, audit_core::store::StoreError> {
        self.0.query(query).await
    }
}

/// Rows whose events the store refuses are reported and kept, each with the store's reason
/// (here every row: a store of another chain), and a later recovery to a store that takes the
/// events seals each of them once.
async fn rows_the_store_refuses_are_reported_and_kept(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    h.db.simulate_crash(Some(CrashPoint::AfterCommit));
    write_three(&h.db, "r").await;
    assert_eq!(outbox_payloads(&h.conn).await.len(), 3);
    h.auditor.shutdown().await;

    let refusing = std::sync::Arc::new(RefusingStore(audit_core::store::MemoryStore::new(), None));
    let auditor = Auditor::builder(refusing.clone()).build();
    let db = AuditedDb::builder(h.conn.clone(), auditor.clone(), refusing).build();
    let report = db.recover_outbox().await.expect("a refusal is about rows, not the recovery");
    assert_eq!((report.sealed, report.already_sealed, report.unsealable.len()), (0, 0, 3), "{report:?}");
    for row in &report.unsealable {
        assert!(row.reason.contains("not this store's chain"), "{row:?}");
    }
    assert_eq!(outbox_payloads(&h.conn).await.len(), 3, "every row is kept for a later recovery");
    auditor.shutdown().await;

    let auditor = Auditor::builder(h.store.clone()).build();
    let db = AuditedDb::builder(h.conn.clone(), auditor.clone(), h.store.clone()).build();
    assert_eq!(db.recover_outbox().await.expect("recover"), recovered(3, 0));
    assert!(outbox_payloads(&h.conn).await.is_empty());
    let events = verified_events(&h.store);
    assert_eq!(events.len(), 3, "each event sealed once");
    assert_eq!(events.iter().map(|e| e.id).collect::<HashSet<_>>().len(), 3);
    auditor.shutdown().await;
    h.finish().await;
}
on_all_backends!(rows_the_store_refuses_are_reported_and_kept);

/// A row whose event the store refuses for a value in it is reported and kept; the rows
/// beside it are recovered.
async fn a_row_the_store_refuses_is_kept_and_the_others_are_recovered(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    h.db.simulate_crash(Some(CrashPoint::AfterCommit));
    write_three(&h.db, "v").await;
    h.auditor.shutdown().await;

    let refusing = std::sync::Arc::new(RefusingStore(audit_core::store::MemoryStore::new(), Some("v1@example.com")));
    let auditor = Auditor::builder(refusing.clone()).build();
    let db = AuditedDb::builder(h.conn.clone(), auditor.clone(), refusing.clone()).build();
    let report = db.recover_outbox().await.expect("recover");
    assert_eq!((report.sealed, report.unsealable.len()), (2, 1), "{report:?}");
    assert!(report.unsealable[0].reason.contains("a value out of range"), "{report:?}");
    auditor.shutdown().await;
    let payloads = outbox_payloads(&h.conn).await;
    assert_eq!(payloads.len(), 1, "the refused row is kept");
    assert!(payloads[0].contains("v1@example.com"));
    let sealed = refusing.0.events("default");
    let (notes, events): (Vec<_>, Vec<_>) =
        sealed.iter().partition(|event| event.event.action == audit_core::REFUSAL_ACTION);
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|event| !event.line.contains("v1@example.com")));
    assert_eq!(notes.len(), 1, "the trail says that the store refused an event");
    assert_eq!(notes[0].event.resource.id, report.unsealable[0].id);
    h.finish().await;
}
on_all_backends!(a_row_the_store_refuses_is_kept_and_the_others_are_recovered);

/// A lone row whose event the store refuses, with no other row to write beside it, does not
/// hold recovery up (the writer's note tells a bad value from a store refusing all).
async fn a_lone_row_the_store_refuses_does_not_hold_up_recovery(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    h.db.simulate_crash(Some(CrashPoint::AfterCommit));
    let txn = h.db.begin().await.expect("begin");
    user("lone@example.com").insert(&txn).await.expect("insert");
    assert!(txn.commit().await.is_err(), "the simulated crash is reported");
    h.auditor.shutdown().await;

    let refusing = std::sync::Arc::new(RefusingStore(audit_core::store::MemoryStore::new(), Some("lone@example.com")));
    let auditor = Auditor::builder(refusing.clone()).build();
    let db = AuditedDb::builder(h.conn.clone(), auditor.clone(), refusing.clone()).build();
    // A guard against a hang, not a measure of speed.
    let recovery = tokio::time::timeout(std::time::Duration::from_secs(120), db.recover_outbox()).await;
    let report = recovery.expect("recovery returns").expect("recover");
    assert_eq!((report.sealed, report.unsealable.len()), (0, 1), "{report:?}");
    auditor.shutdown().await;
    assert_eq!(outbox_payloads(&h.conn).await.len(), 1, "the refused row is kept");
    let sealed = refusing.0.events("default");
    assert_eq!(sealed.len(), 1, "only the note");
    assert_eq!(sealed[0].event.action, audit_core::REFUSAL_ACTION);
    h.finish().await;
}
on_all_backends!(a_lone_row_the_store_refuses_does_not_hold_up_recovery);

/// Once 1,000 sealed rows wait, the commit that brought them there deletes them after sealing.
/// If that delete fails, the commit still succeeded and its events are durable: `commit()`
/// says so, and the rows wait for a later delete (here `flush_outbox`).
#[tokio::test]
async fn a_failed_delete_of_sealed_rows_is_not_a_failed_commit() {
    let Some(testdb) = TestDb::open(orm_common::Backend::Sqlite, "failed_outbox_delete").await else { return };
    let h = Harness::new(testdb).await;
    h.conn
        .execute_unprepared(
            "CREATE TRIGGER refuse_outbox_delete BEFORE DELETE ON audit_seaorm_outbox \
             BEGIN SELECT RAISE(ABORT, 'outbox deletes refused'); END",
        )
        .await
        .expect("create the trigger");
    let txn = h.db.begin().await.expect("begin");
    for n in 0..1000 {
        user(&format!("many{n}@example.com")).insert(&txn).await.expect("insert");
    }
    txn.commit().await.expect("the commit succeeded, whatever the delete after it did");
    assert_eq!(users::Entity::find().count(&h.conn).await.expect("count"), 1000);
    assert_eq!(h.events().len(), 1000, "every event sealed");
    assert_eq!(outbox_payloads(&h.conn).await.len(), 1000, "the delete was refused");

    h.conn.execute_unprepared("DROP TRIGGER refuse_outbox_delete").await.expect("drop the trigger");
    h.db.flush_outbox().await.expect("flush");
    assert!(outbox_payloads(&h.conn).await.is_empty(), "the rows waited for the next delete");
    assert_eq!(h.events().len(), 1000, "and nothing was sealed twice");
    h.finish().await;
}

/// An outbox named with `outbox_table`: the rows of a crash go to that table (none to the
/// default one, which is never created), and a restarted instance configured the same seals
/// them once.
async fn a_named_outbox_is_used_and_recovered(testdb: TestDb) {
    const NAMED: &str = "app_audit_outbox";
    let h = Harness::with(testdb, |b| b.outbox_table(NAMED)).await;
    h.db.simulate_crash(Some(CrashPoint::AfterCommit));
    write_three(&h.db, "a").await;
    assert_eq!(outbox_rows(&h.conn, NAMED).await, 3, "the events wait in the named outbox");
    let default_table = h
        .conn
        .query_one_raw(Statement::from_string(
            h.conn.get_database_backend(),
            "SELECT COUNT(*) FROM audit_seaorm_outbox",
        ))
        .await;
    assert!(default_table.is_err(), "the default outbox was never created");

    h.auditor.shutdown().await;
    let auditor = Auditor::builder(h.store.clone()).build();
    let db = AuditedDb::builder(h.conn.clone(), auditor.clone(), h.store.clone()).outbox_table(NAMED).build();
    db.migrate_outbox().await.expect("migrate");
    assert_eq!(db.recover_outbox().await.expect("recover"), recovered(3, 0));
    assert_eq!(db.recover_outbox().await.expect("recover again"), Recovery::default());
    assert_eq!(outbox_rows(&h.conn, NAMED).await, 0);
    assert_eq!(verified_events(&h.store).len(), 3, "each once");
    auditor.shutdown().await;
    h.finish().await;
}
on_all_backends!(a_named_outbox_is_used_and_recovered);
