//! A write streamed with `RETURNING` yields the rows it returns, however its text reads to
//! other servers: whether it returns rows is read as the server it goes to reads SQL. (It was
//! read with lenient rules, a mix of the servers': a PostgreSQL `#` operator, a backslash in
//! an SQLite string, an escaped quote in a MySQL `"…"` string hid the `RETURNING`, and the
//! stream yielded nothing though the statement had written and returned its rows.)

mod orm_common;

use futures_util::TryStreamExt;
use orm_common::{Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, DbBackend, Statement, StreamTrait};

/// A write returning one row per user, whose `RETURNING` a reading with another server's
/// rules takes for part of a comment or a string.
fn returning_write(backend: DbBackend) -> &'static str {
    match backend {
        // `#` is PostgreSQL's bitwise XOR, a comment to MySQL.
        DbBackend::Postgres => "UPDATE users SET score = score # 1 RETURNING id",
        // SQLite strings have no backslash escapes.
        DbBackend::Sqlite => r"UPDATE users SET name = 'C:\' RETURNING id",
        // In a MySQL `"…"` string `\"` is a quote.
        _ => r#"DELETE FROM users WHERE name <> "a\"b" RETURNING id"#,
    }
}

async fn a_streamed_write_yields_the_rows_it_returns(testdb: TestDb) {
    let h = Harness::new(testdb).await;
    for email in ["a@x", "b@x"] {
        user(email).insert(&h.db).await.expect("insert");
    }
    let backend = h.db.get_database_backend();
    let sql = returning_write(backend);
    let streamed = h.db.stream_raw(Statement::from_string(backend, sql)).await.expect("stream");
    let rows: Vec<_> = streamed.try_collect().await.expect("rows");
    assert_eq!(rows.len(), 2, "the rows `{sql}` returned");
    let bulk: Vec<_> = h.events().into_iter().filter(|e| e.action == "bulk").collect();
    assert_eq!(bulk.len(), 1, "the write is recorded once");
    assert_eq!(bulk[0].resource.kind, "users");
    h.finish().await;
}
on_all_backends!(a_streamed_write_yields_the_rows_it_returns);
