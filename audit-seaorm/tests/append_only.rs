//! The database itself refuses to change or remove events, even for the tables' owner: UPDATE,
//! DELETE, TRUNCATE (PostgreSQL), replacing inserts and upserts on `audit_events`; and a chain
//! head can never move back, change its hash in place or be removed.

mod common;

use audit_core::store::AuditStore;
use audit_core::{Actor, Auditor, EventDraft};
use common::{Backend, TestDb, read_all};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::sync::Arc;

const COLUMNS: &str =
    "chain, seq, id, ts, actor_id, actor_kind, action, resource_type, resource_id, outcome, request_id, tags, line";

/// Runs `sql`, which must fail with an error whose text contains `why`.
async fn refused(conn: &DatabaseConnection, sql: &str, why: &str) {
    match conn.execute_unprepared(sql).await {
        Ok(result) => panic!("the database accepted {sql:?} ({} rows affected)", result.rows_affected()),
        Err(e) => assert!(e.to_string().contains(why), "{sql:?} failed, but not because {why:?}: {e}"),
    }
}

async fn events_are_append_only(db: &TestDb) {
    let store = Arc::new(db.migrated_store().await);
    let auditor = Auditor::builder(store.clone()).build();
    for i in 0..5 {
        auditor
            .record(EventDraft::new("update").actor(Actor::user("alice")).resource("users", i.to_string()))
            .await
            .expect("record");
    }
    auditor.shutdown().await;
    let before = read_all(store.as_ref(), "default").await;
    let head = store.head("default").await.expect("head");
    let conn = db.connect().await;
    let append_only = "append-only";

    refused(&conn, "UPDATE audit_events SET actor_id = 'mallory' WHERE seq = 2", append_only).await;
    refused(&conn, "UPDATE audit_events SET line = line", append_only).await;
    refused(&conn, "DELETE FROM audit_events WHERE seq = 5", append_only).await;
    refused(&conn, "DELETE FROM audit_events", append_only).await;
    let replacing = "SELECT chain, seq, id, ts, 'mallory', actor_kind, action, resource_type, resource_id, outcome, \
                     request_id, tags, line FROM audit_events WHERE seq = 3";
    match db.backend {
        Backend::Postgres => {
            refused(&conn, "TRUNCATE audit_events", append_only).await;
            refused(&conn, "TRUNCATE audit_events CASCADE", append_only).await;
            refused(
                &conn,
                &format!("INSERT INTO audit_events ({COLUMNS}) {replacing} ON CONFLICT (chain, seq) DO UPDATE SET actor_id = 'mallory'"),
                append_only,
            )
            .await;
        }
        Backend::Sqlite => {
            refused(&conn, &format!("INSERT OR REPLACE INTO audit_events ({COLUMNS}) {replacing}"), append_only).await;
            refused(&conn, &format!("REPLACE INTO audit_events ({COLUMNS}) {replacing}"), append_only).await;
            refused(
                &conn,
                &format!(
                    "INSERT INTO audit_events ({COLUMNS}) {replacing} ON CONFLICT (chain, seq) DO UPDATE SET actor_id = 'mallory'"
                ),
                append_only,
            )
            .await;
            // The tables have rowids: a new row given event 4's rowid replaces (deletes) it,
            // with no DELETE trigger fired and no (chain, seq) or id in conflict.
            let by_rowid = "SELECT (SELECT rowid FROM audit_events WHERE seq = 4), chain, 99, 'forged-id', ts, \
                            actor_id, actor_kind, action, resource_type, resource_id, outcome, request_id, tags, line \
                            FROM audit_events WHERE seq = 3";
            for verb in ["INSERT OR REPLACE", "REPLACE"] {
                refused(&conn, &format!("{verb} INTO audit_events (rowid, {COLUMNS}) {by_rowid}"), append_only).await;
            }
        }
        Backend::MySql => {
            refused(&conn, &format!("REPLACE INTO audit_events ({COLUMNS}) {replacing}"), append_only).await;
            refused(
                &conn,
                &format!(
                    "INSERT INTO audit_events ({COLUMNS}) {replacing} ON DUPLICATE KEY UPDATE actor_id = 'mallory'"
                ),
                append_only,
            )
            .await;
        }
    }

    // Heads only move forward.
    let forward = "may only move forward";
    refused(&conn, "UPDATE audit_chain_heads SET seq = seq - 1 WHERE chain = 'default'", forward).await;
    refused(&conn, "UPDATE audit_chain_heads SET seq = 0", forward).await;
    refused(&conn, &format!("UPDATE audit_chain_heads SET hash = '{}'", "0".repeat(64)), forward).await;
    refused(&conn, "DELETE FROM audit_chain_heads", forward).await;
    let zeros = "0".repeat(64);
    match db.backend {
        Backend::Postgres => refused(&conn, "TRUNCATE audit_chain_heads", forward).await,
        Backend::Sqlite => {
            refused(
                &conn,
                &format!("INSERT OR REPLACE INTO audit_chain_heads VALUES ('default', 0, '{zeros}')"),
                forward,
            )
            .await;
            refused(
                &conn,
                &format!(
                    "INSERT OR REPLACE INTO audit_chain_heads (rowid, chain, seq, hash) \
                     SELECT rowid, 'other', 0, '{zeros}' FROM audit_chain_heads WHERE chain = 'default'"
                ),
                forward,
            )
            .await;
        }
        Backend::MySql => {
            refused(&conn, &format!("REPLACE INTO audit_chain_heads VALUES ('default', 0, '{zeros}')"), forward).await;
        }
    }

    // Nothing changed, and appends still work.
    assert_eq!(read_all(store.as_ref(), "default").await, before);
    assert_eq!(store.head("default").await.expect("head"), head);
    let auditor = Auditor::builder(store.clone()).build();
    let receipt = auditor.record(EventDraft::new("login")).await.expect("record after the refusals");
    assert_eq!(receipt.seq, 6);
    auditor.shutdown().await;
    let report = store.verify_chain("default").await.expect("verify");
    assert!(report.is_valid(), "{report}");
}
on_all_backends!(events_are_append_only);
