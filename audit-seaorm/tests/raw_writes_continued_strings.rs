//! PostgreSQL continues a string after white space holding a newline, where the white space may
//! hold `--` comments and the newline may be a lone `\r` (scan.l: `whitespace_with_newline =
//! {horiz_whitespace}*{newline}{special_whitespace}*`, `horiz_whitespace =
//! {horiz_space}|{comment}`, `newline = [\n\r]`): a continued `E'…'` string keeps its escapes,
//! and the SQL reader reads it so.

mod orm_common;

use audit_seaorm::orm::sql::writes_on;
use orm_common::{Backend, Harness, TestDb};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

/// PostgreSQL: `E''` continued (across `--c` + newline) by `'\' '` (escaped quote: one string),
/// then `'\'` (plain string), then the DELETE runs. Library, POSTGRES reading: the
/// continuation is read as a plain string, so `' , '` and `' ; DELETE … -- '` are strings;
/// POSTGRES_BACKSLASH_ESCAPES reading: `'\' ; DELETE … -- '` is one string.
const COMMENT_CONTINUED: &str = "SELECT E'' --c\n'\\' ' , '\\' ; DELETE FROM users; -- '";
/// Same, the newline a lone carriage return.
const CR_CONTINUED: &str = "SELECT E'' \r'\\' ' , '\\' ; DELETE FROM users; -- '";

fn tables(sql: &str) -> Vec<String> {
    writes_on(sql, DbBackend::Postgres).into_iter().map(|w| w.table).collect()
}

#[test]
fn comment_between_continued_e_string_is_read() {
    assert!(tables(COMMENT_CONTINUED).iter().any(|t| t == "users"), "missed DELETE: {:?}", tables(COMMENT_CONTINUED));
}

#[test]
fn carriage_return_continued_e_string_is_read() {
    assert!(tables(CR_CONTINUED).iter().any(|t| t == "users"), "missed DELETE: {:?}", tables(CR_CONTINUED));
}

async fn count(conn: &DatabaseConnection) -> i64 {
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(conn.get_database_backend(), "SELECT COUNT(*) FROM users"))
        .await
        .expect("count")
        .expect("a row");
    row.try_get_by_index::<i64>(0).expect("an integer")
}

async fn strict_run(name: &str, sql: &str) {
    let Some(db) = TestDb::open(Backend::Postgres, name).await else { return };
    let h = Harness::with(db, |b| b.strict()).await;
    h.conn
        .execute_unprepared(
            "INSERT INTO users (email, name, score, updated_at) VALUES ('a@x','a',0,0), ('b@x','b',0,0), ('c@x','c',0,0)",
        )
        .await
        .expect("seed");
    let result = h.db.execute_unprepared(sql).await;
    let after = count(&h.conn).await;
    let events = h.events();
    assert!(
        !events.is_empty() || after == 3,
        "strict mode let a write through silently\n  result: {:?}\n  rows: 3 -> {after}\n  events: {}",
        result.map(|r| r.rows_affected()),
        events.len()
    );
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_comment_continued_e_string_hides_delete_from_strict_mode() {
    strict_run("rv3_e_comment", COMMENT_CONTINUED).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_cr_continued_e_string_hides_delete_from_strict_mode() {
    strict_run("rv3_e_cr", CR_CONTINUED).await;
}
