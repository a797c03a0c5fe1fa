//! PostgreSQL and SQLite read an update's old row in the UPDATE itself, matched by the key as
//! bound. Where the column compares without case (a nondeterministic ICU collation or
//! `citext` on PostgreSQL, `COLLATE NOCASE` on SQLite), an update of the row keyed `"acme"`
//! through a model keyed `"ACME"` writes that row but is not matched to it: the crate docs
//! (`orm`, Limits) promise two events and nothing lost — the `bulk` stand-in under the
//! model's spelling with the old values, and an `update` under the stored spelling with the
//! new values and `old_unknown`. (MySQL reads the old row first: `mysql_case_insensitive_keys.rs`.)

mod orm_common;

use orm_common::entities::memberships;
use orm_common::{Backend, Harness, TestDb, change};
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set, TransactionTrait};
use serde_json::json;

fn membership(org: &str, role: &str) -> memberships::ActiveModel {
    memberships::ActiveModel { user_id: Set(1), org: Set(org.into()), role: Set(role.into()) }
}

/// Recreates `memberships` with an `org` key that compares without case.
async fn case_insensitive_memberships(h: &Harness, backend: Backend) {
    let sql: &[&str] = match backend {
        Backend::Postgres => &[
            "DROP TABLE memberships",
            "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)",
            "CREATE TABLE memberships (user_id INTEGER NOT NULL, org TEXT COLLATE ci NOT NULL, \
             role TEXT NOT NULL, PRIMARY KEY (user_id, org))",
        ],
        _ => &[
            "DROP TABLE memberships",
            "CREATE TABLE memberships (user_id INTEGER NOT NULL, org TEXT COLLATE NOCASE NOT NULL, \
             role TEXT NOT NULL, PRIMARY KEY (user_id, org))",
        ],
    };
    for statement in sql {
        h.conn.execute_unprepared(statement).await.expect(statement);
    }
}

async fn an_update_by_another_spelling_of_the_key_loses_nothing(backend: Backend) {
    let Some(testdb) = TestDb::open(backend, "case_insensitive_keys").await else { return };
    let h = Harness::new(testdb).await;
    case_insensitive_memberships(&h, backend).await;
    membership("acme", "member").insert(&h.db).await.expect("insert");

    let txn = h.db.begin().await.expect("begin");
    let updated = membership("ACME", "admin").update(&txn).await.expect("update by ACME");
    assert_eq!(updated.org, "acme", "the row as stored");
    txn.commit().await.expect("commit");
    h.db.flush().await.expect("flush");
    h.auditor.shutdown().await;

    let events = h.events();
    let recorded: Vec<(&str, &str)> = events.iter().map(|e| (e.action.as_str(), e.resource.id.as_str())).collect();
    assert_eq!(
        recorded,
        [("create", r#"[1,"acme"]"#), ("bulk", r#"[1,"ACME"]"#), ("update", r#"[1,"acme"]"#)],
        "{events:#?}"
    );
    // The old value is kept by the stand-in, the new one by the update: nothing is lost.
    assert_eq!(change(&events[1], "role").and_then(|c| c.0), Some(json!("member")), "{:#?}", events[1]);
    assert_eq!(change(&events[2], "role").and_then(|c| c.1), Some(json!("admin")));
    assert_eq!(events[2].details.get("old_unknown"), Some(&json!(true)), "{:#?}", events[2]);
    h.testdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres() {
    an_update_by_another_spelling_of_the_key_loses_nothing(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite() {
    an_update_by_another_spelling_of_the_key_loses_nothing(Backend::Sqlite).await;
}
