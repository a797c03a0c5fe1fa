//! MySQL and MariaDB commit the open transaction before data definition and a few other
//! statements (`CREATE TABLE`, `TRUNCATE`, `LOCK TABLES`, `SET autocommit = 1`, …). Sent through
//! an audited transaction, such a statement would make the transaction's changes durable
//! while their events wait for its commit, and a later rollback would drop the events of
//! committed changes. So it is refused there before it runs; on the audited connection outside
//! a transaction it runs (each statement commits on its own anyway). PostgreSQL and SQLite run
//! data definition inside the transaction: it runs, and rolls back with it.

mod orm_common;

use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, TransactionTrait};

const CREATE: &str = "CREATE TABLE scratch (a INT)";

/// Statements MySQL and MariaDB precede with an implicit `COMMIT`.
const COMMITTING: [&str; 7] = [
    CREATE,
    "TRUNCATE TABLE plain_users",
    "LOCK TABLES users WRITE",
    "SET autocommit = 1",
    "/* why */ DROP TABLE labels",
    "SELECT 1; ALTER TABLE labels ADD COLUMN b INT",
    "SET STATEMENT max_statement_time = 10 FOR CREATE INDEX scratch_i ON labels (id)",
];

async fn data_definition_in_a_transaction(testdb: TestDb) {
    let backend = testdb.backend;
    let h = Harness::new(testdb).await;

    let txn = h.db.begin().await.expect("begin");
    user("a@x").insert(&txn).await.expect("insert");
    let mut results = Vec::new();
    if backend == Backend::MySql {
        for sql in COMMITTING {
            results.push((sql, txn.execute_unprepared(sql).await));
        }
        // A temporary table belongs to the session: no commit, so it runs.
        txn.execute_unprepared("CREATE TEMPORARY TABLE scratch_tmp (a INT)").await.expect("a temporary table");
        txn.execute_unprepared("DROP TEMPORARY TABLE scratch_tmp").await.expect("drop a temporary table");
    } else {
        txn.execute_unprepared(CREATE).await.expect("data definition is part of the transaction");
    }
    txn.rollback().await.expect("rollback");

    // The trail agrees with the table: nothing was committed, nothing recorded.
    assert_eq!(h.committed_emails().await, (vec![], vec![]), "rows and events after the rollback");
    assert!(h.events().is_empty(), "{:?}", h.events());
    for (sql, result) in results {
        let error = result.expect_err(sql).to_string();
        assert!(error.contains("implicit COMMIT"), "{sql}: {error}");
        assert!(error.contains("outside the transaction"), "says what to do instead: {error}");
    }

    // Outside a transaction data definition runs (on MySQL the refused CREATE never ran; on the
    // others it was rolled back), and it is no row write: no event.
    h.db.execute_unprepared(CREATE).await.expect("CREATE TABLE on the audited connection");
    h.db.execute_unprepared("DROP TABLE scratch").await.expect("DROP TABLE on the audited connection");
    assert!(h.events().is_empty(), "{:?}", h.events());
    h.finish().await;
}
on_all_backends!(data_definition_in_a_transaction);

/// In strict mode the refusal is the same (not strict mode's "bypasses the audit hooks"), and a
/// savepoint is a transaction too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_in_strict_mode_and_in_a_savepoint() {
    let Some(testdb) = TestDb::open(Backend::MySql, "implicit_commit_strict").await else { return };
    let h = Harness::with(testdb, |b| b.strict()).await;
    let txn = h.db.begin().await.expect("begin");
    let savepoint = txn.begin().await.expect("savepoint");
    user("a@x").insert(&savepoint).await.expect("insert");
    let truncate = savepoint.execute_unprepared("TRUNCATE TABLE users").await;
    savepoint.commit().await.expect("release");
    txn.rollback().await.expect("rollback");
    assert_eq!(h.committed_emails().await, (vec![], vec![]), "rows and events after the rollback");
    let error = truncate.expect_err("TRUNCATE in a savepoint").to_string();
    assert!(error.contains("implicit COMMIT"), "{error}");
    h.finish().await;
}

/// On the audited connection outside a transaction, `SET autocommit = 0` (or `completion_type`
/// CHAIN) is refused: it ran, and the pooled connection's later writes, each recorded at once
/// as committed, stayed in a transaction no one committed, lost when the connection closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_the_commit_mode_is_refused_outside_a_transaction() {
    let Some(testdb) = TestDb::open(Backend::MySql, "set_autocommit").await else { return };
    let h = Harness::new(testdb).await;
    for sql in ["SET autocommit = 0", "SET SESSION completion_type = 'CHAIN'", "SET @@autocommit = OFF"] {
        let error = h.db.execute_unprepared(sql).await.expect_err(sql).to_string();
        assert!(error.contains("changes when MySQL and MariaDB commit"), "{sql}: {error}");
    }
    user("a@x").insert(&h.db).await.expect("insert");
    // Seen from another session: committed, as its event says.
    let other = h.testdb.connect().await;
    let row = other
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::MySql,
            "SELECT COUNT(*) FROM users WHERE email = 'a@x'".to_string(),
        ))
        .await
        .expect("count")
        .expect("a row");
    assert_eq!(row.try_get_by_index::<i64>(0).expect("count"), 1, "the audited insert is committed");
    assert_eq!(h.events().len(), 1, "{:?}", h.events());
    other.close().await.expect("close");
    h.finish().await;
}

/// Streams `sql` on `conn` to the end.
async fn stream<C: sea_orm::StreamTrait>(conn: &C, sql: &str) -> Result<(), sea_orm::DbErr> {
    orm_common::stream_all(conn, sea_orm::Statement::from_string(sea_orm::DbBackend::MySql, sql)).await.map(drop)
}

/// The same refusals when the statement is streamed (`StreamTrait::stream_raw`, as
/// `Entity::find().stream()` sends its SQL): such a statement writes no row, so it went to the
/// server unchecked; a `CREATE TABLE` committed the transaction's insert, whose event the
/// rollback then dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_statements_are_refused_the_same() {
    let Some(testdb) = TestDb::open(Backend::MySql, "implicit_commit_stream").await else { return };
    let h = Harness::new(testdb).await;

    let txn = h.db.begin().await.expect("begin");
    user("a@x").insert(&txn).await.expect("insert");
    let create = stream(&txn, CREATE).await;
    txn.rollback().await.expect("rollback");
    assert_eq!(h.committed_emails().await, (vec![], vec![]), "rows and events after the rollback");
    let error = create.expect_err("CREATE TABLE streamed in a transaction").to_string();
    assert!(error.contains("implicit COMMIT"), "{error}");

    let error = stream(&h.db, "SET autocommit = 0").await.expect_err("SET autocommit streamed").to_string();
    assert!(error.contains("changes when MySQL and MariaDB commit"), "{error}");
    h.finish().await;
}
