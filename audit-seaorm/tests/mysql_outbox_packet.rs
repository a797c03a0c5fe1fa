//! MySQL/MariaDB with a small `max_allowed_packet` (4 MiB, MySQL 5.7's default): a transaction
//! whose events together exceed it still commits. The outbox wrote up to 200 events in one
//! `INSERT`, so 200 rows of 30 KB made a statement the server refused, and the transaction
//! could never commit while the same writes without auditing did.
//!
//! The test sets the server's global `max_allowed_packet` (a session cannot) and puts it back,
//! also when the body panics. Test files run one after another, so no other test connects
//! meanwhile.
#![allow(unreachable_pub)] // the test entity's derived items

mod orm_common;

use futures_util::FutureExt as _;
use orm_common::{Backend, Harness, TestDb};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, Schema, Set, TransactionTrait};

mod notes {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notes")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i32,
        #[sea_orm(column_type = "Text")]
        pub body: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    audit_seaorm::audited!(ActiveModel);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_transaction_whose_outbox_rows_exceed_the_packet_commits() {
    let Some(testdb) = TestDb::open(Backend::MySql, "my_outbox_packet").await else { return };
    let admin = testdb.connect().await;
    let row = admin
        .query_one_raw(sea_orm::Statement::from_string(sea_orm::DbBackend::MySql, "SELECT @@GLOBAL.max_allowed_packet"))
        .await
        .expect("read max_allowed_packet")
        .expect("a row");
    let original: u64 = row
        .try_get_by_index::<u64>(0)
        .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| u64::try_from(v).unwrap_or(16 << 20)))
        .expect("max_allowed_packet");
    admin.execute_unprepared("SET GLOBAL max_allowed_packet = 4194304").await.expect("set max_allowed_packet");
    let result = std::panic::AssertUnwindSafe(async {
        // New connections take the new value.
        let h = Harness::new(testdb).await;
        let schema = Schema::new(h.conn.get_database_backend());
        h.conn.execute(&schema.create_table_from_entity(notes::Entity)).await.expect("create notes");
        let txn = h.db.begin().await.expect("begin");
        for id in 0..200 {
            let body = format!("{id:05}").repeat(6_000); // 30 KB
            notes::ActiveModel { id: Set(id), body: Set(body) }.insert(&txn).await.expect("insert");
        }
        let committed = txn.commit().await.map_err(|e| e.to_string().chars().take(300).collect::<String>());
        let rows = notes::Entity::find().count(&h.conn).await.expect("count");
        h.db.flush().await.expect("flush");
        h.auditor.shutdown().await;
        let events = h.events().len();
        (committed, rows, events, h)
    })
    .catch_unwind()
    .await;
    admin.execute_unprepared(&format!("SET GLOBAL max_allowed_packet = {original}")).await.expect("restore");
    let (committed, rows, events, h) = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    h.testdb.cleanup().await;
    assert!(committed.is_ok(), "{committed:?}");
    assert_eq!((rows, events), (200, 200), "every row committed, every event sealed");
}
