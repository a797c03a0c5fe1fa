//! `repeated_failures` counts only events that pass the filter (`action`, `chain`), also when a
//! filter value has U+0000 or U+0001 (PostgreSQL keeps U+0000 of indexed text as U+0001, so the
//! SQL condition matches both: PostgreSQL counted the `"login\u{1}"` failures of bob for a
//! filter on `"login\u{0}"`).

mod common;

use audit_core::store::AuditStore;
use audit_core::{Actor, Auditor, EventDraft, Outcome};
use audit_seaorm::ReportFilter;
use std::sync::Arc;

/// Bob's failures, three events recorded in `chain` with `action`, reported with `filter`.
async fn bobs_failures(db: &common::TestDb, chain: &str, action: &str, filter: ReportFilter) -> Vec<(String, u64)> {
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).chain(chain).build();
    for _ in 0..3 {
        auditor
            .record(EventDraft::new(action).actor(Actor::user("bob")).outcome(Outcome::Failure))
            .await
            .expect("record");
    }
    auditor.shutdown().await;
    let rows = store.repeated_failures(1, &filter).await.expect("report");
    rows.into_iter().map(|s| (s.actor_id, s.failures)).collect()
}

/// Three failed `"login\u{1}"` by bob; none of action `"login\u{0}"`.
async fn failures_are_counted_for_the_exact_action_with_nul(db: &common::TestDb) {
    let rows = bobs_failures(db, "default", "login\u{1}", ReportFilter::new().action("login\u{0}")).await;
    assert_eq!(rows, vec![], "{:?}: no event has action \"login\\u{{0}}\"", db.backend);
    // The paged query with the same filter (it checks each event in Rust).
    let store = db.migrated_store().await;
    let page = store.query(&audit_core::store::Query::new().action("login\u{0}")).await.expect("query");
    assert!(page.events.is_empty());
}
on_all_backends!(failures_are_counted_for_the_exact_action_with_nul);

/// Three failed logins in chain "c\u{1}"; none in chain "c\u{0}".
async fn failures_are_counted_for_the_exact_chain_with_nul(db: &common::TestDb) {
    let rows = bobs_failures(db, "c\u{1}", "login", ReportFilter::new().chain("c\u{0}")).await;
    assert_eq!(rows, vec![], "{:?}: no event is in chain \"c\\u{{0}}\"", db.backend);
}
on_all_backends!(failures_are_counted_for_the_exact_chain_with_nul);
