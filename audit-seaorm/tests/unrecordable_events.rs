//! A committed change never goes without its event because the event is too large or
//! otherwise refused by the auditor:
//! - a value over `MAX_VALUE_BYTES`, and the largest values of a row too large for one event,
//!   are recorded by their size and digest, so large rows work;
//! - inside a transaction, an event the auditor would refuse is found before `COMMIT` (and a
//!   shut-down auditor): the transaction is rolled back and `commit()` says why (outbox and
//!   direct delivery);
//! - an outbox row that cannot be sealed (written under other limits, or not an event) is left
//!   in place and reported, and the rows after it are recovered all the same.

mod orm_common;

use audit_core::{Actor, Auditor, MAX_INDEXED_FIELD_BYTES, scope};
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

/// A row of 17 text columns (`LONGTEXT` on MySQL).
#[allow(unreachable_pub)] // the derives make public items
mod wide {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "wide")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub c00: String,
        pub c01: String,
        pub c02: String,
        pub c03: String,
        pub c04: String,
        pub c05: String,
        pub c06: String,
        pub c07: String,
        pub c08: String,
        pub c09: String,
        pub c10: String,
        pub c11: String,
        pub c12: String,
        pub c13: String,
        pub c14: String,
        pub c15: String,
        pub c16: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

async fn create_wide(conn: &impl ConnectionTrait) {
    let text = if conn.get_database_backend() == DbBackend::MySql { "LONGTEXT" } else { "TEXT" };
    let columns: Vec<String> = (0..17).map(|n| format!("c{n:02} {text} NOT NULL")).collect();
    let sql = format!("CREATE TABLE wide (id INTEGER NOT NULL PRIMARY KEY, {})", columns.join(", "));
    conn.execute_unprepared(&sql).await.expect("create wide");
}

/// Column `c{n}` holds `MAX_VALUE_BYTES - 100 - n` letters: each under the limit, the row
/// over 1 MiB.
fn wide_row(id: i32) -> (wide::ActiveModel, Vec<String>) {
    let values: Vec<String> = (0..17).map(|n| "w".repeat(MAX_VALUE_BYTES - 100 - n)).collect();
    let v = |n: usize| Set(values[n].clone());
    let row = wide::ActiveModel {
        id: Set(id),
        c00: v(0),
        c01: v(1),
        c02: v(2),
        c03: v(3),
        c04: v(4),
        c05: v(5),
        c06: v(6),
        c07: v(7),
        c08: v(8),
        c09: v(9),
        c10: v(10),
        c11: v(11),
        c12: v(12),
        c13: v(13),
        c14: v(14),
        c15: v(15),
        c16: v(16),
    };
    (row, values)
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

/// An auditor that refuses events over 10,000 bytes (for outbox rows written under the
/// default limit).
fn small_limit_auditor(h: &Harness) -> Auditor {
    Auditor::builder(h.store.clone()).max_event_bytes(10_000).build()
}

/// An actor whose id is over the limit of indexed fields: an app that names the actor from
/// unchecked input. No value can be shortened to make room for it.
fn overlong_actor() -> Actor {
    Actor::user("u".repeat(MAX_INDEXED_FIELD_BYTES + 1))
}

async fn refused_event_rolls_the_transaction_back(testdb: TestDb, direct: bool) {
    let h = if direct { Harness::with(testdb, |b| b.direct()).await } else { Harness::new(testdb).await };
    create_documents(&h.conn).await;

    let txn = h.db.begin().await.expect("begin");
    document(1, "small".into()).insert(&txn).await.expect("insert");
    scope::with_actor(overlong_actor(), document(2, "by the long actor".into()).insert(&txn)).await.expect("insert");
    let refused = txn.commit().await.expect_err("the second event's actor id is over the limit");
    let message = refused.to_string();
    assert!(
        message.contains("rolled back, nothing was committed") && message.contains("create of documents 2"),
        "{message}"
    );
    assert!(message.contains("actor.id is 1025 bytes"), "{message}");
    assert_eq!(documents_count(&h.conn).await, 0, "neither row is committed");
    if !direct {
        assert!(outbox_ids(&h.conn).await.is_empty(), "no outbox row");
    }

    // The connection goes on: the next transaction commits and is recorded.
    let txn = h.db.begin().await.expect("begin");
    document(3, "next".into()).insert(&txn).await.expect("insert");
    txn.commit().await.expect("commit");
    let events = h.events();
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
    let refused = scope::with_actor(overlong_actor(), document(1, "x".into()).insert(&h.db))
        .await
        .expect_err("the event's actor id is over the limit");
    assert!(refused.to_string().contains("actor.id is 1025 bytes"), "{refused}");
    assert_eq!(documents_count(&h.conn).await, 1, "the row is written");
    assert!(h.events().is_empty());
    h.finish().await;
}

async fn a_row_too_large_for_one_event_is_recorded_with_its_largest_values_shortened(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    create_wide(&h.conn).await;
    let (row, values) = wide_row(1);
    let txn = h.db.begin().await.expect("begin");
    row.insert(&txn).await.expect("insert");
    txn.commit().await.expect("a row of 1.1 MB commits");
    let (row, _) = wide_row(2);
    row.insert(&h.db).await.expect("and on the autocommit connection");
    let events = h.events();
    assert_eq!(events.len(), 2);
    for event in &events {
        // The two largest values (c00, c01) make room; the others are kept whole.
        for (n, value) in values.iter().enumerate() {
            let expected = if n < 2 {
                json!(format!("[TOO LARGE: {} bytes, sha256:{:x}]", value.len() + 2, Sha256::digest(value.as_bytes())))
            } else {
                json!(value)
            };
            assert_eq!(change(event, &format!("c{n:02}")), Some((None, Some(expected))), "c{n:02}");
        }
    }
    assert_eq!(wide::Entity::find().count(&h.conn).await.expect("count"), 2);
    h.finish().await;
}
on_all_backends!(a_row_too_large_for_one_event_is_recorded_with_its_largest_values_shortened);

async fn shut_down_auditor_rolls_the_transaction_back(testdb: TestDb, direct: bool) {
    let h = Harness::new(testdb).await;
    create_documents(&h.conn).await;
    let auditor = Auditor::builder(h.store.clone()).build();
    let builder = AuditedDb::builder(h.conn.clone(), auditor.clone(), h.store.clone());
    let db = if direct { builder.direct().build() } else { builder.build() };
    auditor.shutdown().await;
    assert!(auditor.is_closed());
    let txn = db.begin().await.expect("begin");
    document(1, "late".into()).insert(&txn).await.expect("insert");
    let refused = txn.commit().await.expect_err("no auditor to record the change");
    assert!(refused.to_string().contains("rolled back, nothing was committed: the auditor is shut down"), "{refused}");
    assert_eq!(documents_count(&h.conn).await, 0);
    assert!(outbox_ids(&h.conn).await.is_empty());
    assert!(h.events().is_empty());
    h.finish().await;
}

async fn a_shut_down_auditor_rolls_back_an_outbox_transaction(testdb: TestDb) {
    shut_down_auditor_rolls_the_transaction_back(testdb, false).await;
}
on_all_backends!(a_shut_down_auditor_rolls_back_an_outbox_transaction);

async fn a_shut_down_auditor_rolls_back_a_direct_transaction(testdb: TestDb) {
    shut_down_auditor_rolls_the_transaction_back(testdb, true).await;
}
on_all_backends!(a_shut_down_auditor_rolls_back_a_direct_transaction);
