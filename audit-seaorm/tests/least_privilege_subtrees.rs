//! An application role with exactly the documented least-privilege grants (`SELECT, INSERT`
//! on `audit_merkle_nodes`, no `UPDATE`: the application must not be able to rewrite subtree
//! hashes) appends batches that complete stored subtrees: the store only inserts their rows.
//! (An `INSERT … ON CONFLICT DO UPDATE` / `ON DUPLICATE KEY UPDATE` needs the `UPDATE`
//! privilege on both servers, whether or not a row conflicts.)

mod common;

use audit_core::store::{AuditStore, Head, MemoryStore};
use audit_core::{Actor, Auditor, EventDraft, SealedEvent};
use audit_seaorm::{SqlStore, postgres_least_privilege_sql};
use common::{Backend, TestDb, read_all};
use sea_orm::{ConnectOptions, ConnectionTrait, Database};
use std::sync::Arc;

/// 100 valid sealed events of chain "default" (seq 1..=100), written by the real writer to a
/// memory store.
async fn hundred_events() -> Vec<SealedEvent> {
    let memory = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(memory.clone()).chain("default").build();
    for i in 0..100 {
        auditor
            .record(EventDraft::new("update").actor(Actor::user("alice")).resource("users", i.to_string()))
            .await
            .expect("record");
    }
    auditor.shutdown().await;
    read_all(memory.as_ref(), "default")
        .await
        .into_iter()
        .map(|line| SealedEvent::from_line(line).expect("a valid line"))
        .collect()
}

/// Appends seq 1..=10, then seq 11..=100 in one batch, through `app`.
async fn append_as_application(app: &SqlStore) -> Result<(), String> {
    let events = hundred_events().await;
    let head = app
        .append("default", Head::EMPTY, &events[..10])
        .await
        .map_err(|e| format!("control: the first 10 events (no subtree completed) were refused: {e}"))?;
    assert_eq!(head.seq, 10);
    app.append("default", head, &events[10..]).await.map_err(|e| {
        format!(
            "the batch of seq 11..=100 (which completes the subtree of seq 1..=64) was refused for a role with \
             the documented grants: {e}"
        )
    })?;
    assert_eq!(app.head("default").await.map_err(|e| e.to_string())?.seq, 100);
    Ok(())
}

/// PostgreSQL: the role gets `postgres_least_privilege_sql`'s grants.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_application_role_appends_a_batch_that_completes_a_subtree() {
    let Some(db) = TestDb::open(Backend::Postgres, "review_e_pg_grants").await else { return };
    let admin = db.admin().expect("an admin connection").clone();
    let owner = db.migrated_store().await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let role = format!("review_e_app_{}_{nanos}", std::process::id());
    admin.execute_unprepared(&format!("CREATE ROLE \"{role}\" LOGIN")).await.expect("create the role");
    owner.connection().execute_unprepared(&postgres_least_privilege_sql(&db.namespace, &role)).await.expect("grant");

    let app = SqlStore::new(db.connect_as(Some(&role)).await).expect("supported backend");
    let result = append_as_application(&app).await;
    app.connection().clone().close().await.ok();
    owner.connection().clone().close().await.ok();

    db.cleanup().await;
    for sql in [format!("DROP OWNED BY \"{role}\""), format!("DROP ROLE \"{role}\"")] {
        if let Err(e) = admin.execute_unprepared(&sql).await {
            eprintln!("warning: {sql}: {e}");
        }
    }
    result.expect("append as the least-privilege role");
}

/// MySQL/MariaDB: the grants the store's docs list (`SELECT, INSERT` on `audit_events`,
/// `SELECT, INSERT, UPDATE` on `audit_chain_heads`, `SELECT, INSERT` on `audit_merkle_nodes`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mysql_application_user_appends_a_batch_that_completes_a_subtree() {
    let Some(db) = TestDb::open(Backend::MySql, "review_e_my_grants").await else { return };
    let admin = db.admin().expect("an admin connection").clone();
    let owner = db.migrated_store().await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let user = format!("rev_e_{}_{}", std::process::id() % 100_000, nanos % 1_000_000);
    let ns = &db.namespace;
    for sql in [
        format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'review-pw'"),
        format!("GRANT SELECT, INSERT ON `{ns}`.audit_events TO '{user}'@'%'"),
        format!("GRANT SELECT, INSERT, UPDATE ON `{ns}`.audit_chain_heads TO '{user}'@'%'"),
        format!("GRANT SELECT, INSERT ON `{ns}`.audit_merkle_nodes TO '{user}'@'%'"),
    ] {
        admin.execute_unprepared(&sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let url = db.url().replacen("://root@", &format!("://{user}:review-pw@"), 1);
    let mut options = ConnectOptions::new(url);
    options.max_connections(4).sqlx_logging(false);
    let app = SqlStore::new(Database::connect(options).await.expect("connect as the application user"))
        .expect("supported backend");
    let result = append_as_application(&app).await;
    // What the grants leave out: MySQL has no TRUNCATE trigger, so only the missing `DROP`
    // privilege keeps the application from emptying the tables; nor may it rewrite subtree
    // hashes or delete a chain's head.
    let mut let_through = Vec::new();
    for sql in [
        "TRUNCATE TABLE audit_events",
        "TRUNCATE TABLE audit_merkle_nodes",
        "TRUNCATE TABLE audit_chain_heads",
        "DROP TABLE audit_events",
        "UPDATE audit_merkle_nodes SET hash = REVERSE(hash)",
        "DELETE FROM audit_merkle_nodes",
        "DELETE FROM audit_chain_heads",
        "UPDATE audit_events SET actor_id = 'someone else'",
        "DELETE FROM audit_events",
    ] {
        if app.connection().execute_unprepared(sql).await.is_ok() {
            let_through.push(sql);
        }
    }
    let intact = owner.verify_chain("default").await.map(|report| (report.is_valid(), report.lines.verified));
    app.connection().clone().close().await.ok();
    owner.connection().clone().close().await.ok();

    db.cleanup().await;
    if let Err(e) = admin.execute_unprepared(&format!("DROP USER '{user}'@'%'")).await {
        eprintln!("warning: drop user {user}: {e}");
    }
    result.expect("append as the least-privilege user");
    assert!(let_through.is_empty(), "the application user's grants let these through: {let_through:?}");
    assert_eq!(intact.expect("verify"), (true, 100), "the chain is whole");
}
