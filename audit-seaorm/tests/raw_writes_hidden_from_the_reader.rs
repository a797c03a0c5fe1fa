//! Raw writes whose text a reader of SQL could take for something else, read as the server
//! they go to reads them: each of these statements writes rows on its server (run first on
//! the plain connection to show it), so in strict mode the audited connection refuses it.
//! - PostgreSQL ends a `--` comment at a carriage return as at a newline.
//! - MySQL/MariaDB take an executable comment whose version is newer than the server's
//!   (`/*!999999 … */`, and MariaDB's own `/*M!999999 … */` on MySQL) for a plain comment,
//!   one comment nested in it included: the SQL in it does not run.
//! - SQLite skips a UTF-8 byte order mark before the statement.

mod orm_common;

use orm_common::entities::users;
use orm_common::{Backend, Harness, TestDb, user};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait};

async fn writes_hidden_from_a_reader_are_refused_in_strict_mode(testdb: TestDb) {
    let statements: &[&str] = match testdb.backend {
        Backend::Postgres => &["-- note\rUPDATE users SET score = score + 1"],
        Backend::MySql => &[
            "/*!999999 SELECT 1 */ UPDATE users SET score = score + 1",
            "/*M!999999 SELECT 1 */ UPDATE users SET score = score + 1",
            "/*!999999 /* nested */ SELECT 1 */ UPDATE users SET score = score + 1",
        ],
        Backend::Sqlite => &["\u{feff}UPDATE users SET score = score + 1"],
    };
    let h = Harness::with(testdb, |b| b.strict()).await;
    let row = user("a@x").insert(&h.db).await.expect("hooked insert");
    let score = || async { users::Entity::find_by_id(row.id).one(&h.conn).await.expect("read").expect("row").score };
    for (n, &sql) in statements.iter().enumerate() {
        h.conn.execute_unprepared(sql).await.expect("the plain connection runs it");
        assert_eq!(score().await, n as i32 + 1, "{sql:?} writes a row on this server");
        let error = h.db.execute_unprepared(sql).await.expect_err("refused before it runs");
        assert!(error.to_string().contains("strict mode"), "{sql:?}: {error}");
        assert_eq!(score().await, n as i32 + 1, "{sql:?} did not run through the audited connection");
    }
    assert_eq!(h.events().len(), 1, "the hooked insert only");
    h.finish().await;
}
on_all_backends!(writes_hidden_from_a_reader_are_refused_in_strict_mode);
