//! A committed change never goes without its event because the event is too large or
//! otherwise refused by the auditor:
//! - a value over `MAX_VALUE_BYTES` is recorded by its size and digest, so large rows work;
//! - inside a transaction, an event the auditor would refuse is found before `COMMIT`: the
//!   transaction is rolled back and `commit()` says why (outbox and direct delivery);
//! - an outbox row that cannot be sealed (written under other limits, or not an event) is left
//!   in place and reported, and the rows after it are recovered all the same.

mod orm_common;

use audit_core::Auditor;
use audit_seaorm::orm::{AuditedDb, CrashPoint, MAX_VALUE_BYTES};
use orm_common::{Backend, Harness, TestDb, change, verified_events};
use sea_orm::entity::prelude::*;
use sea_orm::{DbBackend, Set, Statement, TransactionTrait};
use serde_json::json;
use sha2::{Digest, Sha256};

/// A table with one long text column (`LONGTEXT` on MySQL, where `TEXT` stops at 64 KiB).
#[allow(unreachable_pub)] // the derives make public items
mod documents {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "documents")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

async fn create_documents(conn: &impl ConnectionTrait) {
    let body = if conn.get_database_backend() == DbBackend::MySql { "LONGTEXT" } else { "TEXT" };
    let sql = format!("CREATE TABLE documents (id INTEGER NOT NULL PRIMARY KEY, body {body} NOT NULL)");
    conn.execute_unprepared(&sql).await.expect("create documents");
}

fn document(id: i32, body: String) -> documents::ActiveModel {
    documents::ActiveModel { id: Set(id), body: Set(body) }
}

async fn documents_count(conn: &impl ConnectionTrait) -> u64 {
    documents::Entity::find().count(conn).await.expect("count documents")
}

async fn outbox_ids(conn: &impl ConnectionTrait) -> Vec<String> {
    let backend = conn.get_database_backend();
    let rows = conn
        .query_all_raw(Statement::from_string(backend, "SELECT id FROM audit_seaorm_outbox ORDER BY id"))
        .await
        .expect("read the outbox");
    rows.iter().map(|row| row.try_get::<String>("", "id").expect("id")).collect()
}

async fn a_large_value_is_recorded_by_its_size_and_digest(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    create_documents(&h.conn).await;
    let body = "x".repeat(100_000);
    assert!(body.len() > MAX_VALUE_BYTES);
    let marker = format!("[TOO LARGE: 100002 bytes, sha256:{:x}]", Sha256::digest(body.as_bytes()));

    let txn = h.db.begin().await.expect("begin");
    document(1, body.clone()).insert(&txn).await.expect("insert");
    txn.commit().await.expect("a large row commits");
    // The same value on the autocommit connection, and an update back to a short one.
    document(2, body).insert(&h.db).await.expect("insert");
    let short = documents::ActiveModel { id: sea_orm::ActiveValue::Unchanged(1), body: Set("short".into()) };
    short.update(&h.db).await.expect("update");

    let events = h.events();
    assert_eq!(events.len(), 3, "{events:#?}");
    assert_eq!(change(&events[0], "body"), Some((None, Some(json!(marker)))));
    assert_eq!(change(&events[1], "body"), Some((None, Some(json!(marker)))));
    assert_eq!(
        change(&events[2], "body"),
        Some((Some(json!(marker)), Some(json!("short")))),
        "the old value read back"
    );
    // A value at the limit is kept whole.
    let at_limit = "y".repeat(MAX_VALUE_BYTES - 2);
    document(3, at_limit.clone()).insert(&h.db).await.expect("insert");
    assert_eq!(change(&h.events()[3], "body"), Some((None, Some(json!(at_limit)))));
    assert_eq!(documents_count(&h.conn).await, 3);
    h.finish().await;
}
on_all_backends!(a_large_value_is_recorded_by_its_size_and_digest);

/// An auditor that refuses events over 10,000 bytes, and a body (under `MAX_VALUE_BYTES`)
/// whose event is larger.
fn small_limit_auditor(h: &Harness) -> Auditor {
    Auditor::builder(h.store.clone()).max_event_bytes(10_000).build()
}

async fn refused_event_rolls_the_transaction_back(testdb: TestDb, direct: bool) {
    let h = Harness::new(testdb).await;
    create_documents(&h.conn).await;
    let auditor = small_limit_auditor(&h);
    let builder = AuditedDb::builder(h.conn.clone(), auditor.clone(), h.store.clone());
    let db = if direct { builder.direct().build() } else { builder.build() };

    let txn = db.begin().await.expect("begin");
    document(1, "small".into()).insert(&txn).await.expect("insert");
    document(2, "z".repeat(20_000)).insert(&txn).await.expect("insert");
    let refused = txn.commit().await.expect_err("the second event is over the auditor's limit");
    let message = refused.to_string();
    assert!(message.contains("rolled back, nothing was committed") && message.contains("over the limit"), "{message}");
    assert_eq!(documents_count(&h.conn).await, 0, "neither row is committed");
    assert!(outbox_ids(&h.conn).await.is_empty(), "no outbox row");

    // The connection goes on: the next transaction commits and is recorded.
    let txn = db.begin().await.expect("begin");
    document(3, "next".into()).insert(&txn).await.expect("insert");
    txn.commit().await.expect("commit");
    auditor.shutdown().await;
    let events = verified_events(&h.store);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].resource.id, "3");
    assert_eq!(documents_count(&h.conn).await, 1);
    h.finish().await;
}

async fn an_event_the_auditor_refuses_rolls_back_its_outbox_transaction(testdb: TestDb) {
    refused_event_rolls_the_transaction_back(testdb, false).await;
}
on_all_backends!(an_event_the_auditor_refuses_rolls_back_its_outbox_transaction);

async fn an_event_the_auditor_refuses_rolls_back_its_direct_transaction(testdb: TestDb) {
    refused_event_rolls_the_transaction_back(testdb, true).await;
}
on_all_backends!(an_event_the_auditor_refuses_rolls_back_its_direct_transaction);

async fn unsealable_outbox_rows_are_reported_and_the_rest_recovered(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    create_documents(&h.conn).await;
    let backend = h.conn.get_database_backend();

    // A row that is not an event (its id sorts first), ...
    let garbage = "00000000-0000-0000-0000-000000000000";
    h.conn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                DbBackend::Postgres => {
                    "INSERT INTO audit_seaorm_outbox (id, ts_us, payload) VALUES ($1, 0, 'not json')"
                }
                _ => "INSERT INTO audit_seaorm_outbox (id, ts_us, payload) VALUES (?, 0, 'not json')",
            },
            [garbage.into()],
        ))
        .await
        .expect("insert a garbage row");
    // ... then a crash after COMMIT leaves a large event (fine for this auditor) and a small one.
    h.db.simulate_crash(Some(CrashPoint::AfterCommit));
    let txn = h.db.begin().await.expect("begin");
    document(1, "z".repeat(20_000)).insert(&txn).await.expect("insert");
    document(2, "small".into()).insert(&txn).await.expect("insert");
    txn.commit().await.expect_err("simulated crash");
    let left = outbox_ids(&h.conn).await;
    assert_eq!(left.len(), 3);

    // Restart with an auditor whose limit refuses the large event.
    h.auditor.shutdown().await;
    let auditor = small_limit_auditor(&h);
    let db = AuditedDb::builder(h.conn.clone(), auditor.clone(), h.store.clone()).build();
    let recovery = db.recover_outbox().await.expect("recovery goes past the rows it cannot seal");
    assert_eq!(recovery.sealed, 1, "{recovery:#?}");
    assert_eq!(recovery.already_sealed, 0);
    let unsealable: Vec<&str> = recovery.unsealable.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(unsealable, [garbage, left[1].as_str()], "{recovery:#?}");
    assert!(recovery.unsealable[0].reason.contains("not an event"), "{recovery:#?}");
    assert!(recovery.unsealable[1].reason.contains("over the limit"), "{recovery:#?}");
    assert_eq!(outbox_ids(&h.conn).await, [garbage, left[1].as_str()], "left in place");

    // Every later recovery reports them again, and seals nothing twice.
    let again = db.recover_outbox().await.expect("recover again");
    assert_eq!((again.sealed, again.already_sealed, again.unsealable), (0, 0, recovery.unsealable));
    auditor.shutdown().await;
    let events = verified_events(&h.store);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].resource.id, "2");
    h.testdb.cleanup().await;
}
on_all_backends!(unsealable_outbox_rows_are_reported_and_the_rest_recovered);

/// On the autocommit connection the write has happened when its event is built: an event the
/// auditor refuses cannot be undone, and the call says so (a documented limit).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autocommit_write_whose_event_is_refused_returns_the_error() {
    let Some(testdb) = TestDb::open(Backend::Sqlite, "autocommit_refused_event").await else { return };
    let h = Harness::new(testdb).await;
    create_documents(&h.conn).await;
    let auditor = small_limit_auditor(&h);
    let db = AuditedDb::builder(h.conn.clone(), auditor.clone(), h.store.clone()).build();
    let refused = document(1, "z".repeat(20_000)).insert(&db).await.expect_err("the event is over the limit");
    assert!(refused.to_string().contains("over the limit"), "{refused}");
    assert_eq!(documents_count(&h.conn).await, 1, "the row is written");
    auditor.shutdown().await;
    assert!(verified_events(&h.store).is_empty());
    h.finish().await;
}
