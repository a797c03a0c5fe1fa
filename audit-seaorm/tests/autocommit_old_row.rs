//! On the autocommit connection the hooks read a row's old values without a row lock: it
//! would end with the read itself, and on PostgreSQL make that read a transaction of its own
//! that waits for a WAL flush. (A file of its own: the test counts PostgreSQL's transaction
//! ids, which other tests running beside it would take too.)

mod orm_common;

use orm_common::entities::users;
use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, IntoActiveModel, Set, Statement};

/// Autocommit on PostgreSQL: an audited update takes as many transaction ids as a plain one
/// (the UPDATE's own); a locking read before it would take one more, and wait for a WAL flush.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_autocommit_update_reads_the_old_row_without_a_transaction_of_its_own() {
    let Some(testdb) = TestDb::open(Backend::Postgres, "old_row_autocommit").await else { return };
    let h = Harness::new(testdb).await;
    let row = user("a@x").insert(&h.db).await.expect("insert");
    let xid = || async {
        let sql = Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT pg_current_xact_id()::text::bigint");
        let row = h.conn.query_one_raw(sql).await.expect("xid").expect("a row");
        row.try_get_by_index::<i64>(0).expect("an xid")
    };

    let before = xid().await;
    let mut am = row.clone().into_active_model();
    am.score = Set(5);
    let updated: users::Model = am.update(&h.db).await.expect("audited update");
    let after = xid().await;
    assert_eq!(after - before, 2, "the UPDATE's id and the second xid query's own: no locking read in between");
    assert_eq!(updated.score, 5);

    let events = h.events();
    assert_eq!(orm_common::change(&events[1], "score"), Some((Some(serde_json::json!(0)), Some(serde_json::json!(5)))));
    h.finish().await;
}
