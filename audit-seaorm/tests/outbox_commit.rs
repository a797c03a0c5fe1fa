//! The outbox rows are written inside the transaction just before its `COMMIT`: values that
//! could end an SQL literal or start an escape come back exactly, on every backend; after an
//! audited commit the connection is outside any transaction; a `COMMIT` the server refuses
//! (a deferred constraint) records nothing and leaves no outbox row.

mod orm_common;

use orm_common::entities::{plain_users, users};
use orm_common::{Backend, Harness, TestDb, change, outbox_rows, plain_user, user};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, Set,
    TransactionTrait,
};

/// Text that breaks a literal written carelessly: quotes, backslashes (alone, doubled, at the
/// end), escape-string and dollar-quote syntax, control characters, non-ASCII.
const HOSTILE: [&str; 10] = [
    "it's",
    "back\\slash",
    "\\'; DROP TABLE users; --",
    "E'\\x41' $$ $tag$ done",
    "\"double\" \\n is not a newline",
    "tab\there, line\nbreak, CR\r",
    "\u{1a}\u{1b}\u{7f} controls",
    "😀 ünïcödé ß",
    "\\\\\\'\\''",
    "ends with a backslash \\",
];

/// Every hostile text, inserted and then updated in audited transactions (the outbox, the
/// default delivery), is in the table and in the sealed events exactly as written.
async fn hostile_text_round_trips(backend: Backend) {
    let Some(testdb) = TestDb::open(backend, "outbox_hostile").await else { return };
    let h = Harness::new(testdb).await;
    for (i, text) in HOSTILE.iter().enumerate() {
        let txn = h.db.begin().await.expect("begin");
        let inserted = user(&format!("{i}@example.com")).insert(&txn).await.expect("insert");
        let mut model: users::ActiveModel = inserted.into();
        model.name = Set(text.to_string());
        model.update(&txn).await.expect("update");
        txn.commit().await.unwrap_or_else(|e| panic!("commit of {text:?}: {e}"));
    }
    let rows = users::Entity::find().all(&h.conn).await.expect("rows");
    let names: Vec<&str> = rows.iter().map(|u| u.name.as_str()).collect();
    let events = h.events();
    let written: Vec<String> = events
        .iter()
        .filter(|e| e.action == "update")
        .filter_map(|e| change(e, "name").and_then(|(_, new)| new))
        .map(|v| v.as_str().expect("a string").to_string())
        .collect();
    let inserts = events.iter().filter(|e| e.action == "create").count();
    // The last transaction's outbox row waits for the next transaction to delete it.
    let left = outbox_rows(&h.conn, "audit_seaorm_outbox").await;
    h.finish().await;
    assert_eq!(names, HOSTILE, "the table holds the texts as written");
    assert_eq!(written, HOSTILE, "the events hold the texts as written");
    assert_eq!(inserts, HOSTILE.len());
    assert_eq!(left, 2, "the rows of all but the last transaction were deleted once sealed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_round_trips_postgres() {
    hostile_text_round_trips(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_round_trips_mysql() {
    hostile_text_round_trips(Backend::MySql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_text_round_trips_sqlite() {
    hostile_text_round_trips(Backend::Sqlite).await;
}

/// Whether a write on `conn` (plain, not audited) commits by itself, as in autocommit, and not
/// into a transaction left open: it is seen at once from `elsewhere`, another pool.
async fn runs_in_autocommit(conn: &DatabaseConnection, elsewhere: &DatabaseConnection, email: &str) -> bool {
    plain_user(email).insert(conn).await.expect("a plain insert");
    let seen = plain_users::Entity::find().filter(plain_users::Column::Email.eq(email)).count(elsewhere).await;
    seen.expect("count") == 1
}

/// After an audited commit the only connection of the pool is outside any transaction: the
/// next statement is a transaction of its own, the next audited transaction commits with its
/// event, and the committed row is seen from elsewhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connection_is_outside_a_transaction_after_the_commit() {
    let Some(testdb) = TestDb::open(Backend::Postgres, "outbox_after_commit").await else { return };
    let conn = testdb.connect_one().await;
    let h = Harness::with(testdb, |b| b).await;
    let store = h.store.clone();
    let db = audit_seaorm::orm::AuditedDb::builder(conn.clone(), h.auditor.clone(), store).build();

    let txn = db.begin().await.expect("begin");
    user("first@example.com").insert(&txn).await.expect("insert");
    txn.commit().await.expect("commit");
    let fresh_after_first = runs_in_autocommit(&conn, &h.conn, "probe1@example.com").await;
    let seen_elsewhere = users::Entity::find().count(&h.conn).await.expect("count");

    let txn = db.begin().await.expect("begin again");
    user("second@example.com").insert(&txn).await.expect("insert again");
    txn.commit().await.expect("commit again");
    let fresh_after_second = runs_in_autocommit(&conn, &h.conn, "probe2@example.com").await;

    let (rows, events) = h.committed_emails().await;
    let left = outbox_rows(&h.conn, "audit_seaorm_outbox").await;
    h.finish().await;
    assert!(fresh_after_first && fresh_after_second, "a statement after the commit ran in a transaction left open");
    assert_eq!(seen_elsewhere, 1, "the first commit is visible to other connections");
    assert_eq!(rows, ["first@example.com", "second@example.com"]);
    assert_eq!(events, rows, "each committed row has its event, once");
    assert_eq!(left, 1, "the first transaction's outbox row was deleted by the second, which left its own");
}

/// A `COMMIT` that PostgreSQL refuses (a deferred unique constraint, checked at commit) is an
/// error of the audited commit; nothing is committed, nothing recorded, no outbox row is
/// left, and the connection goes on outside any transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refused_commit_records_nothing() {
    let Some(testdb) = TestDb::open(Backend::Postgres, "outbox_refused_commit").await else { return };
    let conn = testdb.connect_one().await;
    let h = Harness::with(testdb, |b| b).await;
    let deferred = "ALTER TABLE users ADD CONSTRAINT users_email_once UNIQUE (email) DEFERRABLE INITIALLY DEFERRED";
    h.conn.execute_unprepared(deferred).await.expect("add the deferred constraint");
    let db = audit_seaorm::orm::AuditedDb::builder(conn.clone(), h.auditor.clone(), h.store.clone()).build();

    let txn = db.begin().await.expect("begin");
    user("twice@example.com").insert(&txn).await.expect("insert");
    user("twice@example.com").insert(&txn).await.expect("the check waits for COMMIT");
    let committed = txn.commit().await.map_err(|e| e.to_string());
    let fresh = runs_in_autocommit(&conn, &h.conn, "probe@example.com").await;

    let txn = db.begin().await.expect("begin after the refusal");
    user("once@example.com").insert(&txn).await.expect("insert after the refusal");
    txn.commit().await.expect("commit after the refusal");

    let (rows, events) = h.committed_emails().await;
    let left = outbox_rows(&h.conn, "audit_seaorm_outbox").await;
    h.finish().await;
    let error = committed.expect_err("the COMMIT is refused");
    assert!(error.contains("users_email_once"), "the error names the constraint: {error}");
    assert!(fresh, "a statement after the refused commit ran in a transaction left open");
    assert_eq!(rows, ["once@example.com"]);
    assert_eq!(events, rows, "the refused transaction recorded nothing");
    assert_eq!(left, 1, "only the committed transaction's outbox row");
}
