//! Every SPEC time (years 0000–9999) the writer accepts is stored and verifies on each backend,
//! or is refused for good (`AppendError::Rejected`), never failed with a `Store` error the
//! writer retries forever (MySQL bound `ts` as a `TIMESTAMP`: see `mysql_times.rs`). The
//! store's answers are checked directly (no timing).

mod common;

use audit_core::store::{AppendError, AuditStore, Head, MemoryStore};
use audit_core::{Actor, Auditor, EventDraft, Timestamp};
use std::sync::Arc;

async fn edge_years_are_stored_or_refused_for_good(db: &common::TestDb) {
    let store = db.migrated_store().await;
    let mut outcomes = Vec::new();
    for (i, ts) in [
        "0000-01-01T00:00:00.000000Z",
        "0001-01-01T00:00:00.000000Z",
        "0999-12-31T23:59:59.999999Z",
        "1969-12-31T23:59:59.999999Z",
        "1970-01-01T00:00:01.000000Z",
        "2038-01-19T03:14:07.000000Z",
        "2038-01-19T03:14:08.000000Z",
        "2100-01-01T00:00:00.000000Z",
        "9999-12-31T23:59:59.999999Z",
    ]
    .into_iter()
    .enumerate()
    {
        let chain = format!("years{i}");
        let ts: Timestamp = ts.parse().expect("a SPEC time");
        let memory = Arc::new(MemoryStore::new());
        let auditor = Auditor::builder(memory.clone()).chain(chain.clone()).build();
        auditor
            .record(EventDraft::new("import").actor(Actor::system("etl")).with_ts(ts))
            .await
            .expect("the writer accepts a SPEC time");
        auditor.shutdown().await;
        let result = store.append(&chain, Head::EMPTY, &memory.events(&chain)).await;
        let verdict = match &result {
            Ok(_) => {
                let report = store.verify_chain(&chain).await.expect("verify");
                if report.is_valid() { "stored, valid".to_string() } else { format!("stored, BROKEN: {report}") }
            }
            Err(AppendError::Rejected { reason, .. }) => format!("rejected: {reason}"),
            Err(e) => {
                format!("STORE ERROR (retried forever): {}", format!("{e:?}").chars().take(300).collect::<String>())
            }
        };
        outcomes.push((ts.to_string(), verdict));
    }
    let bad: Vec<_> = outcomes.iter().filter(|(_, v)| v.contains("BROKEN") || v.contains("STORE ERROR")).collect();
    assert!(bad.is_empty(), "{bad:#?}\nall: {outcomes:#?}");
}
on_all_backends!(edge_years_are_stored_or_refused_for_good);
