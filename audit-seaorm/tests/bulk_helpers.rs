//! The audited bulk helpers record one event per row, with diffs, even in strict mode:
//! `insert_many` (create), `update_many` (update, only changed rows and columns),
//! `delete_many` (delete, every column as old). Inside a transaction they follow it.

mod orm_common;

use audit_seaorm::orm::bulk;
use orm_common::entities::users;
use orm_common::{Harness, TestDb, change, fields};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, EntityTrait, ExprTrait, PaginatorTrait, Set, TransactionTrait};
use serde_json::json;

fn user(email: &str, score: i32) -> users::ActiveModel {
    users::ActiveModel {
        email: Set(email.into()),
        name: Set("n".into()),
        score: Set(score),
        ssn: Set(Some("secret".into())),
        updated_at: Set(0),
        ..Default::default()
    }
}

async fn bulk_helpers_record_per_row_diffs(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.strict()).await;

    let rows = bulk::insert_many(&h.db, vec![user("a@x", 1), user("b@x", 2), user("c@y", 3)]).await.expect("insert");
    assert_eq!(rows.len(), 3);
    let events = h.events();
    assert_eq!(events.len(), 3);
    for (event, row) in events.iter().zip(&rows) {
        assert_eq!((event.action.as_str(), event.resource.id.clone()), ("create", row.id.to_string()));
        assert_eq!(fields(event), ["email", "id", "name", "score", "ssn"]);
        assert_eq!(change(event, "ssn"), Some((None, Some(json!("[REDACTED]")))));
    }

    // score + 10 where email ends in @x: two rows; c@y untouched.
    let filter = Condition::all().add(users::Column::Email.like("%@x"));
    let updated = bulk::update_many::<users::Entity, _>(&h.db, filter, |u| {
        u.col_expr(users::Column::Score, Expr::col(users::Column::Score).add(10))
    })
    .await
    .expect("update_many");
    assert_eq!(updated.iter().map(|m| m.score).collect::<Vec<_>>(), [11, 12]);
    let events = h.events();
    assert_eq!(events.len(), 5);
    for (event, (old, new)) in events[3..].iter().zip([(1, 11), (2, 12)]) {
        assert_eq!(event.action, "update");
        assert_eq!(fields(event), ["score"]);
        assert_eq!(change(event, "score"), Some((Some(json!(old)), Some(json!(new)))));
    }

    // A bulk update that changes nothing records nothing.
    bulk::update_many::<users::Entity, _>(&h.db, Condition::all(), |u| {
        u.col_expr(users::Column::Score, Expr::col(users::Column::Score))
    })
    .await
    .expect("no-op update_many");
    assert_eq!(h.events().len(), 5);

    // Inside a transaction that rolls back: nothing; that commits: one delete per row.
    let txn = h.db.begin().await.expect("begin");
    let deleted = bulk::delete_many::<users::Entity, _>(&txn, Condition::all().add(users::Column::Score.gt(10)))
        .await
        .expect("delete_many");
    assert_eq!(deleted, 2);
    txn.rollback().await.expect("rollback");
    assert_eq!(h.events().len(), 5);
    assert_eq!(users::Entity::find().count(&h.conn).await.expect("count"), 3);

    let txn = h.db.begin().await.expect("begin");
    bulk::delete_many::<users::Entity, _>(&txn, Condition::all().add(users::Column::Score.gt(10)))
        .await
        .expect("delete_many");
    txn.commit().await.expect("commit");
    let events = h.events();
    assert_eq!(events.len(), 7);
    for (event, (email, score)) in events[5..].iter().zip([("a@x", 11), ("b@x", 12)]) {
        assert_eq!(event.action, "delete");
        assert_eq!(change(event, "email"), Some((Some(json!(email)), None)));
        assert_eq!(change(event, "score"), Some((Some(json!(score)), None)));
    }
    assert!(events.iter().all(|e| e.action != "bulk"), "the helpers' statements are not flagged");
    assert_eq!(users::Entity::find().count(&h.conn).await.expect("count"), 1);
    h.finish().await;
}
on_all_backends!(bulk_helpers_record_per_row_diffs);

/// `update_many` matches the rows after the update to those before by key, and each event
/// names its row by key: an update that sets a key column would move rows whose events could
/// name neither key (before the refusal, `id = id + 1000` changed every row and recorded
/// nothing). Refused before anything runs.
async fn update_many_refuses_to_change_keys(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let rows = bulk::insert_many(&h.db, vec![user("a@x", 1), user("b@x", 2)]).await.expect("insert");
    let ids: Vec<i32> = rows.iter().map(|row| row.id).collect();

    let result = bulk::update_many::<users::Entity, _>(&h.db, Condition::all(), |u| {
        u.col_expr(users::Column::Score, Expr::col(users::Column::Score).add(1))
            .col_expr(users::Column::Id, Expr::col(users::Column::Id).add(1000))
    })
    .await;

    let mut stored: Vec<(i32, i32)> =
        users::Entity::find().all(&h.conn).await.expect("rows").into_iter().map(|u| (u.id, u.score)).collect();
    stored.sort();
    assert_eq!(stored, [(ids[0], 1), (ids[1], 2)], "the rows are as they were");
    assert_eq!(h.events().len(), 2, "only the inserts are recorded");
    let error = result.expect_err("an update of the key").to_string();
    assert!(error.contains("primary-key column `id`"), "{error}");
    assert!(error.contains("Nothing was written"), "{error}");
    h.finish().await;
}
on_all_backends!(update_many_refuses_to_change_keys);
