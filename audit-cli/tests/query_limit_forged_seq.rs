//! `audit-trail query --limit N` shows at most N events also where a page holds more: on a
//! partitioned PostgreSQL store (key `(chain, seq, ts)`) a forged second row at a seq makes
//! the store's page end after both rows of that seq, and the command cuts the page, saying
//! that more match.

mod common;

use audit_core::{Actor, Auditor, EventDraft};
use audit_seaorm::SqlStore;
use common::*;
use sea_orm::ConnectionTrait;
use std::sync::Arc;

#[test]
fn postgres_limit_holds_where_a_forged_row_shares_a_seq() {
    let Some(db) = TestDb::open(Backend::Postgres, "cli_limit_forged_seq") else { return };
    db.block_on(async {
        let conn = db.connect_async().await;
        let store = Arc::new(SqlStore::new(conn.clone()).expect("supported backend").with_monthly_partitions(2));
        store.migrate().await.expect("migrate");
        let auditor = Auditor::builder(store.clone()).build();
        for n in 1..=6 {
            let draft = EventDraft::new("update").actor(Actor::user("alice")).resource("doc", n.to_string());
            auditor.record(draft).await.expect("record");
        }
        auditor.shutdown().await;
        // A role that may insert adds a second row at seq 3, a microsecond later, claiming
        // another hash (a row with the same line is the same event, and shown once).
        conn.execute_unprepared(
            "INSERT INTO audit_events SELECT chain, seq, id, ts + interval '1 microsecond', actor_id, actor_kind, \
             action, resource_type, resource_id, outcome, request_id, tags, \
             replace(line, line::json->>'hash', repeat('ab', 32)) FROM audit_events \
             WHERE chain = 'default' AND seq = 3",
        )
        .await
        .expect("insert a second row at seq 3");
        conn.close().await.expect("close");
    });
    let query = |limit: &str| {
        let output = run(&["query", "--db", db.url(), "--actor", "alice", "--limit", limit, "--format", "json"]);
        assert_exit(&output, 0);
        (seqs(&stdout(&output)), stderr(&output))
    };

    let (three, note) = query("3");
    assert_eq!(three, [1, 2, 3], "--limit 3 shows three events");
    assert!(note.contains("more match"), "{note}");
    let (four, note) = query("4");
    assert_eq!(four, [1, 2, 3, 3], "both rows at seq 3");
    assert!(note.contains("more match"), "{note}");
    let (all, note) = query("0");
    assert_eq!(all, [1, 2, 3, 3, 4, 5, 6], "every row once");
    assert!(!note.contains("more match"), "{note}");
}
