//! SeaORM 2 removes the many-to-many links a saved model no longer has by announcing every
//! one with `before_delete`, then deleting them with one `DELETE … WHERE (key) IN (…)`
//! (`RETURNING` the rows where the backend has it), then calling `after_delete` for the rows
//! returned, or for every announced link otherwise (`sea-orm-2.0.4/src/entity/active_model.rs`,
//! "run before_delete hooks"). Each removed link is recorded once, with its old values, also
//! in strict mode, which must not take the statement for a bulk write.

mod orm_common;

use audit_seaorm::orm::AuditedDb;
use orm_common::entities::memberships;
use orm_common::{Harness, TestDb};
use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, PaginatorTrait, Set,
    TransactionTrait,
};

fn link(user_id: i32, org: &str) -> memberships::ActiveModel {
    memberships::ActiveModel { user_id: Set(user_id), org: Set(org.into()), role: Set(format!("role of {org}")) }
}

/// What SeaORM 2.0.4 does with the links a saved model no longer has.
async fn remove_links(db: &impl ConnectionTrait, links: Vec<memberships::Model>) {
    let announced: Vec<memberships::ActiveModel> = links.into_iter().map(IntoActiveModel::into_active_model).collect();
    let keys: Vec<_> = announced.iter().map(|am| am.get_primary_key_value().expect("a full model")).collect();
    for am in announced.clone() {
        am.before_delete(db).await.expect("before_delete");
    }
    let delete = memberships::Entity::delete_many().filter_by_value_tuples(&keys, db.get_database_backend());
    if db.support_returning() {
        for model in delete.exec_with_returning(db).await.expect("delete the links") {
            model.into_active_model().after_delete(db).await.expect("after_delete");
        }
    } else {
        delete.exec(db).await.expect("delete the links");
        for am in announced {
            am.after_delete(db).await.expect("after_delete");
        }
    }
}

/// What SeaORM does with links to remove up to the `DELETE`, on the autocommit connection,
/// where a task whose future is dropped then (a client disconnect) stops: no `after_delete`.
async fn remove_links_without_hooks(db: &AuditedDb, links: Vec<memberships::ActiveModel>) {
    let keys: Vec<_> = links.iter().map(|am| am.get_primary_key_value().expect("a full model")).collect();
    for am in links {
        am.before_delete(db).await.expect("before_delete");
    }
    let delete = memberships::Entity::delete_many().filter_by_value_tuples(&keys, db.get_database_backend());
    delete.exec(db).await.expect("delete the links");
}

/// `action resource-id` of every event, sorted, once every event is durable.
async fn recorded(h: &Harness) -> Vec<String> {
    h.auditor.shutdown().await;
    let mut recorded: Vec<String> = h.events().into_iter().map(|e| format!("{} {}", e.action, e.resource.id)).collect();
    recorded.sort();
    recorded
}

/// Once every event is durable: the events other than `create` are `action` of links
/// `(1, a)`, `(1, b)`, `(1, c)`, each with its old role.
async fn assert_removed(h: &Harness, action: &str) {
    h.auditor.shutdown().await;
    let mut removed: Vec<(String, Option<serde_json::Value>)> = h
        .events()
        .into_iter()
        .filter(|e| e.action != "create")
        .map(|e| {
            let role = orm_common::change(&e, "role").and_then(|(old, _)| old);
            (format!("{} {}", e.action, e.resource.id), role)
        })
        .collect();
    removed.sort_by(|a, b| a.0.cmp(&b.0));
    let expected: Vec<(String, Option<serde_json::Value>)> = ["a", "b", "c"]
        .iter()
        .map(|org| (format!(r#"{action} [1,"{org}"]"#), Some(serde_json::json!(format!("role of {org}")))))
        .collect();
    assert_eq!(removed, expected, "{:#?}", h.events());
}

async fn removed_links_are_each_recorded_with_their_old_values(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.strict()).await;
    let mut kept = Vec::new();
    for org in ["a", "b", "c"] {
        kept.push(link(1, org).insert(&h.db).await.expect("insert"));
    }
    let c = kept.pop().expect("c");
    let txn = h.db.begin().await.expect("begin");
    remove_links(&txn, kept).await;
    txn.commit().await.expect("commit");
    remove_links(&h.db, vec![c]).await;
    h.db.flush().await.expect("flush");
    assert_eq!(memberships::Entity::find().count(&h.conn).await.expect("count"), 0);

    assert_removed(&h, "delete").await;
    h.finish().await;
}
on_all_backends!(removed_links_are_each_recorded_with_their_old_values);

/// Links removed on the autocommit connection by a task whose future is dropped after the
/// `DELETE` (a client disconnect) and before their `after_delete` hooks: each removed link is
/// still recorded, by a stand-in of its own carrying its old values.
async fn removed_links_whose_hooks_never_come_are_each_recorded(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let mut links = Vec::new();
    for org in ["a", "b", "c"] {
        links.push(link(1, org).insert(&h.db).await.expect("insert").into_active_model());
    }
    remove_links_without_hooks(&h.db, links).await;
    h.db.flush().await.expect("flush"); // held stand-ins are recorded now

    assert_removed(&h, "bulk").await;
    h.finish().await;
}
on_all_backends!(removed_links_whose_hooks_never_come_are_each_recorded);

/// A link announced for removal that is gone already (another request removed it): the
/// `DELETE` finds fewer rows than announced, and nothing is recorded for that one.
async fn a_link_already_gone_is_not_recorded_as_removed(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    // Announced first: on MySQL, where SeaORM calls `after_delete` for every announced link,
    // its hook comes before the others'.
    let mut links = vec![memberships::Model { user_id: 1, org: "x".into(), role: "role of x".into() }];
    for org in ["a", "b"] {
        links.push(link(1, org).insert(&h.db).await.expect("insert"));
    }
    let txn = h.db.begin().await.expect("begin");
    remove_links(&txn, links).await;
    txn.commit().await.expect("commit");

    let recorded = recorded(&h).await;
    let expected = [r#"create [1,"a"]"#, r#"create [1,"b"]"#, r#"delete [1,"a"]"#, r#"delete [1,"b"]"#];
    assert_eq!(recorded, expected, "{:#?}", h.events());
    h.finish().await;
}
on_all_backends!(a_link_already_gone_is_not_recorded_as_removed);

/// Links removed with one gone already, on the autocommit connection, and no hook comes: the
/// removed links are recorded by their stand-ins, the gone one not at all.
async fn a_link_already_gone_has_no_stand_in(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let mut links = vec![link(1, "x")];
    for org in ["a", "b"] {
        links.push(link(1, org).insert(&h.db).await.expect("insert").into_active_model());
    }
    remove_links_without_hooks(&h.db, links).await;
    h.db.flush().await.expect("flush");

    let recorded = recorded(&h).await;
    let expected = [r#"bulk [1,"a"]"#, r#"bulk [1,"b"]"#, r#"create [1,"a"]"#, r#"create [1,"b"]"#];
    assert_eq!(recorded, expected, "{:#?}", h.events());
    h.finish().await;
}
on_all_backends!(a_link_already_gone_has_no_stand_in);
