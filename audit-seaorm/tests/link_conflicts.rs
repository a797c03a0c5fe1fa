//! SeaORM 2 saves a model's many-to-many links by announcing every link with `before_save`,
//! then inserting them with `ON CONFLICT DO NOTHING`: one `insert_many … RETURNING` where the
//! backend has `RETURNING`, one insert per link otherwise, and `after_save` only for the links
//! it inserted (`sea-orm-2.0.4/src/entity/active_model.rs`, the end of saving "via" models).
//! Links that were there already are not written: they must not be recorded, in a
//! transaction or on the autocommit connection.

mod orm_common;

use orm_common::entities::{memberships, users};
use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, DbErr, EntityTrait, ModelTrait, QueryOrder, Set,
    TransactionTrait, TryInsertResult,
};

fn link(user_id: i32, org: &str) -> memberships::ActiveModel {
    memberships::ActiveModel { user_id: Set(user_id), org: Set(org.into()), role: Set("member".into()) }
}

/// What SeaORM 2.0.4 does with the links of a saved model (`active_model.rs`, "insert new
/// junctions").
async fn save_links(db: &impl ConnectionTrait, links: Vec<memberships::ActiveModel>) {
    let mut announced = Vec::new();
    for am in links {
        announced.push(am.before_save(db, true).await.expect("before_save"));
    }
    if db.support_returning() {
        let result = memberships::Entity::insert_many(announced)
            .on_conflict_do_nothing()
            .exec_with_returning_many(db)
            .await
            .expect("insert the links");
        if let TryInsertResult::Inserted(inserted) = result {
            for model in inserted {
                memberships::ActiveModel::after_save(model, db, true).await.expect("after_save");
            }
        }
    } else {
        for am in announced {
            let result =
                memberships::Entity::insert(am).on_conflict_do_nothing().exec_with_returning(db).await.expect("insert");
            if let TryInsertResult::Inserted(model) = result {
                memberships::ActiveModel::after_save(model, db, true).await.expect("after_save");
            }
        }
    }
}

/// `(action, resource id)` of every event, sorted, once every event handed over is durable
/// (held stand-ins are handed over without waiting): the auditor is shut down first.
async fn recorded(h: &Harness) -> Vec<(String, String)> {
    h.auditor.shutdown().await;
    let mut recorded: Vec<(String, String)> = h.events().into_iter().map(|e| (e.action, e.resource.id)).collect();
    recorded.sort();
    recorded
}

async fn orgs(h: &Harness) -> Vec<String> {
    let rows = memberships::Entity::find().order_by_asc(memberships::Column::Org).all(&h.conn).await.expect("read");
    rows.into_iter().map(|m| m.org).collect()
}

fn created(ids: &[&str]) -> Vec<(String, String)> {
    ids.iter().map(|id| ("create".to_string(), id.to_string())).collect()
}

async fn links_saved_again_in_a_transaction_record_only_the_new_one(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let txn = h.db.begin().await.expect("begin");
    save_links(&txn, vec![link(1, "a"), link(1, "b")]).await;
    txn.commit().await.expect("commit");
    let txn = h.db.begin().await.expect("begin");
    save_links(&txn, vec![link(1, "a"), link(1, "b"), link(1, "c")]).await;
    txn.commit().await.expect("commit");

    assert_eq!(orgs(&h).await, ["a", "b", "c"]);
    assert_eq!(recorded(&h).await, created(&[r#"[1,"a"]"#, r#"[1,"b"]"#, r#"[1,"c"]"#]), "{:#?}", h.events());
    h.finish().await;
}
on_all_backends!(links_saved_again_in_a_transaction_record_only_the_new_one);

async fn links_saved_again_on_the_autocommit_connection_record_only_the_new_one(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    save_links(&h.db, vec![link(1, "a"), link(1, "b")]).await;
    save_links(&h.db, vec![link(1, "a"), link(1, "b"), link(1, "c")]).await;
    // Held stand-ins whose hook did not come are recorded now.
    h.db.flush().await.expect("flush");

    assert_eq!(orgs(&h).await, ["a", "b", "c"]);
    assert_eq!(recorded(&h).await, created(&[r#"[1,"a"]"#, r#"[1,"b"]"#, r#"[1,"c"]"#]), "{:#?}", h.events());
    h.finish().await;
}
on_all_backends!(links_saved_again_on_the_autocommit_connection_record_only_the_new_one);

/// Nothing new: no statement writes a row, nothing is recorded.
async fn links_saved_again_unchanged_record_nothing(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    save_links(&h.db, vec![link(1, "a"), link(1, "b")]).await;
    let txn = h.db.begin().await.expect("begin");
    save_links(&txn, vec![link(1, "a"), link(1, "b")]).await;
    txn.commit().await.expect("commit");
    save_links(&h.db, vec![link(1, "b"), link(1, "a")]).await;
    h.db.flush().await.expect("flush");

    assert_eq!(recorded(&h).await, created(&[r#"[1,"a"]"#, r#"[1,"b"]"#]), "{:#?}", h.events());
    h.finish().await;
}
on_all_backends!(links_saved_again_unchanged_record_nothing);

/// A link found there already does not take the stand-in of another insert whose hook has
/// not come (its future dropped after the statement, as an `exec_without_returning` of an
/// announced row leaves it): that insert is still recorded by its stand-in.
async fn a_found_link_leaves_other_writes_stand_ins_alone(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    save_links(&h.db, vec![link(1, "a")]).await;
    let txn = h.db.begin().await.expect("begin");
    let announced = link(2, "x").before_save(&txn, true).await.expect("before_save");
    memberships::Entity::insert(announced).exec_without_returning(&txn).await.expect("insert, no after_save");
    save_links(&txn, vec![link(1, "a")]).await;
    txn.commit().await.expect("commit");
    let announced = link(3, "y").before_save(&h.db, true).await.expect("before_save");
    memberships::Entity::insert(announced).exec_without_returning(&h.db).await.expect("insert, no after_save");
    save_links(&h.db, vec![link(1, "a")]).await;
    h.db.flush().await.expect("flush");

    let expected = [("bulk", r#"[2,"x"]"#), ("bulk", r#"[3,"y"]"#), ("create", r#"[1,"a"]"#)];
    let expected: Vec<(String, String)> = expected.iter().map(|(a, id)| (a.to_string(), id.to_string())).collect();
    assert_eq!(recorded(&h).await, expected, "{:#?}", h.events());
    h.finish().await;
}
on_all_backends!(a_found_link_leaves_other_writes_stand_ins_alone);

/// An announced insert with an auto-increment key (SeaORM takes the key from the driver's
/// last insert id) whose row is there already: SeaORM reports it conflicted and calls no
/// `after_save`; nothing is recorded for it.
async fn an_auto_increment_insert_doing_nothing_records_nothing(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let with_id = || users::ActiveModel { id: Set(7), ..user("a@x") };
    // SeaORM 2.0.4 reports a conflicted insert of one row with `RETURNING` (PostgreSQL, SQLite)
    // as `RecordNotFound`, without `RETURNING` (MySQL) as `Conflicted`.
    let conflicted = |result: &Result<TryInsertResult<users::Model>, DbErr>| {
        matches!(result, Ok(TryInsertResult::Conflicted) | Err(DbErr::RecordNotFound(_)))
    };
    with_id().insert(&h.db).await.expect("insert");
    let txn = h.db.begin().await.expect("begin");
    let announced = with_id().before_save(&txn, true).await.expect("before_save");
    let result = users::Entity::insert(announced).on_conflict_do_nothing().exec_with_returning(&txn).await;
    assert!(conflicted(&result), "{result:?}");
    txn.commit().await.expect("commit");
    let announced = with_id().before_save(&h.db, true).await.expect("before_save");
    let result = users::Entity::insert(announced).on_conflict_do_nothing().exec_with_returning(&h.db).await;
    assert!(conflicted(&result), "{result:?}");
    h.db.flush().await.expect("flush");

    assert_eq!(recorded(&h).await, [("create".to_string(), "7".to_string())], "{:#?}", h.events());
    h.finish().await;
}
on_all_backends!(an_auto_increment_insert_doing_nothing_records_nothing);

/// MySQL's default collations compare strings without case: a link saved as `(1, "A")`
/// finds `(1, "a")`, and SeaORM hands its hook the row found, whose key differs from the
/// model's. Nothing is recorded for it, and nothing is left behind that would swallow a
/// later real insert of `(1, "A")`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_found_under_another_case_leaves_nothing_behind_on_mysql() {
    let Some(testdb) = TestDb::open(Backend::MySql, "link_found_under_another_case").await else { return };
    let h = Harness::new(testdb).await;
    save_links(&h.db, vec![link(1, "a")]).await;
    save_links(&h.db, vec![link(1, "A")]).await; // found: `a`
    let found = memberships::Entity::find_by_id((1, "a".to_string())).one(&h.db).await.expect("read");
    found.expect("the link").delete(&h.db).await.expect("delete");
    link(1, "A").insert(&h.db).await.expect("insert");
    h.db.flush().await.expect("flush");

    let expected = [("create", r#"[1,"A"]"#), ("create", r#"[1,"a"]"#), ("delete", r#"[1,"a"]"#)];
    let expected: Vec<(String, String)> = expected.iter().map(|(a, id)| (a.to_string(), id.to_string())).collect();
    assert_eq!(recorded(&h).await, expected, "{:#?}", h.events());
    h.finish().await;
}
