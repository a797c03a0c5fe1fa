//! MySQL's and MariaDB's default collations compare strings without case: an update of the
//! row keyed `"acme"` through a model keyed `"ACME"` writes that row, and SeaORM hands
//! `after_save` the row as stored. The write is one `update` event, named by the key as
//! stored, with the old values (before, it was two: a `bulk` stand-in under the model's
//! spelling with the old values, and an `update` under the stored one with `old_unknown`).

mod orm_common;

use orm_common::entities::memberships;
use orm_common::{Backend, Harness, TestDb, change};
use sea_orm::{ActiveModelTrait, Set, TransactionTrait};
use serde_json::json;

fn membership(org: &str, role: &str) -> memberships::ActiveModel {
    memberships::ActiveModel { user_id: Set(1), org: Set(org.into()), role: Set(role.into()) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_by_another_spelling_of_the_key_is_one_diff_on_mysql() {
    let Some(testdb) = TestDb::open(Backend::MySql, "case_insensitive_keys").await else { return };
    let h = Harness::new(testdb).await;
    membership("acme", "member").insert(&h.db).await.expect("insert");

    // On the autocommit connection, then in a transaction.
    let updated = membership("ACME", "admin").update(&h.db).await.expect("update by ACME");
    assert_eq!(updated.org, "acme", "the row as stored");
    let txn = h.db.begin().await.expect("begin");
    membership("Acme", "owner").update(&txn).await.expect("update by Acme");
    txn.commit().await.expect("commit");
    // Hands over any stand-in still held for a hook that did not take it.
    h.db.flush().await.expect("flush");
    h.auditor.shutdown().await;

    let events = h.events();
    let recorded: Vec<(&str, &str)> = events.iter().map(|e| (e.action.as_str(), e.resource.id.as_str())).collect();
    let id = r#"[1,"acme"]"#;
    assert_eq!(recorded, [("create", id), ("update", id), ("update", id)], "{events:#?}");
    assert_eq!(change(&events[1], "role"), Some((Some(json!("member")), Some(json!("admin")))));
    assert_eq!(change(&events[2], "role"), Some((Some(json!("admin")), Some(json!("owner")))));
    for event in &events[1..] {
        assert!(event.details.get("old_unknown").is_none(), "the old values are known: {event:#?}");
    }
    h.testdb.cleanup().await;
}

/// A delete through another spelling of the key is named by the model's spelling, its old
/// values showing the key as stored (the crate docs' Limits say so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_by_another_spelling_of_the_key_keeps_the_stored_values_on_mysql() {
    let Some(testdb) = TestDb::open(Backend::MySql, "case_insensitive_delete").await else { return };
    let h = Harness::new(testdb).await;
    membership("acme", "member").insert(&h.db).await.expect("insert");
    let txn = h.db.begin().await.expect("begin");
    let deleted = membership("ACME", "member").delete(&txn).await.expect("delete by ACME");
    assert_eq!(deleted.rows_affected, 1);
    txn.commit().await.expect("commit");
    h.db.flush().await.expect("flush");
    h.auditor.shutdown().await;

    let events = h.events();
    let recorded: Vec<(&str, &str)> = events.iter().map(|e| (e.action.as_str(), e.resource.id.as_str())).collect();
    assert_eq!(recorded, [("create", r#"[1,"acme"]"#), ("delete", r#"[1,"ACME"]"#)], "{events:#?}");
    assert_eq!(change(&events[1], "org"), Some((Some(json!("acme")), None)), "{:#?}", events[1]);
    assert_eq!(change(&events[1], "role"), Some((Some(json!("member")), None)));
    h.testdb.cleanup().await;
}
