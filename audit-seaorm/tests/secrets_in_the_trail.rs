//! A secret the redaction policy (or an entity's `redact` list) names reaches neither the
//! trail nor an error message in clear: not through a raw statement's shape, a primary key,
//! the outbox, a misspelled `redact` entry, or a connection URL.
#![allow(unreachable_pub)] // the test entities' derived items

mod orm_common;

use audit_core::store::MemoryStore;
use audit_core::{Auditor, EventDraft, RedactionPolicy};
use audit_seaorm::orm::AuditedDb;
use orm_common::entities::users;
use orm_common::{Backend, Harness, TestDb, user, verified_events};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseConnection, Schema, Set};
use serde_json::json;
use std::sync::Arc;

/// A table keyed by a secret: a password-reset token (the default policy hides `token`).
mod reset_tokens {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "reset_tokens")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub token: String,
        pub user_id: i32,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

/// A table keyed by a column the entity itself redacts.
mod cards {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "cards")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub pan: String,
        pub holder: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel, redact = ["pan"]);
}

/// One card number in two columns: one hidden by the policy's key (`card_number`), one by
/// the entity's `redact` list (`card_copy`).
mod payments {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub card_number: String,
        pub card_copy: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel, redact = ["card_copy"]);
}

/// A column whose database name differs from its Rust field (`#[sea_orm(column_name)]`),
/// listed in `redact` by the field's name.
mod accounts {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[sea_orm(column_name = "taxpayerId")]
        pub taxpayer_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel, redact = ["taxpayer_id"]);
}

/// A column only the application's own auditor policy names (`with_key("iban")`).
mod bank_accounts {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bank_accounts")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub iban: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

/// A `redact` entry that names no column (a typo).
mod misspelled {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "misspelled")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub social: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel, redact = ["socail"]);
}

async fn create_tables(conn: &DatabaseConnection) {
    conn.execute(&Schema::new(conn.get_database_backend()).create_table_from_entity(misspelled::Entity))
        .await
        .expect("create misspelled");
    let schema = Schema::new(conn.get_database_backend());
    conn.execute(&schema.create_table_from_entity(bank_accounts::Entity)).await.expect("create bank_accounts");
    conn.execute(&schema.create_table_from_entity(accounts::Entity)).await.expect("create accounts");
    conn.execute(&schema.create_table_from_entity(reset_tokens::Entity)).await.expect("create reset_tokens");
    conn.execute(&schema.create_table_from_entity(cards::Entity)).await.expect("create cards");
    conn.execute(&schema.create_table_from_entity(payments::Entity)).await.expect("create payments");
}

async fn sqlite() -> TestDb {
    TestDb::open(Backend::Sqlite, "secrets_in_the_trail").await.expect("a SQLite file")
}

// `bulk` events record the statement "with values stripped" (orm/mod.rs). On MySQL/MariaDB
// (default sql_mode) and on SQLite (double-quoted strings, on in the bundled libsqlite3) `"…"`
// may be a string value: it is stripped too, except where only a name can stand.

const SECRET_SSN: &str = "078-05-1120";

async fn bulk_statement_strips_double_quoted_literals(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    user("a@x").insert(&h.db).await.expect("insert");
    // The server reads "078-05-1120" as a string value (there is no such column).
    h.db.execute_unprepared(&format!("UPDATE users SET ssn = \"{SECRET_SSN}\" WHERE email = 'a@x'"))
        .await
        .expect("raw update with a double-quoted string literal");
    let stored: Option<String> = {
        use sea_orm::EntityTrait;
        users::Entity::find().one(&h.conn).await.expect("read").and_then(|u| u.ssn)
    };
    assert_eq!(stored.as_deref(), Some(SECRET_SSN), "the server took \"…\" as a string value");
    let events = h.events();
    let bulk = events.last().expect("the bulk event");
    assert_eq!(bulk.action, "bulk");
    let line = h.store.events("default").last().map(|e| e.line.clone()).unwrap_or_default();
    assert!(
        !line.contains(SECRET_SSN),
        "the bulk event's statement keeps a string value in clear (values are said to be stripped): {:?}",
        bulk.details.get("statement")
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_statement_strips_double_quoted_literals_sqlite() {
    bulk_statement_strips_double_quoted_literals(sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_statement_strips_double_quoted_literals_mysql() {
    if let Some(db) = TestDb::open(Backend::MySql, "dq_literal").await {
        bulk_statement_strips_double_quoted_literals(db).await;
    }
}

// Strict mode's refusal quotes the same shape (applications log such errors).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_refusal_does_not_echo_double_quoted_literals_sqlite() {
    let h = Harness::with(sqlite().await, |b| b.strict()).await;
    let error =
        h.db.execute_unprepared(&format!("UPDATE users SET ssn = \"{SECRET_SSN}\" WHERE id = 1"))
            .await
            .expect_err("strict mode refuses a raw write");
    assert!(error.to_string().contains("strict mode"), "{error}");
    assert!(!error.to_string().contains(SECRET_SSN), "the refusal echoes the value in clear: {error}");
    h.finish().await;
}

// A primary key that is itself a secret: hidden in `resource.id` (an indexed column of the SQL
// store) as its change is, for creates, updates and deletes.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_key_named_by_the_policy_is_not_recorded_in_clear() {
    let h = Harness::new(sqlite().await).await;
    create_tables(&h.conn).await;
    let token = "reset-3f9c2b7e4d1a";
    reset_tokens::ActiveModel { token: Set(token.into()), user_id: Set(1) }.insert(&h.db).await.expect("insert");
    let events = h.events();
    let created = events.last().expect("the create event");
    assert_eq!(created.resource.kind, "reset_tokens");
    let hidden = created.changes.iter().find(|c| c.field == "token").and_then(|c| c.new.clone());
    assert_eq!(hidden, Some(json!("[REDACTED]")), "the column itself is hidden");
    let line = h.store.events("default").last().map(|e| e.line.clone()).unwrap_or_default();
    assert!(
        !line.contains(token),
        "the `token` column is hidden in changes but recorded in clear as resource.id {:?}",
        created.resource.id
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_primary_key_the_entity_redacts_is_not_recorded_in_clear() {
    let h = Harness::new(sqlite().await).await;
    create_tables(&h.conn).await;
    let pan = "4111111111111111";
    let card =
        cards::ActiveModel { pan: Set(pan.into()), holder: Set("alice".into()) }.insert(&h.db).await.expect("insert");
    let mut change: cards::ActiveModel = card.into();
    change.holder = Set("bob".into());
    let card = change.update(&h.db).await.expect("update");
    cards::ActiveModel::from(card).delete(&h.db).await.expect("delete");
    let lines: Vec<String> = h.store.events("default").into_iter().map(|e| e.line).collect();
    let events = h.events();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.resource.id == "[REDACTED]"), "{events:?}");
    assert!(
        !lines.iter().any(|line| line.contains(pan)),
        "redact = [\"pan\"] hides the column, yet the card number is in the trail as resource.id: {:?}",
        events.iter().map(|e| e.resource.id.clone()).collect::<Vec<_>>()
    );
    h.finish().await;
}

// Tokens (redact.rs: "equal inputs give equal tokens"): one card number gets one token in a
// column the policy names, a column the entity redacts, a secret used as a key, and a
// handler's detail. The connection hides an ORM event's values before the outbox, and the
// auditor, with the same policy, does not hide them again (it once MACed the token).
async fn one_card_number_gets_one_token_everywhere(delivery: &str) {
    let testdb = sqlite().await;
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    let policy = RedactionPolicy::default().with_key("pan").tokenize(b"hmac-key".to_vec());
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).redaction(policy.clone()).build();
    let db = match delivery {
        "outbox" => AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build(),
        _ => AuditedDb::direct(conn.clone(), auditor.clone()),
    };
    db.migrate_outbox().await.expect("migrate the outbox");

    let card = "4111111111111111";
    payments::ActiveModel { card_number: Set(card.into()), card_copy: Set(card.into()), ..Default::default() }
        .insert(&db)
        .await
        .expect("insert");
    cards::ActiveModel { pan: Set(card.into()), holder: Set("alice".into()) }.insert(&db).await.expect("insert");
    auditor.record(EventDraft::new("charge").detail("card_number", json!(card))).await.expect("record");

    let events = verified_events(&store);
    let new_of =
        |event: usize, field: &str| events[event].changes.iter().find(|c| c.field == field).and_then(|c| c.new.clone());
    let expected = policy.hide(&json!(card));
    assert_eq!(new_of(0, "card_number").as_ref(), Some(&expected), "a column the policy names");
    assert_eq!(new_of(0, "card_copy").as_ref(), Some(&expected), "a column the entity redacts");
    assert_eq!(new_of(1, "pan").as_ref(), Some(&expected), "a key column");
    assert_eq!(events[1].resource.id, expected.as_str().unwrap_or_default(), "the key as the resource id");
    assert_eq!(events[2].details.get("card_number"), Some(&expected), "a handler's detail");
    auditor.shutdown().await;
    testdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_card_number_gets_one_token_everywhere_through_the_outbox() {
    one_card_number_gets_one_token_everywhere("outbox").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_card_number_gets_one_token_everywhere_delivered_directly() {
    one_card_number_gets_one_token_everywhere("direct").await;
}

// Connection errors name the URL without its password, also one given as a query parameter
// (`?password=…`, which sqlx reads for PostgreSQL).

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_error_does_not_show_a_password_given_as_a_query_parameter() {
    // Any failure will do: a database that does not exist on the test server (or no server).
    let url = "postgres://postgres@127.0.0.1:5432/audit_review_no_such_database?password=hunter2-db-secret";
    let error = match audit_seaorm::SqlStore::connect(url).await {
        Ok(_) => panic!("connected to a database that does not exist"),
        Err(error) => error.to_string(),
    };
    assert!(!error.contains("hunter2-db-secret"), "the error message shows the password: {error}");
}

// A `redact` entry names a column as the table does or by the model's field name (for a
// column renamed with `column_name`); one that names no column refuses the write instead of
// leaving the value in clear.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redact_entry_naming_the_field_of_a_renamed_column_hides_it() {
    let h = Harness::new(sqlite().await).await;
    create_tables(&h.conn).await;
    let tin = "123-45-6789";
    accounts::ActiveModel { taxpayer_id: Set(tin.into()), ..Default::default() }.insert(&h.db).await.expect("insert");
    let lines: Vec<String> = h.store.events("default").into_iter().map(|e| e.line).collect();
    assert_eq!(lines.len(), 1);
    assert!(!lines[0].contains(tin), "redact = [\"taxpayer_id\"] left the value in clear: {lines:?}");
    let events = h.events();
    let hidden = events[0].changes.iter().find(|c| c.field == "taxpayerId").and_then(|c| c.new.clone());
    assert_eq!(hidden, Some(json!("[REDACTED]")));
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redact_entry_that_names_no_column_refuses_the_write() {
    use sea_orm::EntityTrait;
    let h = Harness::new(sqlite().await).await;
    create_tables(&h.conn).await;
    let error = misspelled::ActiveModel { social: Set("123-45-6789".into()), ..Default::default() }
        .insert(&h.db)
        .await
        .expect_err("a redact entry naming no column");
    let message = error.to_string();
    assert!(message.contains("\"socail\"") && message.contains("social"), "{message}");
    assert!(misspelled::Entity::find().all(&h.conn).await.expect("read").is_empty(), "nothing was written");
    assert!(h.store.events("default").is_empty());
    h.finish().await;
}

// The connection hides what the auditor hides by default, so the outbox (rows in the
// application's own database, kept after a crash until recovery) holds no secret the trail
// would not.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outbox_hides_what_the_auditor_hides_by_default() {
    use sea_orm::{Statement, TransactionTrait};
    let testdb = sqlite().await;
    let conn = testdb.connect().await;
    create_tables(&conn).await;
    let store = Arc::new(MemoryStore::new());
    let auditor = Auditor::builder(store.clone()).redaction(RedactionPolicy::default().with_key("iban")).build();
    let db = AuditedDb::builder(conn.clone(), auditor.clone(), store.clone()).build();
    db.migrate_outbox().await.expect("migrate the outbox");

    let iban = "DE89370400440532013000";
    db.simulate_crash(Some(audit_seaorm::orm::CrashPoint::AfterCommit));
    let txn = db.begin().await.expect("begin");
    bank_accounts::ActiveModel { iban: Set(iban.into()), ..Default::default() }.insert(&txn).await.expect("insert");
    assert!(txn.commit().await.is_err(), "the simulated crash is reported");
    let rows = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), "SELECT payload FROM audit_seaorm_outbox"))
        .await
        .expect("read the outbox");
    let payloads: Vec<String> = rows.iter().map(|r| r.try_get::<String>("", "payload").expect("payload")).collect();
    assert_eq!(payloads.len(), 1, "the committed event waits in the outbox");
    assert!(!payloads[0].contains(iban), "the outbox row holds the IBAN the auditor's policy hides: {}", payloads[0]);
    db.simulate_crash(None);
    auditor.shutdown().await;
    testdb.cleanup().await;
}
