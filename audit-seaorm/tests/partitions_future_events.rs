//! Monthly partitions (PostgreSQL): an event dated beyond the partitions made ahead of time
//! (`EventDraft::with_ts` from a device's clock, an outbox replay, a clock that jumped) is
//! stored in `audit_events_default`, and partition maintenance goes on: that month keeps its
//! events in the default partition and gets no partition. Creating it failed ("updated
//! partition constraint for default partition … would be violated"), so `ensure_partitions`
//! and `migrate`, which runs at every start, failed from then on.

mod common;

use audit_core::{Auditor, EventDraft, Timestamp};
use common::{Backend, TestDb};
use sea_orm::ConnectionTrait;
use std::sync::Arc;

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
    let partitions = conn
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'audit_events'::regclass",
        ))
        .await
        .expect("count partitions")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("count");
    db.cleanup().await;
    assert_eq!((maintenance, migrate), (Ok(()), Ok(())));
    assert!(report.is_valid() && report.lines.verified == 3, "{report:?}");
    // This month and the next 6 but the far one, and the default partition.
    assert_eq!(partitions, 7, "months made but the one the default partition holds events of");
}
