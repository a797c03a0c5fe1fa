//! Monthly partitions (PostgreSQL): an event dated beyond the partitions made ahead of time
//! (`EventDraft::with_ts` from a device's clock, an outbox replay, a clock that jumped) is
//! stored in `audit_events_default`, and partition maintenance goes on: that month keeps its
//! events in the default partition and gets no partition. Creating it failed ("updated
//! partition constraint for default partition … would be violated"), so `ensure_partitions`
//! and `migrate`, which runs at every start, failed from then on. The same when such an event
//! is stored while `ensure_partitions` runs.

mod common;

use audit_core::{Auditor, EventDraft, Timestamp};
use chrono::Datelike;
use common::{Backend, TestDb};
use sea_orm::ConnectionTrait;
use std::sync::Arc;

/// How many partitions `audit_events` has (the default one included).
async fn partition_count(conn: &sea_orm::DatabaseConnection) -> i64 {
    let sql = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_events'::regclass";
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql))
        .await
        .expect("count partitions")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("count")
}

/// An event dated five months ahead on a store made with three months of partitions ahead;
/// then `ensure_partitions(6)`, as a later month's maintenance runs it, and `migrate`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_future_dated_event_does_not_break_partition_maintenance() {
    let Some(db) = TestDb::open(Backend::Postgres, "pg_future_part").await else { return };
    let store = Arc::new(db.store().await.with_monthly_partitions(3));
    store.migrate().await.expect("migrate");
    let auditor = Auditor::builder(store.clone()).build();
    let future = Timestamp::from_datetime(chrono::Utc::now() + chrono::Duration::days(5 * 31));
    auditor.record(EventDraft::new("scheduled_export").with_ts(future)).await.expect("recorded");
    auditor.shutdown().await;
    let maintenance = store.ensure_partitions(6).await.map_err(|e| e.to_string());
    let migrate = Arc::new(db.store().await.with_monthly_partitions(6)).migrate().await.map_err(|e| e.to_string());
    // The month still goes to the default partition; the chain goes on and verifies.
    let auditor = Auditor::builder(store.clone()).build();
    auditor.record(EventDraft::new("scheduled_export").with_ts(future)).await.expect("recorded again");
    auditor.record(EventDraft::new("now")).await.expect("recorded now");
    auditor.shutdown().await;
    let report = store.verify_chain("default").await.expect("verify");
    let conn = db.connect().await;
    let partitions = partition_count(&conn).await;
    db.cleanup().await;
    assert_eq!((maintenance, migrate), (Ok(()), Ok(())));
    assert!(report.is_valid() && report.lines.verified == 3, "{report:?}");
    // This month and the next 6 but the far one, and the default partition.
    assert_eq!(partitions, 7, "months made but the one the default partition holds events of");
}

/// An event dated into a month that `ensure_partitions` is about to create, stored while it
/// runs: the job waits for that insert's transaction, sees its row in the default partition
/// and leaves the month there. It looked for such rows before taking any lock, then created
/// the partition, whose check of the default partition found the row committed meanwhile and
/// failed ("updated partition constraint for default partition … would be violated"). The
/// insert's transaction is held open by the test; the job is seen waiting in `pg_locks`, not
/// timed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_event_stored_while_partitions_are_made_does_not_fail_them() {
    use futures_util::FutureExt;
    let Some(db) = TestDb::open(Backend::Postgres, "pg_part_race").await else { return };
    let result = std::panic::AssertUnwindSafe(event_stored_while_partitions_are_made(&db)).catch_unwind().await;
    db.cleanup().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn event_stored_while_partitions_are_made(db: &TestDb) {
    use sea_orm::{DbBackend, Statement, TransactionTrait};
    let store = Arc::new(db.store().await.with_monthly_partitions(1));
    store.migrate().await.expect("migrate");
    // A row dated in two months, the first month the job makes (no partition yet: it goes to
    // the default partition), in a transaction left open. Written directly: only its date
    // matters to the partitions.
    let conn = db.connect().await;
    let writer = conn.begin().await.expect("begin");
    let now = chrono::Utc::now();
    let month = now.year() * 12 + now.month0() as i32 + 2;
    let ts = chrono::NaiveDate::from_ymd_opt(month / 12, month as u32 % 12 + 1, 15)
        .and_then(|day| day.and_hms_opt(12, 0, 0))
        .expect("a date")
        .and_utc();
    writer
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO audit_events (chain, seq, id, ts, actor_id, actor_kind, action, resource_type, resource_id, \
             outcome, line) VALUES ('other', 1, gen_random_uuid(), $1, 'job', 'system', 'export', '', '', 'success', '{}')",
            [ts.into()],
        ))
        .await
        .expect("insert a future-dated row");
    let job = tokio::spawn({
        let store = store.clone();
        async move { store.ensure_partitions(4).await }
    });
    // Until the job waits on a lock the writer holds (a guard against a hang, not a measure).
    let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'relation' AND NOT granted \
                   AND relation IN (SELECT oid FROM pg_class WHERE relnamespace = current_schema()::regnamespace)";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let row = conn.query_one_raw(Statement::from_string(DbBackend::Postgres, waiting)).await.expect("pg_locks");
        if row.expect("a row").try_get_by_index::<i64>(0).expect("a count") > 0 {
            break;
        }
        assert!(!job.is_finished(), "ensure_partitions finished before the row's transaction did: {:?}", job.await);
        assert!(std::time::Instant::now() < deadline, "ensure_partitions neither ran nor waited");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    writer.commit().await.expect("commit the row");
    job.await.expect("the job").expect("partitions made, the row's month left to the default partition");
    let partitions = partition_count(&conn).await;
    // This month and the next 4 but the row's, and the default partition.
    assert_eq!(partitions, 5, "months made but the one the default partition holds a row of");
}
