//! MySQL/MariaDB with a small `max_allowed_packet` (4 MiB, MySQL 5.7's default): a batch whose
//! rows each fit the packet is stored, in statements that fit it. The store sent up to 4 MiB of
//! lines (and each row's tags again) in one multi-row `INSERT`: the server refused it, the
//! store answered a `Store` error, and the writer retried the same batch forever.
//!
//! The test sets the server's global `max_allowed_packet` (a session cannot) and puts it back,
//! also when the body panics. It is alone in its file: test files run one after another, so no
//! other test connects meanwhile.

mod common;

use audit_core::store::{AuditStore, Head, MemoryStore};
use audit_core::{Auditor, EventDraft};
use common::{Backend, TestDb};
use futures_util::FutureExt as _;
use sea_orm::ConnectionTrait;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_batch_of_rows_that_each_fit_a_small_packet_is_stored() {
    let Some(db) = TestDb::open(Backend::MySql, "my_small_packet").await else { return };
    let admin = db.connect().await;
    let row = admin
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::MySql, "SELECT @@GLOBAL.max_allowed_packet"))
        .await
        .expect("read max_allowed_packet")
        .expect("a row");
    let original: u64 = row
        .try_get_by_index::<u64>(0)
        .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| u64::try_from(v).unwrap_or(16 << 20)))
        .expect("max_allowed_packet");
    admin.execute_unprepared("SET GLOBAL max_allowed_packet = 4194304").await.expect("set max_allowed_packet");
    let result = std::panic::AssertUnwindSafe(async {
        // New connections take the new value.
        let store = db.migrated_store().await;
        // Four events of about 0.65 MB, most of it tags (which the tags column repeats).
        let tags = |seed: usize| (0..10_000).map(move |i| format!("tag-{seed}-{i:05}-{}", "t".repeat(50)));
        let memory = Arc::new(MemoryStore::new());
        let auditor = Auditor::builder(memory.clone()).max_event_bytes(4 << 20).build();
        for seed in 0..4 {
            auditor
                .record(tags(seed).fold(EventDraft::new("bulk"), |draft, tag| draft.tag(tag)))
                .await
                .expect("record");
        }
        auditor.shutdown().await;
        let events = memory.events("default");
        let appended = store.append("default", Head::EMPTY, &events).await;
        let report = store.verify_chain("default").await.expect("verify");
        (appended.map_err(|e| format!("{e:?}").chars().take(400).collect::<String>()), report)
    })
    .catch_unwind()
    .await;
    admin.execute_unprepared(&format!("SET GLOBAL max_allowed_packet = {original}")).await.expect("restore");
    db.cleanup().await;
    let (appended, report) = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    assert!(appended.is_ok(), "{appended:?}");
    assert!(report.is_valid() && report.lines.verified == 4, "{report:?}");
}
