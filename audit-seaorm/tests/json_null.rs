//! A nullable JSON column: SQL `NULL` and the JSON value `null` are both `null` in the
//! recorded values, so an update that turns one into the other is taken for no change and
//! records nothing (the limitation the crate docs state, "What is recorded"); a change to or
//! from any other value is recorded as usual.

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

async fn sql_null_and_json_null_look_alike(backend: Backend) {
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

    let events = h.events();
    h.finish().await;
    assert_eq!(stored.body, Some(serde_json::Value::Null), "the column holds JSON null, not SQL NULL");
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "update"], "the NULL → null update is taken for no change");
    assert_eq!(change(&events[0], "body"), Some((None, Some(serde_json::Value::Null))));
    assert_eq!(change(&events[1], "body"), Some((Some(serde_json::Value::Null), Some(json!({"a": 1})))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_null_and_json_null_look_alike_postgres() {
    sql_null_and_json_null_look_alike(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_null_and_json_null_look_alike_mysql() {
    sql_null_and_json_null_look_alike(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_null_and_json_null_look_alike_sqlite() {
    sql_null_and_json_null_look_alike(Backend::Sqlite).await;
}
