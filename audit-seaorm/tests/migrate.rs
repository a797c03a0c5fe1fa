//! `SqlStore::migrate` is idempotent (run twice, and by two processes at once) and puts back a
//! missing trigger; PostgreSQL monthly partitions are created ahead, protected like the table,
//! and hold the events.

mod common;

use audit_core::{Auditor, EventDraft};
use audit_seaorm::{SqlStore, SqlStoreError};
use chrono::Datelike;
use common::{Backend, TestDb, read_all, verify_lines};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use std::sync::Arc;

async fn count(conn: &DatabaseConnection, backend: DbBackend, sql: &str) -> i64 {
    let row = conn.query_one_raw(Statement::from_string(backend, sql)).await.expect(sql).expect("a row");
    row.try_get_by_index(0).expect("a count")
}

/// (triggers, indexes) on the audit tables.
async fn schema_objects(db: &TestDb, conn: &DatabaseConnection) -> (i64, i64) {
    match db.backend {
        Backend::Postgres => (
            count(
                conn,
                DbBackend::Postgres,
                "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
                 WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace",
            )
            .await,
            count(
                conn,
                DbBackend::Postgres,
                "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema()",
            )
            .await,
        ),
        Backend::Sqlite => (
            count(conn, DbBackend::Sqlite, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'").await,
            count(conn, DbBackend::Sqlite, "SELECT count(*) FROM sqlite_master WHERE type = 'index'").await,
        ),
        Backend::MySql => (
            count(conn, DbBackend::MySql, "SELECT count(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()")
                .await,
            count(
                conn,
                DbBackend::MySql,
                "SELECT count(DISTINCT TABLE_NAME, INDEX_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE()",
            )
            .await,
        ),
    }
}

async fn migrate_is_idempotent(db: &TestDb) {
    let store = Arc::new(db.store().await);
    store.migrate().await.expect("first migrate");
    let conn = db.connect().await;
    let objects = schema_objects(db, &conn).await;
    let expected = match db.backend {
        // triggers: events update/delete + truncate, heads update/delete + truncate;
        // indexes: 3 primary keys (events, heads, Merkle nodes) + unique id + actor + resource
        // + privileged + failed
        Backend::Postgres => (4, 8),
        // triggers: events update, delete, replace; heads forward, same row, delete, replace;
        // indexes: 3 primary-key autoindexes + id + actor + resource + privileged + failed
        Backend::Sqlite => (7, 8),
        // triggers: events update, delete; heads forward, not null, delete;
        // indexes: 3 primary keys + id + actor + resource + privileged + failed
        Backend::MySql => (5, 8),
    };
    assert_eq!(objects, expected, "(triggers, indexes) after the first migrate");

    let auditor = Auditor::builder(store.clone()).build();
    auditor.record(EventDraft::new("login")).await.expect("record");
    auditor.shutdown().await;

    store.migrate().await.expect("second migrate");
    assert_eq!(schema_objects(db, &conn).await, expected, "nothing duplicated");
    // Two processes starting at once.
    let (a, b) = (db.store().await, db.store().await);
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.expect("concurrent migrate a");
    rb.expect("concurrent migrate b");
    assert_eq!(schema_objects(db, &conn).await, expected);

    // A trigger dropped by someone is put back.
    let drop = match db.backend {
        Backend::Postgres => "DROP TRIGGER audit_events_no_change ON audit_events",
        Backend::MySql | Backend::Sqlite => "DROP TRIGGER audit_events_no_delete",
    };
    conn.execute_unprepared(drop).await.expect("drop a trigger");
    assert!(schema_objects(db, &conn).await.0 < expected.0);
    store.migrate().await.expect("third migrate");
    assert_eq!(schema_objects(db, &conn).await, expected, "missing triggers are created again");

    // The event is still there and the chain continues.
    let auditor = Auditor::builder(store.clone()).build();
    assert_eq!(auditor.record(EventDraft::new("logout")).await.expect("record").seq, 2);
    auditor.shutdown().await;
    assert!(store.verify_chain("default").await.expect("verify").is_valid());
}
on_all_backends!(migrate_is_idempotent);

/// A table of the same name that is not ours is reported, not silently used.
async fn foreign_table_is_reported(db: &TestDb) {
    let conn = db.connect().await;
    conn.execute_unprepared("CREATE TABLE audit_events (x INTEGER)").await.expect("create");
    let store = SqlStore::new(conn.clone()).expect("store");
    match store.migrate().await {
        Err(SqlStoreError::Schema(message)) => assert!(message.contains("table audit_events"), "{message}"),
        other => panic!("expected a schema error, got {other:?}"),
    }
    assert_eq!(schema_objects(db, &conn).await.0, 0, "no trigger was added to the foreign table");
}
on_all_backends!(foreign_table_is_reported);

fn month_name(offset: u32) -> String {
    let now = chrono::Utc::now();
    let months = now.year() * 12 + now.month0() as i32 + offset as i32;
    format!("audit_events_y{:04}m{:02}", months / 12, months % 12 + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_monthly_partitions() {
    let Some(db) = TestDb::open(Backend::Postgres, "partitions").await else { return };
    let store = Arc::new(db.store().await.with_monthly_partitions(2));
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrate again");
    let conn = db.connect().await;
    let partitions = |conn: DatabaseConnection| async move {
        let rows = conn
            .query_all_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
                 WHERE i.inhparent = to_regclass('audit_events') ORDER BY 1",
            ))
            .await
            .expect("partitions");
        rows.iter().map(|r| r.try_get_by_index::<String>(0).expect("name")).collect::<Vec<_>>()
    };
    let expected = vec![month_name(0), month_name(1), month_name(2), "audit_events_default".to_string()];
    let mut sorted = expected.clone();
    sorted.sort();
    assert_eq!(partitions(conn.clone()).await, sorted);
    store.ensure_partitions(4).await.expect("more partitions");
    assert_eq!(partitions(conn.clone()).await.len(), 6);

    // Events go to this month's partition; the chain verifies.
    let auditor = Auditor::builder(store.clone()).build();
    for i in 0..20 {
        auditor.record(EventDraft::new("update").resource("users", i.to_string())).await.expect("record");
    }
    auditor.shutdown().await;
    let this_month = count(&conn, DbBackend::Postgres, &format!("SELECT count(*) FROM {}", month_name(0))).await;
    assert_eq!(this_month, 20);
    let lines = read_all(store.as_ref(), "default").await;
    assert_eq!(lines.len(), 20);
    assert!(verify_lines(&lines).is_valid());
    assert!(store.verify_chain("default").await.expect("verify").is_valid());

    // The partitions are append-only too.
    for sql in [
        format!("UPDATE {} SET actor_id = 'mallory'", month_name(0)),
        format!("DELETE FROM {}", month_name(0)),
        format!("TRUNCATE {}", month_name(0)),
        "TRUNCATE audit_events_default".to_string(),
        "TRUNCATE audit_events".to_string(),
        "UPDATE audit_events SET actor_id = 'mallory'".to_string(),
    ] {
        let error = conn.execute_unprepared(&sql).await.expect_err(&sql);
        assert!(error.to_string().contains("append-only"), "{sql}: {error}");
    }

    // Partitioning cannot be switched on for an existing plain table.
    let Some(plain) = TestDb::open(Backend::Postgres, "partitions_plain").await else { return };
    plain.migrated_store().await;
    let late = plain.store().await.with_monthly_partitions(2);
    match late.migrate().await {
        Err(SqlStoreError::Schema(message)) => assert!(message.contains("already exists unpartitioned"), "{message}"),
        other => panic!("expected a schema error, got {other:?}"),
    }
    plain.cleanup().await;
    db.cleanup().await;
}

/// A store made by an earlier version had one `audit_events_notable` index (on MySQL, with a
/// generated column `notable`): `migrate` replaces it with the two report indexes.
async fn migrate_replaces_the_earlier_notable_index(db: &TestDb) {
    let store = db.migrated_store().await;
    let conn = db.connect().await;
    let earlier = match db.backend {
        Backend::Postgres | Backend::Sqlite => vec![
            "DROP INDEX audit_events_privileged".to_string(),
            "DROP INDEX audit_events_failed".to_string(),
            "CREATE INDEX audit_events_notable ON audit_events (ts) WHERE (outcome <> 'success' OR actor_kind IN \
             ('admin', 'system') OR tags IS NOT NULL)"
                .to_string(),
        ],
        Backend::MySql => vec![
            "ALTER TABLE audit_events DROP KEY audit_events_privileged, DROP KEY audit_events_failed, DROP COLUMN \
             privileged, DROP COLUMN failed, ADD COLUMN notable TINYINT AS (outcome <> 'success' OR actor_kind IN \
             ('admin', 'system') OR tags IS NOT NULL) VIRTUAL, ADD KEY audit_events_notable (notable, ts)"
                .to_string(),
        ],
    };
    for sql in earlier {
        conn.execute_unprepared(&sql).await.expect("make the earlier schema");
    }
    let before = schema_objects(db, &conn).await;
    store.migrate().await.expect("migrate an earlier store");
    let after = schema_objects(db, &conn).await;
    assert_eq!(after.1, before.1 + 1, "two report indexes in place of one");
    let index_names = match db.backend {
        Backend::Postgres => {
            "SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() AND indexname IN \
                              ('audit_events_privileged', 'audit_events_failed')"
        }
        Backend::Sqlite => {
            "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN \
                            ('audit_events_privileged', 'audit_events_failed')"
        }
        Backend::MySql => {
            "SELECT count(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = \
                           DATABASE() AND INDEX_NAME IN ('audit_events_privileged', 'audit_events_failed')"
        }
    };
    assert_eq!(count(&conn, conn.get_database_backend(), index_names).await, 2);
    store.migrate().await.expect("and again");
    assert_eq!(schema_objects(db, &conn).await, after, "nothing more the second time");
}
on_all_backends!(migrate_replaces_the_earlier_notable_index);

/// A SQLite database migrated by an earlier version has the triggers that refused replacing
/// inserts by key and id only: `migrate` puts the ones that refuse a replace by rowid too in
/// their place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_an_earlier_versions_replace_triggers_are_upgraded() {
    let Some(db) = TestDb::open(Backend::Sqlite, "earlier_replace_triggers").await else { return };
    let store = Arc::new(db.store().await);
    store.migrate().await.expect("migrate");
    let conn = db.connect().await;
    // The earlier version's triggers, as it created them.
    for sql in [
        "DROP TRIGGER audit_events_no_replacing_insert",
        "DROP TRIGGER audit_chain_heads_no_replacing_insert",
        "CREATE TRIGGER audit_events_no_replace BEFORE INSERT ON audit_events WHEN EXISTS (SELECT 1 FROM audit_events \
         WHERE chain = NEW.chain AND seq = NEW.seq) OR EXISTS (SELECT 1 FROM audit_events WHERE id = NEW.id) \
         BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END",
        "CREATE TRIGGER audit_chain_heads_no_replace BEFORE INSERT ON audit_chain_heads WHEN EXISTS (SELECT 1 FROM \
         audit_chain_heads WHERE chain = NEW.chain) BEGIN SELECT RAISE(ABORT, 'may only move forward'); END",
    ] {
        conn.execute_unprepared(sql).await.expect(sql);
    }
    let auditor = Auditor::builder(store.clone()).build();
    for _ in 0..3 {
        auditor.record(EventDraft::new("update")).await.expect("record");
    }
    auditor.shutdown().await;

    store.migrate().await.expect("migrate the earlier version's database");
    let names = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE '%replac%' ORDER BY name",
        ))
        .await
        .expect("list the triggers");
    let names: Vec<String> = names.iter().map(|row| row.try_get_by_index(0).expect("a name")).collect();
    assert_eq!(names, ["audit_chain_heads_no_replacing_insert", "audit_events_no_replacing_insert"]);
    let by_rowid = "INSERT OR REPLACE INTO audit_events (rowid, chain, seq, id, ts, actor_id, actor_kind, action, \
                    resource_type, resource_id, outcome, request_id, tags, line) SELECT (SELECT rowid FROM \
                    audit_events WHERE seq = 2), chain, 99, 'forged-id', ts, actor_id, actor_kind, action, \
                    resource_type, resource_id, outcome, request_id, tags, line FROM audit_events WHERE seq = 1";
    let refused = conn.execute_unprepared(by_rowid).await.expect_err("a replace by rowid");
    assert!(refused.to_string().contains("append-only"), "{refused}");
    assert!(store.verify_chain("default").await.expect("verify").is_valid());
    db.cleanup().await;
}

/// `ensure_partitions` (a monthly job, maybe on several instances) takes the lock `migrate`
/// takes: run while another holds it, it waits for it instead of racing on `CREATE … IF NOT
/// EXISTS` (the loser failed with "already exists"). Seen in `pg_locks`, not timed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_ensure_partitions_waits_for_the_migration_lock() {
    use futures_util::FutureExt;
    let Some(db) = TestDb::open(Backend::Postgres, "partitions_lock").await else { return };
    let result = std::panic::AssertUnwindSafe(ensure_partitions_waits(&db)).catch_unwind().await;
    db.cleanup().await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

async fn ensure_partitions_waits(db: &TestDb) {
    use sea_orm::TransactionTrait;
    let store = Arc::new(db.store().await.with_monthly_partitions(1));
    store.migrate().await.expect("migrate");
    // Another process's migration, holding the lock.
    let conn = db.connect().await;
    let holder = conn.begin().await.expect("begin");
    holder
        .execute_unprepared("SELECT pg_advisory_xact_lock(hashtext('audit-trail migrate ' || current_schema()))")
        .await
        .expect("take the lock");
    let job = tokio::spawn({
        let store = store.clone();
        async move { store.ensure_partitions(6).await }
    });
    // Waiting for this schema's migration lock (its key's low 32 bits are the lock's objid).
    let waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted \
                   AND objid::bigint = (hashtext('audit-trail migrate ' || current_schema())::bigint & 4294967295)";
    // A guard against a hang, not a measure of speed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        assert!(!job.is_finished(), "ensure_partitions ran while a migration held the lock");
        if count(&conn, DbBackend::Postgres, waiting).await > 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "ensure_partitions neither ran nor waited");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    holder.commit().await.expect("release the lock");
    job.await.expect("the job").expect("partitions created once the lock is free");
}
