//! Statements that hide a write from a reader of SQL that does not read it as the server does
//! (dollar-quote tags beyond ASCII, `DO E'…'`, `SEARCH`/`CYCLE` columns named `of` or `key`,
//! `standard_conforming_strings = off`, MariaDB's `SET STATEMENT … FOR`, `$a$` identifiers
//! and `NO_BACKSLASH_ESCAPES`): through a strict `AuditedDb` each is refused before it runs
//! (the rows are still there) and nothing is recorded.

mod orm_common;

use orm_common::{Backend, Harness, TestDb};
use sea_orm::{ConnectionTrait, DatabaseConnection};

async fn strict(backend: Backend, name: &str) -> Option<Harness> {
    let db = TestDb::open(backend, name).await?;
    let h = Harness::with(db, |b| b.strict()).await;
    // Three rows written on the plain connection (no events).
    h.conn
        .execute_unprepared("INSERT INTO users (email, name, score, updated_at) VALUES ('a@x','a',0,0), ('b@x','b',0,0), ('c@x','c',0,0)")
        .await
        .expect("seed rows (unaudited)");
    Some(h)
}

async fn count(conn: &DatabaseConnection, sql: &str) -> i64 {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), sql.to_string()))
        .await
        .expect("count")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}

/// Sends `sql` through the strict audited connection (autocommit) and checks the promise:
/// refused before it ran (an error, the rows unchanged: an error alone proves nothing, a
/// text of several statements can fail after a write in it ran) and nothing recorded.
async fn assert_refused(h: &Harness, sql: &str, check: &str, before: i64) {
    let result = h.db.execute_unprepared(sql).await;
    let after = count(&h.conn, check).await;
    let events = h.events();
    assert!(
        result.is_err() && events.is_empty() && after == before,
        "strict mode let a write through silently: {sql:?}\n  result: {:?}\n  `{check}`: {before} -> {after}\n  events: {}",
        result.map(|r| r.rows_affected()),
        events.len()
    );
}

const ROWS: &str = "SELECT COUNT(*) FROM users";

// ---- PostgreSQL ------------------------------------------------------------------------

/// A dollar-quote tag may hold any identifier character, non-ASCII letters included
/// (`$é$ … $é$`); a reader taking only ASCII tags reads the `'` inside the dollar-quoted
/// string as the start of a string literal that swallows the DELETE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_dollar_quote_with_non_ascii_tag_hides_a_delete() {
    let Some(h) = strict(Backend::Postgres, "rv_dollar_tag").await else { return };
    assert_refused(&h, "SELECT $é$ ' $é$; DELETE FROM users; -- '", ROWS, 3).await;
    h.finish().await;
}

/// `DO E'…'`: the code block given as an escape string. A reader taking `E` for a word finds
/// no literal after `DO` and takes it for MySQL's `DO expression`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_do_with_escape_string_body_is_not_seen() {
    let Some(h) = strict(Backend::Postgres, "rv_do_estring").await else { return };
    assert_refused(&h, "DO E'BEGIN DELETE FROM users; END'", ROWS, 3).await;
    h.finish().await;
}

/// A recursive CTE's `SEARCH … SET <column>` clause ends right before the main statement; a
/// column named `of` (an unreserved word in PostgreSQL) must not make the reader take the
/// main statement's DELETE for part of a clause and skip it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cte_search_clause_hides_the_main_delete() {
    let Some(h) = strict(Backend::Postgres, "rv_cte_search").await else { return };
    let sql = "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n < 2) \
               SEARCH DEPTH FIRST BY n SET of DELETE FROM users";
    assert_refused(&h, sql, ROWS, 3).await;
    h.finish().await;
}

/// The same with `CYCLE … USING key` (`key` is unreserved too): an UPDATE of every row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cte_cycle_clause_hides_the_main_update() {
    let Some(h) = strict(Backend::Postgres, "rv_cte_cycle").await else { return };
    let sql = "WITH RECURSIVE x(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM x WHERE n < 2) \
               CYCLE n SET c USING key UPDATE users SET score = 99";
    assert_refused(&h, sql, "SELECT COUNT(*) FROM users WHERE score = 0", 3).await;
    h.finish().await;
}

// ---- MariaDB ---------------------------------------------------------------------------

/// MariaDB's `SET STATEMENT var = value FOR <statement>` runs the statement: not a plain `SET`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_set_statement_for_delete_is_not_seen() {
    let Some(h) = strict(Backend::MySql, "rv_set_statement").await else { return };
    assert_refused(&h, "SET STATEMENT max_statement_time = 0 FOR DELETE FROM users", ROWS, 3).await;
    // Comments are white space to MariaDB, between `SET` and `STATEMENT` too.
    assert_refused(&h, "SET /* x */ STATEMENT max_statement_time = 0 FOR DELETE FROM users", ROWS, 3).await;
    assert_refused(&h, "SET/**/STATEMENT max_statement_time = 0 FOR DELETE FROM users", ROWS, 3).await;
    assert_refused(&h, "SET\n-- a comment\nSTATEMENT max_statement_time = 0 FOR DELETE FROM users", ROWS, 3).await;
    assert_refused(&h, "SET # a comment\nSTATEMENT max_statement_time = 0 FOR DELETE FROM users", ROWS, 3).await;
    h.finish().await;
}

/// On MySQL/MariaDB `$` is an identifier character (`$a$` is a name): a reader taking
/// `$a$ … $a$` for a PostgreSQL dollar-quoted string takes the DELETE between for its content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_dollar_identifiers_hide_a_delete() {
    let Some(h) = strict(Backend::MySql, "rv_dollar_ident").await else { return };
    assert_refused(&h, "SELECT 1 AS $a$; DELETE FROM users; SELECT 2 AS $a$", ROWS, 3).await;
    h.finish().await;
}

/// With `NO_BACKSLASH_ESCAPES` (a common sql_mode), MariaDB reads `\` as an ordinary
/// character, like SQLite and standard PostgreSQL strings, but `#` as a comment, like MySQL:
/// read any other way, the DELETE is inside a string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_no_backslash_escapes_hides_a_delete() {
    let Some(h) = strict(Backend::MySql, "rv_nbe").await else { return };
    use sea_orm::TransactionTrait;
    let txn = h.db.begin().await.expect("begin");
    txn.execute_unprepared("SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')")
        .await
        .expect("set sql_mode (no write)");
    let sql = "SELECT '\\' #\\'\n; DELETE FROM users; -- ";
    let result = txn.execute_unprepared(sql).await;
    let committed = match &result {
        Ok(_) => txn.commit().await,
        Err(_) => txn.rollback().await,
    };
    let after = count(&h.conn, ROWS).await;
    let events = h.events();
    assert!(
        !events.is_empty() || after == 3,
        "strict mode let a write through silently: {sql:?}\n  result: {:?}, commit: {committed:?}\n  rows: 3 -> {after}\n  events: {}",
        result.map(|r| r.rows_affected()),
        events.len()
    );
    h.finish().await;
}

/// PostgreSQL with `standard_conforming_strings = off` (a session or database setting; the
/// `SET` is no write and passes strict mode) reads `\` as an escape in every string, and nests
/// comments: read with either rule alone, the DELETE is inside a string.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_without_standard_conforming_strings_hides_a_delete() {
    let Some(h) = strict(Backend::Postgres, "rv_scs_off").await else { return };
    use sea_orm::TransactionTrait;
    let txn = h.db.begin().await.expect("begin");
    txn.execute_unprepared("SET LOCAL standard_conforming_strings = off").await.expect("SET (no write)");
    let sql = r"SELECT '\' ' /* /* */ '\' */ ; DELETE FROM users; -- ";
    let result = txn.execute_unprepared(sql).await;
    let committed = match &result {
        Ok(_) => txn.commit().await,
        Err(_) => txn.rollback().await,
    };
    let after = count(&h.conn, ROWS).await;
    let events = h.events();
    assert!(
        !events.is_empty() || after == 3,
        "strict mode let a write through silently: {sql:?}\n  result: {:?}, commit: {committed:?}\n  rows: 3 -> {after}\n  events: {}",
        result.map(|r| r.rows_affected()),
        events.len()
    );
    h.finish().await;
}

/// The same with a Unicode-escape string body, `DO U&'…'` (`U`, `&`, then the literal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_do_with_unicode_string_body_is_not_seen() {
    let Some(h) = strict(Backend::Postgres, "rv_do_ustring").await else { return };
    assert_refused(&h, "DO U&'BEGIN DELETE FROM users; END'", ROWS, 3).await;
    h.finish().await;
}
