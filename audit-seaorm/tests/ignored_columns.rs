//! `ignore` names columns as `redact` does: by the column's name in the table or by the
//! model's field name (a column renamed with `#[sea_orm(column_name)]`). Ignored columns are
//! in no diff, and an update that changes only them records nothing; an entry that names no
//! column refuses the write (the column would otherwise be recorded in every event).

#![allow(unreachable_pub)] // the test entities' derived items

mod orm_common;

use orm_common::{Backend, Harness, TestDb};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Schema, Set};

/// `updated_at` is stored as `updatedAt` and ignored by its field name.
mod stamped {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "stamped")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub title: String,
        #[sea_orm(column_name = "updatedAt")]
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel, ignore = ["updated_at"]);
}

/// An `ignore` entry that names no column (a typo).
mod misignored {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "misignored")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub updated_at: i64,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel, ignore = ["updatd_at"]);
}

async fn harness(test: &str) -> Option<Harness> {
    let testdb = TestDb::open(Backend::Sqlite, test).await?;
    let h = Harness::new(testdb).await;
    let schema = Schema::new(h.conn.get_database_backend());
    h.conn.execute(&schema.create_table_from_entity(stamped::Entity)).await.expect("create stamped");
    h.conn.execute(&schema.create_table_from_entity(misignored::Entity)).await.expect("create misignored");
    Some(h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_column_ignored_by_its_field_name_is_in_no_diff() {
    let Some(h) = harness("ignored_by_field").await else { return };
    stamped::ActiveModel { id: Set(1), title: Set("draft".into()), updated_at: Set(100) }
        .insert(&h.db)
        .await
        .expect("insert");
    // Only the ignored column changes: nothing to record.
    stamped::ActiveModel { id: Set(1), updated_at: Set(200), ..Default::default() }.update(&h.db).await.expect("touch");
    stamped::ActiveModel { id: Set(1), title: Set("final".into()), updated_at: Set(300) }
        .update(&h.db)
        .await
        .expect("update");
    h.db.flush().await.expect("flush");
    h.auditor.shutdown().await;

    let events = h.events();
    let recorded: Vec<(&str, Vec<&str>)> =
        events.iter().map(|e| (e.action.as_str(), e.changes.iter().map(|c| c.field.as_str()).collect())).collect();
    assert_eq!(recorded, [("create", vec!["id", "title"]), ("update", vec!["title"])], "{events:#?}");
    h.testdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ignore_entry_that_names_no_column_refuses_the_write() {
    let Some(h) = harness("ignore_naming_nothing").await else { return };
    let error = misignored::ActiveModel { id: Set(1), updated_at: Set(1) }
        .insert(&h.db)
        .await
        .expect_err("an ignore entry naming no column");
    let message = error.to_string();
    assert!(message.contains("\"updatd_at\"") && message.contains("`ignore`"), "{message}");
    assert!(misignored::Entity::find().all(&h.conn).await.expect("read").is_empty(), "nothing was written");
    h.auditor.shutdown().await;
    assert!(h.store.events("default").is_empty());
    h.testdb.cleanup().await;
}
