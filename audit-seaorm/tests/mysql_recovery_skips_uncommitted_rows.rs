//! MySQL/MariaDB: outbox recovery reads only committed rows, whatever the isolation level of
//! the pool it runs on. On a pool whose sessions default to `READ UNCOMMITTED` (a server's
//! `transaction_isolation`, or a pool's own setting) its autocommit `SELECT` read the outbox
//! rows of a transaction still in flight in another process and sealed them; that transaction
//! then rolled back, and the chain kept the event of a change that never happened.

mod orm_common;

use audit_core::Auditor;
use audit_core::store::MemoryStore;
use audit_seaorm::orm::{AuditedDb, CrashPoint, Recovery};
use orm_common::{Backend, TestDb, create_tables, plain_user, user, verified_events};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Statement, TransactionTrait, Value};
use std::sync::Arc;

/// Another instance's transaction holds its change and its outbox row, uncommitted (its
/// `COMMIT` not sent yet), while an instance on a `READ UNCOMMITTED` pool recovers the outbox;
/// then it rolls back. Nothing is sealed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_recovery_does_not_seal_the_rows_of_a_transaction_in_flight() {
    let Some(testdb) = TestDb::open(Backend::MySql, "recovery_uncommitted").await else { return };
    let conn = testdb.connect().await;
    let backend = conn.get_database_backend();
    create_tables(&conn).await;
    let store = Arc::new(MemoryStore::new());

    // An outbox row as a commit writes it: left behind by a commit stopped after `COMMIT`,
    // then taken out again, to be written by a transaction that does not commit.
    let auditor = Auditor::builder(store.clone()).build();
    let writer = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    writer.migrate_outbox().await.expect("migrate the outbox");
    writer.simulate_crash(Some(CrashPoint::AfterCommit));
    let txn = writer.begin().await.expect("begin");
    user("in-flight@x").insert(&txn).await.expect("insert");
    assert!(txn.commit().await.is_err(), "the simulated crash is reported");
    let row = conn
        .query_one_raw(Statement::from_string(backend, "SELECT id, ts_us, payload FROM audit_seaorm_outbox"))
        .await
        .expect("read the outbox")
        .expect("the row");
    let (id, ts_us, payload): (String, i64, String) = (
        row.try_get("", "id").expect("id"),
        row.try_get("", "ts_us").expect("ts_us"),
        row.try_get("", "payload").expect("payload"),
    );
    for sql in ["DELETE FROM audit_seaorm_outbox", "DELETE FROM users"] {
        conn.execute_unprepared(sql).await.expect(sql);
    }
    auditor.shutdown().await;

    // The other instance's transaction, in flight: its change and its outbox row written.
    let in_flight = conn.begin().await.expect("begin");
    plain_user("in-flight@x").insert(&in_flight).await.expect("insert the change");
    let values: [Value; 3] = [id.into(), ts_us.into(), payload.into()];
    in_flight
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "INSERT INTO audit_seaorm_outbox (id, ts_us, payload) VALUES (?, ?, ?)",
            values,
        ))
        .await
        .expect("insert the outbox row");

    // This instance starts on a pool whose session reads uncommitted rows, and recovers.
    let dirty = testdb.connect_one().await;
    // (A recovery that read the row waits for its lock to delete it: not for 50 s.)
    for sql in ["SET SESSION TRANSACTION ISOLATION LEVEL READ UNCOMMITTED", "SET SESSION innodb_lock_wait_timeout = 1"]
    {
        dirty.execute_unprepared(sql).await.expect(sql);
    }
    let auditor = Auditor::builder(store.clone()).build();
    let recovering = AuditedDb::builder(dirty.clone(), auditor.clone(), store.clone()).build();
    let report = recovering.recover_outbox().await.map_err(|e| e.to_string());

    in_flight.rollback().await.expect("the other transaction rolls back");
    let after = recovering.recover_outbox().await.map_err(|e| e.to_string());
    auditor.shutdown().await;
    let events = verified_events(&store);
    drop(dirty);
    testdb.cleanup().await;
    assert!(events.is_empty(), "the event of a change rolled back is in the chain: {events:#?}");
    assert_eq!(report, Ok(Recovery::default()), "a row of a transaction in flight was recovered");
    assert_eq!(after, Ok(Recovery::default()));
}
