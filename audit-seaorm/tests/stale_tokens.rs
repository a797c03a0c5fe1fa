//! A hooked update that sent no statement (`update_without_returning` with nothing set, or a
//! future dropped between `before_save` and its statement) leaves an announcement behind. A
//! later `update_many` of the same table from the same task must not be taken for it: it is
//! refused in strict mode and recorded as a `bulk` event otherwise.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Harness, TestDb, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set, TransactionTrait};
use serde_json::json;

async fn strict_mode_refuses_an_update_many_after_a_hooked_update_that_sent_nothing(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.strict()).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let txn = h.db.begin().await.expect("begin");
    let result = row.clone().into_active_model().update_without_returning(&txn).await.expect("nothing to update");
    assert_eq!(result.rows_affected, 0, "no statement was sent");
    let refused = users::Entity::update_many()
        .col_expr(users::Column::Score, Expr::value(9))
        .exec(&txn)
        .await
        .expect_err("an update_many bypasses the hooks");
    assert!(refused.to_string().contains("strict mode"), "{refused}");
    txn.commit().await.expect("commit");
    let scores: Vec<i32> = users::Entity::find().all(&h.conn).await.expect("read").iter().map(|u| u.score).collect();
    assert_eq!(scores, [0], "the update_many did not run");
    assert_eq!(h.events().len(), 1, "the create only");
    h.finish().await;
}
on_all_backends!(strict_mode_refuses_an_update_many_after_a_hooked_update_that_sent_nothing);

async fn an_update_many_after_a_hooked_update_that_sent_nothing_is_a_bulk_event(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    user("b@x").insert(&h.db).await.expect("insert");
    let txn = h.db.begin().await.expect("begin");
    row.clone().into_active_model().update_without_returning(&txn).await.expect("nothing to update");
    users::Entity::update_many().col_expr(users::Column::Score, Expr::value(9)).exec(&txn).await.expect("update_many");
    txn.commit().await.expect("commit");

    let events = h.events();
    assert_eq!(events.len(), 3, "two creates and the bulk update: {events:#?}");
    let bulk = &events[2];
    assert_eq!((bulk.action.as_str(), bulk.resource.id.as_str()), ("bulk", ""), "not a row's event: {bulk:#?}");
    assert_eq!(bulk.details.get("verb"), Some(&json!("UPDATE")));
    assert_eq!(bulk.details.get("rows_affected"), Some(&json!(2)));
    assert!(bulk.changes.is_empty(), "no row's old values: {bulk:#?}");
    h.finish().await;
}
on_all_backends!(an_update_many_after_a_hooked_update_that_sent_nothing_is_a_bulk_event);

/// Matching a statement to its announcement by key keeps two hooked updates of one table,
/// interleaved within one task (`join!`), apart: each is recorded with its own diff, and
/// neither is taken for a bulk write.
async fn interleaved_hooked_updates_in_one_task_are_each_recorded(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.strict()).await;
    let a = user("a@x").insert(&h.db).await.expect("insert");
    let b = user("b@x").insert(&h.db).await.expect("insert");
    let bump = |model: &users::Model, score: i32| {
        let mut am = model.clone().into_active_model();
        am.score = Set(score);
        am
    };
    let (ra, rb) = tokio::join!(bump(&a, 1).update(&h.db), bump(&b, 2).update(&h.db));
    ra.expect("update a");
    rb.expect("update b");

    let events = h.events();
    let mut updates: Vec<(String, Option<serde_json::Value>)> = events
        .iter()
        .filter(|e| e.action == "update")
        .map(|e| (e.resource.id.clone(), orm_common::change(e, "score").and_then(|(_, new)| new)))
        .collect();
    updates.sort_by(|x, y| x.0.cmp(&y.0));
    let mut expected = vec![(a.id.to_string(), Some(json!(1))), (b.id.to_string(), Some(json!(2)))];
    expected.sort_by(|x, y| x.0.cmp(&y.0));
    assert_eq!(updates, expected, "{events:#?}");
    assert_eq!(events.len(), 4, "two creates, two updates, no bulk event: {events:#?}");
    h.finish().await;
}
on_all_backends!(interleaved_hooked_updates_in_one_task_are_each_recorded);
