//! `StreamTrait` on the audited connection and transaction: `Entity::find().stream(&db)`
//! works as on a plain connection, a write sent as a stream is recorded, and a read that fails
//! inside a transaction is noted like any failed statement.

mod orm_common;

use futures_util::TryStreamExt;
use orm_common::entities::users;
use orm_common::{Harness, TestDb, user};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DbBackend, EntityTrait, QueryOrder, Statement, StreamTrait, TransactionTrait,
};
use serde_json::json;

async fn reads_stream_on_the_audited_connection_and_transaction(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    for email in ["a@x", "b@x", "c@x"] {
        user(email).insert(&h.db).await.expect("insert");
    }
    let emails = |rows: Vec<users::Model>| rows.into_iter().map(|u| u.email).collect::<Vec<_>>();
    let streamed = users::Entity::find().order_by_asc(users::Column::Id).stream(&h.db).await.expect("stream");
    assert_eq!(emails(streamed.try_collect().await.expect("rows")), ["a@x", "b@x", "c@x"]);

    let txn = h.db.begin().await.expect("begin");
    user("d@x").insert(&txn).await.expect("insert");
    {
        let streamed = users::Entity::find().order_by_asc(users::Column::Id).stream(&txn).await.expect("stream");
        assert_eq!(emails(streamed.try_collect().await.expect("rows")), ["a@x", "b@x", "c@x", "d@x"]);
    }
    txn.commit().await.expect("commit");
    let actions: Vec<String> = h.events().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["create"; 4], "reads record nothing");
    h.finish().await;
}
on_all_backends!(reads_stream_on_the_audited_connection_and_transaction);

fn insert_two(backend: DbBackend, returning: &str) -> Statement {
    let rows = "('s@x', 'n', 0, 0), ('t@x', 'n', 0, 0)";
    Statement::from_string(
        backend,
        format!("INSERT INTO users (email, name, score, updated_at) VALUES {rows}{returning}"),
    )
}

/// A raw write sent with `stream_raw` is a bulk write like any other: recorded with its row
/// count.
async fn a_write_sent_as_a_stream_is_recorded(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    let backend = h.db.get_database_backend();
    let rows: Vec<_> =
        h.db.stream_raw(insert_two(backend, "")).await.expect("stream").try_collect().await.expect("rows");
    assert!(rows.is_empty());
    let mut expected = vec![("bulk".to_string(), json!(2))];
    if h.db.support_returning() {
        let streamed = h.db.stream_raw(insert_two(backend, " RETURNING id")).await.expect("stream");
        let rows: Vec<_> = streamed.try_collect().await.expect("rows");
        assert_eq!(rows.len(), 2, "the rows it returned");
        expected.push(("bulk".to_string(), json!(2)));
    }
    let recorded: Vec<(String, serde_json::Value)> = h
        .events()
        .into_iter()
        .map(|e| (e.action, e.details.get("rows_affected").cloned().unwrap_or_default()))
        .collect();
    assert_eq!(recorded, expected);
    h.finish().await;
}
on_all_backends!(a_write_sent_as_a_stream_is_recorded);

async fn strict_mode_refuses_a_write_sent_as_a_stream(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.strict()).await;
    let refused = match h.db.stream_raw(insert_two(h.db.get_database_backend(), "")).await {
        Ok(_) => panic!("strict mode let a raw INSERT through"),
        Err(refused) => refused,
    };
    assert!(refused.to_string().contains("strict mode"), "{refused}");
    h.finish().await;
}
on_all_backends!(strict_mode_refuses_a_write_sent_as_a_stream);

/// A streamed read that fails inside a transaction: whatever the server did with the
/// transaction, the events recorded are the rows stored (PostgreSQL aborts the transaction,
/// and its commit must not record the insert it rolled back).
async fn a_failed_streamed_read_in_a_transaction_leaves_no_phantom_event(testdb: TestDb) {
    let h = Harness::with(testdb, |b| b.direct()).await;
    let txn = h.db.begin().await.expect("begin");
    user("a@x").insert(&txn).await.expect("insert");
    let missing = Statement::from_string(txn.get_database_backend(), "SELECT * FROM no_such_table");
    let read: Result<Vec<_>, _> = match txn.stream_raw(missing).await {
        Ok(stream) => stream.try_collect().await,
        Err(error) => Err(error),
    };
    assert!(read.is_err(), "the table does not exist");
    let _ = txn.commit().await; // refused where the transaction was rolled back

    h.auditor.shutdown().await;
    let stored: Vec<String> =
        users::Entity::find().all(&h.conn).await.expect("read").into_iter().map(|u| u.email).collect();
    let recorded: Vec<String> = h
        .events()
        .iter()
        .filter_map(|e| orm_common::change(e, "email").and_then(|(_, new)| new))
        .map(|email| email.as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(recorded, stored);
    h.finish().await;
}
on_all_backends!(a_failed_streamed_read_in_a_transaction_leaves_no_phantom_event);

/// MySQL rolls a deadlock victim's whole transaction back. When the statement that lost is a
/// streamed read (the error comes as an item of the stream), the victim's buffered events are
/// still not sealed, and its commit says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mysql_deadlock_lost_by_a_streamed_read_records_nothing() {
    let Some(testdb) = orm_common::TestDb::open(orm_common::Backend::MySql, "stream_deadlock").await else { return };
    let h = Harness::new(testdb).await;
    let a = user("a@x").insert(&h.db).await.expect("insert a");
    let b = user("b@x").insert(&h.db).await.expect("insert b");
    // t1 writes and holds a, t2 holds b; then each streams a locking read of the other's row.
    let t1 = h.db.begin().await.expect("begin t1");
    user("c@x").insert(&t1).await.expect("t1 inserts c");
    orm_common::stream_locking_read(&t1, a.id).await.expect("t1 locks a");
    let t2 = h.db.begin().await.expect("begin t2");
    user("d@x").insert(&t2).await.expect("t2 inserts d");
    orm_common::stream_locking_read(&t2, b.id).await.expect("t2 locks b");
    let first = tokio::spawn(async move {
        let result = orm_common::stream_locking_read(&t1, b.id).await;
        (t1, result)
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // t1 is waiting for b
    let second = orm_common::stream_locking_read(&t2, a.id).await;
    let (t1, first) = first.await.expect("task");

    let deadlocked = |r: &Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr>| {
        r.as_ref().is_err_and(|e| e.to_string().contains("Deadlock"))
    };
    let (victim, survivor) = match (deadlocked(&first), deadlocked(&second)) {
        (true, false) => (t1, t2),
        (false, true) => (t2, t1),
        other => panic!("exactly one deadlock victim expected, got {other:?}: {first:?} / {second:?}"),
    };
    let error = victim.commit().await.expect_err("nothing of it was committed");
    assert!(error.to_string().contains("nothing was recorded"), "{error}");
    survivor.commit().await.expect("the survivor commits");

    let stored: Vec<String> =
        users::Entity::find().all(&h.conn).await.expect("read").into_iter().map(|u| u.email).collect();
    let mut recorded: Vec<String> = h
        .events()
        .iter()
        .filter_map(|e| orm_common::change(e, "email").and_then(|(_, new)| new))
        .map(|email| email.as_str().unwrap_or_default().to_string())
        .collect();
    recorded.sort();
    let mut stored = stored;
    stored.sort();
    assert_eq!(stored.len(), 3, "a, b and the survivor's row: {stored:?}");
    assert_eq!(recorded, stored, "the victim's insert is not recorded");
    h.finish().await;
}
