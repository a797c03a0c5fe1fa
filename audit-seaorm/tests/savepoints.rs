//! Nested transactions are savepoints: rolling one back, or dropping it, drops only its
//! events; committing it keeps them for the outer commit; events come in write order.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Harness, TestDb, change, user};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, TransactionTrait};
use serde_json::json;

async fn savepoint_rollback_drops_only_inner_events(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let outer = h.db.begin().await.expect("begin");
    user("1-outer-before").insert(&outer).await.expect("insert");

    let inner = outer.begin().await.expect("savepoint");
    user("x-rolled-back").insert(&inner).await.expect("insert");
    inner.rollback().await.expect("rollback to savepoint");

    let inner = outer.begin().await.expect("savepoint");
    user("2-inner-kept").insert(&inner).await.expect("insert");
    let deeper = inner.begin().await.expect("nested savepoint");
    user("x-dropped").insert(&deeper).await.expect("insert");
    drop(deeper);
    user("3-inner-after-drop").insert(&inner).await.expect("insert");
    inner.commit().await.expect("release savepoint");

    user("4-outer-after").insert(&outer).await.expect("insert");
    assert!(h.events().is_empty());
    outer.commit().await.expect("commit");

    let events = h.events();
    let emails: Vec<_> = events.iter().map(|e| change(e, "email").and_then(|c| c.1)).collect();
    assert_eq!(
        emails,
        vec![
            Some(json!("1-outer-before")),
            Some(json!("2-inner-kept")),
            Some(json!("3-inner-after-drop")),
            Some(json!("4-outer-after"))
        ],
        "inner rollback and drop dropped only their own events, order kept"
    );
    assert_eq!(users::Entity::find().count(&h.conn).await.expect("count"), 4, "the database agrees");
    h.finish().await;
}
on_all_backends!(savepoint_rollback_drops_only_inner_events);
