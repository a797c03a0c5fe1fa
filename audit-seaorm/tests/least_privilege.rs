//! PostgreSQL least privilege: an application role given only `postgres_least_privilege_sql`'s
//! grants can append and read (new chains included), but cannot update, delete, truncate,
//! move a head back, switch triggers off or change the schema. The test creates a real LOGIN
//! role and connects as it.

mod common;

use audit_core::store::AuditStore;
use audit_core::{Actor, Auditor, EventDraft};
use audit_seaorm::{SqlStore, postgres_least_privilege_sql};
use common::{Backend, TestDb, read_all, verify_lines};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::sync::Arc;

async fn refused(conn: &DatabaseConnection, sql: &str, why: &str) {
    match conn.execute_unprepared(sql).await {
        Ok(result) => panic!("the application role could run {sql:?} ({} rows affected)", result.rows_affected()),
        Err(e) => assert!(e.to_string().contains(why), "{sql:?} failed, but not because {why:?}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn application_role_may_only_insert_and_select() {
    let Some(db) = TestDb::open(Backend::Postgres, "least_privilege").await else { return };
    let admin = db.admin().expect("an admin connection").clone();
    let owner = db.migrated_store().await;
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let role = format!("audit_app_{}_{nanos}", std::process::id());
    admin.execute_unprepared(&format!("CREATE ROLE \"{role}\" LOGIN")).await.expect("create the role");
    owner.connection().execute_unprepared(&postgres_least_privilege_sql(&db.namespace, &role)).await.expect("grant");

    let result = exercise(&db, &role).await;

    db.cleanup().await;
    for sql in [format!("DROP OWNED BY \"{role}\""), format!("DROP ROLE \"{role}\"")] {
        if let Err(e) = admin.execute_unprepared(&sql).await {
            eprintln!("warning: {sql}: {e}");
        }
    }
    result.expect("role checks");
}

async fn exercise(db: &TestDb, role: &str) -> Result<(), String> {
    let app_conn = db.connect_as(Some(role)).await;
    let user: String = app_conn
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT current_user::text"))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("no row")?
        .try_get_by_index(0)
        .map_err(|e| e.to_string())?;
    assert_eq!(user, role, "connected as the application role");
    let app = Arc::new(SqlStore::new(app_conn.clone()).map_err(|e| e.to_string())?);

    // Appends (new chains too) and reads work; 70 events complete a Merkle subtree of 64, which
    // the append stores in audit_merkle_nodes.
    for chain in ["default", "tenant-new"] {
        let auditor = Auditor::builder(app.clone()).chain(chain).build();
        for i in 0..70 {
            let draft = EventDraft::new("update").actor(Actor::user("alice")).resource("users", i.to_string());
            auditor.record(draft).await.map_err(|e| e.to_string())?;
        }
        auditor.shutdown().await;
        assert_eq!(app.head(chain).await.map_err(|e| e.to_string())?.seq, 70);
        let stored = app.merkle_nodes(chain, &[(6, 0)]).await.map_err(|e| e.to_string())?;
        assert!(stored.is_some(), "the subtree of the first 64 events was stored by the application role");
        let lines = read_all(app.as_ref(), chain).await;
        assert!(verify_lines(&lines).is_valid());
        assert!(app.verify_chain(chain).await.map_err(|e| e.to_string())?.is_valid());
    }

    // Everything else is refused.
    let denied = "permission denied";
    refused(&app_conn, "UPDATE audit_events SET actor_id = 'mallory'", denied).await;
    refused(&app_conn, "DELETE FROM audit_events", denied).await;
    refused(&app_conn, "TRUNCATE audit_events", denied).await;
    refused(&app_conn, "DELETE FROM audit_chain_heads", denied).await;
    refused(&app_conn, "TRUNCATE audit_chain_heads", denied).await;
    refused(&app_conn, "UPDATE audit_chain_heads SET chain = 'other'", denied).await;
    refused(&app_conn, "UPDATE audit_merkle_nodes SET hash = 'x'", denied).await;
    refused(&app_conn, "DELETE FROM audit_merkle_nodes", denied).await;
    refused(&app_conn, "ALTER TABLE audit_events DISABLE TRIGGER USER", "must be owner").await;
    refused(&app_conn, "DROP TABLE audit_events", "must be owner").await;
    refused(&app_conn, "CREATE TABLE audit_events_copy (x int)", denied).await;
    // The role may update a head's seq and hash (to append), but only forward.
    refused(&app_conn, "UPDATE audit_chain_heads SET seq = 1 WHERE chain = 'default'", "may only move forward").await;
    assert!(app.migrate().await.is_err(), "the application role cannot migrate");

    let lines = read_all(app.as_ref(), "default").await;
    assert_eq!(lines.len(), 70, "nothing was changed");
    Ok(())
}
