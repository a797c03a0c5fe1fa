//! PostgreSQL dates and timestamps may be `infinity` or `-infinity`, which chrono cannot hold:
//! sqlx panics when it decodes one. Plain SeaORM deletes such a row by its key (and updates it
//! with `update_without_returning`) without reading it, but the hooks read its old values first:
//! the audited write panicked in the application's task. It is now refused with an error that
//! says why and nothing is written; after a refused delete the transaction goes on (the
//! connection stays usable).

mod orm_common;

use futures_util::FutureExt as _;
use orm_common::{Backend, Harness, TestDb, change};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Schema, Set, TransactionTrait};
use serde_json::json;

#[allow(unreachable_pub)] // the derives make public items
mod offers {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
    #[sea_orm(table_name = "offers")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        pub note: String,
        pub valid_until: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

/// Whether `error` is the hooks' refusal to write a row whose old values cannot be read.
fn refused(error: &sea_orm::DbErr) -> bool {
    let text = error.to_string();
    text.contains("audit_seaorm") && text.contains("offers") && text.contains("nothing was written")
}

async fn a_row_holding_infinity_is_refused_not_panicked_on(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let schema = Schema::new(h.conn.get_database_backend());
    h.conn.execute(&schema.create_table_from_entity(offers::Entity)).await.expect("create offers");
    let until = chrono::DateTime::from_timestamp(1_800_000_000, 0).expect("a time");
    offers::ActiveModel { id: Set(1), note: Set("a".into()), valid_until: Set(until) }
        .insert(&h.db)
        .await
        .expect("insert 1");
    h.conn
        .execute_unprepared("INSERT INTO offers (id, note, valid_until) VALUES (2, 'forever', 'infinity')")
        .await
        .expect("a row valid forever, written around the audit");

    let txn = h.db.begin().await.expect("begin");
    // A delete by key: the hooks' read of the old row (SELECT … FOR UPDATE).
    let delete = std::panic::AssertUnwindSafe(offers::ActiveModel { id: Set(2), ..Default::default() }.delete(&txn))
        .catch_unwind()
        .await;
    let delete = delete.expect("the audited delete does not panic");
    assert!(delete.as_ref().is_err_and(refused), "refused with the reason: {delete:?}");
    // The transaction goes on.
    let deleted = offers::ActiveModel { id: Set(1), ..Default::default() }.delete(&txn).await.expect("delete 1");
    assert_eq!(deleted.rows_affected, 1);
    txn.commit().await.expect("commit");
    // An update without RETURNING: the connection's own read of the old row, refused as a
    // failed statement is (PostgreSQL then takes the transaction for aborted).
    let txn = h.db.begin().await.expect("begin");
    let am = offers::ActiveModel { id: Set(2), note: Set("changed".into()), ..Default::default() };
    let update = std::panic::AssertUnwindSafe(am.update_without_returning(&txn)).catch_unwind().await;
    let update = update.expect("the audited update does not panic");
    assert!(update.as_ref().is_err_and(refused), "refused with the reason: {update:?}");
    txn.rollback().await.expect("rollback");
    h.db.flush().await.expect("flush");
    h.auditor.shutdown().await;

    let left = h.conn.query_one_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT note FROM offers WHERE id = 2 AND valid_until = 'infinity'",
    ));
    let left = left.await.expect("read row 2").expect("row 2 is still there");
    assert_eq!(left.try_get_by_index::<String>(0).expect("note"), "forever", "nothing was written");
    assert!(offers::Entity::find_by_id(1).one(&h.conn).await.expect("read row 1").is_none());
    let events = h.events();
    let recorded: Vec<(&str, &str)> = events.iter().map(|e| (e.action.as_str(), e.resource.id.as_str())).collect();
    assert_eq!(recorded, [("create", "1"), ("delete", "1")], "{events:#?}");
    assert_eq!(change(&events[1], "note"), Some((Some(json!("a")), None)));
    h.testdb.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_row_holding_infinity_is_refused_not_panicked_on_postgres() {
    let Some(testdb) = TestDb::open(Backend::Postgres, "infinite_times").await else { return };
    let cleanup = testdb.cleanup_handle();
    if let Err(panic) =
        std::panic::AssertUnwindSafe(a_row_holding_infinity_is_refused_not_panicked_on(testdb)).catch_unwind().await
    {
        cleanup.run().await;
        std::panic::resume_unwind(panic);
    }
}
