//! A JSON column written again with the same numbers spelled otherwise (`10.0` for `10`, at
//! any depth) records nothing: the trail writes numbers as RFC 8785 does (IEEE doubles, so
//! both are `10`), and such an update was recorded with an old and a new value that read the
//! same, as a float column changed from `0` to `-0` records nothing (see the module docs of
//! `audit_seaorm::orm`). Integers beyond ±2^53, which the trail keeps exactly, still differ
//! by their every digit.

mod orm_common;

use orm_common::{Harness, TestDb, change};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Schema, Set};
use serde_json::json;

#[allow(unreachable_pub)] // the derives make public items
mod notes {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub body: Json,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

async fn the_same_numbers_spelled_otherwise_record_nothing(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let schema = Schema::new(h.conn.get_database_backend());
    h.conn.execute(&schema.create_table_from_entity(notes::Entity)).await.expect("create notes");

    let body = json!({"price": 10, "list": [1, {"ratio": 2}], "big": 9_007_199_254_740_993u64});
    notes::ActiveModel { id: Set(1), body: Set(body) }.insert(&h.db).await.expect("insert");
    // The same document, its numbers written as floats: `10.0`, `1.0`, `2.0`.
    let floats = json!({"price": 10.0, "list": [1.0, {"ratio": 2.0}], "big": 9_007_199_254_740_993u64});
    notes::ActiveModel { id: Set(1), body: Set(floats) }.update(&h.db).await.expect("the same numbers as floats");
    let stored = notes::Entity::find_by_id(1).one(&h.conn).await.expect("read").expect("row");
    // A change beyond 2^53, where doubles cannot tell the two integers apart.
    let moved = json!({"price": 10.0, "list": [1.0, {"ratio": 2.0}], "big": 9_007_199_254_740_992u64});
    notes::ActiveModel { id: Set(1), body: Set(moved) }.update(&h.db).await.expect("a large integer changed");

    let events = h.events();
    h.finish().await;
    assert!(stored.body["price"].is_f64(), "the column was written with the floats: {:?}", stored.body);
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "update"], "only the large integer's change is recorded: {events:#?}");
    let (old, new) = change(&events[1], "body").expect("body changed");
    // (The trail keeps an integer beyond 2^53 as its digits; 2^53 itself is a number.)
    assert_eq!(old.map(|v| v["big"].clone()), Some(json!("9007199254740993")));
    assert_eq!(new.map(|v| v["big"].clone()), Some(json!(9_007_199_254_740_992u64)));
}
on_all_backends!(the_same_numbers_spelled_otherwise_record_nothing);
