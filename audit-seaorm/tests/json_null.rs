//! A nullable JSON column: SQL `NULL` and the JSON value `null` are both `null` in the
//! recorded values, yet an update that turns one into the other is a change, and is recorded
//! (as `null` → `null`; it compared equal and recorded nothing before). A change to or from
//! any other value is recorded as usual, and an update that writes the same kind of null
//! again records nothing.

mod orm_common;

use orm_common::{Backend, Harness, TestDb, change};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Schema, Set};
use serde_json::json;

#[allow(unreachable_pub)] // the derives make public items
mod docs {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "docs")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub body: Option<Json>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

async fn sql_null_to_json_null_is_recorded(backend: Backend) {
    let Some(testdb) = TestDb::open(backend, "json_null").await else { return };
    let h = Harness::new(testdb).await;
    let schema = Schema::new(h.conn.get_database_backend());
    h.conn.execute(&schema.create_table_from_entity(docs::Entity)).await.expect("create docs");

    let doc = docs::ActiveModel { id: Set(1), body: Set(None) }.insert(&h.db).await.expect("insert");
    let mut model: docs::ActiveModel = doc.into();
    model.body = Set(Some(serde_json::Value::Null));
    model.update(&h.db).await.expect("SQL NULL to JSON null");
    let stored = docs::Entity::find_by_id(1).one(&h.conn).await.expect("read").expect("row");
    let mut model: docs::ActiveModel = stored.clone().into();
    model.body = Set(Some(json!({"a": 1})));
    model.update(&h.db).await.expect("JSON null to an object");
    let stored_again = docs::Entity::find_by_id(1).one(&h.conn).await.expect("read").expect("row");
    let mut model: docs::ActiveModel = stored_again.into();
    model.body = Set(Some(serde_json::Value::Null));
    model.update(&h.db).await.expect("an object to JSON null");
    let mut model: docs::ActiveModel =
        docs::Entity::find_by_id(1).one(&h.conn).await.expect("read").expect("row").into();
    model.body = Set(Some(serde_json::Value::Null));
    model.reset(docs::Column::Body);
    model.update(&h.db).await.expect("JSON null written again");
    let mut model: docs::ActiveModel =
        docs::Entity::find_by_id(1).one(&h.conn).await.expect("read").expect("row").into();
    model.body = Set(None);
    model.update(&h.db).await.expect("JSON null to SQL NULL");

    let events = h.events();
    h.finish().await;
    assert_eq!(stored.body, Some(serde_json::Value::Null), "the column holds JSON null, not SQL NULL");
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    let null = Some(serde_json::Value::Null);
    assert_eq!(
        actions,
        ["create", "update", "update", "update", "update"],
        "each change between SQL NULL and JSON null is recorded; JSON null written again records nothing"
    );
    assert_eq!(change(&events[0], "body"), Some((None, null.clone())));
    assert_eq!(change(&events[1], "body"), Some((null.clone(), null.clone())), "SQL NULL → JSON null");
    assert_eq!(change(&events[2], "body"), Some((null.clone(), Some(json!({"a": 1})))));
    assert_eq!(change(&events[3], "body"), Some((Some(json!({"a": 1})), null.clone())));
    assert_eq!(change(&events[4], "body"), Some((null.clone(), null)), "JSON null → SQL NULL");
    assert!(events.iter().all(|e| e.changes.iter().all(|c| c.field == "body" || c.field == "id")), "no marker field");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_null_to_json_null_is_recorded_postgres() {
    sql_null_to_json_null_is_recorded(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_null_to_json_null_is_recorded_mysql() {
    sql_null_to_json_null_is_recorded(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_null_to_json_null_is_recorded_sqlite() {
    sql_null_to_json_null_is_recorded(Backend::Sqlite).await;
}
