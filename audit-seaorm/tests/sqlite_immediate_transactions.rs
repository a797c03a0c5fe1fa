//! SQLite: an audited transaction begins `IMMEDIATE` unless told otherwise, so a transaction
//! that reads a row and then writes it is not refused (`SQLITE_BUSY_SNAPSHOT`) because another
//! connection wrote in between: the other writer waits for the lock instead, and the old
//! value the hooks record is the one the transaction read.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Backend, Harness, TestDb, change, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, TransactionTrait};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_read_then_write_is_not_refused_for_a_write_in_between() {
    let Some(testdb) = TestDb::open(Backend::Sqlite, "sqlite_immediate").await else { return };
    let h = Harness::new(testdb).await;
    let id = user("reader@example.com").insert(&h.db).await.expect("insert").id;

    let txn = h.db.begin().await.expect("begin");
    let read = users::Entity::find_by_id(id).one(&txn).await.expect("read").expect("the row");
    // Another connection (another pool: the test's pool may hold one) writes the same row
    // meanwhile, in autocommit, not audited: with the write lock taken at BEGIN it waits;
    // without it, it would commit now and the transaction's write below would be refused.
    let other = h.testdb.connect().await;
    let writer =
        tokio::spawn(
            async move { other.execute_unprepared(&format!("UPDATE users SET score = 99 WHERE id = {id}")).await },
        );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let waited = !writer.is_finished();
    let mut model: users::ActiveModel = read.clone().into();
    model.score = Set(read.score + 1);
    let updated = model.update(&txn).await.map_err(|e| e.to_string());
    let committed = match updated {
        Ok(_) => txn.commit().await.map_err(|e| e.to_string()),
        Err(e) => {
            drop(txn); // rolled back: the pool gets its connection back for the checks below
            Err(e)
        }
    };
    let other_write = writer.await.expect("the writer task").map_err(|e| e.to_string());
    let final_score = users::Entity::find_by_id(id).one(&h.conn).await.expect("read back").expect("row").score;
    let events = h.events();
    h.finish().await;

    assert_eq!(committed, Ok(()), "the read-then-write transaction was refused");
    assert!(waited, "the other connection wrote while the audited transaction held its snapshot");
    assert!(other_write.is_ok(), "the other writer got the lock after the commit: {other_write:?}");
    assert_eq!(final_score, 99, "the other write came after the transaction");
    let update = events.iter().find(|e| e.action == "update").expect("the update's event");
    let (old, new) = change(update, "score").expect("score changed");
    assert_eq!((old, new), (Some(serde_json::json!(read.score)), Some(serde_json::json!(read.score + 1))));
}
