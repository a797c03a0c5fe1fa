//! A transaction the database rolled back inside an audited bulk helper (`orm::bulk`, whose
//! statements run on the transaction underneath the wrapper) is noted as after a hooked write:
//! it records nothing, even if `commit()` is called, and takes no more statements (which would
//! run outside any transaction and commit at once, without their events).

mod orm_common;

use audit_seaorm::orm::bulk;
use orm_common::entities::users;
use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, PaginatorTrait, TransactionTrait};

async fn sqlite_rolls_back_bad_emails(h: &Harness) {
    h.conn
        .execute_unprepared(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON users WHEN NEW.email = 'bad@x' \
             BEGIN SELECT RAISE(ROLLBACK, 'bad email'); END",
        )
        .await
        .expect("create the trigger");
}

/// The same scenario as rollback.rs's
/// `a_transaction_sqlite_rolled_back_records_nothing_and_takes_no_more_statements`, with the
/// failing insert made by `bulk::insert_many` instead of `ActiveModel::insert`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_sqlite_rolled_back_in_a_bulk_helper_records_nothing() {
    let Some(testdb) = TestDb::open(Backend::Sqlite, "bulk_rb").await else { return };
    let h = Harness::new(testdb).await;
    sqlite_rolls_back_bad_emails(&h).await;

    let txn = h.db.begin().await.expect("begin");
    user("good@x").insert(&txn).await.expect("insert good");
    let error = bulk::insert_many(&txn, [user("bad@x")]).await.expect_err("the trigger refuses it");
    assert!(error.to_string().contains("bad email"), "{error}");
    // As in the hooked case, the application calls commit() anyway.
    let committed = txn.commit().await;
    eprintln!("commit() returned: {committed:?}");

    let rows = users::Entity::find().count(&h.conn).await.expect("count");
    assert_eq!(rows, 0, "SQLite rolled good@x back");
    let recovered = h.db.recover_outbox().await.expect("recover");
    eprintln!("recovery: {recovered:?}");
    let events = h.events();
    assert!(
        events.is_empty(),
        "no row was committed, yet {} event(s) are in the chain: {:?}",
        events.len(),
        events.iter().map(|e| (&e.action, &e.resource)).collect::<Vec<_>>()
    );
    assert_eq!(recovered, audit_seaorm::orm::Recovery::default(), "nothing reached the outbox");
    h.finish().await;
}

/// After the same failure, a statement sent through the transaction is refused (as after a
/// hooked write's failure): it would run outside any transaction and commit at once, while its
/// event waits in the transaction's buffer for the rollback to drop it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_after_a_bulk_helper_sqlite_rolled_back_is_refused() {
    let Some(testdb) = TestDb::open(Backend::Sqlite, "bulk_rb2").await else { return };
    let h = Harness::new(testdb).await;
    sqlite_rolls_back_bad_emails(&h).await;

    let txn = h.db.begin().await.expect("begin");
    bulk::insert_many(&txn, [user("bad@x")]).await.expect_err("the trigger refuses it");
    let after = user("after@x").insert(&txn).await;
    eprintln!("insert after the failure: {after:?}");
    let rolled = txn.rollback().await;
    eprintln!("rollback() returned: {rolled:?}");

    let rows = users::Entity::find().count(&h.conn).await.expect("count");
    let events = h.events();
    eprintln!("rows committed: {rows}, events: {}", events.len());
    assert!(after.is_err(), "the write after SQLite rolled the transaction back should be refused");
    assert_eq!(rows as usize, events.len(), "every committed row has its event");
    h.finish().await;
}

/// The same on MySQL: a deadlock met by `bulk::update_many` inside a transaction rolls the
/// whole transaction back (hooked writes before it included): nothing of it is recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mysql_deadlock_in_a_bulk_helper_records_nothing() {
    use sea_orm::{ColumnTrait, Condition, ExprTrait, Set, sea_query::Expr};
    let Some(testdb) = TestDb::open(Backend::MySql, "bulk_deadlock").await else { return };
    let h = Harness::new(testdb).await;
    let a = user("a@x").insert(&h.db).await.expect("insert a");
    let b = user("b@x").insert(&h.db).await.expect("insert b");

    // t1 (audited) holds a; t2 (plain, made heavier so that InnoDB picks t1 as the victim)
    // holds b and waits for a; then t1's bulk helper asks for b.
    let t1 = h.db.begin().await.expect("begin t1");
    let mut am: users::ActiveModel = a.clone().into();
    am.score = Set(1);
    am.update(&t1).await.expect("t1 updates a");
    let t2 = h.conn.begin().await.expect("begin t2");
    for n in 0..50 {
        t2.execute_unprepared(&format!(
            "INSERT INTO plain_users (email, name, score, updated_at) VALUES ('p{n}', 'n', 0, 0)"
        ))
        .await
        .expect("t2 writes");
    }
    t2.execute_unprepared(&format!("UPDATE users SET score = 2 WHERE id = {}", b.id)).await.expect("t2 holds b");
    let a_id = a.id;
    let waiting = tokio::spawn(async move {
        let result = t2.execute_unprepared(&format!("UPDATE users SET score = 20 WHERE id = {a_id}")).await;
        (t2, result)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // t2 waits for a
    let bulk = bulk::update_many::<users::Entity, _>(&t1, Condition::all().add(users::Column::Id.eq(b.id)), |u| {
        u.col_expr(users::Column::Score, Expr::col(users::Column::Score).add(100))
    })
    .await;
    eprintln!("t1's bulk helper: {:?}", bulk.as_ref().map(|rows| rows.len()));
    let (t2, second) = waiting.await.expect("task");
    eprintln!("t2's update: {:?}", second.as_ref().map(|r| r.rows_affected()));
    assert!(
        bulk.as_ref().is_err_and(|e| e.to_string().contains("Deadlock")),
        "setup: t1 should be the deadlock victim: {:?}",
        bulk.as_ref().err()
    );
    t2.commit().await.expect("t2 commits");

    // The application calls commit() anyway, as in rollback.rs's deadlock test.
    let committed = t1.commit().await;
    eprintln!("t1.commit(): {committed:?}");
    let a_now = users::Entity::find_by_id(a.id).one(&h.conn).await.expect("read a").expect("a");
    let events = h.events();
    let t1_update: Vec<_> = events
        .iter()
        .filter(|e| {
            e.action == "update" && orm_common::change(e, "score").is_some_and(|c| c.1 == Some(serde_json::json!(1)))
        })
        .collect();
    eprintln!("a's score now: {}; events: {:?}", a_now.score, events.iter().map(|e| &e.action).collect::<Vec<_>>());
    assert!(
        t1_update.is_empty(),
        "t1's update of a (score 1) was rolled back by the deadlock (a's score is {}), yet its event is in the chain",
        a_now.score
    );
    assert!(committed.is_err(), "commit() of a transaction MySQL rolled back must fail");
    h.finish().await;
}

/// MySQL variant of `a_write_after_a_bulk_helper_sqlite_rolled_back_is_refused`:
/// after the deadlock in the bulk helper, writes through t1 are refused (they would run in
/// autocommit and commit at once, and t1's rollback would drop their events).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_after_a_mysql_deadlock_in_a_bulk_helper_are_refused() {
    use sea_orm::{ColumnTrait, Condition, ExprTrait, Set, sea_query::Expr};
    let Some(testdb) = TestDb::open(Backend::MySql, "bulk_deadlock2").await else { return };
    let h = Harness::new(testdb).await;
    let a = user("a@x").insert(&h.db).await.expect("insert a");
    let b = user("b@x").insert(&h.db).await.expect("insert b");

    // t1 (audited) holds a; t2 (plain, made heavier so that InnoDB picks t1 as the victim)
    // holds b and waits for a; then t1's bulk helper asks for b.
    let t1 = h.db.begin().await.expect("begin t1");
    let mut am: users::ActiveModel = a.clone().into();
    am.score = Set(1);
    am.update(&t1).await.expect("t1 updates a");
    let t2 = h.conn.begin().await.expect("begin t2");
    for n in 0..50 {
        t2.execute_unprepared(&format!(
            "INSERT INTO plain_users (email, name, score, updated_at) VALUES ('p{n}', 'n', 0, 0)"
        ))
        .await
        .expect("t2 writes");
    }
    t2.execute_unprepared(&format!("UPDATE users SET score = 2 WHERE id = {}", b.id)).await.expect("t2 holds b");
    let a_id = a.id;
    let waiting = tokio::spawn(async move {
        let result = t2.execute_unprepared(&format!("UPDATE users SET score = 20 WHERE id = {a_id}")).await;
        (t2, result)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await; // t2 waits for a
    let bulk = bulk::update_many::<users::Entity, _>(&t1, Condition::all().add(users::Column::Id.eq(b.id)), |u| {
        u.col_expr(users::Column::Score, Expr::col(users::Column::Score).add(100))
    })
    .await;
    eprintln!("t1's bulk helper: {:?}", bulk.as_ref().map(|rows| rows.len()));
    let (t2, second) = waiting.await.expect("task");
    eprintln!("t2's update: {:?}", second.as_ref().map(|r| r.rows_affected()));
    assert!(
        bulk.as_ref().is_err_and(|e| e.to_string().contains("Deadlock")),
        "setup: t1 should be the deadlock victim: {:?}",
        bulk.as_ref().err()
    );
    t2.commit().await.expect("t2 commits");

    // The application goes on writing through t1 (a fallback), then rolls back.
    let first = user("after1@x").insert(&t1).await;
    let second = user("after2@x").insert(&t1).await;
    eprintln!(
        "inserts through t1 after the deadlock: {:?} / {:?}",
        first.as_ref().map(|m| m.id),
        second.as_ref().map(|m| m.id)
    );
    for refused in [&first, &second] {
        let message = refused.as_ref().expect_err("refused after the deadlock").to_string();
        assert!(message.contains("rolled this transaction back"), "{message}");
    }
    let rolled = t1.rollback().await;
    eprintln!("t1.rollback(): {rolled:?}");
    let rows: Vec<String> =
        users::Entity::find().all(&h.conn).await.expect("rows").into_iter().map(|u| u.email).collect();
    let events = h.events();
    let creates: Vec<_> = events
        .iter()
        .filter(|e| e.action == "create")
        .filter_map(|e| orm_common::change(e, "email").and_then(|c| c.1))
        .collect();
    eprintln!("rows: {rows:?}; create events: {creates:?}");
    assert_eq!(
        rows.len(),
        creates.len(),
        "every committed row has its create event: rows {rows:?}, events {creates:?}"
    );
    h.finish().await;
}
