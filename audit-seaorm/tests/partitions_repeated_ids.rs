//! Monthly partitions (PostgreSQL): an event whose id the chain already holds is refused, also
//! when it comes with another time. A partitioned table's unique index must include `ts`, so
//! the database itself refused only the same `(id, ts)`: an application that recorded a draft
//! again with `EventDraft::with_id` (an idempotency key on a client's retry) and a new time
//! had the second copy written, and verification then called the chain broken (duplicate id)
//! for good. The store now looks such ids up under the chain's head lock.

mod common;

use audit_core::{Auditor, EventDraft, RecordError, Timestamp};
use common::{Backend, TestDb};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_repeated_id_with_another_time_is_refused() {
    use futures_util::FutureExt;
    let Some(db) = TestDb::open(Backend::Postgres, "pg_part_ids").await else { return };
    let result = std::panic::AssertUnwindSafe(repeated_ids_refused(&db)).catch_unwind().await;
    db.cleanup().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn repeated_ids_refused(db: &TestDb) {
    let store = Arc::new(db.store().await.with_monthly_partitions(2));
    store.migrate().await.expect("migrate");
    let auditor = Auditor::builder(store.clone()).build();
    let key = uuid::Uuid::now_v7();
    let first = auditor.record(EventDraft::new("payment").with_id(key)).await.expect("first attempt");
    assert_eq!(first.seq, 1);

    // The client's retry, a second later: same id, another time.
    let later = Timestamp::from_datetime(chrono::Utc::now() + chrono::Duration::seconds(1));
    let retry = auditor.record(EventDraft::new("payment").with_id(key).with_ts(later)).await;
    assert!(matches!(&retry, Err(RecordError::Rejected(reason)) if reason.contains("already")), "{retry:?}");
    // An id given from another generator (a v4 UUID), again with another time, in a batch between
    // fresh events: only it is refused.
    let given = uuid::Uuid::from_u128(0x6f1e2d3c_4b5a_4978_8695_a4b3c2d1e0f9);
    auditor.record(EventDraft::new("import").with_id(given)).await.expect("first import");
    let tickets = vec![
        auditor.try_record(EventDraft::new("fresh")).expect("room"),
        auditor.try_record(EventDraft::new("import").with_id(given).with_ts(later)).expect("room"),
        auditor.try_record(EventDraft::new("fresh")).expect("room"),
    ];
    let mut answers = Vec::new();
    for ticket in tickets {
        answers.push(ticket.await.map(|receipt| receipt.seq));
    }
    assert!(matches!(answers.as_slice(), [Ok(_), Err(RecordError::Rejected(_)), Ok(_)]), "{answers:?}");
    auditor.shutdown().await;

    let report = store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report:?}");
    assert_eq!(report.lines.verified, 4);
}
