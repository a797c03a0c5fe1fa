//! SeaORM 2 saves a model's many-to-many links by announcing every link with `before_save`,
//! then inserting them with `ON CONFLICT DO NOTHING`: one `insert_many … RETURNING` where the
//! backend has `RETURNING`, one insert per link otherwise, and `after_save` only for the links
//! it inserted (`sea-orm-2.0.4/src/entity/active_model.rs`, the end of saving "via" models).
//! Links that were there already are not written: they must not be recorded, in a
//! transaction or on the autocommit connection.

mod orm_common;

use orm_common::entities::memberships;
use orm_common::{Harness, TestDb};
use sea_orm::{ActiveModelBehavior, ConnectionTrait, EntityTrait, QueryOrder, Set, TransactionTrait, TryInsertResult};

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

/// `(action, resource id)` of every event, sorted.
fn recorded(h: &Harness) -> Vec<(String, String)> {
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
    assert_eq!(recorded(&h), created(&[r#"[1,"a"]"#, r#"[1,"b"]"#, r#"[1,"c"]"#]), "{:#?}", h.events());
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
    assert_eq!(recorded(&h), created(&[r#"[1,"a"]"#, r#"[1,"b"]"#, r#"[1,"c"]"#]), "{:#?}", h.events());
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

    assert_eq!(recorded(&h), created(&[r#"[1,"a"]"#, r#"[1,"b"]"#]), "{:#?}", h.events());
    h.finish().await;
}
on_all_backends!(links_saved_again_unchanged_record_nothing);
