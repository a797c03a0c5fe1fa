//! Nothing is recorded for writes that did not commit: explicit rollback, an error in a
//! `transaction(..)` callback, a transaction dropped without commit, and a failed write
//! inside a transaction that goes on and commits (only the successful writes are recorded).

mod orm_common;

use orm_common::entities::{memberships, users};
use orm_common::{Backend, Harness, TestDb, change, user};
use sea_orm::{ActiveModelTrait, DbErr, EntityTrait, PaginatorTrait, Set, TransactionTrait};
use serde_json::json;

async fn uncommitted_writes_record_nothing(testdb: TestDb) {
    let backend = testdb.backend;
    let h = Harness::new(testdb).await;

    // Explicit rollback.
    let txn = h.db.begin().await.expect("begin");
    user("rolled@back").insert(&txn).await.expect("insert");
    txn.rollback().await.expect("rollback");

    // An error from the callback of transaction(..).
    let result =
        h.db.transaction::<_, (), DbErr>(|txn| {
            Box::pin(async move {
                user("callback@error").insert(txn).await?;
                Err(DbErr::Custom("the handler failed".into()))
            })
        })
        .await;
    assert!(result.is_err());

    // Dropped without commit.
    {
        let txn = h.db.begin().await.expect("begin");
        user("dropped@txn").insert(&txn).await.expect("insert");
        drop(txn);
    }

    assert!(h.events().is_empty(), "{:#?}", h.events());
    assert_eq!(users::Entity::find().count(&h.conn).await.expect("count"), 0);

    // A transaction that commits afterwards records only its own writes.
    let txn = h.db.begin().await.expect("begin");
    let kept = user("kept@txn").insert(&txn).await.expect("insert");
    txn.commit().await.expect("commit");
    let events = h.events();
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(change(&events[0], "email"), Some((None, Some(json!("kept@txn")))));
    assert_eq!(events[0].resource.id, kept.id.to_string());

    // A failed write inside a transaction: the hooks record in after_*, which does not run.
    let txn = h.db.begin().await.expect("begin");
    memberships::ActiveModel { user_id: Set(1), org: Set("acme".into()), role: Set("a".into()) }
        .insert(&txn)
        .await
        .expect("first insert");
    let duplicate =
        memberships::ActiveModel { user_id: Set(1), org: Set("acme".into()), role: Set("b".into()) }.insert(&txn).await;
    assert!(duplicate.is_err(), "duplicate key");
    let committed = txn.commit().await;
    let events = h.events();
    if backend == Backend::Postgres {
        // PostgreSQL aborted the transaction at the failed statement; COMMIT rolls it back.
        assert!(committed.is_err(), "commit of an aborted transaction reports it");
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(memberships::Entity::find().count(&h.conn).await.expect("count"), 0);
    } else {
        committed.expect("SQLite and MySQL keep the transaction usable");
        assert_eq!(events.len(), 2, "{events:#?}");
        assert_eq!(events[1].resource.id, r#"[1,"acme"]"#);
        assert_eq!(change(&events[1], "role"), Some((None, Some(json!("a")))), "the failed write is not recorded");
    }
    h.finish().await;
}
on_all_backends!(uncommitted_writes_record_nothing);

/// MySQL rolls a deadlock victim's whole transaction back. Its buffered events must not be
/// sealed even if the application ignores the error and commits, and a later statement
/// through it (which would run on its own, in autocommit) is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_mysql_deadlock_victim_records_nothing_and_takes_no_more_statements() {
    let Some(testdb) = TestDb::open(Backend::MySql, "deadlock").await else { return };
    let h = Harness::new(testdb).await;
    let a = user("a@x").insert(&h.db).await.expect("insert a");
    let b = user("b@x").insert(&h.db).await.expect("insert b");
    let update = |row: &users::Model, score: i32| {
        let mut am: users::ActiveModel = row.clone().into();
        am.score = Set(score);
        am
    };

    // t1 holds a, t2 holds b; then each asks for the other's row.
    let t1 = h.db.begin().await.expect("begin t1");
    update(&a, 1).update(&t1).await.expect("t1 updates a");
    let t2 = h.db.begin().await.expect("begin t2");
    update(&b, 2).update(&t2).await.expect("t2 updates b");
    let first = tokio::spawn({
        let b = b.clone();
        async move {
            let result = update(&b, 10).update(&t1).await.map(|_| ());
            (t1, result)
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // t1 is waiting for b
    let second = update(&a, 20).update(&t2).await.map(|_| ());
    let (t1, first) = first.await.expect("task");

    let deadlocked = |r: &Result<(), DbErr>| r.as_ref().is_err_and(|e| e.to_string().contains("Deadlock"));
    let (victim, survivor) = match (deadlocked(&first), deadlocked(&second)) {
        (true, false) => (t1, t2),
        (false, true) => (t2, t1),
        other => panic!("exactly one deadlock victim expected, got {other:?}: {first:?} / {second:?}"),
    };
    let refused = user("after@deadlock").insert(&victim).await.expect_err("the victim's transaction is over");
    assert!(refused.to_string().contains("rolled this transaction back"), "{refused}");
    let error = victim.commit().await.expect_err("nothing of it was committed");
    assert!(error.to_string().contains("nothing was recorded"), "{error}");
    survivor.commit().await.expect("the survivor commits");

    let events = h.events();
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["create", "create", "update", "update"], "the survivor's two updates only: {events:#?}");
    assert_eq!(users::Entity::find().count(&h.conn).await.expect("count"), 2, "after@deadlock was not written");
    h.finish().await;
}

/// A trigger that makes SQLite roll the whole transaction back (`RAISE(ROLLBACK)`) when a
/// user with the email `bad@x` is inserted.
async fn sqlite_rolls_back_bad_emails(h: &Harness) {
    use sea_orm::ConnectionTrait;
    h.conn
        .execute_unprepared(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON users WHEN NEW.email = 'bad@x' \
             BEGIN SELECT RAISE(ROLLBACK, 'bad email'); END",
        )
        .await
        .expect("create the trigger");
}

/// SQLite rolls the whole transaction back on some statement errors (here `RAISE(ROLLBACK)` in
/// a trigger; `SQLITE_FULL` and I/O errors do the same) without saying so in the error. Its
/// buffered events must not be recorded, not even through the outbox (whose insert would
/// otherwise run, and commit, on its own), and a later statement through it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_sqlite_rolled_back_records_nothing_and_takes_no_more_statements() {
    let Some(testdb) = TestDb::open(Backend::Sqlite, "sqlite_rollback").await else { return };
    let h = Harness::new(testdb).await;
    sqlite_rolls_back_bad_emails(&h).await;

    let txn = h.db.begin().await.expect("begin");
    user("good@x").insert(&txn).await.expect("insert good");
    let error = user("bad@x").insert(&txn).await.expect_err("the trigger refuses it");
    assert!(error.to_string().contains("bad email"), "{error}");
    let refused = user("after@x").insert(&txn).await.expect_err("the transaction is over");
    assert!(refused.to_string().contains("rolled this transaction back"), "{refused}");
    let error = txn.commit().await.expect_err("nothing of it was committed");
    assert!(error.to_string().contains("nothing was recorded"), "{error}");

    assert_eq!(users::Entity::find().count(&h.conn).await.expect("count"), 0, "no row was written");
    let recovered = h.db.recover_outbox().await.expect("recover");
    assert_eq!(recovered, audit_seaorm::orm::Recovery::default(), "nothing reached the outbox");
    assert!(h.events().is_empty(), "{:#?}", h.events());

    // The pooled connection is usable afterwards.
    let txn = h.db.begin().await.expect("begin again");
    user("next@x").insert(&txn).await.expect("insert");
    txn.commit().await.expect("commit");
    assert_eq!(h.events().len(), 1);
    h.finish().await;
}

/// The same inside a savepoint: once SQLite has rolled everything back, rolling back the
/// savepoint and the transaction leaves their pooled connection outside any transaction, so
/// the next writes through the pool commit (a transaction left open on it would swallow them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_savepoint_sqlite_rolled_back_leaves_its_connection_clean() {
    use sea_orm::Database;
    let Some(testdb) = TestDb::open(Backend::Sqlite, "sqlite_savepoint_rollback").await else { return };
    let h = Harness::new(testdb).await;
    sqlite_rolls_back_bad_emails(&h).await;

    let outer = h.db.begin().await.expect("begin");
    user("good@x").insert(&outer).await.expect("insert good");
    let inner = outer.begin().await.expect("savepoint");
    user("bad@x").insert(&inner).await.expect_err("the trigger refuses it");
    inner.rollback().await.expect("roll the savepoint back");
    outer.rollback().await.expect("roll the transaction back");

    // Every connection of the pool (two) writes once; each write must be visible elsewhere.
    for n in 0..4 {
        user(&format!("after{n}@x")).insert(&h.db).await.expect("autocommit insert");
        let txn = h.db.begin().await.expect("begin");
        user(&format!("txn{n}@x")).insert(&txn).await.expect("insert");
        txn.commit().await.expect("commit");
    }
    let elsewhere = Database::connect(h.testdb.url()).await.expect("a separate connection");
    let rows = users::Entity::find().count(&elsewhere).await.expect("count");
    assert_eq!(rows, 8, "every write after the rollback committed");
    assert_eq!(h.events().len(), 8);
    h.finish().await;
}
