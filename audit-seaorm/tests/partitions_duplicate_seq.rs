//! Monthly partitions (PostgreSQL): the table's key is `(chain, seq, ts)`, so a role that may
//! insert can add a second row at a seq the chain holds, with another time. Verification and
//! export read the chain in pages keyed by seq; a page that ended at such a seq read one of the
//! two rows, and the next page began after it: the forged row was never read, though queries
//! and reports showed it. Every row at a page's last seq is read now, and the chain is broken.

mod common;

use audit_core::store::AuditStore;
use audit_core::verify::{ChainVerifier, verify_reader};
use audit_core::{Auditor, EventDraft};
use common::{Backend, TestDb};
use futures_util::StreamExt;
use sea_orm::ConnectionTrait;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_second_row_at_a_page_boundary_breaks_the_chain() {
    use futures_util::FutureExt;
    let Some(db) = TestDb::open(Backend::Postgres, "pg_part_dup_seq").await else { return };
    let result = std::panic::AssertUnwindSafe(second_row_found(&db)).catch_unwind().await;
    db.cleanup().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn second_row_found(db: &TestDb) {
    let store = Arc::new(db.store().await.with_monthly_partitions(2).with_read_page_size(5));
    store.migrate().await.expect("migrate");
    let auditor = Auditor::builder(store.clone()).build();
    for n in 0..12 {
        auditor.record(EventDraft::new("update").resource("doc", n.to_string())).await.expect("record");
    }
    auditor.shutdown().await;
    assert!(store.verify_chain("default").await.expect("verify").is_valid());

    // A second row at seq 5 (the last of the first page) and at seq 12 (the head, the last of
    // the last full... page of 5, 10 and then 12), a microsecond later.
    let conn = db.connect().await;
    for seq in [5, 12] {
        conn.execute_unprepared(&format!(
            "INSERT INTO audit_events SELECT chain, seq, id, ts + interval '1 microsecond', actor_id, actor_kind, \
             action, resource_type, resource_id, outcome, request_id, tags, line FROM audit_events \
             WHERE chain = 'default' AND seq = {seq}"
        ))
        .await
        .expect("insert a second row");
    }

    let report = store.verify_chain("default").await.expect("verify");
    assert!(!report.is_valid(), "a seq held twice: {report:?}");
    let broken = report.lines.broken.as_ref().expect("a break");
    assert_eq!(broken.seq, 6, "the second row at seq 5 stands where seq 6 should: {broken:?}");

    // An export (the store's read) holds both rows: verifying it finds the same break.
    let lines: Vec<String> = store.read("default", 1, None).map(|line| line.expect("a line")).collect().await;
    assert_eq!(lines.len(), 14, "every row is read");
    let export = lines.iter().map(|line| format!("{line}\n")).collect::<String>();
    let exported = verify_reader(export.as_bytes(), ChainVerifier::from_genesis()).expect("read");
    assert_eq!(exported.broken.as_ref().map(|b| b.seq), Some(6), "{exported:?}");
}

/// Queries and reports page by `(chain, seq)` too: a page whose `LIMIT` fell between two rows at
/// one seq (the genuine event and a forged one, another actor's) ended after the first, and the
/// next page began after that seq: the other row was in no page. Every page size now gives
/// every row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_second_row_at_a_seq_is_in_the_query_pages() {
    use futures_util::FutureExt;
    let Some(db) = TestDb::open(Backend::Postgres, "pg_part_dup_query").await else { return };
    let result = std::panic::AssertUnwindSafe(second_row_queried(&db)).catch_unwind().await;
    db.cleanup().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn second_row_queried(db: &TestDb) {
    use audit_core::store::Query;
    let store = Arc::new(db.store().await.with_monthly_partitions(2));
    store.migrate().await.expect("migrate");
    let auditor = Auditor::builder(store.clone()).build();
    for n in 0..12 {
        let draft = EventDraft::new("update").actor(audit_core::Actor::user("alice")).resource("doc", n.to_string());
        auditor.record(draft).await.expect("record");
    }
    auditor.shutdown().await;

    // A forged event at seq 5 (mallory's, hashed as an event), a microsecond later.
    let line: Vec<String> = store.read("default", 5, Some(5)).map(|line| line.expect("a line")).collect().await;
    let mut forged = audit_core::Event::from_canonical_line(&line[0]).expect("an event");
    forged.actor = audit_core::Actor::user("mallory");
    forged.hash = forged.compute_hash();
    let conn = db.connect().await;
    conn.execute_raw(sea_orm::Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "INSERT INTO audit_events SELECT chain, seq, id, ts + interval '1 microsecond', 'mallory', actor_kind, \
         action, resource_type, resource_id, outcome, request_id, tags, $1 FROM audit_events \
         WHERE chain = 'default' AND seq = 5",
        [forged.to_canonical_line().into()],
    ))
    .await
    .expect("insert a forged row");

    for limit in 1..=14 {
        let mut seen = Vec::new();
        let mut query = Query::new().limit(limit);
        loop {
            let page = store.query(&query).await.expect("query");
            seen.extend(page.events.iter().map(|e| (e.seq(), e.event.actor.id.clone())));
            match page.next {
                Some(next) => query = query.after(Some(next)),
                None => break,
            }
        }
        assert_eq!(seen.len(), 13, "pages of {limit}: {seen:?}");
        assert!(seen.contains(&(5, "alice".to_string())) && seen.contains(&(5, "mallory".to_string())), "{seen:?}");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 13, "no row twice, pages of {limit}: {seen:?}");
    }
    let mallory = store.query(&Query::new().actor("mallory")).await.expect("query").events;
    assert_eq!(mallory.len(), 1);
    let alice = store.query(&Query::new().actor("alice").limit(5)).await.expect("query");
    assert_eq!(alice.events.len(), 5);
}
