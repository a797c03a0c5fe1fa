//! A hooked update that sent no statement (`update_without_returning` with nothing set, or a
//! future dropped between `before_save` and its statement) leaves an announcement behind. A
//! later `update_many` of the same table from the same task must not be taken for it: it is
//! refused in strict mode and recorded as a `bulk` event otherwise.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Harness, TestDb, user};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set, TransactionTrait};
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

/// Two hooked inserts of one table interleaved within one task (`join!` of inserts whose
/// entity hooks do I/O of their own after the audit hook): both are announced before either
/// statement runs. An insert's statement is matched by the number of values it binds, so
/// neither is taken for a bulk write, and each is recorded once. The hooks' steps are taken
/// by hand, in that order.
async fn interleaved_hooked_inserts_in_one_task_are_each_recorded(testdb: TestDb) {
    use audit_seaorm::orm::{after_save, before_save};
    let h = Harness::with(testdb, |b| b.strict()).await;
    let txn = h.db.begin().await.expect("begin");
    let a = before_save(user("a@x"), &txn, true).await.expect("announce a");
    let b = before_save(user("b@x"), &txn, true).await.expect("announce b");
    let a = users::Entity::insert(a).exec_with_returning(&txn).await.expect("insert a");
    let b = users::Entity::insert(b).exec_with_returning(&txn).await.expect("insert b");
    after_save::<users::ActiveModel, _>(a, &txn, true).await.expect("after a");
    after_save::<users::ActiveModel, _>(b, &txn, true).await.expect("after b");
    txn.commit().await.expect("commit");

    let events = h.events();
    let mut created: Vec<String> = events
        .iter()
        .map(|e| {
            format!("{} {}", e.action, orm_common::change(e, "email").and_then(|(_, new)| new).unwrap_or_default())
        })
        .collect();
    created.sort();
    assert_eq!(created, ["create \"a@x\"", "create \"b@x\""], "{events:#?}");
    h.finish().await;
}
on_all_backends!(interleaved_hooked_inserts_in_one_task_are_each_recorded);

/// An insert announced but never sent (its future dropped after `before_save`) does not
/// cover a later `insert_many` of several rows: strict mode refuses it.
async fn strict_mode_refuses_an_insert_many_after_an_insert_that_sent_nothing(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.strict()).await;
    let txn = h.db.begin().await.expect("begin");
    audit_seaorm::orm::before_save(user("never@x"), &txn, true).await.expect("announced, never sent");
    let refused = users::Entity::insert_many([user("a@x"), user("b@x")])
        .exec(&txn)
        .await
        .expect_err("an insert_many bypasses the hooks");
    assert!(refused.to_string().contains("strict mode"), "{refused}");
    txn.rollback().await.expect("rollback");
    h.finish().await;
}
on_all_backends!(strict_mode_refuses_an_insert_many_after_an_insert_that_sent_nothing);

/// Rows announced one by one and inserted by one `insert_many` (what SeaORM 2's saving of
/// many-to-many links does): the statement is the hooked writes of those rows, not a bulk
/// write, and each row is recorded by its own `after_save`.
async fn rows_announced_one_by_one_and_inserted_together_are_hooked(testdb: TestDb) {
    use audit_seaorm::orm::{after_save, before_save};
    let h = Harness::with(testdb, |b| b.strict()).await;
    let txn = h.db.begin().await.expect("begin");
    let a = before_save(user("a@x"), &txn, true).await.expect("announce a");
    let b = before_save(user("b@x"), &txn, true).await.expect("announce b");
    users::Entity::insert_many([a, b]).exec(&txn).await.expect("one insert");
    for model in users::Entity::find().all(&txn).await.expect("read the rows back") {
        after_save::<users::ActiveModel, _>(model, &txn, true).await.expect("after_save");
    }
    txn.commit().await.expect("commit");

    let events = h.events();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "create"], "{events:#?}");
    h.finish().await;
}
on_all_backends!(rows_announced_one_by_one_and_inserted_together_are_hooked);

/// A hooked update with nothing to write announces no statement at all (nor reads the old
/// row): a later `update_many` in the same task whose bound values end with that row's key is
/// still a bulk write (refused in strict mode).
async fn an_update_with_nothing_to_write_leaves_nothing_behind(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.strict()).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let txn = h.db.begin().await.expect("begin");
    row.clone().into_active_model().update_without_returning(&txn).await.expect("nothing to update");
    let refused = users::Entity::update_many()
        .col_expr(users::Column::Score, Expr::value(9))
        .filter(users::Column::Id.eq(row.id))
        .exec(&txn)
        .await
        .expect_err("an update_many bypasses the hooks");
    assert!(refused.to_string().contains("strict mode"), "{refused}");
    txn.rollback().await.expect("rollback");
    h.finish().await;
}
on_all_backends!(an_update_with_nothing_to_write_leaves_nothing_behind);
